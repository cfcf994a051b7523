"""The disagreements table: sortable by number, filterable, exported with formula-escaped text cells."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from exoreg_gui.widgets.disagreements_panel import DisagreementsPanel  # noqa: E402

COLUMNS = ["row", "kepoi_name", "true label", "RandomForest v1", "P(CONFIRMED) RandomForest v1", "SVM v2",
           "P(CONFIRMED) SVM v2"]
ROWS = [
    [12, "K00752.01", "CONFIRMED", "CONFIRMED", 0.91, "FALSE POSITIVE", 0.42],
    [3, "=HYPERLINK(\"http://x\")", "FALSE POSITIVE", "CONFIRMED", 0.55, "FALSE POSITIVE", 0.1],
    [150, "@SUM(A1)", "CONFIRMED", "FALSE POSITIVE", 0.2, "CONFIRMED", 0.8],
    [7, "-cmd|' /C calc'!A0", "CONFIRMED", "FALSE POSITIVE", 0.05, "CONFIRMED", 0.61],
]


def column(panel, index):
    proxy = panel.proxy
    return [proxy.index(r, index).data() for r in range(proxy.rowCount())]


def test_sorts_numbers_as_numbers_and_filters(qtbot):
    panel = DisagreementsPanel()
    qtbot.addWidget(panel)
    panel.set_rows(COLUMNS, ROWS, "4 of 1,517 rows where the versions predict different labels.")
    assert panel.summary_label.text().startswith("4 of 1,517")
    panel.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert column(panel, 0) == ["3", "7", "12", "150"]  # not "12" < "150" < "3" < "7"
    panel.view.sortByColumn(4, Qt.SortOrder.DescendingOrder)
    assert column(panel, 4) == ["0.9100", "0.5500", "0.2000", "0.0500"]
    panel.filter_edit.setText("k00752")
    assert column(panel, 1) == ["K00752.01"]
    panel.filter_edit.clear()
    assert panel.proxy.rowCount() == 4


def test_export_escapes_formula_cells_and_keeps_the_order_shown(qtbot, tmp_path):
    panel = DisagreementsPanel()
    qtbot.addWidget(panel)
    panel.set_rows(COLUMNS, ROWS)
    panel.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    out = panel.export_csv(tmp_path / "disagreements.csv")
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == COLUMNS
    assert [r[0] for r in rows[1:]] == ["3", "7", "12", "150"]
    names = [r[1] for r in rows[1:]]
    assert names == ["'=HYPERLINK(\"http://x\")", "'-cmd|' /C calc'!A0", "K00752.01", "'@SUM(A1)"]
    assert [float(r[4]) for r in rows[1:]] == [0.55, 0.05, 0.91, 0.2]  # numbers stay numbers, in full
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r)


def test_no_exported_text_cell_can_run_as_a_formula(qapp):
    from core.common.cells import needs_escape

    panel = DisagreementsPanel()

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.text(max_size=12), min_size=1, max_size=8))
    def check(names):
        panel.set_rows(["kepoi_name", "P(CONFIRMED) A"], [[name, 0.5] for name in names])
        rows = list(csv.reader(io.StringIO(panel.to_csv(), newline="")))
        assert len(rows) == len(names) + 1
        for row, name in zip(rows[1:], names, strict=True):
            assert not needs_escape(row[0])
            assert row[0] in (name, "'" + name)

    check()
    panel.deleteLater()


def test_empty_until_scored(qtbot):
    panel = DisagreementsPanel()
    qtbot.addWidget(panel)
    assert not panel.export_button.isEnabled()
    assert "Score two or more versions" in panel.summary_label.text()
