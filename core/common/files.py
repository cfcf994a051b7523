"""Crash-safe file primitives: no reader ever sees half a file.

A write goes to a temporary file in the same folder, is flushed to disk, renamed over
the target with :func:`os.replace` (atomic on POSIX and Windows), and the folder entry
is flushed too. A crash leaves either the old file or the new one, plus at most a
``.tmp`` leftover that :func:`remove_temp_files` cleans up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.common.jsonio import json_default

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def fsync_file(path: str | os.PathLike) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, sync_dir: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path``; what the block writes there replaces ``path`` when it succeeds.

    The file is flushed to disk before the rename; when the block raises, it is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    with temp_file_beside(path) as tmp:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    if sync_dir:
        fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, sync_dir: bool = True) -> Path:
    with atomic_file(path, sync_dir=sync_dir) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, sync_dir: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), sync_dir=sync_dir)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, sync_dir: bool = True) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False, default=json_default)
    return atomic_write_text(path, text + "\n", sync_dir=sync_dir)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_temp_file(path: str | os.PathLike) -> bool:
    name = Path(path).name
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def remove_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete leftovers of interrupted writes in ``folder``; returns what was removed."""
    removed = []
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as it:
        for entry in it:
            if is_temp_file(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed
