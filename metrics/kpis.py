"""Every KPI of the spec, with its cohort, cut by a dimension and set against its target.

Cohorts: volume, channel and trip figures count applications *submitted* in the period; time,
on-time and satisfaction figures count applications *completed* (or ratings given) in the
period; open figures are as of the period's end. Formulas: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.registry import KPIS as KPIS
from metrics.registry import REGISTRY
from onewindow.config import Config
from warehouse import sql
from warehouse.sql import Params


def aggregates_sql(cohort: str) -> str:
    """The cohort's KPIs as SELECT items, from the registry."""
    return ",\n                ".join(
        f"{k.aggregate} AS {k.name}" for k in REGISTRY if k.cohort == cohort
    )


DIMENSIONS = ("none", "matter", "department", "window", "staff", "channel", "month")
_DIM_COLUMN = {
    "matter": "matter_code",
    "department": "department",
    "window": "window_id",
    "staff": "staff",
    "channel": "channel",
}


# Instants of the facts whose local day the facts also hold (metrics/facts.py).
_LOCAL_DAY = {
    "coalesce(submitted_at, first_event)": "submitted_day",
    "accepted_at": "accepted_day",
    "completed_at": "completed_day",
}

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=ZoneInfo("UTC"))


def period_bounds(
    filters: Filters, zone: str, last_data: datetime | None = None
) -> tuple[datetime | None, datetime, datetime]:
    """The period as instants: its start, its end (open when --to is not given), and the
    'as of' instant for open figures: the period's end, but never after the data's last
    event (a historical load) nor after now."""
    tz = ZoneInfo(zone)
    start = datetime.combine(filters.start, time(), tz) if filters.start else None
    end = datetime.combine(filters.end + timedelta(days=1), time(), tz) if filters.end else None
    candidates = [t for t in (end, last_data) if t is not None] + [datetime.now(tz)]
    return start, end or FAR_FUTURE, min(candidates)


def kpis(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    filters: Filters,
    config: Config,
    by: str = "none",
    as_of: datetime | None = None,
    only: Sequence[str] = (),
) -> pl.DataFrame:
    """Long table: [dimension,] kpi, value, target, meets_target. With `only`, just the
    cohorts those KPIs belong to are computed (a page that shows a few KPIs skips the rest)."""
    unknown = [name for name in only if name not in KPIS]
    if unknown:
        raise ValueError(f"unknown KPI {unknown[0]!r}")
    facts, params = derived.source(con, cal, "d_facts", filters)
    start, end, as_of = period_bounds(filters, cal.zone, as_of or _last_instant(con))
    zone = cal.zone

    def key(column: str, alias: str = "") -> str:
        if by == "month" and column in _LOCAL_DAY:  # a DATE: no time-zone conversion per row
            return f"strftime({_LOCAL_DAY[column]}, '%Y-%m')"
        if by == "month":
            return f"strftime({column} AT TIME ZONE $zone, '%Y-%m')"
        return alias + _DIM_COLUMN[by] if by in _DIM_COLUMN else "'all'"

    def within(column: str) -> str:
        lower = f"{column} >= $start AND " if start is not None else ""
        return f"({lower}{column} < $end)"

    sub_date = "coalesce(submitted_at, first_event)"
    local = "(r.rectified_at AT TIME ZONE $zone)"
    rated_local = "(r.rated_at AT TIME ZONE $zone)"
    cards, cards_params = cards_sql(cal, "f", config)
    app_cut = filters.cuts_applications
    # Ratings need the facts only to be cut or keyed by an application's attributes; every
    # stored rating belongs to a stored application (the ETL quarantines the others).
    rated_from = (
        "evaluations r JOIN f USING (application_id)"
        if app_cut or by not in ("none", "month")
        else "evaluations r"
    )
    cohorts = {
        "submitted": f"""SELECT {key(sub_date)} AS key,
                {aggregates_sql("submitted")}
            FROM f WHERE {within(sub_date)} GROUP BY key""",
        "accepted": f"""SELECT {key("accepted_at")} AS key,
                {aggregates_sql("accepted")}
            FROM f WHERE {within("accepted_at")} GROUP BY key""",
        "completed": f"""SELECT {key("completed_at")} AS key,
                {aggregates_sql("completed")}
            FROM f WHERE {within("completed_at")} GROUP BY key""",
        "open": f"""SELECT {
            key("($as_of::TIMESTAMPTZ - INTERVAL 1 MICROSECOND)") if by == "month" else key("")
        } AS key,
                {aggregates_sql("open")}
            FROM ({cards}) GROUP BY key""",
        "rated": f"""SELECT key, {aggregates_sql("rated")}
            FROM (SELECT {key("r.rated_at", "f.")} AS key, r.rating, r.rectified_at,
                    {cal.work_seconds_sql(local, "cr")} - {cal.work_seconds_sql(rated_local, "ca")}
                        AS rectify_work_s
                FROM {rated_from}
                JOIN ow_calendar ca ON ca.day = {rated_local}::DATE
                LEFT JOIN ow_calendar cr ON cr.day = {local}::DATE
                WHERE {within("r.rated_at")}) GROUP BY key""",
    }
    # Tickets name no matter, department or channel: their figures exist only uncut by those.
    if by in ("none", "window", "month") and not app_cut:
        ticket_key = {
            "none": "'all'",
            "window": "window_id",
            "month": "strftime(issued_at AT TIME ZONE $zone, '%Y-%m')",
        }[by]
        cohorts["issued"] = f"""SELECT {ticket_key} AS key,
                {aggregates_sql("issued")}
            FROM (SELECT *, (epoch(called_at) - epoch(issued_at)) / 60 AS wait_min
                  FROM tickets) WHERE {within("issued_at")} GROUP BY key"""
    if only:
        wanted = {KPIS[name].cohort for name in only}
        cohorts = {name: text for name, text in cohorts.items() if name in wanted}
    named: Params = {
        "end": end,
        "as_of": as_of,
        "zone": zone,
        "good_from": config.satisfaction.good_from,
        "rectify_s": config.satisfaction.rectify_within_workdays * cal.day_seconds,
        "wait_target_min": config.queue.wait_target_min,
    }
    if start is not None:
        named["start"] = start
    parts = []
    for cohort, text in cohorts.items():
        names = [k.name for k in KPIS.values() if k.cohort == cohort]
        unpivot = " UNION ALL ".join(
            f"SELECT key, '{n}' AS kpi, {n}::DOUBLE AS value FROM c" for n in names
        )
        parts.append(f"(WITH c AS ({text}) {unpivot})")
    if not parts:  # only ticket KPIs were asked for, and the cut leaves no ticket figures
        empty = pl.DataFrame(schema={"key": pl.String, "kpi": pl.String, "value": pl.Float64})
        return _with_targets(empty, config, by)
    query = f"WITH f AS ({facts}) " + " UNION ALL ".join(f"SELECT * FROM {p}" for p in parts)
    frame = sql.frame(con, query, sql.merge(params, cards_params, named))
    return _with_targets(frame, config, by)


