"""The parts of an .xlsx workbook read as streams: which part holds a sheet, its shared strings,
its cells' number formats, and its rows one at a time.

An .xlsx file is a zip archive of XML parts. The Excel reader (fastexcel, on the Rust library
calamine) unpacks a sheet whole and holds every cell; a sheet too large for that is read here a
row at a time instead, each part unpacked as a stream, so what is held is one batch of rows
(readers.BATCH_ROWS), the shared strings and the formats, whatever the sheet's size.

Both readers must give a person the same records, so each cell's text here is the one
fastexcel gives for a column read as text (`dtypes="string"`), rule for rule after calamine's
(`xlsx/cells_reader.rs`, `datatype.rs`, `formats.rs`) and fastexcel's (`extract_string`):

- a shared or inline string: its runs joined, phonetic runs (`rPh`) left out, ASCII white
  space trimmed unless `xml:space="preserve"`, Excel's `_x00HH_` escapes undone;
  a formula's text result (`t="str"`) and an ISO date (`t="d"`) as written;
- a boolean: `true` or `false`; an error (`#N/A`, …): no value;
- a number: under a date or time format (built-in formats 14–22, 45–47, or a custom format
  whose first section names days, months, years, hours or seconds), the instant counted in
  milliseconds from 1899-12-30 (with Excel's 1900 leap-year bug, and the 1904 date system where
  the workbook uses it), written `YYYY-MM-DD hh:mm:ss[.mmm]`; any other number with nine
  decimals, trailing zeros cut (`2.5`, `12`, `440106199001011328` for an ID number typed as a
  number: Excel keeps 15–17 digits of it, as a double).

A column's name is calamine's `as_string` of its header cell (a text; a number in its
shortest form; a date, boolean or error cell names no column), and parts are found whatever
the case of their names, as calamine finds them.

Where the two still differ (a review built a workbook for each of some forty cases), the row
reader is the lenient one or the XML is not what any spreadsheet program writes: an error
code newer than Excel 2010's seven (`#SPILL!`, `#CALC!`) or an Excel 4 macro sheet elsewhere
in the workbook makes calamine refuse the whole workbook, where here the cell has no value; a
cell whose `r` names another row than its `<row>`, rows out of order or repeated, references
such as `$B$2`, an `<is>` without `t="inlineStr"`, entities inside a number, parts without
the main namespace, and dates beyond the years 1-9999. A workbook in Excel's rarely used
"Strict Open XML" form names its parts in another namespace; the check before reading does
not find its sheet, and it is read whole.
"""

from __future__ import annotations

import math
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import IO
from xml.etree.ElementTree import Element, XMLParser, iterparse

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_ROW, _C, _V, _IS, _T, _R, _RPH = (MAIN + t for t in ("row", "c", "v", "is", "t", "r", "rPh"))
CHUNK = 64 * 1024  # of a sheet's XML fed to the parser at once (its rows are held till read)
_PRESERVE = "{http://www.w3.org/XML/1998/namespace}space"


class SheetError(ValueError):
    """The sheet's XML holds what no spreadsheet program writes (calamine refuses it too)."""


def elements(stream: IO[bytes], tags: set[str]) -> Iterator[tuple[str, Element]]:
    """(event, element) for start and end of the given tags, as the stream unpacks."""
    for event, elem in iterparse(stream, events=("start", "end")):
        if elem.tag in tags:
            yield event, elem


def member(book: zipfile.ZipFile, name: str) -> str:
    """The archive's name for a part: as given, or differing only in case (`xl/Styles.xml`),
    as calamine finds parts; KeyError when there is none."""
    names = book.namelist()
    if name in names:
        return name
    lowered = name.lower()
    for found in names:
        if found.lower() == lowered:
            return found
    raise KeyError(name)


