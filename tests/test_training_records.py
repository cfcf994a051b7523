"""A version's training rows and training profile, stored beside it: register, read, verify, crash, transfer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import ModelRegistry
from core.errors import IntegrityError, RegistryError
from core.registry.records import TrainingRecordError, TrainingRows
from core.registry.store import _journal
from tests._factories import FEATURES, register, training_data

FIXTURE = Path(__file__).parent / "data" / "registry-0.1.0"


def koi_rows(n: int, seed: int = 0) -> pd.DataFrame:
    X, _ = training_data()
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))) * 10, columns=FEATURES)
    frame.insert(0, "kepoi_name", [f"K{i // 2 + 1:05d}.{i % 2 + 1:02d}" for i in range(n)])
    return frame


def register_with_records(registry, n: int = 300, **kwargs) -> tuple[str, pd.DataFrame]:
    rows = koi_rows(n)
    model_id = register(registry, training_rows=rows, training_frame=rows.iloc[: int(n * 0.8)], **kwargs)
    return model_id, rows


def test_register_and_read_back_training_rows_and_profile(registry_root):
    registry = ModelRegistry(registry_root)
    model_id, rows = register_with_records(registry)
    meta = registry.get_metadata(model_id)
    recorded = registry.training_rows(model_id)
    assert isinstance(recorded, TrainingRows) and len(recorded) == 300
    assert recorded.features == tuple(FEATURES) and recorded.id_column == "kepoi_name"
    assert recorded == TrainingRows.from_frame(rows, FEATURES)
    assert registry.training_rows(meta) == recorded  # by metadata too
    assert registry.training_rows("ExoplanetClassifier:1") == recorded  # and by any reference
    profile = registry.training_profile(model_id)
    assert profile["rows"] == 240 and list(profile["features"]) == FEATURES
    # Stored beside the version, named in its metadata with size and SHA-256.
    sidecars = meta.extra["sidecars"]
    assert set(sidecars) == {"training_rows", "training_profile"}
    for entry in sidecars.values():
        path = registry_root / "sidecars" / entry["file"]
        assert path.stat().st_size == entry["size"] and len(entry["sha256"]) == 64
    assert registry.verify().ok


def test_a_training_rows_record_can_be_given_as_is(registry_root):
    registry = ModelRegistry(registry_root)
    record = TrainingRows.from_frame(koi_rows(50), FEATURES)
    model_id = register(registry, training_rows=record)
    assert registry.training_rows(model_id) == record
    assert registry.training_profile(model_id) is None


def test_versions_without_records_return_none_and_the_old_fixture_opens_unchanged(tmp_path, registry_root):
    root = tmp_path / "old"
    shutil.copytree(FIXTURE, root)
    before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    registry = ModelRegistry(root)
    ids = [r["model_id"] for r in registry.list_models()]
    assert ids
    for model_id in ids:
        assert registry.training_rows(model_id) is None
        assert registry.training_profile(model_id) is None
    assert registry.verify().ok
    assert not (root / "sidecars").exists()
    after = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    # The model and metadata files are untouched (the index may note the copy's new folder time).
    assert {k: v for k, v in after.items() if k.parts[0] in ("models", "metadata")} == {
        k: v for k, v in before.items() if k.parts[0] in ("models", "metadata")
    }
    plain = ModelRegistry(registry_root)
    assert plain.training_rows(register(plain)) is None


def test_metadata_stays_small_and_the_sidecar_is_tens_of_kilobytes_for_5000_rows(registry_root):
    registry = ModelRegistry(registry_root)
    model_id, _ = register_with_records(registry, n=5000)
    meta = registry.get_metadata(model_id)
    metadata_file = registry_root / "metadata" / (Path(meta.model_file).stem + ".json")
    assert metadata_file.stat().st_size < 20_000
    rows_size = meta.extra["sidecars"]["training_rows"]["size"]
    assert 10_000 < rows_size < 100_000, rows_size
    assert meta.extra["sidecars"]["training_profile"]["size"] < 10_000


def test_a_changed_or_missing_sidecar_is_one_sentence_and_verify_reports_it(registry_root):
    registry = ModelRegistry(registry_root)
    model_id, _ = register_with_records(registry)
    meta = registry.get_metadata(model_id)
    rows_file = registry_root / "sidecars" / meta.extra["sidecars"]["training_rows"]["file"]
    profile_file = registry_root / "sidecars" / meta.extra["sidecars"]["training_profile"]["file"]
    data = bytearray(rows_file.read_bytes())
    data[-1] ^= 0xFF
    rows_file.write_bytes(bytes(data))
    with pytest.raises(
        IntegrityError, match=r"^The training rows file .* of .* does not match the SHA-256"
    ) as info:
        registry.training_rows(model_id)
    assert str(info.value).count(".") >= 1 and "\n" not in str(info.value)
    profile_file.unlink()
    with pytest.raises(IntegrityError, match=r"^The training profile file .* is missing; restore it"):
        registry.training_profile(model_id)
    report = registry.verify()
    kinds = {(p.kind, Path(p.path).name) for p in report.problems}
    assert ("sidecar_mismatch", rows_file.name) in kinds and ("missing_sidecar", profile_file.name) in kinds


def test_a_hostile_sidecar_whose_hash_was_recorded_too_is_refused_in_one_sentence(registry_root):
    registry = ModelRegistry(registry_root)
    model_id, _ = register_with_records(registry)
    meta = registry.get_metadata(model_id)
    hostile = b"\x80\x04\x95" + b"cos\nsystem\n(S'echo pwned'\ntR."  # a pickle, never unpickled
    rows_file = registry_root / "sidecars" / meta.extra["sidecars"]["training_rows"]["file"]
    rows_file.write_bytes(hostile)
    from core.common.files import sha256_bytes

    registry.update_metadata(model_id, description="x")  # metadata rewritten with a matching hash:
    meta = registry.get_metadata(model_id)
    meta.extra["sidecars"]["training_rows"].update(size=len(hostile), sha256=sha256_bytes(hostile))
    with pytest.raises(
        TrainingRecordError, match=r"^The training rows record of .* cannot be read: "
    ) as info:
        registry.training_rows(meta)
    assert isinstance(info.value, RegistryError) and "\n" not in str(info.value)


def test_a_crash_after_the_sidecars_are_written_leaves_no_version_and_repair_removes_the_orphans(
    registry_root, monkeypatch
):
    registry = ModelRegistry(registry_root)
    register(registry)  # v1, without records

    class Injected(Exception):
        pass

    def hook(step):
        if step == "sidecars_written":
            raise Injected(step)

    monkeypatch.setattr(_journal, "FAULT_HOOK", hook)
    with pytest.raises(Injected):
        register_with_records(registry)
    monkeypatch.setattr(_journal, "FAULT_HOOK", None)
    fresh = ModelRegistry(registry_root)
    assert [r["version"] for r in fresh.list_models()] == [1]
    orphans = sorted(registry_root.joinpath("sidecars").iterdir())
    assert len(orphans) == 2
    report = fresh.verify()
    found = {p.path for p in report.problems if p.kind == "orphan_sidecar"}
    assert found == {str(p) for p in orphans}
    assert all(p.leftover for p in report.problems if p.kind == "orphan_sidecar")
    fresh.verify(repair=True)  # the writers' lock first finishes the interrupted registration: they go
    assert not any(registry_root.joinpath("sidecars").iterdir())
    assert fresh.verify().ok
    # The next registration of the same name works and records its own rows.
    model_id, _ = register_with_records(fresh)
    assert len(fresh.training_rows(model_id)) == 300


def test_the_next_writer_removes_the_sidecars_of_a_registration_that_never_committed(
    registry_root, monkeypatch
):
    registry = ModelRegistry(registry_root)

    def hook(step):
        if step == "sidecars_written":
            raise KeyboardInterrupt

    monkeypatch.setattr(_journal, "FAULT_HOOK", hook)
    with pytest.raises(KeyboardInterrupt):
        register_with_records(registry)
    monkeypatch.setattr(_journal, "FAULT_HOOK", None)
    register(ModelRegistry(registry_root))  # recovers the pending intent
    assert not any(registry_root.joinpath("sidecars").iterdir())
    assert ModelRegistry(registry_root).verify().ok


def test_a_full_disk_while_writing_a_sidecar_leaves_nothing(registry_root, monkeypatch):
    from tests._faults import disk_full

    registry = ModelRegistry(registry_root)
    register(registry)
    (registry_root / "sidecars").mkdir()
    disk_full(monkeypatch, registry_root / "sidecars", 1)  # the second sidecar write fails
    with pytest.raises(OSError, match="full"):
        register_with_records(registry)
    monkeypatch.undo()
    assert [r["version"] for r in ModelRegistry(registry_root).list_models()] == [1]
    assert not [p for p in registry_root.rglob("*") if "sidecars" in p.parts and p.is_file()]
    assert not list((registry_root / "models").glob("*_v2_*"))


def test_export_import_keeps_the_records(tmp_path, registry_root):
    source = ModelRegistry(registry_root)
    model_id, rows = register_with_records(source)
    paths = source.export_model(model_id, tmp_path / "out")
    target = ModelRegistry(tmp_path / "other")
    new_id = target.import_model(paths["archive"])
    assert target.training_rows(new_id) == source.training_rows(model_id)
    assert target.training_profile(new_id) == source.training_profile(model_id)
    new_meta = target.get_metadata(new_id)
    assert (tmp_path / "other" / "sidecars" / new_meta.extra["sidecars"]["training_rows"]["file"]).is_file()
    assert target.verify().ok
    # The pair (model + JSON) carries no sidecar files: the imported version has none, rather than
    # records naming the other registry's files.
    pair_id = ModelRegistry(tmp_path / "third").import_model(paths["model"])
    third = ModelRegistry(tmp_path / "third")
    assert third.training_rows(pair_id) is None and "sidecars" not in third.get_metadata(pair_id).extra
    assert third.verify().ok


def _rewrite_archive(archive: Path, change) -> Path:
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    change(members)
    out = archive.with_name("changed.exoreg")
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def _with_manifest(members, member, data):
    from core.common.files import sha256_bytes

    members[member] = data
    manifest = json.loads(members["manifest.json"])
    manifest["files"][member] = {"sha256": sha256_bytes(data), "size": len(data)}
    members["manifest.json"] = json.dumps(manifest).encode()


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("wrong hash", lambda m: m.__setitem__("training_rows.bin", m["training_rows.bin"][:-1] + b"\x00")),
        ("corrupt", lambda m: _with_manifest(m, "training_rows.bin", b"EXOREG-TRAINING-ROWS\nrubbish")),
        ("pickle", lambda m: _with_manifest(m, "training_profile.json", b"\x80\x04\x95cos\nsystem\n.")),
    ],
)
def test_importing_an_archive_with_a_hostile_sidecar_imports_the_version_without_it(
    tmp_path, registry_root, case, change
):
    from core.registry.transfer import preview_import

    source = ModelRegistry(registry_root)
    model_id, _ = register_with_records(source)
    archive = _rewrite_archive(source.export_model(model_id, tmp_path / "out")["archive"], change)
    preview = preview_import(archive)
    assert len(preview.warnings) == 1
    warning = preview.warnings[0]
    assert warning.endswith("imported without it.") and "\n" not in warning
    target = ModelRegistry(tmp_path / "other")
    new_id = target.import_model(archive, preview=preview)
    kept = {"training_rows", "training_profile"} - {
        "training_rows" if "rows" in warning else "training_profile"
    }
    meta = target.get_metadata(new_id)
    assert set(meta.extra.get("sidecars", {})) == kept
    assert target.load(new_id)[0] is not None  # the model itself arrived intact
    assert target.verify().ok


def test_an_oversized_sidecar_in_an_archive_is_left_out(tmp_path, registry_root, monkeypatch):
    import core.registry.transfer as transfer
    from core.registry.transfer import preview_import

    source = ModelRegistry(registry_root)
    model_id, _ = register_with_records(source)
    archive = source.export_model(model_id, tmp_path / "out")["archive"]
    monkeypatch.setattr(transfer, "MAX_SIDECAR_BYTES", 1000)
    preview = preview_import(archive)
    assert [w for w in preview.warnings if "training rows" in w and "over the 1,000-byte limit" in w]
    new_id = ModelRegistry(tmp_path / "other").import_model(archive, preview=preview)
    assert ModelRegistry(tmp_path / "other").training_rows(new_id) is None


def test_backup_and_restore_carry_the_records(tmp_path, registry_root):
    from core.registry.transfer import backup_registry, restore_backup

    source = ModelRegistry(registry_root)
    model_id, _ = register_with_records(source)
    register(source)  # one version without records
    backup = backup_registry(source, tmp_path / "backup.zip")
    restore_backup(backup, tmp_path / "restored")
    restored = ModelRegistry(tmp_path / "restored")
    assert restored.training_rows(model_id) == source.training_rows(model_id)
    assert restored.training_profile(model_id) == source.training_profile(model_id)
    assert restored.verify().ok


def test_the_command_line_import_says_which_record_it_left_out(tmp_path, registry_root, capsys):
    from core.cli import main

    source = ModelRegistry(registry_root)
    model_id, _ = register_with_records(source)
    archive = _rewrite_archive(
        source.export_model(model_id, tmp_path / "out")["archive"],
        lambda m: _with_manifest(m, "training_rows.bin", b"EXOREG-TRAINING-ROWS\nrubbish"),
    )
    code = main(["import", str(archive), "--registry", str(tmp_path / "other")])
    out, err = capsys.readouterr()
    assert code == 0 and "Imported as" in out
    assert err.strip().splitlines()[-1] == (
        "Warning: changed.exoreg: its training rows record does not match the SHA-256 its metadata recorded, "
        "so the version is imported without it."
    )
    assert (
        ModelRegistry(tmp_path / "other").training_profile(
            ModelRegistry(tmp_path / "other").resolve("ExoplanetClassifier")
        )
        is not None
    )


def test_training_records_of_a_processed_split_are_the_train_and_validation_rows(registry_root):
    from sklearn.ensemble import RandomForestClassifier

    from core.training.processing import DataProcessor
    from core.training.synthetic import synthetic_koi_frame
    from core.training.trainer import training_records

    processor = DataProcessor(random_state=0)
    X_train, X_val, X_test, y_train, *_rest, features, _ = processor.process_dataset(
        synthetic_koi_frame(1500)
    )
    info = processor.split_info
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X_train.fillna(0), y_train)
    registry = ModelRegistry(registry_root)
    model_id = register(
        registry, model=model, feature_columns=features, **training_records(processor.split_frames)
    )
    rows = registry.training_rows(model_id)
    assert len(rows) == len(rows.ids) == info.training_samples + info.validation_samples
    assert registry.training_profile(model_id)["rows"] == info.training_samples
    held_out = rows.held_out_mask(
        pd.concat([processor.split_frames[k] for k in ("train", "validation", "test")])
    )
    assert int(held_out.sum()) == info.test_samples
    with pytest.raises(RegistryError, match="no training or validation rows"):
        training_records({})


def test_repair_never_removes_a_committed_versions_sidecar_nor_a_file_it_does_not_know(registry_root):
    registry = ModelRegistry(registry_root)
    model_id, _ = register_with_records(registry)
    plain_id = register(registry)  # no records: a file under its name is still its own, not an orphan
    stem = Path(registry.get_metadata(plain_id).model_file).stem
    own = registry_root / "sidecars" / f"{stem}.training-rows"
    own.write_bytes(b"x")
    newer = registry_root / "sidecars" / "something-a-newer-release-writes.bin"
    newer.write_bytes(b"y")
    report = registry.verify(repair=True)
    assert not [p for p in report.problems if p.kind == "orphan_sidecar"]
    assert own.exists() and newer.exists()
    assert registry.training_rows(model_id) is not None and registry.training_rows(plain_id) is None
