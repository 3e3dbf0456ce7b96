"""How fresh and whole the data is, for the Data page: the last run and the last event, and
files a run could not load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from warehouse import sql


@dataclass(frozen=True)
class Freshness:
    last_run_at: datetime | None  # when the last run finished
    last_run_status: str | None
    last_event_at: datetime | None
    applications: int


def freshness(con: duckdb.DuckDBPyConnection) -> Freshness:
    run = con.execute(
        "SELECT finished_at, status FROM etl_runs ORDER BY run_id DESC LIMIT 1"
    ).fetchall()
    last_event, applications = con.execute(
        "SELECT (SELECT max(ts) FROM events), (SELECT count(*) FROM applications)"
    ).fetchall()[0]
    return Freshness(
        run[0][0] if run else None, run[0][1] if run else None, last_event, int(applications)
    )


def failed_files(con: duckdb.DuckDBPyConnection, filters: Filters, zone: str) -> pl.DataFrame:
    """Files a run could not load, newest run first, with the error."""
    where, params = filters.period_sql("r.started_at", zone)
    frame = sql.frame(
        con,
        f"""SELECT f.run_id,
            strftime(r.started_at AT TIME ZONE $zone, '%Y-%m-%d %H:%M:%S') AS started_at,
            f.path AS file, f.table_name, f.profile, f.error
        FROM etl_run_files f JOIN etl_runs r USING (run_id)
        WHERE f.status = 'failed' AND {where} ORDER BY f.run_id DESC, f.path""",
        params,
    )
    return frame


def stale_derived(con: duckdb.DuckDBPyConnection, cal: WorkCalendar) -> int | None:
    """None when the derived tables are current for `cal`; else how many applications wait
    for a refresh (all of them when the calendar or the code changed since the last build).
    Reports are right either way: they fall back to the reference SQL (metrics/derived.py)."""
    if derived.current(con, cal):
        return None
    wanted = derived.fingerprint(cal, con)
    try:
        stored, waiting = con.execute(
            """SELECT (SELECT max(fingerprint) FROM d_state),
                (SELECT count(DISTINCT application_id) FROM d_pending)"""
        ).fetchall()[0]
    except duckdb.CatalogException:  # a warehouse older than the derived tables
        stored, waiting = None, 0
    if stored == wanted:
        return int(waiting)
    return int(con.execute("SELECT count(*) FROM applications").fetchall()[0][0])
