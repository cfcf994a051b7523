"""Reading zip files that came from elsewhere, member by member, without surprises.

Every zip the registry opens — a skops model file, an ``.exoreg`` archive, a backup — goes
through :func:`open_zip`, which checks the central directory before anything is
decompressed. Refused (:class:`UnsafeArchiveError`): absolute paths, ``..``, backslashes and
drive letters, links and special files, names outside the expected set, duplicates,
encrypted members, compression other than stored or deflate, too many members, members over
a size cap, a total size over a cap, and implausible compression ratios (zip bombs).

The central directory is written by whoever made the file, so sizes are also enforced while
decompressing: :func:`read_member` and :func:`extract_member` stream in bounded chunks and
stop at the declared size, and ``open_zip(..., verify_sizes=True)`` inflates every member
once, in bounded chunks, to prove it expands to exactly its declared size before code that
reads whole members (skops) sees the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import UnsafeArchiveError

MAX_RATIO = 200  # uncompressed / compressed; real model files compress far less
_RATIO_FLOOR = 1 << 20  # members (and totals) smaller than this are never called bombs
_CHUNK = 1 << 20
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... file name length, extra field length
# Compression methods people meet, by the number a zip records (APPNOTE 4.4.5).
_METHOD_NAMES = {1: "shrink", 6: "implode", 8: "deflate", 9: "Deflate64", 12: "bzip2", 14: "LZMA",
                 93: "Zstandard", 95: "xz", 98: "PPMd", 99: "AES encryption"}  # fmt: skip


class NotAZipError(UnsafeArchiveError):
    """The file is not a readable zip at all (rather than a zip that breaks a rule)."""


@dataclass(frozen=True)
class ZipLimits:
    """What a zip may hold: per member, in total (both uncompressed) and how many members."""

    max_member: int
    max_total: int
    max_count: int = 100_000


# A skops model file: the registry takes model files up to 2 GiB; inside, npy arrays and a schema.
MODEL_FILE_LIMITS = ZipLimits(max_member=2 << 30, max_total=2 << 30, max_count=100_000)


class CheckedZip(zipfile.ZipFile):
    """A zip whose central directory passed :func:`check_members`; :attr:`files` are its file members."""

    files: list[zipfile.ZipInfo]
    label: str = "The archive"  # the file's name, for messages
    _own: io.IOBase | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._own is not None:
                self._own.close()
                self._own = None


def open_zip(
    source: str | os.PathLike | bytes | bytearray,
    *,
    limits: ZipLimits,
    allowed: Callable[[str], bool] | None = None,
    label: str | None = None,
    verify_sizes: bool = False,
) -> CheckedZip:
    """Open a zip and check it (see the module docstring) before anything in it is decompressed.

    ``allowed`` limits the member names; ``verify_sizes`` also inflates every compressed member
    once, in bounded chunks, so that later whole-member reads cannot expand past the limits.
    Raises :class:`UnsafeArchiveError` naming the file; a file that is not a zip at all raises
    it too (callers that only sniff catch it).
    """
    if isinstance(source, bytes | bytearray):
        name = label or "the zip file"
        fh: io.IOBase = io.BytesIO(source)
    else:
        name = label or Path(source).name
        try:
            fh = open(source, "rb")  # noqa: SIM115 - closed with the zip
        except OSError as exc:
            raise UnsafeArchiveError(f"{name} cannot be opened ({exc}); check the path.") from exc
    try:
        zf = CheckedZip(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        fh.close()
        raise NotAZipError(
            f"{name} is not a readable zip archive ({exc}): it is damaged or cut short; use a complete copy."
        ) from exc
    zf._own = fh
    zf.label = name
    try:
        zf.files = check_members(
            zf,
            allowed or (lambda _name: True),
            max_member=limits.max_member,
            max_total=limits.max_total,
            max_count=limits.max_count,
            label=name,
        )
        if verify_sizes:
            for info in zf.files:
                if info.compress_type != zipfile.ZIP_STORED:
                    _inflate_check(fh, info, name)
    except BaseException:
        zf.close()
        raise
    return zf


def check_members(
    zf: zipfile.ZipFile,
    allowed: Callable[[str], bool],
    *,
    max_member: int,
    max_total: int,
    max_count: int = 100_000,
    label: str = "The archive",
) -> list[zipfile.ZipInfo]:
    """Validate every member's name, type, compression and declared size; return the file members."""
    infos = zf.infolist()
    if len(infos) > max_count:
        raise UnsafeArchiveError(
            f"{label} has {len(infos):,} members, more than the {max_count:,} allowed; it was not opened."
        )
    seen: set[str] = set()
    total = total_compressed = 0
    files = []
    for info in infos:
        name = info.filename
        check_member_name(name)
        mode = info.external_attr >> 16
        if info.is_dir():
            continue
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise UnsafeArchiveError(
                f"{label}: member {name!r} is a link or special file; only plain files are accepted."
            )
        if name in seen:
            raise UnsafeArchiveError(f"{label}: member {name!r} appears twice; the file was not opened.")
        seen.add(name)
        if not allowed(name):
            raise UnsafeArchiveError(f"{label}: member {name!r} is not one this kind of file may contain.")
        if info.flag_bits & 0x1 or info.compress_type == 99:
            raise UnsafeArchiveError(
                f"{label}: member {name!r} is encrypted, which ExoReg does not read; "
                "export or zip it again without a password."
            )
        if info.compress_type not in _METHODS:
            method = _METHOD_NAMES.get(info.compress_type, "unknown")
            raise UnsafeArchiveError(
                f"{label}: member {name!r} uses compression method {info.compress_type} ({method}); ExoReg "
                "reads only stored or deflated members, so save the file again with one of those."
            )
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise UnsafeArchiveError(f"{label}: member {name!r} has inconsistent sizes; the file is damaged.")
        if info.file_size > max_member:
            raise UnsafeArchiveError(
                f"{label}: member {name!r} is {info.file_size:,} bytes, over the {max_member:,}-byte limit; "
                "it was not opened."
            )
        if _bomb_like(info.file_size, info.compress_size):
            raise UnsafeArchiveError(
                f"{label}: member {name!r} expands {info.file_size // max(info.compress_size, 1):,}-fold; "
                "it looks like a zip bomb, so it was not opened."
            )
        total += info.file_size
        total_compressed += info.compress_size
        if total > max_total:
            raise UnsafeArchiveError(
                f"{label} expands to more than {max_total:,} bytes; it was not opened."
            )
        files.append(info)
    if _bomb_like(total, total_compressed):
        raise UnsafeArchiveError(
            f"{label} expands {total // max(total_compressed, 1):,}-fold in total; it looks like a zip bomb, "
            "so it was not opened."
        )
    return files


