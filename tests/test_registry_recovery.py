"""Every mutation survives a crash at any step; verify --repair beside writers; text that is not Unicode."""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import ModelRegistry
from core.common.files import sha256_bytes
from core.errors import MetadataValidationError, RegistryError
from core.registry import safety
from core.registry.metadata import ModelMetadata
from core.registry.store import _journal
from core.registry.store._journal import IndexCorrupt, IndexFiles
from tests._factories import FEATURES, forest

_fork = multiprocessing.get_context("fork")
REPO = Path(__file__).resolve().parents[1]


class Injected(Exception):
    """The failure a test injects at a named step of a write."""


@functools.cache
def _payload() -> bytes:
    return safety.dumps_skops(forest(n_estimators=1))


def _draft(name: str = "M", **fields) -> ModelMetadata:
    meta = ModelMetadata(
        model_id="pending",
        model_name=name,
        algorithm="RandomForest",
        version=1,
        training_date="2026-01-01T00:00:00.000000+00:00",
        accuracy=0.9,
        precision=0.9,
        recall=0.9,
        f1_score=0.9,
        training_dataset="koi",
        feature_columns=list(FEATURES),
        classes=["CONFIRMED", "FALSE POSITIVE"],
        model_format=safety.SKOPS,
    )
    for key, value in fields.items():
        setattr(meta, key, value)
    return meta


def _add(registry: ModelRegistry, name: str = "M", **fields) -> str:
    return registry.register_bytes(_draft(name, **fields), _payload())


