"""A workbook is checked before it is read: an .xlsx is a zip archive, and a few megabytes of
it can unpack to gigabytes (a zip bomb, or a sheet a person cannot open either). The fast Excel
reader holds the whole sheet in memory, and even a sheet read a row at a time costs time in
proportion to what it unpacks to, so a workbook beyond the center's limits fails alone, with
its reason, before a byte of its sheet is read. What the check learns (the sheet's part, its
unpacked size, its header's row) tells the reader how to read it (readers._read_excel).

What is checked, cheapest first:

1. the zip central directory (a few KB at the end of the file): the declared unpacked size of
   the workbook and of each part, and how many times each large part is packed
   (`etl.excel_max_uncompressed_mb`, `etl.excel_max_ratio`). Real exports pack 5–25 times; a
   zip bomb about 1,000 times.
2. the sizes the parts really unpack to: each part's packed bytes are unpacked as a stream,
   1 MB at a time, counted and dropped, stopping as soon as a limit is passed. The Excel
   reader unpacks a part to its end whatever the directory declares, so a workbook that
   understates its sizes is caught here; a part that holds more or less than declared is
   refused as damaged. This costs one unpacking of a workbook within the limits (about 0.3 s
   per 100 MB of sheet), never more than the limits of one beyond them.
3. the header row, unpacked as a stream and parsed up to the end of the sheet's first row
   that holds a value (and the shared strings up to the last one it names): a workbook
   without the profile's columns fails with the same reason as after a full read, without
   reading the rest.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import ParseError

import polars as pl

from etl import xlsx
from etl.profile import TableSource
from etl.readers import ROW, Source, UnreadableFile, _keep_mapped

MB = 1024 * 1024
# Parts smaller than this cannot hurt whatever they unpack to; tiny parts also pack oddly.
RATIO_FROM_BYTES = 1 * MB
CHUNK = 1 * MB  # what the size count unpacks at a time


@dataclass(frozen=True)
class ExcelLimits:
    max_uncompressed_mb: float = 2048.0
    max_ratio: float = 100.0
    # A sheet whose XML unpacks to at most this is read whole (fastexcel: fast, holding about
    # three times as much); a larger one a row at a time (etl/xlsx.py: memory bounded by a
    # batch of rows, about 2.5 times slower).
    whole_sheet_mb: float = 100.0


@dataclass(frozen=True)
class CheckedSheet:
    """What the check learnt of the sheet to be read: its title and zip member, the bytes its
    XML unpacks to, and the row its header is on (the first row that holds a value)."""

    title: str
    part: str
    unpacked: int
    header_row: int | None


def check_workbook(
    path: Path, src: TableSource, limits: ExcelLimits | None = None
) -> CheckedSheet | None:
    """Raises UnreadableFile when the workbook is beyond the limits or lacks mapped columns.
    Files that are not zip archives (old .xls) are left to the reader (None), and so is a
    sheet the workbook lacks."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as book:
            sizes = _check_sizes(path, book.infolist(), limits or ExcelLimits())
            found = xlsx.sheet_part(book, src.sheet)
            if found is None:
                return None  # no such sheet: the reader names the problem
            title, sheet = found  # a member of the archive: its size was counted
            header_row, header = _header(book, sheet)
    except (
        zipfile.BadZipFile,
        zlib.error,
        ParseError,
        KeyError,
        EOFError,
        OSError,
        ValueError,
    ) as exc:
        raise UnreadableFile(f"not a readable Excel workbook ({type(exc).__name__})") from None
    if header is not None:
        # The same check and reason as after a full read (readers._keep_mapped).
        frame = pl.DataFrame(schema={**dict.fromkeys(header, pl.String), ROW: pl.Int64})
        _keep_mapped(Source(frame), src, f" in sheet {title!r}")
    return CheckedSheet(title, sheet, sizes[sheet], header_row)


def _check_sizes(path: Path, parts: list[zipfile.ZipInfo], limits: ExcelLimits) -> dict[str, int]:
    """First the sizes the zip directory declares, then the sizes the parts really unpack to,
    counted as they stream by and never kept, stopping as soon as a limit is passed. Returns
    each part's real size."""
    _judge([(p.filename, p.compress_size, p.file_size) for p in parts], limits, at_least=False)
    budget = limits.max_uncompressed_mb * MB
    real: list[tuple[str, int, int]] = []
    with open(path, "rb") as fh:
        for part in parts:
            left = budget - sum(size for *_, size in real)
            stop = min(left, max(RATIO_FROM_BYTES, part.compress_size * limits.max_ratio)) + 1
            size, complete = _unpacked(fh, part, int(stop))
            real.append((part.filename, part.compress_size, size))
            if not complete:
                _judge(real, limits, at_least=True)
            elif size != part.file_size:
                raise UnreadableFile(
                    f"the workbook's table of contents does not match its content "
                    f"({part.filename} is declared as {part.file_size:,} bytes but holds "
                    f"{size:,}): the file is damaged or was built to mislead, so it is not read"
                )
    return {name: size for name, _, size in real}


