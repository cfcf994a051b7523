"""Messy and bad input files: each gets a clear error or a clearly reported rejection, and no stray output."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DataError
from core.prediction.engine import predict_csv, preflight

FEATURES = ["koi_period", "koi_depth", "koi_prad"]
LABELS = np.array(["CONFIRMED", "FALSE POSITIVE"])


def _data(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(np.round(rng.normal(size=(n, len(FEATURES))), 4), columns=FEATURES)
    frame.insert(0, "kepoi_name", [f"K{i:05d}.01" for i in range(1, n + 1)])
    return frame


def _fit(model):
    frame = _data(300, seed=1)
    y = LABELS[(frame["koi_period"] + frame["koi_depth"] > 0).astype(int)]
    model.fit(frame[FEATURES], y)
    return model, SimpleNamespace(model_id="test_v1", feature_columns=FEATURES, classes=[])


@pytest.fixture(scope="module")
def imputing():
    """A pipeline that fills empty cells itself."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    return _fit(make_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=5, random_state=0)))


@pytest.fixture(scope="module")
def strict():
    """A model that refuses empty cells (no imputer in front)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return _fit(make_pipeline(StandardScaler(), LogisticRegression()))


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _csv(frame: pd.DataFrame, sep: str = ",") -> str:
    return frame.to_csv(index=False, sep=sep, lineterminator="\n")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_missing_columns_are_listed_with_close_matches(imputing, tmp_path):
    frame = _data().rename(columns={"koi_period": "period"}).drop(columns=["koi_prad"])
    src = _write(tmp_path / "in.csv", _csv(frame))

    report = preflight(imputing[1], src)
    assert not report.ok and report.missing == ["koi_period", "koi_prad"]
    assert report.suggestions == {"koi_period": ["period"]}
    assert report.matched == ["koi_depth"]
    with pytest.raises(DataError) as err:
        predict_csv(imputing, src, tmp_path / "out.csv")
    message = str(err.value)
    assert message == report.error
    assert "lacks 2 feature columns" in message
    assert "koi_period (did you mean 'period'?)" in message and "koi_prad" in message
    assert _files(tmp_path) == ["in.csv"]


def test_text_in_a_feature_column_rejects_the_row_with_the_reason(imputing, tmp_path):
    frame = _data().astype({"koi_depth": object, "koi_period": object})
    frame.loc[2, "koi_depth"] = "abc"
    frame.loc[6, "koi_period"] = "12 days"
    src = _write(tmp_path / "in.csv", _csv(frame))

    report = preflight(imputing[1], src)
    assert report.ok  # the model can run; the bad rows are reported
    assert report.issues["koi_depth"].non_numeric == 1 and report.issues["koi_depth"].first_rows == [3]
    assert report.issues["koi_period"].examples == ["12 days"]
    assert any("koi_period: 1 not numbers" in w for w in report.warnings)

    out = tmp_path / "out.csv"
    summary = predict_csv(imputing, src, out)
    assert (summary.rows_read, summary.rows_predicted, summary.rows_rejected) == (40, 38, 2)
    assert summary.issues["koi_depth"]["non_numeric"] == 1
    rejects = pd.read_csv(summary.rejects_path)
    assert summary.rejects_path == str(tmp_path / "out.rejects.csv")
    assert rejects["row"].tolist() == [3, 7]
    assert rejects["kepoi_name"].tolist() == ["K00003.01", "K00007.01"]
    assert rejects["reason"].tolist() == [
        "koi_depth is not a number ('abc')",
        "koi_period is not a number ('12 days')",
    ]
    assert "K00003.01" not in pd.read_csv(out)["kepoi_name"].tolist()


def test_text_found_after_the_first_megabyte_still_gets_reported(imputing, tmp_path):
    frame = _data(60_000)
    frame = frame.astype({"koi_prad": object})
    frame.loc[59_990, "koi_prad"] = "oops"
    src = _write(tmp_path / "in.csv", _csv(frame))
    assert src.stat().st_size > 1.5e6
    out = tmp_path / "out.csv"

    summary = predict_csv(imputing, src, out, batch_rows=384)
    assert (summary.rows_read, summary.rows_predicted, summary.rows_rejected) == (60_000, 59_999, 1)
    assert pd.read_csv(summary.rejects_path)["row"].tolist() == [59_991]
    assert len(pd.read_csv(out)) == 59_999
    assert _files(tmp_path) == ["in.csv", "out.csv", "out.rejects.csv"]


def test_infinities_are_rejected(imputing, tmp_path):
    frame = _data().astype({"koi_depth": object})
    frame.loc[0, "koi_depth"] = "inf"
    frame.loc[1, "koi_depth"] = "-Infinity"
    src = _write(tmp_path / "in.csv", _csv(frame))
    assert preflight(imputing[1], src).issues["koi_depth"].infinite == 2
    summary = predict_csv(imputing, src, tmp_path / "out.csv")
    assert summary.rows_rejected == 2 and summary.issues["koi_depth"]["infinite"] == 2
    assert pd.read_csv(summary.rejects_path)["reason"].tolist() == ["koi_depth is infinite"] * 2


def test_empty_cells_are_imputed_by_the_pipeline_or_rejected(imputing, strict, tmp_path):
    frame = _data()
    frame.loc[[4, 9], "koi_prad"] = np.nan
    frame.loc[9, "koi_depth"] = np.nan
    src = _write(tmp_path / "in.csv", _csv(frame))

    report = preflight(imputing[1], src)
    assert report.issues["koi_prad"].missing == 2 and report.issues["koi_prad"].first_rows == [5, 10]

    (tmp_path / "a.rejects.csv").write_text("row,reason\n1,from an earlier run\n")
    summary = predict_csv(imputing, src, tmp_path / "a.csv")
    assert (summary.rows_predicted, summary.rows_imputed, summary.rows_rejected) == (40, 2, 0)
    assert summary.rejects_path is None
    assert not (tmp_path / "a.rejects.csv").exists()  # a stale rejects file is not left to mislead

    summary = predict_csv(strict, src, tmp_path / "b.csv")
    assert (summary.rows_predicted, summary.rows_imputed, summary.rows_rejected) == (38, 0, 2)
    reasons = pd.read_csv(summary.rejects_path)["reason"].tolist()
    assert reasons == [
        "empty koi_prad and the model cannot impute missing values",
        "empty koi_depth, koi_prad and the model cannot impute missing values",
    ]


def test_nasa_comment_header_and_comment_lines_further_down(imputing, tmp_path):
    frame = _data()
    body = _csv(frame).splitlines(keepends=True)
    text = "# This file was produced by the NASA Exoplanet Archive\n# COLUMN koi_period: Orbital Period [days]\n#\n"
    text += "".join(body[:20]) + "# a note in the middle\n" + "".join(body[20:])
    src = _write(tmp_path / "in.csv", text)
    report = preflight(imputing[1], src)
    assert report.comment_lines == 3 and report.ok
    summary = predict_csv(imputing, src, tmp_path / "out.csv")
    assert (summary.rows_read, summary.rows_predicted, summary.rows_rejected) == (40, 40, 0)


def test_utf8_with_byte_order_mark(imputing, tmp_path):
    frame = _data()[[*FEATURES, "kepoi_name"]]  # a feature column first: the BOM must not stick to its name
    src = _write(tmp_path / "in.csv", _csv(frame), encoding="utf-8-sig")
    report = preflight(imputing[1], src)
    assert report.ok and report.columns[0] == "koi_period" and report.encoding == "utf-8 with BOM"
    assert predict_csv(imputing, src, tmp_path / "out.csv").rows_predicted == 40


def test_latin1_file(imputing, tmp_path):
    frame = _data()
    frame.loc[0, "kepoi_name"] = "Kepler-é 1"
    src = _write(tmp_path / "in.csv", _csv(frame), encoding="latin-1")
    assert preflight(imputing[1], src).encoding == "latin-1"
    out = tmp_path / "out.csv"
    predict_csv(imputing, src, out)
    assert pd.read_csv(out, encoding="utf-8")["kepoi_name"][0] == "Kepler-é 1"


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_semicolon_tab_and_pipe_delimiters(imputing, tmp_path, sep):
    src = _write(tmp_path / "in.csv", _csv(_data(), sep=sep))
    assert preflight(imputing[1], src).delimiter == sep
    out = tmp_path / "out.csv"
    assert predict_csv(imputing, src, out).rows_predicted == 40
    expected = imputing[0].predict_proba(_data()[FEATURES])[:, 0]
    np.testing.assert_array_equal(pd.read_csv(out)["probability_CONFIRMED"].to_numpy(), expected)


@pytest.mark.parametrize("name", ["in.csv.gz", "gzipped-but-named.csv"])
def test_gzip_input_recognised_by_content(imputing, tmp_path, name):
    src = tmp_path / name
    src.write_bytes(gzip.compress(_csv(_data(3000)).encode()))
    report = preflight(imputing[1], src)
    assert report.compression == "gzip" and report.ok and report.rows_exact and report.estimated_rows == 3000
    assert predict_csv(imputing, src, tmp_path / "out.csv").rows_predicted == 3000


def test_quoted_fields_with_delimiters_are_read_and_a_value_spanning_lines_is_rejected_by_line(
    imputing, tmp_path
):
    # Multi-line cells are off (KOI exports never have them): each line is a record.
    text = (
        "kepoi_name,koi_period,koi_depth,koi_prad\n"
        '"K1, with a comma",1.5,"2.5",0.1\n'
        '"K2 spans\ntwo lines",-1.5,-2.5,0.2\n'
        '"K3 ""quoted""",0.5,0.5,0.3\n'
    )
    src = _write(tmp_path / "in.csv", text)
    out = tmp_path / "out.csv"
    summary = predict_csv(imputing, src, out)
    assert (summary.rows_read, summary.rows_predicted, summary.rows_rejected) == (4, 2, 2)
    assert pd.read_csv(out)["kepoi_name"].tolist() == ["K1, with a comma", 'K3 "quoted"']
    rejects = pd.read_csv(summary.rejects_path)
    assert rejects["line"].tolist() == [3, 4]
    assert all("unmatched quote" in r for r in rejects["reason"])