def _rebuilt_listing(root: Path) -> list[dict]:
    """What the metadata files say: a copy of the registry with its index files removed."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".lock"))
        for name in ("index.json", "index.journal"):
            (copy / name).unlink(missing_ok=True)
        return ModelRegistry(copy).list_models(include_deleted=True)


def _assert_converged(root: Path, *also: ModelRegistry) -> None:
    expected = _rebuilt_listing(root)
    assert ModelRegistry(root).list_models(include_deleted=True) == expected
    for registry in also:
        assert registry.list_models(include_deleted=True) == expected
    report = ModelRegistry(root).verify()
    assert report.ok, report.to_dict()


# ====================================================================== the registry every crash test starts from
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    """M v1 (@production), v2, v3 (deleted); and an exported .exoreg of v2."""
    root = tmp_path_factory.mktemp("template") / "registry"
    registry = ModelRegistry(root)
    ids = {f"v{n}": _add(registry) for n in (1, 2, 3)}
    registry.set_alias("M", "production", 1)
    registry.delete_model(ids["v3"])
    exported = registry.export_model(ids["v2"], tmp_path_factory.mktemp("export"))
    return root, ids, exported["archive"] if "archive" in exported else next(iter(exported.values()))


MUTATIONS = {
    "register": lambda r, ids, exo: _add(r),
    "delete": lambda r, ids, exo: r.delete_model(ids["v1"]),
    "restore": lambda r, ids, exo: r.restore_model(ids["v3"]),
    "alias_set": lambda r, ids, exo: r.set_alias("M", "staging", 2),
    "alias_move": lambda r, ids, exo: r.set_alias("M", "production", 2),
    "alias_remove": lambda r, ids, exo: r.remove_alias("M", "production"),
    "update_metadata": lambda r, ids, exo: r.update_metadata(ids["v2"], description="new", tags={"a": "b"}),
    "import": lambda r, ids, exo: r.import_model(exo),
    "compaction": lambda r, ids, exo: r.update_metadata(ids["v1"], description="compacted"),
}


def _fresh_copy(template, tmp_path) -> Path:
    root = tmp_path / "registry"
    shutil.copytree(template[0], root, ignore=shutil.ignore_patterns(".lock"))
    return root


def _steps_of(mutation: str, template, tmp_path, monkeypatch) -> list[str]:
    """The named steps ``mutation`` goes through, in order (a dry run on a copy)."""
    root = _fresh_copy(template, tmp_path / "dry")
    steps: list[str] = []
    monkeypatch.setattr(_journal, "FAULT_HOOK", steps.append)
    MUTATIONS[mutation](ModelRegistry(root), template[1], template[2])
    monkeypatch.setattr(_journal, "FAULT_HOOK", None)
    return steps


def _fail_at(index: int, action):
    seen = []

    def hook(step: str) -> None:
        seen.append(step)
        if len(seen) == index + 1:
            action(step)

    return hook


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_an_exception_after_any_step_of_any_mutation_converges_to_the_metadata(
    mutation, template, tmp_path, monkeypatch
):
    import core.registry.store.local as local

    if mutation == "compaction":
        monkeypatch.setattr(local, "COMPACT_EVERY", 1)
    steps = _steps_of(mutation, template, tmp_path, monkeypatch)
    assert "metadata_written" in steps and (mutation != "compaction" or "snapshot_written" in steps)
    for index, step in enumerate(steps):
        root = _fresh_copy(template, tmp_path / f"{index}")
        registry = ModelRegistry(root)

        def boom(step):
            raise Injected(step)

        monkeypatch.setattr(_journal, "FAULT_HOOK", _fail_at(index, boom))
        with pytest.raises(Injected):
            MUTATIONS[mutation](registry, template[1], template[2])
        monkeypatch.setattr(_journal, "FAULT_HOOK", None)
        _assert_converged(root, registry)
        # The next mutation, in the same process and in a fresh one, succeeds and is seen.
        registry.update_metadata(template[1]["v2"], description=f"after {step}")
        assert ModelRegistry(root).resolve("M:2").description == f"after {step}"
        _add(ModelRegistry(root))
        _assert_converged(root, registry)


def _killed_child(root: Path, mutation: str, index: int, ids, exo, compact_every: int | None) -> None:
    import core.registry.store.local as local

    if compact_every is not None:
        local.COMPACT_EVERY = compact_every
    registry = ModelRegistry(root)
    _journal.FAULT_HOOK = _fail_at(index, lambda step: os.kill(os.getpid(), signal.SIGKILL))
    MUTATIONS[mutation](registry, ids, exo)
    os._exit(3)  # not killed: the step was never reached


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_sigkill_after_any_step_of_any_mutation_converges_to_the_metadata(
    mutation, template, tmp_path, monkeypatch
):
    import core.registry.store.local as local

    compact_every = None
    if mutation == "compaction":
        compact_every = 1
        monkeypatch.setattr(local, "COMPACT_EVERY", 1)
    steps = _steps_of(mutation, template, tmp_path, monkeypatch)
    monkeypatch.setattr(local, "COMPACT_EVERY", _journal.COMPACT_EVERY)
    for index, step in enumerate(steps):
        root = _fresh_copy(template, tmp_path / f"{index}")
        child = _fork.Process(
            target=_killed_child, args=(root, mutation, index, template[1], template[2], compact_every)
        )
        child.start()
        child.join(timeout=120)
        assert child.exitcode == -signal.SIGKILL, (step, child.exitcode)
        _assert_converged(root)
        _add(ModelRegistry(root))
        ModelRegistry(root).set_alias("M", "production", 2)
        _assert_converged(root)


# ====================================================================== random sequences, random crash points
_TEXT = st.text(
    alphabet=st.sampled_from(["a", "Z", "é", " ", "\n", "\t", "\x00", "\x1b", "\udcff", "\ud800", "🚀"]),
    min_size=1,
    max_size=6,
)
_OPS = st.lists(
    st.tuples(
        st.sampled_from(["register", "delete", "restore", "alias", "unalias", "describe", "tag"]),
        st.integers(min_value=1, max_value=4),  # the version it acts on
        _TEXT,
        st.one_of(st.none(), st.integers(min_value=0, max_value=4)),  # fail after this many steps
    ),
    min_size=1,
    max_size=6,
)


def _apply(registry: ModelRegistry, op: str, version: int, text: str) -> None:
    rows = registry.list_models("M", include_deleted=True) if "M" in registry.model_names() else []
    target = next((r for r in rows if r["version"] == version), None)
    if op == "register":
        _add(registry, description=text, tags={"note": text})
    elif target is None:
        _add(registry)
    elif op == "delete":
        registry.delete_model(target["model_id"])
    elif op == "restore":
        registry.restore_model(target["model_id"])
    elif op == "alias":
        registry.set_alias("M", "prod" if text.isascii() else "prod-\udcff", version)
    elif op == "unalias":
        registry.remove_alias("M", "prod")
    elif op == "describe":
        registry.update_metadata(target["model_id"], description=text)
    else:
        registry.update_metadata(target["model_id"], tags={text: text})


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=_OPS, compact_every=st.sampled_from([2, 3, 1000]))
def test_random_mutations_with_random_failures_always_converge(ops, compact_every, monkeypatch):
    import core.registry.store.local as local

    monkeypatch.setattr(local, "COMPACT_EVERY", compact_every)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "registry"
        registry = ModelRegistry(root)
        for op, version, text, fail_after in ops:
            if fail_after is not None:

                def boom(step):
                    raise Injected(step)

                monkeypatch.setattr(_journal, "FAULT_HOOK", _fail_at(fail_after, boom))
            try:
                _apply(registry, op, version, text)
            except Injected:
                pass
            except MetadataValidationError as exc:
                bad = any("\ud800" <= c <= "\udfff" or c < " " for c in text) or "prod-" in str(exc)
                assert bad, exc  # only text that is not allowed is refused
                assert "\n" not in str(exc)
            except RegistryError as exc:  # e.g. an alias for a deleted version, removing a missing alias
                assert "\n" not in str(exc)
            finally:
                monkeypatch.setattr(_journal, "FAULT_HOOK", None)
            expected = _rebuilt_listing(root)
            assert ModelRegistry(root).list_models(include_deleted=True) == expected
            assert registry.list_models(include_deleted=True) == expected
        assert ModelRegistry(root).verify().ok


# ====================================================================== verify --repair beside a writer
def _register_in_a_loop(root: Path, count: int, errors) -> None:
    registry = ModelRegistry(root)
    for _ in range(count):
        try:
            _add(registry, name="Busy")
        except Exception as exc:  # reported to the test, which fails on any
            errors.put(repr(exc))
    os._exit(0)


def test_verify_repair_beside_a_registering_process_removes_nothing_that_committed(registry_root):
    ModelRegistry(registry_root)
    _payload()
    errors = _fork.Queue()
    child = _fork.Process(target=_register_in_a_loop, args=(registry_root, 40, errors))
    child.start()
    registry = ModelRegistry(registry_root)
    repairs = 0
    while child.is_alive():
        registry.verify(repair=True)
        repairs += 1
    child.join()
    assert child.exitcode == 0 and repairs > 0
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    final = ModelRegistry(registry_root)
    rows = final.list_models("Busy")
    assert [r["version"] for r in rows] == list(range(1, 41))
    assert all(final.verify_version(r["model_id"]).ok for r in rows)
    assert final.verify().problems == []


def test_a_repair_given_an_orphan_that_has_committed_since_keeps_it(registry_root):
    registry = ModelRegistry(registry_root)
    _add(registry)
    # Scanned while a registration was between its model file and its metadata file...
    model_file = registry_root / "models" / "Late_v1_20260101_000000.skops"
    model_file.write_bytes(_payload())
    leftovers = registry.store.leftovers(registry.store.scan())
    assert [p.kind for p in leftovers] == ["orphan_model_file"]
    # ...which then committed: the repair must see that and keep the file.
    meta = _draft("Late", model_id="Late_v1_20260101_000000", model_file=model_file.name)
    meta.model_sha256, meta.model_size = sha256_bytes(_payload()), len(_payload())
    (registry_root / "metadata" / "Late_v1_20260101_000000.json").write_text(meta.to_json())
    assert registry.store.remove_leftovers(leftovers) == []
    assert model_file.exists()
    assert ModelRegistry(registry_root).verify_version(meta.model_id).ok


# ====================================================================== text that is not Unicode
def _cli(root: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--registry", str(root), *args],
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize(
    "args",
    [
        [b"describe", b"M:1", b"--text", b"bad\xff"],
        [b"tag", b"M:1", b"own\xffer=ana"],
        [b"alias", b"M", b"prod\xff", b"1"],
    ],
    ids=["describe", "tag", "alias"],
)
def test_the_cli_refuses_argv_that_is_not_utf8_in_one_line_and_changes_nothing(registry_root, args):
    registry = ModelRegistry(registry_root)
    _add(registry)
    before = _files(registry_root)
    result = _cli(registry_root, *args)
    assert result.returncode == 1, result
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    assert len(lines) == 1 and "UTF-8" in lines[0] and "Traceback" not in lines[0], lines
    assert _files(registry_root) == before
    assert ModelRegistry(registry_root).verify().problems == []


BAD = "bad\udcff"
_REGISTER_FIELDS = {
    "model_name": {"name": BAD},
    "algorithm": {"algorithm": BAD},
    "training_dataset": {"training_dataset": BAD},
    "description": {"description": BAD},
    "tags": {"tags": {BAD: "v"}},
    "tags_value": {"tags": {"k": BAD}},
    "hyperparameters": {"hyperparameters": {BAD: 1}},
    "hyperparameters_value": {"hyperparameters": {"k": BAD}},
    "metrics": {"metrics": {BAD: 0.5}},
    "feature_columns": {"feature_columns": [BAD, "b", "c", "d"]},
    "classes": {"classes": [BAD, "x"]},
    "training_info": {"training_info": {"note": BAD}},
    "evaluation": {"evaluation": {BAD: [1]}},
    "aliases": {"aliases": [BAD]},
}


@pytest.mark.parametrize("case", sorted(_REGISTER_FIELDS))
def test_a_lone_surrogate_in_any_text_field_is_refused_naming_the_field(registry_root, case):
    registry = ModelRegistry(registry_root)
    fields = dict(_REGISTER_FIELDS[case])
    name = fields.pop("name", "M")
    with pytest.raises(MetadataValidationError) as info:
        _add(registry, name, **fields)
    field = case.removesuffix("_value")
    assert info.value.field == field and f"'{field}'" in str(info.value) and "\n" not in str(info.value)
    assert registry.list_models(include_deleted=True) == []
    assert list((registry_root / "models").iterdir()) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": BAD}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"tags": {BAD: "v"}}, "tags"),
        ({"tags": {"k": BAD}}, "tags"),
        ({"tags": {"k\n": "v"}}, "tags"),
    ],
)
def test_updates_refuse_text_that_is_not_unicode(registry_root, change, field):
    registry = ModelRegistry(registry_root)
    model_id = _add(registry)
    before = _files(registry_root)
    with pytest.raises(MetadataValidationError) as info:
        registry.update_metadata(model_id, **change)
    assert info.value.field == field
    assert _files(registry_root) == before
    with pytest.raises(MetadataValidationError):
        registry.set_alias("M", "prod\udcff", 1)
    with pytest.raises(MetadataValidationError):
        registry.set_alias("M", "prod\n", 1)  # `$` in a pattern also matches before a final newline


def test_multiline_descriptions_and_unicode_are_still_fine(registry_root):
    registry = ModelRegistry(registry_root)
    model_id = _add(registry, description="première ligne\n\tseconde 🚀", tags={"owner": "Zoë"})
    assert ModelRegistry(registry_root).get_metadata(model_id).description == "première ligne\n\tseconde 🚀"


# ====================================================================== a damaged journal
def test_an_unreadable_line_mid_journal_is_reported_and_no_later_change_is_lost(registry_root):
    registry = ModelRegistry(registry_root)
    ids = [_add(registry) for _ in range(3)]
    journal = registry_root / "index.journal"
    registry.update_metadata(ids[0], description="before")
    cut = len(journal.read_bytes())
    registry.set_alias("M", "production", 1)
    registry.set_alias("M", "production", 3)
    registry.delete_model(ids[1])
    # What Python's json wrote for "\udcff" and orjson refuses to read, then committed lines.
    data = journal.read_bytes()
    bad = json.dumps({"op": "put", "entry": {"model_id": ids[0], "description": "bad\udcff"}}).encode() + b"\n"
    journal.write_bytes(data[:cut] + bad + data[cut:])

    with pytest.raises(IndexCorrupt, match="unreadable line"):
        IndexFiles(registry_root).load()
    reopened = ModelRegistry(registry_root)
    assert reopened.resolve("M@production").version == 3
    assert reopened.list_models(include_deleted=True) == _rebuilt_listing(registry_root)
    report = reopened.verify()
    assert report.ok and [p.kind for p in report.problems] == ["corrupt_index"]
    assert "unreadable line" in report.problems[0].message
    assert reopened.verify(repair=True).repaired
    assert reopened.verify().problems == []
    # The next write keeps every committed change.
    reopened.restore_model(ids[1])
    final = ModelRegistry(registry_root)
    assert final.resolve("M@production").version == 3
    assert final.resolve("M:2").status == "active"
    assert final.list_models(include_deleted=True) == _rebuilt_listing(registry_root)


def test_what_the_journal_writes_its_reader_reads(registry_root):
    registry = ModelRegistry(registry_root)
    model_id = _add(registry, description="🚀 \u2028 \\u0000 \"quoted\"", tags={"é": "ü"})
    state = IndexFiles(registry_root).load()
    assert state.entries[model_id]["description"] == "🚀 \u2028 \\u0000 \"quoted\""
    registry.rebuild_index()
    assert IndexFiles(registry_root).load().entries[model_id]["tags"] == {"é": "ü"}


def _edit_metadata_in_place(root: Path, model_id: str, **fields) -> None:
    """Change a metadata file behind the index's back, keeping the folder's mtime."""
    folder = root / "metadata"
    stat = os.stat(folder)
    path = folder / f"{model_id}.json"
    data = json.loads(path.read_text())
    data.update(fields)
    with open(path, "r+", encoding="utf-8") as fh:  # rewritten in place: no rename in the folder
        fh.truncate(0)
        fh.write(json.dumps(data, indent=2))
    os.utime(folder, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "deleted"},
        {"aliases": ["production"]},
        {"tags": {"owner": "ana"}},
        {"description": "changed"},
        {"training_dataset": "other"},
        {"algorithm": "SVM"},
        {"f1_score": 0.5},
        {"metrics": {"auc": 0.7}},
    ],
    ids=lambda f: next(iter(f)),
)
def test_an_index_that_disagrees_with_a_metadata_field_is_reported_and_repaired(registry_root, fields):
    registry = ModelRegistry(registry_root)
    model_id = _add(registry)
    _add(registry)
    _edit_metadata_in_place(registry_root, model_id, **fields)
    reopened = ModelRegistry(registry_root)
    report = reopened.verify()
    assert not report.ok
    assert [p.kind for p in report.problems] == ["stale_index"]
    assert next(iter(fields)) in report.problems[0].message and "--repair" in report.problems[0].message
    assert reopened.verify(repair=True).repaired
    assert reopened.verify().problems == []
    assert reopened.list_models(include_deleted=True) == _rebuilt_listing(registry_root)


def test_an_index_edited_behind_the_metadata_is_reported_and_repaired(registry_root):
    registry = ModelRegistry(registry_root)
    model_id = _add(registry)
    journal = registry_root / "index.journal"
    journal.write_bytes(journal.read_bytes().replace(b'"status":"active"', b'"status":"deleted"'))
    reopened = ModelRegistry(registry_root)
    assert reopened.list_models() == []  # the index says deleted...
    report = reopened.verify()
    assert not report.ok and [p.kind for p in report.problems] == ["stale_index"]
    assert "status" in report.problems[0].message
    reopened.verify(repair=True)
    assert [r["model_id"] for r in ModelRegistry(registry_root).list_models()] == [model_id]


def test_an_append_from_a_state_that_is_behind_keeps_the_lines_it_never_read(registry_root):
    registry = ModelRegistry(registry_root)
    first = _add(registry)
    files = IndexFiles(registry_root)
    behind = files.load()
    ahead = files.load()
    entry = dict(behind.entries[first], description="from the state that was ahead")
    files.append(ahead, [{"op": "put", "entry": entry}])
    # A torn line after the committed one is dropped; the committed one is kept.
    with open(files.journal_path, "ab") as fh:
        fh.write(b'{"op":"put","entr')
    files.append(behind, [{"op": "drop", "model_id": "nobody"}])
    state = files.load()
    assert state.entries[first]["description"] == "from the state that was ahead"
    assert not files.read_tail(behind)  # the lagging state knows it must reload


def test_a_metadata_file_whose_numbers_the_index_cannot_store_is_reported_not_fatal(registry_root):
    registry = ModelRegistry(registry_root)
    keep = _add(registry)
    other = _add(registry)
    path = registry_root / "metadata" / f"{other}.json"
    data = json.loads(path.read_text())
    data["version"] = 2**70
    path.write_text(json.dumps(data))
    (registry_root / "index.json").unlink()  # the rebuild reads it
    reopened = ModelRegistry(registry_root)
    assert [r["model_id"] for r in reopened.list_models()] == [keep]
    assert [p.kind for p in reopened.verify().problems] == ["corrupt_metadata"]


def test_a_repair_keeps_the_model_file_of_a_version_whose_metadata_is_damaged(registry_root):
    registry = ModelRegistry(registry_root)
    _add(registry)
    damaged = registry.get_metadata(_add(registry))
    (registry_root / "metadata" / f"{damaged.model_id}.json").write_text("{ not json")
    report = ModelRegistry(registry_root).verify(repair=True)
    assert [p.kind for p in report.problems if not p.leftover] == ["corrupt_metadata"]
    assert (registry_root / "models" / damaged.model_file).exists()


def test_a_version_whose_metadata_an_older_release_wrote_with_a_lone_surrogate_stays_visible(tmp_path):
    from tests._factories import register

    registry = ModelRegistry(tmp_path / "registry")
    model_id = register(registry, description="fine")
    path = registry.metadata_dir / (Path(registry.get_metadata(model_id).model_file).stem + ".json")
    data = json.loads(path.read_text())
    data["description"] = "bad\udcff"  # what `exoreg describe --text $'bad\xff'` stored before text was checked
    path.write_text(json.dumps(data))
    for index_file in ("index.json", "index.journal"):
        (registry.root / index_file).unlink()

    fresh = ModelRegistry(registry.root)
    assert fresh.get_metadata(model_id).description == "bad\ufffd"
    assert [r["model_id"] for r in fresh.list_models()] == [model_id]
    assert fresh.verify().ok
    fresh.update_metadata(model_id, tags={"fixed": "yes"})  # the next write stores valid text
    assert "\\udcff" not in path.read_text()
    assert ModelRegistry(registry.root).get_metadata(model_id).description == "bad\ufffd"
