"""Every planted effect of the demo center is recovered from the warehouse with
`onewindow report`, as a person checking the dashboard against truth.json would."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from etl.demo.catalog import MATTERS
from etl.demo.clock import DAY_MINUTES
from metrics import reforms
from metrics.calendar import WorkCalendar
from onewindow.config import Config, load_config
from tests.conftest import run_cli
from warehouse import Warehouse

END = "2026-11-24"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("effects")
    ran = run_cli(
        "demo", "--seed", "7", "--end", END, "--out", out / "exports", "--db", out / "w.duckdb"
    )
    assert ran.code == 0, ran.err
    loaded = [line.split() for line in ran.out.splitlines()[3:-1]]
    assert len(loaded) == 5 and all(row[6] == "0" for row in loaded)  # nothing quarantined
    truth = json.loads((out / "exports" / "truth.json").read_text(encoding="utf-8"))
    return out / "w.duckdb", truth


def report(db: Path, name: str, *args: str) -> list[dict[str, Any]]:
    ran = run_cli("report", name, "--db", db, "--format", "json", *args)
    assert ran.code == 0, ran.err
    rows: list[dict[str, Any]] = json.loads(ran.out)
    return rows


def test_the_slowed_review_ranks_first_after_its_month_and_not_before(demo: tuple) -> None:
    db, truth = demo
    slow = truth["bottleneck"]
    start = date.fromisoformat(slow["from_month"] + "-01")
    after = report(
        db,
        "transitions",
        "--matter",
        slow["matter"],
        "--from",
        (start + timedelta(days=31)).replace(day=1).isoformat(),
    )
    before = report(
        db,
        "transitions",
        "--matter",
        slow["matter"],
        "--to",
        (start - timedelta(days=1)).isoformat(),
    )
    top_after = next(r for r in after if r["rank"] == 1)
    top_before = next(r for r in before if r["rank"] == 1)
    assert top_after["to_step"] == slow["step"]
    assert top_before["to_step"] != slow["step"]
    on_time = {
        label: next(
            r["value"]
            for r in report(db, "kpis", "--matter", slow["matter"], *period)
            if r["kpi"] == "on_time_rate"
        )
        for label, period in (
            ("before", ("--to", (start - timedelta(days=1)).isoformat())),
            ("after", ("--from", start.isoformat())),
        )
    }
    assert on_time["after"] < on_time["before"] - 0.2


def test_the_slow_staff_member_ranks_first_by_median_step_time(demo: tuple) -> None:
    db, truth = demo
    staff = report(db, "workload")
    slow = truth["slow_staff"]["staff"]
    assert staff[0]["staff"] == slow
    # About twice the typical of colleagues doing the same matters (same department).
    colleagues = sorted(
        r["median_step_min"]
        for r in staff
        if r["staff"].split("-")[0] == slow.split("-")[0] and r["staff"] != slow
    )
    assert staff[0]["median_step_min"] == pytest.approx(
        2 * colleagues[len(colleagues) // 2], rel=0.25
    )


def test_the_queue_hot_spot_is_the_worst_hour_and_weekday(demo: tuple) -> None:
    db, truth = demo
    cells = [r for r in report(db, "queue") if r["tickets"] >= 50]
    worst = max(cells, key=lambda r: r["mean_wait_min"])
    assert worst["weekday"] in truth["queue"]["weekdays"]
    assert worst["hour"] in truth["queue"]["hours"]
    assert worst["over_target_share"] > 0.5


def test_the_overdue_cluster_shows_as_red_cards(demo: tuple) -> None:
    db, truth = demo
    cluster = truth["open_past_limit"]
    cards = report(db, "cards", "--matter", cluster["matter"])
    assert cluster["applications"] >= 20
    assert sum(1 for c in cards if c["card"] == "red") >= cluster["applications"]


def _kpi(db: Path, matters: list[str], start: date, end: date, kpi: str) -> float:
    args = [a for m in matters for a in ("--matter", m)]
    rows = report(db, "kpis", *args, "--from", start.isoformat(), "--to", end.isoformat())
    value: float = next(r["value"] for r in rows if r["kpi"] == kpi)
    return value


@pytest.mark.parametrize(
    "kpi,tolerance", [("online_rate", 0.08), ("trips_mean", 0.15), ("materials_mean", 0.35)]
)
def test_the_reform_effect_matches_truth(demo: tuple, kpi: str, tolerance: float) -> None:
    db, truth = demo
    reform = truth["reforms"][0]
    touched = reform["matters"]
    control = [m.code for m in MATTERS if m.code not in touched]
    effective = date.fromisoformat(reform["effective"])
    windows = (
        (effective - timedelta(days=90), effective - timedelta(days=1)),
        (effective, effective + timedelta(days=89)),
    )
    change = {}
    for label, matters in (("touched", touched), ("control", control)):
        before, after = (_kpi(db, matters, s, e, kpi) for s, e in windows)
        change[label] = after - before
    did = change["touched"] - change["control"]
    assert did == pytest.approx(reform["effect_on_treated"][kpi], abs=tolerance)


def test_notification_commitment_shortens_the_review_of_its_matters(demo: tuple) -> None:
    db, truth = demo
    reform = truth["reforms"][1]
    effective = date.fromisoformat(reform["effective"])
    touched = reform["matters"]
    control = [
        m.code for m in MATTERS if m.code not in touched and m.code != truth["bottleneck"]["matter"]
    ]

    def review_hours(matters: list[str], start: date, end: date) -> float:
        args = [a for m in matters for a in ("--matter", m)]
        rows = report(
            db, "transitions", *args, "--from", start.isoformat(), "--to", end.isoformat()
        )
        value: float = next(
            r["median_work_h"] for r in rows if (r["from_step"], r["to_step"]) == ("受理", "审查")
        )
        return value

    # Transitions ending from 30 days after the date, so reviews started before it are done.
    before = (effective - timedelta(days=120), effective - timedelta(days=1))
    after = (effective + timedelta(days=30), effective + timedelta(days=150))
    ratio_touched = review_hours(touched, *after) / review_hours(touched, *before)
    ratio_control = review_hours(control, *after) / review_hours(control, *before)
    assert ratio_touched == pytest.approx(reform["review_factor"], abs=0.15)
    assert ratio_control == pytest.approx(1.0, abs=0.2)


# ----- reform tracking (`onewindow report reforms`) ---------------------------------------------

# truth.json states the processing effect in working hours; the report in working days.
HOURS_PER_WORKDAY = DAY_MINUTES / 60
PLANTED = {  # report KPI -> (truth key, factor to the report's unit)
    "online_rate": ("online_rate", 1.0),
    "trips_mean": ("trips_mean", 1.0),
    "materials_mean": ("materials_mean", 1.0),
    "processing_workdays_mean": ("processing_working_hours_mean", 1 / HOURS_PER_WORKDAY),
}


def _reform_rows(db: Path, reform_id: str) -> dict[str, dict[str, Any]]:
    return {r["kpi"]: r for r in report(db, "reforms", "--reform", reform_id)}


def test_the_demo_registers_its_planted_reforms(demo: tuple) -> None:
    db, truth = demo
    ids = {r["reform_id"] for r in report(db, "reforms")}
    assert ids == {r["id"] for r in truth["reforms"]}


@pytest.mark.parametrize("kpi", list(PLANTED))
def test_each_planted_change_lies_inside_the_did_interval(demo: tuple, kpi: str) -> None:
    db, truth = demo
    reform = truth["reforms"][0]
    key, factor = PLANTED[kpi]
    planted = reform["effect_on_treated"][key] * factor
    row = _reform_rows(db, reform["id"])[kpi]
    assert row["did_ci_low"] <= planted <= row["did_ci_high"]
    assert row["verdict"] == "improved"


def test_the_did_removes_the_background_drift_the_plain_change_keeps(demo: tuple) -> None:
    """The online share drifts up everywhere: touched matters' plain before/after change
    holds that drift and misses the planted effect; against the controls it is removed."""
    db, truth = demo
    reform = truth["reforms"][0]
    planted = reform["effect_on_treated"]["online_rate"]
    row = _reform_rows(db, reform["id"])["online_rate"]
    assert row["control_change"] > 0.02  # the drift, in the untouched matters
    assert not row["change_ci_low"] <= planted <= row["change_ci_high"]
    assert row["did_ci_low"] <= planted <= row["did_ci_high"]
    assert row["did"] == pytest.approx(row["change"] - row["control_change"], abs=2e-4)


def test_notification_commitment_shortens_processing_and_nothing_else(demo: tuple) -> None:
    db, truth = demo
    rows = _reform_rows(db, truth["reforms"][1]["id"])
    assert rows["processing_workdays_mean"]["verdict"] == "improved"
    untouched_by_it = ("online_rate", "trips_mean", "materials_mean", "good_review_rate")
    assert [rows[k]["verdict"] for k in untouched_by_it] == ["no_clear_effect"] * 4


def test_a_placebo_reform_finds_no_effect(demo: tuple) -> None:
    """Pre-registered: reform 1's matters, six months before its date (nothing planted in
    either window): every interval holds zero. Then seven monthly placebo dates (the windows
    stay inside the data and before reform 1): about 5 % of the 70 intervals may leave out
    zero by chance (online, fully-online and zero-trip rates move together, so misses come in
    groups): at most 10 %. Seed 7 is every demo test's seed, not one picked for this test."""
    db, truth = demo
    reform = truth["reforms"][0]
    effective = date.fromisoformat(reform["effective"])
    with Warehouse(db).read() as con:
        units = reforms.units(con, WorkCalendar.from_config(Config()), Config())
        registered = reforms.find(con, reform["id"])

    def placebo(months_before: int) -> pl.DataFrame:
        index = effective.year * 12 + effective.month - 1 - months_before
        day = date(index // 12, index % 12 + 1, 1)
        fake = registered.model_copy(update={"id": "placebo", "effective": day})
        return reforms.analyse(units, fake).effects

    six = placebo(6)
    assert (six["did_ci_low"] <= 0).all() and (six["did_ci_high"] >= 0).all()
    assert set(six["verdict"]) == {"no_clear_effect"}
    sweep = pl.concat([placebo(m) for m in range(3, 10)])
    assert sweep.height == 70
    assert (sweep["verdict"] != "no_clear_effect").sum() <= 7


def test_reform_figures_are_the_kpis_of_the_same_cohort(demo: tuple) -> None:
    """Before of the touched matters = `report kpis` over them in the before window."""
    db, truth = demo
    reform = truth["reforms"][0]
    rows = _reform_rows(db, reform["id"])
    effective = date.fromisoformat(reform["effective"])
    start, end = effective - timedelta(days=90), effective - timedelta(days=1)
    for kpi in (
        "online_rate",
        "fully_online_rate",
        "trips_mean",
        "at_most_once_rate",
        "materials_mean",
    ):
        assert rows[kpi]["before"] == pytest.approx(
            _kpi(db, reform["matters"], start, end, kpi), abs=1e-4
        )


def test_some_online_applicants_still_come_in_person(demo: tuple) -> None:
    """Originals checked at the window, licences collected there: the share of online
    applications with a trip is 1 − fully-online rate ÷ online rate, over the whole period
    (every application submitted), and it is the planted one; the two rates differ."""
    db, truth = demo
    planted = truth["online_visits"]
    rows = report(db, "kpis")
    values = {r["kpi"]: r["value"] for r in rows}
    share = 1 - values["fully_online_rate"] / values["online_rate"]
    assert share == pytest.approx(planted["share"], abs=0.002)
    assert 0.15 < planted["share"] < 0.45  # as in real centers: most, not all, stay online
    assert values["online_rate"] - values["fully_online_rate"] > 0.05
    # The visit is in the steps too: online applications accepted or collected at a window
    # (a visit still to come at the export's end is not, yet).
    with Warehouse(db).read() as con:
        at_window = con.sql(
            """SELECT count(DISTINCT e.application_id) FROM events e JOIN applications a
               USING (application_id)
               WHERE a.channel IN ('online', 'mobile') AND e.window_id IS NOT NULL"""
        ).fetchall()[0][0]
    assert 0.97 * planted["with_visit"] <= at_window <= planted["with_visit"]


def test_the_skipped_review_ranks_first_from_its_month_and_not_before(demo: tuple) -> None:
    """With the procedure the demo declares in its own config (not the stage order)."""
    db, truth = demo
    planted = truth["skipped_review"]
    config = db.parent / "exports" / "onewindow.toml"
    declared = load_config(config).procedures
    assert len(declared) == 1 and set(declared[0].matters) == {m.code for m in MATTERS}
    procedure = {k: v for k, v in declared[0].model_dump().items() if k != "matters"}
    assert procedure == planted["procedure"]
    start = date.fromisoformat(planted["from_month"] + "-01")
    after = ("--config", str(config), "--from", start.isoformat())
    before = ("--config", str(config), "--to", (start - timedelta(days=1)).isoformat())
    for by, who in (("staff", planted["staff"]), ("matter", planted["matter"])):
        ranked = report(db, "conformance", "--by", by, *after)
        assert ranked[0][by] == who
        assert ranked[0]["missing_required"] == ranked[0]["deviating"] > 0
        assert ranked[1]["deviation_share"] < ranked[0]["deviation_share"] / 3
        earlier = {r[by]: r for r in report(db, "conformance", "--by", by, *before)}
        assert earlier[who]["deviating"] == 0
        top = max(earlier.values(), key=lambda r: r["deviation_share"])
        assert top["deviation_share"] == 0 or top[by] != who
    listed = report(db, "conformance", *after, "--staff", planted["staff"])
    assert {r["matter_code"] for r in listed} == {planted["matter"]}
    assert {r["procedure"] for r in listed} == {"config"}
    assert all(r["detail"] == f"missing_required: {planted['step']} missing" for r in listed)
    # Open ones that have not reached a later required step are not missing it yet.
    assert 0.8 * planted["applications"] <= len(listed) <= planted["applications"]