def test_a_stray_quote_rejects_its_own_line_and_swallows_nothing(imputing, tmp_path):
    frame = _data(50)
    lines = _csv(frame).splitlines(keepends=True)
    lines[6] = '"' + lines[6]  # data row 6, line 7 of the file
    src = _write(tmp_path / "in.csv", "".join(lines))
    summary = predict_csv(imputing, src, tmp_path / "out.csv")
    assert (summary.rows_read, summary.rows_predicted, summary.rows_rejected) == (50, 49, 1)
    rejects = pd.read_csv(summary.rejects_path)
    assert rejects["line"].tolist() == [7] and rejects["row"].tolist() == [6]
    assert "line 7 has an unmatched quote" in rejects["reason"][0]
    predicted = pd.read_csv(tmp_path / "out.csv")["kepoi_name"].tolist()
    assert predicted == [n for i, n in enumerate(frame["kepoi_name"]) if i != 5]


def test_rejects_name_the_line_past_comments_blank_lines_and_refused_lines(imputing, tmp_path):
    frame = _data(8)
    body = _csv(frame).splitlines(keepends=True)
    body[3] = body[3].replace(str(frame["koi_depth"][2]), "deep", 1)  # line 5 after the comments below
    text = (
        "# a comment\n# another\n"
        + body[0]
        + body[1]
        + "\n# inside\n"
        + body[2]
        + "x,y\n"
        + "".join(body[3:])
    )
    src = _write(tmp_path / "in.csv", text)
    summary = predict_csv(imputing, src, tmp_path / "out.csv")
    assert summary.rows_read == summary.rows_predicted + summary.rows_rejected == 9
    rejects = pd.read_csv(summary.rejects_path).sort_values("line")
    physical = text.splitlines()
    for line, reason in zip(rejects["line"], rejects["reason"], strict=True):
        assert ("deep" in physical[line - 1]) == ("not a number" in reason)
    assert rejects["line"].tolist() == [8, 9]  # "x,y" on line 8, the bad depth on line 9


