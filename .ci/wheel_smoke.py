"""Smoke test of an INSTALLED wheel: run with the interpreter of a fresh venv, outside the checkout.

The window starts (offscreen) and paints, the stylesheet is applied, the icons load, the KOI column
descriptions and core's own data files are found, and an offline ``exoreg demo`` builds a registry
that ``exoreg list`` and the window then open. Each check prints one line; the first failure exits 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def check(ok: bool, what: str, details: str = "") -> None:
    print(f"ok: {what}" if ok else f"FAILED: {what}\n{details}".rstrip(), flush=True)
    if not ok:
        sys.exit(1)


def run(*command: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="exoreg-wheel-smoke-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EXOREG_KOI_CSV", "EXOREG_REGISTRY")}
    env.update(QT_QPA_PLATFORM="offscreen", EXOREG_OFFLINE="1", EXOREG_CONFIG_DIR=str(work / "config"),
               EXOREG_CACHE_DIR=str(work / "cache"), XDG_CONFIG_HOME=str(work / "xdg"),
               XDG_DATA_HOME=str(work / "xdg-data"), PYQTGRAPH_QT_LIB="PySide6")
    os.chdir(work)
    os.environ.clear()
    os.environ.update(env)
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != CHECKOUT]

    import core
    import exoreg_gui
    import exoreg_gui.resources as resources

    installed = Path(sys.prefix).resolve()  # the fresh venv (it may itself sit inside the checkout)
    for module in (core, exoreg_gui, resources):
        check(Path(module.__file__).resolve().is_relative_to(installed), f"{module.__name__} is the installed one "
              f"({Path(module.__file__).parent})")

    from core.training.synthetic import stored_summary

    check(set(stored_summary()["classes"]) == {"CONFIRMED", "CANDIDATE", "FALSE POSITIVE"},
          "core's data file (training/data/synthetic_stats.json) is found")

    from exoreg_gui.app import create_application

    app = create_application()
    expected = (resources.resources_dir() / "style.qss").read_text(encoding="utf-8")
    check(bool(expected) and app.styleSheet() == expected, f"the stylesheet is applied ({len(expected)} characters)")
    for name in ("app", "model", "version", "best", "open"):
        check(not resources.icon(name).pixmap(32, 32).isNull(), f"the icon {name!r} loads and renders")
    check(resources.koi_column_tooltip("koi_period") == "Orbital Period [days]", "KOI column descriptions are found")

    registry = work / "registry"
    demo = run("exoreg", "demo", "--registry", str(registry), env=env, timeout=900)
    check(demo.returncode == 0, "offline `exoreg demo` builds a registry", demo.stdout + demo.stderr)
    listing = run("exoreg", "list", "--registry", str(registry), env=env, timeout=120)
    check(listing.returncode == 0 and "RandomForest" in listing.stdout, "`exoreg list` shows the demo's models",
          listing.stdout + listing.stderr)
    window = run("exoreg-gui", str(registry), "--quit-after-paint", env=env, timeout=120)
    check(window.returncode == 0 and "first window painted" in window.stdout,
          "`exoreg-gui` opens the demo registry and paints the window", window.stdout + window.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
