"""A sheet too large to be held whole is read a row at a time (etl/xlsx.py), and gives the very
texts, rows and refusals the whole-sheet reader (fastexcel) gives: every kind of cell a real
export holds, compared between the two on the same workbook."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from etl import readers, xlsx
from etl.profile import TableSource
from etl.readers import UnreadableFile
from etl.xlsx_guard import ExcelLimits, check_workbook

WHOLE = ExcelLimits(whole_sheet_mb=1e6)
ROWWISE = ExcelLimits(whole_sheet_mb=0)
HEADER = ["办件编号", "数字", "时间", "格式", "布尔", "公式", "备注"]


def _write_kinds(path: Path, *, constant_memory: bool = False, date_1904: bool = False) -> None:
    """One workbook with every kind of cell the module docstring names, in the mapped
    columns and beside them, after two empty rows (the header is on row 3)."""
    book = xlsxwriter.Workbook(
        str(path), {"constant_memory": constant_memory, "date_1904": date_1904}
    )
    book.add_worksheet("封面").write(0, 0, "another sheet first")
    sheet = book.add_worksheet("办件")
    formats = {
        "stamp": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "cjk": book.add_format({"num_format": "yyyy年m月d日"}),
        "b14": book.add_format({"num_format": 14}),
        "b22": book.add_format({"num_format": 22}),
        "b31": book.add_format({"num_format": 31}),  # a CJK built-in calamine reads as number
        "hours": book.add_format({"num_format": "[h]:mm"}),
        "ampm": book.add_format({"num_format": "h:mm AM/PM"}),
        "ms": book.add_format({"num_format": "mm:ss.0"}),
        "percent": book.add_format({"num_format": "0.00%"}),
        "text": book.add_format({"num_format": "@"}),
        "quoted": book.add_format({"num_format": '0" days"'}),
        "colour": book.add_format({"num_format": "[Red]0.00"}),
        "fill": book.add_format({"bg_color": "#FFFF00"}),
    }
    sheet.write_row(2, 0, HEADER)
    stamp = dt.datetime(2024, 3, 5, 9, 30, 15, 250000)
    rows: list[tuple[object, object, object, str | None]] = [
        ("A-1", 12, stamp, "stamp"),
        ("  A-2  ", 2.5, stamp, "cjk"),
        ("A-3\n续", 1 / 3, dt.datetime(2024, 2, 29), "b14"),
        ("A\r4", 1e20, 45358.75, "b22"),  # written _x000D_
        ("", -0.0, 45358.5, "b31"),
        ("A-6", 440106199001011234, 1.75, "hours"),
        ("A-7", 0.1 + 0.2, 0.5, "ampm"),
        ("A-8", 123456789.123456789, 0.00001157, "ms"),
        ("A-9", 7, 0.25, "percent"),
        ("A-10", 8, 45000, "text"),
        ("A-11", 9, 45000, "quoted"),
        ("A-12", 10, 45000, "colour"),
        ("A-13", 11, 30.5, "stamp"),  # before 1 March 1900: Excel's leap-year bug
    ]
    formulas = {  # written row by row: constant_memory mode writes each row once
        3: ("=B4*2", 24),
        4: ('="文本"&"结果"', "文本结果"),
        5: ("=1/0", "#DIV/0!"),
        6: ("=NA()", "#N/A"),
    }
    r = 3
    for key, number, when, fmt in rows:
        sheet.write(r, 0, key)
        sheet.write_number(r, 1, number)  # type: ignore[arg-type]
        if isinstance(when, dt.datetime):
            sheet.write_datetime(r, 2, when, formats[fmt or "stamp"])
        else:
            sheet.write_number(r, 2, when, formats[fmt] if fmt else None)  # type: ignore[arg-type]
        sheet.write_string(r, 3, fmt or "")
        sheet.write_boolean(r, 4, r % 2 == 0)
        if r in formulas:
            sheet.write_formula(r, 5, formulas[r][0], None, formulas[r][1])
        if r == 7:
            sheet.write_string(r, 6, "literally _x000D_")  # escaped as _x005F_x000D_
        r += 1
    r += 1  # a blank row in the middle
    sheet.write_row(r, 0, ["B-1", "not a number", "2024-03-05 10:00", "text", "TRUE"])
    sheet.write(r + 1, 6, "备注 only")  # a record holding an unmapped column alone
    sheet.write_row(r + 2, 0, HEADER)  # the header again: two exports joined
    sheet.write_row(r + 3, 0, ["B-2", "\u200b5", "", "", ""])  # an invisible character
    sheet.write_blank(r + 5, 0, None, formats["fill"])  # a coloured but empty row at the end
    book.close()


def _source(sheet: str = "办件") -> TableSource:
    return TableSource(files="*", sheet=sheet, columns={f"f{i}": c for i, c in enumerate(HEADER)})


def _read(path: Path, limits: ExcelLimits, src: TableSource | None = None) -> dict[str, object]:
    stream = readers.read_source(path, src or _source(), path.parent, excel=limits)
    frame = pl.concat(list(stream))
    return {
        "values": frame.drop(readers.K)
        .rename(lambda c: f"f{HEADER.index(c)}" if c in HEADER else c)
        .to_dicts(),
        "rows": stream.rows.to_list(),
        "rejects": stream.rejects,
        "cleaned": stream.cleaned,
        "sheet": stream.sheet,
        "records": stream.records,
    }


@pytest.mark.parametrize(
    "options",
    [{}, {"constant_memory": True}, {"date_1904": True}],
    ids=["shared strings", "inline strings", "1904 dates"],
)
def test_a_sheet_read_a_row_at_a_time_gives_the_whole_reads_texts_and_rows(
    tmp_path: Path, options: dict[str, bool]
) -> None:
    path = tmp_path / "kinds.xlsx"
    _write_kinds(path, **options)
    whole, rowwise = _read(path, WHOLE), _read(path, ROWWISE)
    assert rowwise == whole
    values = whole["values"]
    assert isinstance(values, list) and len(values) == 16
    # The header is on row 3: the first record is row 4, a person's row (also in the whole read).
    assert whole["rows"][:2] == [4, 5]  # type: ignore[index]
    first = values[0]
    assert first["f2"] == "2024-03-05 09:30:15.250" and first["f1"] == "12"
    assert first["f5"] == "24" and first["f4"] == "false"
    assert [v["f0"] for v in values][:4] == ["A-1", "  A-2  ", "A-3\n续", "A\r4"]
    assert values[4]["f6"] == "literally _x000D_"


def test_the_texts_follow_calamines_rules(tmp_path: Path) -> None:
    """Hand-computed texts for the cells whose rules differ most from Python's own."""
    path = tmp_path / "kinds.xlsx"
    _write_kinds(path)
    values = _read(path, ROWWISE)["values"]
    assert isinstance(values, list)
    by_key = {v["f0"]: v for v in values}
    # An ID number typed as a number: the file holds 16 digits (4.401061990010113E+17), as
    # Excel writes it, and a double reads that back.
    assert by_key["A-6"]["f1"] == "440106199001011328"
    assert by_key["A-8"]["f1"] == "123456789.123456806"  # 123456789.1234568 to nine decimals
    assert by_key["A-6"]["f2"] == "1900-01-01 18:00:00"  # [h]:mm: calamine gives an instant
    assert by_key["A-7"]["f2"] == "1899-12-31 12:00:00"  # a time alone, before day 60: +1 day
    assert by_key["A-8"]["f2"] == "1899-12-31 00:00:01"  # mm:ss.0, rounded to milliseconds
    assert by_key["A-9"]["f2"] == "0.25"  # a percentage is a number
    assert by_key["A-10"]["f2"] == "45000"  # '@' on a number: still the number
    assert by_key["A-13"]["f2"] == "1900-01-30 12:00:00"  # as Excel shows serial 30.5
    assert by_key["  A-2  "]["f5"] == "文本结果"  # a formula's text result
    assert by_key["A-3\n续"]["f5"] is None and by_key["A\r4"]["f5"] is None  # errors: no value
    cjk = next(v for v in values if v["f3"] == "b31")  # the record without a key
    assert cjk["f2"] == "45358.5" and cjk["f1"] in ("0", "-0")  # built-in 31: a number


