"""Model-file safety: what the registry agrees to deserialize, and how it checks.

Rules (see the README's "Safety" section):

* Models are stored as skops files. Loading one audits the types it would construct
  against :data:`ALLOWED_TYPES`, a list this application owns. It is never built from
  what the file itself declares.
* A pickle (``.pkl``, joblib, compressed joblib, or anything else whose *content* is a
  pickle stream) runs code when loaded. It is loaded only with explicit trust: a
  signature made with this user's key over a hash this registry recorded, or
  ``trusted=True`` from a person who chose to trust it.
* :func:`inspect_model_file` tells a person what a file would import or construct
  without executing any of it.
* Decision trees inside a skops file are checked structurally before use: crafted node
  indices can crash the process at predict time.
"""

from __future__ import annotations

import _compat_pickle
import bz2
import gzip
import hmac
import io
import json
import lzma
import os
import pickletools
import re
import secrets
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common.userdirs import config_dir
from core.errors import IntegrityError, UntrustedModelError

# Types beyond skops' own defaults that the project's pipelines need (RandomForest,
# MLP trained with Adam, calibrated SVC). Tested against real pipelines in tests/.
ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.isotonic.IsotonicRegression",
    }
)

SKOPS = "skops"
PICKLE = "pickle"
UNKNOWN = "unknown"

# Magic numbers of the compressions joblib can wrap a pickle in.
_COMPRESSED_PICKLE_MAGIC = (
    (b"\x78\x01", "zlib"),
    (b"\x78\x5e", "zlib"),
    (b"\x78\x9c", "zlib"),
    (b"\x78\xda", "zlib"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
_MAX_SCAN_BYTES = 256 << 20  # decompressed bytes examined when scanning a compressed pickle


# -- format detection -------------------------------------------------------------------------


def detect_format(source: str | os.PathLike | bytes) -> str:
    """``"skops"``, ``"pickle"`` or ``"unknown"``, judged by content, never by file name."""
    head = _head(source, 64)
    if head.startswith(b"PK\x03\x04"):
        try:
            with _open_zip(source) as zf:
                return SKOPS if "schema.json" in zf.namelist() else UNKNOWN
        except zipfile.BadZipFile:
            return UNKNOWN
    if _looks_like_pickle(head):
        return PICKLE
    if any(head.startswith(magic) for magic, _ in _COMPRESSED_PICKLE_MAGIC):
        return PICKLE
    return UNKNOWN


def _looks_like_pickle(head: bytes) -> bool:
    # Protocol 2+ starts with PROTO (0x80) and the protocol number; protocols 0/1 start
    # with an opcode such as '(' MARK, ']' EMPTY_LIST, '}' EMPTY_DICT, 'c' GLOBAL.
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    return bool(head) and head[:1] in (b"(", b"]", b"}", b"c", b"\x8c", b"N", b"I")


def _head(source, n: int) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source[:n])
    with open(source, "rb") as fh:
        return fh.read(n)


def _open_zip(source) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes | bytearray) else source)


# -- inspection (never executes anything) -----------------------------------------------------


@dataclass
class InspectionReport:
    """What a model file would import or construct, and which of those are not trusted."""

    path: str
    format: str
    imports: list[str] = field(default_factory=list)
    untrusted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def safe(self) -> bool:
        """True when the file can be loaded without a person's trust."""
        return self.format == SKOPS and not self.untrusted

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "safe": self.safe,
            "imports": self.imports,
            "untrusted": self.untrusted,
            "notes": self.notes,
        }


def inspect_model_file(source: str | os.PathLike | bytes, *, name: str | None = None) -> InspectionReport:
    """List, without executing anything, the globals a pickle would import or the types a
    skops file would construct, marking those outside the allowlist."""
    label = name or (str(source) if not isinstance(source, bytes | bytearray) else "<bytes>")
    fmt = detect_format(source)
    report = InspectionReport(path=label, format=fmt)
    if fmt == SKOPS:
        report.imports = sorted(skops_types(source))
        report.untrusted = sorted(set(skops_untrusted_types(source)) - ALLOWED_TYPES)
    elif fmt == PICKLE:
        imports, complete = pickle_globals(source)
        report.imports = imports
        report.untrusted = list(imports)  # any import of a pickle runs with full rights
        report.notes.append(
            "A pickle can run arbitrary code when it is loaded; load it only if you trust its source."
        )
        if not complete:
            report.notes.append(
                "The scan could not account for the whole file (array data it cannot follow, a corrupt "
                "file, or contents arranged to hide what they import); the list may be incomplete; do not "
                "trust this file unless you know where it came from."
            )
    else:
        report.notes.append("This is neither a skops file nor a pickle; it cannot be loaded as a model.")
    return report


