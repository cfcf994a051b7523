"""The NASA Kepler Objects of Interest (KOI) table: reading it, and fetching it from the archive.

The NASA Exoplanet Archive exports its cumulative KOI table as a CSV preceded by ``#``
comment lines; those of the form ``# COLUMN koi_period: Orbital Period [days]`` describe
each column. :func:`load_koi` reads such a file (or one without the header, or with the
columns in another order), keeps the column descriptions and units, checks the columns a
task needs and reports data quirks as warnings instead of failing.

:func:`fetch_koi` downloads the same table from the archive's TAP service into the user's
cache folder; :func:`find_koi_table` picks the table to use: an explicit file, then
``EXOREG_KOI_CSV``, then the cached download, then a fresh download (unless
``EXOREG_OFFLINE=1``).

Feature sets: ``physical`` (transit and stellar observables with their uncertainties) and
``vetting`` (the same plus the four ``koi_fpflag_*`` flags). ``koi_score``,
``koi_pdisposition``, the disposition itself and the identifiers are never features: they
come from the vetting that produced the labels, so a model using them would learn the answer.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.common.files import atomic_file, sha256_file
from core.common.koi_columns import LEAKY_COLUMNS as LEAKY_COLUMNS  # re-exported: never features
from core.common.userdirs import cache_dir
from core.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]

LABEL_COLUMN = "koi_disposition"
CONFIRMED = "CONFIRMED"
FALSE_POSITIVE = "FALSE POSITIVE"
CANDIDATE = "CANDIDATE"
DISPOSITIONS = (CONFIRMED, FALSE_POSITIVE, CANDIDATE)

#: The columns that name a KOI rather than describe it, in the order outputs carry them: the KOI's
#: own name, its star's Kepler id, the planet name it got when confirmed (empty for most rows).
IDENTIFIER_COLUMNS = ("kepoi_name", "kepid", "kepler_name")

PHYSICAL_COLUMNS = (
    "koi_period", "koi_time0bk", "koi_impact", "koi_duration", "koi_depth", "koi_prad",
    "koi_teq", "koi_insol", "koi_model_snr", "koi_tce_plnt_num", "koi_steff", "koi_slogg",
    "koi_srad", "ra", "dec", "koi_kepmag",
)
# koi_teq_err1/err2 are empty in every row of the archive's table: left out.
UNCERTAINTY_COLUMNS = tuple(
    f"{name}_err{i}"
    for name in ("koi_period", "koi_time0bk", "koi_impact", "koi_duration", "koi_depth", "koi_prad",
                 "koi_insol", "koi_steff", "koi_slogg", "koi_srad")
    for i in (1, 2)
)
FLAG_COLUMNS = ("koi_fpflag_nt", "koi_fpflag_ss", "koi_fpflag_co", "koi_fpflag_ec")

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "physical": PHYSICAL_COLUMNS + UNCERTAINTY_COLUMNS,
    "vetting": PHYSICAL_COLUMNS + UNCERTAINTY_COLUMNS + FLAG_COLUMNS,
}
DEFAULT_FEATURE_SET = "physical"
FEATURE_SET_DESCRIPTIONS = {
    "physical": "transit and stellar observables with their uncertainties",
    "vetting": ("physical observables plus the four Kepler false-positive flags (koi_fpflag_*), used on purpose: "
                "each is one diagnostic test's outcome, not NASA's verdict (koi_score, koi_pdisposition)"),
}

KOI_URL = "https://exoplanetarchive.ipac.caltech.edu/TAP/sync?query=select+*+from+cumulative&format=csv"
CACHE_FILE_NAME = "koi_cumulative.csv"

#: Descriptions and units of the archive's columns (from the export's own header), used when a
#: file comes without the comment header (the TAP service sends none).
KNOWN_COLUMNS: dict[str, tuple[str, str]] = {
    "kepid": ("KepID", ""),
    "kepoi_name": ("KOI Name", ""),
    "kepler_name": ("Kepler Name", ""),
    "koi_disposition": ("Exoplanet Archive Disposition", ""),
    "koi_pdisposition": ("Disposition Using Kepler Data", ""),
    "koi_score": ("Disposition Score", ""),
    "koi_fpflag_nt": ("Not Transit-Like False Positive Flag", ""),
    "koi_fpflag_ss": ("Stellar Eclipse False Positive Flag", ""),
    "koi_fpflag_co": ("Centroid Offset False Positive Flag", ""),
    "koi_fpflag_ec": ("Ephemeris Match Indicates Contamination False Positive Flag", ""),
    "koi_period": ("Orbital Period", "days"),
    "koi_period_err1": ("Orbital Period Upper Unc.", "days"),
    "koi_period_err2": ("Orbital Period Lower Unc.", "days"),
    "koi_time0bk": ("Transit Epoch", "BKJD"),
    "koi_time0bk_err1": ("Transit Epoch Upper Unc.", "BKJD"),
    "koi_time0bk_err2": ("Transit Epoch Lower Unc.", "BKJD"),
    "koi_impact": ("Impact Parameter", ""),
    "koi_impact_err1": ("Impact Parameter Upper Unc.", ""),
    "koi_impact_err2": ("Impact Parameter Lower Unc.", ""),
    "koi_duration": ("Transit Duration", "hrs"),
    "koi_duration_err1": ("Transit Duration Upper Unc.", "hrs"),
    "koi_duration_err2": ("Transit Duration Lower Unc.", "hrs"),
    "koi_depth": ("Transit Depth", "ppm"),
    "koi_depth_err1": ("Transit Depth Upper Unc.", "ppm"),
    "koi_depth_err2": ("Transit Depth Lower Unc.", "ppm"),
    "koi_prad": ("Planetary Radius", "Earth radii"),
    "koi_prad_err1": ("Planetary Radius Upper Unc.", "Earth radii"),
    "koi_prad_err2": ("Planetary Radius Lower Unc.", "Earth radii"),
    "koi_teq": ("Equilibrium Temperature", "K"),
    "koi_teq_err1": ("Equilibrium Temperature Upper Unc.", "K"),
    "koi_teq_err2": ("Equilibrium Temperature Lower Unc.", "K"),
    "koi_insol": ("Insolation Flux", "Earth flux"),
    "koi_insol_err1": ("Insolation Flux Upper Unc.", "Earth flux"),
    "koi_insol_err2": ("Insolation Flux Lower Unc.", "Earth flux"),
    "koi_model_snr": ("Transit Signal-to-Noise", ""),
    "koi_tce_plnt_num": ("TCE Planet Number", ""),
    "koi_tce_delivname": ("TCE Delivery", ""),
    "koi_steff": ("Stellar Effective Temperature", "K"),
    "koi_steff_err1": ("Stellar Effective Temperature Upper Unc.", "K"),
    "koi_steff_err2": ("Stellar Effective Temperature Lower Unc.", "K"),
    "koi_slogg": ("Stellar Surface Gravity", "log10(cm/s**2)"),
    "koi_slogg_err1": ("Stellar Surface Gravity Upper Unc.", "log10(cm/s**2)"),
    "koi_slogg_err2": ("Stellar Surface Gravity Lower Unc.", "log10(cm/s**2)"),
    "koi_srad": ("Stellar Radius", "Solar radii"),
    "koi_srad_err1": ("Stellar Radius Upper Unc.", "Solar radii"),
    "koi_srad_err2": ("Stellar Radius Lower Unc.", "Solar radii"),
    "ra": ("RA", "decimal degrees"),
    "dec": ("Dec", "decimal degrees"),
    "koi_kepmag": ("Kepler-band", "mag"),
}

_COLUMN_LINE = re.compile(r"^#\s*COLUMN\s+([^\s:]+)\s*:\s*(.*?)\s*$")
_UNIT = re.compile(r"^(.*?)\s*\[(.*)\]$")
_STAMP = re.compile(r"^#\s*((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+\w{3}\s+\d{1,2}\s+[\d:]{8}\s+\d{4})\s*$")
# A row "lacks most physical columns" when at least this many of the physical columns are empty.
_SPARSE_ROW_THRESHOLD = 5


@dataclass(frozen=True)
class ColumnInfo:
    """What the archive says about one column."""

    name: str
    description: str = ""
    unit: str = ""

    @property
    def label(self) -> str:
        """``Orbital Period [days]``: description with unit, for tooltips and axis labels."""
        text = self.description or self.name
        return f"{text} [{self.unit}]" if self.unit else text


def column_info(name: str, columns: dict[str, ColumnInfo] | None = None) -> ColumnInfo:
    """Description and unit of a KOI column: from a file's own header if given, else the built-in table."""
    if columns and name in columns:
        return columns[name]
    description, unit = KNOWN_COLUMNS.get(name, ("", ""))
    return ColumnInfo(name, description, unit)


