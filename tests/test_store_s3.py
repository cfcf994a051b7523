"""What only a registry on object storage does: scheme dispatch, the connect probe, read-only
credentials, checksums, caches and request counts, orphans' grace age, `exoreg copy`, and
predicting and deploying from a remote version. Runs on the SeaweedFS server of tests/_s3server.py."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import http.server
import json
import sys
import threading
from pathlib import Path

import pytest

from core import ModelRegistry
from core.cli import main
from core.errors import RegistryError
from tests._factories import FEATURES, forest, register, training_data
from tests._s3server import READER

pytestmark = pytest.mark.s3


class Requests:
    """Counts the requests a boto3 client sends (by operation), through botocore's event hooks."""

    def __init__(self, client):
        self.ops: list[str] = []
        self.headers: list[dict[str, str]] = []
        client.meta.events.register("before-send.s3.*", self._sent)

    def _sent(self, request, **kwargs):
        self.ops.append(kwargs.get("event_name", "").rsplit(".", 1)[-1])
        self.headers.append({k.lower(): v for k, v in request.headers.items()})

    def __len__(self) -> int:
        return len(self.ops)

    def clear(self) -> None:
        self.ops.clear()
        self.headers.clear()


def _fresh_store(uri: str, **kwargs):
    from core.registry.store.s3 import S3Store

    return S3Store(uri, **kwargs)


def _populated(uri: str, versions: int = 3) -> ModelRegistry:
    registry = ModelRegistry(uri)
    for seed in range(versions):
        register(registry, model=forest(seed=seed))
    return registry


