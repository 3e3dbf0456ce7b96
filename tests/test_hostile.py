"""Hostile inputs found in review: each fails alone, counts add up, rows keep their numbers."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from etl.profile import Profile, ProfileError, load_profile
from etl.run import load_files
from tests.fixtures import (
    APPLICATION_HEADER,
    CALENDAR,
    CENTER_PROFILE,
    center_rows,
    write_csv,
    write_profile,
)
from warehouse import Warehouse


def _balanced(result: object) -> None:
    for f in result.files:  # type: ignore[attr-defined]
        assert f.rows_read == f.loaded + f.duplicates + f.quarantined, f


def _quarantine(wh: Warehouse) -> list[tuple[object, ...]]:
    with wh.read() as con:
        return con.execute(
            "SELECT row_number, field, reason FROM quarantine ORDER BY row_number"
        ).fetchall()


def test_the_same_bytes_twice_in_one_run_count_once(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(5)
    apps[0][3] = "soon"
    a = write_csv(tmp_path / "applications_a.csv", APPLICATION_HEADER, apps)
    b = tmp_path / "applications_b.csv"
    b.write_bytes(a.read_bytes())
    result = load_files(
        wh, [(a, center_profile), (b, center_profile), (a, center_profile)], calendar=CALENDAR
    )
    _balanced(result)
    assert sorted(
        (f.status, f.rows_read, f.loaded, f.duplicates, f.quarantined) for f in result.files
    ) == [("loaded", 5, 4, 0, 1), ("unchanged", 5, 0, 5, 0), ("unchanged", 5, 0, 5, 0)]
    assert len(_quarantine(wh)) == 1


def test_a_changed_profile_reads_a_known_file_again(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(3)
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    utc = load_profile(
        write_profile(
            tmp_path,
            CENTER_PROFILE.replace('timezone = "Asia/Shanghai"', 'timezone = "UTC"'),
            "utc.toml",
        )
    )
    again = load_files(wh, [(path, utc)], calendar=CALENDAR)
    assert (again.files[0].status, again.files[0].loaded) == ("loaded", 3)  # times corrected
    assert load_files(wh, [(path, utc)], calendar=CALENDAR).files[0].status == "unchanged"


def test_personal_columns_may_only_become_the_applicant_key(tmp_path: Path) -> None:
    text = CENTER_PROFILE.replace('trips = "跑动次数"', 'trips = "跑动次数"\nstaff = "申请人"')
    message = "tables.applications.columns.staff: column '申请人' is listed in personal"
    with pytest.raises(ProfileError, match=re.escape(message)):
        load_profile(write_profile(tmp_path, text))


def test_one_odd_file_fails_alone(tmp_path: Path, wh: Warehouse, center_profile: Profile) -> None:
    apps, _ = center_rows(4)
    good = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps[:2])
    cr_only = tmp_path / "applications_mac.csv"
    cr_only.write_bytes(good.read_bytes().replace(b"\r\n", b"\r"))
    nested = tmp_path / "applications_nested.parquet"
    pl.DataFrame([dict(zip(APPLICATION_HEADER, r, strict=True)) for r in apps[2:]]).with_columns(
        pl.lit([1, 2]).alias("附件列表")
    ).write_parquet(nested)  # an unmapped list column
    result = load_files(
        wh,
        [(good, center_profile), (cr_only, center_profile), (nested, center_profile)],
        calendar=CALENDAR,
    )
    _balanced(result)
    by_name = {Path(f.path).name: f for f in result.files}
    assert by_name["applications.csv"].loaded == 2
    assert by_name["applications_nested.parquet"].loaded == 2  # unmapped columns are not read
    assert by_name["applications_mac.csv"].error == (
        "lines end with a bare carriage return (old Mac style); save the file with CRLF or LF "
        "line ends"
    )


def test_blank_lines_keep_row_numbers(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(3)
    apps[2][2] = "传真"
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(
        b"\r\n".join([lines[0], b"", lines[1], b"", b"", lines[2], lines[3]]) + b"\r\n"
    )
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    _balanced(result)
    assert [(r, f) for r, f, _ in _quarantine(wh)] == [(7, "channel")]  # line 7 in an editor
    with wh.read() as con:
        assert con.execute("SELECT source_row FROM applications ORDER BY 1").fetchall() == [
            (3,),
            (6,),
        ]


def test_a_parquet_column_of_a_type_polars_cannot_hold_fails_the_file_alone(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    """decimal256 makes Polars panic (a BaseException): the file fails, named, the run goes
    on."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    apps, _ = center_rows(4)
    good = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps[:2])
    table = pl.DataFrame(apps[2:], schema=APPLICATION_HEADER, orient="row").to_arrow()
    trips = APPLICATION_HEADER.index("跑动次数")
    numbers = [decimal.Decimal(v) if v else None for v in table.column(trips).to_pylist()]
    table = table.set_column(trips, "跑动次数", pa.array(numbers, pa.decimal256(40, 0)))
    odd = tmp_path / "applications_wide.parquet"
    pq.write_table(table, odd)
    result = load_files(wh, [(good, center_profile), (odd, center_profile)], calendar=CALENDAR)
    by_name = {Path(f.path).name: f for f in result.files}
    assert by_name["applications.csv"].loaded == 2
    assert (
        by_name["applications_wide.parquet"].status,
        by_name["applications_wide.parquet"].error,
    ) == (
        "failed",
        "column '跑动次数' holds decimal256(40, 0), a type that cannot be read",
    )


def test_json_lines_split_on_newlines_only(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(3)
    records = [dict(zip(APPLICATION_HEADER, r, strict=True)) for r in apps]
    records[0]["申请人"] = "张\u2028三"  # a line separator inside a string
    lines = [json.dumps(r, ensure_ascii=False) for r in records] + ["[1, 2]"]
    path = tmp_path / "applications.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    _balanced(result)
    assert (result.files[0].rows_read, result.files[0].loaded) == (4, 3)
    assert _quarantine(wh) == [(4, "(row)", "line is not a JSON object")]


def test_a_bom_file_in_another_encoding_names_the_problem(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(2)
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    assert result.files[0].error == (
        "starts with a UTF-8 byte-order mark but is not valid UTF-8 (undecodable byte in row 1, "
        "column 1)"
    )


def test_excel_typed_cells_and_blank_rows(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(2)
    path = tmp_path / "applications.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, APPLICATION_HEADER)
    for r, row in enumerate(apps, start=1):
        sheet.write_row(r * 2, 0, row)  # rows 3 and 5; rows 2 and 4 stay blank
        sheet.write_datetime(r * 2, 3, datetime(2025, 3, 5, 9, 30, 15), stamp)
        sheet.write_number(r * 2, 6, 2)
    book.close()
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    _balanced(result)
    assert (result.files[0].rows_read, result.files[0].loaded) == (2, 2)
    with wh.read() as con:
        rows = con.execute(
            "SELECT source_row, strftime(submitted_at, '%H:%M:%S'), trips "
            "FROM applications ORDER BY 1"
        ).fetchall()
    assert rows == [(3, "01:30:15", 2), (5, "01:30:15", 2)]
