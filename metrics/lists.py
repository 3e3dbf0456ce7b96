"""The applications behind a count: every figure on the dashboard that counts applications
(open red and yellow cards, overdue completions, rework, bad reviews) has a function here that
lists them, with the same cohort and cuts as the count (docs/metrics.md, "Lists")."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from metrics import derived, kpis
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from onewindow.config import Config
from warehouse import sql


def query(
    con: duckdb.DuckDBPyConnection, text: str, source: sql.Params, **mine: object
) -> pl.DataFrame:
    """Runs `text`: the SQL of a `derived.source` (its named parameters `source`) with ours
    (`$name`). Values are always bound, never written into the SQL."""
    return sql.frame(con, text, sql.merge(source, mine))


def cards(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    filters: Filters,
    config: Config,
    card: str,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Open applications with a `card` ("red" or "yellow") at the period's end: the rows of
    `kpis.cards` (the count `open_red_cards` / `open_yellow_cards` is their number), most
    urgent first."""
    if card not in ("red", "yellow"):
        raise ValueError(f"unknown card {card!r}")
    frame = kpis.cards(con, cal, filters, config, as_of)
    return frame.filter(pl.col("card") == card)


def overdue(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters) -> pl.DataFrame:
    """Applications completed in the period and not on time (the KPI `overdue` is their
    number), the latest first: `processing_workdays` against `promised_limit_days`, or
    `completed_at` against the explicit `deadline_at`."""
    facts, params = derived.source(con, cal, "d_facts", filters)
    start, end, _ = kpis.period_bounds(filters, cal.zone)
    lower = "completed_at >= $start AND " if start is not None else ""
    text = f"""SELECT application_id, matter_code, department, window_id, staff, channel,
            accepted_at, completed_at, deadline_at, promised_limit_days, processing_workdays,
            processing_workdays - promised_limit_days AS workdays_late
        FROM ({facts})
        WHERE {lower}completed_at < $end AND NOT on_time
        ORDER BY workdays_late DESC NULLS LAST, completed_at DESC, application_id"""
    return query(con, text, params, start=start, end=end)


def rework(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, step: str | None = None
) -> pl.DataFrame:
    """Applications in which a step occurs more than once among its events in the period
    (by their day), one row per application and step (`process.rework`'s
    `applications_with_rework` counts them per step): `times` it occurred. Only `step`'s when
    given; most repeated first."""
    steps, params = derived.source(con, cal, "d_steps", filters)
    period = ["TRUE"]
    if filters.start is not None:
        period.append("day >= $start")
    if filters.end is not None:
        period.append("day <= $end")
    if step is not None:
        period.append("step = $step")
    text = f"""SELECT application_id, matter_code, matter_department AS department, step,
            count(*) AS times, min(ts) AS first_at, max(ts) AS last_at
        FROM ({steps}) WHERE {" AND ".join(period)}
        GROUP BY application_id, matter_code, matter_department, step HAVING count(*) > 1
        ORDER BY times DESC, last_at DESC, application_id, step"""
    return query(con, text, params, start=filters.start, end=filters.end, step=step)
