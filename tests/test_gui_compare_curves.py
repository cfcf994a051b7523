"""The Curves tab: ROC, precision-recall, reliability and histograms, asserted by the data they plot."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from exoreg_gui.widgets.curves_panel import CurvesPanel  # noqa: E402


def fake_curves(shift: float = 0.0) -> dict:
    """A curves dict of the shape ``core.comparison.curves`` returns, with numbers chosen by hand."""
    edges = list(np.linspace(0, 1, 11))
    return {
        "classes": ["CONFIRMED", "FALSE POSITIVE"], "positive": "CONFIRMED",
        "roc": {"CONFIRMED": {"fpr": [0, 0.1 + shift, 1], "tpr": [0, 0.8, 1], "auc": 0.9 - shift},
                "FALSE POSITIVE": {"fpr": [0, 0.2, 1], "tpr": [0, 0.9, 1], "auc": 0.85}},
        "pr": {"CONFIRMED": {"recall": [0, 0.8, 1], "precision": [1, 0.9 - shift, 0.5], "average_precision": 0.8},
               "FALSE POSITIVE": {"recall": [0, 1], "precision": [1, 0.6], "average_precision": 0.7}},
        "reliability": {"CONFIRMED": {"mean_predicted": [0.05, 0.5, 0.95], "fraction_positive": [0.1, 0.5, 0.9],
                                      "count": [10, 5, 10]}},
        "brier": 0.081, "ece": 0.032,
        "histograms": {"CONFIRMED": {"edges": edges, "counts": {"CONFIRMED": list(range(10)),
                                                                "FALSE POSITIVE": list(range(10, 0, -1))}}},
    }


def legend_texts(panel, plot) -> list[str]:
    return [label.text for _, label in panel.legends[plot].items]


def test_curves_plot_exactly_the_curves_dict(qtbot):
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    a, b = fake_curves(), fake_curves(0.05)
    panel.set_curves([("RandomForest v1", a), ("SVM v2", b)], "Scored on koi.csv")
    assert panel.chosen_class() == "CONFIRMED"  # the positive class first
    x, y = panel.roc_curves["SVM v2"].getData()
    assert list(x) == pytest.approx(b["roc"]["CONFIRMED"]["fpr"]) and list(y) == b["roc"]["CONFIRMED"]["tpr"]
    x, y = panel.pr_curves["RandomForest v1"].getData()
    assert list(x) == a["pr"]["CONFIRMED"]["recall"] and list(y) == a["pr"]["CONFIRMED"]["precision"]
    x, y = panel.reliability_curves["RandomForest v1"].getData()
    assert list(x) == a["reliability"]["CONFIRMED"]["mean_predicted"]
    assert list(y) == a["reliability"]["CONFIRMED"]["fraction_positive"]
    assert legend_texts(panel, panel.roc_plot) == ["RandomForest v1 · AUC 0.900", "SVM v2 · AUC 0.850"]
    assert legend_texts(panel, panel.pr_plot)[0] == "RandomForest v1 · AP 0.800"
    assert legend_texts(panel, panel.reliability_plot)[0] == "RandomForest v1 · Brier 0.081 · ECE 0.032"
    x, y = panel.histogram_items["FALSE POSITIVE"].getData()
    assert list(x) == pytest.approx(a["histograms"]["CONFIRMED"]["edges"])
    assert list(y) == list(range(10, 0, -1))
    # One against the rest: the other class's curves.
    panel.class_combo.setCurrentText("FALSE POSITIVE")
    x, y = panel.roc_curves["RandomForest v1"].getData()
    assert list(x) == a["roc"]["FALSE POSITIVE"]["fpr"]
    assert legend_texts(panel, panel.roc_plot)[0] == "RandomForest v1 · AUC 0.850"
    assert panel.reliability_curves == {}  # none recorded for that class in this dict
    assert panel.message_text(panel.histogram_plot) == "RandomForest v1 outputs no probabilities"


def test_hover_names_the_nearest_point(qtbot):
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.set_curves([("RandomForest v1", fake_curves())])
    assert panel.roc_hover.text_at(0.1, 0.8, scale=(0.01, 0.01)) == \
        "RandomForest v1 · CONFIRMED\nFPR 0.100, TPR 0.800"
    assert panel.roc_hover.text_at(0.5, 0.2, scale=(0.01, 0.01)) is None  # nowhere near a curve


def test_empty_and_cleared(qtbot, tmp_path):
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    assert panel.message_text(panel.roc_plot) == "No scored comparison yet"
    assert not panel.export_button.isEnabled() and not panel.report_button.isEnabled()
    panel.set_curves([("RandomForest v1", fake_curves())])
    assert panel.message_text(panel.roc_plot) == ""
    out = panel.export_png(tmp_path / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panel.set_curves([])
    assert panel.roc_curves == {} and panel.message_text(panel.roc_plot) == "No scored comparison yet"
