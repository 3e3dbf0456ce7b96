"""The hall and the people: queue waits by hour and weekday, satisfaction over time, workload
and step times per staff member. Formulas: docs/metrics.md."""

from __future__ import annotations

import duckdb
import polars as pl

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.facts import app_filter
from metrics.filters import Filters
from onewindow.config import Config
from warehouse import sql

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def queue(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, config: Config
) -> pl.DataFrame:
    """Per weekday × hour of issue (the heat map): tickets, waits, share over the target."""
    zone = cal.zone
    period, params = filters.period_sql("issued_at", zone)
    local = "(issued_at AT TIME ZONE $zone)"
    frame = sql.frame(
        con,
        f"""SELECT isodow({local}) AS weekday_no, hour({local}) AS hour, count(*) AS tickets,
            avg(wait_min) AS mean_wait_min, quantile_cont(wait_min, 0.9) AS p90_wait_min,
            avg((wait_min > $wait_target_min)::INT) AS over_target_share,
            avg((outcome = 'no_show')::INT) AS no_show_rate,
            avg(epoch(service_end) - epoch(service_start)) / 60 AS mean_service_min
        FROM (SELECT *, (epoch(called_at) - epoch(issued_at)) / 60 AS wait_min FROM tickets)
        WHERE {period} GROUP BY ALL ORDER BY weekday_no, hour""",
        sql.merge(params, {"wait_target_min": config.queue.wait_target_min}),
    )
    return frame.with_columns(
        pl.col("weekday_no")
        .map_elements(lambda d: WEEKDAYS[d - 1], return_dtype=pl.String)
        .alias("weekday")
    ).select("weekday", pl.exclude("weekday"))


def satisfaction(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, config: Config
) -> pl.DataFrame:
    """Per month of rating: ratings, good-review rate, bad reviews, rectified in time."""
    cal.register(con)
    zone = cal.zone
    period, params = filters.period_sql("r.rated_at", zone)
    rated = "(r.rated_at AT TIME ZONE $zone)"
    fixed = "(r.rectified_at AT TIME ZONE $zone)"
    cut, cut_params = app_filter(filters)
    params = sql.merge(
        params,
        cut_params,
        {
            "good_from": config.satisfaction.good_from,
            "rectify_s": config.satisfaction.rectify_within_workdays * cal.day_seconds,
        },
    )
    frame = sql.frame(
        con,
        f"""SELECT strftime({rated}, '%Y-%m') AS month, count(*) AS ratings,
            avg((r.rating >= $good_from)::INT) AS good_review_rate,
            count(*) FILTER (WHERE r.rating <= 2) AS bad_reviews,
            count(*) FILTER (WHERE r.rating <= 2 AND r.rectified_at IS NOT NULL
                AND {cal.work_seconds_sql(fixed, "cf")} - {cal.work_seconds_sql(rated, "cr")}
                    <= $rectify_s) AS rectified_in_time,
            count(*) FILTER (WHERE r.rating <= 2 AND r.rectified_at IS NULL) AS not_rectified
        FROM evaluations r JOIN applications a USING (application_id)
        LEFT JOIN matters m ON m.matter_code = a.matter_code
        JOIN ow_calendar cr ON cr.day = {rated}::DATE
        LEFT JOIN ow_calendar cf ON cf.day = {fixed}::DATE
        WHERE {period} AND {cut} GROUP BY month ORDER BY month""",
        params,
    )
    return frame.with_columns(
        (pl.col("rectified_in_time") / pl.col("bad_reviews")).alias("rectification_rate")
    )


def workload(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters) -> pl.DataFrame:
    """Per staff member: steps and applications handled, per working day active, and the
    median step time (step start → end), ranked slowest first."""
    steps, params = derived.source(con, cal, "d_steps", filters)
    period, period_params = filters.days_sql("day")
    # Over all time a staff member's applications are their first steps on each one: counting
    # those avoids a distinct count of 10M application ids (same figure). In a period, a
    # first step may lie before it, so the distinct count it is.
    applications = (
        "count(*) FILTER (WHERE staff_occurrence = 1)"
        if filters.start is None and filters.end is None
        else "count(DISTINCT application_id)"
    )
    frame = sql.frame(
        con,
        f"""SELECT staff, arg_max(department, ts) AS department, count(*) AS steps,
            {applications} AS applications,
            count(DISTINCT day) AS days_active,
            count(*) / count(DISTINCT day) AS steps_per_day,
            median(step_s) / 60 AS median_step_min,
            avg(step_s) / 60 AS mean_step_min
        FROM ({steps}) WHERE staff IS NOT NULL AND {period} GROUP BY staff
        ORDER BY median_step_min DESC NULLS LAST, staff""",
        sql.merge(params, period_params),
    )
    return frame.with_row_index("rank", offset=1)
