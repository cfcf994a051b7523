"""Batch prediction throughput: ``exoreg predict`` against the model's own floor and the naive way.

Builds KOI CSVs of 1,000,000 and 500,000 rows in a temporary folder (the shared table's rows
repeated), trains on the shared table and registers in a temporary registry:

- a SimpleImputer + 300-tree RandomForest pipeline, once with ``n_jobs=None`` and once with
  ``n_jobs=-1`` (as many users train it);
- a SimpleImputer + StandardScaler + MLP network, and the same with an SVC (probability=True).

Then, each in its own fresh process and one after the other, ``--repeat`` times:

- **floor**: the rows already in memory as a float64 array (not timed), the model set to use
  every core (a forest's ``n_jobs=-1``), one ``predict_proba`` call: what the model costs;
- **engine**: the whole ``exoreg predict REF IN -o OUT`` process, start-up included;
- **naive**: a whole process that loads the model from the registry, ``pd.read_csv``,
  ``predict_proba``, ``to_csv``;
- **bound**: what no streaming engine can beat with this model: the engine's own time before its
  first row (process start, imports, the model's verified load) plus the model alone on the rows
  in memory, called batch by batch on one thread per core exactly as the engine calls it
  (``n_jobs=1``, single-threaded BLAS). Parsing and writing cost nothing in it.

Prints wall seconds (min and max over the repeats), CPU seconds (user + system, every thread)
and peak resident memory of each process, the engine's start-up and model-load times, and the
ratios engine/floor, engine/naive and bound/floor (of the fastest runs). The load average is printed too:
on a shared machine wall times depend on what else runs.

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
ROOT = Path(__file__).resolve().parents[1]


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


def train_and_register(source: Path, registry_path: Path) -> dict[str, str]:
    """Register the benchmark's models; returns label -> model id."""
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from core.registry.registry import ModelRegistry

    df = pd.read_csv(source, comment="#")
    df = df[df["koi_disposition"] != "CANDIDATE"]
    X, y = df[FEATURES], df["koi_disposition"]
    registry = ModelRegistry(str(registry_path))
    models = {
        "forest n_jobs=None": make_pipeline(
            SimpleImputer(), RandomForestClassifier(n_estimators=300, random_state=0)
        ),
        "forest n_jobs=-1": make_pipeline(
            SimpleImputer(), RandomForestClassifier(n_estimators=300, random_state=0, n_jobs=-1)
        ),
        "network": make_pipeline(
            SimpleImputer(), StandardScaler(), MLPClassifier((64, 32), max_iter=300, random_state=0)
        ),
        "svm": make_pipeline(SimpleImputer(), StandardScaler(), SVC(probability=True, random_state=0)),
    }
    ids = {}
    for label, model in models.items():
        model.fit(X, y)
        name = label.split()[0].capitalize()
        algorithm = {"Forest": "RandomForest", "Network": "NeuralNetwork", "Svm": "SVM"}[name]
        metrics = {"accuracy": 0.0, "precision": 0.0, "recall": 0.0, "f1_score": 0.0}
        ids[label] = registry.register_model(
            model, f"Bench{name}", algorithm, metrics, feature_columns=FEATURES, training_frame=X
        )  # the training profile: predictions are checked for drift as they stream
    return ids


# -- the child processes --------------------------------------------------------------------------


