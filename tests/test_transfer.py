"""Export / import, the trust gate for foreign files, archive safety, backups."""

from __future__ import annotations

import hashlib
import json
import operator
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core import ModelRegistry
from core.errors import (
    IntegrityError,
    MetadataValidationError,
    RegistryError,
    UnsafeArchiveError,
    UntrustedModelError,
)
from core.registry.transfer import backup_registry, preview_import, restore_backup
from tests._factories import forest, register, training_data

PROVENANCE = {"model_id", "version", "model_file", "imported_from", "file_signature", "aliases"}


class _WritesMarker:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def registry(registry_root):
    reg = ModelRegistry(registry_root)
    register(reg, description="baseline", tags={"features": "physical"})
    return reg


@pytest.fixture
def exported(registry, tmp_path):
    model_id = registry.list_models()[0]["model_id"]
    return registry.export_model(model_id, tmp_path / "exports")


def test_guide_export_import_round_trip(registry, exported, tmp_path):
    assert set(exported) == {"model", "metadata", "archive"}
    assert exported["model"].suffix == ".skops" and exported["archive"].suffix == ".exoreg"
    original = registry.list_models()[0]["model_id"]
    imported_id = registry.import_model(model_path=str(exported["model"]), metadata_path=str(exported["metadata"]))
    from_archive = registry.import_model(exported["archive"])
    X, _ = training_data()
    model0, meta0 = registry.load_model(model_id=original)
    for new_id, version in ((imported_id, 2), (from_archive, 3)):
        model, meta = registry.load_model(model_id=new_id)
        np.testing.assert_array_equal(model.predict_proba(X), model0.predict_proba(X))
        assert meta.version == version
        assert meta.imported_from["model_id"] == original
        assert meta.imported_from["sha256"] == meta0.model_sha256
        a, b = meta0.to_dict(), meta.to_dict()
        assert {k: v for k, v in a.items() if k not in PROVENANCE} == {k: v for k, v in b.items() if k not in PROVENANCE}


def test_import_into_another_registry(exported, tmp_path):
    other = ModelRegistry(tmp_path / "other")
    new_id = other.import_model(exported["archive"])
    assert other.get_metadata(new_id).version == 1


def _assert_refused(registry, marker, path, metadata=None, error=UntrustedModelError):
    before = snapshot(registry.root)
    with pytest.raises(error):
        registry.import_model(path, metadata)
    assert not marker.exists()
    assert snapshot(registry.root) == before


def _archive(path: Path, members: dict[str, bytes], manifest_files: dict | None = None) -> Path:
    manifest = {"format": "exoreg-model", "format_version": 1,
                "files": manifest_files if manifest_files is not None else
                {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in members.items()}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("wrapping", [".pkl", ".joblib", ".exoreg", ".skops"])
def test_marker_writing_pickle_is_refused_in_every_wrapping(registry, exported, tmp_path, wrapping):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_WritesMarker(marker))
    meta = json.loads(exported["metadata"].read_text())
    meta["model_sha256"] = hashlib.sha256(evil).hexdigest()  # a travelling hash is no trust
    if wrapping == ".exoreg":
        path = _archive(tmp_path / "evil.exoreg",
                        {"model.pkl": evil, "metadata.json": json.dumps(meta).encode()})
        _assert_refused(registry, marker, path)
    else:
        path = tmp_path / f"evil{wrapping}"
        path.write_bytes(evil)
        (tmp_path / "evil.json").write_text(json.dumps(meta))
        _assert_refused(registry, marker, path)
    report = preview_import(path).inspection
    assert report.imports == ["io.open"] and not report.safe


