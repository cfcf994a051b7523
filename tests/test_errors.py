"""Errors a person can read: a full disk, a read-only registry, damaged archives.

Each failure is one line on stderr saying what happened and what to do, leaves nothing
half-written, and the registry still verifies and accepts the next change. Disks are
simulated (tests/_faults.py): the tests run as root, where chmod stops nothing.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import struct
import zipfile
from pathlib import Path

import pytest

from core import ModelRegistry
from core.cli import main
from core.common.files import describe_os_error
from core.registry import transfer
from tests._factories import FEATURES, forest, register
from tests._faults import disk_full, read_only

FIXTURE = Path(__file__).parent / "data" / "registry-0.1.0"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_sentence(err: str) -> str:
    """stderr is one line, ``exoreg: <sentence>``, with no traceback."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("exoreg: ") and lines[0].endswith("."), err
    return lines[0]


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_clean_and_verifies(root: Path) -> None:
    """No temporary file, no orphan, no problem of any kind: nothing half-written was left behind."""
    report = ModelRegistry(root).verify()
    assert report.ok and report.problems == [], [p.message for p in report.problems]
    assert not [p for p in root.rglob("*") if p.name.startswith(".exoreg-")]


@pytest.fixture
def registry_copy(tmp_path) -> Path:
    root = tmp_path / "registry"
    shutil.copytree(FIXTURE, root)
    ModelRegistry(root)  # a checkout does not keep times: the first open folds that in (copies below keep them)
    return root


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """An exported ``.exoreg`` archive (metadata deflated, model stored) of a model the fixture does not hold."""
    base = tmp_path_factory.mktemp("export")
    source = ModelRegistry(base / "registry")
    model_id = register(source, model=forest(seed=7), name="ExoplanetClassifier")
    return source.export_model(model_id, base / "out")["archive"]


# ================================================================== a full disk
def _count_writes(monkeypatch, root: Path, action) -> int:
    with monkeypatch.context() as m:
        fault = disk_full(m, root, None)
        action()
    return fault.writes


def test_import_on_a_full_disk_at_every_write_is_one_sentence_and_leaves_nothing(
    registry_copy, archive, tmp_path, monkeypatch, capsys
):
    probe = tmp_path / "probe"
    shutil.copytree(registry_copy, probe)
    writes = _count_writes(monkeypatch, probe, lambda: transfer.import_model(ModelRegistry(probe), archive))
    assert writes >= 3  # the intent, the model file, the metadata file, the index
    before = ModelRegistry(registry_copy).list_models(include_deleted=True)
    last = max(r["version"] for r in before if r["model_name"] == "ExoplanetClassifier")
    for k in range(writes):
        root = tmp_path / f"full-{k}"
        shutil.copytree(registry_copy, root)
        with monkeypatch.context() as m:
            fault = disk_full(m, root, k)
            code, _, err = run(capsys, "--registry", root, "import", archive)
        assert fault.failed
        rows = ModelRegistry(root).list_models(include_deleted=True)
        if code == 0:  # the metadata file (the commit point) landed: only the index update failed
            assert len(rows) == len(before) + 1
        else:
            line = one_sentence(err)
            assert "no space left on the disk" in line.lower() and "nothing was changed" in line
            assert "free some space" in line and str(root) in line
            assert rows == before
        assert_clean_and_verifies(root)
        # With space again the next import goes through, as the next version.
        new_id = transfer.import_model(ModelRegistry(root), archive)
        assert ModelRegistry(root).get_metadata(new_id).version == last + 1 + (code == 0)
        assert_clean_and_verifies(root)


def test_registration_on_a_full_disk_removes_the_model_file_whose_metadata_never_landed(registry_root, monkeypatch):
    registry = ModelRegistry(registry_root)
    register(registry, name="A")
    with monkeypatch.context() as m:
        fault = disk_full(m, registry_root, None)
        register(ModelRegistry(registry_root), name="A")
    steps = fault.writes
    for k in range(steps):
        with monkeypatch.context() as m:
            disk_full(m, registry_root, k)
            try:
                register(registry, name="A")
            except OSError as exc:
                assert "nothing was changed" in str(exc)
        assert_clean_and_verifies(registry_root)
    models = {p.name for p in registry.models_dir.iterdir()}
    assert models == {r["model_file"] for r in registry.list_models("A")}