def pickle_globals(source: str | os.PathLike | bytes) -> tuple[list[str], bool]:
    """Statically list the ``module.name`` globals a pickle file imports, without executing it.

    Returns the names in order of first appearance, without duplicates, and ``complete``.
    In a protocol 0-2 stream a Python 2 name is listed as written and, after it, as the
    unpickler maps it (``__builtin__.eval``, then ``builtins.eval``). The scan models the
    unpickler's stack and memo symbolically (strings as strings, everything else opaque)
    over every pickle stream in the file, and also follows joblib's object arrays (a nested
    pickle stream after a ``NumpyArrayWrapper``, after which the outer stream goes on).

    ``complete`` is True only when all of the following hold, and then the list holds every
    name that ``pickle.load`` (called until the end of the file) or ``joblib.load`` would pass
    to ``find_class``:

    * the whole content was read (nothing cut at 256 MiB of decompressed data, no failed or
      unsupported decompression);
    * the content is one or more pickle streams, back to back, each parsed from its first
      opcode to its ``STOP`` with no unknown opcode, truncated argument or trailing bytes;
    * the symbolic stack and memo never went wrong (no underflow, no missing ``MARK``, no
      memo read of an index never written);
    * every ``STACK_GLOBAL`` took two known strings; there is no ``EXT1/2/4`` (extension
      registry) or persistent id, whose targets cannot be known statically;
    * nothing could be a joblib array wrapper: no wrapper class is named, and no ``BUILD``
      applies to an object of unknown origin. (Joblib writes array payloads inline after such
      a ``BUILD``: raw bytes whose length depends on the dtype and shape, which this scan
      does not compute, so any file holding numpy arrays written by ``joblib.dump`` is
      reported incomplete.)

    Limit: objects built at load time by the helpers a pickle imports (``builtins.getattr``
    and the like) are not modelled beyond their origin; such helpers are in the list.

    When ``complete`` is False the list is a best effort: the scan goes on after a bad
    stream from the next byte that starts a pickle stream, and adds names that look like
    imports in the raw bytes. It is never a proof of safety.
    """
    data, whole = _decompressed(source)
    scan = _PickleScan(data)
    try:
        scan.run()
    except Exception:  # a bug of the model must not read as a clean scan
        scan.complete = False
    if not (scan.complete and whole):
        for name in _names_in_raw_bytes(data):
            _add(scan.found, name)
        return scan.found, False
    return scan.found, True


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


# -- the symbolic pickle machine ---------------------------------------------------------------

_STRING_OPS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}
)
_TUPLE_SIZES = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_IN_PLACE_OPS = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"})
# Joblib's placeholders for numpy arrays: a BUILD of one makes joblib read an inline payload.
_WRAPPER_NAMES = frozenset({"NumpyArrayWrapper", "NDArrayWrapper"})
# Helpers the pickle protocol uses to create an instance of a class passed as first argument.
_CLASS_ARG_HELPERS = frozenset(
    {"copyreg._reconstructor", "copy_reg._reconstructor", "copyreg.__newobj__", "copy_reg.__newobj__",
     "copyreg.__newobj_ex__"}
)
_STREAM_START = re.compile(rb"\x80[\x02-\x05]")  # PROTO 2..5: where joblib's nested streams begin


class _Sym:
    """An opaque value on the symbolic stack."""

    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str = "") -> None:
        self.kind = kind  # "mark", "data", "unknown", "global" (the import name), "made" (called name)
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>".replace(" >", ">")


_MARK = _Sym("mark")
_DATA = _Sym("data")  # literal data: None, numbers, bytes, lists, dicts, sets
_UNKNOWN = _Sym("unknown")  # anything at all (an unresolved import, a call of a computed callable)


