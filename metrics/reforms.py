"""Reform before / after: did the touched matters change more than the untouched ones?

For a reform and a KPI: the KPI of the touched matters in a window before and a window after
the effective date, the same for control matters, the change of each, the difference in
differences (DiD = change of touched − change of control), and 95 % percentile bootstrap
intervals for the touched change and the DiD, resampling applications within each of the four
cells (group × period). Method, assumptions and how to read it: docs/metrics.md, `reforms`.

Every application is placed by the local day it was submitted (kpis' submitted cohort date),
so an application handled under the old rules stays "before" even if it finished after the
date; each KPI then counts the applications of its cohort among them (completed ones for
processing time and on-time, rated ones for reviews), as metrics/kpis.py defines it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import duckdb
import numpy as np
import polars as pl
import polars.selectors as cs

from metrics import bootstrap, derived
from metrics.bootstrap import Stat
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.registry import KPIS, MEASURED
from onewindow.config import Config, Reform
from warehouse import sql

RESAMPLES = 2000
SEED = 20250701
MIN_CELL = 10  # fewer applications than this in a cell: "not enough data", whatever the CI


class UnknownReform(ValueError):
    """A reform id the registry does not hold; the message lists those it does."""


@dataclass(frozen=True)
class Measure:
    kpi: str
    value: str  # SQL over the facts: one application's value; NULL outside the KPI's cohort
    stat: Stat


# Per-application forms of the KPIs (metrics/registry.py: same cohorts, same formulas; but the
# good-review rate is each application's share of good ratings, averaged over applications,
# the unit the bootstrap resamples, where kpis averages over ratings).
MEASURES: tuple[Measure, ...] = tuple(
    Measure(k.name, k.measure.value, k.measure.stat) for k in MEASURED if k.measure
)
MEASURE = {m.kpi: m for m in MEASURES}

Control = Literal["untouched", "departments"] | tuple[str, ...]


@dataclass(frozen=True)
class Design:
    """How a reform is evaluated: window length and gap (days) on each side, control."""

    window_days: int = 90
    gap_days: int = 0
    control: Control = "untouched"

    @classmethod
    def of(cls, reform: Reform) -> Design:
        control: Control = "untouched"
        if reform.control == "departments":
            control = "departments"
        elif reform.control is not None:
            control = tuple(reform.control)
        return cls(reform.window_days, reform.gap_days, control)

    def windows(self, effective: date) -> tuple[tuple[date, date], tuple[date, date]]:
        """First and last day of the before window and of the after window."""
        before_end = effective - timedelta(days=self.gap_days + 1)
        after_start = effective + timedelta(days=self.gap_days)
        return (
            (before_end - timedelta(days=self.window_days - 1), before_end),
            (after_start, after_start + timedelta(days=self.window_days - 1)),
        )


@dataclass(frozen=True)
class Analysis:
    reform: Reform
    design: Design
    effects: pl.DataFrame  # one row per KPI (columns of the `reforms` report)
    monthly: pl.DataFrame  # month, group (touched/control), kpi, value, applications


# ----- the registry ----------------------------------------------------------------------------


def registry(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The stored reforms (not deleted), by effective date: what the reform page lists."""
    frame: pl.DataFrame = con.sql(
        """SELECT reform_id, name, effective, matter_codes, control_codes, control_departments,
            window_days, gap_days, description, origin
        FROM reforms WHERE NOT deleted ORDER BY effective, reform_id"""
    ).pl()
    return frame


def stored(con: duckdb.DuckDBPyConnection) -> list[Reform]:
    return [
        Reform(
            id=r["reform_id"],
            name=r["name"],
            effective=r["effective"],
            matters=r["matter_codes"],
            control="departments" if r["control_departments"] else r["control_codes"],
            window_days=r["window_days"],
            gap_days=r["gap_days"],
            description=r["description"],
        )
        for r in registry(con).iter_rows(named=True)
    ]


def find(con: duckdb.DuckDBPyConnection, reform_id: str) -> Reform:
    reforms = stored(con)
    for reform in reforms:
        if reform.id == reform_id:
            return reform
    known = ", ".join(r.id for r in reforms) or "none is registered"
    raise UnknownReform(f"no reform with id {reform_id!r}; known reforms: {known}")


