"""Compare ▸ Score on a labelled file: verdicts, intervals, the Curves tab, the threshold, the report.

Everything goes through the window as a person would (the Score button, the dialog's buttons),
in the application's warm prediction worker, and is checked against what ``core`` computes for
the same versions and rows. Screenshots of the verdict table, the Curves tab and the threshold
control go to ``EXOREG_SCREENSHOT_DIR`` (else this test's folder):

    EXOREG_SCREENSHOT_DIR=docs/screenshots EXOREG_KOI_CSV=<KOI table> \\
        QT_QPA_PLATFORM=offscreen pytest tests/test_gui_compare_scoring.py
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from tests._gui_support import open_registry  # noqa: E402

RUN_TIMEOUT = int(os.environ.get("EXOREG_TEST_RUN_TIMEOUT", "120000"))


@pytest.fixture
def workflows(window):
    from exoreg_gui.workflows import install_workflows

    flows = install_workflows(window)
    yield flows
    flows.close_all()


def _open_scoring(qtbot, window, workflows, registry, csv_path):
    open_registry(qtbot, window, registry.root)
    window.select_versions(registry.ids)
    qtbot.waitUntil(lambda: window.selected_ids() == list(registry.ids))
    window.tabs.setCurrentIndex(1)
    with qtbot.waitSignal(workflows.dialog_opened) as opened:
        qtbot.mouseClick(workflows.score_button, Qt.MouseButton.LeftButton)
    dialog = opened.args[0]
    dialog.set_path(str(csv_path))
    qtbot.waitUntil(lambda: dialog.label_combo.count() > 0, timeout=10000)
    return dialog


def _shot(widget, name: str, tmp_path: Path) -> Path:
    out = Path(os.environ.get("EXOREG_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    pixmap = widget.grab()
    image = pixmap.toImage()
    colours = {image.pixel(x, y) for y in range(0, image.height(), 9) for x in range(0, image.width(), 9)}
    assert len(colours) > 8, f"{name} looks blank"
    path = out / f"{name}.png"
    assert pixmap.save(str(path), "PNG")
    return path


def test_scoring_shows_verdicts_intervals_curves_threshold_and_disagreements(
        qtbot, window, workflows, messages, koi_registry, koi_rows_csv, tmp_path):
    from sklearn.metrics import confusion_matrix

    from core.comparison.curves import curves, disagreements
    from core.comparison.results import interval_text
    from exoreg_gui.dialogs.score_dialog import INCLUDE_TRAINING_TEXT, ScoredComparison
    from exoreg_gui.models.compare_table_model import IntervalRole, MarkRole

    dialog = _open_scoring(qtbot, window, workflows, koi_registry, koi_rows_csv)
    # Training rows are excluded unless the person says otherwise, and the box says what that means.
    assert dialog.include_check.text() == INCLUDE_TRAINING_TEXT == "Include training rows (overlap not excluded)"
    assert not dialog.include_check.isChecked()
    assert not dialog.report_button.isEnabled()  # nothing to report yet
    with qtbot.waitSignal(workflows.scores_shown, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    scored = dialog.comparison
    assert isinstance(scored, ScoredComparison) and scored.paired
    fc = scored.file_comparison
    comparison = fc.comparison
    # The notes: these versions recorded no training rows, so overlap could not be checked: said, not hidden.
    assert dialog.notes_label.isVisible()
    assert dialog.notes_label.text().splitlines() == [n[0].upper() + n[1:] if n.endswith(".") else
                                                      n[0].upper() + n[1:] + "." for n in fc.notes]

    # The verdict table: one pair, its difference with interval, p, Holm p, McNemar p, the verdict.
    table = dialog.verdict_table
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == [
        "Pair", "Difference [95 % interval]", "p", "Holm p", "McNemar p", "Verdict"]
    assert table.rowCount() == len(comparison.pairs) == 1
    pair = comparison.pairs[0]
    assert table.item(0, 0).text() == f"{pair.a} vs {pair.b}"
    assert table.item(0, 1).text() == f"macro F1 {interval_text(pair.difference, sign=True)}"
    assert table.item(0, 5).text() == pair.verdict
    assert dialog.verdict_sentences.text() == pair.sentence
    qtbot.waitUntil(dialog.run_button.isEnabled)  # the run has finished: the choices are usable again
    # Every metric with its interval.
    metrics = dialog.metrics_table
    headers = [metrics.horizontalHeaderItem(c).text() for c in range(metrics.columnCount())]
    label = fc.versions[0].label
    assert metrics.item(0, 0).text() == label
    assert metrics.item(0, headers.index("macro F1")).text() == interval_text(comparison.metrics[label]["f1_macro"])
    assert metrics.item(0, headers.index("ROC AUC")).text() == interval_text(comparison.metrics[label]["roc_auc"])
    _shot(dialog, "verdicts", tmp_path)

    # The Compare tab: the fresh metrics carry their intervals, and marks follow them.
    model = window.compare.model
    row = model.row_for("scored f1_score")
    estimate = comparison.metrics[label]["f1_macro"]
    assert model.index(row, 1).data(IntervalRole) == (estimate.low, estimate.high)
    other = comparison.metrics[fc.versions[1].label]["f1_macro"]
    overlap = estimate.low <= other.high and other.low <= estimate.high
    marks = [model.index(row, c).data(MarkRole) for c in (1, 2)]
    assert marks == ["tied", "tied"] if overlap else "tied" not in marks

    # The Curves tab shows exactly core's curves of the versions compared.
    window.tabs.setCurrentIndex(3)
    panel = window.curves_panel()
    assert panel.chosen_class() == "CONFIRMED"
    for version in fc.versions:
        expected = curves(version)
        x, y = panel.roc_curves[version.label].getData()
        assert np.allclose(x, expected["roc"]["CONFIRMED"]["fpr"]) and np.allclose(y, expected["roc"]["CONFIRMED"]["tpr"])
        x, y = panel.pr_curves[version.label].getData()
        assert np.allclose(x, expected["pr"]["CONFIRMED"]["recall"])
        assert np.allclose(y, expected["pr"]["CONFIRMED"]["precision"])
    # The threshold control: the confusion matrix at two thresholds equals sklearn's of p >= t.
    control = panel.threshold
    assert control.version_combo.count() == 2  # both versions are binary with probabilities
    version = control.current_version()
    k = list(version.classes).index("CONFIRMED")
    for t in (0.3, 0.72):
        control.set_threshold(t)
        assert control.slider.value() == round(t * 1000)
        called = np.where(version.proba[:, k] >= t, "CONFIRMED", "FALSE POSITIVE")
        labels = control.view["labels"]
        assert np.array_equal(control.heatmap.matrix, confusion_matrix(version.y_true.astype(str), called,
                                                                       labels=labels))
        tp = int(((called == "CONFIRMED") & (version.y_true.astype(str) == "CONFIRMED")).sum())
        assert control.precision_label.text() == f"{tp / (called == 'CONFIRMED').sum():.4f}"
    # The disagreements: core's rows, every one, each named by its row number in the file.
    import pandas as pd

    found = disagreements(fc.versions)
    table = panel.disagreements
    assert len(found) > 0 and table.proxy.rowCount() == len(found)
    assert table.columns[:4] == ["row", "true label", *[v.label for v in fc.versions]]
    assert table.columns[4:] == [f"P(CONFIRMED) {v.label}" for v in fc.versions]
    frame = pd.read_csv(koi_rows_csv)
    for cells, row in zip(table.rows, found, strict=True):
        assert frame["koi_disposition"].iloc[cells[0] - 1] == cells[1] == row["true"]
        assert cells[2:4] == [row["predicted"][v.label] for v in fc.versions]
        assert cells[4] == row["probabilities"][fc.versions[0].label]["CONFIRMED"]
    assert f"{len(found):,} of {fc.rows_compared:,} rows" in table.summary_label.text()
    window.resize(1400, 900)
    panel.lower_tabs.setCurrentIndex(0)
    _shot(window.tabs, "curves", tmp_path)
    _shot(control, "threshold", tmp_path)

    dialog.close()
    assert not messages.errors
