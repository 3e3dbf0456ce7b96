"""The SQL that turns events into facts: per application, per transition, per step. These are
the reference definitions (docs/metrics.md); the ETL stores their results as the derived
tables (metrics/derived.py) and every metric reads those when they match the calendar.

Events of an application are ordered by timestamp, then file, then source row (the order a
tie has in its file), as process-mining tools order them.
"""

from __future__ import annotations

from metrics.calendar import WorkCalendar
from metrics.dialect import arg_min_sql, day_sql, in_list_sql, local_sql, seconds_between_sql
from metrics.filters import Filters
from warehouse.sql import Params, merge

ORDER = "ORDER BY ts, file_id, source_row"


def _only(only: str | None, alias: str = "a") -> str:
    """Restricts to the applications of relation `only` (the ETL's refresh of a run)."""
    return f" AND {alias}.application_id IN (SELECT application_id FROM {only})" if only else ""


def _accepted_by(only: str | None = None) -> str:
    """The window and staff member of each application's first acceptance step."""
    return f"""
        SELECT application_id, {arg_min_sql("window_id", "ts")} AS window_id,
            {arg_min_sql("staff", "ts")} AS staff
        FROM events e WHERE stage = 'accept'{_only(only, "e")} GROUP BY application_id"""


# Each application's window and staff member, as the facts hold them: those on the
# application record, else those of its first acceptance step.
DESKS = f"""
    SELECT a.application_id, coalesce(a.window_id, x.window_id) AS window_id,
        coalesce(a.staff, x.staff) AS staff
    FROM applications a LEFT JOIN ({_accepted_by()}) x USING (application_id)"""


def app_filter(
    filters: Filters, alias: str = "a", department: str = "m.department", desks: str = DESKS
) -> tuple[str, Params]:
    """Application-level cuts: matter, department (the matter's), channel, and the window and
    staff member that handled it (looked up in `desks`: application_id, window_id, staff).
    The values are the filter's named parameters (Filters.app_params)."""
    params = filters.app_params()
    parts: list[str] = ["TRUE"]
    for column, name in (
        (f"{alias}.matter_code", "f_matters"),
        (department, "f_departments"),
        (f"{alias}.channel", "f_channels"),
    ):
        if name in params:
            parts.append(in_list_sql(column, name))
    desk_parts = [
        in_list_sql(column, name)
        for column, name in (("window_id", "f_windows"), ("staff", "f_staff"))
        if name in params
    ]
    if desk_parts:
        parts.append(
            f"{alias}.application_id IN (SELECT application_id FROM ({desks}) "
            f"WHERE {' AND '.join(desk_parts)})"
        )
    return " AND ".join(parts), params


def events_sql(cal: WorkCalendar, filters: Filters, only: str | None = None) -> tuple[str, Params]:
    """Events of the filtered applications with their local time and W (working seconds)."""
    where, params = app_filter(filters)
    local = local_sql("e.ts")
    sql = f"""
        SELECT e.application_id, a.matter_code, m.department AS matter_department, a.channel,
            e.step, e.ts, e.stage, e.in_person, e.department, e.window_id, e.staff,
            e.started_at, e.file_id, e.source_row,
            {local} AS local_ts, c.wd_index, {cal.work_seconds_sql(local, "c")} AS w
        FROM events e
        JOIN applications a USING (application_id)
        LEFT JOIN matters m ON m.matter_code = a.matter_code
        JOIN ow_calendar c ON c.day = {day_sql("e.ts")}
        WHERE {where}{_only(only)}"""
    return sql, {**params, "zone": cal.zone}


def per_application_sql(
    ev: str, key: str, suspended: str = "suspended", per_app: str = "per_app"
) -> str:
    """The CTEs `suspended` (working days between each suspend event and the next resume) and
    `per_app` (first and last event and day, acceptance, completion, in-person days, working
    seconds) of facts_sql, per `key`, over the events of `ev` (as events_sql gives them)."""
    return f"""
        {suspended} AS (  -- each suspend event paired with the next resume
            SELECT {key}, sum(resume_wd - wd_index) AS wd
            FROM (SELECT {key}, stage, wd_index,
                    lead(wd_index) OVER (PARTITION BY {key} {ORDER}) AS resume_wd,
                    lead(stage) OVER (PARTITION BY {key} {ORDER}) AS next_stage
                  FROM {ev} WHERE stage IN ('suspend', 'resume'))
            WHERE stage = 'suspend' AND next_stage = 'resume'
            GROUP BY {key}),
        {per_app} AS (
            SELECT {key}, min(ts) AS first_event, max(ts) AS last_event,
                min(local_ts)::DATE AS first_day, max(local_ts)::DATE AS last_day,
                min(ts) FILTER (WHERE stage = 'accept') AS accept_event,
                max(ts) FILTER (WHERE stage = 'complete') AS complete_event,
                count(DISTINCT local_ts::DATE) FILTER (WHERE in_person) AS in_person_days,
                max(w) - min(w) AS work_s
            FROM {ev} GROUP BY {key})"""


