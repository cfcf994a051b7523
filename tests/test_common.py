"""The foundations in core.common: JSON cleaning, spreadsheet-safe cells, user folders, atomic files."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.common import cells, files, jsonio, userdirs


# -- jsonio -----------------------------------------------------------------------------------------
class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"

    def __str__(self) -> str:
        return "opaque"


def test_to_jsonable_makes_plain_json_values():
    value = {
        1: (np.int64(3), np.float32(0.5), np.bool_(True), np.str_("CONFIRMED")),
        "nan": float("nan"), "inf": np.float64("inf"), "-inf": -math.inf,
        "array": np.array([[1, 2], [3, 4]]), "zero_d": np.array(7),
        "path": Path("/tmp/x.csv"), "set": {5}, "none": None, "text": "t",
    }
    out = jsonio.to_jsonable(value)
    assert out == {
        "1": [3, 0.5, True, "CONFIRMED"], "nan": None, "inf": None, "-inf": None,
        "array": [[1, 2], [3, 4]], "zero_d": 7, "path": "/tmp/x.csv", "set": [5], "none": None, "text": "t",
    }
    assert type(out["1"][0]) is int and type(out["1"][2]) is bool and type(out["1"][3]) is str
    json.dumps(out, allow_nan=False)  # nothing left that strict JSON refuses


def test_to_jsonable_unknown_objects_follow_the_callers_choice():
    assert jsonio.to_jsonable([Opaque()]) == ["Opaque()"]
    assert jsonio.to_jsonable([Opaque()], unknown=str) == ["opaque"]
    assert jsonio.to_jsonable(b"x") == "b'x'"


def test_json_default_converts_numpy_and_paths_but_leaves_numbers_to_json():
    text = json.dumps({"a": np.arange(3), "b": np.int32(4), "p": Path("x")}, default=jsonio.json_default)
    assert json.loads(text) == {"a": [0, 1, 2], "b": 4, "p": "x"}
    with pytest.raises(ValueError):  # a NaN is not rewritten: strict JSON still refuses it
        json.dumps({"a": np.array([np.nan])}, default=jsonio.json_default, allow_nan=False)
    with pytest.raises(TypeError):
        json.dumps(Opaque(), default=jsonio.json_default)


def test_plain_scalar():
    assert type(jsonio.plain_scalar(np.float64(1.5))) is float
    assert type(jsonio.plain_scalar(np.str_("a"))) is str
    arr = np.array([1, 2])
    assert jsonio.plain_scalar(arr) is arr


def test_atomic_write_json_uses_the_same_rule(tmp_path):
    path = files.atomic_write_json(tmp_path / "a.json", {"n": np.int64(2), "p": Path("q")})
    assert json.loads(path.read_text()) == {"n": 2, "p": "q"}


# -- spreadsheet cells ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["=1+2", "+cmd", "-2+3", "@SUM(A1)", "\t=x", "\r=x", "-", "-5 ", "=HYPERLINK()"])
def test_risky_text_cells_get_a_quote(text):
    assert cells.escape_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-5", "+1.5e3", "-inf", "NaN", "-.5", "K00752.01", "", "a=b", 5, -3.0, None, True])
def test_numbers_and_harmless_cells_stay(value):
    assert cells.escape_cell(value) == value


def test_pure_python_and_arrow_versions_agree():
    values = ["=1", "-5", "-x", "+1.5e3", "@a", "\tb", "plain", None, "-inf", "-5\n", "'=already", ""]
    arrow = cells.escape_array(pa.array(values, pa.string())).to_pylist()
    assert arrow == [cells.escape_cell(v) for v in values]
    numbers = pa.array([1.0, -2.0])
    assert cells.escape_array(numbers) is numbers


def test_the_prediction_input_module_keeps_its_names():
    from core.prediction import csv_input

    assert csv_input.NUMBER_RE is cells.NUMBER_RE and csv_input.FORMULA_RE is cells.FORMULA_RE
    assert csv_input.escape_formulas is cells.escape_array


# -- user folders -----------------------------------------------------------------------------------
def test_user_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EXOREG_CONFIG_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("EXOREG_CACHE_DIR", str(tmp_path / "k"))
    monkeypatch.setenv("EXOREG_DATA_DIR", str(tmp_path / "d"))
    assert userdirs.config_dir() == tmp_path / "c"
    assert userdirs.cache_dir() == tmp_path / "k"
    assert userdirs.data_dir() == tmp_path / "d"
    assert userdirs.log_dir() == tmp_path / "k"


def test_user_folders_default_to_platformdirs(monkeypatch):
    import platformdirs

    for name in ("EXOREG_CONFIG_DIR", "EXOREG_CACHE_DIR", "EXOREG_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert userdirs.config_dir() == Path(platformdirs.user_config_dir("exoreg", appauthor=False))
    assert userdirs.cache_dir() == Path(platformdirs.user_cache_dir("exoreg", appauthor=False))
    assert userdirs.data_dir() == Path(platformdirs.user_data_dir("exoreg", appauthor=False))
    assert userdirs.log_dir() == Path(platformdirs.user_log_dir("exoreg", appauthor=False))


def test_former_helpers_are_the_new_ones():
    from core.registry import safety
    from core.training import koi

    assert safety.config_dir is userdirs.config_dir
    assert koi.cache_dir is userdirs.cache_dir


# -- atomic files -----------------------------------------------------------------------------------
def test_atomic_output_commit_and_discard(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    out = files.AtomicOutput(target)
    out.tmp.write_text("new")
    assert target.read_text() == "old"
    out.commit()
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.csv"]
    out = files.AtomicOutput(target)
    out.tmp.write_text("half")
    out.discard()
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["out.csv"]


def test_atomic_file_leaves_the_old_file_when_the_block_fails(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), files.atomic_file(target) as tmp:
        tmp.write_text("new")
        raise RuntimeError
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_replace_folder_swaps_in_full(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "old.txt").write_text("old")
    staging = files.temp_folder_beside(target, mode=0o755)
    assert staging.parent == tmp_path and not files.is_temp_file(staging)  # remove_temp_files leaves folders
    (staging / "new.txt").write_text("new")
    files.replace_folder(staging, target)
    assert sorted(os.listdir(target)) == ["new.txt"]
    assert os.listdir(tmp_path) == ["bundle"]  # neither the staging nor the old folder is left


def test_replace_folder_into_an_absent_target(tmp_path):
    staging = files.temp_folder_beside(tmp_path / "b")
    (staging / "f").write_text("x")
    files.replace_folder(staging, tmp_path / "b")
    assert (tmp_path / "b" / "f").read_text() == "x"


def test_escape_frame_and_the_bundle_script_apply_the_same_rule():
    import types

    import pandas as pd

    from core.deployment.bundle import render_predict_script

    values = ["=1", "-5", "-x", "+1.5e3", "@a", "\tb", "plain", None, "-inf", "'=already", ""]
    expected = [cells.escape_cell(v) for v in values]
    for dtype in (object, "string", "str"):
        frame = pd.DataFrame({"c": pd.Series(values, dtype=dtype), "n": range(len(values))})
        got = cells.escape_frame(frame)
        assert [None if pd.isna(v) else v for v in got["c"]] == expected, dtype
        assert got["n"].tolist() == list(range(len(values))) and frame["c"].iloc[0] == "=1"  # a copy
        script = types.ModuleType("predict")
        script.__file__ = "predict.py"
        exec(render_predict_script(["a"], ["X"], "0" * 64), script.__dict__)
        out = script.escape_formulas(frame.copy())
        assert [None if pd.isna(v) else v for v in out["c"]] == expected, dtype


# -- constants with one home ------------------------------------------------------------------------
def test_shared_constants_are_the_same_objects():
    from core.cli.predict_commands import LABEL_COLUMN as cli_label
    from core.deployment import bundle
    from core.prediction import engine
    from core.registry.metadata import HEADLINE_METRICS
    from core.training import koi
    from exoreg_gui.models import registry_tree_model

    assert registry_tree_model.HEADLINE_METRICS is HEADLINE_METRICS
    assert bundle.LEAKY_COLUMNS is koi.LEAKY_COLUMNS
    assert bundle.ID_COLUMNS is koi.IDENTIFIER_COLUMNS
    assert engine.DEFAULT_ID_COLUMNS == ("kepoi_name", "kepid")
    assert set(engine.DEFAULT_ID_COLUMNS) < set(koi.IDENTIFIER_COLUMNS)
    assert engine.DEFAULT_LABEL_COLUMN is koi.LABEL_COLUMN is cli_label


def test_the_bundle_script_lists_the_identifiers_as_before():
    from core.deployment.bundle import render_predict_script

    text = render_predict_script(["a"], ["X"], "0" * 64)
    assert "ID_COLUMNS = [\n    'kepoi_name',\n    'kepid',\n    'kepler_name',\n]\n" in text


def test_predict_dialog_save_as_is_atomic(tmp_path):
    from exoreg_gui.dialogs.predict_dialog import save_copy

    source = tmp_path / "out.csv"
    source.write_text("a,b\n1,'=x\n")
    target = tmp_path / "copy.csv"
    target.write_text("old")
    assert save_copy(str(source), str(target)) == str(target)
    assert target.read_text() == source.read_text()
    parquet = tmp_path / "copy.parquet"
    save_copy(str(source), str(parquet))
    import pyarrow.parquet as pq

    assert pq.read_table(parquet).column("b").to_pylist() == ["'=x"]
    parquet.write_text("old")
    target.write_text("old")
    for destination in (parquet, target):  # a failed copy leaves the old file and no temporary one
        with pytest.raises(OSError):
            save_copy(str(tmp_path / "missing.csv"), str(destination))
        assert destination.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.csv", "copy.parquet", "out.csv"]


# The cells a spreadsheet could run, the numbers it must not touch, and text that is close to both:
# signs before words, Unicode letters that fold to "inf"/"nan" (dotless i, Kelvin sign), blanks.
_FORMULA_LEAD = st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", " ", ""])
_NEAR_NUMBER = st.from_regex(r"\A[+-]?([0-9]{0,3}\.?[0-9]{0,3}([eE][+-]?[0-9]{1,2})?|inf|infinity|nan|INF|NaN)\Z")
_TRICKY = st.text(alphabet=st.sampled_from(list("=+-@\t\r\n .eE0159infatyINFıİſK'\"\u00a0\u2028A=")), max_size=10)
_CELLS = st.one_of(
    st.builds(lambda lead, rest: lead + rest, _FORMULA_LEAD, st.one_of(_NEAR_NUMBER, _TRICKY, st.text(max_size=8))),
    st.text(max_size=12),
    st.none(),
)


def _bundle_script():
    import types

    from core.deployment.bundle import render_predict_script

    script = types.ModuleType("predict")
    script.__file__ = "predict.py"
    exec(render_predict_script(["a"], ["X"], "0" * 64), script.__dict__)
    return script


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_CELLS, min_size=1, max_size=20))
@example(values=["-\u0131nf", "+\u0130NF", "-\u0131nfinity", "-na\u212a", "-nan", "-inf\n", "=1", "-5", None, ""])
def test_the_bundle_scripts_embedded_rule_agrees_with_core_cells(values):
    import pandas as pd

    script = _bundle_script()
    assert script.CSV_OPTIONS == cells.CSV_OPTIONS
    expected = [cells.escape_cell(v) for v in values]
    frame = pd.DataFrame({"c": pd.Series(values, dtype=object)})

    def cells_of(column):  # a missing cell stays missing, whichever missing value pandas shows
        return [v if isinstance(v, str) else None for v in column]

    assert cells_of(script.escape_formulas(frame.copy())["c"]) == expected
    assert cells_of(cells.escape_frame(frame)["c"]) == expected
    assert cells.escape_array(pa.array(values, pa.string())).to_pylist() == expected
