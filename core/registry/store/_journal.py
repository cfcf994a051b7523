"""The registry's index: a snapshot (``index.json``) plus an append-only journal.

``index.json`` is the guide's index, readable by people and tools: one summary row per
version. Rewriting a 10,000-row snapshot on every registration would cost ~90 ms, so
changes are appended to ``index.journal`` (one JSON line each, fsynced) and folded into
the snapshot every :data:`COMPACT_EVERY` lines.

Both files carry a *generation*. Compaction writes the snapshot with generation g+1
and then replaces the journal with an empty one of generation g+1; a reader that sees
a snapshot and a journal of different generations knows it raced a compaction and
reads again. Metadata files stay the source of truth: the journal records the
metadata folder's mtime after each change, so a reader can tell cheaply when someone
changed the folder behind the index's back.

Every mutation journals an ``intent`` naming the version before it writes that version's
metadata file, and a ``put`` after; a process killed in between leaves the intent pending,
and the next reader re-reads that version's metadata file instead of trusting the index.

Both files are written with the library that reads them (orjson), so whatever is written
can be read. A torn last line (no newline: a writer died mid-append) is ignored and
overwritten by the next append; a complete line that cannot be read is damage, and the
index is rebuilt from the metadata files rather than cut short there.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from core.common.files import atomic_write_bytes

INDEX_SCHEMA = 1
COMPACT_EVERY = 1000

# Fault injection for crash tests: when set, called with the name of each step of a write
# ("intent_journaled", "model_written", "metadata_written", "put_journaled",
# "snapshot_written") right after that step; a test raises or kills the process there.
FAULT_HOOK: Callable[[str], None] | None = None


def fault_point(step: str) -> None:
    if FAULT_HOOK is not None:
        FAULT_HOOK(step)


class IndexCorrupt(Exception):
    """The snapshot or journal cannot be used; the caller rebuilds from metadata files.

    ``damaged`` is False when nothing is wrong with the files themselves (a new registry has
    no index yet; a reader kept racing compactions).
    """

    def __init__(self, message: str, *, damaged: bool = True):
        super().__init__(message)
        self.damaged = damaged


@dataclass
class IndexState:
    generation: int = 0
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    metadata_mtime_ns: int = 0
    journal_offset: int = 0  # bytes of the journal applied (always at a line end)
    journal_lines: int = 0
    pending: dict[str, str] = field(default_factory=dict)  # model_id -> model file written, metadata not yet
    stamp: tuple = ()  # (snapshot stat, journal stat) this state was read from
    journal_ok: bool = True  # False when the journal belongs to an older generation
    behind: bool = False  # the journal holds lines this state has not applied: reload before reading

    def apply(self, record: dict[str, Any]) -> None:
        op = record.get("op")
        if op == "put":
            entry = record["entry"]
            self.entries[entry["model_id"]] = entry
            self.pending.pop(entry["model_id"], None)
        elif op == "drop":
            self.entries.pop(record["model_id"], None)
            self.pending.pop(record["model_id"], None)
        elif op == "intent":
            self.pending[record["model_id"]] = record["model_file"]
        elif op == "abandon":
            self.pending.pop(record["model_id"], None)
        if "metadata_mtime_ns" in record:
            self.metadata_mtime_ns = record["metadata_mtime_ns"]


def _valid_record(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    op = record.get("op")
    if op == "put":
        entry = record.get("entry")
        return isinstance(entry, dict) and isinstance(entry.get("model_id"), str)
    if op in ("drop", "intent", "abandon"):
        return isinstance(record.get("model_id"), str)
    return True


def encode_line(record: dict[str, Any]) -> bytes:
    """One journal line, in the encoding the reader parses."""
    return orjson.dumps(record) + b"\n"


@contextlib.contextmanager
def _gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _stat_key(path: Path) -> tuple:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return (0, 0, 0)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class IndexFiles:
    """Reads and writes ``index.json`` and ``index.journal`` inside a registry root."""

    def __init__(self, root: Path):
        self.snapshot_path = root / "index.json"
        self.journal_path = root / "index.journal"

    def stamp(self) -> tuple:
        return (_stat_key(self.snapshot_path), _stat_key(self.journal_path))

    # -- reading --------------------------------------------------------------------------
    def load(self) -> IndexState:
        """Read snapshot + journal consistently; :class:`IndexCorrupt` when unusable."""
        for _attempt in range(5):
            stamp = self.stamp()
            state = self._read_snapshot()
            journal_gen, records, offset, lines = self._read_journal(0)
            if journal_gen == state.generation:
                for record in records:
                    state.apply(record)
                state.journal_offset, state.journal_lines, state.stamp = offset, lines, stamp
                return state
            if journal_gen is None or journal_gen < state.generation:
                # Journal missing, or older than the snapshot (compaction half done): the
                # snapshot already holds everything the old journal had.
                state.journal_offset, state.journal_lines, state.stamp = 0, 0, stamp
                state.journal_ok = False
                return state
            # A newer journal than snapshot: we raced a compaction; read again.
        raise IndexCorrupt("the index kept changing while it was read", damaged=False)

    def read_tail(self, state: IndexState) -> bool:
        """Apply journal lines appended since ``state`` was read; False if a reload is needed."""
        if state.behind:
            return False
        stamp = self.stamp()
        if stamp == state.stamp:
            return True
        if not state.journal_ok:
            return False
        snap_old, journal_old = state.stamp
        snap_new, journal_new = stamp
        if snap_new != snap_old or journal_new[0] != journal_old[0] or journal_new[1] < state.journal_offset:
            return False
        gen, records, offset, lines = self._read_journal(state.journal_offset, expect_header=False)
        for record in records:
            state.apply(record)
        state.journal_offset = offset
        state.journal_lines += lines
        state.stamp = stamp
        return True

    def _read_snapshot(self) -> IndexState:
        try:
            with _gc_paused():  # 10,000 rows are ~200,000 new objects: collecting midway only costs time
                data = orjson.loads(self.snapshot_path.read_bytes())
        except FileNotFoundError as exc:
            raise IndexCorrupt("index.json is missing", damaged=False) from exc
        except orjson.JSONDecodeError as exc:
            raise IndexCorrupt(f"index.json is not valid JSON ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise IndexCorrupt("index.json has no 'models' table")
        models = data["models"]
        if not all(isinstance(v, dict) and v.get("model_id") == k for k, v in models.items()):
            raise IndexCorrupt("index.json has malformed rows")
        return IndexState(
            generation=int(data.get("generation", 0)),
            entries=models,
            metadata_mtime_ns=int(data.get("metadata_mtime_ns", 0)),
            pending=dict(data.get("pending", {})),
        )

    def _read_journal(self, start: int, *, expect_header: bool = True):
        """Return (generation, records, end offset at a complete line, line count)."""
        try:
            with open(self.journal_path, "rb") as fh:
                fh.seek(start)
                data = fh.read()
        except FileNotFoundError:
            return None, [], 0, 0
        records, generation, pos, lines = [], None, 0, 0
        while True:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break  # an incomplete last line: a writer died mid-append, ignore it
            try:
                record = orjson.loads(data[pos:nl])
            except orjson.JSONDecodeError as exc:
                # A complete line nobody could have written: damage, not a torn append. Stopping
                # here would drop the committed lines after it, so the caller rebuilds instead.
                raise IndexCorrupt(
                    f"index.journal has an unreadable line at byte {start + pos} ({exc})"
                ) from exc
            if expect_header and pos == 0 and start == 0:
                if not isinstance(record, dict) or "generation" not in record:
                    raise IndexCorrupt("index.journal has no header")
                generation = int(record["generation"])
            else:
                if not _valid_record(record):
                    raise IndexCorrupt(f"index.journal has a malformed record at byte {start + pos}")
                records.append(record)
                lines += 1
            pos = nl + 1
        return generation, records, start + pos, lines

    # -- writing (callers hold the registry lock) -------------------------------------------
    def append(self, state: IndexState, records: list[dict[str, Any]], *, sync: bool = True) -> None:
        if not state.journal_ok:
            self.reset_journal(state)
        payload = b"".join(encode_line(r) for r in records)  # before touching the file: it may raise
        with open(self.journal_path, "r+b") as fh:
            fh.seek(state.journal_offset)
            tail = fh.read()
            end = state.journal_offset
            if b"\n" in tail:
                # Lines this state never applied: keep them (they are committed changes) and
                # make the next read reload everything.
                end += tail.rindex(b"\n") + 1
                state.behind = True
            fh.truncate(end)  # drop a torn line left by a killed writer, nothing more
            fh.seek(end)
            fh.write(payload)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        for record in records:
            state.apply(record)
        state.journal_offset = end + len(payload)
        state.journal_lines += len(records)
        state.stamp = self.stamp()

    def write_snapshot(self, state: IndexState) -> None:
        """Fold everything into a new snapshot of the next generation and start a new journal."""
        state.generation += 1
        ordered = dict(sorted(state.entries.items(), key=lambda kv: (kv[1]["model_name"], kv[1]["version"])))
        header = {
            "schema_version": INDEX_SCHEMA,
            "generation": state.generation,
            "metadata_mtime_ns": state.metadata_mtime_ns,
            "pending": state.pending,
        }
        # One row per line: compact enough to parse fast, still easy for a person to read.
        rows = b",\n".join(b"    " + orjson.dumps(k) + b": " + orjson.dumps(v) for k, v in ordered.items())
        text = orjson.dumps(header, option=orjson.OPT_INDENT_2)[:-2] + b',\n  "models": {\n' + rows + b"\n  }\n}\n"
        atomic_write_bytes(self.snapshot_path, text)
        state.entries = ordered
        state.journal_ok = False  # the journal on disk is of the old generation until reset
        fault_point("snapshot_written")
        self.reset_journal(state)

    def reset_journal(self, state: IndexState) -> None:
        """Replace the journal with an empty one of the snapshot's generation."""
        header = encode_line({"generation": state.generation})
        atomic_write_bytes(self.journal_path, header)
        state.journal_offset, state.journal_lines, state.journal_ok = len(header), 0, True
        state.behind = False
        state.stamp = self.stamp()
