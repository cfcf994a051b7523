"""Turning Python, numpy and pathlib values into plain JSON values: one rule for every writer.

:func:`to_jsonable` makes a deep, plain copy that :func:`json.dumps` accepts even with
``allow_nan=False``:

* mappings become dicts with ``str`` keys; lists, tuples, sets and frozensets become lists
  (sets in their iteration order);
* ``None``, ``bool``, ``int`` and ``str`` stay as they are (``numpy.str_`` becomes ``str``);
* finite floats stay; NaN, ``inf`` and ``-inf`` become ``None`` (JSON has no such numbers);
* numpy scalars become the matching Python value (and then follow the rules above), numpy
  arrays become (nested) lists;
* paths (:class:`os.PathLike`) become their text (``str(path)``);
* anything else becomes ``unknown(value)`` — ``repr`` by default (the registry's choice: it
  keeps the object's type visible), ``str`` where a caller prefers the plain text.

:func:`json_default` is the ``default=`` hook for :func:`json.dumps` with the same conversions
for the values json cannot write itself, except that it never rewrites numbers: a NaN stays NaN,
so ``allow_nan=False`` still refuses it. Unknown objects raise ``TypeError`` there.

:func:`plain_scalar` is the one-level step both use: a numpy scalar as the Python value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any


def plain_scalar(value: Any) -> Any:
    """A numpy scalar as the matching Python value (``numpy.str_`` as ``str``); other values unchanged."""
    if isinstance(value, str):
        return str(value)  # numpy.str_ too, whose repr is not a plain literal
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 and not isinstance(value, bytes):
        return value.item()
    return value


def to_jsonable(value: Any, *, unknown: Callable[[Any], Any] = repr) -> Any:
    """A plain-JSON deep copy of ``value`` (see the module's docstring for each kind of value)."""
    value = plain_scalar(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, unknown=unknown) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, unknown=unknown) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):  # numpy arrays
        return to_jsonable(value.tolist(), unknown=unknown)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return unknown(value)


def json_default(value: Any) -> Any:
    """The ``default=`` hook of :func:`json.dumps`: numpy values, paths and sets; others raise ``TypeError``."""
    plain = plain_scalar(value)
    if plain is not value:
        return plain
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
