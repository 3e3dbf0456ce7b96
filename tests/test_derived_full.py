"""The full build of the derived tables (metrics/derived.py: d_transitions and d_steps over
integer codes, not their reference SQL) gives exactly the reference builders' rows — same
columns, types and values — on hand-built logs: suspensions, rework, a staff member coming
back, ties broken by file and row, steps across midnight and across both DST switches of a
DST zone, missing staff, departments and windows, an application of an unknown matter and
events of an unknown application. When application ids or matter codes are not unique the
reference SQL builds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from warehouse import migrations
from warehouse.sql import execute

SPANS = ((9 * 3600, 12 * 3600), (13 * 3600, 17 * 3600 + 1800))
T0 = datetime(2025, 3, 28, 7, 0, tzinfo=UTC)


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# application_id, step, hours after T0, stage, in_person, department, window, staff, file, row
EVENTS: list[tuple[str, str, float, str | None, bool, str | None, str | None, str | None, int, int]]
EVENTS = [
    # A: accepted before the spring switch, suspended over it, rework of 审查 by two people
    ("A", "受理", 0.0, "accept", True, "市场监管局", "3号窗口", "s1", 1, 2),
    ("A", "审查", 9.5, None, False, "市场监管局", None, "s2", 1, 3),
    ("A", "特别程序", 40.0, "suspend", False, "市场监管局", None, "s2", 1, 4),
    ("A", "特别程序结束", 66.5, "resume", False, None, None, None, 1, 5),
    ("A", "审查", 67.0, None, False, "市场监管局", None, "s3", 1, 6),
    ("A", "审查", 90.25, None, False, "市场监管局", None, "s2", 2, 1),
    ("A", "办结", 115.0, "complete", False, "市场监管局", None, "s1", 2, 2),
    ("A", "领证", 140.0, None, True, "市场监管局", "3号窗口", "s1", 2, 3),
    # B: ties on the instant, ordered by file then row; a step across midnight
    ("B", "受理", 14.0, "accept", True, "税务局", "7号窗口", None, 2, 9),
    ("B", "审查", 14.0, None, False, "税务局", None, None, 1, 9),
    ("B", "审查", 14.0, None, False, "税务局", None, "s4", 1, 8),
    ("B", "办结", 16.9, "complete", False, "税务局", None, "s4", 1, 10),
    ("B", "领证", 17.2, None, True, None, "7号窗口", "s4", 1, 11),
    # C: around the autumn switch (local time goes back an hour)
    # (2025-10-26 00:30 and 01:30 UTC are both 02:30 in Berlin)
    ("C", "受理", 5081.0, "accept", False, "市场监管局", None, "s5", 3, 1),
    ("C", "审查", 5081.5, None, False, "市场监管局", None, "s5", 3, 2),
    ("C", "特别程序", 5082.5, "suspend", False, "市场监管局", None, "s5", 3, 3),
    ("C", "特别程序结束", 5106.0, "resume", False, "市场监管局", None, "s5", 3, 4),
    ("C", "办结", 5130.0, "complete", False, "市场监管局", None, "s6", 3, 5),
    # D: an application of a matter not in the catalog, one event
    ("D", "受理", 30.0, "accept", True, None, "1号窗口", "s1", 4, 1),
    # E: events of an application that is not loaded (dropped by the join)
    ("E", "受理", 31.0, "accept", True, "税务局", "1号窗口", "s1", 4, 2),
    ("E", "办结", 32.0, "complete", True, "税务局", "1号窗口", "s1", 4, 3),
]
APPLICATIONS = [
    ("A", "M-1", "window", "s1"),
    ("B", "M-2", "online", None),
    ("C", "M-1", "mobile", None),
    ("D", "M-9", "window", None),
    ("F", "M-2", "online", None),  # no events
]
MATTERS = [("M-1", "市场监管局", 5), ("M-2", "税务局", None)]


def _warehouse(tmp: Path, name: str) -> duckdb.DuckDBPyConnection:
    path = tmp / f"{name}.duckdb"
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    migrations.migrate(con, str(path))
    for code, department, limit in MATTERS:
        con.execute(
            "INSERT INTO matters (matter_code, name_zh, department, promised_limit_days, "
            "file_id, source_row, run_id) VALUES (?, ?, ?, ?, 9, 1, 1)",
            [code, code, department, limit],
        )
    for app, matter, channel, staff in APPLICATIONS:
        con.execute(
            "INSERT INTO applications (application_id, matter_code, channel, staff, "
            "submitted_at, file_id, source_row, run_id) VALUES (?, ?, ?, ?, ?, 8, 1, 1)",
            [app, matter, channel, staff, _at(-1)],
        )
    for i, (app, step, hours, stage, in_person, dept, window, staff, file_id, row) in enumerate(
        EVENTS
    ):
        con.execute(
            "INSERT INTO events (event_key, application_id, step, ts, lifecycle, started_at, "
            "stage, in_person, department, window_id, staff, file_id, source_row, run_id) "
            "VALUES (?, ?, ?, ?, 'complete', ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            [
                i,
                app,
                step,
                _at(hours),
                _at(hours - 0.75) if i % 3 else None,
                stage,
                in_person,
                dept,
                window,
                staff,
                file_id,
                row,
            ],
        )
    return con


def _assert_reference(con: duckdb.DuckDBPyConnection, cal: WorkCalendar) -> None:
    for table, build in derived.TABLES.items():
        sql, params = build(cal, Filters(), None)
        execute(con, f"CREATE OR REPLACE TEMP TABLE ref AS {sql}", params)
        types = "SELECT column_name, column_type FROM (DESCRIBE {})"
        assert (
            con.execute(types.format(table)).fetchall()
            == con.execute(types.format("ref")).fetchall()
        ), table
        counts = con.execute(
            f"""SELECT (SELECT count(*) FROM {table}), (SELECT count(*) FROM ref),
                (SELECT count(*) FROM (SELECT * FROM {table} EXCEPT ALL SELECT * FROM ref)),
                (SELECT count(*) FROM (SELECT * FROM ref EXCEPT ALL SELECT * FROM {table}))"""
        ).fetchall()[0]
        assert counts[0] == counts[1] > 0 and counts[2:] == (0, 0), (table, counts)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Shanghai", "America/New_York"])
def test_the_full_build_equals_the_reference_sql(tmp_path: Path, zone: str) -> None:
    cal = WorkCalendar(zone, SPANS, "china" if zone == "Asia/Shanghai" else "none")
    con = _warehouse(tmp_path, "w")
    assert derived.refresh(con, cal) == "full"
    _assert_reference(con, cal)
    # the rework and the returning staff member are numbered, not only counted
    occurrences = con.execute(
        "SELECT step, staff, occurrence, staff_occurrence FROM d_steps "
        "WHERE application_id = 'A' AND step = '审查' ORDER BY ts"
    ).fetchall()
    assert occurrences == [("审查", "s2", 1, 1), ("审查", "s3", 2, 1), ("审查", "s2", 3, 3)]
    left = "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE 'ow_%'"
    assert con.execute(left).fetchall() == []


def test_duplicate_keys_fall_back_to_the_reference_sql(tmp_path: Path) -> None:
    cal = WorkCalendar("Europe/Berlin", SPANS, "none")
    con = _warehouse(tmp_path, "w")
    con.execute(
        "INSERT INTO matters (matter_code, name_zh, department, file_id, source_row, run_id) "
        "VALUES ('M-2', 'M-2', '税务局', 9, 2, 1)"
    )
    con.execute("BEGIN")
    assert not derived._prepare(con, cal)
    con.execute("ROLLBACK")
    assert derived.refresh(con, cal) == "full"
    _assert_reference(con, cal)


def test_a_build_that_misses_applications_fails_and_is_not_marked_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Derived tables built without some applications (as DuckDB 2.0.0 once built them
    empty) are refused: the refresh fails, nothing it built stays, and the stored tables are
    not current, so reports take the reference SQL."""
    cal = WorkCalendar("Europe/Berlin", SPANS, "none")
    con = _warehouse(tmp_path, "w")
    build = derived._build

    def missing(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, step: object) -> None:
        build(con, cal, None)
        con.execute(
            "DELETE FROM d_facts WHERE application_id IN (SELECT min(application_id) FROM d_facts)"
        )

    monkeypatch.setattr(derived, "_build", missing)
    with pytest.raises(duckdb.InvalidInputException, match="built with"):
        derived.refresh(con, cal)
    assert not derived.current(con, cal)
