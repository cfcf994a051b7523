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
* Every decision tree reachable from a loaded model (skops or trusted pickle) is checked
  structurally before use, against the estimator that owns it: crafted node arrays can
  crash the process at predict time, whoever trusts the file.
"""

from __future__ import annotations

import _compat_pickle
import bz2
import contextlib
import gzip
import hmac
import io
import lzma
import os
import pickletools
import re
import secrets
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from core.common import jsonio
from core.common.files import fsync_dir, read_regular_file
from core.common.userdirs import config_dir
from core.errors import IntegrityError, SigningKeyError, UnsafeArchiveError, UntrustedModelError
from core.registry import archives

# Every type a model file may construct without a person's trust: a finite list, owned by
# this application and never taken from the file, so that the structural walk below
# (:func:`check_tree_structure`) only has to prove these types safe. It is exactly what the
# project's three pipelines (core.training: RandomForestModel, NeuralNetworkModel, SVMModel,
# with every scaler and missing-value setting they offer) and the containers around them
# construct; tests/test_tree_walker.py derives it from real fitted pipelines. Anything else
# (gradient boosting, nearest neighbours, any function...) needs an explicit trust decision.
_ALLOWED_FAMILIES: dict[str, frozenset[str]] = {
    # The plain values and containers skops writes for any estimator's state.
    "builtins": frozenset({
        "builtins.dict", "builtins.list", "builtins.tuple", "builtins.str", "builtins.int",
        "builtins.float", "builtins.bool", "builtins.NoneType",
    }),
    # Fitted arrays, their dtypes and scalars, and the random state an estimator keeps.
    "numpy": frozenset({
        "numpy.ndarray", "numpy.dtype", "numpy.float64", "numpy.int64", "numpy.random.mtrand.RandomState",
    }),
    # Containers: a Pipeline; a ColumnTransformer, whose column selections are slices and whose
    # fitted "passthrough" marker is a FunctionTransformer without a function ("drop" and
    # "remainder" are plain strings). A function given to a FunctionTransformer is its own type
    # (e.g. "_operator.pos") and is not on this list.
    "containers": frozenset({
        "sklearn.pipeline.Pipeline",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "builtins.slice",
    }),
    # Preprocessing of core.training.classifier.build_pipeline: the imputer (its missing_indicator
    # adds a MissingIndicator) and the scalers "standard", "power" and "quantile".
    "preprocessing": frozenset({
        "sklearn.impute._base.SimpleImputer",
        "sklearn.impute._base.MissingIndicator",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._data.PowerTransformer",
        "sklearn.preprocessing._data.QuantileTransformer",
    }),
    # RandomForestModel: the forest, its member trees and their node arrays (checked by the walker).
    "random_forest": frozenset({
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
    }),
    # NeuralNetworkModel: the network (always solver="adam"), its optimizer and label binarizer.
    "neural_network": frozenset({
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.preprocessing._label.LabelBinarizer",
    }),
    # SVMModel: an SVC inside CalibratedClassifierCV, its calibrated parts, and the isotonic
    # calibrator of the calibration_method="isotonic" setting it accepts.
    "svm": frozenset({
        "sklearn.svm._classes.SVC",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.isotonic.IsotonicRegression",
    }),
}
ALLOWED_TYPES: frozenset[str] = frozenset().union(*_ALLOWED_FAMILIES.values())

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
MAX_MODEL_FILE_BYTES = archives.MODEL_FILE_LIMITS.max_total  # a skops file itself, on disk
MAX_SCHEMA_BYTES = 64 << 20  # a skops schema.json (a 300-tree forest's is ~5 MB)
# skops parses schema.json with json.loads and walks it recursively; the project's pipelines
# nest ~20 levels, and skops handles 200 without nearing Python's recursion limit.
MAX_SCHEMA_DEPTH = 200


# -- format detection -------------------------------------------------------------------------


def detect_format(source: str | os.PathLike | bytes, *, name: str | None = None) -> str:
    """``"skops"``, ``"pickle"`` or ``"unknown"``, judged by content, never by file name.

    A zip is checked against :data:`archives.MODEL_FILE_LIMITS` first: a zip bomb raises
    :class:`~core.errors.UnsafeArchiveError` rather than passing as "unknown".
    """
    head = _head(source, 64)
    if head.startswith(b"PK\x03\x04"):
        try:
            limits = archives.MODEL_FILE_LIMITS
            with archives.open_zip(source, limits=limits, label=_label(source, name)) as zf:
                return SKOPS if "schema.json" in zf.namelist() else UNKNOWN
        except archives.NotAZipError:
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


def _label(source, name: str | None = None) -> str:
    if name:
        return name
    return "the model file" if isinstance(source, bytes | bytearray) else Path(source).name


def _read_skops(source, label: str) -> tuple[bytes, set[str]]:
    """A skops file's bytes and every type its schema names, after the zip checks (sizes, ratios,
    and every member inflated once in bounded chunks) and the schema's size and nesting checks.

    Everything after this reads the returned bytes, so what was checked is what is loaded.
    """
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        with open(source, "rb") as fh:
            data = fh.read(MAX_MODEL_FILE_BYTES + 1)
        if len(data) > MAX_MODEL_FILE_BYTES:
            raise UnsafeArchiveError(
                f"{label} is larger than {MAX_MODEL_FILE_BYTES:,} bytes; it is too large to be a model file."
            )
    with archives.open_zip(data, limits=archives.MODEL_FILE_LIMITS, label=label, verify_sizes=True) as zf:
        info = next((i for i in zf.files if i.filename == "schema.json"), None)
        if info is None:
            raise UntrustedModelError(f"{label} is not a skops file (it has no schema.json); it cannot be loaded.")
        if info.file_size > MAX_SCHEMA_BYTES:
            raise IntegrityError(
                f"{label} has a {info.file_size:,}-byte schema.json, over the {MAX_SCHEMA_BYTES:,}-byte limit; "
                "it is not a model file this application reads."
            )
        raw = archives.read_member(zf, info)
    try:
        schema = jsonio.loads(raw, max_bytes=MAX_SCHEMA_BYTES)
    except jsonio.JSONLimitError as exc:
        raise IntegrityError(f"The schema.json of {label} {exc}; it was probably crafted and will not be read.") from exc
    except ValueError as exc:
        raise IntegrityError(f"The schema.json of {label} is not valid JSON ({exc}); the file is damaged.") from exc
    types, depth = _schema_walk(schema)
    if depth > MAX_SCHEMA_DEPTH:
        raise IntegrityError(
            f"The schema.json of {label} is nested more than {MAX_SCHEMA_DEPTH} levels deep; "
            "it was probably crafted and will not be read."
        )
    if not isinstance(schema, dict):
        raise IntegrityError(f"The schema.json of {label} is not a JSON object; the file is damaged.")
    return data, types


def _schema_walk(schema: Any) -> tuple[set[str], int]:
    """Every type a parsed schema names, and how deeply its lists and objects nest (one walk,
    no recursion)."""
    types: set[str] = set()
    deepest, stack = 0, [(schema, 1)] if isinstance(schema, dict | list) else []
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            module, cls = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(cls, str):
                types.add(f"{module}.{cls}")
            children = node.values()
        else:
            children = node
        stack.extend((v, depth + 1) for v in children if isinstance(v, dict | list))
    return types, deepest


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
    shown = _label(source, name)
    if not isinstance(source, bytes | bytearray):
        source = read_regular_file(source)  # every finding below is about the same bytes
    fmt = detect_format(source, name=shown)
    report = InspectionReport(path=label, format=fmt)
    if fmt == SKOPS:
        data, types = _read_skops(source, shown)
        report.imports = sorted(types)
        report.untrusted = _outside_allowlist(types, _untrusted_types(data, shown))
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
    return _read_skops(source, _label(source))[1]


def skops_untrusted_types(source: str | os.PathLike | bytes) -> list[str]:
    """Types in a skops file that skops itself does not trust by default."""
    label = _label(source)
    return _untrusted_types(_read_skops(source, label)[0], label)


def _untrusted_types(data: bytes, label: str) -> list[str]:
    """What skops reports as untrusted in checked skops bytes (see :func:`_read_skops`)."""
    from core.registry.skopsio import complete_default_trust, skops_io

    sio = skops_io()
    complete_default_trust()  # what skops trusts by default decides what it reports
    try:
        return list(sio.get_untrusted_types(data=data))
    except Exception as exc:  # skops raises many kinds for a damaged file
        raise IntegrityError(f"{label} could not be read as a model ({type(exc).__name__}: {exc}).") from exc


def untrusted_types(source: str | os.PathLike | bytes) -> list[str]:
    """Sorted types a skops file would construct that are not on :data:`ALLOWED_TYPES`."""
    label = _label(source)
    data, types = _read_skops(source, label)
    return _outside_allowlist(types, _untrusted_types(data, label))


def _outside_allowlist(named: set[str], reported: list[str]) -> list[str]:
    """Every type the schema names and every type skops reports as untrusted, less the allowlist
    (whatever skops itself trusts by default): estimators first, so a message names them."""
    return _not_allowed(named | set(reported))


def _not_allowed(types: set[str]) -> list[str]:
    return sorted(types - ALLOWED_TYPES, key=lambda t: (not _is_estimator_name(t), t))


def _is_estimator_name(type_name: str) -> bool:
    return type_name.rsplit(".", 1)[-1].endswith(("Classifier", "Regressor", "Transformer", "Pipeline"))


# -- loading and saving -------------------------------------------------------------------------


def dump_skops(model: Any, path: str | os.PathLike) -> None:
    """Write ``model`` as a skops file (not atomically: callers write to a temp path)."""
    from core.registry.skopsio import skops_io

    skops_io().dump(model, str(path))


def dumps_skops(model: Any) -> bytes:
    from core.registry.skopsio import skops_io

    return skops_io().dumps(model)


def load_skops(source: str | os.PathLike | bytes, *, trusted: bool = False, name: str | None = None) -> Any:
    """Load a skops file, constructing only allowlisted types unless ``trusted``."""
    label = _label(source, name)
    if not isinstance(source, bytes | bytearray):
        source = read_regular_file(source)  # audited and loaded from the same bytes, read once
    if detect_format(source, name=label) != SKOPS:
        raise UntrustedModelError(f"{label} is not a skops file; only skops files load without trust.")
    return _load_skops_bytes(source, trusted, label)


def _load_skops_bytes(source: bytes, trusted: bool, label: str) -> Any:
    """:func:`load_skops` of bytes already known to be a skops file."""
    from core.registry.skopsio import skops_io

    sio = skops_io()
    data, named = _read_skops(source, label)  # the parsed schema is not kept: skops parses its own
    if trusted:
        allowed = _untrusted_types(data, label)  # a person trusts this file: whatever it names
    else:
        # Every type the schema names must be on the allowlist; skops then builds and audits its
        # node tree once, trusting the allowlist only (an untrusted type raises before anything
        # is constructed), instead of a separate get_untrusted_types pass over the same tree.
        if outside := _not_allowed(named):
            raise _untrusted(label, outside)
        allowed = sorted(named)  # short: skops converts this list again for every node it audits
    try:
        model = sio.loads(data, trusted=allowed)
    except sio.exceptions.UntrustedTypesFoundException as exc:
        reported = re.findall(r"'([^']+)'", str(exc).split("\n", 1)[0])
        raise _untrusted(label, _not_allowed(named | set(reported)) or reported) from None
    except Exception as exc:  # skops raises many kinds for a damaged file
        raise IntegrityError(f"{label} could not be read as a model ({type(exc).__name__}: {exc}).") from exc
    check_tree_structure(model, name=label)
    return model


def _untrusted(label: str, outside: list[str]) -> UntrustedModelError:
    return UntrustedModelError(
        f"{label} would construct types this application does not trust ({', '.join(outside[:5])}"
        f"{'...' if len(outside) > 5 else ''}); import it with trust only if you know its source.",
        untrusted=outside,
    )


def sklearn_version() -> str:
    """The running scikit-learn's version, recorded with every model file."""
    import sklearn

    return sklearn.__version__