def sheet_part(book: zipfile.ZipFile, sheet: str | int | None) -> tuple[str, str] | None:
    """The name and zip member of the profile's sheet (a name, or a 0-based index, default
    the first)."""
    with book.open(member(book, "xl/workbook.xml")) as fh:
        sheets = [
            (e.get("name"), e.get(f"{REL}id"))
            for ev, e in elements(fh, {f"{MAIN}sheet"})
            if ev == "end"
        ]
    if isinstance(sheet, str):
        found: tuple[str | None, str | None] | None = next(
            ((name, rid) for name, rid in sheets if name == sheet), None
        )
    else:
        index = sheet or 0
        found = sheets[index] if 0 <= index < len(sheets) else None
    if found is None or found[1] is None:
        return None
    title, chosen = found
    with book.open(member(book, "xl/_rels/workbook.xml.rels")) as fh:
        for ev, rel in elements(fh, {f"{PKG_REL}Relationship"}):
            if ev == "end" and rel.get("Id") == chosen:
                target = rel.get("Target") or ""
                part = (
                    target.lstrip("/")
                    if target.startswith("/")
                    else posixpath.normpath(posixpath.join("xl", target))
                )
                try:
                    return str(title), member(book, part)
                except KeyError:
                    return None
    return None


_ESCAPE = re.compile(r"_x00([0-9A-Fa-f]{2})_")


def string_text(item: Element) -> str:
    """The text of a shared string (`si`) or an inline one (`is`): its runs joined, phonetic
    runs left out; each run trimmed of ASCII white space unless it preserves it, and Excel's
    `_x00HH_` escapes undone (a line break is written `_x000D_`)."""
    parts = []
    for run in item:
        if run.tag == _T:
            parts.append(_run_text(run))
        elif run.tag == _R:
            parts.extend(_run_text(t) for t in run if t.tag == _T)
    return "".join(parts)


def _run_text(t: Element) -> str:
    return _trimmed(t.text or "", t.get(_PRESERVE) == "preserve")


def _trimmed(text: str, preserve: bool) -> str:
    """A run's text: ASCII white space trimmed unless preserved, `_x00HH_` escapes undone."""
    if not preserve:
        text = text.strip(" \t\r\n")
    return _ESCAPE.sub(lambda m: chr(int(m[1], 16)), text) if "_x00" in text else text


def shared_strings(book: zipfile.ZipFile, wanted: set[int] | None = None) -> dict[int, str]:
    """The workbook's shared strings by index: all of them, or only the `wanted` ones, the
    table unpacked only up to the last of them."""
    if wanted is not None and not wanted:
        return {}
    try:
        fh = book.open(member(book, "xl/sharedStrings.xml"))
    except KeyError:
        return {}
    found: dict[int, str] = {}
    last = max(wanted) if wanted else None
    with fh:
        index = 0
        for event, item in elements(fh, {f"{MAIN}si"}):
            if event != "end":
                continue
            if wanted is None or index in wanted:
                found[index] = string_text(item)
            item.clear()
            index += 1
            if last is not None and index > last:
                break
    return found


DATE, DELTA, NUMBER = "date", "delta", "number"
_BUILTIN = {**dict.fromkeys([*map(str, range(14, 23)), "45", "47"], DATE), "46": DELTA}


def number_format(code: str) -> str:
    """Whether a custom number format shows a date or time (DATE), a duration such as
    `[h]:mm` (DELTA) or a plain number (NUMBER): calamine's reading of its first section."""
    escaped = quoted = ampm = hms = False
    brackets = 0
    prev = " "
    for s in code:
        if escaped:
            escaped = False
        elif s in "_\\*":
            escaped = True
        elif quoted:
            quoted = s != '"'
        elif s == '"':
            quoted = True
        elif s == ";":
            return NUMBER
        elif s == "[":
            brackets += 1
        elif s == "]" and brackets == 1 and hms:
            return DELTA
        elif s == "]":
            brackets = max(brackets - 1, 0)
        elif s in "aA" and not ampm and brackets == 0:
            ampm = True
        elif brackets == 0 and (s in "pm/PM" if ampm else s in "dmhysDMHYS"):
            return DATE
        elif not (hms and s.lower() == prev.lower()):
            hms = prev == "[" and s in "mhsMHS"
        prev = s
    return NUMBER


def cell_formats(book: zipfile.ZipFile) -> list[str]:
    """Each cell style's kind (DATE, DELTA, NUMBER), by its index in `cellXfs`."""
    try:
        fh = book.open(member(book, "xl/styles.xml"))
    except KeyError:
        return []
    custom: dict[str, str] = {}
    kinds: list[str] = []
    in_xfs = False
    with fh:
        for event, elem in elements(fh, {f"{MAIN}numFmt", f"{MAIN}cellXfs", f"{MAIN}xf"}):
            if elem.tag == f"{MAIN}cellXfs":
                in_xfs = event == "start"
            elif event == "start" and elem.tag == f"{MAIN}xf" and in_xfs:
                fmt = elem.get("numFmtId")
                kinds.append(
                    NUMBER
                    if fmt is None
                    else number_format(custom[fmt])
                    if fmt in custom
                    else _BUILTIN.get(fmt, NUMBER)
                )
            elif event == "end" and elem.tag == f"{MAIN}numFmt":
                fmt, code = elem.get("numFmtId"), elem.get("formatCode")
                if fmt is not None and code is not None:
                    custom[fmt] = code
    return kinds


