"""Follow-up lists for the people who act on them: bad reviews with their rectification status
and age, and the workload of each window. Formulas in docs/metrics.md ("Dashboard")."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.facts import app_filter
from metrics.filters import Filters
from onewindow.config import Config
from warehouse import sql


def bad_reviews(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    filters: Filters,
    config: Config,
    as_of: datetime,
) -> pl.DataFrame:
    """Ratings of 1–2 given in the period: status `rectified` (within the configured working
    days), `late` (rectified after them), `open` (not yet; `overdue` once past them); age =
    working days from the rating to its rectification, or to `as_of` while open. Open and
    oldest first."""
    cal.register(con)
    zone = cal.zone
    period, params = filters.period_sql("r.rated_at", zone)
    cut, cut_params = app_filter(filters)
    rated = "(r.rated_at AT TIME ZONE $zone)"
    fixed = "(coalesce(r.rectified_at, $as_of::TIMESTAMPTZ) AT TIME ZONE $zone)"
    within = config.satisfaction.rectify_within_workdays
    frame = sql.frame(
        con,
        f"""SELECT r.application_id, a.matter_code, m.department, r.rating, r.reason,
            r.rated_at, r.rectified_at,
            round(({cal.work_seconds_sql(fixed, "cf")} - {cal.work_seconds_sql(rated, "cr")})
                  / $day_s, 2) AS age_workdays
        FROM evaluations r JOIN applications a USING (application_id)
        LEFT JOIN matters m ON m.matter_code = a.matter_code
        JOIN ow_calendar cr ON cr.day = {rated}::DATE
        JOIN ow_calendar cf ON cf.day = {fixed}::DATE
        WHERE r.rating <= 2 AND {period} AND {cut}""",
        sql.merge(params, cut_params, {"as_of": as_of, "day_s": cal.day_seconds}),
    )
    status = (
        pl.when(pl.col("rectified_at").is_not_null() & (pl.col("age_workdays") <= within))
        .then(pl.lit("rectified"))
        .when(pl.col("rectified_at").is_not_null())
        .then(pl.lit("late"))
        .when(pl.col("age_workdays") > within)
        .then(pl.lit("overdue"))
        .otherwise(pl.lit("open"))
    )
    order = {"overdue": 0, "open": 1, "late": 2, "rectified": 3}
    return (
        frame.with_columns(status.alias("status"))
        .with_columns(pl.col("status").replace_strict(order, return_dtype=pl.Int8).alias("_o"))
        .sort(["_o", "age_workdays", "application_id"], descending=[False, True, False])
        .drop("_o")
    )


def window_workload(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters
) -> pl.DataFrame:
    """Per window: steps and applications handled, working days active, steps per active
    day, median step time (step start → end) in minutes; busiest first."""
    steps, params = derived.source(con, cal, "d_steps", filters)
    period, period_params = filters.days_sql("day")
    frame = sql.frame(
        con,
        f"""SELECT window_id, count(*) AS steps,
            count(DISTINCT application_id) AS applications,
            count(DISTINCT day) AS days_active,
            count(*) / count(DISTINCT day) AS steps_per_day,
            count(DISTINCT staff) AS staff,
            median(step_s) / 60 AS median_step_min
        FROM ({steps}) WHERE window_id IS NOT NULL AND {period}
        GROUP BY window_id ORDER BY steps DESC, window_id""",
        sql.merge(params, period_params),
    )
    return frame
