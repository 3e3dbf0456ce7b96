"""Readers: one source file into a frame of text columns, with the rows it could not split.

Every reader returns the mapped source columns as strings plus `__row`, the row a person
finds in the file (CSV: the header is row 1, so the first record is row 2; Excel: the row of
the sheet, its header being its first row that holds a value; JSON lines and Parquet: the
first record is row 1). A file that cannot be read at all raises
UnreadableFile with a reason that never quotes the file's content.
"""

from __future__ import annotations

import csv
import json
import queue
import re
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from etl import transcode
from etl.profile import TableSource
from warehouse import Resources

if TYPE_CHECKING:
    import pyarrow as pa

    from etl.scanahead import ScanAhead
    from etl.xlsx_guard import CheckedSheet, ExcelLimits


ROW = "__row"
BOM = b"\xef\xbb\xbf"


class UnreadableFile(Exception):
    """The whole file is unusable; it goes to the failed folder with this reason."""


@dataclass(frozen=True)
class Reject:
    row: int
    field: str
    reason: str


@dataclass
class Source:
    frame: pl.DataFrame  # mapped source columns (text) and ROW
    rejects: list[Reject] = field(default_factory=list)
    cleaned: int = 0  # values from which invisible characters were removed
    sheet: str | None = None  # the Excel sheet read

    @property
    def rows_read(self) -> int:
        return self.frame.height + len(self.rejects)


def read_source(
    path: Path,
    src: TableSource,
    scratch: Path,
    excel: ExcelLimits | None = None,
    resources: Resources | None = None,
    ahead: ScanAhead | None = None,
) -> Stream:
    """The file's mapped columns, in batches (a CSV file is never held whole: see Stream).
    `resources` (`[etl]` threads, memory_limit) bound the CSV reader's DuckDB; `ahead` may
    hold the CSV file's first pass, made while earlier files were read."""
    if path.stat().st_size == 0:
        raise UnreadableFile("the file is empty")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(path, src, scratch, resources, ahead)
    if suffix == ".parquet":
        return Stream.pieces(_parquet_pieces(path, src), src.source_columns(), ahead=True)
    if suffix in {".jsonl", ".ndjson"}:
        rejects: list[Reject] = []
        pieces = _jsonl_pieces(path, src, rejects)
        return Stream.pieces(pieces, src.source_columns(), rejects=rejects)
    if suffix not in {".xlsx", ".xlsm", ".xls"}:
        raise UnreadableFile(f"unsupported file type {suffix!r} (csv, xlsx, parquet, jsonl)")
    return _read_excel(path, src, excel)


def read_frame(path: Path, src: TableSource, scratch: Path) -> pl.DataFrame:
    """The file's mapped columns and ROW in one frame (for a copy of the file, not a load)."""
    stream = read_source(path, src, scratch)
    frame = pl.concat(list(stream))
    return frame.with_columns(stream.rows.gather(frame[K]).alias(ROW)).drop(K)


BATCH_ROWS = 131072  # records per batch: what a batch costs is bounded, not the file
# A batch that Python gathers itself (Excel rows, JSON lines) ends sooner once its texts hold
# this many characters: a few huge cells (a zip bomb's, with the limits off) stay bounded too.
BATCH_CHARS = 64 * 1024 * 1024