def _bomb_like(size: int, compressed: int) -> bool:
    return size > _RATIO_FLOOR and size > MAX_RATIO * max(compressed, 1)


def _inflate_check(fh, info: zipfile.ZipInfo, label: str) -> None:
    """Inflate one deflated member in bounded chunks; refuse it past its declared size or damaged."""
    damaged = UnsafeArchiveError(
        f"{label}: member {info.filename!r} is damaged (it does not inflate to its recorded size and CRC-32), "
        "so the file was not used; use an intact copy of it."
    )
    fh.seek(info.header_offset)
    header = fh.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise damaged
    signature, name_len, extra_len = _LOCAL_HEADER.unpack(header)
    if signature != b"PK\x03\x04":
        raise damaged
    fh.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    remaining, produced, crc = info.compress_size, 0, 0
    try:
        while remaining > 0 and not inflater.eof:
            data = fh.read(min(_CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            while True:
                out = inflater.decompress(data, _CHUNK)
                produced += len(out)
                if produced > info.file_size:
                    raise UnsafeArchiveError(
                        f"{label}: member {info.filename!r} expands past the {info.file_size:,} bytes its "
                        "header declares; it looks like a zip bomb, so it was not opened."
                    )
                crc = zlib.crc32(out, crc)
                data = inflater.unconsumed_tail
                if inflater.eof or (not data and len(out) < _CHUNK):
                    break
    except zlib.error as exc:
        raise damaged from exc
    if not inflater.eof or produced != info.file_size or crc != info.CRC:
        raise damaged


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
    """Read a member in bounded chunks, refusing to go past its declared size (headers can lie)."""
    out = bytearray()
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(_CHUNK):
                out += chunk
                if len(out) > info.file_size:
                    raise UnsafeArchiveError(
                        f"Archive member {info.filename!r} is larger than its header says."
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _damaged(zf, info, exc) from exc
    return bytes(out)


def _damaged(zf: zipfile.ZipFile, info: zipfile.ZipInfo, exc: BaseException) -> UnsafeArchiveError:
    """The one sentence for a member that cannot be read back as its header describes it."""
    text = str(exc)
    if "CRC" in text:
        why = "its CRC-32 checksum does not match its content"
    elif isinstance(exc, EOFError) or "truncated" in text.lower() or "Bad magic" in text:
        why = "the archive ends or breaks off inside it"
    elif isinstance(exc, zlib.error):
        why = "its compressed data is corrupt"
    else:
        why = f"it is not what its header says ({text})"
    label = getattr(zf, "label", "The archive")
    return UnsafeArchiveError(
        f"{label}: member {info.filename!r} is damaged ({why}), so the file was not used; "
        "use an intact copy of it."
    )


def extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest_root: Path) -> tuple[Path, str]:
    """Stream one member below ``dest_root`` in bounded chunks; returns its path and SHA-256."""
    target = (dest_root / info.filename).resolve()
    if not target.is_relative_to(dest_root.resolve()):
        raise UnsafeArchiveError(f"Archive member {info.filename!r} points outside its folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    try:
        with zf.open(info) as src, open(target, "xb") as dst:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise UnsafeArchiveError(
                        f"Archive member {info.filename!r} is larger than its header says."
                    )
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _damaged(zf, info, exc) from exc
    return target, digest.hexdigest()
