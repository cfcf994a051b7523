# ruff: noqa: F811  (the workflows fixture imported from tests._compare_support is redefined as a test argument)
"""Compare ▸ Score on a labelled file: verdicts, intervals, the Curves tab, the threshold, disagreements.

Everything goes through the window as a person would (the Score button, the dialog's buttons),
in the application's warm prediction worker, and is checked against what ``core`` computes for
the same versions and rows. Screenshots of the verdict table, the Curves tab and the threshold
control go to ``EXOREG_SCREENSHOT_DIR`` (else this test's folder):

    EXOREG_SCREENSHOT_DIR=docs/screenshots EXOREG_KOI_CSV=<KOI table> \\
        QT_QPA_PLATFORM=offscreen pytest tests/test_gui_compare_scoring.py
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from tests._compare_support import RUN_TIMEOUT, open_scoring, save_shot, workflows  # noqa: E402, F401


def test_scoring_shows_verdicts_intervals_curves_threshold_and_disagreements(
        qtbot, window, workflows, messages, koi_registry, koi_rows_csv, tmp_path):
    from sklearn.metrics import confusion_matrix

    from core.comparison.curves import curves, disagreements
    from core.comparison.results import interval_text
    from exoreg_gui.dialogs.score_dialog import INCLUDE_TRAINING_TEXT, ScoredComparison
    from exoreg_gui.models.compare_table_model import IntervalRole, MarkRole

    dialog = open_scoring(qtbot, window, workflows, koi_registry, koi_rows_csv)
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
    save_shot(dialog, "verdicts", tmp_path)

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
    save_shot(window.tabs, "curves", tmp_path)
    save_shot(control, "threshold", tmp_path)

    dialog.close()
    assert not messages.errors


@pytest.fixture
def split_registry(koi_rows_csv, tmp_path):
    """Two forests trained on different random 70 % splits of the file, their training rows recorded.

    They share about 0.3 x 0.3 of the labelled rows as held-out rows: fewer than 200, too few to
    compare them paired; each has some 550 held-out rows of its own.
    """
    from core.model_registry import ModelRegistry
    from tests._workflow_support import KOI_FEATURES, KoiRegistry, _train, read_koi

    frame = read_koi(koi_rows_csv)
    labelled = frame[frame["koi_disposition"].isin(["CONFIRMED", "FALSE POSITIVE"])]
    registry = ModelRegistry(tmp_path / "split-registry")
    ids = []
    for seed in (1, 2):
        seen = labelled.sample(frac=0.7, random_state=seed)
        model, rows = _train(seen, 20, seed=seed)
        ids.append(registry.register_model(
            model=model, model_name="SplitForest", algorithm="RandomForest",
            evaluation_results={"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9},
            training_info={"training_samples": rows}, feature_columns=KOI_FEATURES,
            training_rows=seen[["kepoi_name", *KOI_FEATURES]],
        ))
    return KoiRegistry(registry.root, ids)


def test_too_few_shared_rows_offers_an_unpaired_comparison(qtbot, window, workflows, messages, split_registry,
                                                           koi_rows_csv):
    from exoreg_gui.dialogs.score_dialog import UNPAIRED_TEXT

    dialog = open_scoring(qtbot, window, workflows, split_registry, koi_rows_csv)
    assert dialog.shortfall_row.isHidden()
    with qtbot.waitSignal(dialog.too_few_shared_rows, timeout=RUN_TIMEOUT) as refused:
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    sentence = refused.args[0]
    assert "held-out rows" in sentence and sentence.endswith(".") and "\n" not in sentence
    assert not dialog.shortfall_row.isHidden() and dialog.shortfall_label.text() == sentence
    assert dialog.unpaired_button.text() == UNPAIRED_TEXT == "Compare each on its own held-out rows"
    assert dialog.comparison is None and not messages.errors  # said in the dialog, not as an error box
    qtbot.waitUntil(dialog.unpaired_button.isEnabled)

    with qtbot.waitSignal(workflows.scores_shown, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(dialog.unpaired_button, Qt.MouseButton.LeftButton)
    scored = dialog.comparison
    fc = scored.file_comparison
    assert not scored.paired and dialog.shortfall_row.isHidden()
    # Each on its own held-out rows: more than they share, and not the same rows.
    rows = fc.comparison.rows_by_version
    assert len(rows) == 2 and min(rows.values()) >= 200
    # Labelled unpaired everywhere, and no version declared better than the other.
    assert "UNPAIRED" in dialog.progress.label.text()
    assert dialog.verdict_table.rowCount() == 0
    assert "unpaired" in dialog.verdict_sentences.text() and "no version is declared better" in \
        dialog.verdict_sentences.text()
    assert "UNPAIRED" in workflows.scores_label.text()
    metrics = dialog.metrics_table
    assert [metrics.item(r, 1).text() for r in range(2)] == [f"{rows[v.label]:,}" for v in fc.versions]
    panel = window.curves_panel()
    assert "UNPAIRED" in panel.source_label.text()
    assert set(panel.roc_curves) == {v.label for v in fc.versions}
    assert panel.disagreements.proxy.rowCount() == 0
    assert "unpaired" in panel.disagreements.summary_label.text()
    dialog.close()
    assert not messages.errors


def test_cancel_mid_scoring_shows_nothing(qtbot, window, workflows, messages, koi_registry, big_koi_csv):
    dialog = open_scoring(qtbot, window, workflows, koi_registry, big_koi_csv)
    shown = []
    workflows.scores_shown.connect(shown.append)
    seen = []
    dialog.progress.bar.valueChanged.connect(seen.append)
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert not dialog.run_button.isEnabled() and not dialog.include_check.isEnabled()  # while it runs
    qtbot.waitUntil(lambda: any(v > 0 for v in seen), timeout=RUN_TIMEOUT)
    qtbot.mouseClick(dialog.progress.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.run_button.isEnabled, timeout=RUN_TIMEOUT)
    assert dialog.progress.label.text() == "Cancelled; nothing was scored."
    assert dialog.comparison is None and not shown and window.compare.model.row_for("scored f1_score") < 0
    assert not dialog.report_button.isEnabled()
    dialog.close()
    assert not messages.errors
