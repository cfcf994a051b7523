"""The desktop browser at scale: a registry of 10,000 versions (100 names x 100), offscreen.

Prints:
- time from ``MainWindow`` creation to a populated tree,
- time to fill the inspector after a selection change (median and worst of 20),
- time to show the comparison table for 50 selected versions, and the charts when their tab is
  opened half a second later,
- the longest stall of the event loop during all of it (a 10 ms QTimer heartbeat),
- time from process start to the first painted window (a separate process).

    QT_QPA_PLATFORM=offscreen python bench/gui_scale.py [--names 100] [--versions 100] [--root DIR] [--repeat 3]

Selections are made as a click makes them (through the tree's selection model); a time stops
when the panel has painted the result. Figures are the median of ``--repeat`` runs, each in a fresh process with one window as in
real use (fastest .. slowest in brackets): on a shared machine single runs vary by a factor
of two or more.

The registry is built once (the same tiny model registered 10,000 times, its serialised bytes
reused) and kept in ``--root`` (default: a folder in the system's temp directory) for later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def build_registry(root: Path, names: int, versions: int) -> None:
    """Register one tiny model ``names x versions`` times (serialised once)."""
    import numpy as np
    import pandas as pd
    from sklearn.tree import DecisionTreeClassifier

    from core.registry import safety
    from core.registry.registry import ModelRegistry

    features = ["koi_period", "koi_duration", "koi_depth", "koi_prad", "koi_teq", "koi_model_snr"]
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, len(features))), columns=features)
    y = np.where(X["koi_period"] > 0, "CONFIRMED", "FALSE POSITIVE")
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    payload = safety.dumps_skops(model)
    original = safety.dumps_skops
    safety.dumps_skops = lambda _model: payload
    try:
        registry = ModelRegistry(root)
        labels = ["CONFIRMED", "FALSE POSITIVE"]
        start = time.perf_counter()
        for v in range(versions):
            for n in range(names):
                f1 = float(rng.uniform(0.80, 0.95))
                evaluation = {
                    "accuracy": f1, "precision": f1, "recall": f1, "f1_score": f1,
                    "roc_auc": min(1.0, f1 + 0.03),
                    "per_class": {c: {"precision": f1, "recall": f1, "f1": f1, "support": 100} for c in labels},
                    "confusion_matrix": {"labels": labels, "matrix": [[90, 10], [8, 92]]},
                    "feature_importances": {f: float(rng.uniform(0, 0.3)) for f in features},
                }
                registry.register_model(
                    model, f"Classifier{n:03d}", ("RandomForest", "NeuralNetwork", "SVM")[n % 3], evaluation,
                    {"max_depth": 3 + v % 5, "n_estimators": 100}, {"dataset": "kepler", "training_samples": 200},
                    features, tags={"batch": str(v % 7)},
                )
            done = (v + 1) * names
            if done % 1000 == 0:
                rate = done / (time.perf_counter() - start)
                print(f"  registered {done:,} versions ({rate:.0f}/s)", flush=True)
    finally:
        safety.dumps_skops = original


def build_registry_one(root: Path) -> None:
    """One more registration, of a name of its own."""
    from sklearn.dummy import DummyClassifier

    from core.registry.registry import ModelRegistry

    registry = ModelRegistry(root)
    model = DummyClassifier().fit([[0.0], [1.0]], ["CONFIRMED", "FALSE POSITIVE"])
    registry.register_model(model, "LiveRefresh", "Dummy",
                            {"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1_score": 0.5})


def registry_size(root: Path) -> int:
    from core.registry.registry import ModelRegistry

    return len(ModelRegistry(root).list_models(include_deleted=True))


class Heartbeat:
    """A 10 ms timer; the longest gap between two ticks is the event loop's longest stall."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setObjectName("bench-heartbeat")
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.phase = ""
        self.by_phase: dict[str, float] = {}

    def start(self):
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self):
        self.timer.stop()

    def _tick(self):
        now = time.perf_counter()
        gap = now - self.last
        if gap > self.by_phase.get(self.phase, 0.0):
            self.by_phase[self.phase] = gap
        self.last = now

    def enter(self, phase: str) -> None:
        self.phase = phase
        self.last = time.perf_counter()


def spin(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)


def wait_until(app, predicate, timeout: float = 60.0) -> None:
    end = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > end:
            raise TimeoutError("timed out")
        app.processEvents()
        time.sleep(0.001)


def first_paint_seconds(root: Path, config: Path) -> tuple[float, float]:
    """(wall time from spawning the process to its report, the process's own figure)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXOREG_CONFIG_DIR": str(config)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "exoreg_gui", str(root), "--quit-after-paint"],
                         env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("first window painted")), "")
    own = float(line.split()[-2]) if line else float("nan")
    return wall, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="runs to take the median of (default 3)")
    parser.add_argument("--register-one", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.register_one:
        build_registry_one(args.register_one)
        return
    total = args.names * args.versions
    root = args.root or Path(tempfile.gettempdir()) / f"exoreg-gui-bench-{args.names}x{args.versions}" / "registry"

    if not root.exists() or registry_size(root) < total:
        if root.exists():
            import shutil

            shutil.rmtree(root)
        print(f"building a registry of {total:,} versions in {root} ...", flush=True)
        t0 = time.perf_counter()
        build_registry(root, args.names, args.versions)
        print(f"  built in {time.perf_counter() - t0:.1f} s", flush=True)

    config = Path(tempfile.mkdtemp(prefix="exoreg-gui-bench-config-"))
    os.environ["EXOREG_CONFIG_DIR"] = str(config)
    if args.single:
        from exoreg_gui.app import create_application

        app = create_application()
        print(json.dumps(run_once(app, root, args.names, args.versions)))
        return

    runs = []
    for i in range(args.repeat):  # one window per process, as in real use
        out = subprocess.run([sys.executable, __file__, "--single", "--root", str(root), "--names", str(args.names),
                              "--versions", str(args.versions)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                             capture_output=True, text=True, timeout=600, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  run {i + 1}/{args.repeat} done", flush=True)
    paints = [first_paint_seconds(root, config) for _ in range(args.repeat)]

    def fig(key: str) -> str:
        values = sorted(r[key] for r in runs)
        text = _ms(statistics.median(values))
        return text if len(values) == 1 else f"{text}  ({_ms(values[0]).strip()} .. {_ms(values[-1]).strip()})"

    print()
    print(f"registry: {total:,} versions ({args.names} names x {args.versions}); median of {args.repeat} runs "
          "(fastest .. slowest)")
    print(f"MainWindow creation -> populated tree      {fig('tree')}   target <= 1000 ms")
    print(f"inspector after a selection change         {fig('inspector')}   target <= 50 ms "
          "(median of 20 selections per run)")
    print(f"compare table for 50 versions              {fig('compare')}")
    print(f"charts for 50 versions                     {fig('charts')}")
    print(f"compare + charts for 50 versions           {fig('compare+charts')}   target <= 300 ms")
    print(f"longest event-loop stall (10 ms heartbeat) {fig('stall')}   target <= 100 ms")
    print("  per phase:")
    for phase in runs[0]["phases"]:
        values = sorted(r["phases"].get(phase, 0.0) for r in runs)
        print(f"    {phase:64s} {_ms(statistics.median(values))}  (.. {_ms(values[-1]).strip()})")
    print(f"registration elsewhere -> shown in tree     {fig('live')}   (polling every 1500 ms; "
          "measured from the writer's exit)")
    own = sorted(p[1] for p in paints)
    wall = sorted(p[0] for p in paints)
    print(f"process start -> first painted window      {_ms(statistics.median(own))}  (wall clock incl. "
          f"interpreter start {_ms(statistics.median(wall)).strip()})   target <= 2000 ms")


def run_once(app, root: Path, n_names: int, n_versions: int) -> dict:
    from exoreg_gui import workers
    from exoreg_gui.main_window import TAB_CHARTS, TAB_COMPARE, TAB_INSPECTOR, MainWindow

    heartbeat = Heartbeat()
    heartbeat.start()
    spin(app, 0.1)

    # 1. window creation -> populated tree
    heartbeat.enter("window construction and first paint (nothing on screen yet)")
    t0 = time.perf_counter()
    window = MainWindow()
    window.resize(1400, 860)
    window.show()
    app.processEvents()
    heartbeat.enter("opening the registry (in the background) and filling the tree")
    window.open_registry(root)
    wait_until(app, lambda: window.tree_panel.proxy.rowCount() >= n_names)
    app.processEvents()
    tree_time = time.perf_counter() - t0
    spin(app, 0.6)  # includes the charts being built in the background

    model = window.tree_panel.tree_model
    names = [n for n in model.names() if n.startswith("Classifier")]
    ids_by_name = {n: [e["model_id"] for e in model.versions_of(n)] for n in names}

    # 2. inspector after a selection change
    heartbeat.enter("inspector")
    window.tabs.setCurrentIndex(TAB_INSPECTOR)
    inspector_times = []
    for i in range(20):
        model_id = ids_by_name[names[(i * 7) % len(names)]][(i * 13) % n_versions]
        t0 = time.perf_counter()
        window.tree_panel.select_ids([model_id])  # what a click on the row does
        wait_until(app, lambda shown=model_id: getattr(window.inspector.meta, "model_id", None) == shown)
        app.processEvents()  # and paint it
        inspector_times.append(time.perf_counter() - t0)
        spin(app, 0.05)

    # 3. comparison table and charts for 50 selected versions
    heartbeat.enter("compare + charts")
    chosen = [ids_by_name[names[k % len(names)]][(k * 3) % n_versions] for k in range(50)]
    window.tabs.setCurrentIndex(TAB_COMPARE)
    spin(app, 0.05)
    t0 = time.perf_counter()
    window.tree_panel.select_ids(chosen)
    wait_until(app, lambda: len(window.compare.model.version_ids()) == 50)
    app.processEvents()
    compare_time = time.perf_counter() - t0
    spin(app, 0.5)  # a person looks at the table before opening the charts
    t0 = time.perf_counter()
    window.tabs.setCurrentIndex(TAB_CHARTS)
    app.processEvents()
    chart_time = time.perf_counter() - t0
    assert len(window.charts.metric_bars["f1_score"].opts["height"]) == 50
    spin(app, 0.2)

    # 4. a registration by another process reaches the tree by itself
    heartbeat.enter("while the other process starts and registers (CPU shared)")
    before = model.version_counts()[0]
    writer = subprocess.Popen([sys.executable, __file__, "--register-one", str(root)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    wait_until(app, lambda: writer.poll() is not None, timeout=120)
    heartbeat.enter("live refresh")
    t0 = time.perf_counter()
    wait_until(app, lambda: model.version_counts()[0] == before + 1, timeout=30)
    live_time = time.perf_counter() - t0
    assert window.selected_ids() == chosen, "the selection survives the refresh"
    spin(app, 0.2)

    heartbeat.stop()
    window.shutdown()
    window.close()
    window.deleteLater()
    workers.await_workers()
    app.processEvents()
    phases = {k: v for k, v in heartbeat.by_phase.items() if k}
    window_phases = {k: v for k, v in phases.items() if "other process" not in k and "nothing on screen" not in k}
    return {
        "tree": tree_time,
        "inspector": statistics.median(inspector_times),
        "compare": compare_time,
        "charts": chart_time,
        "compare+charts": compare_time + chart_time,
        "stall": max(window_phases.values()),
        "phases": phases,
        "live": live_time,
    }


if __name__ == "__main__":
    main()
