"""Metrics on a small hand-built log whose answers were computed by hand (comments show how).

Center: Asia/Shanghai, working hours 09:00-12:00 and 13:30-17:30 (7 h a day), statutory
holidays. National Day 2025: 1-8 October off; Sunday 28 September and Saturday 11 October are
make-up working days.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from etl.profile import load_profile
from etl.run import load_files
from metrics import kpis, process
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from onewindow.config import Config
from tests.fixtures import CALENDAR, hand_built
from warehouse import Warehouse, sql

PROFILE = """
name = "hand-built"
timezone = "Asia/Shanghai"
in_person_steps = ["领证"]
[stages]
"受理" = "accept"
"办结" = "complete"
"补正" = "correction"
"特别程序" = "suspend"
"特别程序结束" = "resume"
[tables.matters]
files = "matters*"
[tables.matters.columns]
matter_code = "code"
name_zh = "name"
department = "dept"
statutory_limit_days = "statutory"
promised_limit_days = "promised"
[tables.applications]
files = "apps*"
[tables.applications.columns]
application_id = "id"
matter_code = "matter"
channel = "channel"
submitted_at = "submitted"
deadline_at = "deadline"
trips = "trips"
[tables.events]
files = "steps*"
[tables.events.columns]
application_id = "id"
step = "step"
timestamp = "at"
department = "dept"
"""

MATTERS = """code,name,dept,statutory,promised
M1,事项一,市场监管局,10,5
M2,事项二,税务局,20,3
"""

APPS = """id,matter,channel,submitted,deadline,trips
A,M1,window,2025-09-26 09:50,,1
B,M1,online,2025-03-05 09:00,,0
C,M2,window,2025-03-03 09:30,,
D,M2,online,2025-03-10 09:00,,
E,M1,window,2025-03-04 09:00,2025-03-06 12:00,
F,M1,window,2025-03-04 09:00,2025-03-06 12:00,
G,M2,online,2025-02-28 20:00,,
"""

STEPS = """id,step,at,dept
A,受理,2025-09-26 10:00,市场监管局
A,办结,2025-10-11 11:00,市场监管局
B,受理,2025-03-05 09:10,市场监管局
B,办结,2025-03-05 11:00,市场监管局
C,受理,2025-03-03 10:00,税务局
C,特别程序,2025-03-05 10:00,税务局
C,特别程序结束,2025-03-12 10:00,税务局
C,办结,2025-03-14 15:00,税务局
D,受理,2025-03-10 10:00,税务局
D,审查,2025-03-11 16:00,税务局
D,补正,2025-03-12 09:30,税务局
D,审查,2025-03-14 11:30,市场监管局
D,办结,2025-03-14 14:00,市场监管局
D,领证,2025-03-17 17:00,市场监管局
D,领证,2025-03-18 09:00,市场监管局
E,受理,2025-03-04 09:30,市场监管局
E,办结,2025-03-06 11:59,市场监管局
F,受理,2025-03-04 09:30,市场监管局
F,办结,2025-03-07 17:00,市场监管局
F,领证,2025-03-10 10:00,市场监管局
G,受理,2025-03-03 10:00,税务局
"""


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    folder = tmp_path_factory.mktemp("hand")
    return hand_built(
        folder, PROFILE, {"matters.csv": MATTERS, "apps.csv": APPS, "steps.csv": STEPS}
    )


CAL = WorkCalendar.from_config(Config())
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _facts(wh: Warehouse) -> dict[str, dict[str, object]]:
    with wh.read() as con:
        CAL.register(con)
        sql, params = process.facts_sql(CAL, Filters())
        rows = con.sql(sql, params=params).pl().to_dicts()
    return {r["application_id"]: r for r in rows}


def test_processing_working_days(wh: Warehouse) -> None:
    facts = _facts(wh)
    # A: after Fri 26 Sep: Sun 28 (make-up), Mon 29, Tue 30, Thu 9 Oct, Fri 10, Sat 11 (make-up)
    assert facts["A"]["processing_workdays"] == 6
    assert facts["A"]["on_time"] is False  # promised 5
    # B: accepted and completed on Wed 5 March: 0 days, instant
    assert (facts["B"]["processing_workdays"], facts["B"]["instant"]) == (0, True)
    # C: Mar 4-7, 10-14 = 9 working days, minus the suspension Wed 5 -> Wed 12 (6,7,10,11,12)
    assert (facts["C"]["processing_workdays"], facts["C"]["suspended_workdays"]) == (4, 5)
    assert facts["C"]["on_time"] is False  # promised 3
    # D: Mon 10 -> Fri 14: 4 working days, a 补正 loop
    assert facts["D"]["processing_workdays"] == 4


def test_explicit_deadline_decides_on_time(wh: Warehouse) -> None:
    facts = _facts(wh)
    # Both within the promised 5 days; the deadline instant 6 March 12:00 decides.
    assert facts["E"]["on_time"] is True  # 11:59
    assert facts["F"]["on_time"] is False  # 7 March 17:00


def test_trips_known_derived_or_unknown(wh: Warehouse) -> None:
    facts = _facts(wh)
    assert facts["A"]["trips"] == 1 and facts["B"]["trips"] == 0  # given
    assert facts["D"]["trips"] == 2  # 领证 on two different days
    assert facts["F"]["trips"] == 1  # 领证 once
    assert facts["C"]["trips"] is None and facts["C"]["fully_online"] is None  # unknown, not 0
    assert facts["B"]["fully_online"] is True


def test_working_hours_of_transitions(wh: Warehouse) -> None:
    with wh.read() as con:
        CAL.register(con)
        sql, params = process.transitions_sql(CAL, Filters())
        rows = con.sql(sql, params=params).pl().to_dicts()
    got = {
        (r["application_id"], r["from_step"], r["to_step"], r["duration_s"]): r["work_h"]
        for r in rows
    }
    # Tue 16:00 -> Wed 09:30 (cross-midnight): 1.5 h + 0.5 h
    assert got[("D", "审查", "补正", 17.5 * 3600)] == pytest.approx(2.0)
    # Fri 17:00 -> Mon 10:00 (cross-weekend): 0.5 h + 1 h
    assert got[("F", "办结", "领证", 65 * 3600)] == pytest.approx(1.5)
    # 11:30 -> 14:00 across the lunch break: 0.5 h + 0.5 h
    assert got[("D", "审查", "办结", 2.5 * 3600)] == pytest.approx(1.0)
    # Fri 26 Sep 10:00 -> Sat 11 Oct 11:00 (make-up day): 7.5 h on 26th (10:00-17:30 minus
    # lunch = 6 h), 28, 29, 30 Sep, 9, 10 Oct (5 x 7 h), 2 h on 11th = 6 + 35 + 2
    assert got[("A", "受理", "办结", 15 * 86400 + 3600)] == pytest.approx(43.0)


def test_rework_and_handovers(wh: Warehouse) -> None:
    with wh.read() as con:
        rework = process.rework(con, CAL, Filters())
        moves = process.transitions(con, CAL, Filters())
    counts = {r["step"]: r["applications_with_rework"] for r in rework.to_dicts()}
    assert counts["审查"] == 1 and counts["领证"] == 1 and counts["受理"] == 0
    handover = {(r["from_step"], r["to_step"]): r["handovers"] for r in moves.to_dicts()}
    assert handover[("补正", "审查")] == 1  # 税务局 -> 市场监管局


def test_kpis_and_cards(wh: Warehouse) -> None:
    with wh.read() as con:
        march = kpis.kpis(
            con, CAL, Filters(start=date(2025, 3, 1), end=date(2025, 3, 31)), Config()
        )
    values = dict(zip(march["kpi"], march["value"], strict=True))
    # completed in March: B, C, D, E, F; on time: B, E (D: 4 > 3 days; C late; F late)
    assert values["completed"] == 5 and values["on_time_rate"] == pytest.approx(2 / 5)
    # accepted in March: B, C, D, E, F, G; completed by the period's end: all but G
    assert values["completion_rate"] == pytest.approx(5 / 6)
    assert values["overdue"] == 2 + 1  # C, D, F
    # processing days 0, 4, 4, 2, 3 -> mean 2.6, median 3
    assert values["processing_workdays_mean"] == pytest.approx(2.6)
    assert values["processing_workdays_median"] == pytest.approx(3.0)
    # submitted in March: B, C, D, E, F; online: B, D; known trips: B (0, given), D (2) and
    # F (1), derived from 领证; fully online: B
    assert values["online_rate"] == pytest.approx(2 / 5)
    assert values["fully_online_rate"] == pytest.approx(1 / 3)
    assert values["trips_mean"] == pytest.approx(1.0)
    assert values["at_most_once_rate"] == pytest.approx(2 / 3)
    assert values["instant_share"] == pytest.approx(1 / 5)
    on_time = march.filter(march["kpi"] == "on_time_rate").row(0, named=True)
    assert (on_time["target"], on_time["meets_target"]) == (0.99, False)
    # Asking for a few KPIs computes their cohorts only, with the same values.
    with wh.read() as con:
        few = kpis.kpis(
            con,
            CAL,
            Filters(start=date(2025, 3, 1), end=date(2025, 3, 31)),
            Config(),
            only=("on_time_rate", "online_rate"),
        )
    cohorts = {kpis.KPIS[k].cohort for k in few["kpi"]}
    assert cohorts == {"completed", "submitted"}
    assert few.equals(march.filter(march["kpi"].is_in(few["kpi"].to_list())))
    with pytest.raises(ValueError, match="unknown KPI 'speed'"), wh.read() as con:
        kpis.kpis(con, CAL, Filters(), Config(), only=("speed",))


@pytest.mark.parametrize(
    "as_of,card,left",
    [
        # G: accepted Mon 3 March, promised 3 working days: due Thu 6 March 17:30.
        (datetime(2025, 3, 5, 17, 0, tzinfo=SHANGHAI), None, 7.5 / 7),  # 0.5 h + 7 h left
        (datetime(2025, 3, 6, 10, 0, tzinfo=SHANGHAI), "yellow", 6 / 7),  # 2 h + 4 h
        (datetime(2025, 3, 7, 10, 0, tzinfo=SHANGHAI), "red", -1 / 7),
    ],
)
def test_cards(wh: Warehouse, as_of: datetime, card: str | None, left: float) -> None:
    with wh.read() as con:
        CAL.register(con)
        facts, params = process.facts_sql(CAL, Filters())
        open_cards, card_params = kpis.cards_sql(CAL, "f", Config())  # yellow: 1 working day
        rows = sql.frame(
            con,
            f"WITH f AS ({facts}) SELECT application_id, card, workdays_left FROM "
            f"({open_cards}) WHERE application_id = 'G'",
            sql.merge(params, card_params, {"as_of": as_of}),
        ).rows()
        listed = kpis.cards(con, CAL, Filters(), Config(), as_of=as_of)
    assert rows[0][1] == card and rows[0][2] == pytest.approx(left)
    assert ("G" in listed["application_id"].to_list()) == (card is not None)


def test_years_beyond_the_holiday_data_are_flagged(tmp_path: Path) -> None:
    from metrics.health import calendar_coverage

    (tmp_path / "p.toml").write_text(PROFILE, encoding="utf-8")
    (tmp_path / "matters.csv").write_text(MATTERS, encoding="utf-8")
    (tmp_path / "apps.csv").write_text(
        "id,matter,channel,submitted,deadline,trips\nZ,M1,window,2031-03-05 09:00,,1\n",
        encoding="utf-8",
    )
    (tmp_path / "steps.csv").write_text(
        "id,step,at,dept\nZ,受理,2031-03-05 09:30,x\n", encoding="utf-8"
    )
    warehouse = Warehouse(tmp_path / "w.duckdb")
    profile = load_profile(tmp_path / "p.toml")
    load_files(
        warehouse,
        [(tmp_path / n, profile) for n in ("matters.csv", "apps.csv", "steps.csv")],
        calendar=CALENDAR,
    )
    with warehouse.read() as con:
        gaps = calendar_coverage(con, CAL)
    # The calendar counts from a fixed base (1990) to two years past the data: all of 2031.
    assert gaps["year"].to_list() == [2031] and gaps["fallback_days"][0] == 365
