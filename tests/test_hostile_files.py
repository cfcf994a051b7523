"""Hostile files: zip bombs inside model files, and JSON nested or sized to exhaust a reader."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ModelRegistry, safety
from core.cli import main
from core.errors import IntegrityError, MetadataValidationError, UnsafeArchiveError
from core.registry import archives
from core.registry.metadata import MAX_METADATA_BYTES, ModelMetadata
from core.registry.transfer import preview_import
from tests._factories import forest, register

ROOT = Path(__file__).resolve().parents[1]
DEEP = b"[" * 200_000 + b"]" * 200_000
BOMB_MIB = 300


# -- building hostile files --------------------------------------------------------------------


def _members(skops_bytes: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(skops_bytes)) as zf:
        return [(n, zf.read(n)) for n in zf.namelist()]


def _zip(entries, *, stream: tuple[str, bytes, int] | None = None, method=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``entries``; ``stream=(name, head, n)`` adds ``head`` and ``n`` MiB of spaces, chunk by chunk."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        if stream:
            info = zipfile.ZipInfo(stream[0])
            info.compress_type = method
            with zf.open(info, "w", force_zip64=True) as fh:
                fh.write(stream[1])
                chunk = b" " * (1 << 20)
                for _ in range(stream[2]):
                    fh.write(chunk)
    return buffer.getvalue()


def _lie_about(data: bytes, name: str, content: bytes) -> bytes:
    """Rewrite ``name``'s declared size and CRC (local header and central directory) to ``content``'s."""
    out = bytearray(data)
    size, crc = len(content), zlib.crc32(content)
    encoded = name.encode()
    pos = 0
    while (pos := out.find(b"PK\x01\x02", pos)) >= 0:
        name_len = struct.unpack_from("<H", out, pos + 28)[0]
        if bytes(out[pos + 46 : pos + 46 + name_len]) == encoded:
            struct.pack_into("<I", out, pos + 16, crc)
            struct.pack_into("<I", out, pos + 24, size)
            local = struct.unpack_from("<I", out, pos + 42)[0]
            struct.pack_into("<I", out, local + 14, crc)
            struct.pack_into("<I", out, local + 22, size)
        pos += 4
    return bytes(out)


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return safety.dumps_skops(forest())


@pytest.fixture(scope="module")
def bomb(model_bytes) -> bytes:
    """A real skops file whose schema.json (still valid JSON) has 300 MiB of trailing spaces: ~300 kB on disk."""
    members = dict(_members(model_bytes))
    schema = members.pop("schema.json")
    data = _zip(members.items(), stream=("schema.json", schema, BOMB_MIB))
    assert len(data) < 2 << 20
    return data


@pytest.fixture
def registry(registry_root):
    registry = ModelRegistry(registry_root)
    register(registry)
    return registry


def _pair(registry, tmp_path, payload: bytes, name: str = "hostile") -> tuple[Path, Path]:
    """``payload`` as a model file with metadata that matches it."""
    meta = registry.resolve("ExoplanetClassifier").to_dict()
    meta["model_sha256"] = hashlib.sha256(payload).hexdigest()
    model, metadata = tmp_path / f"{name}.skops", tmp_path / f"{name}.json"
    model.write_bytes(payload)
    metadata.write_text(json.dumps(meta))
    return model, metadata


def _archive(registry, tmp_path, *, payload: bytes | None = None, metadata: bytes | None = None) -> Path:
    """An exported .exoreg archive with its model or metadata replaced, the manifest kept consistent."""
    paths = registry.export_model(registry.resolve("ExoplanetClassifier").model_id, tmp_path / "export")
    with zipfile.ZipFile(paths["archive"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if payload is not None:
        members["model.skops"] = payload
    if metadata is not None:
        members["metadata.json"] = metadata
    manifest = json.loads(members["manifest.json"])
    for name in ("model.skops", "metadata.json"):
        manifest["files"][name] = {"sha256": hashlib.sha256(members[name]).hexdigest(), "size": len(members[name])}
    members["manifest.json"] = json.dumps(manifest).encode()
    path = tmp_path / "hostile.exoreg"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name == "model.skops" else zipfile.ZIP_DEFLATED)
    return path


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str, *needles: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


# -- zip bombs inside model files ---------------------------------------------------------------


def test_a_zip_bomb_inside_a_model_file_is_refused_before_decompression(registry, tmp_path, bomb, monkeypatch):
    inflated = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: inflated.append(a) or real_open(self, *a, **k))
    path = tmp_path / "bomb.skops"
    path.write_bytes(bomb)
    for attempt in (
        lambda: safety.inspect_model_file(path),
        lambda: safety.inspect_model_file(bomb),
        lambda: safety.load_skops(path),
        lambda: safety.load_skops(bomb, trusted=True),
        lambda: safety.skops_types(path),
        lambda: safety.skops_untrusted_types(bomb),
        lambda: safety.detect_format(path),
    ):
        with pytest.raises(UnsafeArchiveError, match="zip bomb"):
            attempt()
    assert inflated == []  # refused from the central directory alone
    before = _files(registry.root)
    model, metadata = _pair(registry, tmp_path, bomb)
    for args in ((model, metadata), (_archive(registry, tmp_path, payload=bomb),)):
        with pytest.raises(UnsafeArchiveError, match="zip bomb"):
            registry.import_model(*args, trusted=True)
    assert _files(registry.root) == before


_MEASURE = """
import resource, sys
import core.registry.safety, core.registry.transfer, core.registry.registry, skops.io, sklearn.ensemble
from core.cli import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(sys.argv[1:])
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(f"grown={grown} code={code}")
"""


def test_exoreg_inspect_and_import_refuse_a_bomb_in_one_line_using_little_memory(registry, tmp_path, bomb):
    model, metadata = _pair(registry, tmp_path, bomb, name="bomb")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (
        ["inspect", model],
        ["--registry", registry.root, "import", model, "--metadata", metadata, "--trust"],
    ):
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURE, *map(str, argv)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        _one_line(proc.stderr, "bomb.skops", "zip bomb")
        grown_kib = int(proc.stdout.split("grown=")[1].split()[0])
        assert "code=1" in proc.stdout
        assert grown_kib < 64 * 1024, f"{argv[0]} grew by {grown_kib} KiB for a {BOMB_MIB} MiB bomb"


def test_a_member_that_inflates_past_its_declared_size_is_stopped_while_inflating(model_bytes, registry, tmp_path):
    members = dict(_members(model_bytes))
    schema = members["schema.json"]
    # Valid JSON all the same (trailing spaces); the headers declare only the real schema, with its CRC.
    members["schema.json"] = schema + b" " * (50 << 20)
    lying = _lie_about(_zip(members.items()), "schema.json", schema)
    for attempt in (lambda: safety.load_skops(lying), lambda: safety.inspect_model_file(lying)):
        with pytest.raises(UnsafeArchiveError, match="expands past the .* bytes its header declares"):
            attempt()
    model, metadata = _pair(registry, tmp_path, lying)
    with pytest.raises(UnsafeArchiveError, match="header declares"):
        registry.import_model(model, metadata)


def test_a_damaged_archive_member_is_an_unsafe_archive_error_naming_it(registry, tmp_path):
    archive = _archive(registry, tmp_path)
    with zipfile.ZipFile(archive) as zf:
        metadata = zf.read("metadata.json")
    lying = _lie_about(archive.read_bytes(), "metadata.json", metadata.replace(b"{", b"[", 1))  # another CRC
    archive.write_bytes(lying)
    with pytest.raises(UnsafeArchiveError, match="metadata.json"):
        registry.import_model(archive)


def test_only_stored_or_deflated_unencrypted_members_are_read(model_bytes):
    members = _members(model_bytes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members:
            zf.writestr(name, data, compress_type=zipfile.ZIP_LZMA)
    with pytest.raises(UnsafeArchiveError, match="compression method"):
        safety.load_skops(buffer.getvalue())


def test_many_small_members_count_towards_the_total_and_ratio(model_bytes, monkeypatch):
    members = _members(model_bytes) + [(f"pad{i}.npy", bytes(1 << 19)) for i in range(8)]  # 8 x 512 kB of zeros
    data = _zip(members)
    with pytest.raises(UnsafeArchiveError, match="in total"):
        safety.detect_format(data)
    monkeypatch.setattr(archives, "MODEL_FILE_LIMITS", archives.ZipLimits(max_member=1 << 30, max_total=10_000))
    with pytest.raises(UnsafeArchiveError, match="expands to more than 10,000 bytes"):
        safety.load_skops(model_bytes)


def test_real_model_files_still_load(model_bytes, tmp_path):
    path = tmp_path / "m.skops"
    path.write_bytes(model_bytes)
    assert safety.inspect_model_file(path).safe
    assert safety.load_skops(path).predict is not None
    compressed = io.BytesIO()
    import skops.io as sio

    sio.dump(forest(), compressed, compression=zipfile.ZIP_DEFLATED)
    assert safety.load_skops(compressed.getvalue()).n_estimators == 5


# -- deep and oversized JSON --------------------------------------------------------------------


@pytest.mark.parametrize("no_index", [False, True], ids=["index", "rebuild"])
def test_a_deep_metadata_file_planted_in_a_registry_is_reported_not_fatal(registry, capsys, no_index):
    (registry.metadata_dir / "evil.json").write_bytes(DEEP)
    (registry.metadata_dir / "big.json").write_bytes(b'{"description": "' + b"x" * MAX_METADATA_BYTES + b'"}')
    if no_index:
        (registry.root / "index.json").unlink()
    reopened = ModelRegistry(registry.root)
    assert [r["model_name"] for r in reopened.list_models()] == ["ExoplanetClassifier"]
    report = reopened.verify()
    bad = {Path(p.path).name: p for p in report.problems if p.kind == "corrupt_metadata"}
    assert set(bad) == {"evil.json", "big.json"} and not report.ok
    assert "evil.json" in bad["evil.json"].message and "nested" in bad["evil.json"].message
    assert "bytes" in bad["big.json"].message
    assert not ModelRegistry(registry.root).verify(repair=True).ok  # repair keeps the evidence
    assert reopened.load("ExoplanetClassifier")[0].predict is not None

    code, out, err = _cli(capsys, "--registry", registry.root, "list")
    assert code == 0 and "ExoplanetClassifier" in out and err == ""
    for argv in (["verify"], ["verify", "--repair"], ["verify", "--json"]):
        code, out, err = _cli(capsys, "--registry", registry.root, *argv)
        assert code == 1 and "corrupt_metadata" in out and "evil.json" in out and "Traceback" not in err


def test_deep_metadata_for_import_is_refused_in_one_sentence(registry, tmp_path, capsys, model_bytes):
    model, metadata = _pair(registry, tmp_path, model_bytes, name="deep")
    metadata.write_bytes(DEEP)
    before = _files(registry.root)
    with pytest.raises(MetadataValidationError, match="deep.json is nested more than 1,024 levels deep"):
        registry.import_model(model, metadata)
    code, _, err = _cli(capsys, "--registry", registry.root, "import", model, "--metadata", metadata)
    assert code == 1
    _one_line(err, "deep.json", "nested")

    archive = _archive(registry, tmp_path, metadata=DEEP)
    with pytest.raises(MetadataValidationError, match="metadata.json in hostile.exoreg is nested"):
        preview_import(archive)
    code, _, err = _cli(capsys, "--registry", registry.root, "import", archive)
    assert code == 1
    _one_line(err, "hostile.exoreg", "nested")
    assert _files(registry.root) == before


@pytest.mark.parametrize("schema", [DEEP, b"[" * 1000 + b"]" * 1000, b"[" * 300 + b"]" * 300], ids=["200k", "1000", "300"])
def test_a_deep_skops_schema_is_refused_in_one_sentence(registry, tmp_path, capsys, model_bytes, schema):
    members = dict(_members(model_bytes))
    members["schema.json"] = schema
    model, metadata = _pair(registry, tmp_path, _zip(members.items()), name="schema")
    for attempt in (
        lambda: safety.inspect_model_file(model),
        lambda: safety.load_skops(model, trusted=True),
        lambda: registry.import_model(model, metadata, trusted=True),
    ):
        with pytest.raises(IntegrityError, match="schema.json of schema.skops is nested"):
            attempt()
    for argv in (["inspect", model], ["import", model, "--metadata", metadata, "--trust"]):
        code, _, err = _cli(capsys, "--registry", registry.root, *argv)
        assert code == 1
        _one_line(err, "schema.skops", "nested")


@pytest.mark.parametrize("schema", [b"[]", b"5", b'"text"', b"null", b'[{"__module__": "os", "__class__": "system"}]'])
def test_a_skops_schema_that_is_not_an_object_is_refused_in_one_sentence(registry, tmp_path, capsys, model_bytes, schema):
    """A list, a number, a string or null where the schema's object belongs: refused, whatever
    it names, before skops reads it."""
    members = dict(_members(model_bytes))
    members["schema.json"] = schema
    model, metadata = _pair(registry, tmp_path, _zip(members.items()), name="schema")
    for attempt in (
        lambda: safety.inspect_model_file(model),
        lambda: safety.load_skops(model, trusted=True),
        lambda: registry.import_model(model, metadata, trusted=True),
    ):
        with pytest.raises(IntegrityError, match="schema.json of schema.skops is not a JSON object"):
            attempt()
    code, _, err = _cli(capsys, "--registry", registry.root, "import", model, "--metadata", metadata, "--trust")
    assert code == 1
    _one_line(err, "schema.skops", "not a JSON object")


def test_oversized_json_is_refused_before_parsing(monkeypatch, model_bytes, tmp_path):
    flat = b'{"model_id": "' + b"x" * MAX_METADATA_BYTES + b'"}'
    with pytest.raises(MetadataValidationError, match="over the 10,000,000-byte limit"):
        ModelMetadata.from_json(flat)
    monkeypatch.setattr(safety, "MAX_SCHEMA_BYTES", 1000)
    with pytest.raises(IntegrityError, match="schema.json, over the 1,000-byte limit"):
        safety.load_skops(model_bytes)

    from core.registry import persistence

    path = tmp_path / "m.skops"
    persistence.ModelPersistence.save_model(forest(), path, {"note": "x"})
    persistence.sidecar_path(path).write_bytes(DEEP)  # a sidecar vouches for nothing: as if absent
    assert persistence._read_sidecar(path) == {}


def test_metadata_writing_keeps_its_rules(registry):
    meta = registry.resolve("ExoplanetClassifier")
    text = meta.to_json()
    assert text.startswith('{\n  "model_id": ') and text.endswith("}\n")
    assert json.loads(text) == json.loads(json.dumps(meta.to_dict()))
    meta.hyperparameters = {"alpha": float("nan")}
    with pytest.raises(ValueError):
        meta.to_json()
    deep: list = []
    for _ in range(300):
        deep = [deep]
    meta.hyperparameters = {"deep": deep}
    with pytest.raises(MetadataValidationError, match="hyperparameters' is nested more than 254 levels"):
        meta.validate()
    with pytest.raises(MetadataValidationError, match="nested"):
        meta.to_json()


# -- property tests ----------------------------------------------------------------------------

# Text the metadata accepts anywhere: valid Unicode (no lone surrogates) without NUL.
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=25,
)
_BASE = ModelMetadata(
    model_id="m_1", model_name="M", algorithm="RandomForest", version=1, training_date="2025-01-01",
    accuracy=0.9, precision=0.9, recall=0.9, f1_score=0.9,
)


@settings(derandomize=True, max_examples=150, deadline=None)
@given(hyper=st.dictionaries(_text, _json, max_size=5), extra=st.dictionaries(_text.map(lambda k: "x_" + k), _json, max_size=3))
def test_json_values_round_trip_through_metadata(hyper, extra):
    meta = ModelMetadata(**{**_BASE.__dict__, "hyperparameters": hyper, "evaluation": {"v": hyper}, "extra": extra})
    again = ModelMetadata.from_json(meta.to_json())
    assert again == meta
    assert again.to_json() == meta.to_json()


_REQUIRED = {k: _BASE.__dict__[k] for k in ("model_id", "model_name", "algorithm", "version", "training_date",
                                           "accuracy", "precision", "recall", "f1_score")}
_anything = st.one_of(
    st.binary(max_size=200),
    _json.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(sorted({*_REQUIRED, *ModelMetadata.__dataclass_fields__})), _json, max_size=12).map(
        lambda d: json.dumps({**_REQUIRED, **d}).encode()
    ),
    st.integers(1, 3000).map(lambda n: b'{"a":' + b"[" * n + b"]" * n + b"}"),
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(data=_anything)
def test_any_bytes_are_metadata_or_a_metadata_validation_error(data):
    with contextlib.suppress(MetadataValidationError):
        ModelMetadata.from_json(data)


def test_a_deep_bundle_manifest_is_reported_not_fatal(tmp_path):
    from core.deployment.bundle import MANIFEST_NAME, is_bundle, verify_bundle

    (tmp_path / MANIFEST_NAME).write_bytes(DEEP)
    assert not is_bundle(tmp_path)
    report = verify_bundle(tmp_path)
    assert not report.ok and any("cannot be read" in p and "nested" in p for p in report.problems)
