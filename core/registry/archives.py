"""Reading zip archives that came from elsewhere, member by member, without surprises.

Refused (:class:`UnsafeArchiveError`): absolute paths, ``..``, backslashes and drive
letters, links and special files, names outside the expected set, duplicates, members
over a size cap, total size over a cap, and implausible compression ratios (zip bombs).
Sizes are enforced while reading, not just from the headers an attacker writes.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

from core.errors import UnsafeArchiveError

MAX_RATIO = 200  # uncompressed / compressed; real model files compress far less
_CHUNK = 1 << 20


def open_archive(path: str | os.PathLike | IO[bytes], *, name: str | None = None) -> zipfile.ZipFile:
    """Open a zip archive (a path, or an open binary file such as the bytes already read)."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        label = name or Path(path).name  # type: ignore[arg-type]
        raise UnsafeArchiveError(f"{label} is not a readable zip archive ({exc}).") from exc


def check_members(
    zf: zipfile.ZipFile,
    allowed: Callable[[str], bool],
    *,
    max_member: int,
    max_total: int,
    max_count: int = 100_000,
) -> list[zipfile.ZipInfo]:
    """Validate every member's name, type and declared size; return the file members."""
    infos = zf.infolist()
    if len(infos) > max_count:
        raise UnsafeArchiveError(
            f"The archive has {len(infos):,} members, more than the {max_count:,} allowed."
        )
    seen: set[str] = set()
    total = 0
    files = []
    for info in infos:
        name = info.filename
        check_member_name(name)
        mode = info.external_attr >> 16
        if info.is_dir():
            continue
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise UnsafeArchiveError(
                f"Archive member {name!r} is a link or special file; only plain files are accepted."
            )
        if name in seen:
            raise UnsafeArchiveError(f"Archive member {name!r} appears twice.")
        seen.add(name)
        if not allowed(name):
            raise UnsafeArchiveError(f"Archive member {name!r} is not one this archive type may contain.")
        if info.file_size > max_member:
            raise UnsafeArchiveError(
                f"Archive member {name!r} is {info.file_size:,} bytes, over the {max_member:,} limit."
            )
        if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise UnsafeArchiveError(
                f"Archive member {name!r} expands {info.file_size // max(info.compress_size, 1)}-fold; "
                "it looks like a zip bomb."
            )
        total += info.file_size
        if total > max_total:
            raise UnsafeArchiveError(f"The archive expands to more than {max_total:,} bytes.")
        files.append(info)
    return files


def check_member_name(name: str) -> None:
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
    ):
        raise UnsafeArchiveError(f"Archive member {name!r} has an absolute or platform-specific path.")
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".") for part in parts) or len(name) > 512:
        raise UnsafeArchiveError(f"Archive member {name!r} points outside its folder.")


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read a member, refusing to go past its declared size (headers can lie)."""
    out = bytearray()
    with zf.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            out += chunk
            if len(out) > info.file_size:
                raise UnsafeArchiveError(f"Archive member {info.filename!r} is larger than its header says.")
    return bytes(out)


def extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest_root: Path) -> tuple[Path, str]:
    """Stream one member below ``dest_root``; returns its path and SHA-256."""
    target = (dest_root / info.filename).resolve()
    if not target.is_relative_to(dest_root.resolve()):
        raise UnsafeArchiveError(f"Archive member {info.filename!r} points outside its folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    with zf.open(info) as src, open(target, "xb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise UnsafeArchiveError(f"Archive member {info.filename!r} is larger than its header says.")
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return target, digest.hexdigest()
