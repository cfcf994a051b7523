"""A guard against a reference-count bug of the Qt binding.

With PySide6 6.12 on Python 3.11, every time Python code receives an *invalid* ``QVariant``
from Qt (``index.data(role)`` answered by a model that returned None, ``QComboBox.itemData``
of an item without data, ``QAction.data()`` when unset...) the binding hands back ``None``
without taking a reference to it. Each such call lowers ``None``'s reference count by one;
when it reaches zero the interpreter aborts ("none_dealloc: deallocating None").

The application avoids those calls on its own paths (it asks its models' Python methods,
and gives combo items and actions real data). Code it does not control still makes them
(pyqtgraph's ``itemChange`` overrides receive invalid variants: a few hundred per chart
redraw), so when the bug is detected at start-up a ballast of references to ``None`` is
kept, and :func:`top_up` (called every few seconds by the main window) refills it before it
runs low. Python 3.12 and later make ``None`` immortal; nothing is done there.
"""

from __future__ import annotations

import sys

BALLAST_SIZE = 1_000_000  # 8 MB of list slots per refill
LOW_WATER = 500_000
_ballast: list[list[None]] = []


def invalid_variant_leaks_none() -> bool:
    """True when receiving an invalid QVariant from Qt drops a reference to None."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(20):
        probe.property("exoreg-unset-property")
    return sys.getrefcount(None) < before - 10


def install() -> bool:
    """Keep the ballast when the bug is present; True when it was installed."""
    if _ballast:
        return True
    if sys.version_info >= (3, 12) or not invalid_variant_leaks_none():
        return False
    _ballast.append([None] * BALLAST_SIZE)
    return True


def active() -> bool:
    return bool(_ballast)


def top_up() -> bool:
    """Refill the ballast when ``None``'s reference count ran low; True when it did."""
    if not _ballast or sys.getrefcount(None) > LOW_WATER:
        return False
    _ballast.append([None] * BALLAST_SIZE)
    return True