def _is_wrapper_name(name: str) -> bool:
    return name.rpartition(".")[2] in _WRAPPER_NAMES


class _Stream:
    """The state of one unpickler: stack (marks included), memo, protocol."""

    __slots__ = ("stack", "memo", "proto")

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0


class _PickleScan:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.found: list[str] = []
        self.complete = True
        # Once the scan has lost the thread (a bad stream, an array payload) the bytes it reads
        # may be array data: it then lists only names that look like names, no placeholders.
        self.speculative = False

    def run(self) -> None:
        data = self.data
        if not data:
            self.complete = False
            return
        pos, state = 0, _Stream()
        suspended: list[_Stream] = []  # outer joblib streams waiting for a nested one to end
        while True:
            event, pos = self._parse(pos, state)
            if event == "stop":
                if suspended:  # the end of a joblib object array: the outer stream goes on
                    state = suspended.pop()
                    continue
                if pos >= len(data):
                    return
                state = _Stream()  # another stream follows (pickle.dump called repeatedly)
                continue
            if event == "nested":
                suspended.append(state)
                state = _Stream()
                continue
            # The bytes from pos on are not a pickle stream: resynchronise on the next one.
            self.complete = False
            self.speculative = True
            match = _STREAM_START.search(data, pos + 1)
            if match is None:
                return
            pos, state = match.start(), _Stream()

    def _parse(self, pos: int, st: _Stream) -> tuple[str, int]:
        """Run opcodes from ``pos`` until a STOP ("stop", the position after it), the start of
        a joblib nested stream ("nested", its position) or a parse error ("error", the
        position of the last opcode read)."""
        stream = io.BytesIO(self.data)
        stream.seek(pos)
        ops = pickletools.genops(stream)
        last = pos
        while True:
            try:
                opcode, arg, at = next(ops)
            except StopIteration:
                return "error", last
            except Exception:  # unknown opcode, truncated argument, bad text, end of data
                return "error", last
            last = at
            name = opcode.name
            if name == "STOP":
                self._pop(st)
                return "stop", stream.tell()
            if name == "BUILD":
                self._pop(st)
                target = self._top(st)
                if target is _UNKNOWN or (isinstance(target, _Sym) and target.kind == "made"
                                          and _is_wrapper_name(target.name)):
                    # joblib reads an array payload here; only an object array's nested
                    # stream can be followed.
                    self.complete = False
                    after = stream.tell()
                    if _STREAM_START.match(self.data, after):
                        return "nested", after
                    self.speculative = True  # raw array bytes, most likely
                continue
            self._step(st, name, opcode, arg, at)

    def _step(self, st: _Stream, name: str, opcode, arg, at: int) -> None:
        stack = st.stack
        if name in _STRING_OPS:
            if isinstance(arg, str):
                if _is_wrapper_name(arg):
                    self.complete = False
                stack.append(arg)
            else:
                stack.append(_DATA)
        elif name == "MARK":
            stack.append(_MARK)
        elif name == "POP":  # pops a value or, as the unpicklers do, a bare mark
            if stack:
                stack.pop()
            else:
                self.complete = False
        elif name == "POP_MARK":
            self._pop_to_mark(st)
        elif name == "DUP":
            value = self._top(st)
            stack.append(value)
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            if arg < 0:
                self.complete = False
            st.memo[arg] = self._top(st)
        elif name == "MEMOIZE":
            st.memo[len(st.memo)] = self._top(st)
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg in st.memo:
                stack.append(st.memo[arg])
            else:
                self.complete = False
                stack.append(_UNKNOWN)
        elif name == "GLOBAL":
            stack.append(_Sym("global", self._import(st, *self._inline_pair(at))))
        elif name == "INST":
            cls = _Sym("global", self._import(st, *self._inline_pair(at)))
            stack.append(self._call(cls, tuple(self._pop_to_mark(st))))
        elif name == "STACK_GLOBAL":
            attr, module = self._pop(st), self._pop(st)
            if isinstance(module, str) and isinstance(attr, str):
                stack.append(_Sym("global", self._import(st, module, attr)))
            else:
                self._placeholder("<unresolved STACK_GLOBAL>")
                self.complete = False
                stack.append(_UNKNOWN)
        elif name in ("EXT1", "EXT2", "EXT4"):
            self._placeholder(f"<extension code {arg}>")
            self.complete = False
            stack.append(_UNKNOWN)
        elif name in ("PERSID", "BINPERSID"):
            if name == "BINPERSID":
                self._pop(st)
            self.complete = False  # whatever the loader's persistent_load makes of it
            stack.append(_UNKNOWN)
        elif name == "REDUCE":
            args, func = self._pop(st), self._pop(st)
            stack.append(self._call(func, args))
        elif name == "NEWOBJ":
            self._pop(st)
            stack.append(self._call(self._pop(st), ()))
        elif name == "NEWOBJ_EX":
            self._pop(st)
            self._pop(st)
            stack.append(self._call(self._pop(st), ()))
        elif name == "OBJ":
            items = self._pop_to_mark(st)
            if items:
                stack.append(self._call(items[0], tuple(items[1:])))
            else:
                self.complete = False
                stack.append(_UNKNOWN)
        elif name == "TUPLE":
            stack.append(tuple(self._pop_to_mark(st)))
        elif name in _TUPLE_SIZES:
            items = [self._pop(st) for _ in range(_TUPLE_SIZES[name])]
            stack.append(tuple(reversed(items)))
        elif name == "PROTO":
            st.proto = arg
        else:
            self._generic(st, name, opcode)

    def _generic(self, st: _Stream, name: str, opcode) -> None:
        """Pop and push what pickletools says the opcode pops and pushes."""
        before = [s.name for s in opcode.stack_before]
        if "mark" in before:
            self._pop_to_mark(st)
            before = before[: before.index("mark")]
        popped = [self._pop(st) for _ in before]
        if name in _IN_PLACE_OPS:  # the container stays on the stack, modified
            st.stack.append(popped[-1] if popped else _UNKNOWN)
            return
        for _ in opcode.stack_after:
            st.stack.append(_DATA)

    def _pop(self, st: _Stream) -> Any:
        if not st.stack or st.stack[-1] is _MARK:
            self.complete = False  # stack underflow: the real unpickler would fail here
            return _UNKNOWN
        return st.stack.pop()

    def _top(self, st: _Stream) -> Any:
        if not st.stack or st.stack[-1] is _MARK:
            self.complete = False
            return _UNKNOWN
        return st.stack[-1]

    def _pop_to_mark(self, st: _Stream) -> list[Any]:
        stack = st.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1:]
                del stack[i:]
                return items
        self.complete = False  # no MARK to pop to
        items = stack[:]
        stack.clear()
        return items

    @staticmethod
    def _call(func: Any, args: Any) -> _Sym:
        """The symbolic result of calling ``func`` (REDUCE, NEWOBJ, OBJ, INST)."""
        if not isinstance(func, _Sym) or func.kind != "global":
            return _UNKNOWN  # a computed callable: the result could be anything
        if func.name in _CLASS_ARG_HELPERS:
            cls = args[0] if isinstance(args, tuple) and args else _UNKNOWN
            if isinstance(cls, _Sym) and cls.kind == "global":
                return _Sym("made", cls.name)
            return _UNKNOWN
        return _Sym("made", func.name)

    def _inline_pair(self, at: int) -> tuple[str, str]:
        """GLOBAL/INST's two text lines, decoded as the unpickler decodes them."""
        data = self.data
        first = data.index(b"\n", at + 1)
        second = data.index(b"\n", first + 1)
        return (data[at + 1:first].decode("utf-8", "replace"),
                data[first + 1:second].decode("utf-8", "replace"))

    def _placeholder(self, text: str) -> None:
        if not self.speculative:
            _add(self.found, text)

    def _import(self, st: _Stream, module: str, attr: str) -> str:
        name = f"{module}.{attr}"
        if self.speculative and not (_NAME.fullmatch(module) and _NAME.fullmatch(attr)):
            return name
        _add(self.found, name)
        if st.proto < 3:  # the unpickler maps Python 2 names (fix_imports)
            if (module, attr) in _compat_pickle.NAME_MAPPING:
                module, attr = _compat_pickle.NAME_MAPPING[(module, attr)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
            _add(self.found, f"{module}.{attr}")
        if _is_wrapper_name(name) or _is_wrapper_name(attr):
            self.complete = False  # joblib array payloads follow, which the scan cannot size
        return name


_IDENT = rb"[A-Za-z_][A-Za-z0-9_.]{0,200}"
_NAME = re.compile(_IDENT.decode())
_RAW_STACK_GLOBAL = re.compile(
    rb"\x8c([\x01-\xc8])(" + _IDENT + rb")(?:\x94|q[\x00-\xff]|r[\x00-\xff]{4})?"
    rb"\x8c([\x01-\xc8])(" + _IDENT + rb")(?:\x94|q[\x00-\xff]|r[\x00-\xff]{4})?\x93"
)
_RAW_GLOBAL = re.compile(rb"[ci](" + _IDENT + rb")\n(" + _IDENT + rb")\n")


def _names_in_raw_bytes(data: bytes) -> list[str]:
    """Names that look like imports anywhere in ``data`` (for an incomplete scan only)."""
    names: list[str] = []
    for match in _RAW_STACK_GLOBAL.finditer(data):
        n1, module, n2, attr = match.groups()
        if n1[0] == len(module) and n2[0] == len(attr):
            _add(names, f"{module.decode()}.{attr.decode()}")
    for match in _RAW_GLOBAL.finditer(data):
        _add(names, f"{match.group(1).decode()}.{match.group(2).decode()}")
    return names


def _decompressed(source) -> tuple[bytes, bool]:
    """The pickle bytes of ``source``, decompressed if need be, and whether they are all of
    them (False when decompression failed part-way, stopped at ``_MAX_SCAN_BYTES`` or is not
    available here, as for lz4)."""
    raw = bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
    for magic, kind in _COMPRESSED_PICKLE_MAGIC:
        if not raw.startswith(magic):
            continue
        if kind == "zlib":
            decompressor = zlib.decompressobj()
            try:
                out = decompressor.decompress(raw, _MAX_SCAN_BYTES)
            except zlib.error:
                return b"", False
            return out, decompressor.eof and not decompressor.unconsumed_tail
        opener = {
            "gzip": lambda fh: gzip.GzipFile(fileobj=fh),  # its first parameter is a file *name*
            "bz2": bz2.BZ2File,
            "xz": lzma.LZMAFile,
            "lzma": lzma.LZMAFile,
        }.get(kind)
        if opener is None:
            return b"", False
        out = bytearray()
        try:
            with opener(io.BytesIO(raw)) as fh:
                while len(out) < _MAX_SCAN_BYTES:
                    chunk = fh.read(min(1 << 20, _MAX_SCAN_BYTES - len(out)))
                    if not chunk:
                        return bytes(out), True
                    out += chunk
                return bytes(out), not fh.read(1)
        except (OSError, EOFError, lzma.LZMAError, zlib.error):
            return bytes(out), False
    return raw, True


def skops_types(source: str | os.PathLike | bytes) -> set[str]:
    """Every type a skops file's schema asks to construct."""
    with _open_zip(source) as zf:
        schema = json.loads(zf.read("schema.json"))
    types: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, cls = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(cls, str):
                types.add(f"{module}.{cls}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return types


def skops_untrusted_types(source: str | os.PathLike | bytes) -> list[str]:
    """Types in a skops file that skops itself does not trust by default."""
    import skops.io as sio

    if isinstance(source, bytes | bytearray):
        return list(sio.get_untrusted_types(data=bytes(source)))
    return list(sio.get_untrusted_types(file=str(source)))


# -- loading and saving -------------------------------------------------------------------------


def dump_skops(model: Any, path: str | os.PathLike) -> None:
    """Write ``model`` as a skops file (not atomically: callers write to a temp path)."""
    import skops.io as sio

    sio.dump(model, str(path))


def dumps_skops(model: Any) -> bytes:
    import skops.io as sio

    return sio.dumps(model)


def load_skops(source: str | os.PathLike | bytes, *, trusted: bool = False, name: str | None = None) -> Any:
    """Load a skops file, constructing only allowlisted types unless ``trusted``."""
    import skops.io as sio

    label = name or (Path(source).name if not isinstance(source, bytes | bytearray) else "the model file")
    if detect_format(source) != SKOPS:
        raise UntrustedModelError(f"{label} is not a skops file; only skops files load without trust.")
    reported = skops_untrusted_types(source)
    outside = sorted(set(reported) - ALLOWED_TYPES)
    if outside and not trusted:
        raise UntrustedModelError(
            f"{label} would construct types this application does not trust ({', '.join(outside[:5])}"
            f"{'...' if len(outside) > 5 else ''}); import it with trust only if you know its source.",
            untrusted=outside,
        )
    try:
        if isinstance(source, bytes | bytearray):
            model = sio.loads(bytes(source), trusted=reported)
        else:
            model = sio.load(str(source), trusted=reported)
    except UntrustedModelError:
        raise
    except Exception as exc:  # skops raises many kinds for a damaged file
        raise IntegrityError(f"{label} could not be read as a model ({type(exc).__name__}: {exc}).") from exc
    check_tree_structure(model, name=label)
    return model


def sklearn_version() -> str:
    """The running scikit-learn's version, recorded with every model file."""
    import sklearn

    return sklearn.__version__


def load_pickle(path: str | os.PathLike) -> Any:
    """Deserialize a pickle / joblib file. Only call after the trust decision."""
    import joblib

    return joblib.load(path)


# -- structural checks of decision trees ------------------------------------------------------


def iter_trees(obj: Any, _seen: set[int] | None = None, _depth: int = 0):
    """Yield every ``sklearn.tree._tree.Tree`` reachable from an estimator."""
    seen = _seen if _seen is not None else set()
    if id(obj) in seen or _depth > 12:
        return
    seen.add(id(obj))
    if type(obj).__name__ == "Tree" and type(obj).__module__ == "sklearn.tree._tree":
        yield obj
        return
    if isinstance(obj, list | tuple):
        for item in obj:
            yield from iter_trees(item, seen, _depth + 1)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from iter_trees(item, seen, _depth + 1)
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("sklearn"):
        for item in vars(obj).values():
            yield from iter_trees(item, seen, _depth + 1)


def check_tree_structure(model: Any, *, name: str = "the model file") -> int:
    """Reject trees whose node arrays point outside themselves; returns the number checked.

    Child indices must lie inside the node array and after their parent (so walks end),
    split features below the tree's feature count, thresholds finite.
    """
    import numpy as np

    count = 0
    for tree in iter_trees(model):
        count += 1
        n = int(tree.node_count)
        left = np.asarray(tree.children_left)
        right = np.asarray(tree.children_right)
        feature = np.asarray(tree.feature)
        threshold = np.asarray(tree.threshold)
        problem = None
        if n < 1 or any(len(a) != n for a in (left, right, feature, threshold)) or tree.value.shape[0] != n:
            problem = "node arrays of inconsistent length"
        else:
            leaf = left == -1
            idx = np.arange(n)
            if np.any(leaf != (right == -1)):
                problem = "a node with only one child"
            elif np.any(~leaf & ((left <= idx) | (left >= n) | (right <= idx) | (right >= n))):
                problem = "child indices outside the node array"
            elif np.any(~leaf & ((feature < 0) | (feature >= int(tree.n_features)))):
                problem = "split features outside the feature count"
            elif np.any(~leaf & ~np.isfinite(threshold)):
                problem = "non-finite split thresholds"
        if problem:
            raise UntrustedModelError(
                f"{name} holds a malformed decision tree ({problem}); it was probably crafted and will not be used.",
                untrusted=["sklearn.tree._tree.Tree"],
            )
    return count


# -- signing pickles with a per-user key -------------------------------------------------------


def signing_key() -> bytes:
    """This user's secret key, created on first use and readable by the user alone."""
    path = config_dir() / "signing.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
        fh.flush()
        os.fsync(fh.fileno())
    return key


def sign_digest(sha256_hex: str) -> str:
    return hmac.new(signing_key(), sha256_hex.encode("ascii"), "sha256").hexdigest()


def signature_valid(sha256_hex: str, signature: str | None) -> bool:
    if not signature or not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign_digest(sha256_hex), signature)
