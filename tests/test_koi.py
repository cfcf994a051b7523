"""Reading the archive's KOI table, and fetching it from a local stand-in for the archive."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from core.errors import DataError
from core.training.koi import (
    FEATURE_SETS,
    LEAKY_COLUMNS,
    cached_koi_path,
    fetch_koi,
    find_koi_table,
    load_koi,
    read_header,
)

pytestmark = pytest.mark.koi


def _body_lines(koi_csv: Path) -> list[str]:
    return [line for line in koi_csv.read_text().splitlines(keepends=True) if not line.startswith("#")]


def test_reads_the_archive_export_with_its_comment_header(koi_csv):
    table = load_koi(koi_csv, feature_set="vetting")
    assert table.data.shape == (9564, 49)
    assert table.class_counts() == {"FALSE POSITIVE": 4839, "CONFIRMED": 2746, "CANDIDATE": 1979}
    assert table.archive_stamp == "Thu Sep 18 07:50:32 2025"
    period = table.column_info("koi_period")
    assert (period.description, period.unit, period.label) == ("Orbital Period", "days", "Orbital Period [days]")
    assert table.column_info("koi_slogg").unit == "log10(cm/s**2)"
    assert len(table.columns) == 49
    assert len(table.sha256) == 64
    assert len(table.candidates()) == 1979


def test_quirks_are_warnings_not_failures(koi_csv):
    table = load_koi(koi_csv)
    text = "\n".join(table.warnings)
    assert "K00477.01 has koi_fpflag_nt = 465" in text
    assert "koi_teq_err1 is empty in every row" in text
    assert "363 row(s) lack most physical columns" in text
    # The quirky row is kept as it is.
    row = table.data.loc[table.data["kepoi_name"] == "K00477.01"]
    assert row["koi_fpflag_nt"].item() == 465


def test_file_without_the_comment_header(koi_csv, tmp_path):
    bare = tmp_path / "bare.csv"
    bare.write_text("".join(_body_lines(koi_csv)))
    table = load_koi(bare, feature_set="physical")
    assert table.data.shape == (9564, 49)
    assert table.columns == {} and table.archive_stamp is None
    # Descriptions still come from the built-in table (the TAP service sends no header).
    assert table.column_info("koi_depth").label == "Transit Depth [ppm]"
    assert read_header(bare) == (0, {}, None)


def test_columns_in_another_order(koi_csv, tmp_path):
    import pandas as pd

    original = load_koi(koi_csv).data
    shuffled = original[list(reversed(original.columns))]
    path = tmp_path / "reordered.csv"
    shuffled.to_csv(path, index=False)
    table = load_koi(path, feature_set="vetting")
    assert list(table.data.columns) == list(reversed(original.columns))
    pd.testing.assert_series_equal(table.data["koi_period"], original["koi_period"])


def test_missing_needed_column_is_named(koi_csv, tmp_path):
    lines = _body_lines(koi_csv)
    header = lines[0].rstrip("\n").split(",")
    drop = header.index("koi_depth")
    rows = [",".join(v for i, v in enumerate(line.rstrip("\n").split(",")) if i != drop) + "\n"
            for line in lines[:50]]
    path = tmp_path / "no_depth.csv"
    path.write_text("".join(rows))
    with pytest.raises(DataError, match="koi_depth"):
        load_koi(path, feature_set="physical")
    # Without a feature set to check, the table still loads.
    assert "koi_depth" not in load_koi(path).data.columns


def test_missing_label_column_and_not_a_csv(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="koi_disposition"):
        load_koi(path)
    with pytest.raises(DataError, match="does not exist"):
        load_koi(tmp_path / "absent.csv")
    binary = tmp_path / "blob.csv"
    binary.write_bytes(b"")
    with pytest.raises(DataError, match="could not be read"):
        load_koi(binary)


def test_text_in_a_numeric_column_becomes_missing_with_a_warning(koi_csv, tmp_path):
    lines = _body_lines(koi_csv)[:40]
    header = lines[0].rstrip("\n").split(",")
    col = header.index("koi_period")
    fields = lines[1].rstrip("\n").split(",")
    fields[col] = "unknown"
    lines[1] = ",".join(fields) + "\n"
    path = tmp_path / "text.csv"
    path.write_text("".join(lines))
    table = load_koi(path, feature_set="physical")
    assert table.data["koi_period"].isna().sum() == 1
    assert any("koi_period has 1 value(s) that are not numbers" in w for w in table.warnings)


def test_feature_sets_never_contain_leaky_or_identifier_columns():
    for columns in FEATURE_SETS.values():
        assert not set(columns) & set(LEAKY_COLUMNS)
        assert not {"kepid", "kepoi_name", "kepler_name"} & set(columns)
    assert set(FEATURE_SETS["vetting"]) - set(FEATURE_SETS["physical"]) == {
        "koi_fpflag_nt", "koi_fpflag_ss", "koi_fpflag_co", "koi_fpflag_ec"}


# --------------------------------------------------------------------------- download


class _Server:
    """A local HTTP server on 127.0.0.1 standing in for the archive's TAP service."""

    def __init__(self, body: bytes, *, content_length: bool = True):
        outer = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                if content_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/TAP/sync?query=select+*+from+cumulative&format=csv"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EXOREG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("EXOREG_OFFLINE", raising=False)
    monkeypatch.delenv("EXOREG_KOI_CSV", raising=False)