def feature_columns(feature_set: str = DEFAULT_FEATURE_SET) -> list[str]:
    """The columns of a named feature set (``physical`` or ``vetting``)."""
    try:
        return list(FEATURE_SETS[feature_set])
    except KeyError:
        raise DataError(
            f"Unknown feature set {feature_set!r}; choose one of {', '.join(sorted(FEATURE_SETS))}."
        ) from None


@dataclass
class KoiTable:
    """A KOI table as read from a file, with what its header said and what looked odd."""

    data: pd.DataFrame
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    path: Path | None = None
    sha256: str | None = None
    archive_stamp: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return self.path.name if self.path else ""

    def class_counts(self) -> dict[str, int]:
        counts = self.data[LABEL_COLUMN].value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    def column_info(self, name: str) -> ColumnInfo:
        return column_info(name, self.columns)

    def candidates(self) -> pd.DataFrame:
        """The rows still dispositioned CANDIDATE: what a user wants to predict."""
        return self.data[self.data[LABEL_COLUMN] == CANDIDATE]

    def provenance(self) -> dict[str, Any]:
        """Where the table came from, for a model's ``training_info``."""
        return {
            "data_file": self.file_name,
            "data_sha256": self.sha256,
            "archive_stamp": self.archive_stamp,
            "data_rows": int(len(self.data)),
        }


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def read_header(path: str | os.PathLike) -> tuple[int, dict[str, ColumnInfo], str | None]:
    """Read the leading ``#`` lines: (number of comment lines, column descriptions, archive date stamp)."""
    columns: dict[str, ColumnInfo] = {}
    stamp = None
    count = 0
    with _open_text(Path(path)) as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            count += 1
            text = line.rstrip("\r\n")
            m = _COLUMN_LINE.match(text)
            if m:
                name, rest = m.groups()
                u = _UNIT.match(rest)
                description, unit = (u.group(1), u.group(2)) if u else (rest, "")
                columns[name] = ColumnInfo(name, description, unit)
                continue
            s = _STAMP.match(text)
            if s and stamp is None:
                stamp = s.group(1)
    return count, columns, stamp


