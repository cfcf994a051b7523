"""Batch prediction throughput: the naive pandas way against the streaming engine.

Makes a ~1,000,000-row KOI CSV in a temporary folder (the shared table repeated, ~320 MB),
trains a 300-tree RandomForest pipeline (SimpleImputer + RandomForestClassifier) on the
shared table, then times in fresh child processes, one after the other:

  (a) naive: pd.read_csv of the whole file, predict_proba, to_csv;
  (b) core.prediction.predict_csv (streaming, two worker threads);
  (c) the same engine on half the rows, to show that memory does not grow with the file.

Prints wall time, rows/s, peak resident memory (ru_maxrss of the child) and CPU seconds
(user + system, all threads) of each. The machine's load average is printed too: on a
shared machine the wall times depend on what else runs.

    PYTHONPATH=. EXOREG_KOI_CSV=../shared/data/koi_cumulative_2025-09-18.csv python bench/predict_throughput.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEATURES = [
    "koi_period", "koi_duration", "koi_depth", "koi_prad", "koi_teq", "koi_insol", "koi_model_snr",
    "koi_steff", "koi_slogg", "koi_srad", "koi_impact", "koi_kepmag",
    "koi_period_err1", "koi_duration_err1", "koi_depth_err1", "koi_prad_err1",
]  # fmt: skip


def make_big_csv(source: Path, target: Path, rows: int) -> int:
    """The shared table's comment header and column names once, then its data rows repeated."""
    lines = source.read_bytes().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if not line.startswith(b"#"))
    head, body = b"".join(lines[: first + 1]), lines[first + 1 :]
    block = b"".join(body)
    written = 0
    with open(target, "wb") as fh:
        fh.write(head)
        while written + len(body) <= rows:
            fh.write(block)
            written += len(body)
        rest = rows - written
        fh.write(b"".join(body[:rest]))
        written += rest
    return written


def train(source: Path, model_path: Path) -> None:
    import joblib
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    df = pd.read_csv(source, comment="#")
    df = df[df["koi_disposition"] != "CANDIDATE"]
    model = make_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=300, random_state=0))
    model.fit(df[FEATURES], df["koi_disposition"])
    joblib.dump(model, model_path)


def run_naive(model_path: str, data: str, out: str) -> None:
    import joblib
    import pandas as pd

    model = joblib.load(model_path)
    t0 = time.perf_counter()
    df = pd.read_csv(data, comment="#")
    proba = model.predict_proba(df[FEATURES])
    result = df[["kepoi_name", "kepid"]].copy()
    result["predicted_label"] = model.classes_[proba.argmax(axis=1)]
    for j, label in enumerate(model.classes_):
        result[f"probability_{label}"] = proba[:, j]
    result.to_csv(out, index=False)
    report(time.perf_counter() - t0, len(df))


def run_engine(model_path: str, data: str, out: str) -> None:
    from types import SimpleNamespace

    import joblib

    from core.prediction.engine import predict_csv

    model = joblib.load(model_path)
    meta = SimpleNamespace(model_id="bench_rf300", feature_columns=FEATURES, classes=[])
    t0 = time.perf_counter()
    summary = predict_csv((model, meta), data, out)
    report(time.perf_counter() - t0, summary.rows_read)


def report(seconds: float, rows: int) -> None:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime  # includes loading the model (a fraction of a second)
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": usage.ru_maxrss / 1024, "cpu": cpu}))


def child(mode: str, model_path: Path, data: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(model_path), str(data), str(out)],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=4, metavar=("MODE", "MODEL", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, model_path, data, out = args.child
        (run_naive if mode == "naive" else run_engine)(model_path, data, out)
        return

    source = Path(os.environ.get("EXOREG_KOI_CSV", "../shared/data/koi_cumulative_2025-09-18.csv"))
    with tempfile.TemporaryDirectory(prefix="exoreg-bench-") as tmp:
        tmp = Path(tmp)
        big, half = tmp / "koi_big.csv", tmp / "koi_half.csv"
        rows = make_big_csv(source, big, args.rows)
        half_rows = make_big_csv(source, half, args.rows // 2)
        model_path = tmp / "rf300.joblib"
        train(source, model_path)
        print(
            f"input: {rows:,} rows, {big.stat().st_size / 1e6:.0f} MB; model: SimpleImputer + 300-tree RandomForest"
        )
        print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
        results = {}
        for label, mode, data, n in (
            ("(a) naive read_csv + predict_proba + to_csv", "naive", big, rows),
            ("(b) streaming predict_csv", "engine", big, rows),
            ("(c) streaming predict_csv, half the rows", "engine", half, half_rows),
        ):
            res = child(mode, model_path, data, tmp / f"out_{mode}.csv")
            assert res["rows"] == n, (res, n)
            results[label] = res
            print(
                f"{label:<46} {res['seconds']:7.2f} s  {res['rows'] / res['seconds']:>9,.0f} rows/s  "
                f"peak {res['peak_mb']:6.0f} MB  CPU {res['cpu']:6.1f} s"
            )
        a = results["(a) naive read_csv + predict_proba + to_csv"]
        b = results["(b) streaming predict_csv"]
        print(f"streaming / naive wall time: {b['seconds'] / a['seconds']:.2f} (target <= 0.80)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        print(f"naive / streaming CPU seconds: {a['cpu'] / b['cpu']:.2f}")


if __name__ == "__main__":
    main()
