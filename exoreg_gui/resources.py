"""Icons (SVG), the stylesheet and the KOI column descriptions shipped in ``resources/``."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from PySide6.QtGui import QIcon


@functools.cache
def resources_dir() -> Path:
    """The ``resources`` folder: beside the package in a checkout, or inside it when installed."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "resources", here / "resources"):
        if (candidate / "icons").is_dir():
            return candidate
    return here.parent / "resources"


_icons: dict[str, QIcon] = {}


def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg`` (an empty icon when it is missing)."""
    cached = _icons.get(name)
    if cached is None:
        path = resources_dir() / "icons" / f"{name}.svg"
        cached = QIcon(str(path)) if path.is_file() else QIcon()
        _icons[name] = cached
    return cached


def stylesheet() -> str:
    path = resources_dir() / "style.qss"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


@functools.cache
def koi_columns() -> dict[str, dict[str, str]]:
    """``{column: {"description": ..., "unit": ...}}`` for the NASA KOI table's columns."""
    path = resources_dir() / "koi_columns.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def koi_column_tooltip(column: str) -> str | None:
    """A column's description and unit, e.g. "Orbital Period [days]"; None when unknown."""
    info = koi_columns().get(column)
    if not info:
        return None
    unit = info.get("unit")
    return f"{info['description']} [{unit}]" if unit else info["description"]
