"""Every KPI of the spec, with its cohort, cut by a dimension and set against its target.

Cohorts: volume, channel and trip figures count applications *submitted* in the period; time,
on-time and satisfaction figures count applications *completed* (or ratings given) in the
period; open figures are as of the period's end. Formulas: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from onewindow.config import Config
from warehouse import sql
from warehouse.sql import Params

Better = Literal["higher", "lower", "none"]


@dataclass(frozen=True)
class Kpi:
    name: str
    zh: str
    en: str
    cohort: str
    better: Better


def _k(name: str, zh: str, en: str, cohort: str, better: Better = "higher") -> Kpi:
    return Kpi(name, zh, en, cohort, better)


KPIS: dict[str, Kpi] = {
    k.name: k
    for k in (
        _k("submitted", "申请件数", "Submitted", "submitted", "none"),
        _k("online_rate", "网上办理率", "Online rate", "submitted"),
        _k("fully_online_rate", "全程网办率", "Fully-online rate", "submitted"),
        _k("trips_mean", "平均跑动次数", "Mean trips", "submitted", "lower"),
        _k("at_most_once_rate", "最多跑一次实现率", "At-most-once rate", "submitted"),
        _k("zero_trip_rate", "零跑动率", "Zero-trip rate", "submitted"),
        _k("materials_mean", "平均提交材料数", "Mean materials", "submitted", "lower"),
        _k("accepted", "受理件数", "Accepted", "accepted", "none"),
        _k("completion_rate", "办结率", "Completion rate", "accepted"),
        _k("completed", "办结件数", "Completed", "completed", "none"),
        _k(
            "processing_workdays_mean",
            "平均办理时长（工作日）",
            "Mean processing working days",
            "completed",
            "lower",
        ),
        _k(
            "processing_workdays_median",
            "办理时长中位数（工作日）",
            "Median processing working days",
            "completed",
            "lower",
        ),
        _k(
            "processing_workdays_p90",
            "办理时长P90（工作日）",
            "P90 processing working days",
            "completed",
            "lower",
        ),
        _k(
            "processing_hours_mean",
            "平均办理时长（小时）",
            "Mean processing hours",
            "completed",
            "lower",
        ),
        _k("on_time_rate", "按时办结率", "On-time rate", "completed"),
        _k("overdue", "超期件数", "Overdue", "completed", "lower"),
        _k("speedup_statutory", "法定提速率", "Speed-up vs statutory limit", "completed"),
        _k("speedup_promised", "承诺提速率", "Speed-up vs promised limit", "completed"),
        _k("instant_share", "即办件占比", "Instant share", "completed"),
        _k("rating_coverage", "评价覆盖率", "Rating coverage", "completed"),
        _k("open", "在办件数", "Open", "open", "none"),
        _k("open_yellow_cards", "黄牌（在办）", "Open yellow cards", "open", "lower"),
        _k("open_red_cards", "红牌（在办）", "Open red cards", "open", "lower"),
        _k("ratings", "评价数", "Ratings", "rated", "none"),
        _k("good_review_rate", "好评率", "Good-review rate", "rated"),
        _k("bad_reviews", "差评数", "Bad reviews", "rated", "lower"),
        _k("rectification_rate", "差评整改率", "Rectification rate", "rated"),
        _k("tickets", "取号数", "Queue tickets", "issued", "none"),
        _k("wait_mean_min", "平均等候时长（分钟）", "Mean wait (min)", "issued", "lower"),
        _k("wait_p90_min", "等候时长P90（分钟）", "P90 wait (min)", "issued", "lower"),
        _k("wait_within_target_rate", "等候达标率", "Waits within target", "issued"),
        _k("no_show_rate", "过号率", "No-show rate", "issued", "lower"),
        _k(
            "service_mean_min",
            "平均办理时长（窗口，分钟）",
            "Mean service time (min)",
            "issued",
            "lower",
        ),
    )
}

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
                count(*) AS submitted,
                avg((channel IN ('online', 'mobile'))::INT) AS online_rate,
                avg(fully_online::INT) AS fully_online_rate,
                avg(trips) AS trips_mean,
                avg((trips <= 1)::INT) AS at_most_once_rate,
                avg((trips = 0)::INT) AS zero_trip_rate,
                avg(materials_submitted) AS materials_mean
            FROM f WHERE {within(sub_date)} GROUP BY key""",
        "accepted": f"""SELECT {key("accepted_at")} AS key, count(*) AS accepted,
                avg(CASE WHEN completed_at < $as_of THEN 1 ELSE 0 END) AS completion_rate
            FROM f WHERE {within("accepted_at")} GROUP BY key""",
        "completed": f"""SELECT {key("completed_at")} AS key, count(*) AS completed,
                avg(processing_workdays) AS processing_workdays_mean,
                median(processing_workdays) AS processing_workdays_median,
                quantile_cont(processing_workdays, 0.9) AS processing_workdays_p90,
                avg(epoch(completed_at) - epoch(accepted_at)) / 3600 AS processing_hours_mean,
                avg(on_time::INT) AS on_time_rate,
                count(*) FILTER (WHERE NOT on_time) AS overdue,
                (sum(statutory_limit_days) FILTER (WHERE statutory_limit_days IS NOT NULL)
                 - sum(processing_workdays) FILTER (WHERE statutory_limit_days IS NOT NULL))
                 / nullif(sum(statutory_limit_days), 0) AS speedup_statutory,
                (sum(promised_limit_days) FILTER (WHERE promised_limit_days IS NOT NULL)
                 - sum(processing_workdays) FILTER (WHERE promised_limit_days IS NOT NULL))
                 / nullif(sum(promised_limit_days), 0) AS speedup_promised,
                avg(instant::INT) AS instant_share,
                avg((application_id IN (SELECT application_id FROM evaluations))::INT)
                    AS rating_coverage
            FROM f WHERE {within("completed_at")} GROUP BY key""",
        "open": f"""SELECT {
            key("($as_of::TIMESTAMPTZ - INTERVAL 1 MICROSECOND)") if by == "month" else key("")
        } AS key,
                count(*) AS open,
                count(*) FILTER (WHERE card = 'yellow') AS open_yellow_cards,
                count(*) FILTER (WHERE card = 'red') AS open_red_cards
            FROM ({cards}) GROUP BY key""",
        "rated": f"""SELECT {key("r.rated_at", "f.")} AS key, count(*) AS ratings,
                avg((r.rating >= $good_from)::INT) AS good_review_rate,
                count(*) FILTER (WHERE r.rating <= 2) AS bad_reviews,
                avg(CASE WHEN r.rating <= 2 THEN (r.rectified_at IS NOT NULL AND
                    {cal.work_seconds_sql(local, "cr")} - {cal.work_seconds_sql(rated_local, "ca")}
                    <= $rectify_s)::INT END) AS rectification_rate
            FROM {rated_from}
            JOIN ow_calendar ca ON ca.day = {rated_local}::DATE
            LEFT JOIN ow_calendar cr ON cr.day = {local}::DATE
            WHERE {within("r.rated_at")} GROUP BY key""",
    }
    # Tickets name no matter, department or channel: their figures exist only uncut by those.
    if by in ("none", "window", "month") and not app_cut:
        ticket_key = {
            "none": "'all'",
            "window": "window_id",
            "month": "strftime(issued_at AT TIME ZONE $zone, '%Y-%m')",
        }[by]
        cohorts["issued"] = f"""SELECT {ticket_key} AS key, count(*) AS tickets,
                avg(wait_min) AS wait_mean_min,
                quantile_cont(wait_min, 0.9) AS wait_p90_min,
                avg((wait_min <= $wait_target_min)::INT) AS wait_within_target_rate,
                avg((outcome = 'no_show')::INT) AS no_show_rate,
                avg(epoch(service_end) - epoch(service_start)) / 60 AS service_mean_min
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