def _cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _features_in_memory(fmt):
    """The feature columns of the sniffed file ``fmt`` as one float64 array (row-major, as the
    engine builds it)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        str(fmt.path),
        read_options=pacsv.ReadOptions(skip_rows=fmt.comment_lines),
        convert_options=pacsv.ConvertOptions(
            include_columns=FEATURES, column_types=dict.fromkeys(FEATURES, pa.float64())
        ),
    )
    return np.column_stack([table.column(c).to_numpy() for c in FEATURES])


def child_floor(registry: str, model_id: str, data: str) -> None:
    """Time one in-memory predict_proba of every row, the model using every core."""
    import pandas as pd

    from core.prediction.csv_input import sniff_csv
    from core.registry.registry import ModelRegistry
    from core.registry.safety import iter_objects

    model, _ = ModelRegistry(registry).load_model(model_id=model_id)
    for obj in iter_objects(model):
        if hasattr(obj, "get_params") and hasattr(obj, "n_jobs"):
            obj.n_jobs = -1
    X = pd.DataFrame(_features_in_memory(sniff_csv(data)), columns=FEATURES)  # the pipelines were fitted on one
    c0, t0 = _cpu(), time.perf_counter()
    model.predict_proba(X)
    print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "rows": len(X)}))


def child_batched(registry: str, model_id: str, data: str) -> None:
    """Time the model alone as the engine runs it: the rows in memory, batch by batch, one
    thread per core, each call at ``n_jobs=1`` with single-threaded BLAS."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from core.prediction import stream
    from core.prediction.csv_input import sniff_csv
    from core.registry.registry import ModelRegistry

    registry_ = ModelRegistry(registry)
    ctx = stream.load(registry_.resolve(model_id), None, registry_)
    fmt = sniff_csv(data)
    X = _features_in_memory(fmt)
    workers = stream.worker_count(None)
    rows = stream._batch_rows(fmt, workers, None)  # the engine's batches, its shorter last ones too
    small_from, small = stream._tail(fmt, workers, rows) or (len(X), rows)
    starts = [*range(0, min(small_from, len(X)), rows), *range(small_from, len(X), small)]
    batches = [X[a:b] for a, b in zip(starts, [*starts[1:], len(X)], strict=True)]
    with stream.single_threaded(ctx.model), threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
        c0, t0 = _cpu(), time.perf_counter()
        for _ in pool.map(lambda batch: stream._call_model(ctx, batch), batches):
            pass
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "cpu": _cpu() - c0, "rows": len(X), "threads": workers}))


def child_naive(registry: str, model_id: str, data: str, out: str) -> None:
    """The whole naive way: load, read_csv, predict_proba, to_csv."""
    import pandas as pd

    from core.registry.registry import ModelRegistry

    model, _ = ModelRegistry(registry).load_model(model_id=model_id)
    df = pd.read_csv(data, comment="#")
    proba = model.predict_proba(df[FEATURES])
    result = df[["kepoi_name", "kepid"]].copy()
    result["predicted_label"] = model.classes_[proba.argmax(axis=1)]
    for j, label in enumerate(model.classes_):
        result[f"probability_{label}"] = proba[:, j]
    result.to_csv(out, index=False)
    print(json.dumps({"rows": len(df)}))


