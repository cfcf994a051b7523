"""The contract every RegistryStore keeps, run against each store: the local folder and an S3 bucket
(on the SeaweedFS server of ``tests/_s3server.py``).

A store is added to ``KITS`` with the few store-specific ways a test damages it (a corrupt
metadata record, a changed or missing model file, the leftovers of an interrupted write);
everything else goes through :class:`ModelRegistry` or the store's own protocol methods.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import threading
import time
from pathlib import Path

import pytest

from core import ModelRegistry
from core.errors import IntegrityError, ModelNotFoundError, RegistryError
from core.registry.metadata import ModelMetadata
from core.registry.store import open_store
from core.registry.store.base import Problem, RegistryStore, Scan, StoreMissing
from core.registry.store.local import LocalStore
from tests._factories import FEATURES, forest, register, training_data

FIXTURE_0_1_0 = Path(__file__).parent / "data" / "registry-0.1.0"


class LocalKit:
    """How the contract tests make and damage a :class:`LocalStore`."""

    name = "local"

    def make(self, tmp_path: Path) -> LocalStore:
        return LocalStore(tmp_path / "registry")

    def corrupt_metadata(self, store: LocalStore, stem: str) -> None:
        (store.metadata_dir / f"{stem}.json").write_text("{ not json", encoding="utf-8")

    def change_model_file(self, store: LocalStore, meta: ModelMetadata) -> None:
        path = store.models_dir / meta.model_file
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))

    def remove_model_file(self, store: LocalStore, meta: ModelMetadata) -> None:
        (store.models_dir / meta.model_file).unlink()

    def leave_leftovers(self, store: LocalStore) -> int:
        """A temporary file and a model file whose metadata never landed; returns how many."""
        (store.models_dir / ".exoreg-interrupted.tmp").write_bytes(b"half a model")
        (store.models_dir / "Never_v1_20260101_000000.skops").write_bytes(b"a model without metadata")
        return 2


class S3Kit:
    """How the contract tests make and damage an :class:`S3Store` (a fresh prefix in the session's bucket)."""

    name = "s3"

    def __init__(self):
        self.uri: str | None = None

    def make(self, tmp_path: Path):
        from core.registry.store.s3 import S3Store

        return S3Store(self.uri)

    @staticmethod
    def _client(store):
        return store.client

    def corrupt_metadata(self, store, stem: str) -> None:
        model_id = next(m for m, row in store.entries().items() if Path(row["model_file"]).stem == stem)
        seq = store._s.state.meta_seq[model_id]
        store.client.put_object(Bucket=store.bucket, Key=store._log_key(seq), Body=b"{ not json")

    def change_model_file(self, store, meta: ModelMetadata) -> None:
        key = store._object_key(meta.model_sha256)
        data = bytearray(store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())
        data[len(data) // 2] ^= 0x01
        store.client.put_object(Bucket=store.bucket, Key=key, Body=bytes(data))

    def remove_model_file(self, store, meta: ModelMetadata) -> None:
        store.client.delete_object(Bucket=store.bucket, Key=store._object_key(meta.model_sha256))

    def leave_leftovers(self, store) -> int:
        """Two objects no version names (uploads whose registration never committed), past the grace age."""
        store.orphan_grace_s = -60  # the store's clock has second resolution: any orphan is old enough here
        for data in (b"half a model", b"a model without metadata"):
            digest = hashlib.sha256(data).hexdigest()
            store.client.put_object(Bucket=store.bucket, Key=store._object_key(digest), Body=data)
        return 2


KITS = [LocalKit(), pytest.param(S3Kit(), marks=pytest.mark.s3, id="s3")]


@pytest.fixture(params=KITS, ids=lambda kit: kit.name)
def kit(request):
    kit = request.param
    if kit.name == "s3":
        kit.uri = request.getfixturevalue("s3_uri")
    return kit


@pytest.fixture
def store(kit, tmp_path) -> RegistryStore:
    return kit.make(tmp_path)


@pytest.fixture
def registry(store) -> ModelRegistry:
    return ModelRegistry(store)


def _holders(registry: ModelRegistry, name: str, alias: str) -> list[int]:
    return [r["version"] for r in registry.list_models(name, include_deleted=True) if alias in r["aliases"]]


# ================================================================ the protocol itself
def test_the_store_has_every_protocol_member(store):
    members = [
        name for name in vars(RegistryStore) if not name.startswith("_")
    ]
    assert {"uri", "location", "revision", "entries", "add_version", "snapshot"} <= set(members)
    missing = [name for name in members if not hasattr(store, name)]
    assert missing == []
    assert isinstance(store.uri, str) and store.uri
    assert isinstance(store.location, str) and store.location


# ================================================================ versions and round trips
def test_versions_are_one_to_n_without_gaps(registry):
    ids = [register(registry) for _ in range(5)]
    assert [registry.get_metadata(i).version for i in ids] == [1, 2, 3, 4, 5]
    register(registry, name="Other")
    assert [r["version"] for r in registry.list_models("ExoplanetClassifier")] == [1, 2, 3, 4, 5]
    assert [r["version"] for r in registry.list_models("Other")] == [1]
    registry.delete_model(ids[-1])  # a deleted version keeps its number
    assert registry.get_metadata(register(registry)).version == 6


def test_concurrent_writers_through_two_registries_get_distinct_versions(store):
    first, second = ModelRegistry(store), ModelRegistry(store.uri)
    model = forest()
    ids: list[str] = []
    lock = threading.Lock()

    def work(reg: ModelRegistry) -> None:
        for _ in range(4):
            model_id = register(reg, model=model)
            with lock:
                ids.append(model_id)

    threads = [threading.Thread(target=work, args=(reg,)) for reg in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(first.get_metadata(i).version for i in ids) == list(range(1, 9))


def test_metadata_and_model_bytes_round_trip(registry, store):
    model_id = register(registry, description="round trip", tags={"team": "kepler"})
    meta = registry.get_metadata(model_id)
    assert store.read_metadata(model_id).to_dict() == meta.to_dict()
    assert meta.description == "round trip" and meta.tags == {"team": "kepler"}
    payload = store.read_model(meta)
    assert hashlib.sha256(payload).hexdigest() == meta.model_sha256 and len(payload) == meta.model_size
    assert registry.model_bytes(model_id) == payload
    model, loaded = registry.load_model(model_id=model_id)
    X, y = training_data()
    assert loaded.model_id == model_id
    assert (model.predict(X[FEATURES]) == forest().predict(X[FEATURES])).all()
    assert store.entries()[model_id] == meta.summary()
    assert [r["model_id"] for r in store.rows()] == [model_id]


def test_add_version_directly_commits_file_then_metadata(registry, store):
    template = registry.get_metadata(register(registry))
    payload = b"not really a model, but bytes the store must keep exactly"

    def finish(slot):
        meta = copy.deepcopy(template)
        meta.version = slot.version
        meta.model_id, meta.model_file = slot.claim(f"Direct_v{slot.version}", ".skops")
        meta.model_name = "Direct"
        meta.model_sha256 = hashlib.sha256(payload).hexdigest()
        meta.model_size = len(payload)
        meta.aliases = []
        return meta

    meta = store.add_version("Direct", payload, finish)
    assert meta.version == 1 and meta.model_id == "Direct_v1"
    assert store.read_metadata(meta.model_id).to_dict() == meta.to_dict()
    assert store.read_model(meta) == payload
    again = store.add_version("Direct", payload, finish)
    assert again.version == 2 and again.model_id == "Direct_v2"
    assert store.check_file(again) is None


def test_a_failing_finish_writes_nothing(registry, store):
    register(registry)
    before, revision = dict(store.entries()), store.revision()

    def finish(slot):
        raise ValueError("the draft is invalid")

    with pytest.raises(ValueError):
        store.add_version("ExoplanetClassifier", b"payload", finish)
    assert dict(store.entries()) == before
    assert registry.verify().problems == []
    assert store.revision() == revision


def test_unknown_ids_are_store_missing_and_the_registry_words_them(registry, store):
    register(registry)
    with pytest.raises(StoreMissing):
        store.read_metadata("nope")
    with pytest.raises(StoreMissing):
        store.update_version("nope", lambda m: None)
    with pytest.raises(ModelNotFoundError, match="No model has the id 'nope'"):
        registry.get_metadata("nope")
    with pytest.raises(ModelNotFoundError, match="No model has the id 'nope'"):
        registry.update_metadata("nope", description="x")


def test_revision_changes_on_every_change(registry):
    seen = [registry.revision()]

    def changed() -> None:
        now = registry.revision()
        assert now not in seen
        seen.append(now)

    model_id = register(registry)
    changed()
    assert registry.revision() == seen[-1]  # reading changes nothing
    registry.list_models()
    assert registry.revision() == seen[-1]
    registry.update_metadata(model_id, description="changed")
    changed()
    registry.set_alias("ExoplanetClassifier", "production", 1)
    changed()
    registry.remove_alias("ExoplanetClassifier", "production")
    changed()
    registry.delete_model(model_id)
    changed()
    registry.restore_model(model_id)
    changed()


# ================================================================ compare-and-swap updates
def test_updates_change_description_tags_and_status(registry, store):
    model_id = register(registry, tags={"a": "1"})
    registry.update_metadata(model_id, description="new words")
    assert registry.get_metadata(model_id).tags == {"a": "1"}  # untouched fields stay
    registry.update_metadata(model_id, tags={"b": "2"})
    meta = registry.get_metadata(model_id)
    assert (meta.description, meta.tags) == ("new words", {"b": "2"})
    registry.delete_model(model_id)
    assert store.read_metadata(model_id).status == "deleted"
    assert registry.list_models() == [] and len(registry.list_models(include_deleted=True)) == 1
    registry.restore_model(model_id)
    assert store.entries()[model_id]["status"] == "active"
    updated = store.update_version(model_id, lambda m: setattr(m, "description", "direct"))
    assert updated.description == "direct" == registry.get_metadata(model_id).description


def test_concurrent_updates_lose_nothing(store):
    first, second = ModelRegistry(store), ModelRegistry(store.uri)
    model_id = register(first, tags={"n": "0"})

    def bump(reg: ModelRegistry) -> None:
        for _ in range(10):
            reg.store.update_version(model_id, lambda m: m.tags.update(n=str(int(m.tags["n"]) + 1)))

    threads = [threading.Thread(target=bump, args=(reg,)) for reg in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert first.get_metadata(model_id).tags["n"] == "20"
    assert second.get_metadata(model_id).tags["n"] == "20"


def test_an_invalid_change_is_not_stored(registry):
    model_id = register(registry)
    with pytest.raises(Exception):  # noqa: B017 - whichever validation error the metadata raises
        registry._update(model_id, lambda m: setattr(m, "version", -1))
    assert registry.get_metadata(model_id).version == 1


# ================================================================ aliases
def test_moving_an_alias_leaves_exactly_one_holder(registry):
    for _ in range(3):
        register(registry)
    for version in (1, 3, 2, 2, 1):
        meta = registry.set_alias("ExoplanetClassifier", "production", version)
        assert meta.version == version and "production" in meta.aliases
        assert _holders(registry, "ExoplanetClassifier", "production") == [version]
        assert registry.resolve("ExoplanetClassifier@production").version == version
    registry.set_alias("ExoplanetClassifier", "baseline", 3)
    assert _holders(registry, "ExoplanetClassifier", "production") == [1]
    assert registry.get_metadata(registry.resolve("ExoplanetClassifier:3").model_id).aliases == ["baseline"]


def test_concurrent_alias_moves_never_show_two_holders(store):
    first, second = ModelRegistry(store), ModelRegistry(store.uri)
    for _ in range(3):
        register(first)
    first.set_alias("ExoplanetClassifier", "production", 1)
    reader = ModelRegistry(store.uri)
    done = threading.Event()
    seen_two: list[list[int]] = []

    def move(reg: ModelRegistry, versions: list[int]) -> None:
        for v in versions:
            reg.set_alias("ExoplanetClassifier", "production", v)

    def watch() -> None:
        while not done.is_set():
            holders = _holders(reader, "ExoplanetClassifier", "production")
            if len(holders) > 1:
                seen_two.append(holders)

    watcher = threading.Thread(target=watch)
    watcher.start()
    movers = [
        threading.Thread(target=move, args=(first, [2, 3, 1, 2, 3, 1])),
        threading.Thread(target=move, args=(second, [3, 2, 1, 3, 2, 3])),
    ]
    for t in movers:
        t.start()
    for t in movers:
        t.join()
    done.set()
    watcher.join()
    assert seen_two == []
    assert len(_holders(first, "ExoplanetClassifier", "production")) == 1


def test_alias_errors_come_from_the_registry(registry):
    register(registry)
    other = register(registry)
    with pytest.raises(ModelNotFoundError, match="No model is named 'Nobody'"):
        registry.set_alias("Nobody", "production", 1)
    with pytest.raises(ModelNotFoundError, match="has no version 9; its versions are: 1, 2"):
        registry.set_alias("ExoplanetClassifier", "production", 9)
    registry.delete_model(other)
    with pytest.raises(RegistryError, match="is deleted; restore it"):
        registry.set_alias("ExoplanetClassifier", "production", 2)
    with pytest.raises(ModelNotFoundError, match="has no alias 'production'"):
        registry.remove_alias("ExoplanetClassifier", "production")


def test_removing_an_alias(registry, store):
    register(registry)
    register(registry)
    registry.set_alias("ExoplanetClassifier", "production", 2)
    revision = registry.revision()
    registry.remove_alias("ExoplanetClassifier", "production")
    assert registry.revision() != revision
    assert _holders(registry, "ExoplanetClassifier", "production") == []
    with pytest.raises(ModelNotFoundError, match="has no alias 'production'"):
        registry.resolve("ExoplanetClassifier@production")
    assert store.update_alias("ExoplanetClassifier", "production", lambda rows: None) is None


# ================================================================ integrity
def test_scan_reports_a_bad_metadata_file_without_failing(kit, registry, store):
    good = register(registry)
    bad_meta = registry.get_metadata(register(registry))
    kit.corrupt_metadata(store, Path(bad_meta.model_file).stem)
    scan = store.scan()
    assert isinstance(scan, Scan)
    assert list(scan.found) == [good]
    assert [p.kind for p in scan.bad] == ["corrupt_metadata"]
    assert not scan.bad[0].leftover
    report = registry.verify()
    assert not report.ok
    assert "corrupt_metadata" in [p.kind for p in report.problems]


def test_per_version_check_reports_missing_and_changed_files(kit, registry, store):
    # Three different models: a store that keeps files by content keeps one file for identical ones.
    intact, changed, gone = (registry.get_metadata(register(registry, model=forest(seed=seed))) for seed in range(3))
    kit.change_model_file(store, changed)
    kit.remove_model_file(store, gone)
    assert store.check_file(intact) is None
    assert store.check_file(changed).kind == "hash_mismatch"
    assert store.check_file(gone).kind == "missing_model_file"
    checks = {m.version: registry.verify_version(m.model_id) for m in (intact, changed, gone)}
    assert {v: c.status for v, c in checks.items()} == {1: "verified", 2: "mismatch", 3: "missing"}
    assert [c.ok for c in checks.values()] == [True, False, False]
    assert changed.model_file in checks[2].message and gone.model_file in checks[3].message
    no_hash = copy.deepcopy(intact)
    no_hash.model_sha256 = ""
    assert registry.verify_version(intact.model_id, no_hash).status == "unknown"
    with pytest.raises(IntegrityError, match=changed.model_file):
        registry.load_model(model_id=changed.model_id)
    with pytest.raises(IntegrityError, match="missing"):
        registry.load_model(model_id=gone.model_id)
    assert sorted(p.kind for p in registry.verify().problems) == ["hash_mismatch", "missing_model_file"]


def test_a_changed_file_is_never_deserialised(kit, registry, store, monkeypatch):
    meta = registry.get_metadata(register(registry))
    kit.change_model_file(store, meta)
    import skops.io

    def refuse(*args, **kwargs):
        raise AssertionError("a damaged file must not be deserialised")

    monkeypatch.setattr(skops.io, "load", refuse)
    monkeypatch.setattr(skops.io, "loads", refuse)
    with pytest.raises(IntegrityError, match=meta.model_file):
        registry.load(meta.model_id)


def test_leftovers_are_listed_and_removed(kit, registry, store):
    register(registry)
    count = kit.leave_leftovers(store)
    leftovers = store.leftovers(store.scan())
    assert len(leftovers) == count and all(isinstance(p, Problem) and p.leftover for p in leftovers)
    report = registry.verify()
    assert report.ok and len(report.problems) == count
    repaired = store.remove_leftovers(leftovers)
    assert len(repaired) == count
    assert store.leftovers(store.scan()) == []
    assert registry.verify().problems == []


def test_rebuild_equals_the_metadata(registry, store):
    ids = [register(registry) for _ in range(3)]
    registry.set_alias("ExoplanetClassifier", "production", 2)
    registry.delete_model(ids[0])
    before = {k: dict(v) for k, v in store.entries().items()}
    assert store.rebuild_index() == 3 == registry.rebuild_index()
    scan = store.scan()
    assert dict(store.entries()) == {m: meta.summary() for m, meta in scan.found.items()} == before
    assert [r["version"] for r in store.rows()] == [1, 2, 3]
    assert registry.resolve("ExoplanetClassifier@production").version == 2


def test_total_size_counts_the_models_and_more(registry, store):
    assert store.total_size() >= 0
    ids = [register(registry) for _ in range(2)]
    models = sum(registry.get_metadata(i).model_size for i in ids)
    assert store.total_size() > models
    assert registry.total_size() == store.total_size()


def test_the_backup_read_is_consistent(registry, store):
    ids = [register(registry) for _ in range(3)]
    writer = ModelRegistry(store.uri)
    finished = threading.Event()

    def write_during_snapshot() -> None:
        register(writer, name="Later")
        finished.set()

    with registry.snapshot() as snapshot:
        thread = threading.Thread(target=write_during_snapshot)
        thread.start()
        time.sleep(0.3)  # the writer is running while the snapshot is read
        files = {f.name: f.data for f in snapshot}
        versions = snapshot.versions
    thread.join()
    assert finished.is_set()
    assert versions == 3 and len(files) == 6
    metas = [ModelMetadata.from_json(data) for name, data in files.items() if name.startswith("metadata/")]
    assert sorted(m.model_id for m in metas) == sorted(ids)
    for meta in metas:
        data = files["models/" + meta.model_file]
        assert hashlib.sha256(data).hexdigest() == meta.model_sha256
    assert [r["model_name"] for r in registry.list_models()].count("Later") == 1


def test_a_backup_restores_to_the_same_registry(registry, tmp_path):
    from core.registry.transfer import backup_registry, restore_backup

    register(registry)
    register(registry, name="Other")
    registry.set_alias("Other", "production", 1)
    archive = backup_registry(registry, tmp_path / "backup.zip")
    assert restore_backup(archive, tmp_path / "restored") == 2
    restored = ModelRegistry(tmp_path / "restored")
    assert restored.list_models() == registry.list_models()
    assert restored.verify().problems == []


# ================================================================ reopening and sharing
def test_reopening_by_uri_sees_the_same_state(registry):
    first = register(registry)
    register(registry, name="Other")
    registry.set_alias("ExoplanetClassifier", "production", 1)
    reopened = ModelRegistry(registry.uri)
    assert reopened.uri == registry.uri
    assert reopened.list_models() == registry.list_models()
    assert reopened.resolve("ExoplanetClassifier@production").model_id == first
    assert reopened.revision() == registry.revision()
    assert repr(reopened) == repr(registry)


def test_two_registries_on_one_store_see_each_others_writes(store):
    a, b = ModelRegistry(store), ModelRegistry(store.uri)
    first = register(a)
    assert [r["model_id"] for r in b.list_models()] == [first]
    second = register(b)
    assert [r["model_id"] for r in a.list_models()] == [first, second]
    b.update_metadata(first, description="from b")
    assert a.get_metadata(first).description == "from b"
    a.set_alias("ExoplanetClassifier", "production", 2)
    assert b.resolve("ExoplanetClassifier@production").model_id == second
    a.delete_model(second)
    assert [r["model_id"] for r in b.list_models()] == [first]


# ================================================================ opening stores
def test_open_store_chooses_the_store_by_its_root(tmp_path):
    folder = tmp_path / "plain"
    assert isinstance(open_store(folder), LocalStore)
    assert isinstance(open_store(str(folder)), LocalStore)
    by_uri = open_store(folder.absolute().as_uri())
    assert isinstance(by_uri, LocalStore) and by_uri.uri == str(folder.absolute())
    store = open_store(folder)
    assert open_store(store) is store
    with pytest.raises(RegistryError, match="storage scheme 'gopher'") as info:
        open_store("gopher://example.org/registry")
    assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")


def test_a_local_registry_keeps_its_folder_attributes(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    model_id = register(registry)
    assert registry.uri == str((tmp_path / "registry").absolute()) == registry.location
    assert registry.root == (tmp_path / "registry").absolute() == registry.local_folder
    assert registry.models_dir == registry.root / "models"
    assert registry.metadata_dir == registry.root / "metadata"
    assert registry.model_file_path(model_id).is_file()
    assert sorted(p.name for p in registry.root.iterdir()) == [
        ".lock", "index.journal", "index.json", "metadata", "models",
    ]


# ================================================================ a registry from release 0.1.0
@pytest.fixture
def old_registry(tmp_path) -> ModelRegistry:
    root = tmp_path / "registry-0.1.0"
    shutil.copytree(FIXTURE_0_1_0, root)  # never opened in place: opening writes a .lock
    return ModelRegistry(root)


def _files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.parent.name in ("models", "metadata")
    }


def test_a_registry_from_release_0_1_0_opens_and_verifies(old_registry):
    before = _files_of(old_registry.root)
    report = old_registry.verify()
    assert report.ok and report.problems == [] and report.checked == 4
    assert old_registry.model_names() == ["CandidateRanker", "ExoplanetClassifier"]
    rows = old_registry.list_models(include_deleted=True)
    assert [(r["model_name"], r["version"], r["status"]) for r in rows] == [
        ("CandidateRanker", 1, "active"),
        ("ExoplanetClassifier", 1, "active"),
        ("ExoplanetClassifier", 2, "active"),
        ("ExoplanetClassifier", 3, "deleted"),
    ]
    baseline = old_registry.resolve("ExoplanetClassifier@baseline")
    assert (baseline.version, baseline.description, baseline.tags) == (1, "baseline forest", {"team": "kepler"})
    ranker = old_registry.resolve("CandidateRanker")
    assert (ranker.description, ranker.tags) == ("ranks candidates", {"stage": "experimental"})
    assert all(old_registry.verify_version(r["model_id"]).ok for r in rows)
    assert _files_of(old_registry.root) == before  # reading changed no model or metadata file


def test_a_registry_from_release_0_1_0_loads_predicts_and_resolves(old_registry):
    X, _ = training_data()
    for row in old_registry.list_models():
        model, meta = old_registry.load_model(model_id=row["model_id"])
        predictions = model.predict(X[meta.feature_columns])
        assert len(predictions) == len(X) and set(predictions) <= set(meta.classes)
    assert old_registry.resolve("ExoplanetClassifier@production").version == 2
    assert old_registry.resolve("ExoplanetClassifier").version == 2  # v3 is deleted
    best = old_registry.resolve("best")
    assert (best.model_name, best.version) == ("ExoplanetClassifier", 2)
    old_registry.delete_model(best.model_id)
    # v3 (f1 0.90) is deleted, so the best is v1 (0.88), not v3.
    assert old_registry.resolve("best").version == 1
    assert old_registry.best_metadata(model_name="ExoplanetClassifier").version == 1


def test_a_registry_from_release_0_1_0_accepts_the_next_version(old_registry):
    new_id = register(old_registry)
    assert old_registry.get_metadata(new_id).version == 4
    assert old_registry.resolve("ExoplanetClassifier@production").version == 2
    assert old_registry.verify().problems == []
    assert ModelRegistry(old_registry.uri).get_metadata(new_id).version == 4
