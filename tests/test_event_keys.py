"""Event identity: identical rows of a file are distinct events, re-loads and cumulative
exports add only what is new, and corrections replace events (event_id, complete step lists).
Every expected count below is worked out by hand from the rows written."""

from __future__ import annotations

import csv
from pathlib import Path

from etl.profile import Profile, load_profile
from etl.run import RunResult, load_files
from tests.fixtures import CALENDAR, write_profile
from warehouse import Warehouse

HEADER = ["case", "step", "time", "staff"]

# A travel permit paid three times in the same second, and a second application.
FIRST = [
    ["A", "Request Payment", "2025-03-03 10:00:00", "s1"],
    ["A", "Request Payment", "2025-03-03 10:00:00", "s1"],
    ["A", "Submit", "2025-03-03 09:00:00", "s1"],
    ["A", "Request Payment", "2025-03-03 10:00:00", "s1"],
    ["A", "Approve", "2025-03-03 11:00:00", "s2"],
    ["B", "Submit", "2025-03-03 09:30:00", "s3"],
]


def _profile(folder: Path, events: str = "", columns: str = "") -> Profile:
    text = f"""
name = "keys"
timezone = "Asia/Shanghai"

[tables.events]
files = "steps*"
{events}
[tables.events.columns]
application_id = "case"
step = "step"
timestamp = "time"
staff = "staff"
{columns}
[tables.events.constants]
matter_code = "M-1"
"""
    return load_profile(write_profile(folder, text, "keys.toml"))


def _write(path: Path, rows: list[list[str]], header: list[str] = HEADER, end: str = "\n") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator=end)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _counts(result: RunResult) -> list[tuple[int, int, int, int]]:
    for f in result.files:
        assert f.rows_read == f.loaded + f.duplicates + f.quarantined, f
    return [(f.rows_read, f.loaded, f.duplicates, f.quarantined) for f in result.files]


def _events(wh: Warehouse) -> list[tuple[object, ...]]:
    with wh.read() as con:
        return con.execute(
            """SELECT application_id, step, strftime(ts AT TIME ZONE 'Asia/Shanghai', '%H:%M'),
                staff FROM events ORDER BY ALL"""
        ).fetchall()


def _file_history(wh: Warehouse) -> list[tuple[object, ...]]:
    with wh.read() as con:
        return con.execute(
            """SELECT run_id, status, loaded, duplicates, repeated, removed FROM etl_run_files
            ORDER BY run_id, path"""
        ).fetchall()


def test_identical_rows_of_a_file_are_distinct_events(tmp_path: Path, wh: Warehouse) -> None:
    profile = _profile(tmp_path)
    first = _write(tmp_path / "steps_1.csv", FIRST)
    # Another export repeats B's submission (same event: a duplicate) and adds C.
    second = _write(
        tmp_path / "steps_2.csv",
        [
            ["B", "Submit", "2025-03-03 09:30:00", "s3"],
            ["C", "Submit", "2025-03-04 09:00:00", "s4"],
        ],
    )
    assert _counts(load_files(wh, [(first, profile)], calendar=CALENDAR)) == [(6, 6, 0, 0)]
    assert _counts(load_files(wh, [(second, profile)], calendar=CALENDAR)) == [(2, 1, 1, 0)]
    assert len(_events(wh)) == 7
    assert _events(wh).count(("A", "Request Payment", "10:00", "s1")) == 3
    assert _file_history(wh) == [(1, "loaded", 6, 0, 2, 0), (2, "loaded", 1, 1, 0, 0)]
    with wh.read() as con:  # the transitions pm4py would count: Payment → Payment twice
        loops = con.execute(
            """SELECT count(*) FROM d_transitions
            WHERE from_step = 'Request Payment' AND to_step = 'Request Payment'"""
        ).fetchall()[0][0]
    assert loops == 2

    # The same export again, as other bytes (LF → CRLF) so it is read again: nothing new.
    again = _write(tmp_path / "steps_1_again.csv", FIRST, end="\r\n")
    assert _counts(load_files(wh, [(again, profile)], calendar=CALENDAR)) == [(6, 0, 6, 0)]
    assert len(_events(wh)) == 7

    # A cumulative export: the first export's rows, one more payment, and a new step.
    cumulative = _write(
        tmp_path / "steps_3.csv",
        [*FIRST, FIRST[0], ["A", "Deliver", "2025-03-04 10:00:00", "s2"]],
    )
    result = load_files(wh, [(cumulative, profile)], calendar=CALENDAR)
    assert _counts(result) == [(8, 2, 6, 0)]
    assert _events(wh).count(("A", "Request Payment", "10:00", "s1")) == 4
    assert len(_events(wh)) == 9
    assert _file_history(wh)[-1] == (4, "loaded", 2, 6, 3, 0)


def test_merge_makes_identical_rows_one_event(tmp_path: Path, wh: Warehouse) -> None:
    profile = _profile(tmp_path, events='identical_rows = "merge"')
    rows = [*FIRST, ["A", "Submit", "2025-03-03 09:00:00", "s9"]]  # same event, other staff
    result = load_files(wh, [(_write(tmp_path / "steps.csv", rows), profile)], calendar=CALENDAR)
    assert _counts(result) == [(7, 4, 3, 0)]
    assert _events(wh) == [
        ("A", "Approve", "11:00", "s2"),
        ("A", "Request Payment", "10:00", "s1"),
        ("A", "Submit", "09:00", "s9"),  # the last row wins
        ("B", "Submit", "09:30", "s3"),
    ]
    with wh.read() as con:
        conflicts = con.execute(
            "SELECT table_name, application_id, field, kept, other FROM etl_conflicts"
        ).fetchall()
    assert conflicts == [("events", "A", "staff", "s9", "s1")]


