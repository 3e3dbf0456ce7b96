"""Readers: one source file into a frame of text columns, with the rows it could not split.

Every reader returns the mapped source columns as strings plus `__row`, the row a person
finds in the file (CSV and Excel: the header is row 1, so the first record is row 2; JSON
lines and Parquet: the first record is row 1). A file that cannot be read at all raises
UnreadableFile with a reason that never quotes the file's content.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from etl import memfile
from etl.profile import TableSource

if TYPE_CHECKING:
    from etl.xlsx_guard import ExcelLimits

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
    path: Path, src: TableSource, scratch: Path, excel: ExcelLimits | None = None
) -> Source:
    if path.stat().st_size == 0:
        raise UnreadableFile("the file is empty")
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt", ".tsv"}:
        source = _read_csv(path, src, scratch)
    elif suffix in {".xlsx", ".xlsm", ".xls"}:
        source = _read_excel(path, src, excel)
    elif suffix == ".parquet":
        source = _read_parquet(path, src)
    elif suffix in {".jsonl", ".ndjson"}:
        source = _read_jsonl(path, src)
    else:
        raise UnreadableFile(f"unsupported file type {suffix!r} (csv, xlsx, parquet, jsonl)")
    where = f" in sheet {source.sheet!r}" if source.sheet is not None else ""
    return _keep_mapped(source, src, where)


# Invisible characters that exports and copy-paste leave in text: byte-order marks (also in the
# middle of a file, where two exports were joined), zero-width spaces and joiners, direction
# marks and embeddings, and NUL bytes. They would make '4412' and '\ufeff4412' two applications.
INVISIBLE = "[\u0000\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"


def _keep_mapped(source: Source, src: TableSource, where: str = "") -> Source:
    """Checks the mapped columns are there, drops every other column at once, removes
    invisible characters (counted) and holds back header lines repeated inside the file."""
    wanted = src.source_columns()
    missing = [c for c in wanted if c not in source.frame.columns]
    if missing:
        named = ", ".join(
            f"{c!r} (mapped to {', '.join(k for k, v in src.columns.items() if v == c)})"
            for c in missing
        )
        raise UnreadableFile(f"missing column(s) {named}{where}")
    frame = source.frame.select([*wanted, ROW])
    dirty = [pl.col(c).str.contains(INVISIBLE).fill_null(False) for c in wanted]
    cleaned = int(frame.select(pl.sum_horizontal(dirty).sum()).item()) if dirty else 0
    if cleaned:
        frame = frame.with_columns(pl.col(c).str.replace_all(INVISIBLE, "") for c in wanted)
    # A row that repeats the header: two exports joined into one file.
    header = pl.all_horizontal(pl.col(c).str.strip_chars() == c for c in wanted).fill_null(False)
    repeated = frame.filter(header)[ROW].to_list()
    rejects = source.rejects + [
        Reject(r, "(row)", "the header line again (two exports joined into one file?)")
        for r in repeated
    ]
    if repeated:
        frame = frame.filter(~header)
    return Source(frame, sorted(rejects, key=lambda r: r.row), cleaned + source.cleaned)


def _decode(raw: bytes, encoding: str, delimiter: str | None = None) -> str:
    """The file's text; an undecodable byte is reported by its row and column."""
    if encoding == "auto":
        if raw.startswith(BOM):
            try:
                return raw[len(BOM) :].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UnreadableFile(
                    "starts with a UTF-8 byte-order mark but is not valid UTF-8 (undecodable "
                    f"byte in {_place(raw, exc.start + len(BOM), delimiter)})"
                ) from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"neither UTF-8 nor GB18030 (undecodable byte in "
                f"{_place(raw, exc.start, delimiter)})"
            ) from None
    codec = "gb18030" if encoding in {"gbk", "gb2312"} else encoding
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"not valid {encoding} (undecodable byte in {_place(raw, exc.start, delimiter)}); "
            f'set encoding = "auto" or the file\'s real encoding in the profile'
        ) from None