def _judge(parts: list[tuple[str, int, int]], limits: ExcelLimits, at_least: bool) -> None:
    """Raises when a part (name, packed, unpacked bytes) is packed beyond the ratio limit or
    all together unpack beyond the size limit."""
    more = "more than " if at_least else ""
    for name, packed, size in parts:
        ratio = size / max(packed, 1)
        if size >= RATIO_FROM_BYTES and ratio > limits.max_ratio:
            raise UnreadableFile(
                f"{name} is packed {more}{ratio:,.0f} times smaller than its content "
                f"({_mb(packed)} unpacking to {more}{_mb(size)}); "
                f"real exports pack at most about 25 times, and the limit is "
                f"{limits.max_ratio:,.0f} (etl.excel_max_ratio): this is not a plain export, "
                "so it is not read"
            )
    total = sum(size for *_, size in parts)
    if total > limits.max_uncompressed_mb * MB:
        name, _, largest = max(parts, key=lambda p: p[2])
        allowed = _mb(limits.max_uncompressed_mb * MB)
        amount = (
            f"more than the {allowed} allowed for a workbook (unpacking stopped there; "
            f"{name} alone more than {_mb(largest)})"
            if at_least
            else f"{_mb(total)} ({name} alone {_mb(largest)}), more than the {allowed} allowed "
            "for a workbook"
        )
        raise UnreadableFile(
            f"the workbook unpacks to {amount} (etl.excel_max_uncompressed_mb); export it as "
            "CSV, or split it into smaller workbooks"
        )


def _unpacked(fh: IO[bytes], part: zipfile.ZipInfo, stop: int) -> tuple[int, bool]:
    """How many bytes the part's packed data really unpacks to, whatever its declared size:
    (count, True), or (at least `stop`, False) once that many have streamed by."""
    fh.seek(part.header_offset)
    local = fh.read(30)
    if local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad local header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    fh.seek(part.header_offset + 30 + name_len + extra_len)
    if part.compress_type == zipfile.ZIP_STORED:
        return part.compress_size, True
    if part.compress_type != zipfile.ZIP_DEFLATED:
        raise UnreadableFile(
            f"{part.filename} is packed with a method Excel does not use "
            f"(zip method {part.compress_type}), so it is not read"
        )
    inflater = zlib.decompressobj(-15)
    left, count = part.compress_size, 0
    while left > 0 or inflater.unconsumed_tail:
        if count >= stop:
            return count, False
        if inflater.unconsumed_tail:
            packed = inflater.unconsumed_tail
        else:
            packed = fh.read(min(left, CHUNK))
            if not packed:
                raise EOFError("the workbook ends inside one of its parts")
            left -= len(packed)
        count += len(inflater.decompress(packed, CHUNK))  # at most CHUNK bytes held at once
    count += len(inflater.flush())
    return count, count < stop


def _mb(size: float) -> str:
    mb = size / MB
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:,.1f} MB"


def _header(book: zipfile.ZipFile, sheet: str) -> tuple[int | None, list[str] | None]:
    """The sheet's first row that holds a value: its number, and its texts, unpacking no
    further. The texts are None when a header cell is not plain text (a number, a formula):
    then only a full read can tell the column names as the reader sees them."""
    cells: list[tuple[str | None, str | None]] = []  # (type, value)
    number: int | None = None
    row = 0
    with book.open(sheet) as fh:
        in_row = False
        for event, elem in xlsx.elements(fh, {f"{xlsx.MAIN}row", f"{xlsx.MAIN}c"}):
            if elem.tag == f"{xlsx.MAIN}row":
                if event == "start":
                    in_row = True
                    given = elem.get("r")
                    row = int(given) if given else row + 1
                    continue
                if cells:
                    number = row
                    break
                in_row = False
                elem.clear()
            elif event == "end" and in_row:
                kind = elem.get("t")
                item = elem.find(f"{xlsx.MAIN}is")
                value = (
                    (xlsx.string_text(item) if item is not None else None)
                    if kind == "inlineStr"
                    else elem.findtext(f"{xlsx.MAIN}v")
                )
                if value not in (None, ""):
                    cells.append((kind, value))
    if not cells or any(kind not in ("s", "str", "inlineStr") for kind, _ in cells):
        return number, None
    wanted = {int(v) for kind, v in cells if kind == "s" and v is not None}
    shared = xlsx.shared_strings(book, wanted)
    header = [shared.get(int(v or 0), "") if kind == "s" else v or "" for kind, v in cells]
    return number, [h.strip() for h in header]
