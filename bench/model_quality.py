"""Model quality and training time on the real KOI table (figures for the README).

Binary task (CONFIRMED vs FALSE POSITIVE), macro F1 as the mean of 5-fold stratified
cross-validation, for each classifier and feature set; then the time to train all three
on one split (DataProcessor + ModelTrainer, as the guide's integration example does), and
the time `exoreg demo` takes to build its registry.

Usage: PYTHONPATH=. python bench/model_quality.py [KOI_CSV] [--skip-demo]
(KOI_CSV defaults to $EXOREG_KOI_CSV.)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

from core.training.koi import FEATURE_SETS, load_koi
from core.training.processing import DataProcessor
from core.training.trainer import ALGORITHMS, ModelTrainer, cross_validate_f1

BARS = {("physical", "RandomForest"): 0.93, ("vetting", "RandomForest"): 0.985}


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    source = args[0] if args else os.environ.get("EXOREG_KOI_CSV")
    if not source:
        print("usage: model_quality.py KOI_CSV (or set EXOREG_KOI_CSV)", file=sys.stderr)
        return 2
    table = load_koi(source, feature_set="vetting")
    print(f"table: {table.file_name} ({len(table.data):,} rows, archive stamp {table.archive_stamp}); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print()
    print("5-fold stratified cross-validation, CONFIRMED vs FALSE POSITIVE, macro F1 (mean ± std)")
    print(f"{'feature set':<12}{'features':>9}  " + "".join(f"{a:>20}" for a in ALGORITHMS))
    ok = True
    for feature_set in ("physical", "vetting"):
        processor = DataProcessor(feature_set=feature_set)
        rows = processor.labelled_rows(table)
        X = rows[list(FEATURE_SETS[feature_set])].astype(float)
        y = rows["koi_disposition"].to_numpy(dtype=object)
        means = {}
        cells = []
        for algorithm in ALGORITHMS:
            scores = cross_validate_f1(X, y, algorithm)
            means[algorithm] = float(np.mean(scores))
            cells.append(f"{np.mean(scores):.4f} ± {np.std(scores):.4f}")
        print(f"{feature_set:<12}{X.shape[1]:>9}  " + "".join(f"{c:>20}" for c in cells), flush=True)
        bar = BARS.get((feature_set, "RandomForest"))
        if bar is not None and means["RandomForest"] < bar:
            ok = False
            print(f"  below the bar: RandomForest {means['RandomForest']:.4f} < {bar}")
        for algorithm in ("NeuralNetwork", "SVM"):
            if means[algorithm] < means["RandomForest"] - 0.03:
                ok = False
                print(f"  below the bar: {algorithm} more than 0.03 under the forest")
    print()

    processor = DataProcessor()
    X_train, X_val, X_test, y_train, y_val, y_test, features, _ = processor.process_dataset(table)
    start = time.perf_counter()
    results = ModelTrainer().train_and_evaluate(X_train, y_train, X_val, y_val, X_test, y_test,
                                                feature_names=features)
    seconds = time.perf_counter() - start
    fits = ", ".join(f"{k} {v:.1f} s" for k, v in results["training_times"].items())
    print(f"train + evaluate all three (physical, {len(X_train):,} training rows): {seconds:.1f} s "
          f"(fits: {fits}; the rest is evaluation and permutation importances)")
    if seconds > 90:
        ok = False
        print("  over the 90 s bar")

    if "--skip-demo" not in sys.argv:
        from core.training.demo import build_demo_registry

        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = build_demo_registry(os.path.join(tmp, "registry"), source)
            seconds = time.perf_counter() - start
        print(f"exoreg demo ({len(result.model_ids)} active versions + {len(result.deleted_ids)} discarded, "
              f"2 worker processes): {seconds:.1f} s")
    print()
    print("all bars hold" if ok else "SOME BARS DO NOT HOLD")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
