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