def load_model_bytes(payload: bytes, *, trusted: bool, name: str) -> Any:
    """Deserialise a model file's checked bytes: a skops file (allowlisted types unless ``trusted``)
    or, only when ``trusted``, a pickle; the trees are checked either way (trust does not make a
    crafted tree safe). ``trusted`` is a person's decision or a signature this user's key made.
    """
    fmt = detect_format(payload, name=name)
    if fmt == SKOPS:
        return _load_skops_bytes(payload, trusted, name)
    if fmt != PICKLE:
        raise IntegrityError(f"{name} is neither a skops file nor a pickle; it cannot be loaded.")
    if not trusted:
        raise UntrustedModelError(
            f"{name} is a pickle without a valid signature from this user's key; "
            "load it with trusted=True (or --trust) only if you know where it came from.",
            untrusted=pickle_globals(payload)[0],
        )
    model = load_pickle(payload)
    check_tree_structure(model, name=name)
    return model


def load_pickle(source: bytes | bytearray | memoryview | BinaryIO) -> Any:
    """Deserialize a pickle / joblib stream. Only call after the trust decision.

    ``source`` is the very bytes (or an open binary file) whose hash the trust decision was
    made on, never a path: a path would be opened again, and the file could have been
    swapped in between.
    """
    import joblib

    if isinstance(source, str | os.PathLike):
        raise TypeError("load_pickle takes the bytes that were checked (or an open binary file), not a path.")
    if isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(bytes(source))
    return joblib.load(source)


