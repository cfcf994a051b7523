"""The user's folders for ExoReg: settings, caches, data and logs.

Each is platformdirs' folder for the app name ``exoreg`` (no app author), unless an environment
variable names another folder (the tests point them at temporary folders):

==============  ========================  =============================================
folder          overridden by             default (Linux)
==============  ========================  =============================================
config_dir()    ``EXOREG_CONFIG_DIR``     ``~/.config/exoreg``
cache_dir()     ``EXOREG_CACHE_DIR``      ``~/.cache/exoreg``
data_dir()      ``EXOREG_DATA_DIR``       ``~/.local/share/exoreg``
log_dir()       ``EXOREG_CACHE_DIR``      ``~/.local/state/exoreg/log``
==============  ========================  =============================================

The log folder follows ``EXOREG_CACHE_DIR`` (logs are throwaway, like caches), so one variable
keeps a test run's logs and caches out of the user's folders. Nothing is created here.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "exoreg"


def _folder(variable: str, kind: str) -> Path:
    value = os.environ.get(variable)
    if value:
        return Path(value)
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Settings and the signing key (``EXOREG_CONFIG_DIR`` overrides it)."""
    return _folder("EXOREG_CONFIG_DIR", "config")


def cache_dir() -> Path:
    """Downloaded tables and other things that can be fetched again (``EXOREG_CACHE_DIR`` overrides it)."""
    return _folder("EXOREG_CACHE_DIR", "cache")


def data_dir() -> Path:
    """What ExoReg makes for the user, e.g. the demo registry (``EXOREG_DATA_DIR`` overrides it)."""
    return _folder("EXOREG_DATA_DIR", "data")


def log_dir() -> Path:
    """Log files (``EXOREG_CACHE_DIR`` overrides it, see above)."""
    return _folder("EXOREG_CACHE_DIR", "log")


# -- the registry last opened or built -----------------------------------------------------------
LAST_REGISTRY_FILE = "last_registry.json"


def remember_registry(path: str | os.PathLike) -> None:
    """Record ``path`` as the registry last opened by the browser or built by the demo.

    The command line falls back to it for read commands (``exoreg list`` right after ``exoreg
    demo``). Best effort: a config folder that cannot be written leaves the record as it was.
    """
    from core.common import jsonio
    from core.common.files import atomic_write_bytes

    folder = config_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / LAST_REGISTRY_FILE, jsonio.dumps({"path": str(Path(path).absolute())}))
    except OSError:
        pass


def remembered_registry() -> Path | None:
    """The registry :func:`remember_registry` recorded, when the record is readable; else None."""
    from core.common import jsonio

    try:
        data = jsonio.loads((config_dir() / LAST_REGISTRY_FILE).read_bytes(), max_bytes=1 << 16)
    except (OSError, ValueError):
        return None
    path = data.get("path") if isinstance(data, dict) else None
    return Path(path) if isinstance(path, str) and path else None
