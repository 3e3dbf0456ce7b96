"""Per-application cases, transitions, rework: where time goes, in calendar seconds and in the
center's working time. Each reads its derived table through metrics/derived.py (the reference
SQL of metrics/facts.py when the table is not current). Formulas are in docs/metrics.md.
"""

from __future__ import annotations

import duckdb
import polars as pl

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.facts import app_filter, events_sql, facts_sql, transitions_sql
from metrics.filters import Filters
from warehouse import sql

# The SQL builders stay importable from here: the reference definitions behind these metrics.
__all__ = [
    "app_filter",
    "cases",
    "events_sql",
    "facts_sql",
    "rework",
    "transitions",
    "transitions_sql",
]


def cases(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters) -> pl.DataFrame:
    """One row per application with events; the period keeps those whose last event is in it."""
    query, params = derived.source(con, cal, "d_facts", filters)
    period, period_params = filters.days_sql("last_day")
    frame = sql.frame(
        con,
        f"""SELECT application_id, matter_code, channel, first_event, last_event, duration_s,
            duration_work_h, processing_workdays, on_time, trips
        FROM ({query}) WHERE first_event IS NOT NULL AND {period}
        ORDER BY application_id""",
        sql.merge(params, period_params),
    )
    return frame


def transitions(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, by: str = "none"
) -> pl.DataFrame:
    """Per transition: count, mean/median/P90 in seconds and in working hours, handovers,
    total time and its share of all transition time; ranked by total time. With `by` =
    matter, ranked within each matter; with `by` = month, each transition's monthly trend
    (the month of its second event)."""
    query, params = derived.source(con, cal, "d_transitions", filters)
    period, period_params = filters.days_sql("to_day")
    keys = {
        "matter": ("matter_code", "matter_code"),
        "month": ("strftime(to_day, '%Y-%m') AS month", "month"),
    }
    select, name = keys.get(by, ("", ""))
    group = f"{select}, " if select else ""
    partition = f"PARTITION BY {name}" if name else ""
    order = f"{name}, " if name else ""
    frame = sql.frame(
        con,
        f"""WITH t AS ({query}), agg AS (
            SELECT {group}from_step, to_step, count(*) AS count,
                avg(duration_s) AS mean_s, median(duration_s) AS median_s,
                quantile_cont(duration_s, 0.9) AS p90_s,
                avg(work_h) AS mean_work_h, median(work_h) AS median_work_h,
                quantile_cont(work_h, 0.9) AS p90_work_h,
                count(*) FILTER (WHERE from_department IS DISTINCT FROM to_department
                                 AND from_department IS NOT NULL
                                 AND to_department IS NOT NULL) AS handovers,
                sum(duration_s) AS total_s, sum(work_h) AS total_work_h
            FROM t WHERE {period} GROUP BY ALL)
        SELECT *, total_s / sum(total_s) OVER ({partition}) AS share_of_time,
            rank() OVER ({partition} ORDER BY total_s DESC) AS rank
        FROM agg ORDER BY {order}rank, from_step, to_step""",
        sql.merge(params, period_params),
    )
    return frame


def rework(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters) -> pl.DataFrame:
    """Per step: applications in which it occurs more than once (in the period)."""
    query, params = derived.source(con, cal, "d_steps", filters)
    if filters.start is None and filters.end is None:
        # Over all time an application reworked a step iff the step has a 2nd occurrence:
        # counting those avoids grouping 10M steps by application (same figures).
        per_step = """count(*) FILTER (WHERE occurrence = 2) AS applications_with_rework,
            count(*) FILTER (WHERE occurrence = 1) AS applications,
            count(*) FILTER (WHERE occurrence > 1) AS repeats
            FROM ev"""
        period_params: sql.Params = {}
    else:
        period, period_params = filters.days_sql("day")
        per_step = f"""count(*) FILTER (WHERE n > 1) AS applications_with_rework,
            count(*) AS applications, (sum(n) - count(*))::BIGINT AS repeats
            FROM (SELECT application_id, step, count(*) AS n FROM ev WHERE {period}
                  GROUP BY ALL)"""
    frame = sql.frame(
        con,
        f"""WITH ev AS ({query})
        SELECT step, {per_step}
        GROUP BY step ORDER BY applications_with_rework DESC, step""",
        sql.merge(params, period_params),
    )
    return frame