# -- structural checks of decision trees ------------------------------------------------------
#
# A fitted tree is read by compiled code that trusts its node array: a child index outside
# it, a cycle, or a split feature beyond the columns the estimator validates X against reads
# or loops outside memory and can kill the process (SIGSEGV). So every tree reachable from a
# loaded model is checked, wherever it hides: the walk below has no depth limit (an explicit
# stack, not recursion) and goes through lists, tuples, dicts, numpy object arrays (a
# GradientBoostingClassifier keeps its trees in one), Pipeline steps and every instance's
# attributes. Each tree's split features are checked against the ``n_features_in_`` of the
# estimator that owns it (the one whose ``tree_`` it is): that is the width predict() checks X
# against, whereas the tree's own ``n_features`` is whatever the file says.

_NO_DESCENT = (str, bytes, bytearray, int, float, complex, bool, type(None), range, type)


def _is_tree(obj: Any) -> bool:
    kind = type(obj)
    return kind.__name__ == "Tree" and kind.__module__ == "sklearn.tree._tree"


def _attributes(obj: Any) -> dict[str, Any] | None:
    """An instance's own attributes (``__dict__`` and ``__slots__``), or None for non-instances."""
    import types

    if isinstance(obj, (*_NO_DESCENT, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                        types.MethodType)):
        return None
    attrs: dict[str, Any] = {}
    with contextlib.suppress(TypeError):
        attrs.update(vars(obj))
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and slot not in attrs:
                with contextlib.suppress(AttributeError):
                    attrs[slot] = object.__getattribute__(obj, slot)
    return attrs