def _failing_sink(fail_at: int):
    """``pyarrow.OSFile`` whose writes fail with ENOSPC from write number ``fail_at`` on."""
    import pyarrow as pa

    class Sink:
        def __init__(self, path):
            self.fh, self.n, self.closed = open(path, "wb"), 0, False  # noqa: SIM115 - closed by pyarrow

        def write(self, data):
            self.n += 1
            if self.n > fail_at:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.fh.write(data)

        def flush(self):
            self.fh.flush()

        def close(self):
            self.fh.close()
            self.closed = True

        def writable(self):
            return True

    real = pa.OSFile
    return lambda path, mode="r": pa.PythonFile(Sink(path), mode="w") if "w" in mode else real(path, mode)


@pytest.mark.parametrize("fail_at", [0, 1, 3])
def test_predict_on_a_full_disk_is_one_sentence_and_leaves_no_output(registry_copy, tmp_path, monkeypatch, capsys, fail_at):
    import numpy as np
    import pandas as pd
    import pyarrow

    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(60_000, len(FEATURES))), columns=FEATURES)
    table.insert(0, "kepoi_name", [f"K{i:06d}.01" for i in range(len(table))])
    source = tmp_path / "in.csv"
    table.to_csv(source, index=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    monkeypatch.setattr(pyarrow, "OSFile", _failing_sink(fail_at))
    code, out, err = run(capsys, "--registry", registry_copy, "predict", "ExoplanetClassifier", source, "-o", out_dir / "p.csv")
    line = one_sentence(err)
    assert code == 1 and out == ""
    assert "no space left on the disk for the output" in line.lower() and "p.csv" in line
    assert "left no output" in line and "free some space" in line
    assert list(out_dir.iterdir()) == []


# ================================================================== a read-only registry
@pytest.mark.parametrize("refusal", [errno.EROFS, errno.EACCES])
def test_changes_to_a_read_only_registry_are_one_sentence_and_change_nothing(
    registry_copy, archive, monkeypatch, capsys, refusal
):
    ModelRegistry(registry_copy)
    before = files_under(registry_copy)
    with monkeypatch.context() as m:
        read_only(m, registry_copy, refusal)
        _try_every_change(capsys, registry_copy, archive, refusal)
    assert files_under(registry_copy) == before
    assert_clean_and_verifies(registry_copy)


def _try_every_change(capsys, registry_copy, archive, refusal):
    expected = "read-only file system" if refusal == errno.EROFS else "was denied"
    for argv in (
        ["delete", "ExoplanetClassifier:1"],
        ["restore", "ExoplanetClassifier:1"],
        ["alias", "ExoplanetClassifier", "staging", "1"],
        ["describe", "ExoplanetClassifier:1", "--text", "new"],
        ["tag", "ExoplanetClassifier:1", "k=v"],
        ["import", archive],
        ["verify", "--repair"],
    ):
        code, _, err = run(capsys, "--registry", registry_copy, *argv)
        if argv[0] == "verify":  # nothing to repair: a read-only registry verifies
            assert code == 0, err
            continue
        line = one_sentence(err)
        assert code == 1 and expected in line and str(registry_copy) in line and "nothing was changed" in line, argv


def _copy_without_times(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, copy_function=shutil.copyfile)  # `cp -r`: new times everywhere
    os.utime(dest / "metadata", ns=(1, 1))  # and certainly not the ones the index recorded
    return dest


@pytest.mark.parametrize("index", ["kept", "missing"])
def test_list_on_a_read_only_copy_that_did_not_keep_times_lists_every_version(
    registry_copy, tmp_path, monkeypatch, capsys, index
):
    expected = ModelRegistry(registry_copy).list_models(include_deleted=True)
    copy = _copy_without_times(registry_copy, tmp_path / "copy")
    if index == "missing":
        (copy / "index.json").unlink()
        (copy / "index.journal").unlink()
    before = files_under(copy)
    with monkeypatch.context() as m:
        read_only(m, copy)
        code, out, err = run(capsys, "--registry", copy, "list", "--all", "--json")
        assert (code, err) == (0, "")
        assert json.loads(out) == expected
        code, out, _ = run(capsys, "--registry", copy, "verify")
        assert code == 0 and "OK" in out
        code, out, _ = run(capsys, "--registry", copy, "show", "CandidateRanker")
        assert code == 0 and "ranks candidates" in out
        code, _, err = run(capsys, "--registry", copy, "delete", "CandidateRanker")
        assert code == 1 and "read-only" in one_sentence(err)
    assert files_under(copy) == before


def test_export_into_a_read_only_folder_is_one_sentence(registry_copy, tmp_path, monkeypatch, capsys):
    dest = tmp_path / "dest"
    dest.mkdir()
    read_only(monkeypatch, dest)
    code, _, err = run(capsys, "--registry", registry_copy, "export", "ExoplanetClassifier", dest)
    line = one_sentence(err)
    assert code == 1 and "read-only file system" in line and str(dest) in line


def test_os_errors_read_as_sentences():
    full = describe_os_error(OSError(errno.ENOSPC, "No space left on device"), what="the registry /r")
    assert full == (
        "There is no space left on the disk for the registry /r (No space left on device), so nothing half-written "
        "was left behind; free some space or choose another place, then try again."
    )
    denied = describe_os_error(PermissionError(errno.EACCES, "Permission denied", "/x/y"), outcome="nothing was changed")
    assert denied.startswith("Access to /x/y was denied (Permission denied), so nothing was changed; ask its owner")
    other = describe_os_error(OSError(errno.EIO, "Input/output error", "/x/y"))
    assert other.startswith("/x/y could not be used (Input/output error)")


# ================================================================== damaged archives
def _patch_member(data: bytes, member: str, *, flags: int | None = None, method: int | None = None) -> bytes:
    """Change a member's flag bits or compression method in both its local and central headers."""
    out = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    pos = 0
    while (pos := out.find(b"PK\x01\x02", pos)) >= 0:
        name_len = struct.unpack_from("<H", out, pos + 28)[0]
        if bytes(out[pos + 46 : pos + 46 + name_len]).decode() == member:
            if flags is not None:
                struct.pack_into("<H", out, pos + 8, flags)
            if method is not None:
                struct.pack_into("<H", out, pos + 10, method)
        pos += 4
    if flags is not None:
        struct.pack_into("<H", out, info.header_offset + 6, flags)
    if method is not None:
        struct.pack_into("<H", out, info.header_offset + 8, method)
    return bytes(out)


def _flip_byte_in(data: bytes, member: str) -> bytes:
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    out = bytearray(data)
    out[start + info.compress_size // 2] ^= 0x01
    return bytes(out)


DAMAGE = {
    "bad CRC in the model": (lambda d: _flip_byte_in(d, "model.skops"), ["'model.skops' is damaged", "CRC-32"]),
    "bad data in the metadata": (lambda d: _flip_byte_in(d, "metadata.json"), ["'metadata.json' is damaged"]),
    "encrypted member": (lambda d: _patch_member(d, "model.skops", flags=1), ["is encrypted", "without a password"]),
    "LZMA member": (lambda d: _patch_member(d, "model.skops", method=14), ["method 14 (LZMA)", "save the file again"]),
    "cut at the end": (lambda d: d[:-10], ["not a complete ExoReg archive", "cut short", "again in full"]),
    "cut in half": (lambda d: d[: len(d) // 2], ["not a complete ExoReg archive", "cut short"]),
    "cut to a byte": (lambda d: d[:1], ["does not begin like a zip file", "again in full"]),
    "empty": (lambda d: b"", ["is empty", "again in full"]),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_archive_is_one_sentence_naming_it_and_nothing_is_imported(
    registry_copy, archive, tmp_path, capsys, damage
):
    make, phrases = DAMAGE[damage]
    bad = tmp_path / "model.exoreg"
    bad.write_bytes(make(archive.read_bytes()))
    before = files_under(registry_copy)
    code, _, err = run(capsys, "--registry", registry_copy, "import", bad)
    line = one_sentence(err)
    assert code == 1 and "model.exoreg" in line
    for phrase in phrases:
        assert phrase in line, line
    assert "looked for" not in line  # never taken for a model file without its JSON
    assert files_under(registry_copy) == before
    assert_clean_and_verifies(registry_copy)


def test_an_archive_cut_anywhere_is_refused_in_one_sentence(registry_copy, archive, tmp_path, capsys):
    data = archive.read_bytes()
    bad = tmp_path / "cut.exoreg"
    for cut in [*range(0, len(data), max(1, len(data) // 40)), *range(len(data) - 30, len(data))]:
        bad.write_bytes(data[:cut])
        code, _, err = run(capsys, "--registry", registry_copy, "import", bad)
        line = one_sentence(err)
        assert code == 1 and "cut.exoreg" in line and "looked for" not in line, (cut, line)
    assert_clean_and_verifies(registry_copy)


def test_a_backup_with_a_damaged_member_restores_nothing(registry_copy, tmp_path, capsys):
    backup = transfer.backup_registry(ModelRegistry(registry_copy), tmp_path / "b.zip")
    name = next(n for n in zipfile.ZipFile(backup).namelist() if n.startswith("metadata/"))
    backup.write_bytes(_flip_byte_in(backup.read_bytes(), name))
    target = tmp_path / "restored"
    code, _, err = run(capsys, "--registry", target, "restore-backup", backup)
    line = one_sentence(err)
    assert code == 1 and "b.zip" in line and "is damaged" in line
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.zip", "registry"]  # no staging folder left
