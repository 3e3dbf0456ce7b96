"""One application's timeline (metrics/application.py) on hand-built applications whose working
times were computed by hand (comments show how).

Center: Asia/Shanghai, working hours 09:00-12:00 and 13:30-17:30 (7 h a day); March 2025 has
no holiday, so its working days are Monday to Friday."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from metrics import application
from metrics.calendar import WorkCalendar
from onewindow.config import Config
from tests.fixtures import hand_built
from tests.test_app import _open, every_page_role  # noqa: F401  (an autouse fixture)
from ui.fmt import Lang
from ui.i18n import column, tr
from warehouse import Warehouse

PROFILE = """
name = "hand-built"
timezone = "Asia/Shanghai"
in_person_steps = ["领证"]
[stages]
"受理" = "accept"
"办结" = "complete"
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
[tables.events]
files = "steps*"
[tables.events.columns]
application_id = "id"
step = "step"
started_at = "start"
timestamp = "at"
department = "dept"
window_id = "window"
staff = "staff"
"""

MATTERS = """code,name,dept,statutory,promised
M1,事项一,市场监管局,10,5
"""

APPS = """id,matter,channel,submitted
X1,M1,online,2025-03-07 20:00
X2,M1,window,2025-03-03 10:00
"""

STEPS = """id,step,start,at,dept,window,staff
X1,申请,,2025-03-07 20:00,,,
X1,受理,2025-03-10 09:00,2025-03-10 09:30,市场监管局,03号窗口,张三
X1,审查,2025-03-10 14:00,2025-03-11 10:00,市场监管局,,李四
X1,特别程序,2025-03-11 10:00,2025-03-11 11:00,市场监管局,,李四
X1,特别程序结束,2025-03-14 15:00,2025-03-14 16:00,市场监管局,,专家组
X1,办结,2025-03-18 10:00,2025-03-18 11:00,市场监管局,,王五
X1,领证,2025-03-19 09:15,2025-03-19 09:30,市场监管局,03号窗口,张三
X2,受理,2025-03-03 09:50,2025-03-03 10:00,市场监管局,03号窗口,张三
X2,审查,2025-03-04 09:00,2025-03-04 11:00,市场监管局,,李四
"""

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONFIG = Config()
CAL = WorkCalendar.from_config(CONFIG)


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    files = {"matters.csv": MATTERS, "apps.csv": APPS, "steps.csv": STEPS}
    return hand_built(tmp_path_factory.mktemp("one-app"), PROFILE, files)


AS_OF = datetime(2025, 3, 12, 12, 0, tzinfo=SHANGHAI)
# The timeline of X1 by hand: (step, working hours since the previous event, working days
# since it, handling working hours, working days counted so far, clock after the event).
X1 = [
    ("申请", None, None, None, None, "before"),
    # Fri 20:00 -> Mon 09:30: 0.5 h; handled 09:00-09:30; accepted on Monday: 0 days so far
    ("受理", 0.5, 1, 0.5, 0, "running"),
    # Mon 09:30-12:00 2.5 h + 13:30-17:30 4 h + Tue 09:00-10:00 1 h; handled Mon 14:00-17:30
    # 3.5 h + Tue 1 h; Tuesday is the first day counted
    ("审查", 7.5, 1, 4.5, 1, "running"),
    # Tue 10:00-11:00; the clock stops on Tuesday
    ("特别程序", 1.0, 0, 1.0, 1, "stopped"),
    # Tue 11:00-17:30 5 h, Wed 7 h, Thu 7 h, Fri 09:00-16:00 5.5 h; Wed, Thu, Fri (3 working
    # days) are suspended, so the count stays at 1
    ("特别程序结束", 24.5, 3, 1.0, 1, "running"),
    # Fri 16:00-17:30 1.5 h, Mon 7 h, Tue 09:00-11:00 2 h; Mon and Tue counted: 3
    ("办结", 10.5, 2, 1.0, 3, "done"),
    # Tue 11:00-17:30 5 h, Wed 09:00-09:30 0.5 h; after completion the count stays
    ("领证", 5.5, 1, 0.25, 3, "done"),
]


def test_timeline_of_a_hand_built_application(wh: Warehouse) -> None:
    with wh.read() as con:
        found = application.find(con, CAL, CONFIG, " X1 ", datetime(2025, 3, 20, tzinfo=SHANGHAI))
    assert found is not None
    steps = found.steps.to_dicts()
    got = [
        (
            r["step"],
            r["work_h"],
            r["workdays"],
            r["handling_work_h"],
            r["clock_workdays"],
            r["clock"],
        )
        for r in steps
    ]
    assert got == [pytest.approx(row) for row in X1]
    # local times, who and where
    assert steps[1]["ended_at"] == datetime(2025, 3, 10, 9, 30)
    assert (steps[1]["department"], steps[1]["window_id"], steps[1]["staff"]) == (
        "市场监管局",
        "03号窗口",
        "张三",
    )
    assert [r["in_person"] for r in steps] == [False] * 6 + [True]
    # the facts agree: 3 working days, 3 suspended, within the promised 5
    assert found.facts["processing_workdays"] == 3
    assert found.facts["suspended_workdays"] == 3
    assert found.status == "on_time"
    # due at the end of the 5th working day after acceptance: Mon 17 March 17:30
    assert found.due_at == datetime(2025, 3, 17, 17, 30, tzinfo=SHANGHAI)


def test_an_open_application_shows_its_card(wh: Warehouse) -> None:
    with wh.read() as con:
        found = application.find(con, CAL, CONFIG, "X2", AS_OF)
    assert found is not None
    # accepted Mon 3 March; 5 working days: due Mon 10 March 17:30; on Wed 12 March 12:00 it
    # is red, Tue 11 (7 h) and Wed 09:00-12:00 (3 h) past its deadline: -10/7 working days
    assert found.due_at == datetime(2025, 3, 10, 17, 30, tzinfo=SHANGHAI)
    assert found.status == "red"
    assert found.workdays_left == pytest.approx(-10 / 7, abs=0.01)
    assert [r["clock"] for r in found.steps.to_dicts()] == ["running", "running"]
    assert found.steps["clock_workdays"].to_list() == [0, 1]


def test_an_unknown_number_is_none(wh: Warehouse) -> None:
    with wh.read() as con:
        assert application.find(con, CAL, CONFIG, "X9", AS_OF) is None


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_application_page_shows_the_hand_built_timeline(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch, lang: Lang
) -> None:
    """Opened by its link (`/application?app=X1`), the page shows the hand-computed times."""
    at = _open(wh.path, monkeypatch, "application", lang=lang, app="X1")
    assert at.text_input(key="app").value == "X1"
    timeline = pl.from_pandas(at.dataframe[0].value)
    assert timeline[column("step", lang)].to_list() == [row[0] for row in X1]
    hours = timeline[column("work_h", lang)].to_list()
    # No previous step: an empty cell, which the table shows as "—" (its placeholder).
    assert hours == [None] + [f"{row[1]:.2f}" for row in X1[1:]]
    clock = timeline[column("clock_workdays", lang)].to_list()
    assert clock == [None] + [str(row[4]) for row in X1[1:]]
    assert timeline[column("ended_at", lang)].to_list()[1] == "2025-03-10 09:30"
    shown = {m.label: m.value for m in at.metric}
    assert shown[tr("application.status", lang)] == tr("app_status.on_time", lang)
    assert shown[tr("application.elapsed", lang)] == "3"
    assert shown[tr("application.suspended", lang)] == "3"
    assert at.query_params["app"] == "X1"  # the link reproduces the view


def test_an_unknown_number_is_one_sentence(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(wh.path, monkeypatch, "application", lang="en", app="X9")
    assert [w.value for w in at.warning] == [tr("application.not_found", "en", app="X9")]
