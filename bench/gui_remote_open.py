"""The browser on a registry in object storage: how long the event loop ever stalls while it opens and browses.

Starts its own SeaweedFS server (tests/_s3server.py; needs the test extras), registers
``names x versions`` tiny models into ``s3://BUCKET/team``, then, in an offscreen window with a
10 ms QTimer heartbeat, times and reports the longest gap between two ticks of:

- a cold open (empty cache folder, nothing read in this process) until the tree is filled,
- a warm open (cache folder valid),
- a selection's inspector (its metadata read on a worker) and a 50-version comparison,
- another process registering a version, until the tree shows it (the ETag / log poll),

and the same for the same registry in a folder, in the same run, for comparison.

    QT_QPA_PLATFORM=offscreen python bench/gui_remote_open.py [--names 10] [--versions 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from gui_scale import Heartbeat, build_registry, spin, wait_until  # noqa: E402

REGISTER_CODE = textwrap.dedent("""
    import sys
    from sklearn.dummy import DummyClassifier
    from core.registry.registry import ModelRegistry
    model = DummyClassifier().fit([[0.0], [1.0]], ["CONFIRMED", "FALSE POSITIVE"])
    ModelRegistry(sys.argv[1]).register_model(model, sys.argv[2], "Dummy",
                                              {"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1_score": 0.5})
""")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def run_once(app, uri: str, work: Path, run: int) -> dict[str, tuple[float, float]]:
    """``{phase: (seconds, longest stall)}`` for one window's life."""
    import shutil

    from core.registry.store import s3
    from exoreg_gui.main_window import MainWindow
    from exoreg_gui.settings import Settings

    os.environ["EXOREG_CONFIG_DIR"] = str(work / f"config-{run}")
    settings = Settings()
    settings.set("live/poll_ms", 1500)
    settings.set("prediction/warm_start_ms", -1)
    window = MainWindow(settings)
    window.resize(1400, 860)
    window.show()
    spin(app, 0.3)
    heartbeat = Heartbeat()
    heartbeat.start()
    out: dict[str, tuple[float, float]] = {}

    def phase(name: str, action, done) -> None:
        heartbeat.enter(name)
        t0 = time.perf_counter()
        action()
        wait_until(app, done, timeout=120)
        elapsed = time.perf_counter() - t0
        spin(app, 0.15)  # the paint after it
        out[name] = (elapsed, heartbeat.by_phase.get(name, 0.0))

    loaded = []
    window.source.entries_loaded.connect(lambda rows: loaded.append(len(rows)))

    def opened(count: int):
        return lambda: len(loaded) >= count and not window.source.busy and not window.tree_panel.loading

    shutil.rmtree(os.environ["EXOREG_CACHE_DIR"], ignore_errors=True)
    s3._shared.clear()
    phase("cold open (empty cache) -> tree filled", lambda: window.open_registry(uri), opened(1))
    s3._shared.clear()
    phase("warm open (cache valid) -> tree filled", lambda: window.open_registry(uri), opened(2))

    model = window.tree_panel.tree_model
    names = model.names()
    first = model.versions_of(names[len(names) // 2])[-1]["model_id"]
    window.tabs.setCurrentIndex(0)
    phase("inspector of one version (metadata on a worker)", lambda: window.select_versions([first]),
          lambda: window.inspector.meta is not None and window.inspector.meta.model_id == first)
    fifty = [e["model_id"] for name in names for e in model.versions_of(name)][:50]
    window.tabs.setCurrentIndex(1)
    phase("compare of 50 versions (metadata on a worker)", lambda: window.select_versions(fifty),
          lambda: len(window.compare.model.version_ids()) == len(fifty))

    new_name = f"LiveRefresh{run}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", REGISTER_CODE, uri, new_name], env=env, check=True, timeout=300)
    phase("another process's registration -> shown (poll)", lambda: None, lambda: new_name in model.names())

    heartbeat.stop()
    window.close()
    window.deleteLater()
    spin(app, 0.3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", type=int, default=10)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from tests._s3server import WeedServer

    work = Path(tempfile.mkdtemp(prefix="exoreg-gui-remote-bench-"))
    server = WeedServer(work / "seaweedfs")
    server.start()
    try:
        os.environ.update(server.environment())
        os.environ["EXOREG_CACHE_DIR"] = str(work / "cache")
        uri = f"s3://{server.new_bucket()}/team"
        roots = {"S3 (SeaweedFS)": uri, "local folder": str(work / "local")}
        for root in roots.values():
            t0 = time.perf_counter()
            build_registry(root, args.names, args.versions)
            print(f"  registered {args.names * args.versions:,} versions into {root} in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)

        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([])
        runs = {label: [run_once(app, root, work, i) for i in range(args.runs)] for label, root in roots.items()}
    finally:
        server.stop()

    total = args.names * args.versions
    print(f"registry: {total:,} versions ({args.names} names x {args.versions}); median of {args.runs} runs "
          "(slowest stall); time / longest event-loop stall (10 ms heartbeat)")
    print(f"{'':50} " + " ".join(f"{label:>30}" for label in runs) + "   target (S3): stall <= 100 ms")
    for name in runs["S3 (SeaweedFS)"][0]:
        cells = []
        for label_runs in runs.values():
            times = [r[name][0] for r in label_runs]
            stalls = [r[name][1] for r in label_runs]
            cells.append(f"{_ms(statistics.median(times)).strip()} / {_ms(statistics.median(stalls)).strip()} "
                         f"({_ms(max(stalls)).strip()})")
        print(f"{name:50} " + " ".join(f"{c:>30}" for c in cells))


if __name__ == "__main__":
    main()
