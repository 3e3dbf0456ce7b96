"""The derived tables are a cache of the reference SQL: every report read from them equals the
same report computed on demand, after a bulk load, after increments and corrections, and they
are not used when they were built with another calendar or a crash left them stale."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from etl.profile import Profile, load_profile
from etl.run import load_files
from metrics import bottlenecks, derived, followup, kpis, process, service
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.reports import REPORTS
from onewindow.config import Config
from tests.fixtures import (
    APPLICATION_HEADER,
    CALENDAR,
    MATTER_HEADER,
    PROFILES,
    STEP_HEADER,
    center_rows,
    matter_rows,
    write_csv,
)
from warehouse import Warehouse

CONFIG = Config()
CAL = WorkCalendar.from_config(CONFIG)
# The reports that read derived tables, with every --by they take.
DERIVED_REPORTS = [
    (name, by)
    for name in ("cases", "transitions", "rework", "kpis", "cards", "workload")
    for by in REPORTS[name].by
]
# The dashboard's own figures that read derived tables.
DASHBOARD: dict[str, Callable[[duckdb.DuckDBPyConnection, Filters], pl.DataFrame]] = {
    "handover_matrix": lambda con, f: bottlenecks.handover_matrix(con, CAL, f),
    "slower_steps": lambda con, f: bottlenecks.slower_steps(
        con,
        CAL,
        f,
        end=f.end or date(2026, 12, 31),
        recent_months=1,
        baseline_months=2,
        min_count=1,
    ),
    "processing_distribution": lambda con, f: bottlenecks.processing_distribution(con, CAL, f),
    "window_workload": lambda con, f: followup.window_workload(con, CAL, f),
}
CUTS = [
    Filters(),
    Filters(start=date(2025, 3, 10), end=date(2025, 4, 20)),
    Filters(matters=("M-001", "M-003"), channels=("online", "window")),
    Filters(departments=("市场监管局",)),
    Filters(windows=("3号窗口", "7号窗口"), start=date(2025, 3, 1)),
    Filters(staff=("staff-01", "staff-02", "staff-03"), channels=("online", "window")),
]


@contextlib.contextmanager
def _reference(wh: Warehouse, tmp: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A copy of the published warehouse whose derived tables are marked stale."""
    copy = tmp / "reference.duckdb"
    shutil.copyfile(wh.published(), copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute("SET TimeZone = 'UTC'")  # as Warehouse connections have it
        con.execute("DELETE FROM d_state")
        yield con
    finally:
        con.close()


def _assert_same(wh: Warehouse, tmp: Path, cuts: list[Filters]) -> None:
    with wh.read() as con, _reference(wh, tmp) as ref:
        assert derived.current(con, CAL)
        assert not derived.current(ref, CAL)
        for name, by in DERIVED_REPORTS:
            for filters in cuts:
                ours = REPORTS[name].fn(con, filters, CONFIG, by)
                reference = REPORTS[name].fn(ref, filters, CONFIG, by)
                assert ours.height > 0 or name == "cards", (name, by, filters)
                _equal(ours, reference, f"{name} --by {by} {filters}")
        for name, fn in DASHBOARD.items():
            for filters in cuts:
                _equal(fn(con, filters), fn(ref, filters), f"{name} {filters}")


def _equal(ours: pl.DataFrame, reference: pl.DataFrame, what: str) -> None:
    try:
        assert_frame_equal(ours, reference, check_exact=False, rel_tol=1e-9)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from None


def _files(tmp: Path, apps: list[list[str]], steps: list[list[str]], tag: str) -> list[Path]:
    return [
        write_csv(tmp / f"applications_{tag}.csv", APPLICATION_HEADER, apps),
        write_csv(tmp / f"steps_{tag}.csv", STEP_HEADER, steps),
    ]


def test_increments_and_corrections_keep_the_tables_exact(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(120)
    matters = write_csv(tmp_path / "matters.csv", MATTER_HEADER, matter_rows())
    load_files(wh, [(matters, center_profile)], calendar=CAL)
    # Steps arrive before their applications, then the rest of both, then corrections.
    load_files(
        wh, [(f, center_profile) for f in _files(tmp_path, [], steps[:200], "1")], calendar=CALENDAR
    )
    load_files(
        wh,
        [(f, center_profile) for f in _files(tmp_path, apps, steps[150:], "2")],
        calendar=CAL,
    )
    fixed = [list(a) for a in apps[:30]]
    for row in fixed:
        row[6] = "0"  # trips corrected
        row[5] = ""  # completion withdrawn: open again
    late = [list(s) for s in steps[:40]]
    for row in late:
        row[3] = row[3].replace("2025-03", "2025-05")  # a step's end moved
    load_files(wh, [(f, center_profile) for f in _files(tmp_path, fixed, late, "3")], calendar=CAL)
    # A matter's promised limit changes: every application of it is recomputed.
    changed = [list(m) for m in matter_rows()]
    changed[1][4] = "1"
    write_csv(tmp_path / "matters_2.csv", MATTER_HEADER, changed)
    load_files(wh, [(tmp_path / "matters_2.csv", center_profile)], calendar=CAL)
    _assert_same(wh, tmp_path, CUTS)


def test_window_and_staff_cut_applications_by_who_accepted_them(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(60)
    load_files(
        wh, [(f, center_profile) for f in _files(tmp_path, apps, steps, "1")], calendar=CALENDAR
    )
    # The fixture's applications name no window or staff: their acceptance step (受理) does.
    accepted = {s[0]: (s[5], s[6]) for s in steps if s[1] == "受理"}
    with wh.read() as con:
        for filters, keep in (
            (Filters(windows=("3号窗口",)), lambda w, s: w == "3号窗口"),
            (Filters(staff=("staff-01", "staff-07")), lambda w, s: s in ("staff-01", "staff-07")),
            (
                Filters(windows=("3号窗口",), staff=("staff-01",)),
                lambda w, s: (w, s) == ("3号窗口", "staff-01"),
            ),
        ):
            expected = sorted(a for a, (w, s) in accepted.items() if keep(w, s))
            shown = process.cases(con, CAL, filters)["application_id"].to_list()
            assert shown == expected and (expected or filters.staff == ("staff-01",))


def test_another_calendar_is_not_served_from_the_tables(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(40)
    files = _files(tmp_path, apps, steps, "1")
    load_files(wh, [(f, center_profile) for f in files], calendar=CAL)
    other = WorkCalendar("Asia/Shanghai", ((8 * 3600, 18 * 3600),), "none")
    with wh.read() as con:
        assert derived.current(con, CAL) and not derived.current(con, other)
    # The next run (maintenance here) rebuilds them with the calendar it was given.
    load_files(wh, [], job="maintenance", calendar=other)
    with wh.read() as con:
        assert derived.current(con, other) and not derived.current(con, CAL)


def test_applications_left_pending_by_a_crash_are_not_served(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(10)
    load_files(
        wh, [(f, center_profile) for f in _files(tmp_path, apps, steps, "1")], calendar=CALENDAR
    )
    con = duckdb.connect(str(wh.published()))
    try:
        assert derived.current(con, CAL)
        con.execute("INSERT INTO d_pending VALUES ('441200000003')")
        assert not derived.current(con, CAL)
        assert derived.refresh(con, CAL) == "incremental"
        assert derived.current(con, CAL)
    finally:
        con.close()


@pytest.mark.usefixtures("receipt")
def test_receipt_reports_equal_the_reference(tmp_path: Path, receipt: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    load_files(wh, [(receipt, load_profile(PROFILES / "receipt.toml"))], calendar=CAL)
    cuts = [Filters(), Filters(start=date(2011, 1, 1), end=date(2011, 6, 30))]
    _assert_same(wh, tmp_path, cuts)
    # Rework over all time counts second occurrences; with a period it groups by application.
    with wh.read() as con:
        whole = process.rework(con, CAL, Filters())
        bounded = process.rework(con, CAL, Filters(start=date(2000, 1, 1), end=date(2100, 1, 1)))
    assert whole["applications_with_rework"].sum() > 0
    assert_frame_equal(whole, bounded)
    # Likewise a staff member's applications: first steps, or a distinct count in a period.
    with wh.read() as con:
        whole = service.workload(con, CAL, Filters())
        bounded = service.workload(con, CAL, Filters(start=date(2000, 1, 1), end=date(2100, 1, 1)))
    assert whole["applications"].sum() > 0
    assert_frame_equal(whole, bounded)


def test_the_demo_reports_equal_the_reference(tmp_path: Path) -> None:
    from etl import demo

    files = demo.write_demo(
        tmp_path / "out", seed=3, applications=1500, months=8, end=date(2025, 6, 30)
    )
    wh = Warehouse(tmp_path / "w.duckdb")
    demo.load_demo(wh, files, secret=b"s", calendar=CAL)
    with wh.read() as con:
        departments = tuple(
            r[0] for r in con.execute("SELECT DISTINCT department FROM matters LIMIT 2").fetchall()
        )
    cuts = [
        Filters(),
        Filters(start=date(2025, 2, 1), end=date(2025, 3, 31)),
        Filters(departments=departments, channels=("online",)),
    ]
    _assert_same(wh, tmp_path, cuts)
    _ratings_without_the_join(wh)


def _ratings_without_the_join(wh: Warehouse) -> None:
    # Ratings read without the facts when nothing cuts by application: the same figures as
    # through them (a cut naming every channel takes the join).
    rated = ["ratings", "good_review_rate", "bad_reviews", "rectification_rate"]
    with wh.read() as con:
        channels = tuple(
            r[0] for r in con.execute("SELECT DISTINCT channel FROM applications").fetchall()
        )
        plain = kpis.kpis(con, CAL, Filters(), CONFIG, "month", only=rated)
        joined = kpis.kpis(con, CAL, Filters(channels=channels), CONFIG, "month", only=rated)
    assert plain.height > 0
    assert_frame_equal(plain, joined)