def test_a_cell_over_a_mebibyte_is_read(imputing, tmp_path):
    frame = _data(20)
    frame.loc[3, "kepoi_name"] = "K" * (3 << 20)
    src = _write(tmp_path / "in.csv", _csv(frame))
    summary = predict_csv(imputing, src, tmp_path / "out.csv")
    assert summary.rows_predicted == 20
    assert len(pd.read_csv(tmp_path / "out.csv")["kepoi_name"][3]) == 3 << 20


def test_latin1_bytes_after_the_first_mebibyte_are_read_as_latin1(imputing, tmp_path):
    frame = _data(40_000)
    frame.loc[39_000, "kepoi_name"] = "Kepler-\u00e9"
    data = _csv(frame).encode("latin-1")
    assert data.index(b"\xe9") > 1 << 20
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    summary = predict_csv(imputing, src, tmp_path / "out.csv")
    assert summary.rows_predicted == 40_000
    assert pd.read_csv(tmp_path / "out.csv")["kepoi_name"][39_000] == "Kepler-\u00e9"


def test_duplicate_column_names_are_an_error(imputing, tmp_path):
    src = _write(tmp_path / "in.csv", "kepoi_name,koi_period,koi_depth,koi_prad,koi_depth\nK1,1,2,3,4\n")
    with pytest.raises(DataError, match=r"duplicate column names \(koi_depth\)"):
        preflight(imputing[1], src)
    with pytest.raises(DataError, match="duplicate"):
        predict_csv(imputing, src, tmp_path / "out.csv")
    assert _files(tmp_path) == ["in.csv"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("\n\n  \n", "is empty"),
        ("# only a comment\n#\n", "no header line"),
        ("kepoi_name,koi_period,koi_depth,koi_prad\n", "has a header but no data rows"),
    ],
)
def test_empty_and_header_only_files(imputing, tmp_path, content, message):
    src = _write(tmp_path / "in.csv", content)
    with pytest.raises(DataError, match=message):
        preflight(imputing[1], src)
    with pytest.raises(DataError, match=message):
        predict_csv(imputing, src, tmp_path / "out.csv")
    assert _files(tmp_path) == ["in.csv"]


