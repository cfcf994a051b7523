"""ModelPersistence: the guide's snippets, signed pickles, checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import stat

import pytest

from core import ModelPersistence
from core.errors import IntegrityError, UntrustedModelError
from core.model_persistence import sidecar_path
from core.registry.safety import config_dir
from tests._factories import forest, training_data


class _WritesMarker:
    """Unpickling this creates a file: proof that code from the pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_guide_save_and_load_snippets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained_model = forest()
    ModelPersistence.save_model(
        model=trained_model,
        filepath="models/my_model.pkl",
        metadata={"notes": "Best performing model"},
    )
    model, metadata = ModelPersistence.load_model("models/my_model.pkl")
    X, _ = training_data()
    assert (model.predict(X) == trained_model.predict(X)).all()
    assert metadata["notes"] == "Best performing model"
    assert metadata["format"] == "pickle" and len(metadata["sha256"]) == 64
    assert metadata["sklearn_version"]


def test_guide_checkpoint_snippet_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = forest()
    paths = [
        ModelPersistence.save_model_checkpoint(
            model=model, checkpoint_dir="checkpoints/", checkpoint_name="exoplanet_rf",
            metadata={"epoch": 10, "loss": 0.15},
        )
        for _ in range(3)
    ]
    assert len(set(paths)) == 3
    assert all(p.name.startswith("exoplanet_rf_") and p.suffix == ".skops" for p in paths)
    loaded, meta = ModelPersistence.load_model(paths[0])
    assert meta["epoch"] == 10 and meta["format"] == "skops"


def test_skops_file_saves_and_loads_safely(tmp_path):
    path = ModelPersistence.save_model(forest(), tmp_path / "m.skops", {"k": "v"})
    side = json.loads(sidecar_path(path).read_text())
    assert side["format"] == "skops" and "signature" not in side
    model, meta = ModelPersistence.load_model(path)
    assert meta["k"] == "v"


def _pickle_with_forged_sidecar(tmp_path, payload, name="evil.pkl"):
    path = tmp_path / name
    path.write_bytes(payload)
    import hashlib

    digest = hashlib.sha256(payload).hexdigest()
    sidecar_path(path).write_text(json.dumps({"sha256": digest, "format": "pickle", "signature": "0" * 64}))
    return path


def test_pickle_without_a_valid_signature_is_refused_in_every_way(tmp_path):
    path = ModelPersistence.save_model(forest(), tmp_path / "m.pkl")
    side = sidecar_path(path)
    original = side.read_text()

    side.unlink()  # removed
    with pytest.raises(UntrustedModelError):
        ModelPersistence.load_model(path)

    data = json.loads(original)  # altered hash
    data["sha256"] = "0" * 64
    side.write_text(json.dumps(data))
    with pytest.raises(IntegrityError):
        ModelPersistence.load_model(path)

    data = json.loads(original)  # correct hash, no valid signature
    data["signature"] = "f" * 64
    side.write_text(json.dumps(data))
    with pytest.raises(UntrustedModelError):
        ModelPersistence.load_model(path)
    del data["signature"]
    side.write_text(json.dumps(data))
    with pytest.raises(UntrustedModelError):
        ModelPersistence.load_model(path)

    model, _ = ModelPersistence.load_model(path, trusted=True)
    assert hasattr(model, "predict")


@pytest.mark.parametrize("name", ["evil.pkl", "evil.joblib", "evil.skops"])
def test_marker_writing_pickle_never_runs(tmp_path, name):
    marker = tmp_path / "pwned"
    path = _pickle_with_forged_sidecar(tmp_path, pickle.dumps(_WritesMarker(marker)), name)
    with pytest.raises(UntrustedModelError):
        ModelPersistence.load_model(path)
    assert not marker.exists()


def test_signing_key_is_private_to_the_user(tmp_path):
    ModelPersistence.save_model(forest(), tmp_path / "m.pkl")
    key = config_dir() / "signing.key"
    assert key.exists()
    if os.name == "posix":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_changed_byte_in_a_saved_file_is_caught(tmp_path):
    path = ModelPersistence.save_model(forest(), tmp_path / "m.skops")
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        ModelPersistence.load_model(path)


def test_unknown_extension_is_a_clear_error(tmp_path):
    from core.errors import RegistryError

    with pytest.raises(RegistryError, match=".skops"):
        ModelPersistence.save_model(forest(), tmp_path / "m.bin")
