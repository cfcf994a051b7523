"""Crash safety, concurrency and index repair."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time

import pytest

from core import ModelRegistry
from core.errors import IntegrityError
from tests._factories import forest, register

_fork = multiprocessing.get_context("fork")


def _register_many(root, count, name):
    registry = ModelRegistry(root)
    model = forest(n_estimators=2)
    for _ in range(count):
        register(registry, model=model, name=name)


def test_eight_processes_registering_one_name_get_versions_1_to_200(registry_root):
    ModelRegistry(registry_root)
    procs = [_fork.Process(target=_register_many, args=(registry_root, 25, "Shared")) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    registry = ModelRegistry(registry_root)
    versions = [m["version"] for m in registry.list_models("Shared")]
    assert versions == list(range(1, 201))
    assert len({m["model_id"] for m in registry.list_models()}) == 200
    indexed = registry.list_models(include_deleted=True)
    registry.rebuild_index()
    assert ModelRegistry(registry_root).list_models(include_deleted=True) == indexed


def _register_forever(root):
    registry = ModelRegistry(root)
    model = forest(n_estimators=2)
    while True:
        register(registry, model=model, name="Killed")


@pytest.mark.slow
def test_registry_survives_sigkill_at_random_moments(registry_root):
    rng = random.Random(1234)
    ModelRegistry(registry_root)
    model = forest(n_estimators=2)
    for _round in range(30):
        child = _fork.Process(target=_register_forever, args=(registry_root,))
        child.start()
        time.sleep(rng.uniform(0.0, 0.12))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        registry = ModelRegistry(registry_root)
        report = registry.verify()
        assert report.ok, report.to_dict()
        for row in registry.list_models():
            loaded, meta = registry.load_model(model_id=row["model_id"])
            assert meta.model_id == row["model_id"] and hasattr(loaded, "predict")
        new_id = register(registry, model=model, name="Killed")
        assert registry.resolve("Killed").model_id == new_id
    final = ModelRegistry(registry_root)
    versions = [m["version"] for m in final.list_models("Killed")]
    assert versions == sorted(set(versions))
    final.verify(repair=True)
    assert final.verify().problems == []


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage", "wrong_shape", "journal_garbage"])
def test_damaged_index_is_rebuilt_and_nothing_is_lost(registry_root, damage):
    registry = ModelRegistry(registry_root)
    ids = [register(registry, name=n) for n in ("A", "A", "B")]
    registry.set_alias("A", "production", 2)
    index = registry_root / "index.json"
    journal = registry_root / "index.journal"
    if damage == "delete":
        index.unlink()
    elif damage == "truncate":
        index.write_bytes(index.read_bytes()[:40])
    elif damage == "garbage":
        index.write_bytes(os.urandom(300))
    elif damage == "wrong_shape":
        index.write_text('{"models": [1, 2, 3]}')
    else:
        journal.write_bytes(b"\x00garbage\n{not json")
    reopened = ModelRegistry(registry_root)
    assert [m["model_id"] for m in reopened.list_models()] == ids
    assert reopened.resolve("A@production").version == 2
    assert register(reopened, name="A").startswith("A_v3_")


def test_metadata_written_behind_the_index_is_picked_up(registry_root):
    registry = ModelRegistry(registry_root)
    first = register(registry)
    other = ModelRegistry(registry_root)
    second = register(other)
    assert [m["model_id"] for m in registry.list_models()] == [first, second]
    # A metadata file removed by hand disappears from the listing.
    meta_file = registry_root / "metadata" / f"{second}.json"
    time.sleep(0.01)  # let the folder's mtime tick
    meta_file.unlink()
    assert [m["model_id"] for m in ModelRegistry(registry_root).list_models()] == [first]


def test_one_changed_byte_is_an_integrity_error_and_nothing_is_loaded(registry_root, monkeypatch):
    registry = ModelRegistry(registry_root)
    model_id = register(registry)
    path = registry.model_file_path(model_id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    import skops.io

    def refuse(*args, **kwargs):
        raise AssertionError("a damaged file must not be deserialised")

    monkeypatch.setattr(skops.io, "load", refuse)
    with pytest.raises(IntegrityError, match=path.name):
        registry.load_model(model_id=model_id)
    report = registry.verify()
    assert not report.ok
    assert [p.kind for p in report.problems] == ["hash_mismatch"]


def _die_while_writing_metadata(root):
    import core.registry.store.local as mr

    def crash(path, text):
        (path.parent / ".exoreg-half-written.tmp").write_text(text[:10])
        os._exit(1)

    mr.atomic_write_text = crash
    register(ModelRegistry(root), name="Interrupted")


def test_leftovers_are_reported_but_not_corruption_and_cleaned_by_next_write(registry_root):
    registry = ModelRegistry(registry_root)
    register(registry)
    child = _fork.Process(target=_die_while_writing_metadata, args=(registry_root,))
    child.start()
    child.join()
    assert child.exitcode == 1
    report = ModelRegistry(registry_root).verify()
    assert report.ok
    assert sorted(p.kind for p in report.problems) == ["orphan_model_file", "temp_file"]
    assert registry.list_models("Interrupted") == []
    register(registry)
    assert registry.verify().problems == []
    # Leftovers no write knows about are removed by a repair.
    (registry_root / "models" / ".exoreg-dead.tmp").write_bytes(b"half")
    assert registry.verify().ok
    assert registry.verify(repair=True).repaired
    assert registry.verify().problems == []


def test_compaction_keeps_everything(registry_root, monkeypatch):
    import core.registry.store.local as mr

    monkeypatch.setattr(mr, "COMPACT_EVERY", 3)
    registry = ModelRegistry(registry_root)
    reader = ModelRegistry(registry_root)
    ids = [register(registry, name="C") for _ in range(8)]
    assert [m["model_id"] for m in reader.list_models()] == ids
    assert [m["model_id"] for m in ModelRegistry(registry_root).list_models()] == ids