def test_files_that_are_not_csv(imputing, tmp_path):
    png = tmp_path / "picture.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(DataError, match="not a CSV file"):
        predict_csv(imputing, png, tmp_path / "out.csv")

    workbook = tmp_path / "table.xlsx"
    with zipfile.ZipFile(workbook, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DataError, match="ZIP archive .* save or export it as CSV"):
        preflight(imputing[1], workbook)

    with pytest.raises(DataError, match="is a folder"):
        predict_csv(imputing, tmp_path, tmp_path / "out.csv")
    with pytest.raises(FileNotFoundError):
        preflight(imputing[1], tmp_path / "missing.csv")
    assert _files(tmp_path) == ["picture.csv", "table.xlsx"]


def test_malformed_lines_are_rejected_not_dropped(imputing, tmp_path):
    text = "kepoi_name,koi_period,koi_depth,koi_prad\nK1,1,2,3\nK2,1,2\nK3,1,2,3,4,5\nK4,0.5,0.5,0.5\n"
    src = _write(tmp_path / "in.csv", text)
    summary = predict_csv(imputing, src, tmp_path / "out.csv")
    assert (summary.rows_read, summary.rows_predicted, summary.rows_rejected) == (4, 2, 2)
    rejects = pd.read_csv(summary.rejects_path)
    assert rejects["reason"].tolist() == [
        "line 3 has 3 fields where 4 were expected: 'K2,1,2'",
        "line 4 has 6 fields where 4 were expected: 'K3,1,2,3,4,5'",
    ]
    assert rejects["line"].tolist() == [3, 4] and rejects["row"].tolist() == [2, 3]