# ================================================================ choosing the store
def test_an_s3_root_opens_an_s3_store_and_the_cli_reads_and_writes_it(s3_uri, capsys):
    from core.registry.store.s3 import S3Store

    registry = _populated(s3_uri, 2)
    assert isinstance(registry.store, S3Store)
    assert registry.uri == s3_uri == registry.location and registry.local_folder is None
    with pytest.raises(RegistryError, match="is not a folder on this machine"):
        registry.root  # noqa: B018
    assert main(["list", "--registry", s3_uri, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["version"] for r in rows] == [1, 2]
    assert main(["--registry", s3_uri, "alias", "ExoplanetClassifier", "production", "1"]) == 0
    assert main(["show", "ExoplanetClassifier@production", "--registry", s3_uri, "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["version"] == 1
    assert main(["verify", "--registry", s3_uri]) == 0
    assert "Checked 2 versions: OK" in capsys.readouterr().out


def test_without_boto3_an_s3_root_is_one_sentence_naming_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "core.registry.store.s3" or m.split(".")[0] in ("boto3", "botocore")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 raises ImportError
    with pytest.raises(RegistryError) as info:
        ModelRegistry("s3://bucket/registry")
    message = str(info.value)
    assert "pip install 'exoreg[s3]'" in message and message.count(". ") == 0 and message.endswith(".")


def test_a_malformed_s3_uri_is_one_sentence():
    with pytest.raises(RegistryError, match="s3://BUCKET/PREFIX"):
        ModelRegistry("s3:///no-bucket")
    with pytest.raises(RegistryError, match="'..'"):
        ModelRegistry("s3://bucket/a/../b")


# ================================================================ the connect probe
def test_the_probe_passes_on_the_real_server_and_its_verdict_is_cached(s3_server, s3_uri):
    from core.registry.store import s3

    store = _fresh_store(s3_uri)
    assert s3.probe_conditional_writes(store.client, store.bucket, store.prefix) == s3.OK
    s3._verdicts.clear()
    ModelRegistry(store)  # opening probes nothing
    register(ModelRegistry(store))
    assert s3.cached_verdict(store.endpoint) == s3.OK
    s3._verdicts.clear()
    counted = Requests(store.client)
    store._read_only_reason = None
    register(ModelRegistry(store))
    # The model file, one listing and the log entry: the verdict came from the cache folder.
    assert counted.ops == ["PutObject", "ListObjectsV2", "PutObject"]
    listing = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store._key(".exoreg-probe"))
    assert listing.get("KeyCount", 0) == 0  # the probe's scratch keys are gone


class _StrippingProxy(http.server.BaseHTTPRequestHandler):
    """Passes requests to the real server without their If-Match / If-None-Match headers."""

    protocol_version = "HTTP/1.1"
    upstream_port = 0

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("if-match", "if-none-match")}
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _stripping_proxy(upstream_port: int):
    handler = type("Proxy", (_StrippingProxy,), {"upstream_port": upstream_port})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_proxy_that_drops_conditional_headers_makes_the_probe_refuse_writes(s3_server, s3_uri, monkeypatch):
    import botocore.auth

    written = _populated(s3_uri, 1)
    # The proxy strips the headers, so they must not be signed (a proxy that drops a signed header
    # would only get the request refused): that is what such proxies do to unsigned ones.
    monkeypatch.setattr(botocore.auth, "SIGNED_HEADERS_BLACKLIST",
                        [*botocore.auth.SIGNED_HEADERS_BLACKLIST, "if-match", "if-none-match"])
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    with _stripping_proxy(s3_server.port) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        through_proxy = ModelRegistry(s3_uri)
        assert through_proxy.list_models() == written.list_models()  # reading still works
        model, _ = through_proxy.load("ExoplanetClassifier")
        X, _ = training_data()
        assert len(model.predict(X[FEATURES])) == len(X)
        with pytest.raises(RegistryError) as info:
            register(through_proxy)
        message = str(info.value)
        assert "does not enforce conditional writes" in message and "reading still works" in message
        assert message.count(". ") == 0
        with pytest.raises(RegistryError, match="does not enforce conditional writes"):
            through_proxy.set_alias("ExoplanetClassifier", "production", 1)
    assert [r["version"] for r in ModelRegistry(s3_uri).list_models()] == [1]


# ================================================================ credentials that may only read
def test_read_only_credentials_give_a_read_only_registry(s3_server, s3_uri, monkeypatch, capsys):
    _populated(s3_uri, 2)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER[1])
    reader = ModelRegistry(s3_uri)
    assert [r["version"] for r in reader.list_models()] == [1, 2]
    assert reader.verify().ok
    model, meta = reader.load("ExoplanetClassifier:2")
    assert meta.version == 2
    with pytest.raises(RegistryError) as info:
        register(reader)
    assert "may only read" in str(info.value) and str(info.value).count(". ") == 0
    assert main(["--registry", s3_uri, "describe", "ExoplanetClassifier:1", "--text", "x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("exoreg: ") and "may only read" in err and "Traceback" not in err


# ================================================================ checksums
@pytest.mark.parametrize("setting", ["when_required", "when_supported"])
def test_both_checksum_settings_work(s3_uri, monkeypatch, setting):
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", setting)
    store = _fresh_store(s3_uri)
    counted = Requests(store.client)
    registry = ModelRegistry(store)
    model_id = register(registry)
    puts = [h for op, h in zip(counted.ops, counted.headers, strict=True) if op == "PutObject"]
    sent_checksum = [any(k.startswith("x-amz-checksum-") or k == "x-amz-sdk-checksum-algorithm" for k in h)
                     for h in puts]
    assert puts and all(sent_checksum) == (setting == "when_supported") and any(sent_checksum) == all(sent_checksum)
    assert ModelRegistry(s3_uri).load(model_id)[1].model_id == model_id


# ================================================================ caches and request counts
def test_open_takes_a_handful_of_requests_and_a_warm_open_two(s3_uri):
    from core.registry.store import s3

    registry = _populated(s3_uri, 2 * s3.COMPACT_EVERY + 3)
    assert registry.store._s.snapshot_seq >= 2 * s3.COMPACT_EVERY  # writers compacted the log

    cold_client = s3_server_client()
    counted = Requests(cold_client)
    import shutil

    shutil.rmtree(registry.store._cache, ignore_errors=True)
    cold = _fresh_store(s3_uri, client=cold_client)
    assert len(cold.rows()) == 2 * s3.COMPACT_EVERY + 3
    assert len(counted) <= s3.COMPACT_EVERY + 2, counted.ops  # snapshot + one listing + the tail

    warm_client = s3_server_client()  # as in another process: nothing shared but the cache folder
    counted = Requests(warm_client)
    warm = _fresh_store(s3_uri, client=warm_client)
    rows = warm.rows()
    assert counted.ops == ["GetObject", "ListObjectsV2"]  # the snapshot is not modified (304), the tail is empty
    assert rows == cold.rows()
    expected = cold.revision()
    counted.clear()
    assert warm.revision() == expected and counted.ops == ["ListObjectsV2"]  # one listing request
    first_id = rows[0]["model_id"]
    counted.clear()
    assert warm.read_metadata(first_id).version == 1 and counted.ops == ["GetObject"]  # its log entry, once
    another_client = s3_server_client()
    counted = Requests(another_client)
    again = _fresh_store(s3_uri, client=another_client).read_metadata(first_id)
    assert again.to_dict() == warm.read_metadata(first_id).to_dict()
    assert counted.ops == ["GetObject", "ListObjectsV2"]  # the snapshot (304) and the tail; the entry was cached


def s3_server_client():
    import boto3

    from core.registry.store.s3 import default_client

    return boto3.session.Session().client("s3", config=default_client().meta.config)


def test_a_damaged_cached_model_file_is_fetched_again_never_deserialised(s3_uri):
    registry = _populated(s3_uri, 1)
    meta = registry.resolve("ExoplanetClassifier")
    registry.load(meta.model_id)
    cached = registry.store._cache.parent / "objects" / meta.model_sha256
    assert cached.is_file()
    cached.write_bytes(b"PK\x03\x04 not the model")
    model, loaded = ModelRegistry(s3_uri).load(meta.model_id)
    assert loaded.model_sha256 == hashlib.sha256(cached.read_bytes()).hexdigest()  # replaced by the real one


def test_a_young_orphan_is_never_removed_an_old_one_is(s3_uri):
    registry = _populated(s3_uri, 1)
    store = registry.store
    data = b"uploaded by a writer that has not committed yet"
    key = store._object_key(hashlib.sha256(data).hexdigest())
    store.client.put_object(Bucket=store.bucket, Key=key, Body=data)
    report = registry.verify(repair=True)
    assert report.ok and report.problems == [] and report.repaired == []
    assert store.client.head_object(Bucket=store.bucket, Key=key)
    store.orphan_grace_s = -60  # as if a day had passed (by the store's clock)
    report = registry.verify(repair=True)
    assert [p.kind for p in report.problems] == ["orphan_model_file"] and report.repaired == [
        f"s3://{store.bucket}/{key}"
    ]
    assert registry.verify().problems == []
    assert registry.load("ExoplanetClassifier")[1].version == 1


def test_a_damaged_snapshot_is_rebuilt_from_the_log(s3_uri):
    from core.registry.store import s3

    registry = _populated(s3_uri, s3.COMPACT_EVERY + 1)
    store = registry.store
    store.client.put_object(Bucket=store.bucket, Key=store._key("snapshot.json"), Body=b"{ damaged")
    reopened = ModelRegistry(_fresh_store(s3_uri, client=s3_server_client()))  # as another process would
    assert [r["version"] for r in reopened.list_models()] == list(range(1, s3.COMPACT_EVERY + 2))
    report = reopened.verify(repair=True)
    assert report.ok and "corrupt_index" in [p.kind for p in report.problems]
    assert ModelRegistry(s3_uri).verify().problems == []


def _index_file(store) -> Path:
    return store._cache / "index.json"


def _compacted(uri: str, monkeypatch, versions: int = 4):
    """A registry whose log was compacted once (every 3 entries here) and has entries after its snapshot."""
    from core.registry.store import s3

    monkeypatch.setattr(s3, "COMPACT_EVERY", 3)
    registry = ModelRegistry(uri)
    model = forest()
    for i in range(versions):
        register(registry, model=model, name=f"Name{i % 2}")
    registry.set_alias("Name0", "production", 1)
    assert registry.store._s.snapshot_seq > 0
    return registry


def _warm_open(uri: str) -> tuple[list[dict], Requests, object]:
    """Open ``uri`` as another process on this machine would (nothing shared but the cache folder)."""
    client = s3_server_client()
    counted = Requests(client)
    store = _fresh_store(uri, client=client)
    return ModelRegistry(store).list_models(include_deleted=True), counted, store


def test_a_warm_open_serves_the_cached_index_in_two_requests(s3_uri, monkeypatch):
    from core.registry.store import s3

    registry = _compacted(s3_uri, monkeypatch)
    expected = registry.list_models(include_deleted=True)
    _warm_open(s3_uri)  # a cold open on this machine caches the index
    rows, counted, store = _warm_open(s3_uri)
    assert rows == expected
    assert counted.ops == ["GetObject", "ListObjectsV2"], counted.ops
    # the snapshot was asked for only if changed, and it had not: the index came from the cache folder
    assert counted.headers[0].get("if-none-match") == store._s.snapshot_etag.encode()
    state, etag = s3._State.from_index(_index_file(store).read_bytes(), store._where)
    assert etag == store._s.snapshot_etag and state.seq == store._s.snapshot_seq
    assert ModelRegistry(store).resolve("Name0@production").version == 1


def test_a_compacting_writer_leaves_the_new_index_in_its_cache_folder(s3_uri, monkeypatch):
    registry = _compacted(s3_uri, monkeypatch)  # the snapshot holds 3 entries, the log 5
    register(registry, name="Name0")  # the sixth entry: this writer compacts
    snapshot = registry.store.client.head_object(Bucket=registry.store.bucket,
                                                 Key=registry.store._key("snapshot.json"))
    rows, counted, store = _warm_open(s3_uri)
    assert [r["version"] for r in rows if r["model_name"] == "Name0"] == [1, 2, 3]
    assert counted.headers[0].get("if-none-match") == snapshot["ETag"].encode()  # so the snapshot was not downloaded
    assert len(counted) <= 3


def test_entries_after_the_cached_snapshot_are_read_in_at_most_three_requests(s3_uri, monkeypatch):
    from core.registry.store import s3

    registry = _compacted(s3_uri, monkeypatch, versions=3)
    _warm_open(s3_uri)
    monkeypatch.setattr(s3, "COMPACT_EVERY", 1000)  # the writer elsewhere does not compact this time
    register(ModelRegistry(_fresh_store(s3_uri, client=s3_server_client())), name="Name1")
    rows, counted, _ = _warm_open(s3_uri)
    registry.store.revision()  # look afresh (reads are served from what was listed up to a second ago)
    assert rows == registry.list_models(include_deleted=True)
    assert [r["version"] for r in rows if r["model_name"] == "Name1"] == [1, 2]
    assert counted.ops == ["GetObject", "ListObjectsV2", "GetObject"]  # 304, the tail, the one new entry


def test_a_stale_cached_index_is_replaced_by_the_new_snapshot(s3_uri, monkeypatch):
    registry = _compacted(s3_uri, monkeypatch)
    _warm_open(s3_uri)
    stale = _index_file(registry.store).read_bytes()
    for _ in range(3):  # another machine registers and compacts
        register(ModelRegistry(_fresh_store(s3_uri, client=s3_server_client())), name="Name1")
    _index_file(registry.store).write_bytes(stale)
    rows, counted, store = _warm_open(s3_uri)
    registry.store.revision()
    assert rows == registry.list_models(include_deleted=True)
    assert [r["version"] for r in rows if r["model_name"] == "Name1"] == [1, 2, 3, 4, 5]
    assert _index_file(store).read_bytes() != stale
    assert ModelRegistry(store).resolve("Name1").version == 5


def _edit_row(change):
    """A damage that rewrites the cached rows with ``change(rows)`` (keeping the file's shape)."""
    import orjson

    def damage(data: bytes) -> bytes:
        head, body, tail = data.split(b"\n")
        rows = orjson.loads(body)
        change(rows)
        return b"\n".join((head, orjson.dumps(rows), tail))

    return damage


def _edit_header(change):
    import orjson

    def damage(data: bytes) -> bytes:
        head, rest = data.split(b"\n", 1)
        header = orjson.loads(head)
        change(header)
        return orjson.dumps(header) + b"\n" + rest

    return damage


def _edit_meta(change):
    import orjson

    def damage(data: bytes) -> bytes:
        head, body, tail = data.split(b"\n")
        meta = orjson.loads(tail)
        change(meta)
        return b"\n".join((head, body, orjson.dumps(meta)))

    return damage


#: What a damaged, hand-edited or hostile cached index may look like; every one is ignored without a word.
_DAMAGES = {
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "one byte flipped in the header": lambda data: b"[" + data[1:],
    "not JSON": lambda data: b"\x00\xff" * 1000,
    "one line": lambda data: data.replace(b"\n", b" "),
    "four lines": lambda data: data + b"\n{}",
    "a pickle": lambda data: b"\x80\x04\x95" + data,
    "another format": _edit_header(lambda h: h.update(format="exoreg-s3-index/999")),
    "another registry's": _edit_header(lambda h: h.update(where="http://elsewhere|bucket|prefix")),
    "no snapshot ETag": _edit_header(lambda h: h.update(snapshot_etag="")),
    "a count that disagrees": _edit_header(lambda h: h.update(versions=h["versions"] + 1)),
    "a negative sequence": _edit_header(lambda h: h.update(seq=-1)),
    "a version as text": _edit_row(lambda rows: rows[0].update(version="1")),
    "a version as true": _edit_row(lambda rows: rows[0].update(version=True)),
    "a name as a number": _edit_row(lambda rows: rows[-1].update(model_name=7)),
    "aliases as text": _edit_row(lambda rows: rows[0].update(aliases="production")),
    "an alias as a number": _edit_row(lambda rows: rows[0].update(aliases=[1])),
    "tags as a list": _edit_row(lambda rows: rows[0].update(tags=["a"])),
    "a tag value as a number": _edit_row(lambda rows: rows[0].update(tags={"team": 3})),
    "a metric as text": _edit_row(lambda rows: rows[0].update(metrics={"roc_auc": "0.9"})),
    "an accuracy as text": _edit_row(lambda rows: rows[0].update(accuracy="high")),
    "a missing field": _edit_row(lambda rows: rows[0].pop("status")),
    "a row that is not an object": _edit_row(lambda rows: rows.__setitem__(0, [1, 2])),
    "a version twice": _edit_row(lambda rows: rows.__setitem__(1, dict(rows[0]))),
    "an entry past the index": _edit_meta(lambda m: m["seq"].__setitem__(0, 10**9)),
    "an entry number zero": _edit_meta(lambda m: m["seq"].__setitem__(0, 0)),
    "an entry number as text": _edit_meta(lambda m: m["seq"].__setitem__(0, "3")),
    "an ETag as a number": _edit_meta(lambda m: m["etag"].__setitem__(0, 5)),
    "one entry missing": _edit_meta(lambda m: m["seq"].pop()),
}


def test_a_damaged_or_hostile_cached_index_is_ignored_and_rebuilt(s3_uri, monkeypatch, capsys):
    from core.registry.store import s3

    registry = _compacted(s3_uri, monkeypatch)
    expected = registry.list_models(include_deleted=True)
    _warm_open(s3_uri)
    path = _index_file(registry.store)
    good = path.read_bytes()
    s3._State.from_index(good, registry.store._where)  # the good one reads back
    for label, damage in _DAMAGES.items():
        path.write_bytes(damage(good))
        rows, counted, store = _warm_open(s3_uri)
        assert rows == expected, label
        # the snapshot was read afresh (no If-None-Match), and nothing else was needed
        assert counted.ops == ["GetObject", "ListObjectsV2"] and "if-none-match" not in counted.headers[0], label
        assert ModelRegistry(store).resolve("Name0@production").version == 1, label
        assert path.read_bytes() == good, label  # rewritten whole
        assert store._s.damage == {}, label  # the snapshot in the bucket is fine: nothing to report
    assert capsys.readouterr() == ("", "")
    assert ModelRegistry(s3_uri).verify().problems == []


def test_an_unwritable_cache_folder_costs_the_snapshot_download_nothing_more(s3_uri, monkeypatch):
    registry = _compacted(s3_uri, monkeypatch)
    expected = registry.list_models(include_deleted=True)
    _warm_open(s3_uri)
    path = _index_file(registry.store)
    path.unlink()
    path.mkdir()  # a folder where the file should be: neither readable nor replaceable
    rows, counted, _ = _warm_open(s3_uri)
    assert rows == expected and counted.ops == ["GetObject", "ListObjectsV2"]
    rows, counted, _ = _warm_open(s3_uri)
    assert rows == expected and "if-none-match" not in counted.headers[0]


def test_a_snapshot_whose_rows_are_malformed_is_rebuilt_from_the_log(s3_uri, monkeypatch):
    import orjson

    registry = _compacted(s3_uri, monkeypatch)
    expected = registry.list_models(include_deleted=True)
    store = registry.store
    key = store._key("snapshot.json")
    doc = orjson.loads(store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    first = next(iter(doc["entries"]))
    doc["entries"][first]["aliases"] = "production"  # valid JSON, but not a row list_models can copy
    store.client.put_object(Bucket=store.bucket, Key=key, Body=orjson.dumps(doc))
    rows, _, reopened = _warm_open(s3_uri)
    assert rows == expected
    assert "corrupt_index" in [p.kind for p in ModelRegistry(reopened).verify().problems]


def test_references_follow_every_change_once_the_lookup_by_name_is_built(s3_uri, tmp_path):
    for root in (s3_uri, tmp_path / "local"):
        registry = ModelRegistry(root)
        other = ModelRegistry(root)  # a second registry on the same root
        model = forest()
        register(registry, model=model)
        assert registry.resolve("ExoplanetClassifier").version == 1
        assert registry.list_models("ExoplanetClassifier")[0]["version"] == 1
        register(other, model=model)
        assert registry.resolve("ExoplanetClassifier").version == 2, root
        assert registry.model_names() == ["ExoplanetClassifier"]
        registry.delete_model(registry.resolve("ExoplanetClassifier:2").model_id)
        assert registry.resolve("ExoplanetClassifier").version == 1, root
        assert [r["version"] for r in registry.list_models("ExoplanetClassifier")] == [1]
        assert [r["version"] for r in registry.list_models("ExoplanetClassifier", include_deleted=True)] == [1, 2]
        register(registry, model=model, name="Another")
        assert registry.model_names() == ["Another", "ExoplanetClassifier"]
        assert registry.list_models("Nobody") == []
        rows = registry.list_models("Another")
        rows[0]["aliases"].append("changed by the caller")
        assert registry.list_models("Another")[0]["aliases"] == []


# ================================================================ exoreg copy
def test_copy_carries_everything_both_ways_and_a_second_run_copies_nothing(tmp_path, s3_uri, capsys):
    from core.registry.records import TrainingRows

    local = ModelRegistry(tmp_path / "local")
    X, _ = training_data()
    frame = X.assign(kepoi_name=[f"K{i:05d}.01" for i in range(len(X))])
    first = register(local, model=forest(seed=0), training_rows=TrainingRows.from_frame(frame, FEATURES),
                     training_frame=X)
    register(local, model=forest(seed=1), description="second", tags={"team": "kepler"})
    gone = register(local, model=forest(seed=2))
    register(local, model=forest(seed=3), name="Other")
    local.set_alias("ExoplanetClassifier", "production", 2)
    local.set_alias("Other", "staging", 1)
    local.delete_model(gone)

    assert main(["copy", str(tmp_path / "local"), s3_uri]) == 0
    assert "copied 4 versions" in capsys.readouterr().out
    remote = ModelRegistry(s3_uri)
    assert remote.list_models(include_deleted=True) == local.list_models(include_deleted=True)
    assert remote.training_rows(first) == local.training_rows(first)
    assert remote.training_profile(first) == local.training_profile(first)
    assert remote.get_metadata(gone).status == "deleted"
    assert remote.resolve("ExoplanetClassifier@production").description == "second"
    assert remote.verify().problems == []

    assert main(["copy", str(tmp_path / "local"), s3_uri]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Nothing new to copy") and "all 4 versions" in out

    local.update_metadata(first, description="changed since")
    local.set_alias("ExoplanetClassifier", "production", 1)
    register(local, model=forest(seed=4))
    assert main(["copy", str(tmp_path / "local"), s3_uri, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (len(report["copied"]), report["updated"], report["aliases"]) == (
        1, [first], ["ExoplanetClassifier@production"]
    )
    assert ModelRegistry(s3_uri).list_models(include_deleted=True) == local.list_models(include_deleted=True)

    assert main(["copy", s3_uri, str(tmp_path / "back")]) == 0
    back = ModelRegistry(tmp_path / "back")
    assert back.list_models(include_deleted=True) == local.list_models(include_deleted=True)
    assert back.verify().problems == []


def test_copy_refuses_a_target_with_other_versions_and_a_damaged_source(tmp_path, s3_uri, capsys):
    local = ModelRegistry(tmp_path / "local")
    register(local, model=forest(seed=0))
    other = ModelRegistry(s3_uri)
    register(other, model=forest(seed=5))
    assert main(["copy", str(tmp_path / "local"), s3_uri]) == 1
    err = capsys.readouterr().err
    assert "copy into an empty registry" in err and "Traceback" not in err
    meta = local.resolve("ExoplanetClassifier")
    path = local.model_file_path(meta.model_id)
    path.write_bytes(path.read_bytes()[:-10])
    assert main(["copy", str(tmp_path / "local"), str(tmp_path / "copy")]) == 1
    assert "does not match its recorded SHA-256, so it was not copied" in capsys.readouterr().err
    assert ModelRegistry(tmp_path / "copy").list_models() == []


# ================================================================ predict and deploy from a remote version
def test_predict_and_deploy_from_a_remote_version(tmp_path, s3_uri, capsys):
    registry = _populated(s3_uri, 2)
    X, _ = training_data()
    source = tmp_path / "input.csv"
    X.assign(kepoi_name=[f"K{i}" for i in range(len(X))]).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    assert main(["predict", "ExoplanetClassifier:2", str(source), "-o", str(out), "--registry", s3_uri]) == 0
    import pandas as pd

    predicted = pd.read_csv(out)
    model, _ = registry.load("ExoplanetClassifier:2")
    assert len(predicted) == len(X)
    assert list(predicted.filter(like="predict").iloc[:, 0]) == list(model.predict(X[FEATURES]))
    capsys.readouterr()
    assert main(["deploy", "ExoplanetClassifier:2", str(tmp_path / "bundle"), "--registry", s3_uri]) == 0
    assert main(["verify-bundle", str(tmp_path / "bundle")]) == 0
    assert any(Path(tmp_path / "bundle").iterdir())
