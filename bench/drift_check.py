"""The drift check of a 10,000-row file against a training profile: how long it takes.

Profiles the shared KOI table's labelled rows (a 70 % sample, the 36 ``physical`` features), then
checks 10,000 rows drawn from the table (with replacement) with :func:`core.prediction.drift.check_drift`:

- **first call**: the chance limits computed (resampling each feature's training histogram);
- **cached call**: the same size again, the limits from the cache (another 10,000 rows);
- **counting only**: one streaming batch's counts (what predict_csv adds per batch, on a worker).

Prints the median of ``--repeat`` runs for the cached call and the counting, and the verdicts.

    PYTHONPATH=. EXOREG_KOI_CSV=../shared/data/koi_cumulative_2025-09-18.csv python bench/drift_check.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import numpy as np

    from core.prediction import drift
    from core.registry.records import training_profile
    from core.training.koi import FEATURE_SETS, LABEL_COLUMN, find_koi_table, load_koi

    table = load_koi(find_koi_table(os.environ.get("EXOREG_KOI_CSV")).path).data
    features = list(FEATURE_SETS["physical"])
    labelled = table[table[LABEL_COLUMN] != "CANDIDATE"]
    train = labelled.sample(frac=0.7, random_state=0)
    profile = training_profile(train, features)
    rng = np.random.default_rng(0)

    def sample():
        return table.iloc[rng.integers(0, len(table), args.rows)]

    files = [sample() for _ in range(args.repeat + 1)]
    drift._chance_fit.cache_clear()
    t0 = time.perf_counter()
    first = drift.check_drift(profile, files[0], features=features)
    first_ms = (time.perf_counter() - t0) * 1000
    cached = []
    for frame in files[1:]:
        t0 = time.perf_counter()
        report = drift.check_drift(profile, frame, features=features)
        cached.append((time.perf_counter() - t0) * 1000)
    counter = drift.DriftCounter(profile, features)
    columns = {name: files[0][name].to_numpy(dtype=np.float64) for name in features}
    counting = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        counter.count(columns, args.rows)
        counting.append((time.perf_counter() - t0) * 1000)
    print(f"training profile: {len(train):,} rows, {len(features)} features; file: {args.rows:,} rows of the table")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"first call (chance limits computed)   {first_ms:7.1f} ms   target <= 200 ms")
    print(
        f"cached call (median of {args.repeat})            {statistics.median(cached):7.1f} ms"
        f"   ({min(cached):.1f} .. {max(cached):.1f} ms)"
    )
    print(f"counting one batch only (median)      {statistics.median(counting):7.1f} ms")
    print(f"verdicts: first {first.sentence!r}; last {report.sentence!r}")


if __name__ == "__main__":
    main()