def test_a_harmless_pickle_imports_with_trust_and_then_loads(registry, exported, tmp_path):
    import joblib

    model = forest()
    path = tmp_path / "shared.joblib"
    joblib.dump(model, path)
    meta = json.loads(exported["metadata"].read_text())
    meta["model_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "shared.json").write_text(json.dumps(meta))
    with pytest.raises(UntrustedModelError):
        registry.import_model(path)
    new_id = registry.import_model(path, trusted=True)
    loaded, meta = ModelRegistry(registry.root).load_model(model_id=new_id)  # signed: no prompt again
    assert meta.model_format == "pickle" and meta.imported_from["trusted_by_user"]
    X, _ = training_data()
    assert (loaded.predict(X) == model.predict(X)).all()


def test_skops_with_untrusted_types_needs_trust(registry, exported, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    from core import ModelPersistence

    X, y = training_data()
    pipe = make_pipeline(FunctionTransformer(operator.pos), DecisionTreeClassifier(max_depth=3)).fit(X, y)
    path = ModelPersistence.save_model(pipe, tmp_path / "custom.skops")
    meta = json.loads(exported["metadata"].read_text())
    meta["model_sha256"] = ""
    (tmp_path / "custom.json").write_text(json.dumps(meta))
    preview = preview_import(path)
    assert preview.needs_trust and preview.inspection.untrusted == ["_operator.pos"]
    before = snapshot(registry.root)
    with pytest.raises(UntrustedModelError, match="_operator.pos"):
        registry.import_model(path)
    assert snapshot(registry.root) == before
    new_id = registry.import_model(path, trusted=True)
    assert registry.load_model(model_id=new_id)[0].predict(X).shape == (len(X),)


def test_crafted_tree_is_refused_at_import(registry, exported, tmp_path):
    from core.registry import safety

    model = forest()
    tree = model.estimators_[1].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10_000
    state["nodes"] = nodes
    tree.__setstate__(state)
    path = tmp_path / "crafted.skops"
    safety.dump_skops(model, path)
    meta = json.loads(exported["metadata"].read_text())
    meta["model_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "crafted.json").write_text(json.dumps(meta))
    before = snapshot(registry.root)
    with pytest.raises(UntrustedModelError, match="malformed decision tree"):
        registry.import_model(path)
    assert snapshot(registry.root) == before


@pytest.mark.parametrize("field,value", [
    ("accuracy", float("nan")), ("f1_score", float("inf")), ("precision", 1.2), ("recall", "0.9"),
    ("version", "one"), ("model_name", "bad/name"), ("model_name", "at@sign"), ("model_name", "best"), ("feature_columns", "koi_period"),
    ("tags", {"k": 5}), ("description", "x" * 100_000), ("feature_columns", ["f"] * 20_000),
    ("hyperparameters", {"blob": "x" * 6_000_000}), ("training_date", None),
])
def test_bad_metadata_is_refused_naming_the_field(registry, exported, field, value):
    meta = json.loads(exported["metadata"].read_text())
    meta[field] = value
    exported["metadata"].write_text(json.dumps(meta))
    before = snapshot(registry.root)
    with pytest.raises(MetadataValidationError) as info:
        registry.import_model(exported["model"], exported["metadata"])
    assert info.value.field == field
    assert field in str(info.value)
    assert snapshot(registry.root) == before


@pytest.mark.parametrize("missing", ["model_id", "model_name", "accuracy", "training_date"])
def test_missing_required_field(registry, exported, missing):
    meta = json.loads(exported["metadata"].read_text())
    del meta[missing]
    exported["metadata"].write_text(json.dumps(meta))
    with pytest.raises(MetadataValidationError, match=missing):
        registry.import_model(exported["model"], exported["metadata"])


def test_changed_file_in_transit_is_an_integrity_error(registry, exported):
    data = bytearray(exported["model"].read_bytes())
    data[100] ^= 1
    exported["model"].write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        registry.import_model(exported["model"], exported["metadata"])


def _raw_zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


@pytest.mark.parametrize("attack", ["absolute", "dotdot", "symlink", "unexpected", "bomb", "two_models", "oversized"])
def test_unsafe_archives_are_refused(registry, exported, tmp_path, attack, monkeypatch):
    with zipfile.ZipFile(exported["archive"]) as zf:
        good = {n: zf.read(n) for n in zf.namelist()}
    entries = list(good.items())
    if attack == "absolute":
        entries.append(("/tmp/evil.txt", b"x"))
    elif attack == "dotdot":
        entries.append(("../evil.txt", b"x"))
    elif attack == "symlink":
        link = zipfile.ZipInfo("model.pkl")
        link.external_attr = (0o120777 << 16)
        entries.append((link, b"/etc/passwd"))
    elif attack == "unexpected":
        entries.append(("run_me.sh", b"echo hi"))
    elif attack == "oversized":
        import core.transfer

        monkeypatch.setattr(core.transfer, "MAX_MODEL_BYTES", 10_000)  # the model member is ~120 kB
    elif attack == "bomb":
        entries = [(n, d) for n, d in entries if n != "metadata.json"] + [("metadata.json", b" " * (50 << 20))]
    else:
        entries.append(("model.pkl", pickle.dumps({"a": 1})))
    path = _raw_zip(tmp_path / f"{attack}.exoreg", entries)
    before = snapshot(registry.root)
    with pytest.raises(UnsafeArchiveError):
        registry.import_model(path)
    assert snapshot(registry.root) == before
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_backup_and_restore(registry, tmp_path):
    register(registry, name="Other")
    registry.set_alias("Other", "production", 1)
    archive = backup_registry(registry, tmp_path / "backup.zip")
    target = tmp_path / "restored"
    assert restore_backup(archive, target) == 2
    restored = ModelRegistry(target)
    assert restored.list_models() == registry.list_models()
    assert restored.verify().ok
    assert restored.resolve("Other@production").version == 1
    with pytest.raises(RegistryError, match="not empty"):
        restore_backup(archive, target)


def test_backup_with_traversal_is_refused(tmp_path):
    manifest = json.dumps({"format": "exoreg-backup", "files": {}}).encode()
    path = _raw_zip(tmp_path / "evil.zip", [("manifest.json", manifest), ("models/../../evil.txt", b"x")])
    with pytest.raises(UnsafeArchiveError):
        restore_backup(path, tmp_path / "target")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "target").exists()


def test_backup_with_tampered_member_is_refused(registry, tmp_path):
    archive = backup_registry(registry, tmp_path / "backup.zip")
    with zipfile.ZipFile(archive) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    name = next(n for n in members if n.startswith("models/"))
    data = bytearray(members[name])
    data[len(data) // 2] ^= 0xFF
    members[name] = bytes(data)
    tampered = _raw_zip(tmp_path / "tampered.zip", list(members.items()))
    with pytest.raises(IntegrityError):
        restore_backup(tampered, tmp_path / "target")
    assert not (tmp_path / "target").exists()
    assert not list(tmp_path.glob(".exoreg-restore-*"))


def test_preview_reports_what_a_person_needs(exported):
    preview = preview_import(exported["archive"])
    info = preview.to_dict()
    assert info["format"] == "skops" and info["checksum_ok"] is True and info["needs_trust"] is False
    assert info["model_name"] == "ExoplanetClassifier"