class Stream:
    """A file's records in batches of at most BATCH_ROWS: its mapped source columns (text)
    and K, the record's place among the file's records. What a person finds in the file
    (`rows`, K -> ROW), the rows that could not be split or repeat the header (`rejects`) and
    the count of cleaned values are known once every batch has been read."""

    def __init__(
        self, batches: Iterator[pl.DataFrame], wanted: list[str], sheet: str | None = None
    ) -> None:
        self._batches = batches
        self.wanted = wanted
        self.sheet = sheet
        self.rows = pl.Series(ROW, [], dtype=pl.Int64)
        self.rejects: list[Reject] = []
        self.cleaned = 0
        self.records = 0  # records split (header repeats among them)
        self.header_repeats: list[int] = []  # K of rows that repeat the header

    @classmethod
    def whole(cls, source: Source) -> Stream:
        """A frame read whole (Excel, Parquet, JSON lines: _keep_mapped already applied)."""
        wanted = [c for c in source.frame.columns if c != ROW]

        def batches() -> Iterator[pl.DataFrame]:
            frame = source.frame.drop(ROW).with_row_index(K).cast({K: pl.Int64})
            for start in range(0, max(frame.height, 1), BATCH_ROWS):
                yield frame.slice(start, BATCH_ROWS)

        stream = cls(batches(), wanted, source.sheet)
        stream.rows = source.frame[ROW]
        stream.rejects = source.rejects
        stream.cleaned = source.cleaned
        stream.records = source.frame.height
        return stream

    @classmethod
    def pieces(
        cls,
        pieces: Iterator[pl.DataFrame],
        wanted: list[str],
        *,
        rejects: list[Reject] | None = None,
        ahead: bool = False,
    ) -> Stream:
        """A file read a piece at a time (Parquet, JSON lines): each piece (the wanted
        columns as text, and ROW) holds at most BATCH_ROWS records. Its reader raises
        UnreadableFile where it finds the file cannot be read, at the latest after the last
        piece, and adds the rows it could not split to `rejects` as it goes. `ahead`: the
        next piece is read by a thread while this one is mapped (for a reader that works
        without Python's lock)."""
        stream = cls(iter(()), wanted)
        stream.rejects = rejects if rejects is not None else []
        batches = stream._from_pieces(pieces)
        stream._batches = ReadAhead(batches) if ahead else batches
        return stream

    def _from_pieces(self, pieces: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        """Each piece cleaned as a whole file is (_hold_back), numbered by K; `rows` and the
        rejects are known after the last."""
        rows: list[pl.Series] = []
        try:
            for piece in pieces:
                frame, cleaned, again = _hold_back(piece, self.wanted)
                self.cleaned += cleaned
                self.rejects += again
                rows.append(frame[ROW])
                k = pl.int_range(self.records, self.records + frame.height, dtype=pl.Int64)
                self.records += frame.height
                yield frame.drop(ROW).with_columns(k.alias(K))
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        self.rows = pl.concat(rows) if rows else pl.Series(ROW, [], dtype=pl.Int64)
        self.rejects.sort(key=lambda r: r.row)
        if not rows:
            yield pl.DataFrame(schema={**dict.fromkeys(self.wanted, pl.String), K: pl.Int64})

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return self._batches

    def close(self) -> None:
        """Stops a stream that was not read to its end (its reader and copy go at once)."""
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()

    @property
    def rows_read(self) -> int:
        return self.records + len(self.rejects) - len(self.header_repeats)


class ReadAhead:
    """Batches read one ahead, in a thread of their own: DuckDB parses the next batch of a CSV
    file (without Python's lock) while this one is mapped and staged. At most two batches are
    held besides the one being mapped. The reader's error is raised where the batch it
    prevented was asked for; `close` stops the reading and waits for it (its reader closes
    in its thread, where it was opened)."""

    def __init__(self, batches: Iterator[pl.DataFrame]) -> None:
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._read, args=(batches,), name="onewindow-read-ahead", daemon=True
        )
        self._thread.start()

    def _read(self, batches: Iterator[pl.DataFrame]) -> None:
        try:
            for batch in batches:
                if not self._put("batch", batch):
                    return
            self._put("end", None)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put("error", exc)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def _put(self, kind: str, value: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, value), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self) -> pl.DataFrame:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == "batch":
            assert isinstance(value, pl.DataFrame)
            return value
        self._done = True
        self._thread.join()
        if kind == "error":
            assert isinstance(value, BaseException)
            raise value
        raise StopIteration

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._done = True


K = "__k"


def _clean(frame: pl.DataFrame, wanted: list[str]) -> tuple[pl.DataFrame, int, pl.Expr]:
    """Removes invisible characters (returns how many values held some) and gives the mask
    of rows that repeat the header."""
    dirty = [pl.col(c).str.contains(INVISIBLE).fill_null(False) for c in wanted]
    cleaned = int(frame.select(pl.sum_horizontal(dirty).sum()).item()) if dirty else 0
    if cleaned:
        frame = frame.with_columns(pl.col(c).str.replace_all(INVISIBLE, "") for c in wanted)
    # A row that repeats the header: two exports joined into one file.
    header = pl.all_horizontal(pl.col(c).str.strip_chars() == c for c in wanted).fill_null(False)
    return frame, cleaned, header


# Invisible characters that exports and copy-paste leave in text: byte-order marks (also in the
# middle of a file, where two exports were joined), zero-width spaces and joiners, direction
# marks and embeddings, and NUL bytes. They would make '4412' and '\ufeff4412' two applications.
INVISIBLE = "[\u0000\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"