def _children(obj: Any) -> list[Any]:
    """The objects directly reachable from ``obj`` that could hold a tree."""
    import functools
    import types

    import numpy as np

    if isinstance(obj, np.ndarray):
        if not obj.dtype.hasobject:
            return []
        if obj.dtype.names:
            return [obj[field] for field in obj.dtype.names]
        return list(obj.flat)
    if isinstance(obj, (*_NO_DESCENT, types.ModuleType, types.BuiltinFunctionType)):
        return []
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset):
        return list(obj)
    if isinstance(obj, types.MethodType):
        return [obj.__self__, obj.__func__]
    if isinstance(obj, types.FunctionType):  # what a closure or default could hand to a tree
        cells = [c.cell_contents for c in obj.__closure__ or () if c.cell_contents is not c]
        return [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values(), *cells]
    found = []
    if isinstance(obj, functools.partial):
        found = [obj.func, *obj.args, *obj.keywords.values()]
    attrs = _attributes(obj)
    return found + list(attrs.values()) if attrs else found


def _walk(root: Any):
    """Every object reachable from ``root``, each once (by id), iteratively and without a depth limit."""
    stack = [root]
    seen: set[int] = set()
    alive: list[Any] = []  # keeps temporaries (array fields) alive so their ids are not reused
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        alive.append(obj)
        yield obj
        if not _is_tree(obj):
            stack.extend(_children(obj))


