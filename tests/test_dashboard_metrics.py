"""The dashboard's own figures (metrics/dashboard.py, bottlenecks.py, followup.py, catalog.py,
freshness.py) on hand-built data whose answers were worked out by hand (comments show how).

Reuses the hand-built center of test_metrics_units (Asia/Shanghai, 09:00-12:00 and
13:30-17:30, so 7 working hours a day) and adds, through a second profile, two applications
in February and two in April with windows, staff and step start times, ratings, and a file
no table matches."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from etl.profile import load_profile
from etl.run import load_files
from metrics import bottlenecks, catalog, dashboard, followup, freshness
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.kpis import KPIS
from onewindow.config import Config
from tests.fixtures import CALENDAR
from tests.test_metrics_units import APPS, MATTERS, PROFILE, STEPS
from warehouse import Warehouse

SLOW_PROFILE = """
name = "slow"
timezone = "Asia/Shanghai"
[stages]
"受理" = "accept"
"办结" = "complete"
[tables.applications]
files = "slow_apps*"
[tables.applications.columns]
application_id = "id"
matter_code = "matter"
channel = "channel"
submitted_at = "submitted"
[tables.events]
files = "slow_steps*"
[tables.events.columns]
application_id = "id"
step = "step"
started_at = "started"
timestamp = "at"
department = "dept"
window_id = "window"
staff = "staff"
[tables.evaluations]
files = "ratings*"
[tables.evaluations.columns]
application_id = "id"
rating = "rating"
rated_at = "rated"
rectified_at = "fixed"
"""
# 受理 → 办结 took 2 working hours in February (X1, X2) and 4 in April (Y1, Y2:
# 09:00-12:00 and 13:30-14:30).
SLOW_APPS = """id,matter,channel,submitted
X1,M1,mobile,2025-02-10 08:30
X2,M1,mobile,2025-02-11 08:30
Y1,M1,window,2025-04-07 08:30
Y2,M1,window,2025-04-08 08:30
"""
SLOW_STEPS = """id,step,started,at,dept,window,staff
X1,受理,2025-02-10 08:50,2025-02-10 09:00,市场监管局,,
X1,办结,2025-02-10 10:00,2025-02-10 11:00,市场监管局,,
X2,受理,2025-02-11 08:50,2025-02-11 09:00,市场监管局,,
X2,办结,2025-02-11 10:00,2025-02-11 11:00,市场监管局,,
Y1,受理,2025-04-07 08:50,2025-04-07 09:00,市场监管局,W1,s1
Y1,办结,2025-04-07 13:30,2025-04-07 14:30,市场监管局,W1,s1
Y2,受理,2025-04-08 08:50,2025-04-08 09:00,市场监管局,W1,s1
Y2,办结,2025-04-08 14:00,2025-04-08 14:30,市场监管局,W1,s1
"""
# Bad reviews (1-2) in March 2025 (no holidays): rectify within 10 working days.
RATINGS = """id,rating,rated,fixed
A,2,2025-03-03 10:00,2025-03-05 10:00
B,1,2025-03-03 10:00,2025-03-24 10:00
C,1,2025-03-17 10:00,
D,2,2025-03-03 10:00,
E,5,2025-03-03 10:00,
"""
CAL = WorkCalendar.from_config(Config())
SHANGHAI = ZoneInfo("Asia/Shanghai")
MARCH = Filters(start=date(2025, 3, 1), end=date(2025, 3, 31))


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    folder = tmp_path_factory.mktemp("dash")
    (folder / "p.toml").write_text(PROFILE, encoding="utf-8")
    (folder / "slow.toml").write_text(SLOW_PROFILE, encoding="utf-8")
    texts = {
        "matters.csv": MATTERS,
        "apps.csv": APPS,
        "steps.csv": STEPS,
        "slow_apps.csv": SLOW_APPS,
        "slow_steps.csv": SLOW_STEPS,
        "ratings.csv": RATINGS,
        "junk.csv": "a,b\n1,2\n",
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    first, slow = load_profile(folder / "p.toml"), load_profile(folder / "slow.toml")
    items = [(folder / n, first) for n in ("matters.csv", "apps.csv", "steps.csv", "junk.csv")]
    items += [(folder / n, slow) for n in ("slow_apps.csv", "slow_steps.csv", "ratings.csv")]
    warehouse = Warehouse(folder / "w.duckdb")
    result = load_files(warehouse, items, calendar=CALENDAR)
    assert [f.status for f in result.files].count("failed") == 1, result
    return warehouse


def test_periods_and_the_period_before() -> None:
    anchor = date(2025, 3, 24)
    assert dashboard.period_range("this_month", anchor) == (date(2025, 3, 1), anchor)
    assert dashboard.period_range("last_month", anchor) == (date(2025, 2, 1), date(2025, 2, 28))
    assert dashboard.period_range("this_quarter", anchor) == (date(2025, 1, 1), anchor)
    assert dashboard.period_range("ytd", anchor) == (date(2025, 1, 1), anchor)
    assert dashboard.period_range("last_12_months", anchor) == (date(2024, 3, 25), anchor)
    # given the wrong way round: kept, to be reported, never swapped
    custom = dashboard.period_range("custom", anchor, date(2025, 3, 10), date(2025, 3, 5))
    assert custom == (date(2025, 3, 10), date(2025, 3, 5))
    assert dashboard.reversed_days(*custom)
    assert not dashboard.reversed_days(date(2025, 3, 5), date(2025, 3, 5))
    # 环比: this month's first 24 days meet February's first 24; a whole month a whole month
    assert dashboard.previous_range("this_month", date(2025, 3, 1), anchor) == (
        date(2025, 2, 1),
        date(2025, 2, 24),
    )
    assert dashboard.previous_range("last_month", date(2025, 3, 1), date(2025, 3, 31)) == (
        date(2025, 2, 1),
        date(2025, 2, 28),
    )
    assert dashboard.previous_range("last_month", date(2025, 2, 1), date(2025, 2, 28)) == (
        date(2025, 1, 1),
        date(2025, 1, 31),
    )
    # a custom whole month is a month like "last month" (November meets October, not 2–31 Oct)
    assert dashboard.previous_range("custom", date(2025, 11, 1), date(2025, 11, 30)) == (
        date(2025, 10, 1),
        date(2025, 10, 31),
    )
    # a quarter to date meets the same days of the quarter before
    assert dashboard.previous_range("this_quarter", date(2025, 1, 1), anchor) == (
        date(2024, 10, 1),
        date(2024, 12, 24),
    )
    # year to date (83 days) meets the 83 days before it
    assert dashboard.previous_range("ytd", date(2025, 1, 1), anchor) == (
        date(2024, 10, 10),
        date(2024, 12, 31),
    )
    # a custom span of 6 days: the 6 days before it
    assert dashboard.previous_range("custom", date(2025, 3, 5), date(2025, 3, 10)) == (
        date(2025, 2, 27),
        date(2025, 3, 4),
    )
    assert dashboard.shift_months(date(2024, 3, 31), -1) == date(2024, 2, 29)


def test_the_same_period_a_year_earlier() -> None:
    assert dashboard.year_ago_range(date(2025, 3, 1), date(2025, 3, 24)) == (
        date(2024, 3, 1),
        date(2024, 3, 24),
    )
    # a whole February stays whole, 29 February included
    assert dashboard.year_ago_range(date(2025, 2, 1), date(2025, 2, 28)) == (
        date(2024, 2, 1),
        date(2024, 2, 29),
    )
    assert dashboard.year_ago_range(date(2024, 2, 29), date(2024, 2, 29)) == (
        date(2023, 2, 28),
        date(2023, 2, 28),
    )


def test_the_default_period_waits_for_enough_working_days() -> None:
    enough = dashboard.MIN_WORKDAYS_OF_MONTH
    assert dashboard.default_period(date(2025, 12, 1), 1) == "last_month"
    assert dashboard.default_period(date(2025, 12, 12), enough - 1) == "last_month"
    assert dashboard.default_period(date(2025, 12, 15), enough) == "this_month"


def test_partial_months() -> None:
    assert dashboard.partial_months(date(2024, 7, 1), date(2025, 6, 1)) == {"2025-06"}
    assert dashboard.partial_months(date(2024, 7, 1), date(2025, 6, 30)) == set()
    # the data begins mid-month: that month holds part of its days too
    assert dashboard.partial_months(date(2024, 7, 1), date(2025, 6, 30), date(2024, 7, 17)) == {
        "2024-07"
    }
    assert dashboard.partial_months(date(2024, 7, 1), date(2025, 6, 30), date(2024, 6, 17)) == set()


def test_trailing_year_needs_an_end() -> None:
    year = dashboard.trailing_year(Filters(date(2025, 3, 5), date(2025, 3, 10), ("M1",)))
    assert (year.start, year.end, year.matters) == (date(2024, 4, 1), date(2025, 3, 10), ("M1",))
    with pytest.raises(ValueError, match="end"):
        dashboard.trailing_year(Filters())


def test_wide_and_on_time_drag() -> None:
    long = pl.DataFrame(
        {
            "matter": ["P", "P", "P", "Q", "Q", "Q", "R", "R", "R"],
            "kpi": ["completed", "on_time_rate", "overdue"] * 3,
            "value": [10.0, 0.8, 2.0, 30.0, 0.9, 3.0, 10.0, 1.0, 0.0],
        }
    )
    table = dashboard.wide(long, "matter")
    assert table.columns == ["matter", *KPIS]  # every KPI, in order; absent ones null
    assert table["completed"].to_list() == [10.0, 30.0, 10.0]
    assert table["submitted"].null_count() == 3
    drag = dashboard.on_time_drag(table)
    # 50 completed in all: Q's 3 late ones cost 3/50 = 6 points, P's 2 cost 4; R none
    assert drag["matter"].to_list() == ["Q", "P"]
    assert drag["points_lost"].to_list() == pytest.approx([0.06, 0.04])
    assert dashboard.on_time_drag(dashboard.wide(long.clear(), "matter")).is_empty()


def test_outliers_by_tukeys_fences() -> None:
    frame = pl.DataFrame({"m": [10.0, 11.0, 12.0, 13.0, 40.0, None]})
    # linear quartiles of 10, 11, 12, 13, 40: Q1 = 11, Q3 = 13, fence 13 + 3 = 16
    assert dashboard.outliers(frame, "m")["outlier"].to_list() == [
        False, False, False, False, True, False,
    ]  # fmt: skip
    assert not any(dashboard.outliers(frame.head(3), "m")["outlier"])  # too few to judge


def test_card_counts() -> None:
    cards = pl.DataFrame(
        {
            "department": ["甲", "甲", "乙", None],
            "card": ["red", "yellow", "red", "red"],
            "workdays_left": [-2.5, 0.5, -1.0, -4.0],
        }
    )
    counts = dashboard.card_counts(cards, "department")
    # most red first, then most yellow; the unnamed department shows as a dash
    assert counts.rows() == [("甲", 1, 1, 2.5), ("—", 1, 0, 4.0), ("乙", 1, 0, 1.0)]


def test_handover_matrix(wh: Warehouse) -> None:
    with wh.read() as con:
        matrix = bottlenecks.handover_matrix(con, CAL, MARCH)
    # D: 补正 (税务局) Wed 12 Mar 09:30 -> 审查 (市场监管局) Fri 14 Mar 11:30:
    # 2.5 + 4 (Wed) + 7 (Thu) + 2.5 (Fri) = 16 working hours; the only handover
    assert matrix.rows() == [("税务局", "市场监管局", 1, 16.0, 16.0)]


def test_slower_steps(wh: Warehouse) -> None:
    with wh.read() as con:
        slower = bottlenecks.slower_steps(
            con,
            CAL,
            Filters(),
            date(2025, 4, 30),
            recent_months=1,
            baseline_months=2,
            min_count=2,
        )
    # 受理 -> 办结: 2 working hours in February, 4 in April; no other transition has two
    # on each side
    assert slower.select("from_step", "to_step", "before_median_work_h",
                         "recent_median_work_h", "change_work_h").rows() == [
        ("受理", "办结", 2.0, 4.0, 2.0)
    ]  # fmt: skip


def test_processing_distribution(wh: Warehouse) -> None:
    with wh.read() as con:
        spread = bottlenecks.processing_distribution(con, CAL, MARCH)
    # completed in March: B 0, E 2, F 3, C 4, D 4 working days
    assert spread.rows() == [(0, 1), (2, 1), (3, 1), (4, 2)]


def test_bad_reviews(wh: Warehouse) -> None:
    as_of = datetime(2025, 3, 21, 10, 0, tzinfo=SHANGHAI)
    with wh.read() as con:
        bad = followup.bad_reviews(con, CAL, MARCH, Config(), as_of)
    got = {r["application_id"]: (r["status"], r["age_workdays"]) for r in bad.to_dicts()}
    assert got == {
        "A": ("rectified", 2.0),  # Mon 3 -> Wed 5
        "B": ("late", 15.0),  # Mon 3 -> Mon 24: three weeks
        "C": ("open", 4.0),  # Mon 17 -> Fri 21 (as of), not rectified
        "D": ("overdue", 14.0),  # Mon 3 -> Fri 21, past the 10 days
    }  # E rated 5 is not a bad review
    assert bad["application_id"].to_list() == ["D", "C", "B", "A"]  # open and oldest first


def test_window_workload(wh: Warehouse) -> None:
    april = Filters(start=date(2025, 4, 1), end=date(2025, 4, 30))
    with wh.read() as con:
        rows = followup.window_workload(con, CAL, april).to_dicts()
    # W1: 4 steps of 10, 60, 10, 30 minutes (median 20), 2 applications on 2 days, 1 person
    assert rows == [
        {
            "window_id": "W1",
            "steps": 4,
            "applications": 2,
            "days_active": 2,
            "steps_per_day": 2.0,
            "staff": 1,
            "median_step_min": 20.0,
        }
    ]


def test_catalog_and_freshness(wh: Warehouse) -> None:
    with wh.read() as con:
        matters = catalog.matters(con)
        channels = catalog.channels(con)
        days = catalog.data_days(con, "Asia/Shanghai")
        fresh = freshness.freshness(con)
        failed = freshness.failed_files(con, Filters(), "Asia/Shanghai")
    assert matters.select("matter_code", "name_zh", "department").rows() == [
        ("M1", "事项一", "市场监管局"),
        ("M2", "事项二", "税务局"),
    ]
    assert channels == ["window", "online", "mobile"]  # 4 + 2, 3, 2
    assert days == (date(2025, 2, 10), date(2025, 10, 11))
    assert fresh.applications == 11 and fresh.last_run_status == "partial"
    assert fresh.last_event_at == datetime(2025, 10, 11, 11, 0, tzinfo=SHANGHAI)
    assert failed["file"].to_list()[0].endswith("junk.csv")
