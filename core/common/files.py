"""Crash-safe file primitives: no reader ever sees half a file.

A write goes to a temporary file in the same folder, is flushed to disk, renamed over
the target with :func:`os.replace` (atomic on POSIX and Windows), and the folder entry
is flushed too. A crash leaves either the old file or the new one, plus at most a
``.tmp`` leftover that :func:`remove_temp_files` cleans up.

:func:`atomic_file` (a ``with`` block) and :class:`AtomicOutput` (for a file written over many
calls, committed or discarded later) are the one mechanism for single files;
:func:`temp_folder_beside` and :func:`replace_folder` do the same for a folder built in full
under a temporary name (a deployment bundle).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.common import jsonio

TEMP_PREFIX = ".exoreg-"
TEMP_SUFFIX = ".tmp"
TEMP_FOLDER_SUFFIX = ".partial"  # not TEMP_SUFFIX: remove_temp_files deletes files only
_CHUNK = 1 << 20


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename inside it) to disk; a no-op where unsupported."""
    if os.name == "nt":  # pragma: no cover - Windows cannot open folders
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def temp_file_beside(path: str | os.PathLike) -> Iterator[Path]:
    """An empty temporary file in ``path``'s folder, removed when the block ends unless moved away."""
    output = AtomicOutput(path)
    try:
        yield output.tmp
    finally:
        output.discard()