def test_number_formats_read_as_calamine_reads_them() -> None:
    for code, kind in [
        ("yyyy-mm-dd", xlsx.DATE),
        ("yyyy年m月d日", xlsx.DATE),
        ("[h]:mm:ss", xlsx.DELTA),
        ("[mm]:ss", xlsx.DELTA),
        ("h:mm AM/PM", xlsx.DATE),
        ("0.00%", xlsx.NUMBER),
        ('0" days"', xlsx.NUMBER),  # 'd' inside quotes is text
        ("[Red]0.00", xlsx.NUMBER),
        ("#,##0;[Red]-#,##0;d", xlsx.NUMBER),  # only the first section counts
        ("\\d0", xlsx.NUMBER),  # an escaped letter is text
        ("General", xlsx.NUMBER),
        ("@", xlsx.NUMBER),
    ]:
        assert xlsx.number_format(code) == kind, code


def test_a_large_sheets_refusals_are_the_whole_reads(tmp_path: Path) -> None:
    """Missing and duplicate columns, and a sheet the workbook lacks, fail the same way."""
    path = tmp_path / "dupes.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("办件").write_row(0, 0, ["办件编号", "数字", " 数字 "])
    book.close()
    for limits in (WHOLE, ROWWISE):
        with pytest.raises(UnreadableFile, match="duplicate column name\\(s\\) '数字'"):
            _read(path, limits, TableSource(files="*", columns={"a": "办件编号", "b": "数字"}))
        with pytest.raises(UnreadableFile, match="missing column\\(s\\) '时间'"):
            _read(path, limits, TableSource(files="*", columns={"a": "办件编号", "b": "时间"}))
        with pytest.raises(UnreadableFile, match="no sheet '别的'"):
            _read(path, limits, TableSource(files="*", sheet="别的", columns={"a": "办件编号"}))
    empty = tmp_path / "empty.xlsx"
    book = xlsxwriter.Workbook(str(empty))
    book.add_worksheet("办件")
    book.close()
    messages = []
    for limits in (WHOLE, ROWWISE):
        with pytest.raises(UnreadableFile) as caught:
            _read(empty, limits, TableSource(files="*", columns={"a": "办件编号"}))
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "missing column(s) '办件编号'" in messages[0]