def _place(raw: bytes, offset: int, delimiter: str | None) -> str:
    """'row 7, column 3 (经办人)' for a byte offset: the line as an editor counts it and, in a
    delimited file, the field (counting delimiters on that line, as most rows have no quotes)."""
    start = raw.rfind(b"\n", 0, offset) + 1
    row = raw.count(b"\n", 0, offset) + 1
    if delimiter is None:
        return f"line {row}"
    sep = delimiter.encode()
    index = raw.count(sep, start, offset)
    first = raw.split(b"\n", 1)[0].removeprefix(BOM)
    names: list[str] = []
    for codec in ("utf-8", "gb18030"):
        try:
            names = first.decode(codec).split(delimiter)
            break
        except UnicodeDecodeError:
            continue
    name = f" ({names[index].strip()})" if index < len(names) and row > 1 else ""
    return f"row {row}, column {index + 1}{name}"


def _read_csv(path: Path, src: TableSource, scratch: Path) -> Source:
    raw = path.read_bytes()
    if not raw.strip():
        raise UnreadableFile("the file is empty")
    text = _decode(raw, src.encoding, src.delimiter).removeprefix("\ufeff")
    if "\r" in text and "\n" not in text:
        raise UnreadableFile(
            "lines end with a bare carriage return (old Mac style); save the "
            "file with CRLF or LF line ends"
        )
    stray = len(_BARE_CR.findall(text))
    if stray:
        # A carriage return that ends no line (pasted into a cell) stops DuckDB's parser: it
        # becomes a space, and the value counts as cleaned.
        text = _BARE_CR.sub(" ", text)
    joined = text.count("\n\ufeff")
    if joined:
        # Two exports joined: a byte-order mark before a quoted first field would break the
        # line for DuckDB. Removed here (and counted); BOMs elsewhere go with the other
        # invisible characters (_keep_mapped).
        text = text.replace("\n\ufeff", "\n")
        stray += joined
    try:
        header_line = next(csv.reader(io.StringIO(text), delimiter=src.delimiter), [])
    except csv.Error as exc:
        raise UnreadableFile(f"the header line cannot be split ({exc})") from None
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
    con = duckdb.connect()
    # DuckDB reads UTF-8 only: hand it a UTF-8 copy, in memory (etl/memfile.py).
    decoded = bool(stray) or raw.startswith(BOM) or not _is_utf8(raw)
    target = memfile.register(con, text) if decoded else str(path)
    try:
        # The path, the header's names and the delimiter are values: bound, never SQL text.
        frame = con.sql(
            "SELECT * FROM read_csv($path, auto_detect = false, header = true, "
            "columns = $columns, delim = $delim, quote = '\"', escape = '\"', "
            "strict_mode = true, null_padding = false, store_rejects = true, "
            "max_line_size = 16777216)",
            params={
                "path": str(target),
                "columns": dict.fromkeys(header, "VARCHAR"),
                "delim": src.delimiter,
            },
        ).pl()
        errors = con.execute(
            "SELECT line, any_value(column_name), any_value(error_type), "
            "any_value(error_message) FROM reject_errors GROUP BY line ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        raise UnreadableFile(f"not a readable CSV file ({type(exc).__name__})") from None
    finally:
        con.close()
        memfile.release(target)
    last_line = text.count("\n") + (0 if text.endswith("\n") else 1)
    cut_short = errors and errors[-1][2] in ("MISSING COLUMNS", "UNQUOTED VALUE")
    if cut_short and not raw.endswith((b"\n", b"\r")) and int(errors[-1][0]) >= last_line:
        raise UnreadableFile(f"the file ends in the middle of row {last_line}: it looks truncated")
    rejects = [Reject(int(line), "(row)", _csv_reason(kind, msg)) for line, _, kind, msg in errors]
    total = frame.height + len(rejects)
    rows = pl.int_range(2, total + 2, eager=True, dtype=pl.Int64)
    if "\n\n" in text or "\n\r\n" in text or "\n \n" in text:
        # DuckDB skips blank lines: number records by the lines that hold something.
        lines = pl.Series(text.split("\n")).str.strip_chars()
        rows = (
            pl.int_range(1, lines.len() + 1, eager=True, dtype=pl.Int64)
            .filter(lines != "")
            .slice(1)
        )
    if rejects:
        rows = rows.filter(~rows.is_in([r.row for r in rejects]))
    if rows.len() != frame.height:
        rows = _record_rows(text, src.delimiter, {r.row for r in rejects})
    if rows.len() != frame.height:  # a last resort: number records in order
        rows = pl.int_range(2, frame.height + 2, eager=True, dtype=pl.Int64)
    frame = frame.rename({c: c.strip() for c in frame.columns}).with_columns(rows.alias(ROW))
    _check_unnamed(frame, unnamed)
    return Source(frame.drop(list(unnamed)), rejects, stray)


_BARE_CR = re.compile(r"\r(?!\n)")
_UNNAMED = "__unnamed_column_"


def _check_unnamed(frame: pl.DataFrame, unnamed: dict[str, int]) -> None:
    for name, position in unnamed.items():
        filled = frame.filter(pl.col(name).str.strip_chars() != "")
        if filled.height:
            raise UnreadableFile(
                f"column {position} has no name in the header line but holds values (row "
                f"{int(filled[ROW][0])}); name the column or remove it"
            )


def _record_rows(text: str, delimiter: str, rejected: set[int]) -> pl.Series:
    """Rows of records when a quoted value spans lines: DuckDB counts a record as one row,
    as a spreadsheet shows it, and a blank line as a row too; blank lines hold no record."""
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = [
            number
            for number, record in enumerate(records, start=1)
            if number > 1 and record and number not in rejected
        ]
    except csv.Error:
        rows = []
    return pl.Series(ROW, rows, dtype=pl.Int64)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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


def _read_excel(path: Path, src: TableSource, limits: ExcelLimits | None = None) -> Source:
    import fastexcel

    from etl.xlsx_guard import check_workbook

    check_workbook(path, src, limits)  # sizes and header before a byte of the sheet is unpacked
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
    except Exception as exc:
        raise UnreadableFile(f"sheet {name!r} cannot be read ({type(exc).__name__})") from None
    header = [str(v).strip() for v in first.row(0) if v is not None] if first.height else []
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise UnreadableFile(
            f"duplicate column name(s) {', '.join(map(repr, dupes))} in sheet {name!r}"
        )
    frame = frame.rename({c: str(c).strip() for c in frame.columns})
    frame = frame.with_columns(pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias(ROW))
    empty = pl.all_horizontal(pl.exclude(ROW).is_null() | (pl.exclude(ROW).str.strip_chars() == ""))
    return Source(frame.filter(~empty), sheet=name)  # a blank spreadsheet row is not a record


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


def _read_parquet(path: Path, src: TableSource) -> Source:
    try:
        names = pl.read_parquet_schema(path)
        wanted = [c for c in src.source_columns() if c in names]
        frame = pl.read_parquet(path, columns=wanted)
    except Exception as exc:  # polars raises several error types for damaged files
        raise UnreadableFile(f"not a readable Parquet file ({type(exc).__name__})") from None
    # Unmapped columns were never read; missing mapped ones are reported by _keep_mapped.
    frame = _as_text(frame)
    return Source(frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(ROW)))


def _read_jsonl(path: Path, src: TableSource) -> Source:
    raw = path.read_bytes()
    text = _decode(raw, src.encoding).removeprefix("\ufeff")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    wanted = src.source_columns()
    data: dict[str, list[str | None]] = {c: [] for c in wanted}
    rows: list[int] = []
    rejects: list[Reject] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines) and not text.endswith("\n"):
                raise UnreadableFile(
                    f"the file ends in the middle of line {number}: it looks truncated"
                ) from None
            rejects.append(Reject(number, "(row)", "line is not valid JSON"))
            continue
        if not isinstance(record, dict):
            rejects.append(Reject(number, "(row)", "line is not a JSON object"))
            continue
        rows.append(number)
        seen.update(record)
        for c in wanted:
            data[c].append(_json_text(record.get(c)))
    if not rows and not rejects:
        raise UnreadableFile("the file is empty")
    frame = pl.DataFrame({c: pl.Series(c, data[c], dtype=pl.String) for c in wanted if c in seen})
    return Source(frame.with_columns(pl.Series(ROW, rows, dtype=pl.Int64)), rejects)


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
