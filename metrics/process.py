"""Per-application facts, transitions, rework: where time goes, in calendar seconds and in the
center's working time. Formulas are in docs/metrics.md.

Events of an application are ordered by timestamp, then file, then source row (the order a
tie has in its file), as process-mining tools order them.
"""

from __future__ import annotations

import duckdb
import polars as pl

from metrics.calendar import WorkCalendar
from metrics.filters import Filters

ORDER = "ORDER BY ts, file_id, source_row"


def app_filter(filters: Filters, alias: str = "a") -> tuple[str, list[object]]:
    """Application-level cuts: matter, department (the matter's), channel."""
    parts: list[str] = ["TRUE"]
    params: list[object] = []
    for column, values in (
        (f"{alias}.matter_code", filters.matters),
        ("m.department", filters.departments),
        (f"{alias}.channel", filters.channels),
    ):
        if values:
            parts.append(f"{column} IN (SELECT unnest(?))")
            params.append(list(values))
    return " AND ".join(parts), params


def events_sql(cal: WorkCalendar, filters: Filters) -> tuple[str, list[object]]:
    """Events of the filtered applications with their local time and W (working seconds)."""
    where, params = app_filter(filters)
    local = f"(e.ts AT TIME ZONE '{cal.zone}')"
    sql = f"""
        SELECT e.application_id, a.matter_code, e.step, e.ts, e.stage, e.in_person,
            e.department, e.window_id, e.staff, e.started_at, e.file_id, e.source_row,
            {local} AS local_ts, c.wd_index, {cal.work_seconds_sql(local, "c")} AS w
        FROM events e
        JOIN applications a USING (application_id)
        LEFT JOIN matters m ON m.matter_code = a.matter_code
        JOIN ow_calendar c ON c.day = {local}::DATE
        WHERE {where}"""
    return sql, params


def facts_sql(cal: WorkCalendar, filters: Filters) -> tuple[str, list[object]]:
    """One row per application: first/last event, accepted, completed, processing working
    days (minus suspended ones), on-time, trips, fully online, instant."""
    ev, params = events_sql(cal, filters)
    where, app_params = app_filter(filters)
    zone = cal.zone
    sql = f"""
        WITH ev AS ({ev}),
        suspended AS (  -- each suspend event paired with the next resume
            SELECT application_id, sum(resume_wd - wd_index) AS wd
            FROM (SELECT application_id, stage, wd_index,
                    lead(wd_index) OVER (PARTITION BY application_id {ORDER}) AS resume_wd,
                    lead(stage) OVER (PARTITION BY application_id {ORDER}) AS next_stage
                  FROM ev WHERE stage IN ('suspend', 'resume'))
            WHERE stage = 'suspend' AND next_stage = 'resume'
            GROUP BY application_id),
        per_app AS (
            SELECT application_id, min(ts) AS first_event, max(ts) AS last_event,
                min(ts) FILTER (WHERE stage = 'accept') AS accept_event,
                max(ts) FILTER (WHERE stage = 'complete') AS complete_event,
                count(DISTINCT local_ts::DATE) FILTER (WHERE in_person) AS in_person_days,
                arg_min(window_id, ts) FILTER (WHERE stage = 'accept') AS accept_window,
                arg_min(staff, ts) FILTER (WHERE stage = 'accept') AS accept_staff,
                max(w) - min(w) AS work_s
            FROM ev GROUP BY application_id)
        SELECT a.application_id, a.matter_code, m.department, a.channel, a.applicant_type,
            coalesce(a.window_id, p.accept_window) AS window_id,
            coalesce(a.staff, p.accept_staff) AS staff, a.submitted_at, p.first_event,
            p.last_event,
            epoch(p.last_event) - epoch(p.first_event) AS duration_s,
            p.work_s / 3600.0 AS duration_work_h,
            coalesce(p.accept_event, a.accepted_at, a.submitted_at, p.first_event)
                AS accepted_at,
            coalesce(p.complete_event, a.completed_at,
                     CASE WHEN a.complete_case THEN p.last_event END) AS completed_at,
            a.deadline_at, m.promised_limit_days, m.statutory_limit_days, a.result,
            a.materials_submitted,
            coalesce(a.trips, CASE WHEN p.in_person_days > 0 THEN p.in_person_days END)
                AS trips,
            coalesce(s.wd, 0) AS suspended_workdays
        FROM applications a
        LEFT JOIN matters m ON m.matter_code = a.matter_code
        LEFT JOIN per_app p USING (application_id)
        LEFT JOIN suspended s USING (application_id)
        WHERE {where}"""
    facts = f"""
        WITH base AS ({sql}),
        dated AS (
            SELECT base.*, ca.wd_index AS accepted_wd, cc.wd_index AS completed_wd,
                ca.is_working_day AS accepted_on_workday,
                (accepted_at AT TIME ZONE '{zone}')::DATE AS accepted_day,
                (completed_at AT TIME ZONE '{zone}')::DATE AS completed_day
            FROM base
            LEFT JOIN ow_calendar ca ON ca.day = (accepted_at AT TIME ZONE '{zone}')::DATE
            LEFT JOIN ow_calendar cc ON cc.day = (completed_at AT TIME ZONE '{zone}')::DATE)
        SELECT dated.*,
            completed_at IS NOT NULL AS completed,
            completed_wd - accepted_wd - suspended_workdays AS processing_workdays,
            CASE WHEN completed_at IS NULL THEN NULL
                 WHEN deadline_at IS NOT NULL THEN completed_at <= deadline_at
                 WHEN promised_limit_days IS NOT NULL
                    THEN completed_wd - accepted_wd - suspended_workdays <= promised_limit_days
            END AS on_time,
            CASE WHEN trips IS NULL THEN NULL
                 ELSE channel IN ('online', 'mobile') AND trips = 0 END AS fully_online,
            CASE WHEN completed_at IS NULL THEN NULL
                 ELSE completed_day = accepted_day END AS instant
        FROM dated"""
    return facts, params + app_params


