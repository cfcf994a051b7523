"""The Curves tab: ROC, precision-recall, reliability and histograms, asserted by the data they plot.

The curves dicts come from ``core.comparison.curves`` for versions built here (known labels and
probabilities); the plots must show exactly their points, and the legends their AUC / AP / Brier /
ECE. The threshold control's confusion matrix must equal ``confusion_matrix(y, p >= t)``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from core.comparison import ScoredVersion  # noqa: E402
from core.comparison.curves import curves  # noqa: E402
from exoreg_gui.widgets.curves_panel import CurvesPanel, reliability_points  # noqa: E402
from exoreg_gui.widgets.threshold_control import ThresholdControl  # noqa: E402

BINARY = ["CONFIRMED", "FALSE POSITIVE"]
THREE = ["CANDIDATE", "CONFIRMED", "FALSE POSITIVE"]


def version(label: str, classes: list[str], *, n: int = 400, skill: float = 1.5, seed: int = 0,
            proba: bool = True) -> ScoredVersion:
    """A scored version whose probabilities lean towards the true class by ``skill``."""
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, size=n)
    logits = rng.normal(size=(n, len(classes)))
    logits[np.arange(n), [classes.index(c) for c in y]] += skill
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = np.asarray(classes, dtype=object)[p.argmax(axis=1)]
    return ScoredVersion(label, f"{label}-id", list(classes), y.astype(object), pred, p if proba else None)


def legend_texts(panel, plot) -> list[str]:
    return [label.text for _, label in panel.legends[plot].items]


def test_curves_plot_exactly_core_curves(qtbot):
    a, b = version("RandomForest v1", BINARY, seed=1), version("SVM v2", BINARY, skill=0.8, seed=2)
    ca, cb = curves(a), curves(b)
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.set_curves([(a.label, ca), (b.label, cb)], "Scored on the same 400 rows of koi.csv.")
    assert panel.chosen_class() == "CONFIRMED"  # a two-class version: its positive class
    assert [panel.class_combo.itemText(i) for i in range(panel.class_combo.count())] == ["CONFIRMED"]
    for label, c in ((a.label, ca), (b.label, cb)):
        x, y = panel.roc_curves[label].getData()
        assert np.allclose(x, c["roc"]["CONFIRMED"]["fpr"]) and np.allclose(y, c["roc"]["CONFIRMED"]["tpr"])
        x, y = panel.pr_curves[label].getData()
        assert np.allclose(x, c["pr"]["CONFIRMED"]["recall"]) and np.allclose(y, c["pr"]["CONFIRMED"]["precision"])
        x, y = panel.reliability_curves[label].getData()
        expected = reliability_points(c["reliability"])
        assert np.allclose(x, expected[0]) and np.allclose(y, expected[1]) and len(x) >= 5
    assert legend_texts(panel, panel.roc_plot) == [
        f"RandomForest v1 · AUC {ca['roc']['CONFIRMED']['auc']:.3f}", f"SVM v2 · AUC {cb['roc']['CONFIRMED']['auc']:.3f}"]
    assert legend_texts(panel, panel.pr_plot)[1] == f"SVM v2 · AP {cb['pr']['CONFIRMED']['ap']:.3f}"
    assert legend_texts(panel, panel.reliability_plot)[0] == \
        f"RandomForest v1 · Brier {ca['brier']:.3f} · ECE {ca['ece']:.3f}"
    assert "P(CONFIRMED)" in panel.reliability_plot.getPlotItem().titleLabel.text
    # The histograms of the version chosen: the rows of the class against the others.
    panel.version_combo.setCurrentIndex(1)
    x, y = panel.histogram_items["true_class"].getData()
    assert np.allclose(x, cb["histograms"]["CONFIRMED"]["edges"])
    assert list(y) == cb["histograms"]["CONFIRMED"]["true_class"]
    _, y = panel.histogram_items["other_classes"].getData()
    assert list(y) == cb["histograms"]["CONFIRMED"]["other_classes"]
    assert sum(y) + sum(panel.histogram_items["true_class"].getData()[1]) == 400


def test_three_classes_one_against_the_rest(qtbot):
    v = version("NeuralNetwork v3", THREE, seed=3)
    c = curves(v)
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.set_curves([(v.label, c)])
    assert [panel.class_combo.itemText(i) for i in range(panel.class_combo.count())] == THREE
    for cls in THREE:
        panel.class_combo.setCurrentText(cls)
        x, y = panel.roc_curves[v.label].getData()
        assert np.allclose(x, c["roc"][cls]["fpr"]) and np.allclose(y, c["roc"][cls]["tpr"])
        assert legend_texts(panel, panel.roc_plot) == [f"NeuralNetwork v3 · AUC {c['roc'][cls]['auc']:.3f}"]
        _, y = panel.histogram_items["true_class"].getData()
        assert list(y) == c["histograms"][cls]["true_class"]
    assert "top-label confidence" in panel.reliability_plot.getPlotItem().titleLabel.text


def test_a_version_without_probabilities_says_why(qtbot):
    v = version("SVM v1", BINARY, proba=False)
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.set_curves([(v.label, curves(v))])
    text = panel.message_text(panel.roc_plot)
    assert "gives no probabilities" in text.replace("\n", " ")
    assert panel.roc_curves == {}


def test_hover_names_the_nearest_point(qtbot):
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    v = version("RandomForest v1", BINARY)
    c = curves(v)
    panel.set_curves([(v.label, c)])
    fpr, tpr = c["roc"]["CONFIRMED"]["fpr"][5], c["roc"]["CONFIRMED"]["tpr"][5]
    assert panel.roc_hover.text_at(fpr, tpr, scale=(0.001, 0.001)) == \
        f"RandomForest v1 · CONFIRMED\nFPR {fpr:.3f}, TPR {tpr:.3f}"
    assert panel.roc_hover.text_at(0.95, 0.05, scale=(0.001, 0.001)) is None  # nowhere near a curve


def test_empty_and_cleared(qtbot, tmp_path):
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    assert panel.message_text(panel.roc_plot) == "No scored comparison yet"
    assert not panel.export_button.isEnabled() and not panel.report_button.isEnabled()
    v = version("RandomForest v1", BINARY)
    panel.set_curves([(v.label, curves(v))])
    assert panel.message_text(panel.roc_plot) == ""
    out = panel.export_png(tmp_path / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panel.set_curves([])
    assert panel.roc_curves == {} and panel.message_text(panel.roc_plot) == "No scored comparison yet"


@pytest.mark.parametrize("threshold", [0.3, 0.72])
def test_threshold_confusion_matrix_is_sklearns(qtbot, threshold):
    from sklearn.metrics import confusion_matrix, precision_score, recall_score

    v = version("RandomForest v1", BINARY, n=600, skill=1.0, seed=4)
    control = ThresholdControl()
    qtbot.addWidget(control)
    control.set_versions([v, version("NeuralNetwork v3", THREE)])  # three classes: not offered
    assert control.version_combo.count() == 1
    assert control.positive_class() == "CONFIRMED"
    with qtbot.waitSignal(control.view_changed):
        control.slider.setValue(round(threshold * 1000))  # as a person drags it
    assert control.threshold() == pytest.approx(threshold)
    y = v.y_true.astype(str) == "CONFIRMED"
    called = v.proba[:, 0] >= threshold
    expected = confusion_matrix(y, called)  # rows / columns: not CONFIRMED, CONFIRMED
    assert control.view["labels"] == ["FALSE POSITIVE", "CONFIRMED"]
    assert np.array_equal(control.heatmap.matrix, expected)
    assert control.precision_label.text() == f"{precision_score(y, called):.4f}"
    assert control.recall_label.text() == f"{recall_score(y, called):.4f}"
    # The other class as the positive one: its own probability column.
    control.positive_combo.setCurrentText("FALSE POSITIVE")
    called = v.proba[:, 1] >= threshold
    assert np.array_equal(control.heatmap.matrix, confusion_matrix(~y, called))


def test_threshold_with_nothing_called_positive(qtbot):
    v = version("RandomForest v1", BINARY)
    control = ThresholdControl()
    qtbot.addWidget(control)
    control.set_versions([v])
    assert control.hint_label.isHidden()
    control.set_threshold(1.0)  # softmax probabilities stay below 1: no row is called CONFIRMED
    assert control.view["tp"] + control.view["fp"] == 0
    assert control.precision_label.text() == "n/a (no row called positive)"
    assert control.recall_label.text() == "0.0000"
    control.set_versions([])
    assert not control.hint_label.isHidden()
    assert control.view is None and not control.slider.isEnabled()