def facts_sql(
    cal: WorkCalendar, filters: Filters, only: str | None = None, per_app: str | None = None
) -> tuple[str, Params]:
    """One row per application: first/last event, accepted, completed, processing working
    days (minus suspended ones), on-time, trips, fully online, instant. `per_app`: CTEs that
    define `suspended` and `per_app` by application_id otherwise than per_application_sql
    over events_sql (the full build, metrics/derived.py)."""
    ev, params = events_sql(cal, filters, only)
    where, app_params = app_filter(filters)
    ctes = per_app or f"ev AS ({ev}), {per_application_sql('ev', 'application_id')}"
    sql = f"""
        WITH {ctes}
        SELECT a.application_id, a.matter_code, m.department, a.channel, a.applicant_type,
            coalesce(a.window_id, x.window_id) AS window_id,
            coalesce(a.staff, x.staff) AS staff, a.submitted_at, p.first_event,
            p.last_event, p.first_day, p.last_day,
            {seconds_between_sql("p.first_event", "p.last_event")} AS duration_s,
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
        LEFT JOIN ({_accepted_by(only)}) x USING (application_id)
        LEFT JOIN suspended s USING (application_id)
        WHERE {where}{_only(only)}"""
    facts = f"""
        WITH base AS ({sql}),
        dated AS (
            SELECT base.*, ca.wd_index AS accepted_wd, cc.wd_index AS completed_wd,
                ca.is_working_day AS accepted_on_workday,
                {day_sql("accepted_at")} AS accepted_day,
                {day_sql("completed_at")} AS completed_day,
                {day_sql("coalesce(submitted_at, first_event)")} AS submitted_day
            FROM base
            LEFT JOIN ow_calendar ca ON ca.day = {day_sql("accepted_at")}
            LEFT JOIN ow_calendar cc ON cc.day = {day_sql("completed_at")})
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
    return facts, merge(params, app_params)


def transitions_sql(
    cal: WorkCalendar, filters: Filters, only: str | None = None
) -> tuple[str, Params]:
    """Every pair of consecutive events (a → b) of an application; `to_day` is the local day
    of b, the day the transition ends."""
    ev, params = events_sql(cal, filters, only)
    sql = f"""
        WITH ev AS ({ev})
        SELECT * FROM (
            SELECT application_id, matter_code, matter_department, channel,
                step AS from_step, lead(step) OVER win AS to_step,
                department AS from_department, lead(department) OVER win AS to_department,
                ts AS from_ts, lead(ts) OVER win AS to_ts,
                (lead(local_ts) OVER win)::DATE AS to_day,
                {seconds_between_sql("ts", "lead(ts) OVER win")} AS duration_s,
                ((lead(w) OVER win) - w) / 3600.0 AS work_h
            FROM ev WINDOW win AS (PARTITION BY application_id {ORDER}))
        WHERE to_step IS NOT NULL"""
    return sql, params


def steps_sql(cal: WorkCalendar, filters: Filters, only: str | None = None) -> tuple[str, Params]:
    """Every event as a handled step: who, where, when (local day), how long it took, and
    its occurrence: 1 for the first time the application passes the step, 2 and more for
    rework; staff_occurrence likewise per application and staff member."""
    where, params = app_filter(filters)
    sql = f"""
        SELECT e.application_id, a.matter_code, m.department AS matter_department, a.channel,
            e.step, e.staff, e.department, e.window_id, e.ts,
            {day_sql("e.ts")} AS day,
            {seconds_between_sql("e.started_at", "e.ts")} AS step_s,
            row_number() OVER (
                PARTITION BY e.application_id, e.step ORDER BY e.ts, e.file_id, e.source_row
            ) AS occurrence,
            row_number() OVER (
                PARTITION BY e.application_id, e.staff ORDER BY e.ts, e.file_id, e.source_row
            ) AS staff_occurrence
        FROM events e
        JOIN applications a USING (application_id)
        LEFT JOIN matters m ON m.matter_code = a.matter_code
        WHERE {where}{_only(only)}"""
    return sql, {**params, "zone": cal.zone}