def cases(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters) -> pl.DataFrame:
    """One row per application with events; the period keeps those whose last event is in it."""
    cal.register(con)
    sql, params = facts_sql(cal, filters)
    period, period_params = filters.period_sql("last_event", cal.zone)
    frame: pl.DataFrame = con.sql(
        f"""SELECT application_id, matter_code, channel, first_event, last_event, duration_s,
            duration_work_h, processing_workdays, on_time, trips
        FROM ({sql}) WHERE first_event IS NOT NULL AND {period}
        ORDER BY application_id""",
        params=params + period_params,
    ).pl()
    return frame


def transitions_sql(cal: WorkCalendar, filters: Filters) -> tuple[str, list[object]]:
    """Every pair of consecutive events (a → b) of an application."""
    ev, params = events_sql(cal, filters)
    sql = f"""
        WITH ev AS ({ev})
        SELECT * FROM (
            SELECT application_id, matter_code, step AS from_step,
                lead(step) OVER w AS to_step, department AS from_department,
                lead(department) OVER w AS to_department,
                ts AS from_ts, lead(ts) OVER w AS to_ts,
                epoch(lead(ts) OVER w) - epoch(ts) AS duration_s,
                (lead(w) OVER w - w) / 3600.0 AS work_h
            FROM ev WINDOW w AS (PARTITION BY application_id {ORDER}))
        WHERE to_step IS NOT NULL"""
    return sql, params


def transitions(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, by: str = "none"
) -> pl.DataFrame:
    """Per transition: count, mean/median/P90 in seconds and in working hours, handovers,
    total time and its share of all transition time; ranked by total time. With `by` =
    matter, ranked within each matter; with `by` = month, each transition's monthly trend
    (the month of its second event)."""
    cal.register(con)
    sql, params = transitions_sql(cal, filters)
    period, period_params = filters.period_sql("to_ts", cal.zone)
    keys = {
        "matter": ("matter_code", "matter_code"),
        "month": (f"strftime(to_ts AT TIME ZONE '{cal.zone}', '%Y-%m') AS month", "month"),
    }
    select, name = keys.get(by, ("", ""))
    group = f"{select}, " if select else ""
    partition = f"PARTITION BY {name}" if name else ""
    order = f"{name}, " if name else ""
    frame: pl.DataFrame = con.sql(
        f"""WITH t AS ({sql}), agg AS (
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
        params=params + period_params,
    ).pl()
    return frame


def rework(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters) -> pl.DataFrame:
    """Per step: applications in which it occurs more than once."""
    cal.register(con)
    ev, params = events_sql(cal, filters)
    period, period_params = filters.period_sql("ts", cal.zone)
    params = [*params, *period_params]
    frame: pl.DataFrame = con.sql(
        f"""WITH ev AS ({ev}), per AS (
            SELECT application_id, step, count(*) AS n FROM ev WHERE {period} GROUP BY ALL)
        SELECT step, count(*) FILTER (WHERE n > 1) AS applications_with_rework,
            count(*) AS applications, (sum(n) - count(*))::BIGINT AS repeats
        FROM per GROUP BY step ORDER BY applications_with_rework DESC, step""",
        params=params,
    ).pl()
    return frame