def _check_columns(columns: list[str], src: TableSource, where: str = "") -> None:
    missing = [c for c in src.source_columns() if c not in columns]
    if missing:
        named = ", ".join(
            f"{c!r} (mapped to {', '.join(k for k, v in src.columns.items() if v == c)})"
            for c in missing
        )
        raise UnreadableFile(f"missing column(s) {named}{where}")


HEADER_AGAIN = "the header line again (two exports joined into one file?)"


def _keep_mapped(source: Source, src: TableSource, where: str = "") -> Source:
    """Checks the mapped columns are there, drops every other column at once, removes
    invisible characters (counted) and holds back header lines repeated inside the file."""
    _check_columns(source.frame.columns, src, where)
    frame, cleaned, again = _hold_back(source.frame, src.source_columns())
    rejects = sorted(source.rejects + again, key=lambda r: r.row)
    return Source(frame, rejects, cleaned + source.cleaned, source.sheet)


def _hold_back(frame: pl.DataFrame, wanted: list[str]) -> tuple[pl.DataFrame, int, list[Reject]]:
    """The `wanted` columns and ROW of a whole file or a piece of one, invisible characters
    removed (and how many values held some), without the rows that repeat the header line:
    those are returned as rejects."""
    frame, cleaned, header = _clean(frame.select([*wanted, ROW]), wanted)
    repeated = frame.filter(header)[ROW].to_list()
    if repeated:
        frame = frame.filter(~header)
    return frame, cleaned, [Reject(r, "(row)", HEADER_AGAIN) for r in repeated]


_CHUNK = transcode.CHUNK  # bytes read at a time: no copy of the whole file is held in Python


@dataclass
class _Scan:
    """What one streaming pass over a file found (decoded with `codec` after `skip` bytes)."""

    codec: str
    skip: int = 0  # a UTF-8 byte-order mark
    newlines: int = 0
    ends_with_newline: bool = False
    has_cr: bool = False
    stray: int = 0  # carriage returns that end no line
    joined: int = 0  # byte-order marks at the start of a line (two exports joined)
    blank: bool = False  # a line that holds nothing
    empty: bool = True  # nothing but whitespace
    layout: transcode.Layout | None = None  # where the text DuckDB is given lies (_text)

    @property
    def direct(self) -> bool:
        """DuckDB can read the file itself (UTF-8; its reader skips a leading BOM)."""
        return self.codec == "utf-8" and not self.stray and not self.joined


def _scan(path: Path, encoding: str, delimiter: str | None) -> _Scan:
    """Checks the file decodes (the error names its row and column) and counts what the
    readers need to know, one chunk at a time."""
    with open(path, "rb") as fh:
        bom = len(BOM) if fh.read(len(BOM)) == BOM else 0
    if encoding == "auto":
        if bom:
            try:
                return _count(path, "utf-8", bom)
            except UnicodeDecodeError as exc:
                raise UnreadableFile(
                    "starts with a UTF-8 byte-order mark but is not valid UTF-8 (undecodable "
                    f"byte in {_place(path, exc.start, delimiter)})"
                ) from None
        try:
            return _count(path, "utf-8", 0)
        except UnicodeDecodeError:
            pass
        try:
            return _count(path, "gb18030", 0)
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"neither UTF-8 nor GB18030 (undecodable byte in "
                f"{_place(path, exc.start, delimiter)})"
            ) from None
    codec = "gb18030" if encoding in {"gbk", "gb2312"} else encoding
    try:
        if codec in {"utf-8", "utf-8-sig"}:
            return _count(path, "utf-8", bom)
        return _count(path, codec, 0)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"not valid {encoding} (undecodable byte in {_place(path, exc.start, delimiter)}); "
            f'set encoding = "auto" or the file\'s real encoding in the profile'
        ) from None


CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})


def _count(path: Path, codec: str, skip: int) -> _Scan:
    """Decodes the file a chunk at a time, counting, and measures the text DuckDB is given
    (_text) for a file it cannot read itself (transcode.Layout)."""
    layout = transcode.Layout(codec, skip, _CHUNK)
    scan = _Scan(codec, skip, empty=not skip, layout=layout)
    tail = ""  # the last characters of the text before the piece
    # Each test searches the piece alone (a megabyte) and, for what a piece boundary can cut,
    # the tail of the text before it with the piece's first characters: no copy of the piece.
    for piece, text, at in transcode.decode(path, codec, skip, chunk=_CHUNK):
        seam = tail + piece[:3]
        scan.newlines += piece.count("\n")
        if "\r" in piece:
            scan.has_cr = True
            if _BARE_CR.search(piece):  # rare: most files end every line with \r\n or \n
                scan.stray += len(_BARE_CR.findall(piece))
        if "\ufeff" in piece:
            scan.joined += piece.count("\n\ufeff") + (tail[-1:] == "\n" and piece[0] == "\ufeff")
        scan.blank = scan.blank or bool(_BLANK.search(piece) or _BLANK.search(seam))
        scan.empty = scan.empty and not piece.strip(" \t\n\r\x0b\x0c")  # once, in practice
        if piece:
            scan.ends_with_newline = piece.endswith(("\n", "\r"))
            tail = (tail + piece)[-2:] if len(piece) < 2 else piece[-2:]
        layout.measure(text, at)
    return scan


