"""Icons (SVG) and the stylesheet: the package ``exoreg_gui.resources``.

This folder is the repository's top-level ``resources/``. A wheel installs it as
``exoreg_gui/resources`` (``[tool.setuptools.package-dir]`` in ``pyproject.toml``); in a source
checkout ``exoreg_gui/__init__.py`` loads it under the same name. Files are found with
:mod:`importlib.resources`, so they are the ones installed beside this module, wherever that is.
The KOI column descriptions come from :data:`core.training.koi.KNOWN_COLUMNS`.
"""

from __future__ import annotations

import functools
import logging
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon

log = logging.getLogger(__name__)


@functools.cache
def resources_dir() -> Path:
    """The folder holding ``style.qss`` and ``icons/``."""
    return Path(str(files(__name__)))


_icons: dict[str, QIcon] = {}


def icon(name: str) -> QIcon:
    """The icon ``icons/<name>.svg`` (an empty icon, and a logged warning, when it is missing)."""
    from PySide6.QtGui import QIcon

    cached = _icons.get(name)
    if cached is None:
        path = resources_dir() / "icons" / f"{name}.svg"
        if path.is_file():
            cached = QIcon(str(path))
        else:
            log.warning("icon %s is missing (%s)", name, path)
            cached = QIcon()
        _icons[name] = cached
    return cached


def stylesheet() -> str:
    """The application's stylesheet (empty, and a logged warning, when the file is missing)."""
    path = resources_dir() / "style.qss"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("the stylesheet could not be read (%s)", exc)
        return ""


def koi_column_tooltip(column: str) -> str | None:
    """A KOI column's description and unit, e.g. "Orbital Period [days]"; None when unknown."""
    from core.training.koi import KNOWN_COLUMNS, column_info

    if column not in KNOWN_COLUMNS:
        return None
    return column_info(column).label