def _measure(cmd: list[str]) -> dict:
    """Run ``cmd``: its last stdout line as JSON, with wall time and the process's own CPU seconds
    and peak memory (from wait4)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:5])}... failed:\n{err.decode(errors='replace')}")
    text = out.decode().strip()
    try:
        result = json.loads(text)  # exoreg --json prints one (indented) document
    except ValueError:
        result = json.loads(text.splitlines()[-1])
    result.update(wall=wall, process_cpu=usage.ru_utime + usage.ru_stime, peak_mb=usage.ru_maxrss / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows of the large file (half for the small)"
    )
    parser.add_argument(
        "--svm-rows", type=int, default=100_000, help="rows for the SVM (its predict is slow)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="comma-separated model labels to run (default: all)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        {"floor": child_floor, "batched": child_batched, "naive": child_naive}[mode](*rest)
        return

    source = Path(os.environ.get("EXOREG_KOI_CSV", "../shared/data/koi_cumulative_2025-09-18.csv"))
    exoreg = [sys.executable, "-c", "from core.cli import run; run()"]  # what the exoreg script runs
    with tempfile.TemporaryDirectory(prefix="exoreg-bench-") as tmp:
        tmp = Path(tmp)
        files = {}
        for rows in sorted({args.rows, args.rows // 2, args.svm_rows}):
            files[rows] = tmp / f"koi_{rows}.csv"
            make_big_csv(source, files[rows], rows)
        registry = tmp / "registry"
        ids = train_and_register(source, registry)
        plan = [
            ("forest n_jobs=None", args.rows),
            ("forest n_jobs=None", args.rows // 2),
            ("forest n_jobs=-1", args.rows),
            ("forest n_jobs=-1", args.rows // 2),
            ("network", args.rows),
            ("svm", args.svm_rows),
        ]
        if args.only:
            wanted = {w.strip() for w in args.only.split(",")}
            plan = [p for p in plan if p[0] in wanted]
        print(
            f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}, repeats: {args.repeat}"
        )
        print(
            f"{'model':<19} {'rows':>9}  {'way':<6} {'wall min-max s':>15} {'CPU s':>7} {'peak MB':>8}  notes"
        )
        summary = []
        for label, rows in plan:
            data, out = str(files[rows]), str(tmp / "out.csv")
            runs: dict[str, list[dict]] = {"floor": [], "engine": [], "naive": []}
            batched = []
            for _ in range(args.repeat):
                runs["floor"].append(
                    _measure([sys.executable, __file__, "--child", "floor", str(registry), ids[label], data])
                )
                batched.append(
                    _measure([sys.executable, __file__, "--child", "batched", str(registry), ids[label], data])
                )
                runs["engine"].append(
                    _measure(
                        [
                            *exoreg,
                            "--registry",
                            str(registry),
                            "--json",
                            "predict",
                            ids[label],
                            data,
                            "-o",
                            out,
                        ]
                    )
                )
                runs["naive"].append(
                    _measure(
                        [sys.executable, __file__, "--child", "naive", str(registry), ids[label], data, out]
                    )
                )
            best = {}
            for way, results in runs.items():
                key = "seconds" if way == "floor" else "wall"
                walls = [r[key] for r in results]
                fastest = min(results, key=lambda r, k=key: r[k])
                best[way] = fastest[key]
                cpu = fastest["cpu"] if way == "floor" else fastest["process_cpu"]
                notes = ""
                if way == "engine":
                    notes = (
                        f"start+imports {fastest['startup_seconds']:.2f} s, model load {fastest['load_seconds']:.2f} s"
                        " (overlapped with reading)"
                    )
                elif way == "floor":
                    notes = "predict_proba only, rows in memory"
                print(
                    f"{label:<19} {rows:>9,}  {way:<6} {min(walls):>7.2f}-{max(walls):<7.2f} {cpu:>7.1f} "
                    f"{fastest['peak_mb']:>8.0f}  {notes}"
                )
            before_rows = [r["startup_seconds"] + r["load_seconds"] for r in runs["engine"]]
            alone = [r["seconds"] for r in batched]
            bound = min(before_rows) + min(alone)
            print(
                f"{label:<19} {rows:>9,}  {'bound':<6} {bound:>7.2f}-{max(before_rows) + max(alone):<7.2f} "
                f"{'':>7} {'':>8}  the engine's start+load {min(before_rows):.2f} s, then the model alone "
                f"{min(alone):.2f} s ({batched[0]['threads']} threads, batched as the engine runs it)"
            )
            ratio_floor = best["engine"] / best["floor"]
            ratio_naive = best["engine"] / best["naive"]
            ratio_bound = bound / best["floor"]
            peak = min(r["peak_mb"] for r in runs["engine"])
            summary.append((label, rows, ratio_floor, ratio_naive, peak))
            print(
                f"{'':<19} {'':>9}  engine/floor {ratio_floor:.2f}   engine/naive {ratio_naive:.2f}   "
                f"bound/floor {ratio_bound:.2f}"
            )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        peaks = {(label, rows): peak for label, rows, _, _, peak in summary}
        for label in ("forest n_jobs=None", "forest n_jobs=-1"):
            big, half = peaks.get((label, args.rows)), peaks.get((label, args.rows // 2))
            if big and half:
                print(
                    f"{label}: engine peak memory {args.rows:,} rows / {args.rows // 2:,} rows: {big / half:.2f}"
                )


if __name__ == "__main__":
    main()