def _text(path: Path, scan: _Scan, clean: bool = True) -> Iterator[str]:
    """The file's text as DuckDB is given it: without its byte-order mark and, when `clean`,
    a stray carriage return a space, a byte-order mark that starts a line removed; a piece
    at a time (transcode.decode)."""
    for _, text, _ in transcode.decode(path, scan.codec, scan.skip, clean=clean, chunk=_CHUNK):
        if text:
            yield text


def _lines(path: Path, scan: _Scan, clean: bool = True) -> Generator[str]:
    """The text's lines, each with its line end (as `open(newline="")` gives them)."""
    rest = ""
    for piece in _text(path, scan, clean):
        parts = (rest + piece).split("\n")
        rest = parts.pop()
        for part in parts:
            yield part + "\n"
    if rest:
        yield rest


def _place(path: Path, offset: int, delimiter: str | None) -> str:
    """'row 7, column 3 (经办人)' for a byte offset: the line as an editor counts it and, in a
    delimited file, the field (counting delimiters on that line, as most rows have no quotes).
    Read a chunk at a time: only the line of the offset is held."""
    row, start = 1, 0
    with open(path, "rb") as fh:
        first = fh.readline(1 << 16).removeprefix(BOM).rstrip(b"\r\n")
        fh.seek(0)
        done = 0
        while done < offset:
            chunk = fh.read(min(_CHUNK, offset - done))
            if not chunk:
                break
            row += chunk.count(b"\n")
            last = chunk.rfind(b"\n")
            if last >= 0:
                start = done + last + 1
            done += len(chunk)
        fh.seek(start)
        line = fh.read(offset - start)
    if delimiter is None:
        return f"line {row}"
    index = line.count(delimiter.encode())
    names: list[str] = []
    for codec in ("utf-8", "gb18030"):
        try:
            names = first.decode(codec).split(delimiter)
            break
        except UnicodeDecodeError:
            continue
    name = f" ({names[index].strip()})" if index < len(names) and row > 1 else ""
    return f"row {row}, column {index + 1}{name}"


def _read_csv(
    path: Path,
    src: TableSource,
    scratch: Path,
    resources: Resources | None = None,
    ahead: ScanAhead | None = None,
) -> Stream:
    scan = ahead.scan(path, src) if ahead is not None else _scan(path, src.encoding, src.delimiter)
    if scan.empty:
        raise UnreadableFile("the file is empty")
    if scan.has_cr and not scan.newlines:
        raise UnreadableFile(
            "lines end with a bare carriage return (old Mac style); save the "
            "file with CRLF or LF line ends"
        )
    # A carriage return that ends no line (pasted into a cell) stops DuckDB's parser: it
    # becomes a space, and the value counts as cleaned. Two exports joined: a byte-order mark
    # before a quoted first field would break the line for DuckDB; removed (and counted).
    # BOMs elsewhere go with the other invisible characters (_clean). See _text.
    lines = _lines(path, scan)
    try:
        header_line = next(csv.reader(lines, delimiter=src.delimiter), [])
    except csv.Error as exc:
        raise UnreadableFile(f"the header line cannot be split ({exc})") from None
    finally:
        lines.close()
    header = [h.strip().replace("\ufeff", "") for h in header_line]
    if not any(header):
        raise UnreadableFile("the first line holds no column names")
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise UnreadableFile(f"duplicate column name(s) {', '.join(map(repr, dupes))}")
    # Columns without a name (trailing commas, a blank header cell) are read under a
    # placeholder; they are ignored when empty, an error when they hold values.
    unnamed = {f"{_UNNAMED}{i}": i for i, h in enumerate(header, start=1) if not h}
    header = [h or f"{_UNNAMED}{i}" for i, h in enumerate(header, start=1)]
    _check_columns(header, src)
    wanted = src.source_columns()
    stream = Stream(iter(()), wanted)
    stream._batches = ReadAhead(_csv_batches(path, src, scan, header, unnamed, stream, resources))
    return stream


