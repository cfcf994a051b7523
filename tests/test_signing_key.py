"""The per-user signing key: created atomically, never used when it is empty or damaged."""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import pickle
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import ModelPersistence, ModelRegistry
from core.errors import RegistryError, SigningKeyError, UntrustedModelError
from core.registry import safety
from core.registry.persistence import sidecar_path
from tests._factories import register

ROOT = Path(__file__).resolve().parents[1]


class _WritesMarker:
    """Unpickling this creates a file: proof that code from the pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("EXOREG_CONFIG_DIR", str(folder))
    return folder


def _empty_key_signature(payload: bytes) -> str:
    return hmac.new(b"", hashlib.sha256(payload).hexdigest().encode("ascii"), "sha256").hexdigest()


# -- creation ------------------------------------------------------------------------------------


def test_a_new_key_is_32_random_bytes_private_to_the_user(config):
    key = safety.signing_key()
    path = config / "signing.key"
    assert len(key) == 32
    assert path.read_text() == key.hex()
    assert safety.signing_key() == key
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in config.iterdir()] == ["signing.key"]  # no temporary file left


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_full_disk_while_creating_the_key_leaves_no_key_file(config, monkeypatch, failing):
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(safety.os, failing, full)
    with pytest.raises(SigningKeyError, match="signing.key could not be created") as caught:
        safety.signing_key()
    assert isinstance(caught.value, RegistryError)
    assert "\n" not in str(caught.value)
    assert list(config.iterdir()) == []  # neither a key file nor a temporary file
    monkeypatch.undo()
    monkeypatch.setenv("EXOREG_CONFIG_DIR", str(config))
    assert len(safety.signing_key()) == 32  # the next attempt, with space again, makes a real key


def test_signing_on_a_full_disk_fails_instead_of_using_an_empty_key(config, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(safety.os, "fsync", full)
    with pytest.raises(SigningKeyError):
        safety.sign_digest("0" * 64)
    assert not (config / "signing.key").exists()


_CHILD = r"""
import os, sys, time
real_fdopen, real_fsync, real_write = os.fdopen, os.fsync, os.write
def slow(real):
    def call(*a, **k):
        time.sleep(0.05)  # a slow disk: widens every window between creating and filling a file
        return real(*a, **k)
    return call
os.fdopen, os.fsync, os.write = slow(real_fdopen), slow(real_fsync), slow(real_write)
from core.registry import safety
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.001)
sys.stdout.write(safety.signing_key().hex())
"""


def test_processes_starting_at_once_on_a_fresh_config_folder_share_one_key(tmp_path):
    config = tmp_path / "fresh-config"
    go = tmp_path / "go"
    env = {**os.environ, "EXOREG_CONFIG_DIR": str(config), "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(go)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(8)
    ]
    time.sleep(0.5)  # let every child reach the starting line
    go.touch()
    results = [child.communicate(timeout=60) for child in children]
    assert [child.returncode for child in children] == [0] * 8, [err.decode() for _, err in results]
    keys = {out.decode() for out, _ in results}
    assert len(keys) == 1, keys
    (key,) = keys
    assert len(bytes.fromhex(key)) == 32
    assert (config / "signing.key").read_text() == key
    assert [p.name for p in config.iterdir()] == ["signing.key"]


# -- damaged key files -----------------------------------------------------------------------------

_DAMAGED = {
    "empty": b"",
    "blank": b"\n",
    "short": b"ab" * 16,
    "long": b"ab" * 33,
    "not hex": b"zz" * 32,
    "binary": os.urandom(32).replace(b"\n", b"x"),
}


@pytest.mark.parametrize("content", list(_DAMAGED.values()), ids=list(_DAMAGED))
def test_a_damaged_key_file_is_an_error_never_a_key(config, content):
    config.mkdir()
    path = config / "signing.key"
    path.write_bytes(content)
    with pytest.raises(SigningKeyError) as caught:
        safety.signing_key()
    message = str(caught.value)
    assert str(path) in message and "delete it" in message and "\n" not in message
    with pytest.raises(SigningKeyError):
        safety.signature_valid("0" * 64, hmac.new(b"", b"0" * 64, "sha256").hexdigest())
    assert path.read_bytes() == content  # left for the person to restore or delete


def test_an_unreadable_key_file_is_an_error_never_a_key(config):
    (config / "signing.key").mkdir(parents=True)  # reading it fails (even as root)
    with pytest.raises(SigningKeyError, match="cannot be read"):
        safety.signing_key()
    with pytest.raises(SigningKeyError):
        safety.signature_valid("0" * 64, "f" * 64)


def test_a_key_file_with_a_trailing_newline_still_works(config):
    key = os.urandom(32)
    config.mkdir()
    (config / "signing.key").write_text(key.hex() + "\n")
    assert safety.signing_key() == key


@pytest.mark.parametrize("content", [b"", b"ab" * 16, b"zz" * 32], ids=["empty", "short", "not hex"])
def test_a_pickle_signed_with_an_empty_key_does_not_load_through_persistence(config, tmp_path, content):
    config.mkdir()
    (config / "signing.key").write_bytes(content)
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_WritesMarker(marker))
    model = tmp_path / "evil.pkl"
    model.write_bytes(payload)
    sidecar_path(model).write_text(
        json.dumps(
            {
                "sha256": hashlib.sha256(payload).hexdigest(),
                "format": "pickle",
                "signature": _empty_key_signature(payload),
            }
        )
    )
    with pytest.raises((SigningKeyError, UntrustedModelError)):
        ModelPersistence.load_model(model)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"ab" * 16, b"zz" * 32], ids=["empty", "short", "not hex"])
def test_a_pickle_signed_with_an_empty_key_does_not_load_through_the_registry(
    config, tmp_path, registry_root, content
):
    registry = ModelRegistry(registry_root)
    draft = registry.get_metadata(register(registry))
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_WritesMarker(marker))
    draft.model_format = "pickle"
    draft.file_signature = _empty_key_signature(payload)
    model_id = registry.register_bytes(draft, payload, suffix=".pkl")
    config.mkdir()
    (config / "signing.key").write_bytes(content)
    with pytest.raises((SigningKeyError, UntrustedModelError)):
        registry.load_model(model_id)
    assert not marker.exists()
