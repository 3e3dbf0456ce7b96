"""ETL health: run history and quarantined rows, for `report jobs`, `report quarantine` and
the dashboard's Data page."""

from __future__ import annotations

import duckdb
import polars as pl

from metrics import catalog
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
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
            quarantined, error
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
