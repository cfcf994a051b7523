"""Many writers on one bucket, on the real SeaweedFS server: versions without gaps or duplicates,
alias moves that readers only ever see whole, writers killed at any point, and a server that goes
away in the middle of a write."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from core import ModelRegistry
from core.errors import RegistryError
from tests._s3_workers import register_many, tiny_model

pytestmark = [pytest.mark.s3, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def _workers(job: str, uri: str, tmp_path: Path, count: int, n: int) -> list[tuple[subprocess.Popen, Path]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = []
    for i in range(n):
        out = tmp_path / f"{job}-{i}.json"
        process = subprocess.Popen(
            [sys.executable, "-m", "tests._s3_workers", job, uri, str(out), str(count)], cwd=ROOT, env=env,
            stderr=subprocess.PIPE,
        )
        started.append((process, out))
    return started


def _finished(started, timeout: float = 300) -> list:
    records = []
    for process, out in started:
        _, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err.decode(errors="replace")[-2000:]
        records.append(json.loads(out.read_text()))
    return records


def test_eight_processes_registering_one_name_get_versions_1_to_200(s3_uri, tmp_path):
    ids = [i for record in _finished(_workers("register", s3_uri, tmp_path, 25, 8)) for i in record]
    assert len(ids) == len(set(ids)) == 200
    registry = ModelRegistry(s3_uri)
    rows = registry.list_models("Shared")
    assert [r["version"] for r in rows] == list(range(1, 201))
    assert sorted(r["model_id"] for r in rows) == sorted(ids)
    assert registry.verify().problems == []


def test_alias_moves_by_four_processes_are_seen_whole_and_the_last_one_wins(s3_uri, tmp_path):
    registry = ModelRegistry(s3_uri)
    register_many(registry, "Shared", 5)
    registry.set_alias("Shared", "production", 1)
    readers = _workers("read", s3_uri, tmp_path, 0, 2)
    movers = _workers("alias", s3_uri, tmp_path, 50, 4)
    moves = _finished(movers)
    for _, out in readers:
        out.with_suffix(".stop").touch()
    seen = [v for record in _finished(readers) for v in record]
    assert len(seen) > 0 and sum(len(m) for m in moves) == 200
    assert set(seen) <= {1} | {v for m in moves for v in m}  # only versions the alias really pointed to

    store = ModelRegistry(s3_uri).store
    entries = [store._read_entry(seq, key, etag) for seq, key, etag in store._log_items(0)]
    last = [e for e in entries if e.get("op") == "alias"][-1]
    final = ModelRegistry(s3_uri).resolve("Shared@production")
    assert final.model_id == last["model_id"] and final.version in {v for m in moves for v in m}
    assert [r["version"] for r in ModelRegistry(s3_uri).list_models("Shared") if "production" in r["aliases"]] == [
        final.version
    ]


def _killed_child(uri: str, seed: int) -> int:
    """Fork a writer that SIGKILLs itself at a random step of a registration (or a random moment); its status."""
    from core.registry.store import _journal, s3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # forking with threads: the child uses none of them
        pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        return status
    try:  # the child: its own client and state, never the parent's connections
        s3._clients.clear()
        s3._shared.clear()
        rng = random.Random(seed)
        steps = ["model_written", "before_commit", "committed", "snapshot_written", None]
        step = steps[seed % len(steps)]
        if step is None:
            threading.Timer(rng.uniform(0.0, 0.4), os.kill, (os.getpid(), signal.SIGKILL)).start()
        else:
            def hook(name: str) -> None:
                if name == step:
                    os.kill(os.getpid(), signal.SIGKILL)

            _journal.FAULT_HOOK = hook
        model = tiny_model()
        register_many(ModelRegistry(uri), "Crashy", 50, model=model)
    finally:
        os._exit(3)


def test_writers_killed_at_any_point_leave_a_registry_that_verifies(s3_uri):
    from core.registry.store import s3

    model = tiny_model()
    register_many(ModelRegistry(s3_uri), "Crashy", 1, model=model)
    kills = 0
    for seed in range(24):
        status = _killed_child(s3_uri, seed)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            kills += 1
    assert kills >= 20
    s3._shared.clear()
    registry = ModelRegistry(s3_uri)
    report = registry.verify()
    assert report.ok and report.problems == [], report.problems
    versions = [r["version"] for r in registry.list_models("Crashy")]
    assert versions == list(range(1, len(versions) + 1))
    new_id = register_many(registry, "Crashy", 1, model=model)[0]
    assert registry.get_metadata(new_id).version == len(versions) + 1
    assert ModelRegistry(s3_uri).verify().problems == []


def test_a_server_stopped_mid_write_is_one_sentence_and_the_write_succeeds_after(s3_server, s3_uri, monkeypatch):
    from core.registry.store import _journal

    registry = ModelRegistry(s3_uri)
    model = tiny_model()
    register_many(registry, "Shared", 1, model=model)

    def stop_the_server(step: str) -> None:
        if step == "model_written":
            s3_server.stop()

    monkeypatch.setattr(_journal, "FAULT_HOOK", stop_the_server)
    started = time.monotonic()
    try:
        with pytest.raises(RegistryError) as info:
            register_many(registry, "Shared", 1, model=model)
    finally:
        monkeypatch.setattr(_journal, "FAULT_HOOK", None)
        s3_server.start()
    message = str(info.value)
    assert "could not be reached" in message and "try again" in message and message.count(". ") == 0
    assert time.monotonic() - started < 60
    reopened = ModelRegistry(s3_uri)
    assert [r["version"] for r in reopened.list_models("Shared")] == [1]  # nothing half-visible
    assert reopened.verify().problems == []
    new_id = register_many(registry, "Shared", 1, model=model)[0]
    assert registry.get_metadata(new_id).version == 2