def test_the_input_is_never_overwritten(imputing, tmp_path):
    src = _write(tmp_path / "in.csv", _csv(_data()))
    before = src.read_bytes()
    with pytest.raises(DataError, match="would overwrite the input"):
        predict_csv(imputing, src, src)
    with pytest.raises(DataError, match="would overwrite the input"):
        predict_csv(imputing, src, tmp_path / "out.csv", rejects_path=src)
    with pytest.raises(DataError, match="does not exist"):
        predict_csv(imputing, src, tmp_path / "no" / "out.csv")
    assert src.read_bytes() == before and _files(tmp_path) == ["in.csv"]


def test_a_model_failure_leaves_no_output(tmp_path):
    class Broken:
        classes_ = LABELS

        def predict_proba(self, X):
            raise ValueError("X has 3 features, but this model expects 7.")

    src = _write(tmp_path / "in.csv", _csv(_data()))
    meta = SimpleNamespace(model_id="broken_v1", feature_columns=FEATURES, classes=[])
    with pytest.raises(DataError, match="Model broken_v1 could not predict on this file"):
        predict_csv((Broken(), meta), src, tmp_path / "out.csv")
    assert _files(tmp_path) == ["in.csv"]


def test_row_numbers_when_there_is_no_identifier_and_named_id_columns(imputing, tmp_path):
    frame = _data()
    src = _write(tmp_path / "in.csv", _csv(frame[FEATURES]))
    out = tmp_path / "out.csv"
    predict_csv(imputing, src, out)
    got = pd.read_csv(out)
    assert list(got.columns)[:2] == ["row", "predicted_label"] and got["row"].tolist() == list(range(1, 41))

    src = _write(tmp_path / "ids.csv", _csv(frame))
    predict_csv(imputing, src, out, id_columns=["koi_period", "kepoi_name"])
    assert list(pd.read_csv(out).columns)[:2] == ["koi_period", "kepoi_name"]
    with pytest.raises(DataError, match="lacks 1 identifier column: kepid"):
        predict_csv(imputing, src, out, id_columns=["kepid"])


def test_windows_line_ends_and_blank_padded_column_names(imputing, tmp_path):
    text = _csv(_data()).replace("koi_period", " koi_period ").replace("\n", "\r\n")
    src = _write(tmp_path / "in.csv", text)
    assert preflight(imputing[1], src).matched == FEATURES
    out = tmp_path / "out.csv"
    assert predict_csv(imputing, src, out).rows_predicted == 40
    assert pd.read_csv(out)["kepoi_name"].tolist() == _data()["kepoi_name"].tolist()  # no stray "\r"


@pytest.mark.parametrize("compress", [False, True])
def test_more_than_a_mebibyte_of_comment_lines_before_the_header_is_read(imputing, tmp_path, compress):
    comments = "".join(f"# comment line {i} " + "x" * 60 + "\n" for i in range(25_000))
    assert len(comments) > 1 << 20
    data = ("\ufeff" + comments + _csv(_data(40))).encode("utf-8")
    src = tmp_path / "in.csv"
    src.write_bytes(gzip.compress(data) if compress else data)
    report = preflight(imputing[1], src)
    assert report.ok and report.comment_lines == 25_000 and report.encoding == "utf-8 with BOM"
    summary = predict_csv(imputing, src, tmp_path / "out.csv")
    assert summary.rows_predicted == 40 and summary.rows_rejected == 0


