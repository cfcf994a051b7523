"""A clearly labelled synthetic KOI-like sample, for when no real table can be had.

Rows are drawn class by class from the marginal distributions of the real table (21
quantiles per column and class, plus the share of missing values and, for the
false-positive flags, the share of ones), each column independently. It has the shape
and rough statistics of the archive's table and nothing else: models trained on it say
``synthetic`` in their ``training_dataset`` and tags so nobody mistakes them for real ones.

``data/synthetic_stats.json`` beside this module (package data) holds the summary;
``bench/update_synthetic_stats.py`` regenerates it from a real table with :func:`classwise_summary`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.training.koi import DISPOSITIONS, FEATURE_SETS, FLAG_COLUMNS, LABEL_COLUMN

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SYNTHETIC_LABEL = "synthetic KOI-like sample (NOT real data)"
QUANTILES = tuple(i / 20 for i in range(21))
INTEGER_COLUMNS = ("koi_tce_plnt_num",)
SUMMARY_FILE = "data/synthetic_stats.json"


def stored_summary() -> dict[str, Any]:
    """The summary shipped with the package (``data/synthetic_stats.json``)."""
    import json
    from importlib.resources import files

    return json.loads(files(__package__).joinpath(SUMMARY_FILE).read_text(encoding="utf-8"))


def classwise_summary(df: pd.DataFrame) -> dict[str, Any]:
    """Per class and column: quantiles, missing share (and share of ones for the flags)."""
    import numpy as np

    summary: dict[str, Any] = {"quantiles": list(QUANTILES), "classes": {}}
    for label in DISPOSITIONS:
        rows = df[df[LABEL_COLUMN] == label]
        columns: dict[str, Any] = {}
        for col in FEATURE_SETS["vetting"]:
            values = rows[col].astype(float)
            present = values.dropna()
            entry: dict[str, Any] = {"missing": round(float(values.isna().mean()), 4)}
            if col in FLAG_COLUMNS:
                entry["ones"] = round(float((present != 0).mean()) if len(present) else 0.0, 4)
            elif len(present):
                entry["q"] = [float(f"{v:.6g}") for v in np.quantile(present, QUANTILES)]
            columns[col] = entry
        summary["classes"][label] = {"count": int(len(rows)), "columns": columns}
    return summary


def synthetic_koi_frame(n_rows: int = 4000, *, random_state: int = 7,
                        summary: dict[str, Any] | None = None) -> pd.DataFrame:
    """A DataFrame shaped like the archive's KOI table (features, disposition, made-up names)."""
    import numpy as np
    import pandas as pd

    if summary is None:
        summary = stored_summary()
    rng = np.random.default_rng(random_state)
    quantiles = np.asarray(summary["quantiles"])
    classes = summary["classes"]
    total = sum(c["count"] for c in classes.values())
    frames = []
    for label, info in classes.items():
        n = max(20, round(n_rows * info["count"] / total))
        data: dict[str, Any] = {}
        for col, entry in info["columns"].items():
            if "ones" in entry:
                values = (rng.random(n) < entry["ones"]).astype(float)
            elif "q" in entry:
                values = np.interp(rng.random(n), quantiles, np.asarray(entry["q"], dtype=float))
                if col in INTEGER_COLUMNS:
                    values = np.round(values)
            else:
                values = np.full(n, np.nan)
            values[rng.random(n) < entry["missing"]] = np.nan
            data[col] = values
        frame = pd.DataFrame(data)
        frame.insert(0, LABEL_COLUMN, label)
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=random_state).reset_index(drop=True)
    df.insert(0, "kepoi_name", [f"SYN{i:05d}.01" for i in range(len(df))])
    df[LABEL_COLUMN] = df[LABEL_COLUMN].astype(object)
    return df
