"""The workflow dialogs under load: a 200,000-row prediction and a deployment bundle, offscreen.

Prints, for the prediction dialog (KOI rows repeated to 200,000, a forest pipeline trained on
the real KOI table), the time from Run to the results shown, the rows per second and the
longest stall of the event loop (a 10 ms QTimer heartbeat); and the same stall figure while
the deployment dialog writes a bundle with ONNX.

    EXOREG_KOI_CSV=<KOI table> QT_QPA_PLATFORM=offscreen python bench/gui_dialogs.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


class Heartbeat:
    def __init__(self):
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.longest = 0.0

    def _tick(self):
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def __enter__(self):
        import gc

        gc.collect()
        self.last = time.perf_counter()
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.stop()


def wait(app, condition, timeout=300.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the dialog did not finish in time")
        app.processEvents()
        time.sleep(0.002)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    koi = os.environ.get("EXOREG_KOI_CSV")
    if not koi or not Path(koi).is_file():
        print("set EXOREG_KOI_CSV to the NASA cumulative KOI table", file=sys.stderr)
        return 2

    import pandas as pd
    from PySide6.QtWidgets import QApplication

    from core.registry.registry import ModelRegistry
    from exoreg_gui import workers
    from exoreg_gui.dialogs.deploy_dialog import DeployDialog
    from exoreg_gui.dialogs.predict_dialog import PredictDialog
    from tests._workflow_support import KOI_FEATURES, _train, read_koi

    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="exoreg-bench-dialogs-"))
    frame = read_koi(koi)
    registry = ModelRegistry(work / "registry")
    model, rows = _train(frame, 25, seed=0)
    model_id = registry.register_model(
        model=model, model_name="KoiForest", algorithm="RandomForest",
        evaluation_results={"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9},
        hyperparameters={"n_estimators": 25}, training_info={"training_samples": rows},
        feature_columns=KOI_FEATURES,
    )
    small = frame[["kepid", "kepoi_name", "koi_disposition", *KOI_FEATURES]]
    big = pd.concat([small] * (-(-args.rows // len(small))), ignore_index=True).head(args.rows)
    csv = work / "koi_big.csv"
    big.to_csv(csv, index=False)

    dialog = PredictDialog(registry, registry.list_models(), model_id, [str(csv)])
    dialog.show()
    wait(app, lambda: dialog.run_button.isEnabled(), 60)
    shown = []
    dialog.results_shown.connect(shown.append)
    with Heartbeat() as beat:
        started = time.perf_counter()
        dialog.run()
        wait(app, lambda: bool(shown))
        elapsed = time.perf_counter() - started
    summary = dialog.jobs[str(csv.resolve())].summary
    print(f"prediction dialog, {summary.rows_read:,} rows: Run to results shown {elapsed:.2f} s "
          f"({summary.rows_read / elapsed:,.0f} rows/s including the child process start); "
          f"longest event-loop stall {beat.longest * 1000:.0f} ms")
    dialog.close()

    dialog = DeployDialog(registry, registry.get_metadata(model_id), folder=str(work / "bundle"),
                          sample_csv=str(csv))
    dialog.show()
    written = []
    dialog.bundle_written.connect(written.append)
    with Heartbeat() as beat:
        started = time.perf_counter()
        dialog.start_export()
        wait(app, lambda: bool(written))
        elapsed = time.perf_counter() - started
    print(f"deployment dialog, bundle with ONNX: {elapsed:.2f} s; longest event-loop stall "
          f"{beat.longest * 1000:.0f} ms")
    dialog.close()
    workers.await_workers(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
