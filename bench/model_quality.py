"""Model quality and training time on the real KOI table (figures for the README).

Binary task (CONFIRMED vs FALSE POSITIVE), macro F1 as the mean of 5-fold cross-validation
with seed 0, for each classifier and feature set: grouped by host star (``StratifiedGroupKFold``
on ``kepid``, the figures to quote) beside the old row-by-row ``StratifiedKFold``, so the size
of the leak between a star's KOIs is visible. Then the time to train all three on one split
(DataProcessor + ModelTrainer, as the guide's integration example does), and the time
`exoreg demo` takes to build its registry.

Bars (grouped figures): the forest's macro F1 >= 0.925 on the physical set and >= 0.985 on the
vetting set, and no more than 0.005 below its ungrouped figure; the network and the SVM within
0.03 of the forest.

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

BARS = {("physical", "RandomForest"): 0.925, ("vetting", "RandomForest"): 0.985}
MAX_GROUPING_COST = 0.005  # the forest's grouped figure may sit at most this far below the ungrouped one
WITHIN_FOREST = 0.03  # the network and the SVM, grouped, at most this far below the forest
SEED = 0


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
    print(f"5-fold cross-validation (seed {SEED}), CONFIRMED vs FALSE POSITIVE, macro F1 (mean ± std)")
    print("grouped: StratifiedGroupKFold by host star (kepid), no star in two folds; "
          "ungrouped: the old StratifiedKFold")
    print(f"{'feature set':<12}{'algorithm':<15}{'grouped':>17}{'ungrouped':>17}{'leak':>9}")
    ok = True
    problems = []
    for feature_set in ("physical", "vetting"):
        processor = DataProcessor(feature_set=feature_set)
        rows = processor.labelled_rows(table).reset_index(drop=True)
        X = rows[list(FEATURE_SETS[feature_set])].astype(float)
        y = rows["koi_disposition"].to_numpy(dtype=object)
        groups = processor.groups_of(rows)
        grouped, ungrouped = {}, {}
        for algorithm in ALGORITHMS:
            g = cross_validate_f1(X, y, algorithm, groups=groups, random_state=SEED)
            u = cross_validate_f1(X, y, algorithm, random_state=SEED)
            grouped[algorithm], ungrouped[algorithm] = float(np.mean(g)), float(np.mean(u))
            print(f"{feature_set:<12}{algorithm:<15}{np.mean(g):>8.4f} ± {np.std(g):.4f}"
                  f"{np.mean(u):>8.4f} ± {np.std(u):.4f}{np.mean(u) - np.mean(g):>+9.4f}", flush=True)
        forest = grouped["RandomForest"]
        bar = BARS[(feature_set, "RandomForest")]
        if forest < bar:
            problems.append(f"{feature_set}: RandomForest grouped {forest:.4f} < {bar}")
        if forest < ungrouped["RandomForest"] - MAX_GROUPING_COST:
            problems.append(f"{feature_set}: RandomForest grouped {forest:.4f} is more than {MAX_GROUPING_COST} "
                            f"below ungrouped {ungrouped['RandomForest']:.4f}")
        for algorithm in ("NeuralNetwork", "SVM"):
            if grouped[algorithm] < forest - WITHIN_FOREST:
                problems.append(f"{feature_set}: {algorithm} grouped {grouped[algorithm]:.4f} is more than "
                                f"{WITHIN_FOREST} below the forest's {forest:.4f}")
    print("(leak: ungrouped minus grouped)")
    for problem in problems:
        ok = False
        print(f"  below the bar: {problem}")
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
