"""A guard against a reference-count bug of the Qt binding.

With PySide6 6.12 on Python 3.11, every time Python code receives an *invalid* ``QVariant``
from Qt (``index.data(role)`` answered by a model that returned None, ``QComboBox.itemData``
of an item without data, ``QAction.data()`` when unset...) the binding hands back ``None``
without taking a reference to it. Each such call lowers ``None``'s reference count by one;
when it reaches zero the interpreter aborts ("none_dealloc: deallocating None").

The application avoids those calls on its own paths (it asks its models' Python methods,
and gives combo items and actions real data). Code it does not control still makes them
(pyqtgraph's ``itemChange`` overrides receive invalid variants: a few hundred per chart
redraw). So when the bug is detected at start-up, ``None`` is given the references the
binding will take back: its count is raised by a large margin, and :func:`top_up` (called
every few seconds by the main window) raises it again before it runs low. ``None`` is never
freed anyway; this only keeps the interpreter from aborting. Python 3.12 and later make
``None`` immortal, and nothing is done there.
"""

from __future__ import annotations

import ctypes
import sys

MARGIN = 1_000_000
LOW_WATER = 200_000
_active = False


def invalid_variant_leaks_none() -> bool:
    """True when receiving an invalid QVariant from Qt drops a reference to None."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(20):
        probe.property("exoreg-unset-property")
    return sys.getrefcount(None) < before - 10


def _add_references(count: int) -> None:
    # ob_refcnt is the first field of every CPython object.
    refcount = ctypes.c_ssize_t.from_address(id(None))
    refcount.value += count


def install() -> bool:
    """Apply the guard when the bug is present; True when it is active."""
    global _active
    if _active:
        return True
    if (sys.version_info >= (3, 12) or sys.implementation.name != "cpython"
            or not invalid_variant_leaks_none()):
        return False
    _add_references(MARGIN)
    _active = True
    return True


def active() -> bool:
    return _active


def top_up() -> bool:
    """Raise ``None``'s reference count again when it ran low; True when it did."""
    if not _active or sys.getrefcount(None) > LOW_WATER:
        return False
    _add_references(MARGIN)
    return True