def fsync_file(path: str | os.PathLike) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def write_bytes_synced(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` and flush it to disk (no rename: for files inside a staging folder)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


class AtomicOutput:
    """A file written under a temporary name beside ``target``; :meth:`commit` renames it into place.

    For output written over many calls (a streamed prediction): write to :attr:`tmp`, then
    :meth:`commit` (flush, rename, flush the folder) or :meth:`discard` (remove it, leaving
    ``target`` as it was).
    """

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=self.target.parent)
        try:
            os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp's 0600 is for secrets, not for results
        finally:
            os.close(fd)
        self.tmp = Path(name)

    def commit(self, *, sync_dir: bool = True) -> Path:
        fsync_file(self.tmp)
        os.replace(self.tmp, self.target)
        if sync_dir:
            fsync_dir(self.target.parent)
        return self.target

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status") as fh:
            return int(next(line for line in fh if line.startswith("Umask:")).split()[1], 8)
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o22)  # elsewhere: read by setting it, at once put back
        os.umask(mask)
        return mask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, sync_dir: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path``; what the block writes there replaces ``path`` when it succeeds.

    The file is flushed to disk before the rename; when the block raises, it is removed and
    ``path`` is left as it was.
    """
    output = AtomicOutput(path)
    try:
        yield output.tmp
        output.commit(sync_dir=sync_dir)
    finally:
        output.discard()


def temp_folder_beside(path: str | os.PathLike, *, mode: int | None = None) -> Path:
    """A new empty folder with a temporary name in ``path``'s folder (the caller removes or renames it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, suffix=TEMP_FOLDER_SUFFIX, dir=path.parent))
    if mode is not None:
        os.chmod(folder, mode)
    return folder


def replace_folder(staging: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Move the finished folder ``staging`` to ``target``, replacing whatever folder was there.

    ``staging`` must be in ``target``'s folder. A non-empty ``target`` is first renamed aside
    (under a temporary name) and removed only after the swap; when the swap fails it is put
    back. A reader sees the old folder or the new one, never a mixture.
    """
    staging, target = Path(staging), Path(target)
    old = None
    if target.is_dir():
        if any(target.iterdir()):
            old = temp_folder_beside(target)
            os.rmdir(old)
            os.rename(target, old)
        else:
            os.rmdir(target)
    try:
        os.rename(staging, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    with contextlib.suppress(OSError):
        fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, sync_dir: bool = True) -> Path:
    with atomic_file(path, sync_dir=sync_dir) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, sync_dir: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), sync_dir=sync_dir)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, sync_dir: bool = True) -> Path:
    """Write ``obj`` as 2-space indented JSON (orjson; NaN refused as by ``json.dumps(allow_nan=False)``)."""
    return atomic_write_bytes(path, jsonio.dumps(obj, indent=True) + b"\n", sync_dir=sync_dir)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one existing file (the same path, a link or a hard link):
    what a writer checks so that its output never replaces its input."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either is missing (or unreadable): writing one cannot replace the other
        return False


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class NotRegularFileError(OSError):
    """A path that should be a plain file is a link, a folder, a FIFO, a device or a socket."""

    def __init__(self, path: str | os.PathLike, kind: str):
        super().__init__(errno.EINVAL, f"{Path(path).name} is {kind}, not a regular file", str(path))
        self.path = Path(path)
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.path} is {self.kind}, not a regular file; give the path of a plain file."


class FileTooLargeError(OSError):
    """A file is larger than the caller agreed to read."""

    def __init__(self, path: str | os.PathLike, limit: int):
        super().__init__(errno.EFBIG, f"{Path(path).name} is larger than {limit:,} bytes", str(path))
        self.path = Path(path)
        self.limit = limit

    def __str__(self) -> str:
        return f"{self.path} is larger than {self.limit:,} bytes, too large to be what was expected."


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
STORAGE_ERRNOS = DISK_FULL_ERRNOS | READ_ONLY_ERRNOS  # the disk refused a write: not a bug, not the data


def describe_os_error(
    exc: OSError, *, what: str | None = None, outcome: str = "nothing half-written was left behind"
) -> str:
    """One sentence for a failed file operation: what happened, what it means (``outcome``) and what to do.

    ``what`` names the thing being written ("the registry folder /srv/models"); by default it is
    the file the error names. A full disk, a read-only file system and a refused permission each
    say how to get past them; any other error names its cause.
    """
    subject = what or (os.fsdecode(exc.filename) if exc.filename else "the file")
    subject_cap = subject[:1].upper() + subject[1:]
    code = exc.errno
    detail = os.strerror(code) if code else (exc.strerror or str(exc) or type(exc).__name__)
    if code in DISK_FULL_ERRNOS:
        return (
            f"There is no space left on the disk for {subject} ({detail}), so {outcome}; "
            "free some space or choose another place, then try again."
        )
    if code == errno.EROFS:
        return (
            f"{subject_cap} is on a read-only file system, so {outcome}; "
            "work on a writable copy or have it mounted read-write."
        )
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"Access to {subject} was denied ({detail}), so {outcome}; "
            "ask its owner for access or work on a copy of your own."
        )
    return f"{subject_cap} could not be used ({detail}), so {outcome}; check it and try again."


def os_error_sentence(exc: OSError) -> str:
    """The sentence to show for any :class:`OSError`: its own when it was raised with one, else :func:`describe_os_error`."""
    if type(exc).__str__ is not OSError.__str__ or exc.errno is None or not exc.strerror:
        return str(exc)  # a sentence of its own (StorageError, NotRegularFileError, FileNotFoundError("No file at ..."))
    return describe_os_error(exc)


def file_kind(mode: int) -> str:
    """``"a symbolic link"``, ``"a folder"``, ``"a FIFO"``... for an ``st_mode``."""
    for test, kind in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def read_regular_file(
    path: str | os.PathLike, *, follow_links: bool = True, max_bytes: int | None = None
) -> bytes:
    """The bytes of ``path``, read once through a descriptor checked to be a regular file.

    Whatever is hashed, checked or parsed from these bytes is exactly what was read: the file is
    never opened a second time. FIFOs, devices, sockets and folders raise
    :class:`NotRegularFileError` without blocking or being read (the path is looked at with
    ``lstat`` first and opened non-blocking); so does a symbolic link when ``follow_links`` is
    false (``O_NOFOLLOW`` where the system has it). More than ``max_bytes`` raises
    :class:`FileTooLargeError`.
    """
    st = os.stat(path) if follow_links else os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(path, file_kind(st.st_mode))
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_links and exc.errno == errno.ELOOP:  # swapped for a link since the lstat
            raise NotRegularFileError(path, "a symbolic link") from exc
        raise
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):  # swapped since the lstat
            raise NotRegularFileError(path, file_kind(st.st_mode))
        if max_bytes is not None and st.st_size > max_bytes:
            raise FileTooLargeError(path, max_bytes)
        data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise FileTooLargeError(path, max_bytes)
    return data


def is_temp_file(path: str | os.PathLike) -> bool:
    name = Path(path).name
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def remove_temp_files(folder: str | os.PathLike, *, newer_than: float | None = None) -> list[Path]:
    """Delete leftovers of interrupted writes in ``folder``; returns what was removed.

    With ``newer_than`` (a ``time.time()`` value), only those last changed at or after it: the
    leftovers of one interrupted run, not another writer's file in the same folder.
    """
    removed = []
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as it:
        for entry in it:
            if is_temp_file(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    if newer_than is not None and entry.stat(follow_symlinks=False).st_mtime < newer_than:
                        continue
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed
