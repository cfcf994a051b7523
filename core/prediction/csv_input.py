"""Reading messy CSV files of KOI rows: format detection, streaming batches, numeric conversion.

The batch-prediction engine (:mod:`core.prediction.engine`) reads through this module. It
accepts what real exports look like: NASA ``#`` comment headers, UTF-8 with or without a
byte-order mark, Latin-1, comma / semicolon / tab / pipe delimiters, gzip compression
(recognised by content, not by extension), quoted fields. Parsing, numeric conversion and
CSV writing are done by pyarrow, which releases the GIL while it works.

Nothing here imports pandas or scikit-learn; pyarrow is imported when a function runs.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import functools
import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common.cells import FORMULA_RE, NUMBER_RE  # noqa: F401 - importable from here too
from core.common.cells import escape_array as escape_formulas  # noqa: F401 - the former name
from core.errors import DataError

HEAD_BYTES = 1 << 20  # what the format sniffer and the preflight sample read
DELIMITERS = (",", ";", "\t", "|")

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class CsvFormat:
    """How a CSV file is laid out, as detected from its first megabyte."""

    path: Path
    size_bytes: int
    compression: str | None  # None or "gzip"
    encoding: str  # "utf-8" or "latin-1"
    bom: bool
    delimiter: str
    comment_lines: int  # leading "#" (and blank) lines before the header
    header_offset: int  # byte offset of the header line in the (decompressed) stream
    columns: list[str]
    head: bytes = field(repr=False)  # decompressed bytes from the header on (at most ~1 MiB)
    head_is_whole_file: bool = False
    head_raw_bytes: int = 0  # bytes of the file on disk that the head came from

    @property
    def delimiter_name(self) -> str:
        return _DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))

    def head_data_rows(self) -> int:
        """Number of complete data lines in the head (one header line excluded)."""
        body = self.head if self.head_is_whole_file else self.head[: self.head.rfind(b"\n") + 1]
        lines = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
        return max(0, lines - 1)

    def estimated_rows(self) -> tuple[int, bool]:
        """(rows, exact): exact when the whole file fitted in the head."""
        rows = self.head_data_rows()
        if self.head_is_whole_file:
            return rows, True
        consumed = max(1, self.head_raw_bytes)
        return int(round(rows * self.size_bytes / consumed)), False


def sniff_csv(path: str | os.PathLike) -> CsvFormat:
    """Detect compression, encoding, delimiter, comment lines and the header of ``path``.

    Raises :class:`DataError` for an empty file, a file that is not a CSV table, a
    header-only file and duplicate column names.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; check the file name.")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a CSV file; choose a file.")
    size = path.stat().st_size
    with open(path, "rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        compression = None
        if magic.startswith(_GZIP_MAGIC):
            compression = "gzip"
            try:
                with gzip.GzipFile(fileobj=raw) as gz:
                    skipped, skipped_lines, skipped_bom, head = _read_head(gz, path)
                    whole = len(head) <= HEAD_BYTES and not gz.read(1)
            except (OSError, EOFError) as exc:
                raise DataError(
                    f"{path.name} looks gzip-compressed but cannot be decompressed ({exc})."
                ) from exc
            raw_consumed = raw.tell() or size
        else:
            skipped, skipped_lines, skipped_bom, head = _read_head(raw, path)
            whole = len(head) <= HEAD_BYTES
            raw_consumed = min(len(head), HEAD_BYTES)
            size -= skipped  # the estimate of rows is from the bytes after the comments
        head = head[:HEAD_BYTES]
    if magic.startswith(_ZIP_MAGIC):
        raise DataError(
            f"{path.name} is a ZIP archive (perhaps an Excel workbook), not a CSV file; save or export it as CSV."
        )
    if not head.strip():
        raise DataError(f"{path.name} is empty; a CSV file with a header line and data rows is needed.")
    sample = head[:65536]
    if b"\x00" in sample or _control_ratio(sample) > 0.01:
        raise DataError(
            f"{path.name} is not a CSV file (it contains binary data); choose a comma-separated text file."
        )

    bom = skipped_bom or head.startswith(b"\xef\xbb\xbf")
    offset = 3 if bom and not skipped else 0
    # Leading comment lines (NASA archive exports start with dozens of "# ..." lines) and blanks.
    comment_lines = skipped_lines
    while offset < len(head):
        end = head.find(b"\n", offset)
        line = head[offset : (len(head) if end < 0 else end)]
        if line.strip() and not line.lstrip().startswith(b"#"):
            break
        comment_lines += 1
        offset = len(head) if end < 0 else end + 1
    if offset >= len(head):
        raise DataError(
            f"{path.name} has no header line (only comments or blank lines); add the column names."
        )
    body = head[offset:]
    complete = body if whole else body[: body.rfind(b"\n") + 1 or len(body)]
    try:
        complete.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "latin-1"
    end = body.find(b"\n")
    header_line = (body if end < 0 else body[:end]).decode(encoding).rstrip("\r")
    delimiter = max(DELIMITERS, key=lambda d: _count_outside_quotes(header_line, d))
    columns = next(csv.reader([header_line], delimiter=delimiter))
    columns = [c.strip() for c in columns]
    seen: set[str] = set()
    dupes = sorted({c for c in columns if c in seen or seen.add(c)})
    if dupes:
        raise DataError(
            f"{path.name} has duplicate column names ({', '.join(dupes)}); rename them so each column is unique."
        )
    fmt = CsvFormat(
        path=path,
        size_bytes=size,
        compression=compression,
        encoding=encoding,
        bom=bom,
        delimiter=delimiter,
        comment_lines=comment_lines,
        header_offset=skipped + offset,
        columns=columns,
        head=body,
        head_is_whole_file=whole,
        head_raw_bytes=raw_consumed,
    )
    if fmt.head_data_rows() == 0:
        raise DataError(f"{path.name} has a header but no data rows; add at least one row.")
    return fmt


MAX_COMMENT_BYTES = 256 << 20  # comment lines before the header, at most


def _is_comment_or_blank(line: bytes) -> bool:
    text = line.strip()
    return not text or text.startswith(b"#")


def _read_head(fh, path: Path) -> tuple[int, int, bool, bytes]:
    """(bytes skipped, lines skipped, BOM among them, the next HEAD_BYTES + 1 bytes) of ``fh``.

    Nothing is skipped unless the first megabyte holds only comment or blank lines: then
    those are read past, however many, so that the head starts with the header.
    """
    skipped = lines = 0
    bom = False
    head = fh.read(HEAD_BYTES + 1)
    while len(head) > HEAD_BYTES:
        if not skipped and head.startswith(b"\xef\xbb\xbf"):
            bom, head, skipped = True, head[3:], 3
        cut = head.rfind(b"\n") + 1
        complete = head[:cut].split(b"\n")[:-1]
        partial = head[cut:]
        if not all(_is_comment_or_blank(line) for line in complete) or not _is_comment_or_blank(partial):
            break
        if cut == 0:  # one comment line longer than the head: read on to its end
            cut = len(head)
            lines -= 1
        lines += len(complete) + (0 if head[:cut].endswith(b"\n") else 1)
        skipped += cut
        if skipped > MAX_COMMENT_BYTES:
            raise DataError(
                f"{path.name} starts with over {MAX_COMMENT_BYTES >> 20} MiB of comment lines and no header; "
                "it is not a CSV table: remove the comments or add the column names."
            )
        head = head[cut:] + fh.read(HEAD_BYTES + 1 - (len(head) - cut))
    return skipped, lines, bom, head


def _control_ratio(data: bytes) -> float:
    if not data:
        return 0.0
    bad = sum(1 for b in data if b < 32 and b not in (9, 10, 13))
    return bad / len(data)


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count


def _arrow_options(fmt: CsvFormat, columns: list[str], *, block_size: int, on_invalid=None, encoding=None,
                   header: bool = True, numeric=()):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def skip_blank_or_comment(row) -> str:
        return "skip"  # in the sniffed head: a comment or blank line, or a malformed line

    # use_threads=False: each call parses on the calling thread, with the GIL released.
    # The header is parsed by the sniffer (names stripped of surrounding blanks), so Arrow skips
    # it when the text holds it (``header``).
    read = pacsv.ReadOptions(
        block_size=block_size,
        encoding=encoding or ("utf8" if fmt.encoding == "utf-8" else fmt.encoding),
        use_threads=False,
        column_names=fmt.columns,
        skip_rows=1 if header else 0,
    )
    parse = pacsv.ParseOptions(
        delimiter=fmt.delimiter,
        invalid_row_handler=on_invalid or skip_blank_or_comment,
        newlines_in_values=False,
    )
    convert = pacsv.ConvertOptions(
        include_columns=columns,
        column_types={c: pa.float64() if c in numeric else pa.string() for c in columns},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    return read, parse, convert


def read_head_table(fmt: CsvFormat, columns: list[str]):
    """Parse the sniffed head (complete lines only) into a pyarrow Table of string columns."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    body = fmt.head if fmt.head_is_whole_file else fmt.head[: fmt.head.rfind(b"\n") + 1]
    read, parse, convert = _arrow_options(fmt, columns, block_size=1 << 22)
    try:
        return pacsv.read_csv(
            pa.BufferReader(body), read_options=read, parse_options=parse, convert_options=convert
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataError(
            f"{fmt.path.name} cannot be read as a {fmt.delimiter_name}-separated table ({_short(exc)})."
        ) from exc


MAX_LINE_BYTES = 64 << 20  # a longer line is not a row of a table
MAX_CHUNK_BYTES = 64 << 20  # the text of one batch, at most (a batch of very wide rows is cut shorter)
READ_BLOCK_BYTES = 1 << 20  # bytes read (and parsed) at a time: small, so parsing holds little at once
CHUNK_RECORDS = 16_384  # records per batch when the caller does not say
_LOOK_AT_LINES_STARTING_WITH = b'\n\r\t #"'  # maybe blank or a comment: each line is looked at


@functools.cache
def _looked_at():
    """A 256-entry table: True for the bytes of :data:`_LOOK_AT_LINES_STARTING_WITH`."""
    import numpy as np

    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(_LOOK_AT_LINES_STARTING_WITH, dtype=np.uint8)] = True
    return table


def _plain_line_ends(chunk: bytes):
    """The offsets of the line ends in ``chunk`` (whole lines) when none of its lines can be blank,
    a comment or hold a quote, else None. Vectorised: Python's own searches for two-byte patterns
    are slow."""
    import numpy as np

    if b'"' in chunk:
        return None
    data = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if not len(ends):
        return ends
    looked_at = _looked_at()
    if looked_at[data[0]] or looked_at[data[ends[:-1] + 1]].any():
        return None
    return ends


def _latin1_for_invalid_bytes(error: UnicodeDecodeError):
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("exoreg-latin-1", _latin1_for_invalid_bytes)


class LineReader:
    """Splits a CSV stream into what Arrow parses: pieces of whole lines, one record per line,
    as UTF-8, cut where each batch of a given number of records ends.

    - Multi-line cells are turned off. A line with an unmatched quote (``"``) is handed over as
      a line Arrow refuses, so it is rejected with its line number instead of swallowing the
      lines after it (KOI exports never have newlines inside values).
    - Blank lines and ``#`` comment lines are dropped here and remembered, so that every
      record's line number in the file is known (:meth:`line_of`).
    - Latin-1 files are transcoded; Latin-1 bytes in a file that began as UTF-8 are read as
      Latin-1 where they occur, instead of stopping the run.
    - Lines of any length up to :data:`MAX_LINE_BYTES` are read.
    - The header line (the first) is dropped: the column names come from the sniffed format.
    """

    def __init__(self, source, fmt: CsvFormat, block_size: int):
        self._source, self._fmt, self._block = source, fmt, block_size
        self._carry = b""
        self._header = True  # the first line is the header, dropped
        self.records = 0  # data records handed over so far
        self.skipped: list[int] = []  # for each dropped line: the records handed over before it
        self.unclosed: dict[int, str] = {}  # record index -> the text of a line with an unmatched quote
        self._refused = fmt.delimiter.encode() * len(fmt.columns)  # one field too many: Arrow refuses it
        self._first_data_line = fmt.comment_lines + 2

    def line_of(self, records):
        """The 1-based line numbers in the file of data records (0-based indices, a numpy array)."""
        import numpy as np

        skipped = np.asarray(self.skipped, dtype=np.int64)
        records = np.asarray(records, dtype=np.int64)
        return self._first_data_line + records + np.searchsorted(skipped, records, side="right")

    def line_of_record(self, record: int) -> int:
        """:meth:`line_of` for one record (no array built: called for every refused line)."""
        return self._first_data_line + record + bisect.bisect_right(self.skipped, record)

    def pieces(self, records: int, tail: tuple[int, int] | None = None) -> Iterator[tuple[memoryview, int, bool]]:
        """(text, number of records, whether a batch ends there) for batches of ``records``
        records (the last may have fewer), each handed over in the pieces it was read in. With
        ``tail`` = (first record, rows), the batches from that record on (a multiple of
        ``records``) have ``rows`` records. The text of a whole batch is never joined, so parsing
        holds one read's worth of it at a time."""

        def size(first: int) -> int:
            return tail[1] if tail is not None and first >= tail[0] else records

        first, have = 0, 0
        want = size(0)
        for piece, ends in self._pieces():
            view, start, done = memoryview(piece), 0, 0
            while len(ends) - done >= want - have:
                last = done + (want - have) - 1
                cut = int(ends[last]) + 1
                yield view[start:cut], want - have, True
                first += want
                have, start, done, want = 0, cut, last + 1, size(first)
            if done < len(ends):
                yield view[start:], len(ends) - done, False
                have += len(ends) - done

    def _pieces(self) -> Iterator[tuple[bytes, Any]]:
        """(whole record lines, the offsets of their line ends) as the source is read."""
        while True:
            data = self._source.read(self._block)
            if not data:
                rest, self._carry = self._carry, b""
                if rest.strip():
                    piece = self._process(rest if rest.endswith(b"\n") else rest + b"\n")
                    if len(piece[1]):
                        yield piece
                return
            buffer = self._carry + data if self._carry else data
            end = buffer.rfind(b"\n") + 1
            self._carry = buffer[end:]
            if len(self._carry) > MAX_LINE_BYTES:
                line = self._first_data_line + self.records + len(self.skipped)
                raise DataError(
                    f"{self._fmt.path.name} has a line over {MAX_LINE_BYTES >> 20} MiB long (line {line}); "
                    "it is not a table row: remove or shorten that line."
                )
            if end:
                piece = self._process(buffer[:end] if end < len(buffer) else buffer)
                if len(piece[1]):
                    yield piece

    def _process(self, chunk: bytes):
        if self._fmt.encoding != "utf-8":
            chunk = chunk.decode(self._fmt.encoding).encode("utf-8")
        elif not chunk.isascii():  # ASCII is valid UTF-8: the common case costs one fast scan
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                chunk = chunk.decode("utf-8", "exoreg-latin-1").encode("utf-8")
        if self._header:
            self._header = False
            chunk = chunk[chunk.find(b"\n") + 1 :]
        return self._records(chunk)

    def _records(self, chunk: bytes):
        import numpy as np

        if (ends := _plain_line_ends(chunk)) is not None:
            self.records += len(ends)  # the common case: every line is a record
            return chunk, ends
        out = []
        for line in chunk.split(b"\n")[:-1]:
            text = line.strip()
            if not text or text.startswith(b"#"):
                self.skipped.append(self.records)
                continue
            if line.count(b'"') % 2:
                self.unclosed[self.records] = line.decode("utf-8", "replace")
                line = self._refused
            out.append(line)
            self.records += 1
        if not out:
            return b"", np.empty(0, dtype=np.intp)
        return b"\n".join(out) + b"\n", np.cumsum([len(line) + 1 for line in out]) - 1


class BatchStream:
    """Streams a CSV file as pyarrow RecordBatches, ``batch_rows`` records at a time (by default
    :data:`CHUNK_RECORDS`, fewer for very wide rows; ``tail`` as in :meth:`LineReader.pieces`).

    Columns in ``numeric`` are parsed as float64 where every cell of a batch is a number or
    empty (the common case: no text column is built only to be converted); a batch with a cell
    that is not a number is read with those columns as text (the piece holding the cell parsed
    again from the same text), and :func:`to_float` finds those cells. Other columns are read as
    text. Lines Arrow cannot use are collected in :attr:`invalid` as (record index, line number,
    reason); :meth:`locate` gives the record index and line number of the rows of the batches.
    Each read of the file is parsed as it comes, in one call on the calling thread with the GIL
    released, and nothing is read ahead: memory is what one batch needs, and its text is never
    held whole. Use as a context manager so the file is closed.
    """

    def __init__(self, fmt: CsvFormat, columns: list[str], *, block_size: int = READ_BLOCK_BYTES,
                 batch_rows: int | None = None, numeric=(), tail: tuple[int, int] | None = None):
        import pyarrow as pa

        self.fmt = fmt
        self.invalid: list[tuple[int, int, str]] = []
        self._raw = pa.OSFile(str(fmt.path), "rb")
        stream = pa.CompressedInputStream(self._raw, fmt.compression) if fmt.compression else self._raw
        # Skip the BOM and leading comment lines: start at the header line.
        skip = fmt.header_offset
        if fmt.compression:
            while skip > 0:
                skip -= len(stream.read(min(skip, 1 << 20)))
        else:
            stream.seek(skip)
        self.lines = LineReader(stream, fmt, block_size)
        self._records = batch_rows or rows_within(fmt, CHUNK_RECORDS)
        self._tail = tail  # (first record, rows): smaller batches from there on
        self._first_record = 0  # of the piece being parsed (for the invalid-row handler)
        numeric = set(numeric) & set(columns)
        options = dict(block_size=1 << 20, on_invalid=self._on_invalid, encoding="utf8", header=False)
        self._text = _arrow_options(fmt, columns, **options)
        self._typed = _arrow_options(fmt, columns, numeric=numeric, **options) if numeric else None

    @property
    def invalid_rows(self) -> list[str]:
        return [reason for _, _, reason in self.invalid]

    def _on_invalid(self, row) -> str:
        record = self._first_record + row.number - 1  # Arrow counts the piece's lines from 1
        line = self.lines.line_of_record(record)
        if record in self.lines.unclosed:
            text = self.lines.unclosed[record]
            reason = (
                f'line {line} has an unmatched quote ("), so its values cannot be told apart: {text[:80]!r}'
            )
        else:
            text = (row.text or "").strip()
            reason = (
                f"line {line} has {row.actual_columns} fields where {row.expected_columns} were expected: "
                f"{text[:80]!r}"
            )
        self.invalid.append((record, line, reason))
        return "skip"

    def locate(self, rows):
        """(record indices, line numbers) of rows of the batches, given their 0-based positions."""
        import numpy as np

        refused = np.asarray([record for record, _, _ in self.invalid], dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        # Each refused record before a row moves it one record on.
        records = rows + np.searchsorted(refused - np.arange(len(refused)), rows, side="right")
        return records, self.lines.line_of(records)

    def position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator:
        tables = []  # the parsed pieces of the batch being read
        for text, count, batch_ends in self.lines.pieces(self._records, self._tail):
            table = self._parse(text)
            self._first_record += count
            if table.num_rows:
                tables.append(table)
            if batch_ends and tables:
                yield self._joined(tables)
                tables = []
        if tables:
            yield self._joined(tables)

    def _joined(self, tables: list):
        """One RecordBatch of a batch's pieces; when a piece had to be read as text, the feature
        columns of the others are turned into text too (exactly: a float64 written by Arrow
        reads back as the same bits)."""
        import pyarrow as pa

        if len({t.schema for t in tables}) > 1:  # a piece was read as text
            text = pa.schema([pa.field(name, pa.string()) for name in tables[0].column_names])
            tables = [t.cast(text) for t in tables]
        return pa.concat_tables(tables).combine_chunks().to_batches()[0]

    def _parse(self, text):
        import pyarrow as pa

        buffer = pa.py_buffer(text)
        if self._typed is not None:
            noted = len(self.invalid)
            try:
                return _read_chunk(buffer, self._typed)
            except pa.ArrowInvalid:  # a cell that is not a number: read this piece as text
                del self.invalid[noted:]
        try:
            return _read_chunk(buffer, self._text)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise DataError(f"{self.fmt.path.name} has a line that cannot be read ({_short(exc)}).") from exc

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> BatchStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_chunk(buffer, options):
    import pyarrow.csv as pacsv

    read, parse, convert = options
    read.block_size = max(read.block_size, buffer.size + 1)  # one block: the piece parsed in one go
    return pacsv.read_csv(buffer, read_options=read, parse_options=parse, convert_options=convert)


def rows_within(fmt: CsvFormat, rows: int) -> int:
    """``rows``, or fewer when that many of the file's lines would exceed :data:`MAX_CHUNK_BYTES`."""
    sample = fmt.head_data_rows()
    if sample:
        per_line = max(1, len(fmt.head) // (sample + 1))
        rows = min(rows, max(1, MAX_CHUNK_BYTES // per_line))
    return max(1, rows)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200].rstrip(".")


@dataclass
class ColumnValues:
    """One feature column of a batch converted to float64, with what was wrong in it."""

    values: object  # numpy float64 array; NaN where missing or not a number
    missing: object  # numpy bool array: empty cell, NA, NaN
    non_numeric: object  # numpy bool array: text that is not a number
    infinite: object  # numpy bool array: +-inf

    @property
    def counts(self) -> list[int]:
        """[missing, non_numeric, infinite] cell counts."""
        return [int(self.missing.sum()), int(self.non_numeric.sum()), int(self.infinite.sum())]


def to_float(arr) -> ColumnValues:
    """Convert a pyarrow string array to float64 without holding the GIL for the work."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(arr)
    if pa.types.is_floating(arr.type):  # parsed as numbers already
        values = arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        return ColumnValues(values, np.isnan(values), np.zeros(n, dtype=bool), np.isinf(values))
    non_numeric = None
    try:
        num = pc.cast(arr, pa.float64())
    except pa.ArrowInvalid:
        trimmed = pc.utf8_trim_whitespace(arr)
        try:
            num = pc.cast(trimmed, pa.float64())
        except pa.ArrowInvalid:
            blank = pc.equal(trimmed, "")
            valid = pc.match_substring_regex(trimmed, NUMBER_RE, ignore_case=True)
            bad = pc.and_kleene(pc.invert(valid), pc.invert(blank))
            non_numeric = bad.fill_null(False).to_numpy(zero_copy_only=False)
            keep = pc.if_else(pc.fill_null(valid, False), trimmed, pa.scalar(None, pa.string()))
            try:
                num = pc.cast(keep, pa.float64())
            except pa.ArrowInvalid:  # pragma: no cover - the regex and Arrow disagree on a rare spelling
                num = pa.array([_py_float(v) for v in keep.to_pylist()], pa.float64())
                non_numeric = non_numeric | np.isnan(num.to_numpy(zero_copy_only=False)) & ~np.asarray(
                    pc.is_null(keep).to_numpy(zero_copy_only=False)
                )
    values = num.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    if non_numeric is None:
        non_numeric = np.zeros(n, dtype=bool)
    infinite = np.isinf(values)
    missing = np.isnan(values) & ~non_numeric
    return ColumnValues(values=values, missing=missing, non_numeric=non_numeric, infinite=infinite)


def _py_float(v):
    try:
        return float(v) if v is not None else None
    except ValueError:
        return float("nan")
