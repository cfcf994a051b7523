"""A registry in an S3-compatible bucket, shared by many machines, with no server of its own.

::

    s3://bucket/prefix/
      log/00000000000000000001.json   one entry per change, created once (If-None-Match: *);
                                      its sequence number orders it, never a clock
      snapshot.json                   the log folded up to some sequence number (replaced with If-Match)
      objects/<sha256>                model files and sidecars, content-addressed (deduplicated)

**One commit point.** A registration uploads its model file (and sidecars) under their SHA-256
first, then creates the log entry that follows the last one it read. That single conditional
create allocates the version (the next number of its name in the log read so far) and carries the
version's whole metadata. A 412 means another writer took that sequence number: read the new
entries, derive the version again and retry. Updates (description, tags, delete, restore) and alias
moves are log entries too, so each is one compare-and-swap on the log's tail, never two writes.
Every entry carries a random token, so a create whose answer was lost (and that the SDK retried)
is recognised as this writer's own.

**The index.** Opening reads ``snapshot.json`` and lists the entries after it (``StartAfter``),
a handful of requests however many versions there are; a writer that finds the log more than
:data:`COMPACT_EVERY` entries past the snapshot folds it into a new one (itself a conditional
write). The snapshot, folded into summary rows sorted by name and version, is kept in the user's
cache folder as ``index.json`` keyed by the snapshot's ETag (asked for with ``If-None-Match``), and
the entries by theirs, so a warm open is two small requests and parses no full metadata; the index
is validated field by field on every read and ignored when anything is off. Model files are cached
by SHA-256 and checked against it on every read. :meth:`S3Store.revision` is one listing request after the last entry read.

**Trust the store, but check.** Before the first write to an endpoint the store is probed (see
:func:`probe_conditional_writes`); one that does not enforce conditional writes is only read.
Credentials that may only read give a read-only registry. Endpoint, credentials and region come
from boto3's standard configuration (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``~/.aws/config``...).
"""

from __future__ import annotations

import contextlib
import copy as _copy
import hashlib
import os
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import orjson
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from core.common.files import atomic_write_bytes, sha256_bytes
from core.common.gcpause import gc_paused
from core.errors import IntegrityError, MetadataValidationError, RegistryError
from core.registry.metadata import ModelMetadata
from core.registry.store._journal import fault_point
from core.registry.store.base import (
    MAX_SIDECAR_BYTES,
    SIDECARS,
    Problem,
    Scan,
    StoredFile,
    StoreMissing,
    StoreSnapshot,
    record_sidecars,
    sidecar_record,
)
from core.registry.store.local import _file_stem, _sidecar_name

SCHEMA = 1
#: The format of the folded index this machine keeps in its cache folder (see :meth:`_State.to_index`).
INDEX_FORMAT = "exoreg-s3-index/1"
#: A writer folds the log into a new snapshot when it is this many entries past the snapshot.
COMPACT_EVERY = 10
#: An object no version names is removed by ``verify --repair`` only when it is older than this
#: (by the store's own clock): a younger one may belong to a registration about to commit.
ORPHAN_GRACE_S = 24 * 3600
#: How long a probe verdict about an endpoint is believed (in the cache folder).
PROBE_VERDICT_S = 7 * 24 * 3600
PROBE_WRITERS = 8
#: Reads (lists, metadata, references) are served from the log as listed at most this long ago;
#: :meth:`S3Store.revision` and every write list it afresh. Writes in this process are seen at once.
MAX_STALENESS_S = 1.0
_MAX_ATTEMPTS = 200
_SEQ_WIDTH = 20

OK, NO_CONDITIONAL_WRITES, READ_ONLY = "ok", "no-conditional-writes", "read-only"


class S3StoreError(RegistryError):
    """The object store refused or could not take a request; the message is one sentence."""


# ======================================================================== the client
_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()
_CONFIG_VARIABLES = (
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION",
)


def default_client():
    """An S3 client from boto3's standard configuration (one per configuration, shared: clients are thread-safe)."""
    key = tuple(os.environ.get(name) for name in _CONFIG_VARIABLES)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            config = Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=2 * PROBE_WRITERS,
            )
            client = boto3.session.Session().client("s3", config=config)
            _clients[key] = client
        return client


