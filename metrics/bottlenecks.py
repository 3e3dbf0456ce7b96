"""Where time goes beyond single transitions: handovers between departments, transitions that
got slower, and the spread of processing times. Built on the derived transitions and
facts (metrics/derived.py); formulas in docs/metrics.md ("Dashboard")."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import duckdb
import polars as pl

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.dashboard import shift_months
from metrics.filters import Filters
from warehouse import sql


def handover_matrix(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters
) -> pl.DataFrame:
    """Per pair of departments (from → to) of handovers whose second event is in the period:
    count, median and mean working hours."""
    query, params = derived.source(con, cal, "d_transitions", filters)
    period, period_params = filters.days_sql("to_day")
    return sql.frame(
        con,
        f"""WITH t AS ({query})
        SELECT from_department, to_department, count(*) AS count,
            median(work_h) AS median_work_h, avg(work_h) AS mean_work_h
        FROM t WHERE {period} AND from_department IS NOT NULL AND to_department IS NOT NULL
            AND from_department <> to_department
        GROUP BY ALL ORDER BY count DESC, from_department, to_department""",
        sql.merge(params, period_params),
    )


def slower_steps(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    filters: Filters,
    end: date,
    recent_months: int = 3,
    baseline_months: int = 6,
    min_count: int = 5,
) -> pl.DataFrame:
    """Transitions whose median working hours rose: the `recent_months` up to `end` against
    the `baseline_months` before them (by the second event's local day), each side with at
    least `min_count` transitions; largest rise first. The filters' period is not used: the
    two windows are."""
    cut = replace(filters, start=None, end=None)
    query, params = derived.source(con, cal, "d_transitions", cut)
    split = shift_months(end, -recent_months) + timedelta(days=1)
    begin = shift_months(split, -baseline_months)
    day = "to_day"
    frame = sql.frame(
        con,
        f"""WITH t AS ({query}), sides AS (
            SELECT from_step, to_step, {day} >= $split AS recent, work_h
            FROM t WHERE {day} >= $begin AND {day} <= $last)
        SELECT from_step, to_step,
            count(*) FILTER (WHERE NOT recent) AS before_count,
            median(work_h) FILTER (WHERE NOT recent) AS before_median_work_h,
            count(*) FILTER (WHERE recent) AS recent_count,
            median(work_h) FILTER (WHERE recent) AS recent_median_work_h
        FROM sides GROUP BY ALL
        HAVING before_count >= $min_count AND recent_count >= $min_count""",
        sql.merge(params, {"split": split, "begin": begin, "last": end, "min_count": min_count}),
    )
    return (
        frame.with_columns(
            (pl.col("recent_median_work_h") - pl.col("before_median_work_h")).alias("change_work_h")
        )
        .filter(pl.col("change_work_h") > 0)
        .sort(["change_work_h", "from_step", "to_step"], descending=[True, False, False])
    )


def processing_distribution(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters
) -> pl.DataFrame:
    """Applications completed in the period per processing working days (a histogram)."""
    query, params = derived.source(con, cal, "d_facts", filters)
    period, period_params = filters.days_sql("completed_day")
    return sql.frame(
        con,
        f"""SELECT processing_workdays::BIGINT AS processing_workdays, count(*) AS applications
        FROM ({query}) WHERE completed_at IS NOT NULL AND processing_workdays IS NOT NULL
            AND {period}
        GROUP BY ALL ORDER BY processing_workdays""",
        sql.merge(params, period_params),
    )