def uses_1904(book: zipfile.ZipFile) -> bool:
    with book.open(member(book, "xl/workbook.xml")) as fh:
        for event, elem in elements(fh, {f"{MAIN}workbookPr"}):
            if event == "start":
                return elem.get("date1904") in ("1", "true")
    return False


_EPOCH = datetime(1899, 12, 30)
# What calamine's number parser (fast_float) takes: ASCII digits only.
_NUMBER = re.compile(
    r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.I | re.ASCII
)
# White space as Rust (and Polars' strip_chars) knows it: Python's str.strip() also takes the
# separators U+001C-U+001F.
WHITE_SPACE = "".join(
    c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x1c\x1d\x1e\x1f"
)


def excel_instant(serial: float, is_1904: bool) -> str | None:
    """A date cell's text, as calamine and chrono write it (None beyond the years 1–9999, and
    for an infinite serial; NaN counts as 0 ms, as Rust's cast of NaN to an integer does)."""
    if math.isinf(serial):
        return None
    days = serial + 1462.0 if is_1904 else serial
    if days < 60.0:
        days += 1.0  # Excel counts a 29 February 1900 that never was
    ms = 0.0 if math.isnan(days) else days * 86_400_000.0
    whole = int(ms + 0.5) if ms >= 0 else -int(-ms + 0.5)  # Rust's round: half away from 0
    try:
        instant = _EPOCH + timedelta(milliseconds=whole)
    except OverflowError:
        return None
    text = instant.replace(microsecond=0).isoformat(" ")
    return f"{text}.{instant.microsecond // 1000:03d}" if instant.microsecond else text


def number_text(value: float) -> str:
    """fastexcel's text of a number: nine decimals, trailing zeros and point cut (Rust's
    `{:.9}`, which writes NaN and inf so)."""
    if math.isnan(value):
        return "NaN"
    return f"{value:.9f}".rstrip("0").rstrip(".")


