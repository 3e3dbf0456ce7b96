"""The figures of the director's monthly report (月报): one calendar month of one scope (the
center, or some departments), with the comparisons a superior reads first.

Every figure comes from the same functions as `onewindow report` and the dashboard: the KPIs
are kpis.kpis() of the month (so they equal `onewindow report kpis --from FIRST --to LAST`
with the same --department), compared with the month before (环比) and the same month a year
earlier (同比). Formulas: docs/metrics.md ("Monthly report")."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import duckdb
import polars as pl

from metrics import catalog, followup, kpis, lists, reforms
from metrics.calendar import WorkCalendar
from metrics.dashboard import on_time_drag, shift_months, trailing_year, wide
from metrics.filters import Filters
from onewindow.config import Config

# The KPIs a monthly report lists, in its order: volume and channels, time, cards, satisfaction.
REPORTED = (
    "submitted",
    "accepted",
    "completed",
    "completion_rate",
    "online_rate",
    "fully_online_rate",
    "at_most_once_rate",
    "zero_trip_rate",
    "trips_mean",
    "processing_workdays_mean",
    "processing_workdays_median",
    "on_time_rate",
    "overdue",
    "speedup_promised",
    "instant_share",
    "open",
    "open_yellow_cards",
    "open_red_cards",
    "ratings",
    "good_review_rate",
    "bad_reviews",
    "rectification_rate",
)
# What the departments are ranked by, and shown with.
LEAGUE = ("submitted", "completed", "on_time_rate", "overdue", "online_rate", "open_red_cards")
# Monthly series the report draws.
CHARTED = ("on_time_rate", "online_rate", "good_review_rate", "submitted")


@dataclass(frozen=True)
class Monthly:
    center: str
    month: date  # its first day
    last_day: date
    departments: tuple[str, ...]  # the scope; empty: the whole center
    generated_at: datetime
    kpis: pl.DataFrame  # kpi, value, target, meets_target, previous, year_ago
    departments_ranked: pl.DataFrame  # rank, department, LEAGUE…
    drag: pl.DataFrame  # matter, completed, overdue, on_time_rate, points_lost
    open_red: pl.DataFrame  # open red cards at the month's end
    closed_late: pl.DataFrame  # applications completed in the month after their limit
    bad_reviews: pl.DataFrame  # ratings of 1–2 given in the month, with rectification
    reforms: pl.DataFrame  # the reforms report (DiD) of every registered reform
    series: pl.DataFrame  # month, kpi, value: the twelve months up to this one

    @property
    def filters(self) -> Filters:
        return Filters(start=self.month, end=self.last_day, departments=self.departments)


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    return first, shift_months(first, 1) - timedelta(days=1)


def build(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    config: Config,
    month: date,
    departments: tuple[str, ...] = (),
    generated_at: datetime | None = None,
) -> Monthly:
    first, last = month_bounds(month)
    filters = Filters(start=first, end=last, departments=departments)
    now = kpis.kpis(con, cal, filters, config, only=REPORTED)
    before = _values(kpis.kpis(con, cal, _moved(filters, -1), config, only=REPORTED))
    year_ago = _values(kpis.kpis(con, cal, _moved(filters, -12), config, only=REPORTED))
    table = (
        now.filter(pl.col("kpi").is_in(REPORTED))
        .with_columns(
            pl.col("kpi")
            .replace_strict(before, default=None, return_dtype=pl.Float64)
            .alias("previous"),
            pl.col("kpi")
            .replace_strict(year_ago, default=None, return_dtype=pl.Float64)
            .alias("year_ago"),
        )
        .select("kpi", "value", "target", "meets_target", "previous", "year_ago")
    )
    league = wide(kpis.kpis(con, cal, filters, config, by="department", only=LEAGUE), "department")
    league = (
        league.select("department", *LEAGUE)
        .sort(["on_time_rate", "department"], descending=[True, False], nulls_last=True)
        .with_row_index("rank", offset=1)
    )
    by_matter = wide(
        kpis.kpis(con, cal, filters, config, by="matter", only=("completed",)), "matter"
    )
    series = kpis.kpis(con, cal, trailing_year(filters), config, by="month", only=CHARTED)
    cards = kpis.cards(con, cal, filters, config)
    return Monthly(
        center=config.center.name,
        month=first,
        last_day=last,
        departments=departments,
        generated_at=generated_at or datetime.now().astimezone(),
        kpis=table,
        departments_ranked=league,
        drag=_named(on_time_drag(by_matter), catalog.matters(con)),
        open_red=cards.filter(pl.col("card") == "red"),
        closed_late=lists.overdue(con, cal, filters),
        bad_reviews=followup.bad_reviews(con, cal, filters, config, _as_of(filters, cal)),
        reforms=_reforms(con, cal, config, departments),
        series=series.select("month", "kpi", "value").sort("month", "kpi"),
    )


def _named(drag: pl.DataFrame, matters: pl.DataFrame) -> pl.DataFrame:
    """The matters with their Chinese and English names from the catalog."""
    names = matters.select(
        pl.col("matter_code").alias("matter"), pl.col("name_zh"), pl.col("name_en")
    )
    return drag.join(names, on="matter", how="left").select(
        "matter", "name_zh", "name_en", *[c for c in drag.columns if c != "matter"]
    )


def _moved(filters: Filters, months: int) -> Filters:
    """The same cut one (or twelve) calendar months earlier, whole months kept whole."""
    assert filters.start is not None
    first = shift_months(filters.start, months)
    return replace(filters, start=first, end=month_bounds(first)[1])


def _values(long: pl.DataFrame) -> dict[str, float | None]:
    return {str(k): v for k, v in zip(long["kpi"], long["value"], strict=True)}


def _as_of(filters: Filters, cal: WorkCalendar) -> datetime:
    _, _, as_of = kpis.period_bounds(filters, cal.zone)
    return as_of


def _reforms(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, config: Config, departments: tuple[str, ...]
) -> pl.DataFrame:
    """The effects (DiD) of the registered reforms; for a scope of departments, of those that
    touch a matter of theirs."""
    chosen = reforms.stored(con)
    if departments:
        own = set(
            catalog.matters(con).filter(pl.col("department").is_in(departments))["matter_code"]
        )
        chosen = [r for r in chosen if own & set(r.matters)]
    if not chosen:
        return pl.DataFrame(schema=reforms.EFFECT_SCHEMA)
    return reforms.report(con, cal, config, [r.id for r in chosen])