def parse_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix without slashes at either end) of ``s3://bucket/prefix``; one sentence when malformed."""
    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    if parsed.scheme.lower() != "s3" or not bucket or parsed.query or parsed.fragment:
        raise RegistryError(f"{uri} is not a registry URI of the form s3://BUCKET/PREFIX; write it that way.")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise RegistryError(f"The prefix of {uri} has an empty, '.' or '..' part; name the folder plainly.")
    return bucket, prefix


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _precondition_failed(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and (_status(exc) == 412 or _code(exc) == "PreconditionFailed")


def _conflict(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and (_status(exc) == 409 or _code(exc) == "ConditionalRequestConflict")


def _missing(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and (_status(exc) == 404 or _code(exc) in ("NoSuchKey", "NotFound"))


def _denied(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and (_status(exc) == 403 or _code(exc) == "AccessDenied")


def _not_modified(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and (_status(exc) == 304 or _code(exc) == "304")


def _backoff(attempt: int) -> None:
    """Exponential back-off with full jitter (at most half a second), after a lost race or a conflict."""
    time.sleep(random.uniform(0, min(0.5, 0.01 * (2 ** min(attempt, 6)))))


# ======================================================================== the probe
def probe_conditional_writes(client, bucket: str, prefix: str, *, writers: int = PROBE_WRITERS) -> str:
    """Whether the endpoint enforces conditional writes: :data:`OK`, :data:`NO_CONDITIONAL_WRITES` or :data:`READ_ONLY`.

    Sequential: a second ``If-None-Match: *`` create of a key and a stale ``If-Match`` must both get
    412. Concurrent: ``writers`` simultaneous creates of one fresh key, of which exactly one may
    succeed. Scratch keys live under ``PREFIX/.exoreg-probe/`` and are removed afterwards.
    """
    base = "/".join(p for p in (prefix, ".exoreg-probe", uuid.uuid4().hex) if p)
    keys = [f"{base}/sequential", f"{base}/concurrent"]
    try:
        try:
            first = client.put_object(Bucket=bucket, Key=keys[0], Body=b"1", IfNoneMatch="*")
        except ClientError as exc:
            if _denied(exc):
                return READ_ONLY
            raise
        for attempt in ({"IfNoneMatch": "*"}, {"IfMatch": '"00000000000000000000000000000000"'}):
            try:
                client.put_object(Bucket=bucket, Key=keys[0], Body=b"2", **attempt)
                return NO_CONDITIONAL_WRITES
            except ClientError as exc:
                if not _precondition_failed(exc):
                    raise
        client.put_object(Bucket=bucket, Key=keys[0], Body=b"3", IfMatch=first["ETag"])
        try:  # the ETag it matched is stale now
            client.put_object(Bucket=bucket, Key=keys[0], Body=b"4", IfMatch=first["ETag"])
            return NO_CONDITIONAL_WRITES
        except ClientError as exc:
            if not _precondition_failed(exc):
                raise
        barrier = threading.Barrier(writers)

        def create(i: int) -> bool:
            barrier.wait(timeout=30)
            try:
                client.put_object(Bucket=bucket, Key=keys[1], Body=str(i).encode(), IfNoneMatch="*")
                return True
            except ClientError as exc:
                if _precondition_failed(exc) or _conflict(exc):
                    return False
                raise

        with ThreadPoolExecutor(writers) as pool:
            succeeded = sum(pool.map(create, range(writers)))
        return OK if succeeded == 1 else NO_CONDITIONAL_WRITES
    finally:
        for key in keys:
            with contextlib.suppress(ClientError, BotoCoreError):
                client.delete_object(Bucket=bucket, Key=key)


_verdicts: dict[str, str] = {}


def _verdict_file(endpoint: str) -> Path:
    from core.common.userdirs import cache_dir

    return cache_dir() / "s3" / f"probe-{hashlib.sha256(endpoint.encode()).hexdigest()[:24]}.json"


def cached_verdict(endpoint: str) -> str | None:
    """The probe verdict about ``endpoint`` this machine remembers (in this process, else in the cache folder)."""
    if endpoint in _verdicts:
        return _verdicts[endpoint]
    try:
        data = orjson.loads(_verdict_file(endpoint).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if (
        isinstance(data, dict)
        and data.get("endpoint") == endpoint
        and data.get("verdict") in (OK, NO_CONDITIONAL_WRITES)
        and isinstance(data.get("time"), int | float)
        and 0 <= time.time() - data["time"] < PROBE_VERDICT_S
    ):
        _verdicts[endpoint] = data["verdict"]
        return data["verdict"]
    return None


def remember_verdict(endpoint: str, verdict: str) -> None:
    _verdicts[endpoint] = verdict
    with contextlib.suppress(OSError):
        path = _verdict_file(endpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, orjson.dumps({"endpoint": endpoint, "verdict": verdict, "time": time.time()}))


# ======================================================================== the folded log
@dataclass
class _State:
    """The log folded up to ``seq``: one summary row per version and where its metadata is."""

    seq: int = 0
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta_seq: dict[str, int] = field(default_factory=dict)  # model_id -> the entry holding its metadata
    meta_etag: dict[str, str] = field(default_factory=dict)  # model_id -> that entry's ETag (its cache key)
    bad: dict[str, str] = field(default_factory=dict)  # log key -> why it cannot be read

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "schema": SCHEMA, "seq": self.seq, "entries": self.entries, "meta_seq": self.meta_seq,
                "meta_etag": self.meta_etag, "bad": self.bad,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> _State:
        doc = orjson.loads(data)
        if (
            not isinstance(doc, dict)
            or doc.get("schema") != SCHEMA
            or type(doc.get("seq")) is not int
            or not isinstance(doc.get("entries"), dict)
            or not isinstance(doc.get("meta_seq"), dict)
            or set(doc["entries"]) != set(doc["meta_seq"])
            or not all(isinstance(r, dict) and r.get("model_id") == k for k, r in doc["entries"].items())
            or not _valid_rows(list(doc["entries"].values()))
        ):
            raise ValueError("not a snapshot of this format")
        etags = doc.get("meta_etag") if isinstance(doc.get("meta_etag"), dict) else {}
        return cls(
            doc["seq"], doc["entries"], {k: int(v) for k, v in doc["meta_seq"].items()},
            {k: str(v) for k, v in etags.items()}, dict(doc.get("bad") or {}),
        )

    def to_index(self, where: str, snapshot_etag: str) -> bytes:
        """This state as the cache folder keeps it: three JSON lines, read back by :meth:`from_index`.

        A header (what it is, whose, the snapshot's ETag and sequence number), the summary rows
        sorted by name and version (what ``rows()`` serves, so opening sorts nothing), and the
        entry holding each row's metadata as two arrays in the rows' order.
        """
        rows = sorted(self.entries.values(), key=_row_order)
        ids = [r["model_id"] for r in rows]
        header = {"format": INDEX_FORMAT, "where": where, "snapshot_etag": snapshot_etag, "seq": self.seq,
                  "versions": len(rows), "bad": self.bad}
        meta = {"seq": [self.meta_seq[i] for i in ids], "etag": [self.meta_etag.get(i, "") for i in ids]}
        return b"\n".join((orjson.dumps(header), orjson.dumps(rows), orjson.dumps(meta)))

    @classmethod
    def from_index(cls, data: bytes, where: str, snapshot_etag: str | None = None) -> tuple[_State, str]:
        """(state, snapshot ETag) of a cached index; ValueError for anything that is not exactly one of ours.

        The cache folder is the user's to write, so nothing in it is believed: every row must have
        the fields and types a summary row has, ids must be unique, and every row's entry must be one
        this state has folded.
        """
        try:
            head, body, tail = data.split(b"\n")
            header, rows, meta = orjson.loads(head), orjson.loads(body), orjson.loads(tail)
            if not (
                isinstance(header, dict)
                and header.get("format") == INDEX_FORMAT
                and header.get("where") == where
                and isinstance(header.get("snapshot_etag"), str)
                and header["snapshot_etag"]
                and (snapshot_etag is None or header["snapshot_etag"] == snapshot_etag)
                and type(header.get("seq")) is int
                and header["seq"] >= 0
                and isinstance(header.get("bad"), dict)
                and _all_of(str, chain(header["bad"], header["bad"].values()))
                and type(rows) is list
                and len(rows) == header.get("versions")
                and isinstance(meta, dict)
                and type(meta.get("seq")) is list
                and type(meta.get("etag")) is list
                and len(meta["seq"]) == len(meta["etag"]) == len(rows)
                and _all_of(int, meta["seq"])
                and _all_of(str, meta["etag"])
                and (not rows or 1 <= min(meta["seq"]) <= max(meta["seq"]) <= header["seq"])
                and _valid_rows(rows)
            ):
                raise ValueError("it is not an index of this format")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"the cached index cannot be used ({exc})") from None
        ids = list(map(_MODEL_ID, rows))
        entries = dict(zip(ids, rows, strict=True))
        if len(entries) != len(rows):
            raise ValueError("the cached index names a version twice")
        state = cls(header["seq"], entries, dict(zip(ids, meta["seq"], strict=True)), dict(zip(ids, meta["etag"], strict=True)),
                    dict(header["bad"]))
        return state, header["snapshot_etag"]

    def copy(self) -> _State:
        return _State(self.seq, dict(self.entries), dict(self.meta_seq), dict(self.meta_etag), dict(self.bad))

    def apply(self, seq: int, key: str, entry: Any, etag: str = "") -> ModelMetadata | None:
        """Fold one log entry in; returns the metadata a ``put`` carried (None for anything else)."""
        self.seq = max(self.seq, seq)
        try:
            if not isinstance(entry, dict) or entry.get("schema") != SCHEMA:
                raise ValueError("it is not a log entry of this format")
            if entry.get("op") == "put":
                meta = ModelMetadata.from_dict(entry.get("metadata"), label=f"The log entry {key}")
                self._put(meta, seq, etag)
                return meta
            if entry.get("op") == "alias":
                name, alias, target = entry.get("model_name"), entry.get("alias"), entry.get("model_id")
                if not isinstance(name, str) or not isinstance(alias, str) or not isinstance(target, str | None):
                    raise ValueError("its alias change is malformed")
                self._release(name, alias, keep=None)
                row = self.entries.get(target) if target else None
                if row is not None and row["model_name"] == name:
                    self.entries[target] = {**row, "aliases": [*row["aliases"], alias]}
                return None
            raise ValueError(f"its operation {entry.get('op')!r} is unknown")
        except (ValueError, TypeError, KeyError, MetadataValidationError) as exc:
            self.bad[key] = f"{key} cannot be read: {exc}"
            return None

    def _put(self, meta: ModelMetadata, seq: int, etag: str) -> None:
        for alias in meta.aliases:
            self._release(meta.model_name, alias, keep=meta.model_id)
        self.entries[meta.model_id] = meta.summary()
        self.meta_seq[meta.model_id] = seq
        self.meta_etag[meta.model_id] = etag

    def _release(self, name: str, alias: str, *, keep: str | None) -> None:
        for model_id, row in list(self.entries.items()):
            if model_id != keep and row["model_name"] == name and alias in row["aliases"]:
                self.entries[model_id] = {**row, "aliases": [a for a in row["aliases"] if a != alias]}


_MODEL_ID = itemgetter("model_id")
_NUMBER_OR_NONE = (int, float, type(None))
#: Every field of a summary row (:meth:`ModelMetadata.summary`) and the types it may have.
_ROW_FIELDS: dict[str, tuple[type, ...]] = {
    "model_id": (str,), "model_name": (str,), "version": (int,), "algorithm": (str,),
    "accuracy": _NUMBER_OR_NONE, "precision": _NUMBER_OR_NONE, "recall": _NUMBER_OR_NONE,
    "f1_score": _NUMBER_OR_NONE, "training_date": (str,), "training_dataset": (str,), "status": (str,),
    "aliases": (list,), "tags": (dict,), "description": (str,), "metrics": (dict,), "n_features": (int,),
    "model_file": (str,), "model_format": (str,), "model_size": (int,),
}


def _row_order(row: dict[str, Any]) -> tuple[str, int]:
    return row["model_name"], row["version"]


def _all_of(types: type | tuple[type, ...], values: Any) -> bool:
    """Whether every value is exactly of ``types`` (bool is not an int here), checked column-wise in C."""
    return set(map(type, values)) <= (set(types) if isinstance(types, tuple) else {types})


def _valid_rows(rows: list[Any]) -> bool:
    """Whether ``rows`` are summary rows: dicts with every field of its type, text aliases, tags and metric names."""
    if not _all_of(dict, rows):
        return False
    try:
        for name, types in _ROW_FIELDS.items():
            if not _all_of(types, map(itemgetter(name), rows)):
                return False
    except KeyError:
        return False
    tags, metrics = list(map(itemgetter("tags"), rows)), list(map(itemgetter("metrics"), rows))
    return (
        _all_of(str, chain.from_iterable(map(itemgetter("aliases"), rows)))
        and _all_of(str, chain.from_iterable(tags))
        and _all_of(str, chain.from_iterable(map(dict.values, tags)))
        and _all_of(str, chain.from_iterable(metrics))
        and _all_of((int, float), chain.from_iterable(map(dict.values, metrics)))
        and _all_of(str, (r.get("metrics_caveat", "") for r in rows))
    )


class _Slot:
    def __init__(self, state: _State, version: int):
        self._state, self.version = state, version

    def claim(self, base_id: str, suffix: str) -> tuple[str, str]:
        model_id, n = base_id, 1
        while model_id in self._state.entries:
            n += 1
            model_id = f"{base_id}_{n}"
        return model_id, _file_stem(model_id) + suffix


class _Shared:
    """What every store of one bucket prefix (and client) in this process shares: the folded log and caches.

    So two registries opened on one URI in one process see each other's writes at once.
    """

    def __init__(self, client):
        self.client = client  # keeps id(client) in the key unique while this lives
        self.mutex = threading.RLock()
        self.state: _State | None = None
        self.sorted: list[dict[str, Any]] | None = None
        self.entry_cache: dict[tuple[int, str], Any] = {}
        self.snapshot_seq, self.snapshot_etag = 0, None
        self.damage: dict[str, None] = {}
        self.listed_at = float("-inf")  # time.monotonic() of the last listing of the log


_shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


# ======================================================================== the store
class S3Store:
    """A registry under ``s3://bucket/prefix`` (see the module docstring)."""

    def __init__(
        self, uri: str, *, client=None, orphan_grace_s: float = ORPHAN_GRACE_S, max_staleness_s: float = MAX_STALENESS_S
    ):
        self.bucket, self.prefix = parse_uri(uri)
        self.client = client if client is not None else default_client()
        self.orphan_grace_s = orphan_grace_s
        self.max_staleness_s = max_staleness_s
        key = (id(self.client), self.bucket, self.prefix)
        with _shared_lock:
            self._s = _shared.get(key)
            if self._s is None:
                self._s = _shared[key] = _Shared(self.client)
        self._read_only_reason: str | None = None
        self._cache = self._cache_folder()  # nothing is read until the registry is first used

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r})"

    # -------------------------------------------------------------------- names
    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def location(self) -> str:
        return self.uri

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _log_key(self, seq: int) -> str:
        return self._key("log", f"{seq:0{_SEQ_WIDTH}d}.json")

    def _object_key(self, sha256: str) -> str:
        return self._key("objects", sha256)

    def _cache_folder(self) -> Path:
        from core.common.userdirs import cache_dir

        where = f"{self.endpoint}|{self.bucket}|{self.prefix}"
        return cache_dir() / "s3" / hashlib.sha256(where.encode()).hexdigest()[:24]

    # -------------------------------------------------------------------- requests
    def _call(self, doing: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One request; a failure other than the caller's own (412, 404...) becomes one sentence."""
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _precondition_failed(exc) or _missing(exc) or _not_modified(exc) or _conflict(exc) or _denied(exc):
                raise
            raise self._error(exc, doing) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._error(exc, doing) from exc

    def _error(self, exc: Exception, doing: str) -> S3StoreError:
        if isinstance(exc, NoCredentialsError):
            return S3StoreError(
                f"No credentials for {self.uri} were found while {doing}; set them the way boto3 reads them "
                "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials)."
            )
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code == "NoSuchBucket":
                return S3StoreError(f"The bucket {self.bucket} does not exist at {self.endpoint}; create it first.")
            if _denied(exc):
                return S3StoreError(
                    f"The object store at {self.endpoint} refused access to {self.uri} while {doing}; "
                    "check the credentials boto3 uses."
                )
            message = exc.response.get("Error", {}).get("Message") or code
            return S3StoreError(
                f"The object store at {self.endpoint} answered {code or _status(exc)} ({message.rstrip('.')}) "
                f"while {doing}; nothing half-written is visible, so try again."
            )
        reason = str(exc).rstrip(".") if isinstance(exc, BotoConnectionError | BotoCoreError) else repr(exc)
        return S3StoreError(
            f"The object store at {self.endpoint} could not be reached while {doing} ({reason}); "
            "nothing half-written is visible, so try again once it is back."
        )

    def _get(self, key: str, doing: str, **kwargs: Any) -> tuple[bytes, str, dict[str, Any]]:
        response = self._call(doing, self.client.get_object, Key=key, **kwargs)
        try:
            body = response["Body"].read()
        except (BotoCoreError, OSError) as exc:
            raise self._error(exc, doing) from exc
        return body, response.get("ETag", ""), response

    def _list(self, prefix: str, doing: str, *, start_after: str | None = None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        while True:
            response = self._call(doing, self.client.list_objects_v2, **kwargs)
            for item in response.get("Contents", []):
                item["_Date"] = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
                yield item
            if not response.get("IsTruncated"):
                return
            kwargs = {"Prefix": prefix, "ContinuationToken": response["NextContinuationToken"]}

    # -------------------------------------------------------------------- the log
    def _log_items(self, after: int) -> list[tuple[int, str, str]]:
        """(seq, key, ETag) of every log entry after ``after``, in order."""
        items = []
        for item in self._list(self._key("log") + "/", "reading the registry's log",
                               start_after=self._log_key(after) if after else None):
            name = item["Key"].rsplit("/", 1)[-1]
            stem = name[:-5] if name.endswith(".json") else ""
            if len(stem) == _SEQ_WIDTH and stem.isdigit() and int(stem) > after:
                items.append((int(stem), item["Key"], item.get("ETag", "")))
        items.sort()
        return items

    def _read_entry(self, seq: int, key: str, etag: str) -> Any:
        """A log entry, parsed: from memory or the cache folder (both by ETag), else from the store."""
        if (seq, etag) in self._s.entry_cache:
            return self._s.entry_cache[(seq, etag)]
        cached = self._cache / "log" / f"{seq}-{etag.strip(chr(34))}.json" if etag else None
        data = None
        if cached is not None:
            with contextlib.suppress(OSError):
                data = cached.read_bytes()
        if data is None:
            try:
                data, etag, _ = self._get(key, "reading the registry's log")
            except ClientError as exc:
                if _missing(exc):
                    raise StoreMissing(key) from exc
                raise self._error(exc, "reading the registry's log") from exc
            cached = self._cache / "log" / f"{seq}-{etag.strip(chr(34))}.json"
            with contextlib.suppress(OSError):
                cached.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(cached, data, sync_dir=False)
        try:
            entry = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            entry = f"not JSON ({exc})"
        if len(self._s.entry_cache) > 512:
            self._s.entry_cache.clear()
        self._s.entry_cache[(seq, etag)] = entry
        return entry

    def _fold_tail(self, state: _State) -> None:
        for seq, key, etag in self._log_items(state.seq):
            state.apply(seq, key, self._read_entry(seq, key, etag), etag)

    def _load_snapshot(self) -> _State:
        """The snapshot folded: from the cache folder's index when the snapshot's ETag still matches (304), else read.

        A cached index that cannot be used for any reason (missing, damaged, another registry's,
        hand-edited) is ignored and the snapshot read afresh, which rewrites it.
        """
        cached = self._cached_index()
        kwargs = {"IfNoneMatch": cached[1]} if cached is not None else {}
        try:
            data, etag, _ = self._get(self._key("snapshot.json"), "opening the registry", **kwargs)
        except ClientError as exc:
            if _not_modified(exc) and cached is not None:
                state, etag = cached
                self._s.snapshot_seq, self._s.snapshot_etag = state.seq, etag
                return state
            if _missing(exc):
                self._s.snapshot_seq, self._s.snapshot_etag = 0, None
                return _State()
            raise self._error(exc, "opening the registry") from exc
        try:
            with gc_paused():
                state = _State.from_bytes(data)
        except ValueError as exc:
            self._s.damage[f"the snapshot {self._key('snapshot.json')} cannot be read ({exc})"] = None
            self._s.snapshot_seq, self._s.snapshot_etag = 0, etag
            return _State()
        self._s.snapshot_seq, self._s.snapshot_etag = state.seq, etag
        self._store_index(state, etag)
        return state

    @property
    def _where(self) -> str:
        return f"{self.endpoint}|{self.bucket}|{self.prefix}"

    def _cached_index(self) -> tuple[_State, str] | None:
        """The folded snapshot this machine cached and its ETag, or None (a damaged one is removed)."""
        path = self._cache / "index.json"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            with gc_paused():
                return _State.from_index(data, self._where)
        except ValueError:
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def _store_index(self, state: _State, etag: str) -> None:
        """Keep ``state`` (the snapshot of ``etag``, folded) in the cache folder, whole or not at all."""
        data = state.to_index(self._where, etag) if etag else None
        with contextlib.suppress(OSError):
            self._cache.mkdir(parents=True, exist_ok=True)
            for stale in ("snapshot.json", "snapshot.etag"):  # the raw snapshot earlier releases kept
                with contextlib.suppress(FileNotFoundError):
                    (self._cache / stale).unlink()
            if data is None:
                with contextlib.suppress(FileNotFoundError):
                    (self._cache / "index.json").unlink()
            else:
                atomic_write_bytes(self._cache / "index.json", data, sync_dir=False)

    def _refresh(self, *, force: bool = True) -> _State:
        with self._s.mutex:
            if (
                not force
                and self._s.state is not None
                and time.monotonic() - self._s.listed_at < self.max_staleness_s
            ):
                return self._s.state
            state = self._load_snapshot() if self._s.state is None else self._s.state
            before = state.seq
            listed_at = time.monotonic()
            self._fold_tail(state)
            self._s.listed_at = listed_at
            if self._s.state is None or state.seq != before:
                self._s.sorted = None
            self._s.state = state
            return state

    def _full_fold(self) -> tuple[_State, dict[str, ModelMetadata]]:
        """The whole log folded from its first entry (verify, rebuild), with each version's last metadata."""
        state, metas = _State(), {}
        for seq, key, etag in self._log_items(0):
            meta = state.apply(seq, key, self._read_entry(seq, key, etag), etag)
            if meta is not None:
                metas[meta.model_id] = meta
        for model_id, meta in metas.items():
            meta.aliases = list(state.entries[model_id]["aliases"])
        return state, metas

    # -------------------------------------------------------------------- reading
    def revision(self) -> str:
        """The last sequence number in the log (one listing request when nothing changed)."""
        return f"s3:{self._refresh().seq}"

    def entries(self) -> dict[str, dict[str, Any]]:
        return self._refresh(force=False).entries

    def rows(self) -> list[dict[str, Any]]:
        with self._s.mutex:
            entries = self.entries()
            if self._s.sorted is None:
                self._s.sorted = sorted(entries.values(), key=lambda r: (r["model_name"], r["version"]))
            return self._s.sorted

    def cached_rows(self) -> list[dict[str, Any]]:
        """:meth:`rows` as last read, without asking the store (after a first read)."""
        with self._s.mutex:
            if self._s.sorted is None:
                return self.rows()
            return self._s.sorted

    def read_metadata(self, model_id: str) -> ModelMetadata:
        with self._s.mutex:
            state = self._refresh(force=False)
        return self._metadata_in(state, model_id)

    def _metadata_in(self, state: _State, model_id: str) -> ModelMetadata:
        """One version's metadata as of ``state`` (its last ``put`` entry, with the aliases it holds now)."""
        if model_id not in state.entries:
            raise StoreMissing(model_id)
        seq, row = state.meta_seq[model_id], state.entries[model_id]
        entry = self._read_entry(seq, self._log_key(seq), state.meta_etag.get(model_id, ""))
        meta = _State().apply(seq, self._log_key(seq), _copy.deepcopy(entry))  # callers change what they get
        if meta is None:
            raise IntegrityError(f"The log entry {self._log_key(seq)} of {model_id} cannot be read; run `exoreg verify`.")
        meta.aliases = list(row["aliases"])
        return meta

    def read_model(self, meta: ModelMetadata) -> bytes:
        return self._read_object(meta.model_sha256, meta.model_file)

    def read_sidecar(self, meta: ModelMetadata, kind: str) -> bytes:
        record = sidecar_record(meta, kind)
        if record is None:
            raise StoreMissing(f"{meta.model_id}:{kind}")
        return self._read_object(record["sha256"], record["file"], max_bytes=MAX_SIDECAR_BYTES)

    def _read_object(self, sha256: str, name: str, *, max_bytes: int | None = None) -> bytes:
        """An object's bytes: from the cache folder when they still hash to ``sha256``, else from the store."""
        if not sha256:
            raise StoreMissing(name)
        cached = self._cache.parent / "objects" / sha256
        with contextlib.suppress(OSError):
            data = cached.read_bytes()
            if sha256_bytes(data) == sha256:
                return data
        try:
            response = self._call(f"reading {name}", self.client.head_object, Key=self._object_key(sha256))
            if max_bytes is not None and int(response.get("ContentLength") or 0) > max_bytes:
                raise IntegrityError(f"The stored {name} is larger than {max_bytes:,} bytes, so it was not read.")
            data, _, _ = self._get(self._object_key(sha256), f"reading {name}")
        except ClientError as exc:
            if _missing(exc):
                raise StoreMissing(name) from exc
            raise self._error(exc, f"reading {name}") from exc
        if sha256_bytes(data) == sha256:
            with contextlib.suppress(OSError):
                cached.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(cached, data, sync_dir=False)
        return data  # unchecked, as the protocol says: the registry checks it before deserialising

    # -------------------------------------------------------------------- writing
    def _writable(self) -> None:
        """Refuse a write to a store that fails the probe, or whose credentials may only read (one sentence each)."""
        if self._read_only_reason is None:
            verdict = cached_verdict(self.endpoint)
            if verdict is None:
                try:
                    verdict = probe_conditional_writes(self.client, self.bucket, self.prefix)
                except ClientError as exc:
                    raise self._error(exc, "checking that the store enforces conditional writes") from exc
                except (BotoCoreError, OSError) as exc:
                    raise self._error(exc, "checking that the store enforces conditional writes") from exc
                if verdict != READ_ONLY:
                    remember_verdict(self.endpoint, verdict)
            if verdict == NO_CONDITIONAL_WRITES:
                self._read_only_reason = (
                    f"The object store at {self.endpoint} does not enforce conditional writes, so two writers "
                    f"could overwrite each other; {self.uri} was opened read-only (reading still works)."
                )
            elif verdict == READ_ONLY:
                self._read_only_reason = self._read_only_sentence()
            else:
                self._read_only_reason = ""
        if self._read_only_reason:
            raise S3StoreError(self._read_only_reason)

    def _read_only_sentence(self) -> str:
        return (
            f"The credentials boto3 uses may only read {self.uri}, so it was opened read-only; "
            "ask for write access to change it (reading still works)."
        )

    def _put_object(self, data: bytes) -> str:
        """Upload ``data`` under its SHA-256 (once: an existing object of that name is kept); returns the digest."""
        digest = sha256_bytes(data)
        try:
            self._call("uploading a model file", self.client.put_object, Key=self._object_key(digest), Body=data,
                       IfNoneMatch="*")
        except ClientError as exc:
            if _precondition_failed(exc) or _conflict(exc):
                return digest  # already there (content-addressed), or being created with these same bytes
            if _denied(exc):
                self._read_only_reason = self._read_only_sentence()
                raise S3StoreError(self._read_only_reason) from exc
            raise self._error(exc, "uploading a model file") from exc
        return digest

    def _append(self, build: Callable[[_State], dict[str, Any] | None]) -> tuple[_State, dict[str, Any] | None]:
        """Commit the entry ``build(state)`` derives from the freshest state, as the next sequence number.

        ``build`` may run several times (a 412 means another writer took that number: the new
        entries are read and ``build`` derives the entry again); it returns None to write nothing.
        """
        self._writable()
        token = uuid.uuid4().hex
        for attempt in range(_MAX_ATTEMPTS):
            with self._s.mutex:
                state = self._refresh().copy()
            entry = build(state)
            if entry is None:
                return state, None
            seq = state.seq + 1
            entry = {"schema": SCHEMA, "seq": seq, "token": token, **entry}
            body = orjson.dumps(entry)
            key = self._log_key(seq)
            try:
                fault_point("before_commit")
                response = self._call("committing the change", self.client.put_object, Key=key, Body=body,
                                      IfNoneMatch="*", ContentType="application/json")
            except ClientError as exc:
                if _denied(exc):
                    self._read_only_reason = self._read_only_sentence()
                    raise S3StoreError(self._read_only_reason) from exc
                if _conflict(exc):
                    _backoff(attempt)
                    continue
                if not _precondition_failed(exc):
                    raise self._error(exc, "committing the change") from exc
                if self._own_entry(seq, key, token):
                    return self._committed(seq, key, entry, ""), entry
                _backoff(attempt)  # many writers: spread their next attempts out
                continue
            fault_point("committed")
            return self._committed(seq, key, entry, response.get("ETag", "")), entry
        raise S3StoreError(
            f"{self.uri} kept changing under this write ({_MAX_ATTEMPTS} attempts); nothing was changed, so try again."
        )

    def _own_entry(self, seq: int, key: str, token: str) -> bool:
        """Whether the entry at ``seq`` is this writer's (a create that landed although its answer was lost)."""
        try:
            data, _, _ = self._get(key, "committing the change")
        except ClientError:
            return False
        try:
            return orjson.loads(data).get("token") == token
        except (orjson.JSONDecodeError, AttributeError):
            return False

    def _committed(self, seq: int, key: str, entry: dict[str, Any], etag: str) -> _State:
        with self._s.mutex:
            state = self._s.state if self._s.state is not None and self._s.state.seq == seq - 1 else self._refresh()
            if state.seq < seq:  # our own entry follows what this store has read: no need to list it
                parsed = orjson.loads(orjson.dumps(entry))
                self._s.entry_cache[(seq, etag)] = parsed
                state.apply(seq, key, parsed, etag)
            self._s.sorted = None
        if seq - self._s.snapshot_seq >= COMPACT_EVERY:
            with contextlib.suppress(S3StoreError, ClientError):
                self._compact(state)
        return state

    def _compact(self, state: _State) -> bool:
        """Write ``state`` as the new snapshot, only over the snapshot this store last saw (If-Match); False on a race."""
        with self._s.mutex:
            data = state.to_bytes()
            written = state.copy()  # rows are replaced, never changed in place: this is the state written
        condition = {"IfMatch": self._s.snapshot_etag} if self._s.snapshot_etag else {"IfNoneMatch": "*"}
        try:
            response = self._call("writing the registry's snapshot", self.client.put_object,
                                  Key=self._key("snapshot.json"), Body=data, ContentType="application/json",
                                  Metadata={"seq": str(state.seq)}, **condition)
        except ClientError as exc:
            if not (_precondition_failed(exc) or _conflict(exc)):
                raise
            self._learn_snapshot()
            return False
        self._s.snapshot_seq, self._s.snapshot_etag = state.seq, response["ETag"]
        self._store_index(written, response.get("ETag", ""))
        fault_point("snapshot_written")
        return True

    def _learn_snapshot(self) -> None:
        """Read the current snapshot's ETag and sequence number (one HEAD), after losing a compaction race."""
        try:
            head = self._call("reading the registry's snapshot", self.client.head_object, Key=self._key("snapshot.json"))
        except ClientError as exc:
            if _missing(exc):
                self._s.snapshot_seq, self._s.snapshot_etag = 0, None
                return
            raise
        self._s.snapshot_etag = head.get("ETag")
        try:
            self._s.snapshot_seq = int(head.get("Metadata", {}).get("seq", 0))
        except ValueError:
            self._s.snapshot_seq = 0

    def add_version(
        self,
        model_name: str,
        payload: bytes,
        finish: Callable[[_Slot], ModelMetadata],
        sidecars: Mapping[str, bytes] | None = None,
    ) -> ModelMetadata:
        self._writable()
        digest = self._put_object(payload)
        fault_point("model_written")
        for data in (sidecars or {}).values():
            self._put_object(data)
        if sidecars:
            fault_point("sidecars_written")
        result: dict[str, ModelMetadata] = {}

        def build(state: _State) -> dict[str, Any]:
            versions = [e["version"] for e in state.entries.values() if e["model_name"] == model_name]
            meta = finish(_Slot(state, max(versions, default=0) + 1))
            meta.model_sha256, meta.model_size = digest, len(payload)
            written = {kind: (_sidecar_name(meta.model_file, kind), data) for kind, data in (sidecars or {}).items()}
            record_sidecars(meta, written)
            meta.validate()
            meta.to_json()  # refuses oversized metadata before anything is committed
            result["meta"] = meta
            return {"op": "put", "metadata": meta.to_dict()}

        self._append(build)
        return result["meta"]

    def update_version(self, model_id: str, change: Callable[[ModelMetadata], None]) -> ModelMetadata:
        result: dict[str, ModelMetadata] = {}

        def build(state: _State) -> dict[str, Any]:
            if model_id not in state.entries:
                raise StoreMissing(model_id)
            meta = self._metadata_in(state, model_id)
            change(meta)
            meta.validate()
            meta.to_json()
            result["meta"] = meta
            return {"op": "put", "metadata": meta.to_dict()}

        self._append(build)
        return result["meta"]

    def update_alias(
        self, model_name: str, alias: str, choose: Callable[[list[dict[str, Any]]], str | None]
    ) -> ModelMetadata | None:
        chosen: dict[str, str | None] = {}

        def build(state: _State) -> dict[str, Any] | None:
            rows = [e for e in state.entries.values() if e["model_name"] == model_name]
            target = chosen["id"] = choose(rows)
            holders = [r["model_id"] for r in rows if alias in r["aliases"]]
            if holders == ([target] if target is not None else []):
                return None  # already so: nothing to write
            return {"op": "alias", "model_name": model_name, "alias": alias, "model_id": target}

        self._append(build)
        return None if chosen["id"] is None else self.read_metadata(chosen["id"])

    # -------------------------------------------------------------------- integrity
    def scan(self) -> Scan:
        state, metas = self._full_fold()
        result = Scan(found=metas)
        for key, why in sorted(state.bad.items()):
            result.bad.append(Problem("corrupt_metadata", f"s3://{self.bucket}/{key}", why))
        return result

    def check_file(self, meta: ModelMetadata) -> Problem | None:
        where = f"s3://{self.bucket}/{self._object_key(meta.model_sha256)}"
        try:
            data, _, _ = self._get(self._object_key(meta.model_sha256), f"checking {meta.model_file}")
        except ClientError as exc:
            if not _missing(exc):
                raise self._error(exc, f"checking {meta.model_file}") from exc
            return Problem("missing_model_file", where, f"{meta.model_id}: its model file {meta.model_file} is missing.")
        if sha256_bytes(data) != meta.model_sha256:
            return Problem("hash_mismatch", where, f"{meta.model_id}: {meta.model_file} does not match its recorded SHA-256.")
        return None

    def _orphans(self, scan: Scan) -> list[Problem]:
        """Objects no version names, older than the grace age by the store's clock (none when a log entry is unreadable)."""
        if scan.bad:
            return []  # an unreadable entry may name any object: removing one could lose a version
        named = {m.model_sha256 for m in scan.found.values()}
        for meta in scan.found.values():
            for kind in SIDECARS:
                with contextlib.suppress(IntegrityError):
                    record = sidecar_record(meta, kind)
                    if record is not None:
                        named.add(record["sha256"])
        from email.utils import parsedate_to_datetime

        problems = []
        for item in self._list(self._key("objects") + "/", "looking for leftovers"):
            digest = item["Key"].rsplit("/", 1)[-1]
            if digest in named:
                continue
            try:
                age = (parsedate_to_datetime(item["_Date"]) - item["LastModified"]).total_seconds()
            except (TypeError, ValueError):
                continue
            if age >= self.orphan_grace_s:
                problems.append(Problem(
                    "orphan_model_file", f"s3://{self.bucket}/{item['Key']}",
                    f"{digest[:12]}… belongs to no version (its registration never completed).", leftover=True,
                ))
        return problems

    def leftovers(self, scan: Scan) -> list[Problem]:
        problems = self._orphans(scan)
        indexed = self.entries()
        folded = {m: meta.summary() for m, meta in scan.found.items()}
        stale = sorted(m for m in set(indexed) | set(folded) if indexed.get(m) != folded.get(m))
        if stale:
            problems.append(Problem(
                "stale_index", f"s3://{self.bucket}/{self._key('snapshot.json')}",
                f"The index disagrees with the log for {len(stale)} version(s) ({stale[0]}); "
                "run `exoreg verify --repair` to rebuild it from the log.",
            ))
        for reason in self._s.damage:
            problems.append(Problem(
                "corrupt_index", f"s3://{self.bucket}/{self._key('snapshot.json')}",
                f"The index could not be read ({reason}); it was rebuilt from the log.", leftover=True,
            ))
        return problems

    def remove_leftovers(self, problems: Collection[Problem]) -> list[str]:
        """Remove the orphans that still are orphans and old enough (looked up again now), rebuild a stale index."""
        self._writable()
        wanted = {(p.kind, p.path) for p in problems}
        repaired = []
        scan = self.scan()
        for p in self._orphans(scan):
            if (p.kind, p.path) in wanted:
                key = p.path.split("/", 3)[3]
                self._call("removing a leftover", self.client.delete_object, Key=key)
                repaired.append(p.path)
        snapshot = f"s3://{self.bucket}/{self._key('snapshot.json')}"
        if ("stale_index", snapshot) in wanted or ("corrupt_index", snapshot) in wanted:
            self.rebuild_index()
            repaired.append(snapshot)
        return repaired

    def rebuild_index(self) -> int:
        """Fold the whole log into a new snapshot (replacing the current one with If-Match); returns the version count."""
        self._writable()
        for _attempt in range(_MAX_ATTEMPTS):
            state, _ = self._full_fold()
            self._learn_snapshot()
            if self._compact(state):
                break
        with self._s.mutex:
            self._s.state, self._s.sorted = state, None
            self._s.damage.clear()
        return len(state.entries)

    def total_size(self) -> int:
        return sum(int(item.get("Size") or 0) for item in self._list(self._key() + "/" if self.prefix else "",
                                                                      "measuring the registry"))

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[StoreSnapshot]:
        """The registry as of the last log entry read: entries never change, objects are content-addressed."""
        state = self._refresh().copy()
        files: dict[str, Callable[[], bytes]] = {}
        for model_id, row in state.entries.items():
            stem = Path(row["model_file"]).stem
            meta = self.read_metadata(model_id)
            files["models/" + row["model_file"]] = lambda m=meta: self.read_model(m)
            files["metadata/" + stem + ".json"] = lambda m=meta: m.to_json().encode("utf-8")
            for kind in SIDECARS:
                with contextlib.suppress(IntegrityError):
                    if sidecar_record(meta, kind) is not None:
                        name = _sidecar_name(row["model_file"], kind)
                        files["sidecars/" + name] = lambda m=meta, k=kind: self.read_sidecar(m, k)
        yield StoreSnapshot(
            versions=len(state.entries),
            names=list(files),
            read=lambda name: StoredFile(name, files[name]()),
        )