def load_koi(
    path: str | os.PathLike,
    *,
    feature_set: str | None = None,
    required: Iterable[str] = (),
) -> KoiTable:
    """Read a KOI table exported by the NASA Exoplanet Archive (with or without its comment header).

    Checks that the disposition column and the columns of ``feature_set`` (and any in
    ``required``) are present, raising :class:`DataError` naming the missing ones.
    Odd data (flags outside 0/1, empty columns, sparse rows, text in numeric columns,
    unknown dispositions) is reported in :attr:`KoiTable.warnings` and logged, not raised.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"The KOI table {path} does not exist; pass the path of a CSV exported from the "
                        "NASA Exoplanet Archive.")
    try:
        skip, columns, stamp = read_header(path)
        df = pd.read_csv(path, skiprows=skip, low_memory=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{path.name} could not be read as a CSV table ({exc}); pass a KOI table exported "
                        "from the NASA Exoplanet Archive.") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if df.columns.duplicated().any():
        dupes = sorted(set(df.columns[df.columns.duplicated()]))
        raise DataError(f"{path.name} has duplicate columns ({', '.join(dupes)}); keep one of each.")

    needed = [LABEL_COLUMN]
    if feature_set is not None:
        needed += feature_columns(feature_set)
    needed += [c for c in required if c not in needed]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise DataError(f"{path.name} lacks the column(s) {shown}; use the archive's cumulative KOI table "
                        "(all columns).")
    table = KoiTable(data=df, columns=columns, path=path, sha256=sha256_file(path), archive_stamp=stamp)
    table.warnings = clean_koi_frame(df, name=path.name)
    for message in table.warnings:
        log.info("%s", message)
    return table


def clean_koi_frame(df: pd.DataFrame, *, name: str = "the table") -> list[str]:
    """Normalise a KOI frame in place (labels stripped and upper-cased, numeric columns coerced).

    Returns the data quirks found, one sentence each.
    """
    import pandas as pd

    notes: list[str] = []
    labels = df[LABEL_COLUMN].astype("string").str.strip().str.upper()
    df[LABEL_COLUMN] = labels.astype(object).where(labels.notna(), None)
    unknown = df[LABEL_COLUMN].notna() & ~df[LABEL_COLUMN].isin(DISPOSITIONS)
    if unknown.any():
        values = sorted(map(str, df.loc[unknown, LABEL_COLUMN].unique()))[:5]
        notes.append(f"{name}: {int(unknown.sum())} row(s) have an unknown disposition ({', '.join(values)}); "
                     "they are ignored for training.")
    empty_label = int(df[LABEL_COLUMN].isna().sum())
    if empty_label:
        notes.append(f"{name}: {empty_label} row(s) have no disposition; they are ignored for training.")

    numeric = [c for c in FEATURE_SETS["vetting"] + ("koi_score", "koi_teq_err1", "koi_teq_err2")
               if c in df.columns]
    for col in numeric:
        if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
            continue
        coerced = pd.to_numeric(df[col], errors="coerce")
        bad = int((coerced.isna() & df[col].notna() & (df[col].astype("string").str.strip() != "")).sum())
        if bad:
            notes.append(f"{name}: column {col} has {bad} value(s) that are not numbers; they are treated as "
                         "missing.")
        df[col] = coerced.astype(float)

    for col in numeric:
        if len(df) and df[col].isna().all():
            notes.append(f"{name}: column {col} is empty in every row.")
    for col in FLAG_COLUMNS:
        if col in df.columns:
            odd = df[col].notna() & ~df[col].isin((0, 1))
            if odd.any():
                rows = df.loc[odd]
                ids = rows["kepoi_name"].astype(str).tolist() if "kepoi_name" in df.columns else []
                example = f"{ids[0]} has {col} = {rows[col].iloc[0]:g}" if ids else f"value {rows[col].iloc[0]:g}"
                notes.append(f"{name}: {int(odd.sum())} row(s) have {col} outside 0/1 ({example}); kept as is.")
    physical = [c for c in PHYSICAL_COLUMNS if c in df.columns]
    if physical:
        sparse = int((df[physical].isna().sum(axis=1) >= _SPARSE_ROW_THRESHOLD).sum())
        if sparse:
            notes.append(f"{name}: {sparse} row(s) lack most physical columns; models impute them.")
    if "kepoi_name" in df.columns:
        dupes = int(df["kepoi_name"].duplicated().sum())
        if dupes:
            notes.append(f"{name}: {dupes} duplicate kepoi_name value(s).")
    return notes


# --------------------------------------------------------------------------------------------
# Fetching from the archive


def cached_koi_path() -> Path:
    return cache_dir() / CACHE_FILE_NAME


def offline() -> bool:
    return os.environ.get("EXOREG_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def fetch_koi(
    url: str | None = None,
    dest: str | os.PathLike | None = None,
    *,
    timeout: float = 60.0,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> Path:
    """Download the cumulative KOI table (``EXOREG_KOI_URL`` or the archive's TAP service) to ``dest``.

    ``dest`` defaults to the user's cache folder. The file is written to a temporary name,
    checked to be a KOI table and only then moved into place, so a broken download never
    replaces a good copy. ``timeout`` bounds each network wait. ``EXOREG_OFFLINE=1`` forbids it.
    """
    import urllib.error
    import urllib.request

    if offline():
        raise DataError("Downloading the KOI table is switched off (EXOREG_OFFLINE=1); pass a local copy with "
                        "--data PATH or set EXOREG_KOI_CSV.")
    url = url or os.environ.get("EXOREG_KOI_URL") or KOI_URL
    dest = Path(dest) if dest else cached_koi_path()
    try:
        with atomic_file(dest) as tmp:
            request = urllib.request.Request(url, headers={"User-Agent": "exoreg"})
            with tmp.open("wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                last = 0.0
                while True:
                    if cancelled and cancelled():
                        raise DataError("The KOI download was cancelled; run it again to fetch the table.")
                    block = response.read(1 << 16)
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    now = time.monotonic()
                    if progress and now - last > 0.1:
                        progress(done, total)
                        last = now
            if progress:
                progress(done, total or done)
            load_koi(tmp)  # refuses anything that is not a KOI table
    except DataError as exc:
        if "cancelled" in str(exc):
            raise
        raise DataError(f"The file downloaded from {url} is not a KOI table; check EXOREG_KOI_URL or pass a "
                        "local copy with --data PATH.") from exc
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"Could not download the KOI table from {url} ({reason}); check the connection or pass a "
                        "local copy with --data PATH.") from exc
    return dest


@dataclass
class KoiSource:
    """Which KOI table to use and how it was found."""

    path: Path
    origin: str  # "argument", "EXOREG_KOI_CSV", "cache", "download"


def find_koi_table(
    data: str | os.PathLike | None = None,
    *,
    allow_download: bool = True,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> KoiSource:
    """Find a KOI table: ``data``, else ``EXOREG_KOI_CSV``, else the cached copy, else a download.

    Raises :class:`DataError` saying how to pass a local file when none can be had.
    """
    if data:
        path = Path(data)
        if not path.is_file():
            raise DataError(f"The KOI table {path} does not exist; check the path given with --data.")
        return KoiSource(path, "argument")
    env = os.environ.get("EXOREG_KOI_CSV")
    if env:
        path = Path(env)
        if not path.is_file():
            raise DataError(f"EXOREG_KOI_CSV points at {path}, which does not exist; fix or unset it.")
        return KoiSource(path, "EXOREG_KOI_CSV")
    cached = cached_koi_path()
    if cached.is_file():
        return KoiSource(cached, "cache")
    if not allow_download:
        raise DataError("No KOI table is available locally; pass one with --data PATH or set EXOREG_KOI_CSV.")
    return KoiSource(fetch_koi(progress=progress, cancelled=cancelled), "download")
