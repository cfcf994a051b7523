# ruff: noqa: F811  (the workflows fixture imported from tests._compare_support is redefined as a test argument)
"""Export report…: the last comparison as an HTML report and its Markdown twin, written in a worker.

From the scoring dialog and from the Curves tab; a report that cannot be written is one sentence
and leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from tests._compare_support import RUN_TIMEOUT, open_scoring, save_shot, workflows  # noqa: E402, F401


def test_export_report_writes_html_and_markdown(qtbot, window, workflows, messages, koi_registry, koi_rows_csv,
                                                tmp_path):
    dialog = open_scoring(qtbot, window, workflows, koi_registry, koi_rows_csv)
    assert not dialog.report_button.isEnabled()  # nothing to report yet
    with qtbot.waitSignal(workflows.scores_shown, timeout=RUN_TIMEOUT):
        dialog.run()
    qtbot.waitUntil(dialog.report_button.isEnabled)
    # Export report…: HTML and its Markdown twin, in a worker.
    messages.save_paths.append(str(tmp_path / "reports" / "koi-comparison.html"))
    (tmp_path / "reports").mkdir()
    with qtbot.waitSignal(dialog.report_written, timeout=RUN_TIMEOUT) as written:
        qtbot.mouseClick(dialog.report_button, Qt.MouseButton.LeftButton)
    paths = [Path(p) for p in written.args[0]]
    assert [p.name for p in paths] == ["koi-comparison.html", "koi-comparison.md"]
    verdict = dialog.comparison.file_comparison.comparison.pairs[0].verdict
    html, markdown = (p.read_text(encoding="utf-8") for p in paths)
    markdown = markdown.replace("\\_", "_")  # Markdown escapes underscores
    for text in (html, markdown):
        assert "KoiForest v1" in text and "KoiForest v2" in text and "koi_rows.csv" in text and verdict in text
    assert not list((tmp_path / "reports").glob(".*"))  # no temporary file left beside them
    # The Curves tab's button writes the same report.
    window.tabs.setCurrentIndex(3)
    messages.save_paths.append(str(tmp_path / "reports" / "from-curves"))
    with qtbot.waitSignal(window.statusBar().messageChanged, timeout=RUN_TIMEOUT,
                          check_params_cb=lambda text: text.startswith("Report written")):
        qtbot.mouseClick(window.curves_panel().report_button, Qt.MouseButton.LeftButton)
    assert (tmp_path / "reports" / "from-curves.html").exists() and (tmp_path / "reports" / "from-curves.md").exists()
    dialog.close()
    assert not messages.errors




def test_report_errors_are_one_sentence(qtbot, window, workflows, messages, koi_registry, koi_rows_csv,
                                        tmp_path):
    from exoreg_gui.dialogs.messages import describe_error

    dialog = open_scoring(qtbot, window, workflows, koi_registry, koi_rows_csv)
    with qtbot.waitSignal(workflows.scores_shown, timeout=RUN_TIMEOUT):
        dialog.run()
    # A folder that does not exist: one sentence, nothing written, the window stays.
    messages.save_paths.append(str(tmp_path / "missing" / "report.html"))
    worker = workflows.export_report()
    qtbot.waitUntil(lambda: bool(messages.errors), timeout=RUN_TIMEOUT)
    qtbot.waitUntil(worker.is_done)
    title, exc = messages.errors[0]
    assert title == "Could not write the report"
    sentence = describe_error(exc)[0]
    assert sentence.endswith(".") and "\n" not in sentence and "Traceback" not in sentence
    assert not (tmp_path / "missing").exists()
    dialog.close()
