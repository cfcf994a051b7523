"""Every CSV the product writes escapes the same hostile cells the same way, and none overwrites its input.

The writers: ``exoreg predict`` (output and rejects report), ``exoreg rank -o``, the deployment bundle's standalone
``predict.py``, the demo's ``candidates.csv``, the GUI's Compare "Export CSV…" and Copy, and the
prediction dialog's Save As. Each is fed the same cells a spreadsheet would run as formulas, and
each output is read back with the csv module as a spreadsheet would.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import pandas as pd
import pytest

from core.common.cells import escape_cell, needs_escape
from tests._factories import register, training_data

# Formulas, a formula behind a tab / CR, a sign before a word, and a number look-alike with a
# non-ASCII letter. Each must come out with a leading quote, and nothing in any output may be
# left that a spreadsheet would run.
HOSTILE = ['=HYPERLINK("http://example.com/x","click")', "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3",
           "\t=1+1", "\r=1+1", "-\u0131nf"]
NUMBERS = ["-5", "+1.5e3", "-inf"]
REJECTED = "=IMPORTXML(0)"  # the identifier of a row that is rejected into the report


def _rows(path: Path | str) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _rows_of(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _assert_safe(rows: list[list[str]], where: str) -> None:
    """No cell a spreadsheet would run, and every hostile cell shown with its quote."""
    cells = [cell for row in rows for cell in row]
    runnable = [cell for cell in cells if needs_escape(cell)]
    assert not runnable, f"{where}: {runnable}"
    for hostile in HOSTILE:
        assert escape_cell(hostile) == "'" + hostile
        assert any(cell == "'" + hostile or cell.startswith("'" + hostile) for cell in cells), (where, hostile)


@pytest.fixture
def registry(tmp_path):
    from core.model_registry import ModelRegistry

    reg = ModelRegistry(tmp_path / "registry")
    register(reg, name="Forest", description=HOSTILE[0], tags={"owner": HOSTILE[1], "note": HOSTILE[2]},
             training_info={"dataset": HOSTILE[3], "training_samples": 300})
    register(reg, name="Forest", description=HOSTILE[4], tags={"owner": HOSTILE[6], "note": HOSTILE[5]})
    return reg


@pytest.fixture
def hostile_csv(tmp_path) -> Path:
    """KOI-like rows whose identifiers are the hostile cells; the last row's feature is one too."""
    X, _y = training_data()
    rows = X.head(len(HOSTILE) + len(NUMBERS) + 1).copy()
    rows.insert(0, "kepoi_name", HOSTILE + NUMBERS + [REJECTED])
    rows["koi_period"] = rows["koi_period"].astype(object)
    rows.iloc[-1, rows.columns.get_loc("koi_period")] = HOSTILE[0]  # rejected, reported with its cell
    path = tmp_path / "in.csv"
    rows.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)  # a lone CR only survives quoted
    return path


