"""How long a GUI thread can be stalled while batch prediction runs beside it.

A "GUI" loop on the main thread wakes every 5 ms and records the longest gap between two
wake-ups, while ``predict_csv`` runs on a worker thread, first in-process, then with
``in_subprocess=True`` (what the desktop app uses). Done for the project's three kinds of
pipeline (RandomForest, MLP, calibrated SVC) on the shared KOI table repeated to ~100,000 rows.
A gap well over 5 ms means the worker held the GIL (or the machine was busy) that long.

    PYTHONPATH=. EXOREG_KOI_CSV=../shared/data/koi_cumulative_2025-09-18.csv python bench/predict_gil_stall.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_throughput import FEATURES, make_big_csv  # noqa: E402


def pipelines():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "RandomForest(300)": make_pipeline(SimpleImputer(), RandomForestClassifier(300, random_state=0)),
        "MLP(64, 32)": make_pipeline(
            SimpleImputer(), StandardScaler(), MLPClassifier((64, 32), max_iter=200, random_state=0)
        ),
        "CalibratedSVC": make_pipeline(
            SimpleImputer(), StandardScaler(), CalibratedClassifierCV(SVC(), cv=3)
        ),
    }


def longest_stall(run) -> tuple[float, float]:
    """(seconds the run took, longest gap in ms between 5 ms wake-ups of this thread)."""
    done = threading.Event()
    error: list[BaseException] = []

    def work():
        try:
            run()
        except BaseException as exc:  # noqa: BLE001
            error.append(exc)
        finally:
            done.set()

    worst = 0.0
    t0 = last = time.perf_counter()
    worker = threading.Thread(target=work)
    worker.start()
    while not done.wait(0.005):
        now = time.perf_counter()
        worst = max(worst, now - last)
        last = now
    worker.join()
    if error:
        raise error[0]
    return time.perf_counter() - t0, worst * 1000


def main() -> None:
    from types import SimpleNamespace

    import pandas as pd
    from sklearn.exceptions import ConvergenceWarning

    from core.prediction.engine import predict_csv

    source = Path(os.environ.get("EXOREG_KOI_CSV", "../shared/data/koi_cumulative_2025-09-18.csv"))
    frame = pd.read_csv(source, comment="#")
    labelled = frame[frame["koi_disposition"] != "CANDIDATE"]
    with tempfile.TemporaryDirectory(prefix="exoreg-gil-") as tmp:
        tmp = Path(tmp)
        data = tmp / "koi_100k.csv"
        rows = make_big_csv(source, data, 100_000)
        print(f"input: {rows:,} rows; load average before: {os.getloadavg()[0]:.2f}")
        for name, model in pipelines().items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(labelled[FEATURES], labelled["koi_disposition"])
            pair = (model, SimpleNamespace(model_id=name, feature_columns=FEATURES, classes=[]))
            for mode, sub in (("in-process", False), ("in_subprocess", True)):
                secs, gap = longest_stall(
                    lambda p=pair, s=sub: predict_csv(p, data, tmp / "out.csv", in_subprocess=s)
                )
                print(f"{name:<18} {mode:<14} {secs:6.1f} s   longest GUI-thread stall {gap:6.1f} ms")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
