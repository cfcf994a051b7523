"""Helpers shared by the subcommands: registry location, JSON output, tables, progress."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

DEFAULT_REGISTRY = "models/registry"


def common_parser() -> argparse.ArgumentParser:
    """Options accepted both before and after the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--registry",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=(
            f"registry folder or s3://BUCKET/PREFIX (default: $EXOREG_REGISTRY, else ./{DEFAULT_REGISTRY} when it exists, else for "
            "reading the registry last opened by exoreg-gui or built by exoreg demo)"
        ),
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON"
    )
    return common


def registry_path(args: argparse.Namespace, *, write: bool = False) -> str:
    """The registry a command works on, saying on stderr which one whenever ``--registry`` was not given.

    ``--registry``, else ``$EXOREG_REGISTRY``, else ``./models/registry`` when it exists, else (for
    commands that only read) the registry last opened by the browser or built by the demo
    (:func:`core.common.userdirs.remembered_registry`). A command that writes starts
    ``./models/registry`` when there is none.
    """
    from pathlib import Path

    from core.common.userdirs import remembered_registry
    from core.errors import RegistryError

    explicit = getattr(args, "registry", None)
    if explicit:
        return str(explicit)
    env = os.environ.get("EXOREG_REGISTRY")
    if env:
        return _noted(args, env, "from $EXOREG_REGISTRY")
    if Path(DEFAULT_REGISTRY).is_dir():
        return _noted(args, DEFAULT_REGISTRY, f"./{DEFAULT_REGISTRY} in this folder")
    if write:
        return _noted(args, DEFAULT_REGISTRY, f"a new ./{DEFAULT_REGISTRY} in this folder")
    remembered = remembered_registry()
    if remembered is not None and remembered.is_dir():
        return _noted(args, str(remembered), "the registry last opened by exoreg-gui or built by exoreg demo")
    raise RegistryError(
        f"No registry to read: there is no ./{DEFAULT_REGISTRY} here and none was opened or built before; "
        "give one with --registry PATH (or $EXOREG_REGISTRY), or build the demo with `exoreg demo`."
    )


def is_registry_uri(path: str) -> bool:
    """Whether ``path`` names a registry by URI (``s3://bucket/prefix``) rather than a folder."""
    scheme, sep, _ = str(path).partition("://")
    return bool(sep) and scheme.isalnum() and scheme.lower() != "file"


def _noted(args: argparse.Namespace, path: str, why: str) -> str:
    if not getattr(args, "_registry_noted", False):
        shown = path if is_registry_uri(path) else os.path.abspath(path)
        print(f"exoreg: using the registry {shown} ({why})", file=sys.stderr)
        args._registry_noted = True
    return path


def open_registry(args: argparse.Namespace, *, write: bool = False):
    """The registry of :func:`registry_path`; a command that only reads never creates its folder."""
    return open_registry_at(registry_path(args, write=write), write=write)


def open_registry_at(path: str, *, write: bool = False):
    """The registry at ``path`` (a folder or a URI); for reading, a folder that is no registry is refused unopened."""
    from pathlib import Path

    from core.errors import RegistryError
    from core.registry.registry import ModelRegistry

    if not write and not is_registry_uri(path):
        folder = Path(path)
        if not folder.is_dir():
            raise RegistryError(
                f"No registry at {folder}: the folder does not exist; check the path, or build one with `exoreg demo`."
            )
        if not (folder / "metadata").is_dir():
            raise RegistryError(
                f"{folder} is not a registry (it has no metadata folder); give the registry folder itself."
            )
    return ModelRegistry(path)


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str, allow_nan=False)
    sys.stdout.write("\n")


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` with every float inside it rounded to ``digits`` decimals, for display only."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def print_table(rows: Iterable[dict], columns: Sequence[str], headers: Sequence[str] | None = None) -> None:
    """Print rows as an aligned plain-text table (numbers right-aligned)."""
    rows = list(rows)
    headers = list(headers or columns)
    cells = [[format_value(row.get(col)) for col in columns] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row.get(col), int | float) for row in rows) and bool(rows) for col in columns]

    def line(values):
        return "  ".join(
            (v.rjust(w) if num else v.ljust(w)) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print(line(r))


class TerminalProgress:
    """A one-line progress bar on stderr, usable as a ``progress(done, total)`` callback."""

    def __init__(self, label: str, *, unit: str = "", stream=None, min_interval: float = 0.1):
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self._last = 0.0
        self._start = time.monotonic()
        self._shown = False

    def __call__(self, done: float, total: float | None = None, message: str | None = None) -> None:
        now = time.monotonic()
        if now - self._last < self.min_interval and not (total and done >= total):
            return
        self._last = now
        if not self.stream.isatty():
            return
        if total:
            frac = max(0.0, min(1.0, done / total))
            bar = "#" * int(frac * 30)
            text = f"\r{self.label} [{bar:<30}] {frac:5.1%} {int(done):,}{self.unit}"
        else:
            text = f"\r{self.label} {int(done):,}{self.unit}"
        if message:
            text += f"  {message}"
        self.stream.write(text[:200])
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()


def seconds_since_start() -> float | None:
    """Wall time since this process started (interpreter start and imports), or None off Linux."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: starttime
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so temporary files are removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM and SIGHUP end it the way Ctrl-C does (cleanup included)."""
    import signal
    import threading

    def stop(signum, frame):
        raise Terminated(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None:
                previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