def test_every_csv_writer_escapes_the_same_hostile_cells(registry, hostile_csv, tmp_path, qapp, capsys):
    from core.cli import main
    from core.deployment.bundle import export_registered_model
    from core.training.demo import _write_candidates
    from exoreg_gui.dialogs.predict_dialog import save_copy
    from exoreg_gui.models.compare_table_model import CompareTableModel

    # exoreg predict: the output and the rejects report
    out = tmp_path / "cli.csv"
    assert main(["predict", "Forest", str(hostile_csv), "-o", str(out), "--registry", str(registry.root)]) == 0
    rows = _rows(out)
    _assert_safe(rows, "exoreg predict")
    ids = [row[0] for row in rows[1:]]
    assert ids == [escape_cell(v) for v in HOSTILE + NUMBERS]  # numbers stay numbers
    rejects = _rows(tmp_path / "cli.rejects.csv")
    assert not [cell for row in rejects for cell in row if needs_escape(cell)]
    id_column = rejects[0].index(rows[0][0])
    assert [row[id_column] for row in rejects[1:]] == ["'" + REJECTED]

    # exoreg rank -o: the ranked rows (the row with text in a feature is not ranked)
    ranked = tmp_path / "ranked.csv"
    assert main(["rank", "Forest", str(hostile_csv), "-o", str(ranked), "--registry", str(registry.root)]) == 0
    ranked_rows = _rows(ranked)
    _assert_safe(ranked_rows, "exoreg rank")
    name_column = ranked_rows[0].index("kepoi_name")
    assert sorted(row[name_column] for row in ranked_rows[1:]) == sorted(escape_cell(v) for v in HOSTILE + NUMBERS)

    # the prediction dialog's Save As keeps the cells as they were written
    copy = Path(save_copy(str(out), str(tmp_path / "saved.csv")))
    assert _rows(copy) == rows

    # the deployment bundle's predict.py (run as a user runs it, in its own process)
    import subprocess
    import sys

    bundle = export_registered_model(registry, "Forest:1", tmp_path / "bundle", include_onnx=False).path
    script_out = tmp_path / "script.csv"
    done = subprocess.run([sys.executable, "predict.py", str(hostile_csv), "-o", str(script_out)], cwd=bundle,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    script_rows = _rows(script_out)
    _assert_safe(script_rows, "predict.py")
    assert [row[0] for row in script_rows[1:]] == [escape_cell(v) for v in HOSTILE + NUMBERS + [REJECTED]]

    # the demo's candidates.csv
    frame = pd.read_csv(hostile_csv, dtype={"kepoi_name": str})
    frame["koi_disposition"] = "CANDIDATE"
    _write_candidates(frame, tmp_path / "candidates.csv")
    _assert_safe(_rows(tmp_path / "candidates.csv"), "candidates.csv")

    # the GUI's Compare "Export CSV…" and Copy: names, descriptions, tags and dataset names
    metas = [registry.get_metadata(m["model_id"]) for m in registry.list_models()]
    metas = [dataclasses.replace(metas[0], model_name=HOSTILE[0]), metas[1]]
    model = CompareTableModel()
    model.set_versions(metas)
    _assert_safe(_rows_of(model.to_csv()), "compare export")
    _assert_safe(_rows_of(model.to_text(), "\t"), "compare copy")
    capsys.readouterr()


def test_no_writer_overwrites_its_input(registry, hostile_csv, tmp_path, capsys, monkeypatch):
    from core.cli import main
    from core.deployment.bundle import export_registered_model
    from core.errors import DataError
    from core.training import demo

    before = hostile_csv.read_bytes()
    link = tmp_path / "link.csv"
    link.symlink_to(hostile_csv)
    hard = tmp_path / "hard.csv"
    hard.hardlink_to(hostile_csv)
    for command in ("predict", "rank"):
        for output in (hostile_csv, link, hard):
            assert main([command, "Forest", str(hostile_csv), "-o", str(output), "--registry", str(registry.root)]) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "Traceback" not in err, err

    bundle = export_registered_model(registry, "Forest", tmp_path / "bundle", include_onnx=False).path
    import subprocess
    import sys

    for output in (hostile_csv, link, hard):
        done = subprocess.run([sys.executable, "predict.py", str(hostile_csv), "-o", str(output)], cwd=bundle,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert hostile_csv.read_bytes() == before

    # the demo never writes candidates.csv over the KOI table it was given
    table = tmp_path / "candidates.csv"
    table.write_text("kepoi_name\n")
    monkeypatch.setattr(demo, "_load_data", lambda *a, **k: demo._DemoData(pd.DataFrame(), demo.REAL, str(table),
                                                                            {}, []))
    with pytest.raises(DataError, match="is the candidates.csv the demo writes"):
        demo.build_demo_registry(tmp_path / "demo-registry", table)
    assert table.read_text() == "kepoi_name\n"
