"""What keeps the window responsive while predicting, asserted without timing.

The result tables format only the rows a view asks for and never size columns from every
cell; the prediction dialog opens with its choices only (the drift panel and the result tables
are made on later turns of the event loop); model preloads share one thread. The figures
(the event loop's longest stall) come from ``bench/gui_dialogs.py``.
"""
# ruff: noqa: F811  (fixtures imported from the support modules are redefined as test arguments)

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QObject, Qt  # noqa: E402
from PySide6.QtWidgets import QHeaderView, QTableView  # noqa: E402

from exoreg_gui import workers  # noqa: E402
from tests._gui_support import messages, no_dangling_work  # noqa: E402, F401
from tests._workflow_support import koi_registry, koi_rows_csv  # noqa: E402, F401

ROWS = 5000


def _result_rows(n: int) -> tuple[list[str], list[list]]:
    columns = ["kepoi_name", "kepid", "predicted_label", "probability_CONFIRMED", "probability_FALSE POSITIVE"]
    rows = [[f"K{i:05d}.01", 10_000_000 + i, "CONFIRMED" if i % 3 else "FALSE POSITIVE", (i % 997) / 997,
             1 - (i % 997) / 997] for i in range(n)]
    return columns, rows


def test_a_result_table_of_thousands_of_rows_formats_only_what_it_shows(qtbot):
    from exoreg_gui.dialogs.tables import SIZE_ROWS, HeadTable

    table = HeadTable()
    qtbot.addWidget(table)
    table.resize(700, 300)
    table.show()
    qtbot.waitExposed(table)
    columns, rows = _result_rows(ROWS)
    table.set_rows(columns, rows)
    table.repaint()
    model = table.table_model
    assert model.rowCount() == ROWS and table.verticalHeader().count() == ROWS
    # The first rows sized the columns; painting asked for the dozen rows on screen, no more.
    visible = table.viewport().height() // table.verticalHeader().defaultSectionSize() + 2
    assert model.formatted_rows() <= SIZE_ROWS + visible < 100
    # What the person sees: rounded numbers, right-aligned, the raw value in the tooltip.
    last = model.index(ROWS - 1, 3)
    assert last.data() == f"{rows[-1][3]:.4f}" and last.data(Qt.ItemDataRole.ToolTipRole) == repr(rows[-1][3])
    assert last.data(Qt.ItemDataRole.TextAlignmentRole) == int(
        (Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
    assert model.index(0, 0).data(Qt.ItemDataRole.TextAlignmentRole) is None
    # Columns readable: every header and the first rows' texts fit (up to the 220-pixel cap).
    text, bold = table.fontMetrics(), table.horizontalHeader().fontMetrics()
    for column, name in enumerate(columns[:-1]):  # the last one stretches
        widest = max(text.horizontalAdvance(model.index(r, column).data()) for r in range(SIZE_ROWS))
        assert table.columnWidth(column) >= min(220, max(widest, bold.horizontalAdvance(name)))
    # Sorting orders every row by its raw value; the rows are formatted again only when shown.
    table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    values = [model.rows[r][3] for r in range(ROWS)]
    assert values == sorted(values, reverse=True)
    assert float(model.index(0, 3).data()) == pytest.approx(max(values), abs=1e-4)
    assert model.formatted_rows() < 100
    # Row numbers stay 1..N whatever the order, from the header's own Qt model.
    header_model = table.verticalHeader().model()
    assert header_model is not model
    assert header_model.headerData(0, Qt.Orientation.Vertical) == 1
    assert header_model.headerData(ROWS - 1, Qt.Orientation.Vertical) == ROWS


def test_an_empty_table_stays_empty_and_a_shorter_one_shrinks(qtbot):
    from exoreg_gui.dialogs.tables import HeadTable

    table = HeadTable()
    qtbot.addWidget(table)
    table.set_rows(*_result_rows(30))
    table.set_rows(["row", "reason"], [])
    assert table.table_model.rowCount() == 0 and table.verticalHeader().count() == 0
    assert table.table_model.columns == ["row", "reason"]
    table.set_rows(*_result_rows(7))
    assert table.table_model.rowCount() == 7 and table.verticalHeader().count() == 7


def _dialog(qtbot, koi_registry, files):
    from core.registry.registry import ModelRegistry
    from exoreg_gui.dialogs.predict_dialog import PredictDialog

    registry = ModelRegistry(koi_registry.root)
    dialog = PredictDialog(registry, registry.list_models(), koi_registry.ids[0], [str(f) for f in files])
    qtbot.addWidget(dialog)
    return dialog


def test_the_prediction_dialog_opens_with_its_choices_and_makes_the_rest_later(
        qtbot, messages, koi_registry, koi_rows_csv, no_dangling_work):
    from exoreg_gui.dialogs.predict_dialog import DriftPanel
    from exoreg_gui.dialogs.tables import HeadTable

    dialog = _dialog(qtbot, koi_registry, [koi_rows_csv])
    # Nothing heavy when it opens: no result table, no drift panel, no plot.
    assert dialog.findChildren(HeadTable) == [] and dialog.findChildren(DriftPanel) == []
    dialog.show()
    qtbot.waitUntil(lambda: len(dialog.findChildren(HeadTable)) == 2 and len(dialog.findChildren(DriftPanel)) == 1,
                    timeout=5000)
    assert not dialog.results_box.isVisible()
    qtbot.waitUntil(lambda: all(j.state != "checking" for j in dialog.jobs.values()), timeout=20000)
    assert dialog.run_button.isEnabled()
    assert "No drift check" in dialog.drift_panel.verdict_label.text() and dialog.drift_panel.isVisible()
    # No table of the dialog sizes its columns from every cell on each layout pass.
    for view in dialog.findChildren(QTableView):
        header = view.horizontalHeader()
        modes = {header.sectionResizeMode(c) for c in range(header.count())}
        assert QHeaderView.ResizeMode.ResizeToContents not in modes, view.objectName()
    with qtbot.waitSignal(dialog.results_shown, timeout=120000):
        dialog.run()
    # results_shown means on screen: the pane is laid out with the rows in it.
    assert dialog.results_box.isVisible() and dialog.preview_table.isVisible()
    assert dialog.preview_table.table_model.rowCount() == 200
    assert dialog.preview_table.viewport().height() > 100
    assert not messages.errors
    dialog.close()


def test_a_widget_read_before_its_turn_is_made_at_once(qtbot, messages, koi_registry, koi_rows_csv,
                                                      no_dangling_work):
    dialog = _dialog(qtbot, koi_registry, [koi_rows_csv])
    table = dialog.preview_table  # before the event loop ran
    assert table is dialog.preview_table and dialog.result_tabs.widget(0) is table
    assert dialog.drift_panel.parent() is dialog.check_area
    qtbot.waitUntil(lambda: all(j.state != "checking" for j in dialog.jobs.values()), timeout=20000)
    # The check's result arrives before its worker's ``finished``: let that be delivered too.
    qtbot.waitUntil(lambda: not workers.active_workers(), timeout=20000)
    dialog.close()


class _StubWorker:
    """Stands in for the prediction worker process: records the preloads it was asked for."""

    def __init__(self):
        self.loaded: list[str] = []
        self.threads: set[str] = set()

    def preload(self, registry_uri, model_id, cancelled=None):
        self.threads.add(threading.current_thread().name)
        time.sleep(0.02)
        self.loaded.append(model_id)


def test_model_preloads_are_served_in_turn_by_one_thread(qtbot, monkeypatch):
    from exoreg_gui import prediction_worker

    stub = _StubWorker()
    monkeypatch.setattr(prediction_worker, "shared", lambda: stub)
    owner = QObject()
    done: list[tuple[str, object]] = []
    cancel = None
    for model_id in ("a", "b", "c", "d"):
        event = prediction_worker.preload_in_background("uri", model_id, owner,
                                                        lambda m, e: done.append((m, e)))
        cancel = event if model_id == "c" else cancel
    cancel.set()  # "c" is no longer wanted: skipped if not started, never reported
    qtbot.waitUntil(lambda: [m for m, _ in done] == ["a", "b", "d"], timeout=5000)
    assert all(error is None for _, error in done)
    assert stub.threads == {"exoreg-preload"}
    assert [t.name for t in threading.enumerate()].count("exoreg-preload") == 1
