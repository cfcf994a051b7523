"""Storage faults without a real full or read-only disk (the tests run as root, where chmod stops nothing).

:func:`disk_full` makes the k-th write under a folder fail with ``ENOSPC`` after writing part of
its bytes (a short write, as a real full disk does); :func:`read_only` makes every change under
a folder fail with ``EROFS`` (or another errno), as a read-only mount does, whoever runs it.
Both patch the few entry points every Python write goes through (``open``, ``os.open``,
``os.write``, renames, removals), only for paths below the folder.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _inside(path, root: Path) -> bool:
    if isinstance(path, int):
        return False
    try:
        return Path(os.fsdecode(path)).absolute().is_relative_to(root)
    except (TypeError, ValueError):
        return False


def _writing(mode: str) -> bool:
    return any(c in mode for c in "wax+")


class _FailingFile:
    """A file object whose writes go through a shared countdown."""

    def __init__(self, fh, fault: DiskFull):
        self._fh, self._fault = fh, fault

    def write(self, data):
        self._fault.step(self._fh, data)
        return self._fh.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __iter__(self):
        return iter(self._fh)

    def __getattr__(self, name):
        return getattr(self._fh, name)


class DiskFull:
    """Counts writes below ``root``; the one numbered ``fail_at`` (0-based) and every later one fail."""

    def __init__(self, root: Path, fail_at: int | None):
        self.root, self.fail_at, self.writes, self.failed = Path(root).absolute(), fail_at, 0, False

    def step(self, fh, data) -> None:
        n, self.writes = self.writes, self.writes + 1
        if self.fail_at is not None and n >= self.fail_at:
            self.failed = True
            if n == self.fail_at and len(data) > 1:
                fh.write(data[: len(data) // 2])  # a short write, then the disk is full
                fh.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def disk_full(monkeypatch, root, fail_at: int | None) -> DiskFull:
    """Writes below ``root`` fail with ENOSPC from write number ``fail_at`` on (None: only count them)."""
    fault = DiskFull(root, fail_at)
    real_open, real_write = io.open, os.write

    def fake_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if _writing(mode) and _inside(file, fault.root):
            return _FailingFile(fh, fault)
        return fh

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    fds: set[int] = set()
    real_os_open, real_close = os.open, os.close

    def fake_os_open(path, flags, *args, **kwargs):
        fd = real_os_open(path, flags, *args, **kwargs)
        if flags & _WRITE_FLAGS and _inside(path, fault.root):
            fds.add(fd)
        return fd

    def fake_os_close(fd):
        fds.discard(fd)
        return real_close(fd)

    def fake_os_write(fd, data):
        if fd in fds:
            fault.step(_FdWriter(fd, real_write), data)
        return real_write(fd, data)

    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "close", fake_os_close)
    monkeypatch.setattr(os, "write", fake_os_write)
    return fault


class _FdWriter:
    def __init__(self, fd, write):
        self.fd, self._write = fd, write

    def write(self, data):
        return self._write(self.fd, data)

    def flush(self):
        pass


def read_only(monkeypatch, root, error: int = errno.EROFS) -> None:
    """Every change below ``root`` fails with ``error`` (EROFS: a read-only mount; EACCES: another owner's folder)."""
    root = Path(root).absolute()

    def refuse(path):
        raise OSError(error, os.strerror(error), os.fsdecode(path))

    real_open, real_os_open, real_mkdir = io.open, os.open, os.mkdir

    def fake_open(file, mode="r", *args, **kwargs):
        if _writing(mode) and _inside(file, root):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path, flags, *args, **kwargs):
        if flags & _WRITE_FLAGS and _inside(path, root):
            if flags & os.O_CREAT and not flags & (os.O_WRONLY | os.O_RDWR) and os.path.exists(path):
                return real_os_open(path, flags & ~os.O_CREAT, *args, **kwargs)
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if _inside(path, root):
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(path))
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def guard(real, count=1):
        def fake(*paths, **kwargs):
            for path in paths[:count]:
                if _inside(path, root):
                    refuse(path)
            return real(*paths, **kwargs)

        return fake

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    for name, count in (
        ("replace", 2), ("rename", 2), ("link", 2), ("symlink", 2), ("unlink", 1), ("remove", 1),
        ("rmdir", 1), ("truncate", 1), ("chmod", 1), ("utime", 1),
    ):  # fmt: skip
        monkeypatch.setattr(os, name, guard(getattr(os, name), count))
