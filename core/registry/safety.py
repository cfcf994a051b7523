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

import bz2
import contextlib
import gzip
import hmac
import io
import json
import lzma
import os
import pickletools
import re
import secrets
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from core.common.files import fsync_dir, read_regular_file
from core.common.userdirs import config_dir
from core.errors import IntegrityError, SigningKeyError, UntrustedModelError

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
    if not isinstance(source, bytes | bytearray):
        source = read_regular_file(source)  # every finding below is about the same bytes
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
                "The scan stopped before the end of the stream (raw array data or a corrupt file); "
                "the list may be incomplete."
            )
    else:
        report.notes.append("This is neither a skops file nor a pickle; it cannot be loaded as a model.")
    return report


def pickle_globals(source: str | os.PathLike | bytes) -> tuple[list[str], bool]:
    """Statically list ``module.name`` globals a pickle stream imports.

    Returns the names in order of appearance and whether the scan reached the end of the
    first pickle. Handles GLOBAL/INST and STACK_GLOBAL (whose operands are the two
    preceding string pushes, possibly through the memo).
    """
    data = _decompressed(source)
    found: list[str] = []
    strings: list[str] = []
    memo: dict[int, Any] = {}
    complete = False
    try:
        for opcode, arg, _pos in pickletools.genops(io.BytesIO(data)):
            name = opcode.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                _add(found, f"{module}.{attr}")
            elif name in (
                "SHORT_BINUNICODE",
                "BINUNICODE",
                "BINUNICODE8",
                "UNICODE",
                "STRING",
                "BINSTRING",
                "SHORT_BINSTRING",
            ):
                strings.append(arg if isinstance(arg, str) else str(arg))
            elif name == "MEMOIZE":
                memo[len(memo)] = strings[-1] if strings else None
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = strings[-1] if strings else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                value = memo.get(arg)
                if isinstance(value, str):
                    strings.append(value)
            elif name == "STACK_GLOBAL":
                if len(strings) >= 2:
                    _add(found, f"{strings[-2]}.{strings[-1]}")
                else:
                    _add(found, "<unresolved STACK_GLOBAL>")
            elif name == "STOP":
                complete = True
                break
    except (ValueError, EOFError, KeyError, UnicodeDecodeError, IndexError):
        complete = False
    return found, complete


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


def _decompressed(source) -> bytes:
    raw = bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
    for magic, kind in _COMPRESSED_PICKLE_MAGIC:
        if raw.startswith(magic):
            try:
                if kind == "zlib":
                    return zlib.decompressobj().decompress(raw, _MAX_SCAN_BYTES)
                opener = {
                    "gzip": gzip.GzipFile,
                    "bz2": bz2.BZ2File,
                    "xz": lzma.LZMAFile,
                    "lzma": lzma.LZMAFile,
                }.get(kind)
                if opener is None:
                    return b""
                with opener(io.BytesIO(raw)) as fh:
                    return fh.read(_MAX_SCAN_BYTES)
            except (OSError, EOFError, lzma.LZMAError, zlib.error):
                return b""
    return raw


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
    if not isinstance(source, bytes | bytearray):
        source = read_regular_file(source)  # audited and loaded from the same bytes, read once
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
        model = sio.loads(bytes(source), trusted=reported)
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
