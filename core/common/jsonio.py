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

:func:`loads` / :func:`read_json_file` and :func:`dumps` read and write every registry JSON file
with orjson: no recursion, nesting and size bounded (:class:`JSONLimitError`), NaN refused at write.
"""

from __future__ import annotations

import json
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


# -- reading and writing JSON text (orjson: no recursion, bounded nesting) ---------------------

MAX_READ_DEPTH = 1024  # orjson refuses deeper documents when reading
MAX_WRITE_DEPTH = 254  # ... and deeper values when writing


class JSONLimitError(ValueError):
    """JSON past a size or nesting limit; the message reads after a subject ("Metadata ...")."""


def loads(data: bytes | bytearray | memoryview | str, *, max_bytes: int | None = None) -> Any:
    """Parse JSON with orjson: no recursion, nesting bounded at :data:`MAX_READ_DEPTH`.

    What orjson refuses for another reason is read as :func:`json.loads` reads it (``NaN`` and
    ``Infinity`` tokens, lone surrogate escapes), so that the caller's validation names the value
    at fault; that parser's recursion limit then bounds the nesting. Raises
    :class:`JSONLimitError` past ``max_bytes`` or either nesting bound, ``ValueError`` for
    anything that is not JSON.
    """
    import orjson

    if max_bytes is not None and len(data) > max_bytes:
        raise JSONLimitError(f"is {len(data):,} bytes, over the {max_bytes:,}-byte limit")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise JSONLimitError(f"is nested more than {MAX_READ_DEPTH:,} levels deep") from exc
        first = exc
    try:
        return json.loads(bytes(data) if isinstance(data, bytearray | memoryview) else data)
    except RecursionError:
        raise JSONLimitError("is nested too deeply to read") from first
    except ValueError:
        raise first from None


def read_json_file(path: str | os.PathLike, *, max_bytes: int) -> Any:
    """:func:`loads` of a file, reading at most ``max_bytes + 1`` bytes of it."""
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    return loads(data, max_bytes=max_bytes)


def dumps(value: Any, *, indent: bool = False, allow_nan: bool = False) -> bytes:
    """JSON bytes with orjson (2-space indentation with ``indent``), values converted as :func:`json_default`.

    Like ``json.dumps(allow_nan=False)``, a NaN or infinity raises ``ValueError`` (orjson alone
    would write ``null``); with ``allow_nan`` they become ``null``. Non-text keys are written as
    text. Unknown objects, lone surrogates and integers beyond 64 bits raise ``TypeError``;
    nesting deeper than :data:`MAX_WRITE_DEPTH` raises :class:`JSONLimitError`.
    """
    import orjson

    if not allow_nan:
        _refuse_non_finite(value)
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(value, default=json_default, option=option)
    except orjson.JSONEncodeError as exc:
        if "Recursion limit" in str(exc):
            raise JSONLimitError(f"is nested more than {MAX_WRITE_DEPTH} levels deep") from exc
        raise


def _refuse_non_finite(value: Any) -> None:
    """Raise ``ValueError`` for a NaN or infinity anywhere in ``value`` (no recursion; stops at cycles' depth)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_WRITE_DEPTH + 1:
            continue  # orjson refuses it as too deep
        if isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError("Out of range float values are not JSON compliant")
        elif isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list | tuple):
            stack.extend((v, depth + 1) for v in node)
        elif node is None or isinstance(node, str | int):
            continue
        else:
            try:
                converted = json_default(node)
            except TypeError:
                continue  # orjson raises TypeError for it
            stack.append((converted, depth + 1))