def number_name(value: float) -> str:
    """A number as a column name: calamine's `as_string`, Rust's shortest form of the double,
    never in exponent notation (`0.30000000000000004`, `100000000000000000000`, `-0`)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class Sheet:
    """A sheet's rows one at a time, each cell's text as fastexcel gives it (module docstring).

    `rows()` yields (row number, {column index: text}) for every `<row>` element, a row's
    cells that hold a value (a cell present with no text, an error, maps to None). The XML is
    parsed with a parser target that keeps only the row being read: no element tree is built
    (a quarter less CPU than iterparse, which builds one and must be pruned)."""

    def __init__(self, book: zipfile.ZipFile, part: str) -> None:
        self._book = book
        self._part = part
        self._strings = shared_strings(book)
        self._formats = cell_formats(book)
        self._is_1904 = uses_1904(book)

    def rows(self) -> Iterator[tuple[int, dict[int, str | None]]]:
        """Also sets `header_names` once the first row holding a value was read."""
        target = _RowTarget(self._value, self._name)
        self._target = target
        parser = XMLParser(target=target)
        with self._book.open(self._part) as fh:
            while chunk := fh.read(CHUNK):
                parser.feed(chunk)
                yield from target.done
                target.done.clear()
            parser.close()
        yield from target.done

    @property
    def header_names(self) -> dict[int, str | None]:
        """The column names the whole read gives the first row that holds a value: calamine's
        `as_string` of each cell (a text; a number in its shortest form; a date, a boolean or
        an error none)."""
        return self._target.header_names

    def _name(self, raw: str, kind: str | None, style: str | None) -> str | None:
        if kind in ("s", "str"):
            text = self._value(raw, kind, style)[1]
        elif kind not in (None, "n"):
            return None
        elif not _NUMBER.fullmatch(raw):
            text = raw
        elif self._format(style) != NUMBER:
            return None
        else:
            text = number_name(float(raw))
        return text

    def _format(self, style: str | None) -> str:
        if style is None:
            return NUMBER
        index = int(style) if style.isascii() and style.isdigit() else 0
        return self._formats[index] if index < len(self._formats) else NUMBER

    def _value(self, raw: str, kind: str | None, style: str | None) -> tuple[bool, str | None]:
        """Whether a `<v>` cell holds a value (calamine's Empty does not), and its text."""
        if raw == "" and kind in (None, "n", "s", "b", "e"):
            return False, None
        if kind == "s":
            try:
                return True, self._strings[int(raw)]
            except (KeyError, ValueError):
                raise SheetError("a cell names a shared string the workbook lacks") from None
        if kind == "str" or kind == "d":
            return True, raw
        if kind == "b":
            return True, "false" if raw == "0" else "true"
        if kind == "e":
            return True, None
        if kind not in (None, "n"):
            raise SheetError(f"a cell of unknown type {kind!r}")
        if not _NUMBER.fullmatch(raw):
            if kind is None:
                return True, raw
            raise SheetError("a number cell holds no number")
        value = float(raw)
        if self._format(style) == NUMBER:
            return True, number_text(value)
        return True, excel_instant(value, self._is_1904)


class _RowTarget:
    """The expat parser's target for a sheet: a row's cells as they are parsed, each finished
    row appended to `done` (row number, {column: text})."""

    def __init__(
        self,
        value: Callable[[str, str | None, str | None], tuple[bool, str | None]],
        name: Callable[[str, str | None, str | None], str | None],
    ) -> None:
        self.value = value
        self.name = name
        self.names: dict[int, str | None] | None = {}  # until the header row is read
        self.header_names: dict[int, str | None] = {}
        self.done: list[tuple[int, dict[int, str | None]]] = []
        self.number = 0  # the row being read
        self.cells: dict[int, str | None] = {}
        self.col = -1
        self.cell: dict[str, str] = {}  # the cell's attributes
        self.text: list[str] | None = None  # the text of a <v> or <t> being read
        self.v: str | None = None
        self.runs: list[str] | None = None  # an inline string's runs
        self.preserve = False
        self.phonetic = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if tag == _C:
            self.cell, self.v, self.runs = attrib, None, None
        elif tag == _V:
            self.text = []
        elif tag == _T:
            if self.runs is not None and not self.phonetic:
                self.text, self.preserve = [], attrib.get(_PRESERVE) == "preserve"
        elif tag == _IS:
            self.runs = []
        elif tag == _RPH:
            self.phonetic += 1
        elif tag == _ROW:
            given = attrib.get("r")
            self.number = int(given) if given else self.number + 1
            self.cells, self.col = {}, -1

    def data(self, text: str) -> None:
        if self.text is not None:
            self.text.append(text)

    def end(self, tag: str) -> None:
        if tag == _V:
            self.v = "".join(self.text or ())
            self.text = None
        elif tag == _T:
            if self.text is not None and self.runs is not None:
                self.runs.append(_trimmed("".join(self.text), self.preserve))
            self.text = None
        elif tag == _RPH:
            self.phonetic -= 1
        elif tag == _C:
            ref = self.cell.get("r")
            self.col = _column(ref) if ref else self.col + 1
            kind = self.cell.get("t")
            if kind == "inlineStr":
                if self.runs is not None:
                    self.cells[self.col] = "".join(self.runs)
                    if self.names is not None:
                        self.names[self.col] = self.cells[self.col]  # a text is its name
            elif self.v is not None:
                present, text = self.value(self.v, kind, self.cell.get("s"))
                if present:
                    self.cells[self.col] = text
                    if self.names is not None:
                        self.names[self.col] = self.name(self.v, kind, self.cell.get("s"))
            self.runs = None
        elif tag == _ROW:
            if self.names is not None:
                if self.cells:  # the header: the first row that holds a value
                    self.header_names, self.names = self.names, None
                else:
                    self.names.clear()
            self.done.append((self.number, self.cells))

    def close(self) -> None:
        pass


def _column(ref: str) -> int:
    """0-based column of a reference such as 'AB12'."""
    col = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            col = col * 26 + ord(ch) - 64
        elif "a" <= ch <= "z":
            col = col * 26 + ord(ch) - 96
        else:
            break
    return col - 1
