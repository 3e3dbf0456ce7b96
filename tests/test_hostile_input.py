"""Hostile exports (issue 10, "Why" 5 and 6): each row or file is held back with a reason a
data steward understands, the counts add up, nothing ends in a traceback."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import xlsxwriter

from etl.profile import Profile
from etl.run import RunResult, load_files
from metrics import health
from onewindow.config import Plausibility
from tests.conftest import Ran
from tests.fixtures import (
    APPLICATION_HEADER,
    CALENDAR,
    MATTER_HEADER,
    STEP_HEADER,
    center_rows,
    matter_rows,
    write_csv,
)
from warehouse import Warehouse


def _balanced(result: RunResult) -> list[tuple[str, int, int, int, int]]:
    for f in result.files:
        assert f.rows_read == f.loaded + f.duplicates + f.quarantined, f
    return [
        (Path(f.path).name, f.rows_read, f.loaded, f.duplicates, f.quarantined)
        for f in result.files
    ]


def _one(wh: Warehouse, sql: str) -> list[tuple[object, ...]]:
    with wh.read() as con:
        return con.execute(sql).fetchall()


def _utf8(
    path: Path, header: list[str], rows: list[list[str]], bom: bool = True, quoting: int = 0
) -> bytes:
    buffer = path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="")
    with buffer as fh:
        writer = csv.writer(fh, lineterminator="\r\n", quoting=quoting)
        writer.writerow(header)
        writer.writerows(rows)
    return path.read_bytes()


# --- Clean text -------------------------------------------------------------------------


@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
def test_two_exports_joined_keep_their_ids_clean(
    tmp_path: Path, wh: Warehouse, center_profile: Profile, quoting: int
) -> None:
    apps, _ = center_rows(4)
    first = _utf8(tmp_path / "a.csv", APPLICATION_HEADER, apps[:2], quoting=quoting)
    second = _utf8(tmp_path / "b.csv", APPLICATION_HEADER, apps[2:], quoting=quoting)
    joined = tmp_path / "applications_joined.csv"
    # Two exports joined as `cat a.csv b.csv` does, and one more row whose id carries a BOM.
    joined.write_bytes(first + second + b"\xef\xbb\xbf" + ",".join(apps[3]).encode() + b"\r\n")
    result = load_files(wh, [(joined, center_profile)], calendar=CALENDAR)
    assert _balanced(result) == [("applications_joined.csv", 6, 4, 1, 1)]
    assert _one(wh, "SELECT row_number, field, reason FROM quarantine") == [
        (4, "(row)", "the header line again (two exports joined into one file?)")
    ]
    assert _one(wh, "SELECT cleaned, repeated FROM etl_run_files") == [(2, 1)]
    # The clean export of the same applications adds nothing.
    clean = tmp_path / "applications_clean.csv"
    _utf8(clean, APPLICATION_HEADER, apps[2:], bom=False)
    assert _balanced(load_files(wh, [(clean, center_profile)], calendar=CALENDAR)) == [
        ("applications_clean.csv", 2, 0, 2, 0)
    ]
    ids = _one(wh, "SELECT application_id FROM applications ORDER BY 1")
    assert ids == [(a[0],) for a in apps]


def test_nul_and_zero_width_characters_are_removed_and_counted(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(2)
    apps[0][0] = apps[0][0][:4] + "\u200b" + apps[0][0][4:]  # pasted from a web page
    apps[1][1] = "\u202e" + apps[1][1]  # a right-to-left override
    steps[0][6] = "staff\x00-01"  # a NUL byte from a fixed-width field
    files = [
        write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps),
        write_csv(tmp_path / "steps.csv", STEP_HEADER, steps),
    ]
    result = load_files(wh, [(f, center_profile) for f in files], calendar=CALENDAR)
    assert _balanced(result) == [("applications.csv", 2, 2, 0, 0), ("steps.csv", 8, 8, 0, 0)]
    assert _one(wh, "SELECT table_name, cleaned FROM etl_run_files ORDER BY 1") == [
        ("applications", 2),
        ("events", 1),
    ]
    assert _one(wh, "SELECT application_id, matter_code FROM applications ORDER BY 1") == [
        ("441200000000", "M-000"),
        ("441200000001", "M-001"),
    ]
    assert _one(wh, "SELECT count(*) FROM events WHERE staff = 'staff-01'") == [(1,)]
    assert _one(wh, "SELECT count(*) FROM events WHERE application_id = '441200000000'") == [(4,)]


def test_an_application_twice_in_a_file_with_other_values_is_a_conflict(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(2)
    changed = list(apps[0])
    changed[2] = "网上"  # was 窗口 or 移动端
    apps[0][2] = "窗口"
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, [*apps, changed])
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    assert _balanced(result) == [("applications.csv", 3, 2, 1, 0)]
    assert _one(wh, "SELECT repeated FROM etl_run_files") == [(1,)]
    assert _one(wh, "SELECT table_name, application_id, field, kept, other FROM etl_conflicts") == [
        ("applications", apps[0][0], "channel", "online", "window")
    ]
    assert _one(wh, f"SELECT channel FROM applications WHERE application_id = '{apps[0][0]}'") == [
        ("online",)  # the last row, as the run history and etl_conflicts say
    ]


# --- Readers ------------------------------------------------------------------------------


def test_row_numbers_after_a_multi_line_record_and_a_blank_line(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(3)
    apps[0][7] = "张\r\n三"  # a name over two lines (an unmapped, personal column)
    apps[2][2] = "传真"  # not a mapped channel
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    lines = path.read_bytes().split(b"\r\n")  # header, record (2 lines), record, record, ''
    path.write_bytes(b"\r\n".join([*lines[:3], b"", lines[3], b"", lines[4]]) + b"\r\n")
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    assert _balanced(result) == [("applications.csv", 3, 2, 0, 1)]
    # As a spreadsheet shows the file: header 1, the two-line record 2, blank 3, 4, blank 5, 6.
    assert _one(wh, "SELECT row_number, field FROM quarantine") == [(6, "channel")]
    assert _one(wh, "SELECT source_row FROM applications ORDER BY 1") == [(2,), (4,)]


def _xlsx(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("办件导出")
    sheet.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        sheet.write_row(r, 0, row)
    book.close()
    return path


def test_excel_header_problems_name_the_column_and_the_sheet(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(2)
    twice = _xlsx(
        tmp_path / "applications_twice.xlsx",
        [*APPLICATION_HEADER, "申请方式"],
        [[*a, "网上"] for a in apps],
    )
    missing = _xlsx(
        tmp_path / "applications_missing.xlsx", APPLICATION_HEADER[1:], [a[1:] for a in apps]
    )
    result = load_files(wh, [(twice, center_profile), (missing, center_profile)], calendar=CALENDAR)
    assert result.status == "partial"
    assert {Path(f.path).name: f.error for f in result.files} == {
        "applications_twice.xlsx": "duplicate column name(s) '申请方式' in sheet '办件导出'",
        "applications_missing.xlsx": "missing column(s) '办件编号' (mapped to application_id) "
        "in sheet '办件导出'",
    }


def test_trailing_commas_are_ignored_and_an_unnamed_column_with_values_fails(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(3)
    trailing = write_csv(
        tmp_path / "applications.csv", [*APPLICATION_HEADER, "", ""], [[*a, "", ""] for a in apps]
    )
    unnamed = write_csv(
        tmp_path / "applications_unnamed.csv",
        [*APPLICATION_HEADER[:2], "", *APPLICATION_HEADER[2:]],
        [[*a[:2], "", *a[2:]] for a in apps[:1]] + [[*a[:2], "备注", *a[2:]] for a in apps[1:]],
    )
    result = load_files(
        wh, [(trailing, center_profile), (unnamed, center_profile)], calendar=CALENDAR
    )
    by_name = {Path(f.path).name: f for f in result.files}
    assert (by_name["applications.csv"].status, by_name["applications.csv"].loaded) == (
        "loaded",
        3,
    )
    assert by_name["applications_unnamed.csv"].error == (
        "column 3 has no name in the header line but holds values (row 3); name the column or "
        "remove it"
    )


def test_a_stray_carriage_return_becomes_a_space(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps_rows, steps = center_rows(2)
    matters = write_csv(tmp_path / "matters.csv", MATTER_HEADER, matter_rows())
    apps = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps_rows)
    load_files(wh, [(matters, center_profile), (apps, center_profile)], calendar=CALENDAR)
    steps[1][4] = "市场\r监管局"
    result = load_files(
        wh,
        [(write_csv(tmp_path / "steps.csv", STEP_HEADER, steps), center_profile)],
        calendar=CALENDAR,
    )
    assert _balanced(result) == [("steps.csv", 8, 8, 0, 0)]
    assert _one(wh, "SELECT cleaned FROM etl_run_files WHERE table_name = 'events'") == [(1,)]
    assert _one(wh, "SELECT count(*) FROM events WHERE department = '市场 监管局'") == [(1,)]


def test_undecodable_bytes_name_the_row_and_column(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(3)
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    lines = path.read_bytes().split(b"\r\n")
    lines[3] = lines[3].replace(b"M-", b"M\xff", 1)  # row 4, in 事项编码
    path.write_bytes(b"\r\n".join(lines))
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    assert result.files[0].error == (
        "neither UTF-8 nor GB18030 (undecodable byte in row 4, column 2 (事项编码))"
    )


# --- Plausibility -------------------------------------------------------------------------


def test_impossible_event_times_are_quarantined_with_their_reason(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(2)
    # Application 0 was submitted at apps[0][3]; its steps start at acceptance.
    steps[0][2] = "2049-01-01 09:00:00"  # row 2: started 24 years after it ended
    steps[1][2], steps[1][3] = "2025-01-02 09:00:00", "2025-01-02 10:00:00"  # row 3: early
    steps[2][2], steps[2][3] = "2030-06-01 09:00:00", "2030-06-01 10:00:00"  # row 4: future
    steps[4][2], steps[4][3] = "1970-01-01 08:00:00", "1970-01-01 08:00:00"  # row 6: epoch
    files = [
        write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps),
        write_csv(tmp_path / "steps.csv", STEP_HEADER, steps),
    ]
    result = load_files(wh, [(f, center_profile) for f in files], calendar=CALENDAR)
    assert _balanced(result) == [("applications.csv", 2, 2, 0, 0), ("steps.csv", 8, 4, 0, 4)]
    rows = _one(wh, "SELECT row_number, field, reason FROM quarantine ORDER BY 1")
    assert [(r, f) for r, f, _ in rows] == [
        (2, "started_at"),
        (3, "timestamp"),
        (4, "timestamp"),
        (6, "timestamp"),
    ]
    reasons = [reason for _, _, reason in rows]
    assert reasons[0].startswith("step ends before it starts (started_at 2049-01-01 09:00, ")
    assert reasons[1].startswith("event ") and reasons[1].endswith(
        " days before its application was submitted (plausibility.before_submission_hours)"
    )
    assert reasons[2] == (
        "timestamp 2030-06-01 10:00 is in the future (more than 24 h after the load; "
        "plausibility.future_tolerance_hours)"
    )
    assert reasons[3] == ("timestamp 1970-01-01 08:00 is before 2000-01-01 (plausibility.earliest)")
    # No step time below zero reaches the metrics.
    assert _one(wh, "SELECT count(*) FROM events WHERE started_at > ts") == [(0,)]


def test_the_tolerances_come_from_the_config(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(1)
    steps[0][2], steps[0][3] = "1999-06-01 09:00:00", "1999-06-01 10:00:00"
    files = [
        write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps),
        write_csv(tmp_path / "steps.csv", STEP_HEADER, steps),
    ]
    lenient = Plausibility.model_validate(
        {"earliest": "1990-01-01", "before_submission_hours": 24 * 365 * 30}
    )
    result = load_files(
        wh, [(f, center_profile) for f in files], plausibility=lenient, calendar=CALENDAR
    )
    assert _balanced(result) == [("applications.csv", 1, 1, 0, 0), ("steps.csv", 4, 4, 0, 0)]


def test_impossible_application_times_are_flagged(
    tmp_path: Path,
    wh: Warehouse,
    center_profile: Profile,
    cli_run: Callable[..., Ran],
) -> None:
    apps, _ = center_rows(3)
    apps[0][5] = "2025-01-01 09:00"  # completed before it was submitted (March 2025)
    apps[1][4] = "2030-01-01 09:00"  # accepted in 2030, so also completed before it
    completed_1 = apps[1][5].replace("年", "-").replace("月", "-").replace("日", "") + ":00"
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    assert _balanced(result) == [("applications.csv", 3, 3, 0, 0)]
    with wh.read() as con:
        flagged = health.flagged(con, Plausibility(), "Asia/Shanghai")
    assert flagged.select("application_id", "field", "value", "reason").rows() == [
        (apps[0][0], "completed_at", "2025-01-01 09:00:00", "completed before it was accepted"),
        (apps[0][0], "completed_at", "2025-01-01 09:00:00", "completed before it was submitted"),
        (
            apps[1][0],
            "accepted_at",
            "2030-01-01 09:00:00",
            "in the future (plausibility.future_tolerance_hours)",
        ),
        (apps[1][0], "completed_at", completed_1, "completed before it was accepted"),
    ]
    ran = cli_run("report", "flagged", "--db", wh.path, "--format", "json")
    assert ran.code == 0, ran.err
    assert {r["application_id"] for r in json.loads(ran.out)} == {apps[0][0], apps[1][0]}
