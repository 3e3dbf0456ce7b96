"""The demo center's applications, steps, ratings and queue tickets, with planted effects.

Vectorized with NumPy: one array per attribute, one slot per possible step, no loop per
application. Deterministic for a seed. Planted effects are documented in `truth`; each
reform's true effect is measured on the treated applications by drawing their factual and
counterfactual outcomes from the same random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from etl.demo.catalog import DEPARTMENTS, MATTERS
from etl.demo.clock import DAY_MINUTES, UTC_OFFSET_MIN, WorkClock

# Step slots, in order. Names are what the approval system exports (环节名称).
# After 补正 (missing materials) the application is reviewed again: 审查 a second time, which
# is what rework means.
SLOTS = (
    "申请",
    "受理",
    "审查",
    "补正",
    "审查",
    "现场核查",
    "特别程序",
    "特别程序结束",
    "决定",
    "办结",
    "送达",
)
APPLY, ACCEPT, REVIEW, CORRECT, REREVIEW, INSPECT, SUSPEND, RESUME, DECIDE, DONE, DELIVER = range(
    len(SLOTS)
)
WINDOW_STEPS = (ACCEPT, DELIVER)
CHANNELS = np.array(["窗口", "网上", "移动端", "自助终端", "邮寄"])


# In-person visits of online applications: the share of those whose matter cannot be done
# fully online that bring their original documents to the window, and the share of online
# applicants who collect the licence there.
PLAN_VISITS = {"check": 0.6, "collect": 0.12}


@dataclass(frozen=True)
class Plan:
    """Which effects are planted where; derived from the period so any --months works."""

    start: date
    end: date
    reform_a_date: date
    reform_b_date: date
    bottleneck_month: date
    reform_a_matters: tuple[str, ...] = (
        "M-SC-001",
        "M-SC-004",
        "M-TAX-001",
        "M-HR-001",
        "M-PS-008",
    )
    reform_b_matters: tuple[str, ...] = (
        "M-EE-001",
        "M-EE-003",
        "M-HC-001",
        "M-HW-004",
        "M-TR-005",
        "M-WR-006",
        "M-CA-006",
        "M-AG-004",
    )
    bottleneck_matter: str = "M-NR-002"
    bottleneck_factor: float = 5.0
    slow_staff: str = "HR-05"
    slow_factor: float = 2.0
    queue_weekdays: tuple[int, ...] = (0, 1)  # Monday, Tuesday
    queue_hours: tuple[int, ...] = (9,)
    queue_wait_min: float = 48.0
    normal_wait_min: float = 7.0
    overdue_matter: str = "M-NR-003"
    overdue_count: int = 40

    @classmethod
    def for_period(cls, end: date, months: int, variant: int = 0) -> Plan:
        """Variant 0 is the demo center; the province's other centers (onewindow demo
        --centers) plant their bottleneck, slow staff member and overdue matter elsewhere,
        with other strengths."""
        start = _month_start(end, -months + 1)
        plan = cls(
            start=start,
            end=end,
            reform_a_date=_month_start(end, -months // 2 + 1),
            reform_b_date=_month_start(end, -months // 3 + 1),
            bottleneck_month=_month_start(end, -4 - variant % 3),
        )
        if variant == 0:
            return plan
        pick = VARIANTS[(variant - 1) % len(VARIANTS)]
        return replace(
            plan,
            bottleneck_matter=pick[0],
            slow_staff=pick[1],
            overdue_matter=pick[2],
            bottleneck_factor=3.0 + variant % 4,
            slow_factor=1.5 + 0.25 * (variant % 3),
        )


# The other centers' planted bottleneck matter, slow staff member and overdue matter.
VARIANTS = (
    ("M-NR-003", "HR-03", "M-NR-002"),
    ("M-SC-001", "HR-02", "M-TAX-001"),
    ("M-HR-001", "HR-04", "M-SC-004"),
)


def _month_start(day: date, shift: int) -> date:
    index = day.year * 12 + day.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


@dataclass
class Demo:
    applications: pl.DataFrame
    steps: pl.DataFrame
    matters: pl.DataFrame
    ratings: pl.DataFrame
    tickets: pl.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)


def generate(
    seed: int, applications: int, months: int, end: date, variant: int = 0, region: str = "4412"
) -> Demo:
    """`region`: the administrative division code that begins every application id (办件编号),
    so the ids of a province's centers never collide."""
    rng = np.random.default_rng(seed)
    plan = Plan.for_period(end, months, variant)
    clock = WorkClock(plan.start, end + timedelta(days=400))
    n = applications
    cat = _catalog_arrays()

    # --- when: submission day (arrivals follow working days, month ends, Spring Festival) ---
    n_days = (end - plan.start).days + 1
    days = clock.days[:n_days]
    weekday = (days.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    workday = clock.workday[:n_days]
    day_of_month = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    month_len = (
        (days.astype("datetime64[M]") + 1).astype("datetime64[D]")
        - days.astype("datetime64[M]").astype("datetime64[D]")
    ).astype(np.int64)
    weight = np.where(workday, 1.0, 0.12)
    weight *= np.where(workday & (day_of_month > month_len - 4), 1.35, 1.0)
    weight *= np.where(weekday == 0, 1.15, 1.0)  # Mondays are busier
    weight *= 1 + 0.15 * np.arange(n_days) / n_days  # the district grows
    weight *= np.where(_near_spring_festival(days), 0.45, 1.0)
    day = rng.choice(n_days, size=n, p=weight / weight.sum())
    day.sort()
    t_frac = day / max(n_days - 1, 1)
    on_workday = workday[day]

    # --- what: matter and channel ---
    matter = rng.choice(len(cat["code"]), size=n, p=cat["volume"] / cat["volume"].sum())
    day_date = days[day]
    reform_a = np.isin(cat["code"][matter], plan.reform_a_matters)
    after_a = day_date >= np.datetime64(plan.reform_a_date)
    treated_a = reform_a & after_a
    u_channel = rng.random(n)
    p_online = 0.28 + 0.34 * t_frac  # the background drift towards online
    online_cf = (u_channel < p_online) & cat["online"][matter]
    online_cf |= ~on_workday & cat["online"][matter]  # windows are closed: online only
    online = np.where(treated_a, u_channel < 0.93, online_cf)
    mobile_share = rng.random(n) < 0.35 + 0.25 * t_frac
    other = rng.random(n)

    def to_channel(is_online: np.ndarray) -> np.ndarray:
        picked = np.where(
            is_online,
            np.where(mobile_share, 2, 1),
            np.where(other < 0.03, 3, np.where(other < 0.05, 4, 0)),
        )
        return np.where(~on_workday & ~is_online, 1, picked)  # nobody queues at a closed center

    channel, channel_cf = to_channel(online), to_channel(online_cf)

    # --- applicants (repeat applicants share a key) and personal columns ---
    applicant = rng.integers(0, max(n // 3, 1), size=n)
    enterprise = cat["department_code"][matter] != "PS"
    enterprise &= rng.random(n) < 0.55

    # --- time of day and acceptance ---
    minute = np.where(
        channel == 0,
        np.where(
            rng.random(n) < 0.45,
            rng.uniform(9 * 60, 12 * 60, n),
            rng.uniform(13.5 * 60, 17.5 * 60, n),
        ),
        rng.uniform(7 * 60, 23.5 * 60, n),
    )
    submitted_local = day_date.astype("datetime64[s]") + (minute * 60).astype("timedelta64[s]")
    day_idx = clock.day_index(day_date)
    w_sub = clock.to_work(day_idx, minute)

    # Who: each step is done by a department, a window (counter steps) and a staff member;
    # one of them is twice as slow as the others at every step.
    dept = cat["department_index"][matter]
    staff_slot = rng.integers(0, 6, (len(SLOTS), n))
    slow_dept, slow_no = plan.slow_staff.split("-")
    slow = (cat["department_code"][matter] == slow_dept)[None, :] & (staff_slot == int(slow_no) - 1)
    slow[[APPLY, CORRECT, SUSPEND, RESUME]] = False
    slowness = np.where(slow, plan.slow_factor, 1.0)
    accept_handling = rng.lognormal(np.log(12), 0.5, n) * slowness[ACCEPT]
    w_acc = (
        w_sub + accept_handling + np.where(channel == 0, 0.0, rng.uniform(20, 1.6 * DAY_MINUTES, n))
    )

    # --- how long: processing in working minutes, with the planted effects ---
    promised = cat["promised"][matter].astype(np.float64)
    instant = promised == 0
    frac = np.clip(rng.lognormal(np.log(0.5), 0.33, n), 0.05, 4.0)
    process_cf = np.where(instant, rng.uniform(8, 80, n), frac * promised * DAY_MINUTES)
    process = np.where(treated_a, process_cf * 0.5, process_cf)

    correction = rng.random(n) < np.where(cat["materials"][matter] > 6, 0.2, 0.1)
    correction &= ~instant
    inspection = cat["inspection"][matter] & ~instant
    special = inspection & (rng.random(n) < 0.05)
    withdrawn = rng.random(n) < 0.015
    refused = ~withdrawn & (rng.random(n) < 0.03)

    # Base share of each step's time (wait + handling); scaled to `process` below.
    share = np.zeros((len(SLOTS), n))
    share[REVIEW] = 0.3
    share[CORRECT] = np.where(correction, 0.35, 0)
    share[REREVIEW] = np.where(correction, 0.15, 0)
    share[INSPECT] = np.where(inspection, 0.25, 0)
    share[DECIDE] = 0.45  # the decision, with its sign-off, takes longest
    share[DONE] = 0.1
    share *= rng.uniform(0.7, 1.3, share.shape)
    share /= share.sum(axis=0, keepdims=True)
    span = share * process
    # 特别程序 (expert review) starts the suspension, 特别程序结束 ends it: the clock stops
    # for the whole working days between them, and the deadline moves by as many.
    suspended_days = np.where(special, rng.integers(5, 16, n), 0)
    span[SUSPEND] = np.where(special, rng.uniform(10, 120, n), 0)
    span[RESUME] = suspended_days * DAY_MINUTES

    code = cat["code"][matter]
    treated_b = np.isin(code, plan.reform_b_matters) & (
        day_date >= np.datetime64(plan.reform_b_date)
    )
    span[REVIEW] *= np.where(treated_b, 0.35, 1.0)
    span[REREVIEW] *= np.where(treated_b, 0.35, 1.0)
    slowed = (code == plan.bottleneck_matter) & (day_date >= np.datetime64(plan.bottleneck_month))
    span[REVIEW] *= np.where(slowed, plan.bottleneck_factor, 1.0)

    # Handling time is the staff member's own; the step's span makes room for it.
    typical = np.where(instant, 6.0, 30.0)  # minutes; an instant matter is quick at every step
    handling = rng.lognormal(np.log(typical), 0.6, (len(SLOTS), n)) * slowness
    span = np.maximum(span, np.where(span > 0, handling, 0.0))
    handling[ACCEPT] = accept_handling
    handling[DELIVER] = rng.lognormal(np.log(8), 0.5, n) * slowness[DELIVER]

    present = np.ones((len(SLOTS), n), dtype=bool)
    present[CORRECT] = present[REREVIEW] = correction
    present[INSPECT] = inspection
    present[SUSPEND] = present[RESUME] = special
    for slot in (CORRECT, REREVIEW, INSPECT, SUSPEND, RESUME, DECIDE, DONE):
        present[slot] &= ~withdrawn  # a withdrawn application stops after its review
    present[DELIVER] = ~withdrawn & ~refused
    skipped_review = _skip_review(plan, code, cat["department_code"][matter], staff_slot, day_date)
    present[REVIEW] &= ~skipped_review
    present[REREVIEW] &= ~skipped_review
    span = np.where(present, span, 0.0)
    handling = np.where(present, handling, 0.0)

    # Open applications past their limit at the export's end: a stalled review.
    end_work = clock.to_work(
        np.array([clock.day_index(np.array([end], dtype="datetime64[D]"))[0]]),
        np.array([24 * 60.0]),
    )[0]
    overdue = _pick_overdue(rng, code, w_acc, end_work, plan)
    span[REVIEW] = np.where(overdue, 10 * 365 * DAY_MINUTES, span[REVIEW])

    ends = w_acc + np.cumsum(span[REVIEW:], axis=0)  # steps after acceptance
    done_at = ends[DONE - REVIEW]
    deliver_at = done_at + rng.uniform(30, 2.5 * DAY_MINUTES, n)
    ends[DELIVER - REVIEW] = deliver_at
    finish = np.vstack([w_sub[None, :], w_acc[None, :], ends])
    start = finish - handling
    start[APPLY] = finish[APPLY]

    # Completion: withdrawal ends at review; everything else at 办结.
    completed_w = np.where(withdrawn, finish[REVIEW], done_at)
    export_end = np.datetime64(end) + np.timedelta64(1, "D") - np.timedelta64(UTC_OFFSET_MIN, "m")
    completed_at = clock.to_clock(completed_w)
    accepted_at = clock.to_clock(w_acc)
    is_done = completed_at < export_end

    # Trips: the window visit, a correction handed in at the window, collecting in person.
    collects = rng.random(n) < 0.55  # would collect the result at the window

    def count_trips(chan: np.ndarray, pickup: np.ndarray) -> np.ndarray:
        at_window = chan == 0
        return (
            at_window.astype(int)
            + (correction & at_window).astype(int)
            + (at_window & pickup).astype(int)
        )

    # Online applicants who still come in: matters that cannot be done fully online want the
    # original documents checked at the window (受理 there), and some applicants collect
    # their licence at the window (领证) instead of having it sent. Drawn from their own
    # generator, so every other planted figure keeps its random numbers. The reform's touched
    # matters are done online with no trip at all.
    visits_rng = np.random.default_rng([seed, 9])
    u_check, u_collect = visits_rng.random(n), visits_rng.random(n)

    def visits(chan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        online_chan = (chan == 1) | (chan == 2)
        check = online_chan & ~cat["fully_online"][matter] & (u_check < PLAN_VISITS["check"])
        return check, online_chan & (u_collect < PLAN_VISITS["collect"])

    check_at_window, collect_at_window = (v & ~treated_a for v in visits(channel))
    check_cf, collect_cf = visits(channel_cf)
    deliver_in_person = ((channel == 0) & collects & ~treated_a) | collect_at_window
    trips = count_trips(channel, deliver_in_person) + check_at_window + collect_at_window
    trips_cf = count_trips(channel_cf, (channel_cf == 0) & collects) + check_cf + collect_cf
    materials_cf = np.maximum(1, cat["materials"][matter] + rng.integers(-1, 2, n))
    materials = np.where(
        treated_a, np.maximum(1, np.round(materials_cf * 0.6)), materials_cf
    ).astype(np.int64)

    app_ids = np.char.add(region, np.char.zfill(np.arange(1, n + 1).astype(str), 10))
    # The reform's true effect over the analysis window a reform officer uses by default
    # (90 days from the effective date), where the growing background online share matters.
    window_a = treated_a & (day_date < np.datetime64(plan.reform_a_date + timedelta(days=90)))
    truth = _truth(
        plan,
        seed,
        n,
        code,
        window_a,
        reform_a,
        after_a,
        online,
        online_cf,
        trips,
        trips_cf,
        materials,
        materials_cf,
        process,
        process_cf,
        is_done,
        slowed,
        treated_b,
    )
    truth["open_past_limit"]["applications"] = int(overdue.sum())
    online_apps = (channel == 1) | (channel == 2)
    truth["online_visits"] = {
        "check_share_of_not_fully_online_matters": PLAN_VISITS["check"],
        "collect_share": PLAN_VISITS["collect"],
        "online_applications": int(online_apps.sum()),
        "with_visit": int((online_apps & (trips > 0)).sum()),
        "share": float((trips[online_apps] > 0).mean()) if online_apps.any() else 0.0,
        "planted": "online and mobile applications of matters that cannot be done fully online "
        "have their original documents checked at the window (受理 there) in "
        f"{PLAN_VISITS['check']:.0%} of cases; {PLAN_VISITS['collect']:.0%} of online "
        "applicants collect their licence at the window (领证); the touched matters of reform "
        "1 never; `share` is the share of online applications with at least one trip, "
        "1 − fully-online rate ÷ online rate",
    }
    truth["skipped_review"] = _skipped_review_truth(plan, skipped_review)

    apps = pl.DataFrame(
        {
            "办件编号": app_ids,
            "事项编码": code,
            "事项名称": cat["name_zh"][matter],
            "申请方式": CHANNELS[channel],
            "申请人类型": np.where(enterprise, "法人", "自然人"),
            "申请时间": _local_text(submitted_local),
            "受理时间": np.where(accepted_at < export_end, _local_text(_to_local(accepted_at)), ""),
            "承诺办结时间": np.where(
                instant | (accepted_at >= export_end),
                "",
                _deadline_text(clock, w_acc, promised + suspended_days),
            ),
            "办结时间": np.where(is_done, _local_text(_to_local(completed_at)), ""),
            "办理结果": np.where(
                ~is_done, "", np.where(withdrawn, "撤件", np.where(refused, "不予许可", "准予许可"))
            ),
            "跑动次数": trips.astype(str),
            "提交材料数": materials.astype(str),
            "申请人": _names(rng, applicant),
            "证件号码": _id_numbers(applicant, seed),
            "联系电话": _phones(applicant, seed),
        }
    )
    submitted_utc = submitted_local - np.timedelta64(UTC_OFFSET_MIN, "m")
    steps = _steps(
        clock,
        app_ids,
        dept,
        channel,
        submitted_utc,
        start,
        finish,
        present,
        staff_slot,
        deliver_in_person,
        check_at_window,
        export_end,
        rng,
    )
    ratings = _ratings(
        rng,
        app_ids,
        completed_at,
        is_done,
        withdrawn,
        channel,
        process,
        promised,
        instant,
        export_end,
    )
    tickets = _tickets(rng, clock, submitted_local, channel, dept, day_date, plan)
    truth["counts"] = {
        "applications": n,
        "steps": steps.height,
        "ratings": ratings.height,
        "tickets": tickets.height,
        "open": int((~is_done).sum()),
    }
    return Demo(apps, steps, _matters(), ratings, tickets, truth)


# A procedure violation (程序违规): from SKIP_FROM_MONTHS before the end, one acceptance clerk
# of one matter sends the applications they accept on without the review (审查) step.
SKIP_MATTER = "M-SC-002"
SKIP_STAFF = "SC-03"
SKIP_FROM_MONTHS = 6
# The matters' procedure as their 办事指南 publishes it (the config's [[procedures]] shape).
DEMO_PROCEDURE = {
    "required": ["受理", "审查", "决定", "办结"],
    "optional": ["申请", "补正", "现场核查", "特别程序", "特别程序结束"],
    "repeatable": ["审查", "补正"],
    "end": "办结",
    "after_end": ["送达", "领证"],
}


def _skip_month(plan: Plan) -> date:
    return _month_start(plan.end, -SKIP_FROM_MONTHS + 1)


def _skip_review(
    plan: Plan,
    code: np.ndarray,
    dept_code: np.ndarray,
    staff_slot: np.ndarray,
    day_date: np.ndarray,
) -> np.ndarray:
    """Applications of SKIP_MATTER accepted by SKIP_STAFF from the planted month on: their
    review (and the review after a correction) is skipped."""
    accepted_by = _staff_name(dept_code, staff_slot[ACCEPT])
    return (
        (code == SKIP_MATTER)
        & (accepted_by == SKIP_STAFF)
        & (day_date >= np.datetime64(_skip_month(plan)))
    )


def _skipped_review_truth(plan: Plan, skipped: np.ndarray) -> dict[str, Any]:
    return {
        "matter": SKIP_MATTER,
        "staff": SKIP_STAFF,
        "from_month": _skip_month(plan).isoformat()[:7],
        "step": "审查",
        "procedure": DEMO_PROCEDURE,
        "planted": "applications of this matter submitted from this month on and accepted by "
        "this staff member skip the review (审查): a required step missing",
        "applications": int(skipped.sum()),
    }


def _catalog_arrays() -> dict[str, np.ndarray]:
    dept_index = {d.code: i for i, d in enumerate(DEPARTMENTS)}
    return {
        "code": np.array([m.code for m in MATTERS]),
        "name_zh": np.array([m.name_zh for m in MATTERS]),
        "volume": np.array([m.volume for m in MATTERS], dtype=np.float64),
        "online": np.array([m.online for m in MATTERS]),
        "fully_online": np.array([m.fully_online for m in MATTERS]),
        "promised": np.array([m.promised_days for m in MATTERS]),
        "materials": np.array([m.materials for m in MATTERS]),
        "inspection": np.array([m.inspection for m in MATTERS]),
        "department_code": np.array([m.department.code for m in MATTERS]),
        "department_index": np.array([dept_index[m.department.code] for m in MATTERS]),
    }


def _near_spring_festival(days: np.ndarray) -> np.ndarray:
    import chinese_calendar

    near = np.zeros(len(days), dtype=bool)
    for i, d in enumerate(days.astype(object)):
        try:
            detail = chinese_calendar.get_holiday_detail(d)
        except NotImplementedError:
            continue
        if detail[1] == "Spring Festival":
            near[max(0, i - 7) : i + 8] = True
    return near


def _pick_overdue(
    rng: np.random.Generator, code: np.ndarray, w_acc: np.ndarray, end_work: float, plan: Plan
) -> np.ndarray:
    """About `overdue_count` applications of one matter accepted 6–45 working days before
    the end (past the matter's promised limit), left open."""
    candidates = np.flatnonzero(
        (code == plan.overdue_matter)
        & (w_acc > end_work - 45 * DAY_MINUTES)
        & (w_acc < end_work - 6 * DAY_MINUTES)
    )
    chosen = rng.choice(candidates, size=min(plan.overdue_count, len(candidates)), replace=False)
    mask = np.zeros(len(code), dtype=bool)
    mask[chosen] = True
    return mask


def _to_local(utc: np.ndarray) -> np.ndarray:
    return utc + np.timedelta64(UTC_OFFSET_MIN, "m")


def _local_text(local: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(local.astype("datetime64[s]"), unit="s")
    if text.size == 0:  # a small center may have no step of a kind (numpy cannot replace)
        return text
    return np.char.replace(text, "T", " ")


def _deadline_text(clock: WorkClock, w_acc: np.ndarray, promised: np.ndarray) -> np.ndarray:
    """The promised deadline: end of the N-th working day after the day of acceptance."""
    k = (w_acc // DAY_MINUTES).astype(np.int64) + promised.astype(np.int64)
    k = np.clip(k, 0, len(clock.work_days) - 1)
    return np.char.add(np.datetime_as_string(clock.work_days[k], unit="D"), " 17:30:00")


_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
_GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅")


def _names(rng: np.random.Generator, applicant: np.ndarray) -> np.ndarray:
    sur = np.array(_SURNAMES)[applicant % len(_SURNAMES)]
    given = np.array(_GIVEN)[(applicant // 7) % len(_GIVEN)]
    given2 = np.array(_GIVEN)[(applicant // 13) % len(_GIVEN)]
    return np.char.add(np.char.add(sur, given), np.where(applicant % 3 == 0, "", given2))


_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])


def _id_numbers(applicant: np.ndarray, seed: int) -> np.ndarray:
    """GB 11643 resident ID numbers with valid check digits, one per applicant."""
    rng = np.random.default_rng([seed, 11643])
    pool = int(applicant.max()) + 1
    born = np.datetime64("1955-01-01") + rng.integers(0, 365 * 50, pool).astype("timedelta64[D]")
    body = np.char.add(
        np.char.add("441203", np.char.replace(np.datetime_as_string(born, unit="D"), "-", "")),
        np.char.zfill(rng.integers(0, 1000, pool).astype(str), 3),
    )
    digits = np.array([list(b) for b in body], dtype=np.int64)
    check = np.array(list("10X98765432"))[(digits @ _ID_WEIGHTS) % 11]
    return np.char.add(body, check)[applicant]


def _phones(applicant: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 12345])
    pool = int(applicant.max()) + 1
    prefix = np.array(["13", "15", "17", "18", "19"])[rng.integers(0, 5, pool)]
    return np.char.add(prefix, np.char.zfill(rng.integers(0, 10**9, pool).astype(str), 9))[
        applicant
    ]


def _staff_name(dept_code: np.ndarray, slot: np.ndarray) -> np.ndarray:
    return np.char.add(np.char.add(dept_code, "-"), np.char.zfill((slot + 1).astype(str), 2))


def _steps(
    clock: WorkClock,
    app_ids: np.ndarray,
    dept: np.ndarray,
    channel: np.ndarray,
    submitted_utc: np.ndarray,
    start: np.ndarray,
    finish: np.ndarray,
    present: np.ndarray,
    staff_slot: np.ndarray,
    deliver_in_person: np.ndarray,
    check_at_window: np.ndarray,
    export_end: np.datetime64,
    rng: np.random.Generator,
) -> pl.DataFrame:
    n = len(app_ids)
    dept_codes = np.array([d.code for d in DEPARTMENTS])
    dept_names = np.array([d.name_zh for d in DEPARTMENTS])
    windows = np.char.add(
        np.char.zfill((dept * 3 + rng.integers(1, 4, n)).astype(str), 2), "号窗口"
    )
    frames = []
    for slot, name in enumerate(SLOTS):
        start_at = clock.to_clock(start[slot])
        end_at = clock.to_clock(finish[slot])
        if slot == APPLY:  # the applicant applies at any hour: keep the real instant
            start_at = end_at = submitted_utc
        keep = present[slot] & (end_at < export_end)
        if slot == APPLY:
            keep &= channel != 0  # a window application starts with 受理
        step_name = np.full(n, name)
        if slot == DELIVER:
            step_name = np.where(deliver_in_person, "领证", "送达")
        at_window = ((channel == 0) | check_at_window) if slot == ACCEPT else deliver_in_person
        # Not in place: `deliver_in_person` itself must survive the slots before 送达.
        at_window = at_window & (slot in WINDOW_STEPS)
        staff = _staff_name(dept_codes[dept], staff_slot[slot])
        if slot in (APPLY, CORRECT):
            staff = np.full(n, "")  # the applicant's own steps
        frames.append(
            pl.DataFrame(
                {
                    "办件编号": app_ids[keep],
                    "环节名称": step_name[keep],
                    "开始时间": _local_text(_to_local(start_at[keep])),
                    "结束时间": _local_text(_to_local(end_at[keep])),
                    "办理部门": (np.full(n, "") if slot in (APPLY, CORRECT) else dept_names[dept])[
                        keep
                    ],
                    "窗口": np.where(at_window, windows, "")[keep],
                    "经办人": staff[keep],
                    "办理意见": np.full(int(keep.sum()), _OPINION.get(name, "")),
                    "__order": np.full(int(keep.sum()), slot),
                    "__app": np.arange(n)[keep],
                }
            )
        )
    return pl.concat(frames).sort("__app", "__order").drop("__app", "__order")


_OPINION = {
    "受理": "材料齐全，予以受理",
    "审查": "审查通过",
    "补正": "请补正材料",
    "现场核查": "现场核查符合要求",
    "决定": "准予许可",
    "特别程序": "启动专家评审",
    "特别程序结束": "专家评审结束",
}


def _ratings(
    rng: np.random.Generator,
    app_ids: np.ndarray,
    completed_at: np.ndarray,
    is_done: np.ndarray,
    withdrawn: np.ndarray,
    channel: np.ndarray,
    process: np.ndarray,
    promised: np.ndarray,
    instant: np.ndarray,
    export_end: np.datetime64,
) -> pl.DataFrame:
    rated = is_done & ~withdrawn & (rng.random(len(app_ids)) < 0.6)
    late = ~instant & (process > promised * DAY_MINUTES)
    p_bad = np.where(late, 0.12, 0.02)
    u = rng.random(len(app_ids))
    rating = np.where(
        u < p_bad / 3,
        1,
        np.where(u < p_bad, 2, np.where(u < p_bad + 0.05, 3, np.where(u < p_bad + 0.22, 4, 5))),
    )
    rated_at = completed_at + (rng.uniform(0.1, 72, len(app_ids)) * 3600).astype("timedelta64[s]")
    fixed = (rating <= 2) & (rng.random(len(app_ids)) < 0.85)
    rectified = rated_at + (rng.uniform(1, 12, len(app_ids)) * 86400).astype("timedelta64[s]")
    keep = rated & (rated_at < export_end)
    return pl.DataFrame(
        {
            "办件编号": app_ids[keep],
            "评价等级": np.array(["", "非常不满意", "不满意", "基本满意", "满意", "非常满意"])[
                rating[keep]
            ],
            "评价时间": _local_text(_to_local(rated_at[keep])),
            "评价渠道": CHANNELS[channel[keep]],
            "差评原因": np.where(rating[keep] <= 2, "办理时间过长", ""),
            "整改时间": np.where(
                fixed[keep] & (rectified[keep] < export_end),
                _local_text(_to_local(rectified[keep])),
                "",
            ),
        }
    )


def _tickets(
    rng: np.random.Generator,
    clock: WorkClock,
    submitted_local: np.ndarray,
    channel: np.ndarray,
    dept: np.ndarray,
    day_date: np.ndarray,
    plan: Plan,
) -> pl.DataFrame:
    """One queue ticket per window visit, plus no-shows; long waits at the planted hours."""
    visit = channel == 0
    served = submitted_local[visit]
    # A ticket taken at a hot hour waits long: decided by the hour it would be taken.
    hot_wait = np.minimum(31.0 + rng.exponential(plan.queue_wait_min - 31.0, len(served)), 150)
    normal_wait = np.minimum(rng.exponential(plan.normal_wait_min, len(served)), 150)
    issued_if_hot = served - (hot_wait * 60).astype("timedelta64[s]")
    hot_day = (issued_if_hot.astype("datetime64[D]").view("int64") - 4) % 7
    hot_hour = (issued_if_hot - issued_if_hot.astype("datetime64[D]")).astype(
        "timedelta64[m]"
    ).astype(np.int64) // 60
    hot = np.isin(hot_day, plan.queue_weekdays) & np.isin(hot_hour, plan.queue_hours)
    wait = np.where(hot, hot_wait, normal_wait)
    opening = served.astype("datetime64[D]") + np.timedelta64(8 * 60, "m")  # doors open 08:00
    issued = np.maximum(served - (wait * 60).astype("timedelta64[s]"), opening)
    service = rng.lognormal(np.log(9), 0.5, len(served))
    no_show = rng.random(len(served)) < 0.05
    dept_names = np.array([d.name_zh for d in DEPARTMENTS])[dept[visit]]
    order = np.lexsort((issued,))
    day_text = np.datetime_as_string(issued[order].astype("datetime64[D]"), unit="D")
    frame = pl.DataFrame(
        {
            "day": day_text,
            "取号时间": _local_text(issued[order]),
            "叫号时间": np.where(no_show[order], "", _local_text(served[order])),
            "开始办理时间": np.where(
                no_show[order], "", _local_text(served[order] + np.timedelta64(30, "s"))
            ),
            "结束办理时间": np.where(
                no_show[order],
                "",
                _local_text(served[order] + (service[order] * 60).astype("timedelta64[s]")),
            ),
            "窗口": np.where(
                no_show[order],
                "",
                np.char.add(np.char.zfill((dept[visit][order] * 3 + 1).astype(str), 2), "号窗口"),
            ),
            "业务类型": dept_names[order],
            "状态": np.where(no_show[order], "过号", "已办结"),
        }
    )
    frame = frame.with_columns(
        ("A" + (pl.int_range(pl.len()).over("day") + 1).cast(pl.String).str.zfill(4)).alias("票号")
    )
    return frame.select(
        "票号", "取号时间", "叫号时间", "开始办理时间", "结束办理时间", "窗口", "业务类型", "状态"
    )


def _matters() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "实施编码": [m.code for m in MATTERS],
            "事项名称": [m.name_zh for m in MATTERS],
            "事项名称（英文）": [m.name_en for m in MATTERS],
            "实施部门": [m.department.name_zh for m in MATTERS],
            "法定时限（工作日）": [m.statutory_days for m in MATTERS],
            "承诺时限（工作日）": [m.promised_days for m in MATTERS],
            "办件类型": ["即办件" if m.instant else "承诺件" for m in MATTERS],
            "到现场次数": [m.max_trips for m in MATTERS],
            "申请材料数": [m.materials for m in MATTERS],
            "网上可办": ["是" if m.online else "否" for m in MATTERS],
            "全程网办": ["是" if m.fully_online else "否" for m in MATTERS],
        }
    )


def _truth(
    plan: Plan,
    seed: int,
    n: int,
    code: np.ndarray,
    treated_a: np.ndarray,
    reform_a: np.ndarray,
    after_a: np.ndarray,
    online: np.ndarray,
    online_cf: np.ndarray,
    trips: np.ndarray,
    trips_cf: np.ndarray,
    materials: np.ndarray,
    materials_cf: np.ndarray,
    process: np.ndarray,
    process_cf: np.ndarray,
    is_done: np.ndarray,
    slowed: np.ndarray,
    treated_b: np.ndarray,
) -> dict[str, Any]:
    t = treated_a & is_done
    work_days = process / DAY_MINUTES
    work_days_cf = process_cf / DAY_MINUTES
    return {
        "seed": seed,
        "applications": n,
        "period": {"start": plan.start.isoformat(), "end": plan.end.isoformat()},
        "reforms": [
            {
                "id": "one-thing-business-setup",
                "name": "企业开办一件事 / One-thing business set-up",
                "effective": plan.reform_a_date.isoformat(),
                "matters": list(plan.reform_a_matters),
                "planted": "touched matters go fully online (93 % online, no trips when online),"
                " need 40 % fewer materials and half the processing time",
                "planted_zh": "改革事项全程网办（93% 网上办理，网上办理不跑动），"
                "提交材料减少 40%，办理时长减半",
                "effect_on_treated": {
                    "online_rate": float(
                        np.mean(online[treated_a]) - np.mean(online_cf[treated_a])
                    ),
                    "trips_mean": float(np.mean(trips[t]) - np.mean(trips_cf[t])),
                    "materials_mean": float(
                        np.mean(materials[treated_a]) - np.mean(materials_cf[treated_a])
                    ),
                    "processing_working_hours_mean": float(
                        np.mean(work_days[t]) - np.mean(work_days_cf[t])
                    )
                    * 7,
                },
                "effect_window_days": 90,
                "treated_applications": int(treated_a.sum()),
            },
            {
                "id": "notification-commitment",
                "name": "告知承诺制 / Notification and commitment",
                "effective": plan.reform_b_date.isoformat(),
                "matters": list(plan.reform_b_matters),
                "planted": "the review steps (审查, also after 补正) of touched matters take "
                "35 % of their former time",
                "planted_zh": "改革事项的审查环节（含补正后的审查）用时降为原来的 35%",
                "review_factor": 0.35,
                "treated_applications": int(treated_b.sum()),
            },
        ],
        "bottleneck": {
            "matter": plan.bottleneck_matter,
            "department": "自然资源局",
            "step": "审查",
            "from_month": plan.bottleneck_month.isoformat()[:7],
            "factor": plan.bottleneck_factor,
            "planted": "the wait and handling before 审查 completes are 5 times longer from "
            "this month on, so the transition 受理 → 审查 ranks first and on-time "
            "falls",
            "affected_applications": int(slowed.sum()),
        },
        "slow_staff": {
            "staff": plan.slow_staff,
            "factor": plan.slow_factor,
            "planted": "handling time (开始时间 → 结束时间) of this person's steps is doubled",
        },
        "queue": {
            "weekdays": ["Monday", "Tuesday"],
            "hours": list(plan.queue_hours),
            "mean_wait_min": plan.queue_wait_min,
            "other_mean_wait_min": plan.normal_wait_min,
            "planted": "tickets taken at 09:00–10:00 on Mondays and Tuesdays wait 31 to 150 "
            "minutes (mean about 48); that hour's cell also holds tickets served at once",
        },
        "open_past_limit": {
            "matter": plan.overdue_matter,
            "applications": plan.overdue_count,
            "planted": "accepted 6–45 working days before the export's end, past the "
            "matter's promised limit, still open",
        },
        "channel_drift": {
            "online_share_start": 0.28,
            "online_share_end": 0.62,
            "planted": "the share of online applications rises linearly over "
            "the period, for every matter that can be done online",
        },
    }