def reader_connection(resources: Resources | None = None) -> duckdb.DuckDBPyConnection:
    """The CSV reader's own in-memory DuckDB. It never writes temporary files (an in-memory
    DuckDB would spill to `.tmp` in the working folder): what it holds is raw input, personal
    columns among them, and no copy of an input is ever written (docs/security.md). What it
    needs is its read-ahead buffers; `[etl]` threads and memory_limit apply to it too."""
    con = duckdb.connect()
    (resources or Resources()).configure(con, None)
    return con


def _csv_batches(
    path: Path,
    src: TableSource,
    scan: _Scan,
    header: list[str],
    unnamed: dict[str, int],
    stream: Stream,
    resources: Resources | None = None,
) -> Iterator[pl.DataFrame]:
    """DuckDB's CSV reader, a batch at a time. Its columns have positional names (c1, c2,
    ...), so the query names only the columns it keeps, the mapped ones and the unnamed ones:
    the others (personal ones among them) are split and checked but never reach Python."""
    wanted = stream.wanted
    keep = {f"c{i}": h for i, h in enumerate(header, start=1) if h in {*wanted, *unnamed}}
    filled: dict[str, int] = {}  # unnamed column -> K of its first value
    con = reader_connection(resources)
    target = str(path)
    cols = ", ".join(keep)
    yielded = False
    try:
        # DuckDB reads UTF-8 only: a file in another encoding, or one that needs cleaning, is
        # read as its UTF-8 text decoded on demand (etl/transcode.py): no copy, in memory or
        # on disk.
        if not scan.direct:
            assert scan.layout is not None
            target = transcode.register(con, path, scan.layout)
        # The path and the delimiter are values: bound, never SQL text.
        reader = con.sql(
            f"SELECT {cols} FROM read_csv($path, auto_detect = false, header = true, "
            "columns = $columns, delim = $delim, quote = '\"', escape = '\"', "
            "strict_mode = true, null_padding = false, store_rejects = true, "
            "max_line_size = 16777216, buffer_size = 33554432)",
            params={
                "path": target,
                "columns": {f"c{i}": "VARCHAR" for i in range(1, len(header) + 1)},
                "delim": src.delimiter,
            },
        ).to_arrow_reader(BATCH_ROWS)
        for frame in _gathered(reader, keep):
            k = pl.int_range(stream.records, stream.records + frame.height, dtype=pl.Int64)
            stream.records += frame.height
            frame = frame.with_columns(k.alias(K))
            for name in unnamed:
                if name not in filled:
                    found = frame.filter(pl.col(name).str.strip_chars() != "")[K]
                    if found.len():
                        filled[name] = int(found[0])
            frame, cleaned, repeats = _clean(frame.select([*wanted, K]), wanted)
            stream.cleaned += cleaned
            stream.header_repeats += frame.filter(repeats)[K].to_list()
            yielded = True
            yield frame.filter(~repeats)
        errors = con.execute(
            "SELECT line, any_value(column_name), any_value(error_type), "
            "any_value(error_message) FROM reject_errors GROUP BY line ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        if transcode.CHANGED in str(exc):
            raise UnreadableFile(transcode.CHANGED) from None
        raise UnreadableFile(f"not a readable CSV file ({type(exc).__name__})") from None
    finally:
        con.close()
        transcode.release(target)
    last_line = scan.newlines + (0 if scan.ends_with_newline else 1)
    cut_short = errors and errors[-1][2] in ("MISSING COLUMNS", "UNQUOTED VALUE")
    if cut_short and not scan.ends_with_newline and int(errors[-1][0]) >= last_line:
        raise UnreadableFile(f"the file ends in the middle of row {last_line}: it looks truncated")
    rejects = [Reject(int(line), "(row)", _csv_reason(kind, msg)) for line, _, kind, msg in errors]
    records = stream.records
    rows = pl.int_range(2, records + len(rejects) + 2, eager=True, dtype=pl.Int64)
    if scan.blank:
        # DuckDB skips blank lines: number records by the lines that hold something.
        rows = pl.Series(
            [n for n, line in enumerate(_lines(path, scan), start=1) if line.strip()][1:],
            dtype=pl.Int64,
        )
    if rejects:
        rows = rows.filter(~rows.is_in([r.row for r in rejects]))
    if rows.len() != records:
        rows = _record_rows(path, scan, src.delimiter, {r.row for r in rejects})
    if rows.len() != records:  # a last resort: number records in order
        rows = pl.int_range(2, records + 2, eager=True, dtype=pl.Int64)
    stream.rows = rows.alias(ROW)
    for name, position in unnamed.items():
        if name in filled:
            raise UnreadableFile(
                f"column {position} has no name in the header line but holds values (row "
                f"{int(rows[filled[name]])}); name the column or remove it"
            )
    repeated = [Reject(int(rows[k]), "(row)", HEADER_AGAIN) for k in stream.header_repeats]
    stream.rejects = sorted(rejects + repeated, key=lambda r: r.row)
    stream.cleaned += scan.stray + scan.joined
    if not yielded:
        yield pl.DataFrame(schema={**dict.fromkeys(wanted, pl.String), K: pl.Int64})


def _gathered(reader: pa.RecordBatchReader, names: dict[str, str]) -> Iterator[pl.DataFrame]:
    """The reader's record batches gathered into frames of at most BATCH_ROWS rows, columns
    renamed by `names`. DuckDB's parallel reader gives about half as many rows per batch
    when it reads only some of the columns, and mapping a batch costs a hundred small steps
    whatever its size."""
    import pyarrow as pa  # here: DuckDB's Arrow reader has it loaded; the CLI starts faster

    held: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        if held and count + batch.num_rows > BATCH_ROWS:
            yield pl.DataFrame(pl.from_arrow(pa.Table.from_batches(held))).rename(names)
            held, count = [], 0
        held.append(batch)
        count += batch.num_rows
    if held:
        yield pl.DataFrame(pl.from_arrow(pa.Table.from_batches(held))).rename(names)


_UNNAMED = "__unnamed_column_"
# A line that holds nothing (or one space), which DuckDB skips: then records are numbered by the
# lines that hold something (_csv_batches). One search, four times faster than three `in`s.
_BLANK = re.compile(r"\n ?\r?\n")
_BARE_CR = re.compile(r"\r(?!\n)")  # a carriage return that ends no line


def _record_rows(path: Path, scan: _Scan, delimiter: str, rejected: set[int]) -> pl.Series:
    """Rows of records when a quoted value spans lines: DuckDB counts a record as one row,
    as a spreadsheet shows it, and a blank line as a row too; blank lines hold no record."""
    records = csv.reader(_lines(path, scan), delimiter=delimiter)
    try:
        rows = [
            number
            for number, record in enumerate(records, start=1)
            if number > 1 and record and number not in rejected
        ]
    except csv.Error:
        rows = []
    return pl.Series(ROW, rows, dtype=pl.Int64)


def _csv_reason(kind: str, message: str) -> str:
    reasons = {
        "MISSING COLUMNS": "row has fewer fields than the header",
        "TOO MANY COLUMNS": "row has more fields than the header",
        "UNQUOTED VALUE": "a quoted field is not closed",
        "INVALID UNICODE": "row holds bytes that are not valid text",
        "LINE SIZE OVER MAXIMUM": "row is longer than 16 MiB",
    }
    found = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    detail = f" ({found[2]} fields, header has {found[1]})" if found else ""
    return reasons.get(kind, kind.lower()) + detail


def _read_excel(path: Path, src: TableSource, limits: ExcelLimits | None = None) -> Stream:
    """A sheet once the workbook's sizes and header are checked (etl/xlsx_guard.py): read whole
    by fastexcel, or, beyond `whole_sheet_mb`, a row at a time (etl/xlsx.py), the same texts."""
    from etl.xlsx_guard import ExcelLimits, check_workbook

    limits = limits or ExcelLimits()
    checked = check_workbook(path, src, limits)  # before a byte of the sheet is unpacked
    if checked is not None and checked.unpacked > limits.whole_sheet_mb * 1024 * 1024:
        stream = Stream.pieces(_excel_pieces(path, checked, src), src.source_columns())
        stream.sheet = checked.title
        return stream
    header_row = checked.header_row if checked is not None else None
    source = _read_excel_whole(path, src, header_row or 1)
    return Stream.whole(_keep_mapped(source, src, f" in sheet {source.sheet!r}"))


def _read_excel_whole(path: Path, src: TableSource, header_row: int) -> Source:
    """The whole sheet, every cell as text (fastexcel's `dtypes="string"`); the first row
    that holds a value is the header, on `header_row` of the sheet."""
    import fastexcel

    sheet = src.sheet if src.sheet is not None else 0
    try:
        book = fastexcel.read_excel(str(path))
        names = book.sheet_names
    except Exception as exc:  # fastexcel raises its own error types for every failure
        raise UnreadableFile(f"not a readable Excel workbook ({type(exc).__name__})") from None
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        raise UnreadableFile(f"the workbook has no sheet {sheet} (it has {len(names)})")
    if isinstance(sheet, str) and sheet not in names:
        raise UnreadableFile(f"the workbook has no sheet {sheet!r} (it has {', '.join(names)})")
    name = names[sheet] if isinstance(sheet, int) else sheet
    try:
        first = book.load_sheet(sheet, header_row=None, n_rows=1, dtypes="string").to_polars()
        frame = book.load_sheet(sheet, dtypes="string").to_polars()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # fastexcel's own errors, and a panic of its Rust code
        raise UnreadableFile(f"sheet {name!r} cannot be read ({type(exc).__name__})") from None
    _check_header([v for v in first.row(0) if v is not None] if first.height else [], name)
    # Names are trimmed; names that are only white space stay as they are (never mapped, and
    # two of them would be one name).
    frame = frame.rename({c: str(c).strip() for c in frame.columns if str(c).strip()})
    start = header_row + 1
    frame = frame.with_columns(pl.int_range(start, frame.height + start, dtype=pl.Int64).alias(ROW))
    empty = pl.all_horizontal(pl.exclude(ROW).is_null() | (pl.exclude(ROW).str.strip_chars() == ""))
    return Source(frame.filter(~empty), sheet=name)  # a blank spreadsheet row is not a record


def _check_header(texts: list[str], sheet: str) -> None:
    header = [str(v).strip() for v in texts]
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise UnreadableFile(
            f"duplicate column name(s) {', '.join(map(repr, dupes))} in sheet {sheet!r}"
        )


def _excel_pieces(path: Path, checked: CheckedSheet, src: TableSource) -> Iterator[pl.DataFrame]:
    """A sheet too large to be held whole, BATCH_ROWS records at a time (etl/xlsx.py): the
    mapped columns as text and ROW, the row of the sheet. As in the whole read, the first row
    that holds a value is the header and a row without a value in any column is no record."""
    import zipfile
    import zlib
    from xml.etree.ElementTree import ParseError

    from etl import xlsx

    wanted = src.source_columns()
    title = checked.title

    def piece(columns: dict[str, list[str | None]], rows: list[int]) -> pl.DataFrame:
        return pl.DataFrame(
            {**columns, ROW: rows}, schema={**dict.fromkeys(wanted, pl.String), ROW: pl.Int64}
        )

    try:
        with zipfile.ZipFile(path) as book:
            where: dict[str, int] | None = None  # mapped column -> its column in the sheet
            columns: dict[str, list[str | None]] = {c: [] for c in wanted}
            rows: list[int] = []
            held = 0  # characters of the batch's texts
            sheet = xlsx.Sheet(book, checked.part)
            for number, cells in sheet.rows():
                if where is None:
                    if cells:
                        where = _excel_header(cells, sheet.header_names, src, title)
                    continue
                if all(v is None or not v.strip(xlsx.WHITE_SPACE) for v in cells.values()):
                    continue  # a blank spreadsheet row is not a record
                for name, col in where.items():
                    text = cells.get(col)
                    columns[name].append(text)
                    held += len(text) if text is not None else 0
                rows.append(number)
                if len(rows) == BATCH_ROWS or held >= BATCH_CHARS:
                    yield piece(columns, rows)
                    columns, rows, held = {c: [] for c in wanted}, [], 0
            if where is None:
                _check_columns([], src, f" in sheet {title!r}")
            if rows:
                yield piece(columns, rows)
    except (zipfile.BadZipFile, zlib.error, ParseError, ValueError, OverflowError, EOFError) as exc:
        # ValueError: xlsx.SheetError among others (a row numbered 'A2', an encoding expat
        # cannot read)
        raise UnreadableFile(f"sheet {title!r} cannot be read ({type(exc).__name__})") from None


def _excel_header(
    cells: dict[int, str | None], names: dict[int, str | None], src: TableSource, title: str
) -> dict[str, int]:
    """The mapped columns' places in the sheet, from its header row: its texts are checked
    for duplicates and its cells' names (xlsx.Sheet.header_names) matched, as in the whole
    read."""
    _check_header([v for _, v in sorted(cells.items()) if v is not None], title)
    # fastexcel removes NUL characters from names.
    cleaned = {col: n.replace("\0", "").strip() for col, n in names.items() if n is not None}
    named = {n: col for col, n in cleaned.items() if n}
    _check_columns(list(named), src, f" in sheet {title!r}")
    return {name: named[name] for name in src.source_columns()}


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.String:
            exprs.append(col)
        elif isinstance(dtype, pl.Datetime):
            fmt = "%Y-%m-%d %H:%M:%S%.f" + ("%:z" if dtype.time_zone else "")
            exprs.append(col.dt.to_string(fmt))
        elif isinstance(dtype, pl.Struct | pl.List):
            exprs.append(
                col.struct.json_encode()
                if isinstance(dtype, pl.Struct)
                else col.cast(pl.String, strict=False)
            )
        else:
            exprs.append(col.cast(pl.String))
    return frame.select(exprs)


def _parquet_pieces(path: Path, src: TableSource) -> Iterator[pl.DataFrame]:
    """The mapped columns a BATCH_ROWS batch at a time (at most a row group's columns are
    unpacked at once); unmapped columns are never read."""
    import pyarrow.parquet as pq

    wanted = src.source_columns()
    try:
        book = pq.ParquetFile(path)
        names = book.schema_arrow.names
    except Exception as exc:  # pyarrow raises several error types for damaged files
        raise UnreadableFile(f"not a readable Parquet file ({type(exc).__name__})") from None
    _check_columns(names, src)
    row = 1
    with book:
        batches = book.iter_batches(batch_size=BATCH_ROWS, columns=wanted)
        while True:
            try:
                batch = next(batches, None)
            except Exception as exc:  # a damaged row group further in
                raise UnreadableFile(
                    f"not a readable Parquet file ({type(exc).__name__})"
                ) from None
            if batch is None:
                return
            frame = _as_text(_polars_of(batch))
            yield frame.with_columns(
                pl.int_range(row, row + frame.height, dtype=pl.Int64).alias(ROW)
            )
            row += frame.height


def _polars_of(batch: pa.RecordBatch) -> pl.DataFrame:
    """The batch as a Polars frame; a column of a type Polars cannot hold (decimal256, for
    one, which makes it panic) fails the file, named."""
    try:
        return pl.DataFrame(pl.from_arrow(batch))
    except (Exception, pl.exceptions.PanicException):
        pass
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            pl.from_arrow(column)
        except (Exception, pl.exceptions.PanicException):
            raise UnreadableFile(
                f"column {name!r} holds {column.type}, a type that cannot be read"
            ) from None
    raise UnreadableFile("not a readable Parquet file (its columns cannot be read together)")


def _jsonl_pieces(path: Path, src: TableSource, rejects: list[Reject]) -> Iterator[pl.DataFrame]:
    """The mapped keys of each line's object as text, BATCH_ROWS objects at a time. A line
    that is not a JSON object goes to `rejects`; a mapped key that no line holds fails the
    file, after its last line."""
    scan = _scan(path, src.encoding, None)
    wanted = src.source_columns()
    data: dict[str, list[str | None]] = {c: [] for c in wanted}
    rows: list[int] = []
    seen: set[str] = set()
    objects = held = 0  # held: characters of the batch's lines

    def piece() -> pl.DataFrame:
        batch = {c: pl.Series(c, data[c], dtype=pl.String) for c in wanted}
        frame = pl.DataFrame({**batch, ROW: pl.Series(ROW, rows, dtype=pl.Int64)})
        for values in data.values():
            values.clear()
        rows.clear()
        return frame

    for number, ended in enumerate(_lines(path, scan, clean=False), start=1):
        line = ended.removesuffix("\n").removesuffix("\r")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if not ended.endswith("\n"):  # the last line, and the file does not end there
                raise UnreadableFile(
                    f"the file ends in the middle of line {number}: it looks truncated"
                ) from None
            rejects.append(Reject(number, "(row)", "line is not valid JSON"))
            continue
        if not isinstance(record, dict):
            rejects.append(Reject(number, "(row)", "line is not a JSON object"))
            continue
        rows.append(number)
        objects += 1
        seen.update(record)
        for c in wanted:
            data[c].append(_json_text(record.get(c)))
        held += len(line)
        if len(rows) == BATCH_ROWS or held >= BATCH_CHARS:
            yield piece()
            held = 0
    last = piece()
    if not objects and not rejects:
        raise UnreadableFile("the file is empty")
    _check_columns(sorted(seen), src)
    yield last


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)
