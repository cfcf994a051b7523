"""Registry at scale: 10,000 versions (100 names x 100 versions).

Prints: open + first list_models(), list_models(), resolve("NAME") and resolve("best")
(metadata only), and register_model overhead excluding model serialisation (p50, p95).

    python bench/registry_scale.py [--names 100] [--versions 100] [--root DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--root", type=Path, default=None, help="registry folder (default: a temporary one)")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    from sklearn.tree import DecisionTreeClassifier

    from core.registry import safety
    from core.registry.registry import ModelRegistry

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=["koi_period", "koi_duration", "koi_depth", "koi_prad"])
    y = np.where(X["koi_period"] > 0, "CONFIRMED", "FALSE POSITIVE")
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    payload = safety.dumps_skops(model)
    # Serialisation is excluded from the overhead: every registration stores the same bytes.
    safety.dumps_skops = lambda _model: payload

    root = args.root or Path(tempfile.mkdtemp(prefix="exoreg-bench-")) / "registry"
    registry = ModelRegistry(root)
    total = args.names * args.versions
    timings = []
    start = time.perf_counter()
    for v in range(args.versions):
        for n in range(args.names):
            f1 = float(rng.uniform(0.80, 0.95))
            t0 = time.perf_counter()
            registry.register_model(
                model, f"Classifier{n:03d}", ("RandomForest", "NeuralNetwork", "SVM")[n % 3],
                {"accuracy": f1, "precision": f1, "recall": f1, "f1_score": f1, "roc_auc": min(1.0, f1 + 0.03)},
                {"max_depth": 3}, {"dataset": "kepler", "training_samples": 200}, list(X.columns),
            )
            timings.append(time.perf_counter() - t0)
        done = (v + 1) * args.names
        if done % 2000 == 0:
            print(f"  registered {done:,}/{total:,} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)

    # Opening happens at a program's start: measure it in fresh processes (library already imported).
    probe_code = (
        "import sys, time\n"
        "from core.registry.registry import ModelRegistry\n"
        "t0 = time.perf_counter()\n"
        "rows = ModelRegistry(sys.argv[1]).list_models()\n"
        "print(time.perf_counter() - t0, len(rows))\n"
    )
    opens = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", probe_code, str(root)], capture_output=True, text=True,
                             check=True, env=dict(os.environ, PYTHONPATH=str(REPO))).stdout.split()
        assert int(out[1]) == total
        opens.append(float(out[0]))
    open_first = statistics.median(opens)
    fresh = ModelRegistry(root)

    def best_of(fn, repeat=5):
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return min(samples), statistics.median(samples)

    probe = f"Classifier{args.names // 2:03d}"
    list_min, list_med = best_of(fresh.list_models)
    name_min, name_med = best_of(lambda: fresh.resolve(probe))
    best_min, best_med = best_of(lambda: fresh.resolve("best"))
    ordered = sorted(timings)
    p50 = ordered[len(ordered) // 2]
    p95 = ordered[int(len(ordered) * 0.95)]

    print(f"registry: {total:,} versions ({args.names} names x {args.versions}) in {root}")
    print(f"open + first list_models()        {_ms(open_first)}   (median of 5 fresh processes; target <= 200 ms)")
    print(f"list_models()                      {_ms(list_med)}   (median of 5; best {_ms(list_min).strip()}; target <= 50 ms)")
    print(f"resolve(NAME)                     {_ms(name_med)}   (median of 5; target <= 20 ms)")
    print(f"resolve('best')                    {_ms(best_med)}   (median of 5; target <= 20 ms)")
    print(f"register_model overhead p50        {_ms(p50)}   (target <= 25 ms)")
    print(f"register_model overhead p95        {_ms(p95)}")


if __name__ == "__main__":
    main()