def iter_objects(root: Any):
    """Every object reachable from ``root`` (estimators, their fitted members, arrays), each once."""
    return _walk(root)


def iter_trees(obj: Any):
    """Yield every ``sklearn.tree._tree.Tree`` reachable from an estimator, however deeply nested."""
    for item in _walk(obj):
        if _is_tree(item):
            yield item


def _width(value: Any) -> int | None:
    """A valid feature count (an integer of at least 1), or None."""
    import numbers

    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1:
        return int(value)
    return None


def _tree_problem(tree: Any, owners: list[Any]) -> str | None:
    """What is wrong with one tree's node arrays, or None."""
    import numpy as np

    try:
        n = int(tree.node_count)
        n_outputs = int(tree.n_outputs)
        n_classes = np.asarray(tree.n_classes)
        left = np.asarray(tree.children_left)
        right = np.asarray(tree.children_right)
        feature = np.asarray(tree.feature)
        threshold = np.asarray(tree.threshold)
        value_shape = tuple(tree.value.shape)
        own_width = int(tree.n_features)
    except (AttributeError, TypeError, ValueError, OverflowError):
        return "unreadable node arrays"
    if n < 1 or any(len(a) != n for a in (left, right, feature, threshold)):
        return "node arrays of inconsistent length"
    if n_outputs < 1 or n_classes.shape != (n_outputs,) or np.any(n_classes < 1) \
            or value_shape != (n, n_outputs, int(n_classes.max())):
        return "a value array that does not match its nodes, outputs and classes"
    leaf = left == -1
    idx = np.arange(n)
    if np.any(leaf != (right == -1)):
        return "a node with only one child"
    split = ~leaf
    if np.any(split & ((left <= idx) | (left >= n) | (right <= idx) | (right >= n))):
        return "child indices outside the node array"
    # Children lie after their parent (no cycles); no node may be reached twice either.
    if np.any(np.bincount(np.concatenate([left[split], right[split]]), minlength=n) > 1):
        return "a node reached twice from the root"
    if np.any(split & ~np.isfinite(threshold)):
        return "non-finite split thresholds"
    if not owners:
        return "a tree that belongs to no estimator"
    widths = [_width((_attributes(owner) or {}).get("n_features_in_")) for owner in owners]
    if any(w is None for w in widths):
        return "a tree whose estimator has no valid feature count"
    limit = min([own_width, *widths])
    if np.any(split & ((feature < 0) | (feature >= limit))):
        return "split features outside the estimator's feature count"
    return None


def _ensemble_problem(ensemble: Any, attrs: dict[str, Any]) -> str | None:
    """A forest (or boosting) whose tree members disagree with it on the feature count, or None.

    Forests and boosting call their members with ``check_input=False``: only the ensemble's
    own ``n_features_in_`` is checked against X, so every member must expect exactly that.
    """
    import numpy as np

    members = attrs.get("estimators_")
    if isinstance(members, np.ndarray):
        members = list(members.flat) if members.dtype.hasobject else []
    if not isinstance(members, list | tuple):
        return None
    trees = [m for m in members if (a := _attributes(m)) is not None and _is_tree(a.get("tree_"))]
    if not trees or "estimators_features_" in attrs:  # bagging indexes its members' columns itself
        return None
    width = _width(attrs.get("n_features_in_"))
    if width is None:
        return "an ensemble of trees without a valid feature count"
    if any(_width((_attributes(m) or {}).get("n_features_in_")) != width for m in trees):
        return "ensemble members whose feature count differs from the ensemble's"
    return None


def _svm_problem(attrs: dict[str, Any]) -> str | None:
    """A fitted libsvm model whose arrays disagree (libsvm reads them without bounds), or None.

    sklearn checks only that the per-class counts add up to the support vectors; libsvm
    then reads ``dual_coef_``, ``intercept_``, ``support_`` and the probability pairs by the
    sizes those counts imply.
    """
    import numpy as np

    try:
        support = np.asarray(attrs["support_"])
        n_support = np.asarray(attrs["_n_support"])
        dual = np.asarray(attrs["_dual_coef_"])
        intercept = np.asarray(attrs.get("_intercept_", np.zeros(0)))
        vectors = attrs.get("support_vectors_")
    except (TypeError, ValueError):
        return "unreadable arrays"
    if support.ndim != 1 or n_support.ndim != 1 or dual.ndim != 2:
        return "arrays of the wrong dimension"
    n_sv = len(support)
    if np.any(n_support < 0) or int(n_support.sum()) != n_sv or dual.shape[1] != n_sv:
        return "support vector counts that disagree"
    classes = attrs.get("classes_")
    if classes is not None:
        n_class = len(n_support)
        pairs = n_class * (n_class - 1) // 2
        if len(classes) != n_class or dual.shape[0] != n_class - 1 or intercept.shape != (pairs,):
            return "coefficients that do not match its classes"
        for key in ("_probA", "_probB"):
            if np.asarray(attrs.get(key, np.zeros(0))).size not in (0, pairs):
                return "probability parameters that do not match its classes"
    if attrs.get("kernel") != "precomputed" and isinstance(vectors, np.ndarray):
        width = _width(attrs.get("n_features_in_"))
        if vectors.ndim != 2 or vectors.shape[0] != n_sv or width is None or vectors.shape[1] != width:
            return "support vectors that do not match its feature count"
    return None


def _skipped(step: Any) -> bool:
    """A Pipeline step that is no estimator (None or "passthrough")."""
    return step is None or (isinstance(step, str) and step == "passthrough")


def _width_in(step: Any) -> int | None:
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        inner = [s for _, s in _steps(step) if not _skipped(s)]
        return _width_in(inner[0]) if inner else None
    attrs = _attributes(step)
    return _width(attrs.get("n_features_in_")) if attrs else None


def _width_out(step: Any) -> int | None:
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        inner = [s for _, s in _steps(step) if not _skipped(s)]
        return _width_out(inner[-1]) if inner else None
    if not type(step).__module__.startswith("sklearn.") or not hasattr(step, "get_feature_names_out"):
        return None
    try:
        return len(step.get_feature_names_out())
    except Exception:  # not fitted, or a width it cannot tell: unknown
        return None


def _steps(pipeline: Any) -> list[tuple[Any, Any]]:
    steps = _attributes(pipeline).get("steps")
    if not isinstance(steps, list | tuple):
        return []
    return [s for s in steps if isinstance(s, tuple) and len(s) == 2]


def _pipeline_problem(pipeline: Any) -> str | None:
    """Consecutive steps whose output and input widths are both known and differ, or None."""
    previous = None
    for _, step in _steps(pipeline):
        if _skipped(step):
            continue
        if previous is not None:
            out, expected = _width_out(previous), _width_in(step)
            if out is not None and expected is not None and out != expected:
                return f"a step that gives {out} features to a step expecting {expected}"
        previous = step
    return None


def check_tree_structure(model: Any, *, name: str = "the model file") -> int:
    """Refuse a model whose trees could crash the process; returns the number of trees checked.

    Walks everything reachable from ``model``. Each tree: child indices inside the node array
    and after their parent, a leaf has both children -1 and a split node none, no node reached
    twice, finite thresholds, a value array matching node count / outputs / classes, split
    features below its owning estimator's ``n_features_in_`` (no valid owner: refused). Each
    forest: members expect the forest's feature count. Each pipeline: consecutive steps agree
    on the feature count where both are known. Each fitted SVM: its arrays agree in size.
    """
    from sklearn.pipeline import Pipeline

    trees: list[Any] = []
    owners: dict[int, list[Any]] = {}
    problems: list[str] = []
    for obj in _walk(model):
        if _is_tree(obj):
            trees.append(obj)
            continue
        attrs = _attributes(obj)
        if not attrs:
            continue
        if _is_tree(attrs.get("tree_")):
            owners.setdefault(id(attrs["tree_"]), []).append(obj)
        if "estimators_" in attrs and (problem := _ensemble_problem(obj, attrs)):
            problems.append(problem)
        if {"support_", "_n_support", "_dual_coef_"} <= attrs.keys() and (problem := _svm_problem(attrs)):
            raise UntrustedModelError(
                f"{name} holds a malformed support vector machine ({problem}); it was probably crafted "
                "and will not be used.",
                untrusted=[f"{type(obj).__module__}.{type(obj).__name__}"],
            )
        if isinstance(obj, Pipeline) and (problem := _pipeline_problem(obj)):
            raise UntrustedModelError(
                f"{name} holds a pipeline with {problem}; it was probably crafted and will not be used.",
                untrusted=[f"{type(obj).__module__}.{type(obj).__name__}"],
            )
    problems += [p for tree in trees if (p := _tree_problem(tree, owners.get(id(tree), [])))]
    if problems:
        raise UntrustedModelError(
            f"{name} holds a malformed decision tree ({problems[0]}); it was probably crafted and will not be used.",
            untrusted=["sklearn.tree._tree.Tree"],
        )
    return len(trees)