# ----- per-application values ------------------------------------------------------------------


def units(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, config: Config) -> pl.DataFrame:
    """One row per application: its local submission day, matter, department and its value
    of every measured KPI (null outside the KPI's cohort)."""
    facts, params = derived.source(con, cal, "d_facts", Filters())
    values = ", ".join(f"{m.value} AS {m.kpi}" for m in MEASURES)
    return sql.frame(
        con,
        f"""WITH f AS ({facts}),
        r AS (SELECT application_id, avg((rating >= $good_from)::DOUBLE) AS good
              FROM evaluations GROUP BY application_id)
        SELECT f.submitted_day AS day, f.matter_code, f.department, {values}
        FROM f LEFT JOIN r USING (application_id)
        WHERE f.submitted_day IS NOT NULL""",
        sql.merge(params, {"good_from": config.satisfaction.good_from}),
    )


def _grouped(units: pl.DataFrame, reform: Reform, control: Control) -> pl.DataFrame:
    """Units with `group`: touched, control, or left out (null)."""
    touched = pl.col("matter_code").is_in(list(reform.matters))
    if control == "untouched":
        in_control = ~touched
    elif control == "departments":
        departments = units.filter(touched)["department"].drop_nulls().unique().to_list()
        in_control = ~touched & pl.col("department").is_in(departments)
    else:
        in_control = ~touched & pl.col("matter_code").is_in(list(control))
    group = (
        pl.when(touched)
        .then(pl.lit("touched"))
        .when(in_control)
        .then(pl.lit("control"))
        .otherwise(None)
    )
    return units.with_columns(group.alias("group")).filter(pl.col("group").is_not_null())


# ----- the analysis ----------------------------------------------------------------------------