def test_fetch_into_the_cache_with_progress(koi_csv, online, monkeypatch):
    body = koi_csv.read_bytes()
    calls = []
    with _Server(body) as server:
        monkeypatch.setenv("EXOREG_KOI_URL", server.url)
        path = fetch_koi(timeout=10, progress=lambda done, total: calls.append((done, total)))
    assert path == cached_koi_path() and path.read_bytes() == body
    assert calls[-1] == (len(body), len(body))
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:], strict=False))
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    # Now it is cached: found without another request.
    found = find_koi_table()
    assert (found.path, found.origin) == (path, "cache")


def test_find_downloads_when_nothing_is_local(koi_csv, online, monkeypatch, tmp_path):
    with _Server(koi_csv.read_bytes(), content_length=False) as server:
        monkeypatch.setenv("EXOREG_KOI_URL", server.url)
        found = find_koi_table(progress=lambda done, total: None)
        assert server.requests == 1
    assert found.origin == "download"
    assert load_koi(found.path).class_counts()["CANDIDATE"] == 1979


def test_a_download_that_is_not_a_koi_table_leaves_no_file(online, monkeypatch):
    with _Server(b"<html>Service unavailable</html>") as server:
        monkeypatch.setenv("EXOREG_KOI_URL", server.url)
        with pytest.raises(DataError, match="not a KOI table"):
            fetch_koi(timeout=10)
    assert not cached_koi_path().exists()
    assert not [p for p in cached_koi_path().parent.iterdir()]


def test_unreachable_server_says_how_to_pass_a_file(online, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("EXOREG_KOI_URL", f"http://127.0.0.1:{port}/koi.csv")
    with pytest.raises(DataError, match="--data PATH"):
        fetch_koi(timeout=5)


def test_offline_forbids_download_and_says_how_to_pass_a_file(monkeypatch):
    monkeypatch.setenv("EXOREG_OFFLINE", "1")
    monkeypatch.setenv("EXOREG_KOI_URL", "http://127.0.0.1:9/never-contacted")
    with pytest.raises(DataError, match="EXOREG_OFFLINE=1.*--data PATH"):
        fetch_koi()
    monkeypatch.delenv("EXOREG_KOI_CSV", raising=False)
    with pytest.raises(DataError, match="--data PATH"):
        find_koi_table(allow_download=False)


def test_find_prefers_argument_then_environment(koi_csv, monkeypatch, tmp_path):
    monkeypatch.setenv("EXOREG_KOI_CSV", str(koi_csv))
    assert find_koi_table().origin == "EXOREG_KOI_CSV"
    other = tmp_path / "mine.csv"
    other.write_text("koi_disposition\nCONFIRMED\n")
    assert find_koi_table(other).path == other
    with pytest.raises(DataError, match="does not exist"):
        find_koi_table(tmp_path / "absent.csv")
