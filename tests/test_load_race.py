"""A file swapped between its check and its load is never what gets deserialised.

Each test replaces the file on disk right after it was checked (hashed, its format detected,
or previewed for a person); the bytes that were checked must be the bytes that load.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from core import ModelPersistence, ModelRegistry
from core.cli import main as cli_main
from core.errors import RegistryError
from core.registry import persistence, safety, transfer
from tests._factories import forest, register, training_data


class _WritesMarker:
    """Unpickling this creates a file: proof that code from the pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _swap(path: Path, data: bytes) -> None:
    """What a writer racing the reader does: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".swap")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _swap_after(monkeypatch, module, name: str, path: Path, data: bytes) -> list[int]:
    """Wrap ``module.name`` so that the file is swapped right after its first call returns."""
    calls = [0]
    real = getattr(module, name, None)
    if real is None:
        return calls

    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        calls[0] += 1
        if calls[0] == 1:
            _swap(path, data)
        return result

    monkeypatch.setattr(module, name, wrapper)
    return calls


@pytest.mark.parametrize("hook", ["hash", "detect_format"])
def test_persistence_loads_the_bytes_it_hashed(tmp_path, monkeypatch, hook):
    model = forest()
    path = ModelPersistence.save_model(model, tmp_path / "m.pkl")  # a signed pickle
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_WritesMarker(marker))
    if hook == "detect_format":
        _swap_after(monkeypatch, safety, "detect_format", path, evil)
    else:  # whichever hash function load_model uses: the file changes right after it is hashed
        for name in ("sha256_file", "sha256_bytes"):
            _swap_after(monkeypatch, persistence, name, path, evil)
    try:
        loaded, info = ModelPersistence.load_model(path)
    except RegistryError:
        loaded = None  # a clear refusal is acceptable; running the swapped file is not
    assert not marker.exists()
    if loaded is not None:
        X, _ = training_data()
        assert (loaded.predict(X) == model.predict(X)).all()


def test_persistence_load_hashes_exactly_once(tmp_path, monkeypatch):
    """Whatever is hashed first is what loads, even if the file changes at every later read."""
    model = forest()
    path = ModelPersistence.save_model(model, tmp_path / "m.pkl")
    marker = tmp_path / "pwned"
    _swap_after(monkeypatch, safety, "detect_format", path, pickle.dumps(_WritesMarker(marker)))
    _swap_after(monkeypatch, persistence, "sha256_file", path, pickle.dumps(_WritesMarker(marker)))
    loaded, _ = ModelPersistence.load_model(path)
    assert not marker.exists()
    X, _ = training_data()
    assert (loaded.predict(X) == model.predict(X)).all()


def test_load_skops_by_path_audits_and_loads_the_same_bytes(tmp_path, monkeypatch):
    path = tmp_path / "m.skops"
    safety.dump_skops(forest(n_estimators=5), path)
    other = safety.dumps_skops(forest(n_estimators=3, seed=1))
    _swap_after(monkeypatch, safety, "skops_untrusted_types", path, other)
    try:
        loaded = safety.load_skops(path)
    except RegistryError:
        return  # refusing is fine
    assert len(loaded.estimators_) == 5  # the audited file, not the one swapped in afterwards


def test_inspection_reports_on_one_version_of_the_file(tmp_path, monkeypatch):
    path = tmp_path / "m.skops"
    safety.dump_skops(forest(), path)
    expected = safety.inspect_model_file(path).to_dict()
    marker = tmp_path / "pwned"
    _swap_after(monkeypatch, safety, "detect_format", path, pickle.dumps(_WritesMarker(marker)))
    report = safety.inspect_model_file(path)
    assert report.to_dict() == expected
    assert not marker.exists()


def _exported_pickle_pair(tmp_path, registry) -> tuple[Path, Path]:
    """A pickle and its metadata JSON, as an export of a pickle version would write them."""
    meta = registry.get_metadata(register(registry))
    payload = pickle.dumps(forest(), protocol=4)
    meta.model_format = "pickle"
    folder = tmp_path / "export"
    folder.mkdir()
    model_path = folder / "m.pkl"
    model_path.write_bytes(payload)
    meta.model_sha256 = ""
    (folder / "m.json").write_text(meta.to_json())
    return model_path, folder / "m.json"


def test_import_registers_the_bytes_the_person_trusted(tmp_path, registry_root):
    registry = ModelRegistry(registry_root)
    model_path, meta_path = _exported_pickle_pair(tmp_path, registry)
    preview = transfer.preview_import(model_path, meta_path)
    assert preview.needs_trust
    marker = tmp_path / "pwned"
    _swap(model_path, pickle.dumps(_WritesMarker(marker)))  # after the person looked, before the import
    model_id = registry.import_model(model_path, meta_path, trusted=True, preview=preview)
    assert not marker.exists()
    assert registry.model_bytes(model_id) == preview.model_bytes
    loaded, _ = registry.load_model(model_id)
    assert hasattr(loaded, "predict")
    assert not marker.exists()


def test_cli_import_with_trust_imports_what_it_showed(tmp_path, registry_root, monkeypatch, capsys):
    registry = ModelRegistry(registry_root)
    model_path, meta_path = _exported_pickle_pair(tmp_path, registry)
    marker = tmp_path / "pwned"
    real_preview = transfer.preview_import
    swapped = []

    def preview_then_swap(*args, **kwargs):
        preview = real_preview(*args, **kwargs)
        if not swapped:
            swapped.append(True)
            _swap(model_path, pickle.dumps(_WritesMarker(marker)))
        return preview

    monkeypatch.setattr(transfer, "preview_import", preview_then_swap)
    code = cli_main(
        ["--registry", str(registry_root), "import", str(model_path), "--metadata", str(meta_path), "--trust"]
    )
    assert not marker.exists()
    assert code == 0, capsys.readouterr().err
    newest = max(ModelRegistry(registry_root).list_models(), key=lambda m: m["version"])
    loaded, _ = ModelRegistry(registry_root).load_model(newest["model_id"])
    assert not marker.exists()
    X, _ = training_data()
    assert len(loaded.predict(X)) == len(X)


def test_gui_import_registers_the_previewed_bytes(tmp_path, registry_root):
    from exoreg_gui.dialogs.import_dialog import import_items

    registry = ModelRegistry(registry_root)
    model_path, meta_path = _exported_pickle_pair(tmp_path, registry)
    os.replace(meta_path, model_path.with_suffix(".json"))
    preview = transfer.preview_import(model_path)
    marker = tmp_path / "pwned"
    _swap(model_path, pickle.dumps(_WritesMarker(marker)))
    ((path, result),) = import_items(registry, [(str(model_path), True, preview)])
    assert isinstance(result, str), result
    assert registry.model_bytes(result) == preview.model_bytes
    assert not marker.exists()


def test_preview_of_a_fifo_is_refused_without_hanging(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    fifo = tmp_path / "m.exoreg"
    os.mkfifo(fifo)
    # In a child process, so that a read that blocks on the FIFO fails the test instead of hanging it.
    script = (
        "import sys\n"
        "from core.registry import safety, transfer\n"
        "for call in (transfer.preview_import, safety.inspect_model_file, safety.load_skops):\n"
        "    try:\n"
        "        call(sys.argv[1])\n"
        "    except (OSError, Exception) as exc:\n"
        "        print(type(exc).__name__, exc)\n"
        "    else:\n"
        "        print('accepted')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(fifo)], env=env, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading a FIFO blocked instead of being refused")
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert len(lines) == 3 and "accepted" not in lines, lines
    assert "FIFO" in lines[1] and "FIFO" in lines[2], lines