def _with_targets(frame: pl.DataFrame, config: Config, by: str) -> pl.DataFrame:
    order = {name: i for i, name in enumerate(KPIS)}
    targets = pl.DataFrame(
        {"kpi": list(config.targets), "target": list(config.targets.values())},
        schema={"kpi": pl.String, "target": pl.Float64},
    )
    better = pl.DataFrame({"kpi": list(KPIS), "better": [k.better for k in KPIS.values()]})
    out = (
        frame.join(targets, on="kpi", how="left")
        .join(better, on="kpi", how="left")
        .with_columns(
            pl.when(pl.col("target").is_null() | pl.col("value").is_null())
            .then(None)
            .when(pl.col("better") == "lower")
            .then(pl.col("value") <= pl.col("target"))
            .otherwise(pl.col("value") >= pl.col("target"))
            .alias("meets_target"),
            pl.col("kpi").replace_strict(order, return_dtype=pl.Int64).alias("__order"),
        )
        .sort("key", "__order", nulls_last=True)
        .drop("__order", "better")
    )
    if by == "none":
        return out.drop("key")
    return out.rename({"key": by})


def cards_sql(cal: WorkCalendar, facts: str, config: Config) -> tuple[str, Params]:
    """Open applications at $as_of with a deadline: red past it, yellow within the configured
    working days of it. The deadline is the explicit one, else the end of the promised
    limit's last working day (limits count from the day after acceptance)."""
    end_local = "($as_of::TIMESTAMPTZ AT TIME ZONE $zone)"
    due_local = "(due_at AT TIME ZONE $zone)"
    query = f"""
        WITH open_apps AS (
            SELECT {facts}.*, coalesce(deadline_at, (
                SELECT (c.day + to_seconds($day_end_s)) AT TIME ZONE $zone
                FROM ow_calendar c
                WHERE c.wd_index = {facts}.accepted_wd + greatest(
                    {facts}.promised_limit_days,
                    -- accepted on a closed day: an instant matter is due the next working day
                    CASE WHEN {facts}.accepted_on_workday THEN 0 ELSE 1 END)
                  AND c.is_working_day)) AS due_at
            FROM {facts}
            WHERE accepted_at < $as_of
              AND (completed_at IS NULL OR completed_at >= $as_of)),
        timed AS (
            SELECT o.*, ({cal.work_seconds_sql(due_local, "cd")}
                         - {cal.work_seconds_sql(end_local, "ce")}) / $day_s
                    AS workdays_left
            FROM open_apps o
            LEFT JOIN ow_calendar cd ON cd.day = {due_local}::DATE
            JOIN ow_calendar ce ON ce.day = {end_local}::DATE)
        SELECT *, CASE WHEN due_at IS NULL THEN NULL
                       WHEN due_at < $as_of THEN 'red'
                       WHEN workdays_left <= $yellow_workdays THEN 'yellow'
                  END AS card
        FROM timed"""
    return query, {
        "zone": cal.zone,
        "day_end_s": max(end for _, end in cal.spans),
        "day_s": cal.day_seconds,
        "yellow_workdays": config.supervision.yellow_workdays,
    }


def _last_instant(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """'As of' for a historical load: the data's last event, if that is before now."""
    row = con.execute("SELECT max(ts) FROM events").fetchall()[0][0]
    if row is None:
        return None
    last: datetime = row + timedelta(seconds=1)
    return min(last, datetime.now(last.tzinfo))


def cards(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    filters: Filters,
    config: Config,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Open applications with a yellow or red card at the period's end, most urgent first."""
    facts, params = derived.source(con, cal, "d_facts", filters)
    _, _, as_of = period_bounds(filters, cal.zone, as_of or _last_instant(con))
    open_cards, cards_params = cards_sql(cal, "f", config)
    query = f"""WITH f AS ({facts}) SELECT application_id, matter_code, department, window_id,
            staff, channel, accepted_at, due_at, card, round(workdays_left, 2) AS workdays_left,
            round(greatest(0, epoch($as_of::TIMESTAMPTZ) - epoch(due_at)) / 3600, 1)
                AS overdue_hours
        FROM ({open_cards}) WHERE card IS NOT NULL
        ORDER BY workdays_left, application_id"""
    return sql.frame(con, query, sql.merge(params, cards_params, {"as_of": as_of}))