# -- signing pickles with a per-user key -------------------------------------------------------


_KEY_FILE = "signing.key"
_KEY_BYTES = 32
_KEY_TEXT = re.compile(rb"[0-9a-fA-F]{%d}" % (2 * _KEY_BYTES))


def signing_key() -> bytes:
    """This user's secret key, created on first use and readable by the user alone.

    A new key is written to a temporary file beside the key file, flushed to disk and linked
    into place (``os.link`` refuses to replace an existing file), so no process ever reads a
    half-written key; when another process links first, its key is the one everybody uses.
    A key file that is empty, damaged or unreadable raises :class:`SigningKeyError`: it is
    never used as a key.
    """
    path = config_dir() / _KEY_FILE
    key = _read_signing_key(path)
    if key is not None:
        return key
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".signing-", suffix=".tmp", dir=path.parent)  # mode 0600
    except OSError as exc:
        raise _key_not_created(path, exc) from exc
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            key = secrets.token_bytes(_KEY_BYTES)
            data = key.hex().encode("ascii")
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process linked its key first: use that one
            winner = _read_signing_key(path)
            if winner is None:
                raise SigningKeyError(
                    f"The signing key {path} disappeared while it was being created; try again."
                ) from None
            return winner
        with contextlib.suppress(OSError):
            fsync_dir(path.parent)
        return key
    except OSError as exc:
        raise _key_not_created(path, exc) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _read_signing_key(path: Path) -> bytes | None:
    """The key in ``path``; None when there is no key file yet, SigningKeyError when it is unusable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SigningKeyError(
            f"The signing key {path} cannot be read ({exc.strerror or exc}); restore it from a backup, or "
            "delete it to have a new one made (pickles signed with it will then need trust again)."
        ) from exc
    text = raw.strip()
    if not _KEY_TEXT.fullmatch(text):
        raise SigningKeyError(
            f"The signing key {path} is damaged (it must hold {2 * _KEY_BYTES} hexadecimal characters); "
            "restore it from a backup, or delete it to have a new one made (pickles signed with it will "
            "then need trust again)."
        )
    return bytes.fromhex(text.decode("ascii"))


def _key_not_created(path: Path, exc: OSError) -> SigningKeyError:
    return SigningKeyError(
        f"The signing key {path} could not be created ({exc.strerror or exc}); free some disk space or "
        f"make {path.parent} writable, then try again."
    )


def sign_digest(sha256_hex: str) -> str:
    return hmac.new(signing_key(), sha256_hex.encode("ascii"), "sha256").hexdigest()


def signature_valid(sha256_hex: str, signature: str | None) -> bool:
    """True when ``signature`` is this user's signature of ``sha256_hex``.

    An unusable key never validates anything: it raises :class:`SigningKeyError`.
    """
    if not signature or not isinstance(signature, str):
        return False
    key = signing_key()
    if len(key) != _KEY_BYTES:  # never reached: signing_key refuses such keys; kept as a last guard
        return False
    expected = hmac.new(key, sha256_hex.encode("ascii"), "sha256").hexdigest()
    return hmac.compare_digest(expected, signature)
