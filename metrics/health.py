"""ETL health: run history, files, quarantined rows and implausible applications, for
`report jobs`, `report quarantine`, `report flagged` and the dashboard's Data page."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from metrics import catalog
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from onewindow.config import Plausibility
from warehouse import sql


def jobs(con: duckdb.DuckDBPyConnection, filters: Filters, zone: str) -> pl.DataFrame:
    """One row per ETL run, newest first, with its counts and error."""
    where, params = filters.period_sql("started_at", zone)
    frame = sql.frame(
        con,
        f"""SELECT run_id, job, profile,
            strftime(started_at AT TIME ZONE $zone, '%Y-%m-%d %H:%M:%S') AS started_at,
            round(epoch(finished_at - started_at), 3) AS duration_s,
            status, files, failed_files, rows_read, inserted, updated, duplicates,
            quarantined, repeated, cleaned, removed, error
        FROM etl_runs WHERE {where} ORDER BY run_id DESC""",
        params,
    )
    return frame


def quarantine(con: duckdb.DuckDBPyConnection, filters: Filters, zone: str) -> pl.DataFrame:
    """Rows held back, with the file, the row a person finds in it, the field and why."""
    where, params = filters.period_sql("r.started_at", zone)
    frame = sql.frame(
        con,
        f"""SELECT q.run_id, q.path AS file, q.row_number AS row, q.table_name, q.field,
            q.reason, q.raw::VARCHAR AS raw_values
        FROM quarantine q JOIN etl_runs r USING (run_id)
        WHERE {where} ORDER BY q.run_id DESC, q.path, q.row_number""",
        params,
    )
    return frame


def files(con: duckdb.DuckDBPyConnection, zone: str, runs: int = 20) -> pl.DataFrame:
    """The files of the last `runs` runs with their counts: rows read = loaded + duplicates +
    quarantined; `repeated` rows repeated an earlier row of the same file (kept as distinct
    events, or merged), `cleaned` values lost invisible characters, `removed` stored events a
    complete step list replaced."""
    frame: pl.DataFrame = con.sql(
        """SELECT f.run_id,
            strftime(r.started_at AT TIME ZONE ?, '%Y-%m-%d %H:%M:%S') AS started_at,
            f.path AS file, f.table_name, f.status, f.rows_read, f.loaded, f.duplicates,
            f.quarantined, f.repeated, f.cleaned, f.removed
        FROM etl_run_files f JOIN etl_runs r USING (run_id)
        WHERE f.run_id > (SELECT coalesce(max(run_id), 0) FROM etl_runs) - ?
        ORDER BY f.run_id DESC, f.path""",
        params=[zone, runs],
    ).pl()
    return frame


# Application times that cannot be true; the fields are code constants.
_ORDER_RULES = (
    ("accepted_at", "submitted_at", "accepted before it was submitted"),
    ("completed_at", "submitted_at", "completed before it was submitted"),
    ("completed_at", "accepted_at", "completed before it was accepted"),
)
_HAPPENED = ("submitted_at", "accepted_at", "completed_at")


def flagged(con: duckdb.DuckDBPyConnection, rules: Plausibility, zone: str) -> pl.DataFrame:
    """Applications whose own times cannot be true (config [plausibility]): loaded, since their
    events are real, but listed here for the data steward with the field and the reason."""
    earliest = datetime.combine(rules.earliest, time(), tzinfo=ZoneInfo(zone))
    latest = datetime.now(UTC) + timedelta(hours=rules.future_tolerance_hours)
    parts = [
        f"""SELECT application_id, matter_code, '{late}' AS field, {late} AS value,
            '{reason}' AS reason FROM applications WHERE {late} < {early}"""
        for late, early, reason in _ORDER_RULES
    ]
    parts += [
        f"""SELECT application_id, matter_code, '{name}', {name},
            CASE WHEN {name} > $latest THEN 'in the future (plausibility.future_tolerance_hours)'
                 ELSE 'before plausibility.earliest' END
            FROM applications WHERE {name} > $latest OR {name} < $earliest"""
        for name in _HAPPENED
    ]
    frame: pl.DataFrame = con.sql(
        f"""SELECT application_id, matter_code, field,
            strftime(value AT TIME ZONE $zone, '%Y-%m-%d %H:%M:%S') AS value, reason
        FROM ({" UNION ALL ".join(parts)}) ORDER BY application_id, field, reason, value""",
        params={"zone": zone, "earliest": earliest, "latest": latest},
    ).pl()
    return frame


def calendar_coverage(con: duckdb.DuckDBPyConnection, cal: WorkCalendar) -> pl.DataFrame:
    """Years from the data's first to its last instant whose working days are only a
    Monday–Friday fallback (no statutory holiday data): figures there count holidays as
    working days."""
    cal.register(con)
    days = catalog.data_days(con, cal.zone)
    first, last = (days[0].year, days[1].year) if days else (0, -1)
    return sql.frame(
        con,
        """SELECT year(day) AS year, count(*) FILTER (WHERE source = 'fallback') AS fallback_days
        FROM ow_calendar WHERE year(day) BETWEEN $first AND $last
        GROUP BY year(day) HAVING fallback_days > 0 ORDER BY year""",
        {"first": first, "last": last},
    )