def test_a_large_sheet_is_read_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the row-at-a-time reader holds does not grow with the sheet: 20,000 rows (about
    13 MB of XML) in batches of 1,000 allocate a small fraction of that at their peak
    (tracemalloc counts the XML tree's elements and every Python text). benchmarks/excel_read.py
    measures the whole process against the whole read."""
    import tracemalloc
    import zipfile

    path = tmp_path / "large.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("办件")
    sheet.write_row(0, 0, [f"列{i}" for i in range(12)])
    for r in range(1, 20_001):
        sheet.write_row(r, 0, [f"APP-{r:07d}", r * 0.5, *(f"值{r % 97}-{c}" for c in range(10))])
    book.close()
    with zipfile.ZipFile(path) as z:
        xml_bytes = z.getinfo("xl/worksheets/sheet1.xml").file_size
    assert xml_bytes > 8_000_000
    monkeypatch.setattr(readers, "BATCH_ROWS", 1000)
    src = TableSource(files="*", columns={"a": "列0", "b": "列1", "c": "列11"})
    checked = check_workbook(path, src, ROWWISE)  # the size check unpacks 1 MB at a time
    assert checked is not None
    tracemalloc.start()
    try:
        last, heights = 0, []
        for piece in readers._excel_pieces(path, checked, src):
            heights.append(piece.height)
            last = piece[readers.ROW][-1]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(heights) == 20_000 and max(heights) == 1000 and last == 20_001
    assert peak < xml_bytes / 10, (peak, xml_bytes)


def _hand_built(path: Path, rows: str, styles: str, styles_part: str = "xl/styles.xml") -> Path:
    """A workbook written part by part, for cells no spreadsheet library writes: one sheet
    'S' with the given `<row>` elements, the given `<cellXfs>` entries (in `styles_part`)."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    written = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/officeDocument"'
            ' Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/worksheet"'
            ' Target="worksheets/sheet1.xml"/><Relationship Id="rId3" Type="{rel}/styles"'
            ' Target="styles.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{main}"><sheetData>{rows}</sheetData></worksheet>'
        ),
        styles_part: f'<styleSheet xmlns="{main}"><cellXfs>{styles}</cellXfs></styleSheet>',
    }
    with zipfile.ZipFile(path, "w") as book:
        for name, text in written.items():
            book.writestr(name, text)
    return path


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_hand_built_cells_read_alike(tmp_path: Path) -> None:
    """Column names as calamine gives them (a date or boolean header cell names no column; a
    number its shortest form), NaN and infinity under a date format, a row of separators
    only, two header cells of white space, and a styles part named in other case."""
    styles = '<xf numFmtId="0"/><xf numFmtId="14"/>'
    header = (
        f'<row r="1">{_inline("A1", "K")}<c r="B1"><v>0.30000000000000004</v></c>'
        f'<c r="C1" s="1"><v>45358</v></c><c r="D1" t="b"><v>1</v></c>'
        f'{_inline("E1", " ")}<c r="F1" t="inlineStr"><is><t xml:space="preserve">  </t></is></c>'
        "</row>"
    )
    rows = (
        header
        + f'<row r="2">{_inline("A2", "a")}<c r="B2" s="1"><v>nan</v></c></row>'
        + f'<row r="3">{_inline("A3", "b")}<c r="B3" s="1"><v>inf</v></c></row>'
        + f'<row r="4">{_inline("A4", "_x001F_")}</row>'
        + f'<row r="5">{_inline("A5", "c")}<c r="B5" s="1"><v>45358.5</v></c></row>'
    )
    src = TableSource(files="*", columns={"k": "K", "v": "0.30000000000000004"})
    for styles_name in ("xl/styles.xml", "xl/Styles.xml"):  # calamine ignores the case
        path = _hand_built(tmp_path / "hand.xlsx", rows, styles, styles_name)
        whole, rowwise = _read(path, WHOLE, src), _read(path, ROWWISE, src)
        assert rowwise == whole, styles_name
        assert [v["0.30000000000000004"] for v in whole["values"]] == [  # type: ignore[union-attr]
            "1899-12-30 00:00:00",  # NaN: 0 ms, as Rust casts it
            None,  # infinity: no instant
            None,  # the row of a separator (U+001F) is a record, as Polars' strip keeps it
            "2024-03-07 12:00:00",
        ]
    for name in ("2024-03-07 00:00:00", "true", "0.3"):  # not names in either reader
        bad = TableSource(files="*", columns={"k": "K", "v": name})
        for limits in (WHOLE, ROWWISE):
            with pytest.raises(UnreadableFile, match="missing column"):
                _read(path, limits, bad)