def test_only_comments_says_so(imputing, tmp_path):
    src = _write(tmp_path / "in.csv", "# c\n" * 400_000)
    with pytest.raises(DataError, match="no header line"):
        preflight(imputing[1], src)


# -- batches parsed straight to numbers ---------------------------------------------------------

_CELLS = ["", "NA", "nan", "NaN", "N/A", "null", "inf", "-inf", "Infinity", "1e400", "-0", "0", "+3", ".5",
          "5.", " 2.5", "2.5 ", "1,5", "0x1A", "1e", "abc", "—", "1_000", "١٢", "TRUE", '"7"', '""']


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.one_of(st.sampled_from(_CELLS),
                                st.floats(allow_nan=True, allow_infinity=True).map(repr),
                                st.integers(-10**20, 10**20).map(str),
                                st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=',"'), max_size=6)),
                      min_size=1, max_size=40),
       block=st.sampled_from([16, 64, 1 << 20]))
def test_a_column_parsed_as_numbers_reads_every_cell_as_the_text_path_does(tmp_path, cells, block):
    """The numeric fast path (a batch parsed to float64, or as text when a cell is not a number,
    however many reads of the file the batch spans) gives every cell the value, and the
    missing / not-a-number / infinite verdict, that reading it as text and converting it gives."""
    from core.prediction.csv_input import BatchStream, sniff_csv, to_float

    path = tmp_path / "cells.csv"
    path.write_text("id,x\n" + "".join(f"r{i},{c}\n" for i, c in enumerate(cells)), encoding="utf-8")
    fmt = sniff_csv(path)

    def read(numeric):
        with BatchStream(fmt, ["id", "x"], batch_rows=8, numeric=numeric, block_size=block) as stream:
            batches = list(stream)
            return batches, list(stream.invalid)

    typed, typed_invalid = read(["x"])
    text, text_invalid = read([])
    assert typed_invalid == text_invalid
    assert [b.num_rows for b in typed] == [b.num_rows for b in text]
    for a, b in zip(typed, text, strict=True):
        assert a.column("id").to_pylist() == b.column("id").to_pylist()
        got, want = to_float(a.column("x")), to_float(b.column("x"))
        np.testing.assert_array_equal(got.values, want.values)  # NaN where NaN, -0.0 as -0.0
        assert np.array_equal(np.signbit(got.values), np.signbit(want.values))
        for mask in ("missing", "non_numeric", "infinite"):
            np.testing.assert_array_equal(getattr(got, mask), getattr(want, mask), err_msg=mask)


@pytest.mark.parametrize("batch_rows", [192, 384, None])
def test_rejects_and_predictions_hold_across_batch_boundaries(imputing, tmp_path, batch_rows):
    """Comment, blank and refused lines and text cells scattered over many batches: every
    record is predicted or rejected once, each reject names its line, and the predictions are
    those of the clean rows predicted in memory."""
    model, _ = imputing
    frame = _data(1500, seed=3)
    lines = _csv(frame).splitlines(keepends=True)
    out, expected_bad, kept = [lines[0]], {}, []
    for i, line in enumerate(lines[1:]):
        if i % 97 == 5:
            out.append("# a comment\n")
        if i % 131 == 7:
            out.append("\n")
        if i % 113 == 11:
            expected_bad[len(out) + 1] = "fields"  # the line number of the line appended next
            out.append("x,y\n")  # too few fields: refused by the parser
        if i % 89 == 13:
            parts = line.rstrip("\n").split(",")
            parts[2] = "deep"  # koi_depth
            line = ",".join(parts) + "\n"
            expected_bad[len(out) + 1] = "not a number"
        else:
            kept.append(i)
        out.append(line)
    src = _write(tmp_path / "in.csv", "".join(out))
    summary = predict_csv(imputing, src, tmp_path / "out.csv", batch_rows=batch_rows)
    assert summary.rows_read == summary.rows_predicted + summary.rows_rejected == 1500 + 14
    rejects = pd.read_csv(summary.rejects_path).sort_values("line")
    assert rejects["line"].tolist() == sorted(expected_bad)
    for line, reason in zip(rejects["line"], rejects["reason"], strict=True):
        assert expected_bad[line] in reason
    predicted = pd.read_csv(tmp_path / "out.csv")
    assert predicted["kepoi_name"].tolist() == frame["kepoi_name"].iloc[kept].tolist()
    proba = model.predict_proba(frame[FEATURES].iloc[kept])
    np.testing.assert_array_equal(predicted[[f"probability_{c}" for c in model.classes_]].to_numpy(), proba)


