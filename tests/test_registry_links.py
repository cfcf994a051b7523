"""Backups, exports and bundles copy only the registry's own regular files, checked against their hashes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import ModelRegistry
from core.deployment.bundle import export_registered_model
from core.errors import IntegrityError
from core.registry.transfer import backup_registry, export_model
from tests._factories import register

ROOT = Path(__file__).resolve().parents[1]


def _registry_with_model(registry_root):
    registry = ModelRegistry(registry_root)
    model_id = register(registry)
    meta = registry.get_metadata(model_id)
    return registry, model_id, registry.models_dir / meta.model_file


def _link_to_secret(tmp_path, model_file: Path) -> Path:
    secret = tmp_path / "signing.key"
    secret.write_text("ab" * 32)
    model_file.unlink()
    os.symlink(secret, model_file)
    return secret


def _fifo_in_place(model_file: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    model_file.unlink()
    os.mkfifo(model_file)


def _one_sentence(exc: BaseException, name: str) -> None:
    message = str(exc)
    assert name in message and "\n" not in message, message


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_a_symlinked_model_file_is_refused_by_backup_export_and_bundle(tmp_path, registry_root):
    registry, model_id, model_file = _registry_with_model(registry_root)
    _link_to_secret(tmp_path, model_file)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError, match="symbolic link") as caught:
        backup_registry(registry, out / "backup.zip")
    _one_sentence(caught.value, model_file.name)
    with pytest.raises(IntegrityError, match="symbolic link"):
        export_model(registry, model_id, out / "export")
    with pytest.raises(IntegrityError, match="symbolic link"):
        export_registered_model(registry, model_id, out / "bundle", include_onnx=False)
    assert not (out / "backup.zip").exists()
    assert not (out / "export").exists() or not any((out / "export").iterdir())
    assert not (out / "bundle").exists() or not any((out / "bundle").iterdir())
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temporary leftovers


def test_a_fifo_in_place_of_a_model_file_is_refused_without_hanging(tmp_path, registry_root):
    registry, model_id, model_file = _registry_with_model(registry_root)
    _fifo_in_place(model_file)
    # A child process: a read that blocks on the FIFO fails the test instead of hanging the run.
    script = (
        "import sys\n"
        "from core import ModelRegistry\n"
        "from core.registry.transfer import backup_registry, export_model\n"
        "r = ModelRegistry(sys.argv[1])\n"
        "for call in (lambda: backup_registry(r, sys.argv[2] + '/b.zip'), lambda: export_model(r, sys.argv[3], sys.argv[2] + '/e')):\n"
        "    try:\n"
        "        call()\n"
        "    except Exception as exc:\n"
        "        print(type(exc).__name__, exc)\n"
        "    else:\n"
        "        print('accepted')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(registry_root), str(tmp_path), model_id],
            env=env, capture_output=True, text=True, timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading a FIFO in the registry blocked instead of being refused")
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert lines and all(line.startswith("IntegrityError") and "FIFO" in line for line in lines), lines
    assert not (tmp_path / "b.zip").exists()


def test_a_changed_model_file_is_refused_by_export_and_backup(tmp_path, registry_root):
    registry, model_id, model_file = _registry_with_model(registry_root)
    data = bytearray(model_file.read_bytes())
    data[-20] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="SHA-256") as caught:
        backup_registry(registry, tmp_path / "backup.zip")
    _one_sentence(caught.value, model_file.name)
    assert not (tmp_path / "backup.zip").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(IntegrityError, match="SHA-256"):
        export_model(registry, model_id, tmp_path / "export")
    assert not (tmp_path / "export").exists() or not any((tmp_path / "export").iterdir())


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_cli_backup_of_a_registry_with_a_linked_model_file_exits_1_with_one_line(tmp_path, registry_root):
    _, _, model_file = _registry_with_model(registry_root)
    _link_to_secret(tmp_path, model_file)
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "--registry", str(registry_root), "backup", str(tmp_path / "b.zip")],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert model_file.name in done.stderr and "symbolic link" in done.stderr
    assert not (tmp_path / "b.zip").exists()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_a_symlinked_metadata_file_is_not_read(tmp_path, registry_root):
    registry, model_id, model_file = _registry_with_model(registry_root)
    meta_file = registry.metadata_dir / (model_file.stem + ".json")
    copy = tmp_path / "elsewhere.json"
    copy.write_bytes(meta_file.read_bytes())
    meta_file.unlink()
    os.symlink(copy, meta_file)
    reopened = ModelRegistry(registry_root)
    with pytest.raises(IntegrityError, match="symbolic link"):
        reopened.store.read_metadata(model_id)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_verify_reports_links_and_special_files_without_following_them(tmp_path, registry_root):
    registry, model_id, model_file = _registry_with_model(registry_root)
    other = register(registry, name="Other")
    other_file = registry.models_dir / registry.get_metadata(other).model_file
    # A link to a copy with the right content would pass a check that follows links.
    copy = tmp_path / "copy.skops"
    copy.write_bytes(model_file.read_bytes())
    model_file.unlink()
    os.symlink(copy, model_file)
    _fifo_in_place(other_file)

    report = ModelRegistry(registry_root).verify()
    kinds = {p.path: p.kind for p in report.problems}
    assert not report.ok
    assert kinds[str(model_file)] == "not_regular_file"
    assert kinds[str(other_file)] == "not_regular_file"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_a_rebuild_does_not_index_a_linked_metadata_file(tmp_path, registry_root):
    registry, model_id, model_file = _registry_with_model(registry_root)
    meta_file = registry.metadata_dir / (model_file.stem + ".json")
    copy = tmp_path / "elsewhere.json"
    copy.write_bytes(meta_file.read_bytes())
    meta_file.unlink()
    os.symlink(copy, meta_file)

    assert registry.rebuild_index() == 0
    report = registry.verify()
    assert any(p.kind == "corrupt_metadata" and p.path == str(meta_file) for p in report.problems)
