"""Comparison statistics at scale: 10 versions x 10,000 rows x 2,000 paired bootstrap resamples.

Prints the seconds of (1) the paired bootstrap of the label metrics (accuracy, macro precision / recall /
F1, balanced accuracy, MCC and per-class scores, from one resample-count matrix) with every pairwise
verdict (Holm), McNemar and Cochran's Q, (2) DeLong's test for the ROC AUC of every pair of the binary
versions, and (3) the whole comparison with probabilities (the bootstrap of ROC AUC, average precision,
Brier score and log loss added). Target for (1) + (2): at most 5 s on a 2-core machine.

    python bench/compare_stats.py [--versions 10] [--rows 10000] [--resamples 2000]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()

    import numpy as np
    import scipy.sparse  # noqa: F401  (imported once, outside the timings)
    import scipy.stats  # noqa: F401

    from core.comparison import ScoredVersion, compare_versions
    from core.comparison.tests import delong

    rng = np.random.default_rng(0)
    classes = np.array(["CONFIRMED", "FALSE POSITIVE"], dtype=object)
    y = rng.choice(classes, args.rows)
    versions = []
    for k in range(args.versions):
        score = np.clip((y == "CONFIRMED") * (0.3 + 0.02 * k) + rng.random(args.rows) * 0.7, 0, 1)
        score = np.round(score, 3)  # ties, as a forest's votes give
        proba = np.stack([score, 1 - score], axis=1)
        versions.append(ScoredVersion(f"Model v{k + 1}", f"id{k}", list(classes), y,
                                      np.where(score >= 0.5, classes[0], classes[1]).astype(object), proba))
    labels_only = [ScoredVersion(v.label, v.model_id, v.classes, v.y_true, v.y_pred, None) for v in versions]
    print(f"{args.versions} versions x {args.rows:,} rows x {args.resamples:,} paired resamples "
          f"({len(versions) * (len(versions) - 1) // 2} pairs)")

    start = time.perf_counter()
    comparison = compare_versions(labels_only, n_resamples=args.resamples)
    label_seconds = time.perf_counter() - start
    print(f"label metrics, verdicts (Holm), McNemar, Cochran's Q: {label_seconds:6.2f} s")

    start = time.perf_counter()
    positive = y == "CONFIRMED"
    for a, b in itertools.combinations(versions, 2):
        delong(positive, a.proba[:, 0], b.proba[:, 0])
    delong_seconds = time.perf_counter() - start
    print(f"DeLong for every pair of binary AUCs:                 {delong_seconds:6.2f} s")
    print(f"together (target <= 5 s):                             {label_seconds + delong_seconds:6.2f} s")

    start = time.perf_counter()
    compare_versions(versions, n_resamples=args.resamples)
    print(f"whole comparison with probability metrics:            {time.perf_counter() - start:6.2f} s")
    print(comparison.pairs[0].sentence)


if __name__ == "__main__":
    main()
