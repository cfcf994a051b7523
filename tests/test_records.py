"""What a version was trained on: row hashes, the TrainingRows record and the training profile."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core.errors import DataError, RegistryError
from core.registry.records import (
    PROFILE_QUANTILES,
    TrainingRecordError,
    TrainingRows,
    row_hashes,
    training_profile,
)

FEATURES = ["koi_period", "koi_duration", "koi_depth"]


def koi_like(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "kepoi_name": [f"K{i // 3 + 1:05d}.{i % 3 + 1:02d}" for i in range(n)],
            "koi_period": rng.lognormal(2.0, 1.5, n),
            "koi_duration": rng.gamma(2.0, 2.0, n),
            "koi_depth": rng.lognormal(6.0, 2.0, n),
        }
    )
    frame.loc[rng.random(n) < 0.05, "koi_depth"] = np.nan
    return frame


def parsed_from_csv_text(frame: pd.DataFrame, features) -> pd.DataFrame:
    """The frame written as CSV text and read back the way the prediction engine reads it (Arrow casts)."""
    text = frame.to_csv(index=False)
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    out = {}
    for f in features:
        arr = pa.array(raw[f].tolist(), pa.string())
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
        out[f] = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    return pd.DataFrame(out)


finite_or_nan = st.one_of(
    st.floats(allow_nan=True, allow_infinity=False, width=64),
    st.sampled_from([0.0, -0.0, 1e-310, -1e308, 0.1, 1 / 3]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 30), st.just(3)), elements=finite_or_nan))
def test_hashes_equal_for_floats_and_for_csv_text_parsed_to_float64(values):
    frame = pd.DataFrame(values, columns=FEATURES)
    parsed = parsed_from_csv_text(frame, FEATURES)
    assert row_hashes(frame, FEATURES).dtype == np.uint64
    np.testing.assert_array_equal(row_hashes(frame, FEATURES), row_hashes(parsed, FEATURES))
    as_text = frame.astype(object).map(lambda v: "" if np.isnan(v) else repr(float(v)))
    np.testing.assert_array_equal(row_hashes(frame, FEATURES), row_hashes(as_text, FEATURES))


def test_negative_zero_and_every_nan_hash_alike_and_values_matter():
    odd_nan = np.frombuffer(struct.pack("<Q", 0x7FF8DEADBEEF0001), dtype=np.float64)[0]
    a = pd.DataFrame({"x": [0.0, np.nan, 1.0, 1.0], "y": [1.0, 2.0, 2.0, 3.0]})
    b = pd.DataFrame({"x": [-0.0, odd_nan, 1.0, 1.0], "y": [1, 2, 2, 3]})  # ints read as floats
    np.testing.assert_array_equal(row_hashes(a, ["x", "y"]), row_hashes(b, ["x", "y"]))
    h = row_hashes(a, ["x", "y"])
    assert len(set(h.tolist())) == 4
    # column order is part of the row: (1, 2) and (2, 1) differ
    swapped = pd.DataFrame({"x": [2.0], "y": [1.0]})
    assert row_hashes(swapped, ["x", "y"])[0] != row_hashes(swapped, ["y", "x"])[0]


def test_hashes_are_stable_across_releases():
    """The values stored in registries must never change: pin a few."""
    frame = pd.DataFrame({"a": [0.0, 1.5, np.nan], "b": [-2.0, 1e300, 7.0]})
    pinned = row_hashes(frame, ["a", "b"]).tolist()
    assert pinned == row_hashes(frame.copy(), ["a", "b"]).tolist()
    assert pinned == PINNED_HASHES


PINNED_HASHES = [5182469922070995294, 7039271281685417696, 1366348866597948152]


def test_missing_feature_column_is_one_sentence():
    with pytest.raises(DataError, match=r"^The table has no column 'koi_depth'; .*\.$"):
        row_hashes(pd.DataFrame({"koi_period": [1.0]}), ["koi_period", "koi_depth"])


def test_from_frame_records_ids_and_hashes():
    frame = koi_like(50)
    frame.loc[3, "kepoi_name"] = "  K00002.01  "  # stripped
    frame.loc[4, "kepoi_name"] = None
    rows = TrainingRows.from_frame(frame, FEATURES)
    assert len(rows) == 50
    assert rows.id_column == "kepoi_name"
    assert len(rows.ids) == 49 and list(rows.ids) == sorted(rows.ids)
    assert all(i == i.strip() for i in rows.ids)
    assert list(rows.hashes) == sorted(rows.hashes.tolist())
    assert rows.features == tuple(FEATURES)
    no_ids = TrainingRows.from_frame(frame.drop(columns="kepoi_name"), FEATURES)
    assert no_ids.id_column is None and no_ids.ids == () and len(no_ids) == 50


def test_round_trip_and_size_of_a_5000_row_set():
    rows = TrainingRows.from_frame(koi_like(5000), FEATURES)
    data = rows.to_bytes()
    assert 20_000 < len(data) < 100_000, len(data)  # tens of kB
    back = TrainingRows.from_bytes(data)
    assert back == rows
    assert back.ids == rows.ids and back.features == rows.features and back.id_column == "kepoi_name"
    np.testing.assert_array_equal(back.hashes, rows.hashes)
    empty = TrainingRows.from_frame(koi_like(0), FEATURES)
    assert TrainingRows.from_bytes(empty.to_bytes()) == empty and len(empty) == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"), max_size=12
        ),
        max_size=20,
    ),
    st.lists(st.integers(0, 2**64 - 1), max_size=40),
    st.none() | st.text(max_size=10),
)
def test_round_trip_any_ids_and_hashes(ids, hashes, id_column):
    ids = [i.strip() for i in ids if i.strip()][: len(hashes)] if id_column is not None else []
    rows = TrainingRows(
        id_column=id_column, ids=tuple(ids), hashes=np.array(hashes, dtype=np.uint64), features=("a",)
    )
    assert TrainingRows.from_bytes(rows.to_bytes()) == rows


def test_a_record_with_more_ids_than_rows_is_refused():
    with pytest.raises(DataError, match="at most"):
        TrainingRows(id_column="kepoi_name", ids=("a", "b"), hashes=np.zeros(1, np.uint64), features=("x",))


def _blob_parts(data: bytes):
    magic_end = data.index(b"\n") + 1
    (hlen,) = struct.unpack_from("<I", data, magic_end)
    start = magic_end + 4
    return data[:magic_end], json.loads(data[start : start + hlen]), data[start + hlen :]


def _rebuild(magic: bytes, header: dict, rest: bytes) -> bytes:
    h = json.dumps(header).encode()
    return magic + struct.pack("<I", len(h)) + h + rest


def hostile_blobs():
    good = TrainingRows.from_frame(koi_like(20), FEATURES).to_bytes()
    magic, header, rest = _blob_parts(good)
    yield "empty", b""
    yield "not ours", b"PK\x03\x04" + good
    yield "pickle", b"\x80\x04\x95" + good
    yield "cut short", good[:-5]
    yield "trailing bytes", good + b"x"
    yield "header length past end", magic + struct.pack("<I", 2**31) + b"{}"
    yield "header not json", magic + struct.pack("<I", 3) + b"{{{"
    yield "header a list", _rebuild(magic, [], rest)  # type: ignore[arg-type]
    yield "future format", _rebuild(magic, {**header, "format": 99}, rest)
    yield "huge row count", _rebuild(magic, {**header, "rows": 10**12}, rest)
    yield "negative count", _rebuild(magic, {**header, "ids": -1}, rest)
    yield "bool count", _rebuild(magic, {**header, "rows": True}, rest)
    yield "features not strings", _rebuild(magic, {**header, "features": [1, 2]}, rest)
    yield "more ids than rows", _rebuild(magic, {**header, "ids": 21}, rest)
    n = header["rows"]
    hashes, ids_z = rest[: 8 * n], rest[8 * n :]
    yield "hashes unsorted", _rebuild(magic, header, hashes[8:16] + hashes[:8] + hashes[16:] + ids_z)
    yield "ids not zlib", _rebuild(magic, {**header, "ids_zlib_bytes": 4}, hashes + b"abcd")
    bomb = zlib.compress(b"A" * 5_000_000)
    yield "zlib bomb", _rebuild(magic, {**header, "ids_zlib_bytes": len(bomb)}, hashes + bomb)
    bad_utf8 = zlib.compress(b"\xff\xfe")
    yield (
        "ids not utf-8",
        _rebuild(
            magic, {**header, "ids": 1, "ids_bytes": 2, "ids_zlib_bytes": len(bad_utf8)}, hashes + bad_utf8
        ),
    )
    unsorted = zlib.compress(b"b\na")
    yield (
        "ids unsorted",
        _rebuild(
            magic, {**header, "ids": 2, "ids_bytes": 3, "ids_zlib_bytes": len(unsorted)}, hashes + unsorted
        ),
    )


@pytest.mark.parametrize(
    ("label", "blob"), list(hostile_blobs()), ids=[label for label, _ in hostile_blobs()]
)
def test_hostile_bytes_raise_one_sentence(label, blob):
    with pytest.raises(TrainingRecordError) as info:
        TrainingRows.from_bytes(blob)
    message = str(info.value)
    assert isinstance(info.value, RegistryError)
    assert message.startswith("The record of training rows ") and message.endswith(".")
    assert "\n" not in message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_do_anything_but_raise(blob):
    with pytest.raises(TrainingRecordError):
        TrainingRows.from_bytes(b"EXOREG-TRAINING-ROWS\n" + blob)


def test_held_out_mask_matches_ids_first_then_hashes():
    table = koi_like(300, seed=1)
    trained = table.iloc[:200]
    rows = TrainingRows.from_frame(trained, FEATURES)
    mask = rows.held_out_mask(table)
    assert mask.dtype == bool and mask.tolist() == [False] * 200 + [True] * 100

    later = table.copy()  # a later vintage: values of trained rows changed, ids kept
    later.loc[:199, "koi_period"] *= 1.01
    assert rows.held_out_mask(later).tolist() == [False] * 200 + [True] * 100

    renamed = table.copy()  # a row whose id is new but whose values are a trained row's: held out
    renamed.loc[0, "kepoi_name"] = "K99999.01"
    assert bool(rows.held_out_mask(renamed)[0]) is True

    no_id = table.copy()  # rows without an id value fall back to their values
    no_id.loc[[5, 250], "kepoi_name"] = np.nan
    m = rows.held_out_mask(no_id)
    assert bool(m[5]) is False and bool(m[250]) is True

    by_values = rows.held_out_mask(table.drop(columns="kepoi_name"))
    assert by_values.tolist() == [False] * 200 + [True] * 100
    text = parsed_from_csv_text(table, FEATURES)  # CSV text matches on values too
    assert rows.held_out_mask(text).tolist() == [False] * 200 + [True] * 100


def test_held_out_mask_when_some_recorded_rows_had_no_id():
    table = koi_like(30, seed=2)
    trained = table.iloc[:10].copy()
    trained.loc[0, "kepoi_name"] = None
    rows = TrainingRows.from_frame(trained, FEATURES)
    assert len(rows) == 10 and len(rows.ids) == 9
    assert rows.held_out_mask(table).tolist() == [False] * 10 + [True] * 20


def test_profile_has_every_feature_and_is_small():
    frame = koi_like(5000)
    frame["flag"] = 1.0  # a constant column
    frame["empty"] = np.nan
    feats = FEATURES + ["flag", "empty"]
    profile = training_profile(frame, feats)
    text = json.dumps(profile, allow_nan=False)
    assert len(text) < 8_000
    assert profile["schema"] == 1 and profile["rows"] == 5000
    assert list(profile["features"]) == feats
    depth = profile["features"]["koi_depth"]
    finite = frame["koi_depth"].dropna()
    assert depth["count"] == len(finite)
    assert depth["missing_rate"] == pytest.approx(1 - len(finite) / 5000)
    assert list(depth["quantiles"]) == [str(q) for q in PROFILE_QUANTILES]
    assert depth["quantiles"]["50"] == pytest.approx(finite.median())
    assert depth["min"] == finite.min() and depth["max"] == finite.max()
    hist = depth["histogram"]
    assert len(hist["edges"]) == 21 and len(hist["counts"]) == 20 and sum(hist["counts"]) == len(finite)
    assert hist["edges"][0] == pytest.approx(depth["quantiles"]["1"])
    assert hist["edges"][-1] == pytest.approx(depth["quantiles"]["99"])
    flag = profile["features"]["flag"]
    assert flag["min"] == flag["max"] == 1.0 and sum(flag["histogram"]["counts"]) == 5000
    assert (
        len(flag["histogram"]["edges"]) == 21
        and flag["histogram"]["edges"][0] < 1.0 < flag["histogram"]["edges"][-1]
    )
    empty = profile["features"]["empty"]
    assert empty["count"] == 0 and empty["missing_rate"] == 1.0 and empty["histogram"] is None