@pytest.mark.parametrize("block", [64, 1 << 20])
def test_the_last_batches_of_a_pass_can_be_smaller(tmp_path, block):
    """``tail``: from a record on (a multiple of the batch size), batches have fewer rows."""
    from core.prediction.csv_input import BatchStream, sniff_csv

    path = tmp_path / "rows.csv"
    path.write_text("id,x\n" + "".join(f"r{i},{i}\n" for i in range(100)), encoding="utf-8")
    with BatchStream(sniff_csv(path), ["id", "x"], block_size=block, batch_rows=10, tail=(40, 3)) as stream:
        batches = list(stream)
    assert [b.num_rows for b in batches] == [10] * 4 + [3] * 20
    assert [v for b in batches for v in b.column("id").to_pylist()] == [f"r{i}" for i in range(100)]


_LINE_KINDS = st.sampled_from(["row", "row", "row", "row", "comment", "blank", "short", "quoted", "unclosed", "crlf"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(_LINE_KINDS, min_size=1, max_size=300), batch_rows=st.integers(1, 50),
       block=st.sampled_from([64, 1000, 1 << 20]), tail=st.none() | st.tuples(st.integers(0, 5), st.integers(1, 50)))
def test_every_record_is_read_once_and_located_on_its_line(tmp_path, kinds, batch_rows, block, tail):
    """Whatever mix of comment, blank, short, quoted and unclosed-quote lines, however the file is
    cut into reads and batches (smaller ones at the end, or not): each data line is one record,
    read once (or refused once), and :meth:`BatchStream.locate` names the line it is on."""
    if tail is not None:
        tail = (tail[0] * batch_rows, tail[1])
    from core.prediction.csv_input import BatchStream, sniff_csv

    lines, expected = ["id,x,y"], []  # expected: (line number, id) of every record Arrow keeps
    refused = []
    for i, kind in enumerate(kinds):
        number = len(lines) + 1
        if kind == "comment":
            lines.append("# note")
        elif kind == "blank":
            lines.append("")
        elif kind == "short":
            lines.append(f"s{i},1")
            refused.append(number)
        elif kind == "unclosed":
            lines.append(f'u{i},"1,2')
            refused.append(number)
        elif kind == "quoted":
            lines.append(f'q{i},"1,5",2')
            expected.append((number, f"q{i}"))
        else:
            lines.append(f"r{i},{i},2" + ("\r" if kind == "crlf" else ""))
            expected.append((number, f"r{i}"))
    path = tmp_path / "lines.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not expected and not refused:
        return  # only comments: sniff_csv says so (tested elsewhere)
    fmt = sniff_csv(path)
    stream = BatchStream(fmt, ["id", "x", "y"], block_size=block, batch_rows=batch_rows, numeric=["y"], tail=tail)
    with stream:
        ids, positions, base = [], [], 0
        for batch in stream:
            assert batch.num_rows <= (batch_rows if tail is None else max(batch_rows, tail[1]))
            ids += batch.column("id").to_pylist()
            positions += range(base, base + batch.num_rows)
            base += batch.num_rows
        _, located = stream.locate(np.array(positions, dtype=np.int64))
        invalid = sorted(line for _, line, _ in stream.invalid)
    assert list(zip(located.tolist(), ids, strict=True)) == expected
    assert invalid == refused
