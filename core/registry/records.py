"""What a version was trained on: the rows it saw and a profile of their values.

Two records travel beside a version (never inside its metadata JSON, which stays small):

* :class:`TrainingRows` — which rows the version was trained **and validated** on: the row
  identifiers (``kepoi_name``) where the table has them, and a sorted 64-bit hash of every row's
  feature values (:func:`row_hashes`) as the fallback for rows without one. Scoring uses
  :meth:`TrainingRows.held_out_mask` to leave those rows out. :meth:`TrainingRows.to_bytes` is a
  compact format that holds only numbers and text: a 5,000-row KOI training set is about 60 kB.
* :func:`training_profile` — per feature: count, missing rate, quantiles, range and a 20-bin
  histogram (a few kilobytes of JSON), the reference for drift checks on files dropped in later.

Only numpy and pandas are used here; nothing in this module imports training code.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import DataError, RegistryError

__all__ = [
    "HISTOGRAM_BINS",
    "PROFILE_QUANTILES",
    "PROFILE_SCHEMA",
    "MAX_RECORD_BYTES",
    "MAX_ROWS",
    "TrainingRows",
    "TrainingRecordError",
    "row_hashes",
    "training_profile",
]


class TrainingRecordError(RegistryError, ValueError):
    """A stored record of training rows is damaged, hostile or past a size limit."""


# --------------------------------------------------------------------------------------------
# Row hashes
# --------------------------------------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_CANONICAL_NAN = np.array([np.nan], dtype=np.float64).view(np.uint64)[0]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on a uint64 array (wrapping arithmetic)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def _column_float64(values: Any, name: str) -> np.ndarray:
    """One feature column as float64: numbers as they are, text parsed (NaN where it is no number)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"Column {name!r} is not one-dimensional; pass a table with one value per row.")
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64, copy=False)
    import pandas as pd

    return pd.to_numeric(pd.Series(arr, dtype=object).map(_strip), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _columns(frame: Any, features: Sequence[str]) -> list[np.ndarray]:
    missing = [f for f in features if f not in frame]
    if missing:
        shown = ", ".join(repr(f) for f in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            f"The table has no column {shown}; give it every feature column the version was trained on."
        )
    return [_column_float64(frame[f], f) for f in features]


def row_hashes(frame: Any, features: Sequence[str]) -> np.ndarray:
    """A 64-bit hash (``uint64``) of each row's values in ``features``, in that order.

    ``frame`` is a DataFrame (or any mapping of column name to a 1-D array). Values are read as
    float64 first, so a row hashes the same whether it came from a float DataFrame or from CSV
    text parsed to float64; ``-0.0`` hashes as ``0.0`` and every NaN (and every missing or
    non-numeric cell) as the same NaN. The hash is splitmix64 over the IEEE-754 bits, combined
    column by column: defined here, so it does not change with a numpy or pandas release.
    Vectorised: one numpy pass per column, no Python loop per row.
    """
    features = list(features)
    columns = _columns(frame, features)
    n = len(columns[0]) if columns else len(frame)
    with np.errstate(over="ignore"):
        h = np.full(n, _mix(np.array([len(features)], dtype=np.uint64))[0], dtype=np.uint64)
        for j, col in enumerate(columns):
            if len(col) != n:
                raise DataError("The feature columns differ in length; pass a table with one value per row.")
            col = col + 0.0  # -0.0 becomes 0.0
            bits = col.view(np.uint64).copy()
            bits[np.isnan(col)] = _CANONICAL_NAN
            salt = np.uint64(j + 1) * _GOLDEN
            h = _mix(h * _GOLDEN + _mix(bits ^ salt))
    return h


# --------------------------------------------------------------------------------------------
# Training rows
# --------------------------------------------------------------------------------------------

MAX_ROWS = 20_000_000  # rows one record may hold (160 MB of hashes)
MAX_ID_BYTES = 256  # bytes of one row identifier
MAX_FEATURES = 10_000
MAX_HEADER_BYTES = 1 << 20
MAX_RECORD_BYTES = 512 << 20  # the whole record, and the ids once decompressed

_MAGIC = b"EXOREG-TRAINING-ROWS\n"
_FORMAT = 1
_LEN = struct.Struct("<I")


def _clean_ids(values: Iterable[Any]) -> list[str]:
    """Identifiers as stripped text, without the missing and empty ones."""
    import pandas as pd

    out: list[str] = []
    for v in values:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            continue
        text = str(v).strip()
        if text:
            out.append(text)
    return out


def _id_array(frame: Any, id_column: str) -> np.ndarray:
    """The frame's identifiers, stripped, as an object array with None where a row has none."""
    import pandas as pd

    values = np.asarray(frame[id_column], dtype=object)
    present = pd.notna(values)
    out = np.full(values.shape, None, dtype=object)
    out[present] = [str(v).strip() or None for v in values[present]]
    return out


def _records_error(what: str) -> TrainingRecordError:
    return TrainingRecordError(
        f"The record of training rows {what}; it is damaged or was not written by ExoReg, so re-register "
        "the version or import it again without that record."
    )


@dataclass(frozen=True)
class TrainingRows:
    """The rows a version was trained and validated on (see the module's docstring).

    ``ids`` are sorted, stripped identifiers (empty when the table had no ``id_column``);
    ``hashes`` are the sorted :func:`row_hashes` of every recorded row over ``features``, so
    ``len()`` is the number of rows recorded.
    """

    id_column: str | None
    ids: tuple[str, ...]
    hashes: np.ndarray = field(repr=False)
    features: tuple[str, ...]

    def __post_init__(self) -> None:
        hashes = np.sort(np.asarray(self.hashes, dtype=np.uint64))
        hashes.setflags(write=False)
        object.__setattr__(self, "hashes", hashes)
        object.__setattr__(self, "ids", tuple(sorted(str(i).strip() for i in self.ids)))
        object.__setattr__(self, "features", tuple(str(f) for f in self.features))
        if len(self.ids) > hashes.size or (self.ids and self.id_column is None):
            raise DataError(
                "A record of training rows holds an identifier for each recorded row at most, and only "
                "with its id column named; build it with TrainingRows.from_frame."
            )

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls, frame: Any, features: Sequence[str], id_column: str | None = "kepoi_name"
    ) -> TrainingRows:
        """The record of every row of ``frame``: its ids (when ``id_column`` is a column) and hashes."""
        features = tuple(features)
        hashes = row_hashes(frame, features)
        if id_column is not None and id_column in frame:
            ids = tuple(_clean_ids(np.asarray(frame[id_column], dtype=object)))
        else:
            id_column, ids = None, ()
        if len(hashes) > MAX_ROWS:
            raise DataError(f"The table has {len(hashes):,} rows, over the {MAX_ROWS:,} a record can hold.")
        return cls(id_column=id_column, ids=ids, hashes=hashes, features=features)

    def __len__(self) -> int:
        return int(self.hashes.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrainingRows):
            return NotImplemented
        return (
            self.id_column == other.id_column
            and self.ids == other.ids
            and self.features == other.features
            and np.array_equal(self.hashes, other.hashes)
        )

    __hash__ = None  # type: ignore[assignment]  # holds an array

    # -- matching ---------------------------------------------------------------------------

    def held_out_mask(self, frame: Any) -> np.ndarray:
        """True for each row of ``frame`` this version was NOT trained or validated on.

        When this record and ``frame`` both have the id column, a row with an id is matched on it:
        a recorded id means trained, whatever the values (feature values change between vintages
        of the table). A row without an id, or any row when either side has no ids, is matched on
        the hash of its values over :attr:`features`. If some recorded rows had no id, a row whose
        id is not recorded but whose values hash like a recorded row counts as trained too (it may
        be one of those).
        """
        n = len(frame)
        trained = np.zeros(n, dtype=bool)
        need_hash = np.ones(n, dtype=bool)
        if self.id_column is not None and self.ids and self.id_column in frame:
            ids = _id_array(frame, self.id_column)
            has_id = np.array([v is not None for v in ids], dtype=bool)
            if has_id.any():
                known = np.asarray(self.ids, dtype=object)
                trained[has_id] = np.isin(ids[has_id].astype(str), known.astype(str))
            need_hash = ~has_id
            if len(self.ids) < len(self):  # some recorded rows had no id
                need_hash |= has_id & ~trained
        if need_hash.any() and self.hashes.size:
            columns = _columns(frame, self.features)
            h = row_hashes(
                {f: c[need_hash] for f, c in zip(self.features, columns, strict=True)}, self.features
            )
            pos = np.searchsorted(self.hashes, h)
            pos[pos == self.hashes.size] = 0
            trained[need_hash] |= self.hashes[pos] == h
        return ~trained

    # -- bytes ------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The record as bytes: magic line, a length-prefixed JSON header, the hashes, the ids.

        The hashes are raw little-endian uint64; the ids are newline-joined UTF-8 compressed with
        zlib (identifiers hold no line breaks: they are refused here). Nothing in it is code.
        """
        from core.common import jsonio

        for i in self.ids:
            if "\n" in i or "\r" in i or len(i.encode("utf-8")) > MAX_ID_BYTES:
                raise DataError(
                    f"The row identifier {i[:40]!r} holds a line break or is over {MAX_ID_BYTES} bytes; "
                    "use identifiers of one short line."
                )
        ids_raw = "\n".join(self.ids).encode("utf-8")
        ids_z = zlib.compress(ids_raw, 9)
        header = jsonio.dumps(
            {
                "format": _FORMAT,
                "id_column": self.id_column,
                "features": list(self.features),
                "rows": len(self),
                "ids": len(self.ids),
                "ids_bytes": len(ids_raw),
                "ids_zlib_bytes": len(ids_z),
            }
        )
        return b"".join(
            [_MAGIC, _LEN.pack(len(header)), header, self.hashes.astype("<u8", copy=False).tobytes(), ids_z]
        )

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> TrainingRows:
        """Read :meth:`to_bytes` back; a damaged, hostile or oversized blob raises :class:`TrainingRecordError`."""
        from core.common import jsonio

        data = bytes(data)
        if len(data) > MAX_RECORD_BYTES:
            raise _records_error(f"is {len(data):,} bytes, over the {MAX_RECORD_BYTES:,}-byte limit")
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _LEN.size:
            raise _records_error("does not start as one")
        pos = len(_MAGIC)
        (hlen,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        if hlen > MAX_HEADER_BYTES or pos + hlen > len(data):
            raise _records_error("has a header past its end or over its size limit")
        try:
            header = jsonio.loads(data[pos : pos + hlen], max_bytes=MAX_HEADER_BYTES)
        except ValueError:
            raise _records_error("has a header that is not JSON") from None
        pos += hlen
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise _records_error("is of a format this release does not read")
        id_column, features = header.get("id_column"), header.get("features")
        counts = [header.get(k) for k in ("rows", "ids", "ids_bytes", "ids_zlib_bytes")]
        if (
            not (id_column is None or (isinstance(id_column, str) and len(id_column) <= 1000))
            or not isinstance(features, list)
            or len(features) > MAX_FEATURES
            or not all(isinstance(f, str) and len(f) <= 1000 for f in features)
            or not all(type(c) is int and c >= 0 for c in counts)
        ):
            raise _records_error("has a header with a missing or wrong field")
        rows, n_ids, ids_bytes, ids_zlib = counts
        if (
            rows > MAX_ROWS
            or n_ids > rows
            or ids_bytes > MAX_RECORD_BYTES
            or ids_bytes > n_ids * (MAX_ID_BYTES + 1)
        ):
            raise _records_error("declares more rows or identifiers than it may hold")
        if pos + 8 * rows + ids_zlib != len(data):
            raise _records_error("is cut short or has bytes past its end")
        hashes = np.frombuffer(data, dtype="<u8", count=rows, offset=pos).astype(np.uint64)
        pos += 8 * rows
        if rows > 1 and bool(np.any(hashes[1:] < hashes[:-1])):
            raise _records_error("holds hashes out of order")
        try:
            inflater = zlib.decompressobj()
            ids_raw = inflater.decompress(data[pos:], ids_bytes + 1)
            if (
                len(ids_raw) != ids_bytes
                or not inflater.eof
                or inflater.unconsumed_tail
                or inflater.unused_data
            ):
                raise ValueError
            text = ids_raw.decode("utf-8")
        except (zlib.error, ValueError):
            raise _records_error("holds identifiers that do not unpack") from None
        ids = tuple(text.split("\n")) if n_ids else ()
        if len(ids) != n_ids or (n_ids and (not all(ids) or list(ids) != sorted(ids))):
            raise _records_error("holds identifiers that do not match its header")
        return cls(id_column=id_column, ids=ids, hashes=hashes, features=tuple(features))


# --------------------------------------------------------------------------------------------
# Training profile
# --------------------------------------------------------------------------------------------

PROFILE_SCHEMA = 1
PROFILE_QUANTILES = (1, 5, 25, 50, 75, 95, 99)
HISTOGRAM_BINS = 20
HISTOGRAM_RULE = (
    "20 equal-width bins between the 1 % and 99 % quantiles; values below the first edge count in the "
    "first bin and values above the last edge in the last (open ends); a column whose 1 % and 99 % "
    "quantiles are equal gets bins of width 0.05 centred on that value"
)


def _histogram(values: np.ndarray, lo: float, hi: float) -> dict[str, list]:
    if not hi > lo:
        lo, hi = lo - 0.5, lo + 0.5
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
    idx = np.searchsorted(edges, values, side="right") - 1
    idx = np.clip(idx, 0, HISTOGRAM_BINS - 1)
    counts = np.bincount(idx, minlength=HISTOGRAM_BINS)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def training_profile(frame: Any, features: Sequence[str]) -> dict[str, Any]:
    """A compact, JSON-able profile of ``frame``'s ``features`` (a few kB for 36 features).

    ``{"schema": 1, "rows": N, "histogram_rule": ..., "features": {name: {...}}}`` where each
    feature has ``count`` (finite values), ``missing_rate`` (missing, non-numeric or infinite
    cells over ``rows``), ``quantiles`` (keys ``"1" "5" "25" "50" "75" "95" "99"``, linear
    interpolation), ``min``, ``max`` and ``histogram`` ``{"edges": 21 floats, "counts": 20 ints}``
    (see :data:`HISTOGRAM_RULE`). A column with no finite value has ``count`` 0 and ``None`` for
    the quantiles, range and histogram.
    """
    features = list(features)
    columns = _columns(frame, features)
    rows = len(columns[0]) if columns else len(frame)
    out: dict[str, Any] = {}
    for name, col in zip(features, columns, strict=True):
        finite = col[np.isfinite(col)]
        entry: dict[str, Any] = {
            "count": int(finite.size),
            "missing_rate": float(1.0 - finite.size / rows) if rows else 0.0,
        }
        if finite.size:
            qs = np.quantile(finite, [q / 100 for q in PROFILE_QUANTILES])
            entry["quantiles"] = {str(q): float(v) for q, v in zip(PROFILE_QUANTILES, qs, strict=True)}
            entry["min"] = float(finite.min())
            entry["max"] = float(finite.max())
            entry["histogram"] = _histogram(finite, float(qs[0]), float(qs[-1]))
        else:
            entry.update(quantiles=None, min=None, max=None, histogram=None)
        out[name] = entry
    return {"schema": PROFILE_SCHEMA, "rows": int(rows), "histogram_rule": HISTOGRAM_RULE, "features": out}


def profile_features(profile: Mapping[str, Any]) -> list[str]:
    """The feature names a :func:`training_profile` covers."""
    return list((profile.get("features") or {}).keys())