def analyse(
    units: pl.DataFrame,
    reform: Reform,
    design: Design | None = None,
    *,
    kpis: Sequence[str] = tuple(MEASURE),
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Analysis:
    """Before, after, change, DiD and their intervals per KPI, and the monthly series of both
    groups. `design` defaults to the reform's own (its window, gap and control)."""
    design = design or Design.of(reform)
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    grouped = _grouped(units, reform, design.control)
    (b0, b1), (a0, a1) = design.windows(reform.effective)
    period = (
        pl.when(pl.col("day").is_between(b0, b1))
        .then(pl.lit("before"))
        .when(pl.col("day").is_between(a0, a1))
        .then(pl.lit("after"))
        .otherwise(None)
    )
    windowed = grouped.with_columns(period.alias("period")).filter(pl.col("period").is_not_null())
    rows = [_effect(windowed, reform.id, kpi, resamples, seed) for kpi in kpis]
    return Analysis(
        reform, design, pl.DataFrame(rows, schema=EFFECT_SCHEMA), _monthly(grouped, kpis)
    )


EFFECT_SCHEMA: dict[str, pl.DataType] = {
    "reform_id": pl.String(),
    "kpi": pl.String(),
    "before": pl.Float64(),
    "after": pl.Float64(),
    "change": pl.Float64(),
    "change_ci_low": pl.Float64(),
    "change_ci_high": pl.Float64(),
    "control_before": pl.Float64(),
    "control_after": pl.Float64(),
    "control_change": pl.Float64(),
    "did": pl.Float64(),
    "did_ci_low": pl.Float64(),
    "did_ci_high": pl.Float64(),
    "n_before": pl.Int64(),
    "n_after": pl.Int64(),
    "n_control_before": pl.Int64(),
    "n_control_after": pl.Int64(),
    "verdict": pl.String(),
}

_CELLS = (("touched", "before"), ("touched", "after"), ("control", "before"), ("control", "after"))


def _effect(
    windowed: pl.DataFrame, reform_id: str, kpi: str, resamples: int, seed: int
) -> dict[str, object]:
    measure = MEASURE[kpi]
    point: list[float] = []
    draws: list[bootstrap.Floats] = []
    sizes: list[int] = []
    for cell, (group, period) in enumerate(_CELLS):
        values = (
            windowed.filter((pl.col("group") == group) & (pl.col("period") == period))[kpi]
            .drop_nulls()
            .to_numpy()
            .astype(np.float64)
        )
        # One stream per KPI and cell: a KPI's figures do not depend on which others ran.
        rng = np.random.default_rng([seed, list(MEASURE).index(kpi), cell])
        point.append(bootstrap.statistic(values, measure.stat))
        draws.append(bootstrap.replicates(values, measure.stat, resamples, rng))
        sizes.append(len(values))
    change = point[1] - point[0]
    control_change = point[3] - point[2]
    did = change - control_change
    change_ci = bootstrap.interval(draws[1] - draws[0])
    did_ci = bootstrap.interval((draws[1] - draws[0]) - (draws[3] - draws[2]))
    return {
        "reform_id": reform_id,
        "kpi": kpi,
        "before": _num(point[0]),
        "after": _num(point[1]),
        "change": _num(change),
        "change_ci_low": _num(change_ci[0]),
        "change_ci_high": _num(change_ci[1]),
        "control_before": _num(point[2]),
        "control_after": _num(point[3]),
        "control_change": _num(control_change),
        "did": _num(did),
        "did_ci_low": _num(did_ci[0]),
        "did_ci_high": _num(did_ci[1]),
        "n_before": sizes[0],
        "n_after": sizes[1],
        "n_control_before": sizes[2],
        "n_control_after": sizes[3],
        "verdict": verdict(kpi, did, did_ci, min(sizes)),
    }


def _num(value: float) -> float | None:
    return None if np.isnan(value) else value


def verdict(kpi: str, did: float, ci: tuple[float, float], smallest_cell: int) -> str:
    """improved / worsened (KPIs with a better direction) or increased / decreased (others);
    no_clear_effect when the DiD interval holds zero; not_enough_data when a cell has fewer
    than MIN_CELL applications."""
    if smallest_cell < MIN_CELL or np.isnan(did) or np.isnan(ci[0]):
        return "not_enough_data"
    if ci[0] <= 0 <= ci[1]:
        return "no_clear_effect"
    better = KPIS[kpi].better
    if better == "none":
        return "increased" if did > 0 else "decreased"
    return "improved" if (did > 0) == (better == "higher") else "worsened"


def _monthly(grouped: pl.DataFrame, kpis: Sequence[str]) -> pl.DataFrame:
    """Per month of submission and group: each KPI's value and its applications."""
    month = pl.col("day").dt.truncate("1mo").alias("month")
    aggs = []
    for kpi in kpis:
        column = pl.col(kpi)
        stat = column.median() if MEASURE[kpi].stat == "median" else column.mean()
        aggs += [stat.alias(f"{kpi}/value"), column.count().cast(pl.Int64).alias(f"{kpi}/n")]
    # One pass over the applications for every KPI: a group_by per KPI took 1.3 s at 10M events.
    wide = grouped.group_by(month, "group").agg(aggs)
    frames = [
        wide.select(
            "month",
            "group",
            pl.lit(kpi).alias("kpi"),
            pl.col(f"{kpi}/value").alias("value"),
            pl.col(f"{kpi}/n").alias("applications"),
        )
        for kpi in kpis
    ]
    return (
        pl.concat(frames)
        .filter(pl.col("applications") > 0)
        .sort("kpi", "group", "month")
        .select("month", "group", "kpi", "value", "applications")
    )


# ----- the report ------------------------------------------------------------------------------


def report(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    config: Config,
    reform_ids: Sequence[str] = (),
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> pl.DataFrame:
    """The `reforms` report: every KPI of every stored reform (or of those named)."""
    reforms = [find(con, i) for i in reform_ids] if reform_ids else stored(con)
    if not reforms:
        return pl.DataFrame(schema=EFFECT_SCHEMA)
    per_app = units(con, cal, config)
    frames = [analyse(per_app, r, resamples=resamples, seed=seed).effects for r in reforms]
    return pl.concat(frames).with_columns(cs.float().round(4))


def with_design(reform: Reform, design: Design) -> Reform:
    """The reform with another design, validated, as the page saves it."""
    control: list[str] | Literal["departments"] | None = None
    if design.control == "departments":
        control = "departments"
    elif isinstance(design.control, tuple):
        control = list(design.control)
    fields = reform.model_dump()
    fields.update(window_days=design.window_days, gap_days=design.gap_days, control=control)
    return Reform(**fields)