def test_an_event_id_correction_replaces_the_event(tmp_path: Path, wh: Warehouse) -> None:
    profile = _profile(tmp_path, columns='event_id = "环节流水号"')
    header = [*HEADER, "环节流水号"]
    rows = [
        ["A", "Submit", "2025-03-03 09:00:00", "s1", "9001"],
        ["A", "Review", "2025-03-03 10:00:00", "s1", "9002"],
        ["A", "Approve", "2025-03-03 11:00:00", "s2", "9003"],
        # Identical content, another record number: another event.
        ["A", "Approve", "2025-03-03 11:00:00", "s2", "9004"],
    ]
    first = _write(tmp_path / "steps_1.csv", rows, header)
    assert _counts(load_files(wh, [(first, profile)], calendar=CALENDAR)) == [(4, 4, 0, 0)]
    corrected = _write(
        tmp_path / "steps_2.csv",
        [["A", "Review", "2025-03-03 10:40:00", "s7", "9002"], rows[0]],
        header,
    )
    result = load_files(wh, [(corrected, profile)], calendar=CALENDAR)
    assert _counts(result) == [(2, 1, 1, 0)]
    assert _events(wh) == [
        ("A", "Approve", "11:00", "s2"),
        ("A", "Approve", "11:00", "s2"),
        ("A", "Review", "10:40", "s7"),  # one event, with the new time and staff
        ("A", "Submit", "09:00", "s1"),
    ]
    with wh.read() as con:
        history = con.execute("SELECT inserted, updated FROM etl_runs ORDER BY run_id").fetchall()
        ids = con.execute("SELECT event_id FROM events ORDER BY event_id").fetchall()
    assert history == [(4, 0), (0, 1)]
    assert ids == [("9001",), ("9002",), ("9003",), ("9004",)]


def test_one_event_id_twice_in_a_file_is_one_event_and_a_conflict(
    tmp_path: Path, wh: Warehouse
) -> None:
    profile = _profile(tmp_path, columns='event_id = "环节流水号"')
    header = [*HEADER, "环节流水号"]
    rows = [
        ["A", "Review", "2025-03-03 10:00:00", "s1", "9002"],
        ["A", "Review", "2025-03-03 10:00:00", "s1", "9002"],
        ["A", "Review", "2025-03-03 10:30:00", "s1", "9002"],
    ]
    result = load_files(
        wh, [(_write(tmp_path / "steps.csv", rows, header), profile)], calendar=CALENDAR
    )
    assert _counts(result) == [(3, 1, 2, 0)]
    assert _events(wh) == [("A", "Review", "10:30", "s1")]
    assert _file_history(wh) == [(1, "loaded", 1, 2, 2, 0)]
    with wh.read() as con:
        conflicts = con.execute("SELECT field, other FROM etl_conflicts").fetchall()
    assert conflicts == [("ts", "2025-03-03 02:00:00+00:00")]


def test_a_complete_step_list_replaces_the_stored_events(tmp_path: Path, wh: Warehouse) -> None:
    profile = _profile(tmp_path, events="complete_step_lists = true")
    first = _write(
        tmp_path / "steps_1.csv",
        [
            ["A", "Submit", "2025-03-03 09:00:00", "s1"],
            ["A", "Review", "2025-03-03 10:00:00", "s1"],
            ["A", "Approve", "2025-03-03 11:00:00", "s2"],
            ["B", "Submit", "2025-03-03 09:30:00", "s3"],
        ],
    )
    load_files(wh, [(first, profile)], calendar=CALENDAR)
    # A re-export of A: Review's time corrected, Approve withdrawn; B is not in it.
    second = _write(
        tmp_path / "steps_2.csv",
        [
            ["A", "Submit", "2025-03-03 09:00:00", "s1"],
            ["A", "Review", "2025-03-03 10:20:00", "s1"],
        ],
    )
    result = load_files(wh, [(second, profile)], calendar=CALENDAR)
    assert _counts(result) == [(2, 1, 1, 0)]
    assert _events(wh) == [
        ("A", "Review", "10:20", "s1"),
        ("A", "Submit", "09:00", "s1"),
        ("B", "Submit", "09:30", "s3"),
    ]
    assert _file_history(wh)[-1] == (2, "loaded", 1, 1, 0, 2)
    with wh.read() as con:
        removed = con.execute("SELECT removed FROM etl_runs ORDER BY run_id").fetchall()
        pending = con.execute("SELECT count(*) FROM d_pending").fetchall()[0][0]
        transitions = con.execute(
            """SELECT application_id, from_step, to_step FROM d_transitions ORDER BY ALL"""
        ).fetchall()
    assert removed == [(0,), (2,)]
    assert pending == 0  # the derived tables were refreshed for A
    assert transitions == [("A", "Submit", "Review")]


def test_two_complete_lists_in_one_run_the_last_counts(tmp_path: Path, wh: Warehouse) -> None:
    profile = _profile(tmp_path, events="complete_step_lists = true")
    monday = _write(
        tmp_path / "steps_1.csv",
        [
            ["A", "Submit", "2025-03-03 09:00:00", "s1"],
            ["A", "Review", "2025-03-03 10:00:00", "s1"],
        ],
    )
    tuesday = _write(tmp_path / "steps_2.csv", [["A", "Submit", "2025-03-03 09:00:00", "s1"]])
    result = load_files(wh, [(monday, profile), (tuesday, profile)], calendar=CALENDAR)
    assert _counts(result) == [(2, 0, 2, 0), (1, 1, 0, 0)]
    assert _events(wh) == [("A", "Submit", "09:00", "s1")]
