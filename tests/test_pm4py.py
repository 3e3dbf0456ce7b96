"""On the real receipt log, our figures equal those of the process-mining reference, pm4py:
case durations, every transition's count, mean and median, rework per step; and, with working
hours Mon–Fri 07:00–17:00 on UTC clock time and no holidays, pm4py's business-hours figures."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from metrics import process
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from tests.conftest import run_cli
from tests.fixtures import PROFILES, RECEIPT
from warehouse import Warehouse

pm4py = pytest.importorskip("pm4py")
logging.getLogger("pm4py").setLevel(logging.ERROR)

PM4PY_HOURS = WorkCalendar("UTC", ((7 * 3600, 17 * 3600),), "none")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, receipt: Path) -> Warehouse:
    db = tmp_path_factory.mktemp("pm4py") / "w.duckdb"
    assert run_cli("load", receipt, "--profile", PROFILES / "receipt.toml", "--db", db).code == 0
    return Warehouse(db)


@pytest.fixture(scope="module")
def log(receipt: Path) -> pd.DataFrame:
    frame = pd.read_csv(RECEIPT)
    frame["time:timestamp"] = pd.to_datetime(frame["time:timestamp"], utc=True, format="ISO8601")
    return pm4py.format_dataframe(
        frame,
        case_id="case:concept:name",
        activity_key="concept:name",
        timestamp_key="time:timestamp",
    )


def _ours(wh: Warehouse, cal: WorkCalendar) -> tuple[pl.DataFrame, pl.DataFrame]:
    with wh.read() as con:
        return process.cases(con, cal, Filters()), process.transitions(con, cal, Filters())


def test_case_durations_equal_pm4py(loaded: Warehouse, log: pd.DataFrame) -> None:
    cases, _ = _ours(loaded, PM4PY_HOURS)
    expected = sorted(pm4py.get_all_case_durations(log))
    assert len(expected) == cases.height == 1434
    assert sorted(cases["duration_s"].to_list()) == pytest.approx(expected, abs=1e-3)


def test_transitions_equal_pm4py(loaded: Warehouse, log: pd.DataFrame) -> None:
    _, ours = _ours(loaded, PM4PY_HOURS)
    performance, _, _ = pm4py.discover_performance_dfg(log)
    frequency, _, _ = pm4py.discover_dfg(log)
    got = {(r["from_step"], r["to_step"]): r for r in ours.to_dicts()}
    assert set(got) == set(performance)
    for pair, stats in performance.items():
        assert got[pair]["count"] == frequency[pair], pair
        assert math.isclose(got[pair]["mean_s"], stats["mean"], abs_tol=1e-3), pair
        assert math.isclose(got[pair]["median_s"], stats["median"], abs_tol=1e-3), pair


def test_rework_equals_pm4py(loaded: Warehouse, log: pd.DataFrame) -> None:
    with loaded.read() as con:
        ours = process.rework(con, PM4PY_HOURS, Filters())
    got = {
        r["step"]: r["applications_with_rework"]
        for r in ours.to_dicts()
        if r["applications_with_rework"]
    }
    assert got == dict(pm4py.get_rework_cases_per_activity(log))


def test_business_hours_equal_pm4py(loaded: Warehouse, log: pd.DataFrame) -> None:
    cases, ours = _ours(loaded, PM4PY_HOURS)
    expected = sorted(pm4py.get_all_case_durations(log, business_hours=True))
    assert sorted((cases["duration_work_h"] * 3600).to_list()) == pytest.approx(expected, abs=1.0)
    performance, _, _ = pm4py.discover_performance_dfg(log, business_hours=True)
    got = {(r["from_step"], r["to_step"]): r["mean_work_h"] * 3600 for r in ours.to_dicts()}
    for pair, stats in performance.items():
        assert math.isclose(got[pair], stats["mean"], abs_tol=1.0), pair
