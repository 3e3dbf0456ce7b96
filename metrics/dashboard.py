"""Figures the dashboard derives from the metrics tables: named periods and the period before,
KPIs side by side, the matters that pull the on-time rate down, outliers, card counts.
Pure functions on dates and frames; formulas are in docs/metrics.md ("Dashboard")."""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import date, timedelta
from typing import Literal

import polars as pl

from metrics.filters import Filters
from metrics.kpis import KPIS

Period = Literal["this_month", "last_month", "this_quarter", "ytd", "last_12_months", "custom"]
PERIODS: tuple[Period, ...] = (
    "this_month",
    "last_month",
    "this_quarter",
    "ytd",
    "last_12_months",
    "custom",
)
# How far back a month or quarter to date finds its previous period, in months.
_SHIFT = {"this_month": 1, "this_quarter": 3}


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def shift_months(d: date, months: int) -> date:
    """`d` moved by whole months; a day past the target month's end becomes its last day."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, calendar.monthrange(year, month + 1)[1]))


def period_range(
    period: Period, anchor: date, start: date | None = None, end: date | None = None
) -> tuple[date, date]:
    """First and last day of a named period that ends at `anchor` (today, or the data's last
    day for a historical load). A custom period is `start`..`end` (anchor when missing), as
    given: a start after the end is the caller's to report (`reversed_days`), never swapped."""
    if period == "this_month":
        return anchor.replace(day=1), anchor
    if period == "last_month":
        last = anchor.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if period == "this_quarter":
        return date(anchor.year, (anchor.month - 1) // 3 * 3 + 1, 1), anchor
    if period == "ytd":
        return date(anchor.year, 1, 1), anchor
    if period == "last_12_months":
        return shift_months(anchor, -12) + timedelta(days=1), anchor
    return start or anchor, end or anchor


def reversed_days(start: date | None, end: date | None) -> bool:
    """True when a period starts after it ends (a mistake to report, not to swap)."""
    return start is not None and end is not None and start > end


# The current month counts as the default period once it has this many working days up to
# today; before that a director sees the last complete month (docs/dashboard.md, "Periods").
MIN_WORKDAYS_OF_MONTH = 10


def default_period(anchor: date, working_days: int) -> Period:
    """The period a page opens on: this month once its working days up to `anchor`
    (`working_days`, from the work calendar) reach MIN_WORKDAYS_OF_MONTH, else last month,
    so the first days of a month are never set against a whole month's expectations."""
    return "this_month" if working_days >= MIN_WORKDAYS_OF_MONTH else "last_month"


def _whole_months(start: date, end: date) -> int:
    """How many calendar months `start`..`end` covers exactly; 0 when it is not whole months."""
    if start.day != 1 or end != _month_end(end) or end < start:
        return 0
    return (end.year - start.year) * 12 + end.month - start.month + 1


def previous_range(period: Period, start: date, end: date) -> tuple[date, date]:
    """The period before, of the same length (环比): whole calendar months meet as many whole
    months just before (November meets October, Q2 meets Q1); a month or quarter to date meets
    the same days of the month or quarter before (1–24 March meets 1–24 February); any other
    span meets the span of as many days just before it."""
    months = _whole_months(start, end)
    if months:
        return shift_months(start, -months), _month_end(shift_months(end, -months))
    if period in ("this_month", "this_quarter") and start.day == 1:
        return shift_months(start, -_SHIFT[period]), shift_months(end, -_SHIFT[period])
    length = end - start + timedelta(days=1)
    return start - length, end - length


def year_ago_range(start: date, end: date) -> tuple[date, date]:
    """The same days a year earlier (同比); a period ending on a month's last day ends on the
    last day of that month a year earlier (29 February included)."""
    moved_end = shift_months(end, -12)
    if end == _month_end(end):
        moved_end = _month_end(moved_end)
    return shift_months(start, -12), moved_end


def partial_months(start: date, end: date, first_data_day: date | None = None) -> set[str]:
    """The months ("YYYY-MM") of `start`..`end` that a monthly series shows only in part:
    the month of `end` unless it is the month's last day, and the month of the data's first
    day unless that is the 1st (and later than `start`)."""
    partial: set[str] = set()
    if end != _month_end(end):
        partial.add(f"{end:%Y-%m}")
    if first_data_day is not None and first_data_day > start and first_data_day.day != 1:
        partial.add(f"{first_data_day:%Y-%m}")
    return partial


def trailing_year(filters: Filters) -> Filters:
    """The twelve calendar months up to the period's end, same cuts (sparklines, trends)."""
    if filters.end is None:
        raise ValueError("trailing_year needs a period with an end")
    end = filters.end
    start = shift_months(end, -11).replace(day=1)
    return replace(filters, start=start, end=end)


def wide(long: pl.DataFrame, by: str) -> pl.DataFrame:
    """The long table of kpis.kpis(by=...) as one row per `by` value and one column per KPI,
    in the KPIs' order; a KPI whose cohort is empty in the cut is a column of nulls."""
    if long.is_empty():
        table = pl.DataFrame(schema={by: pl.String})
    else:
        table = long.pivot(on="kpi", index=by, values="value")
    return table.with_columns(
        pl.lit(None, pl.Float64).alias(k) for k in KPIS if k not in table.columns
    ).select(by, *KPIS)


def on_time_drag(by_matter: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The `n` matters whose late applications cost the on-time rate most: points lost =
    the matter's overdue applications ÷ all completed applications (the rate would rise by
    this much were they on time). `by_matter` is wide() of kpis by matter."""
    needed = {"matter", "completed", "overdue", "on_time_rate"}
    if not needed <= set(by_matter.columns) or by_matter.is_empty():
        return pl.DataFrame(
            schema={
                "matter": pl.String,
                "completed": pl.Float64,
                "overdue": pl.Float64,
                "on_time_rate": pl.Float64,
                "points_lost": pl.Float64,
            }
        )
    total = by_matter["completed"].fill_null(0).sum()
    return (
        by_matter.select("matter", "completed", "overdue", "on_time_rate")
        .filter(pl.col("overdue") > 0)
        .with_columns((pl.col("overdue") / total).alias("points_lost"))
        .sort(["points_lost", "matter"], descending=[True, False])
        .head(n)
    )


def outliers(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Adds `outlier`: the value lies above Q3 + 1.5 × IQR or below Q1 − 1.5 × IQR of the
    column (Tukey's fences, linear quantiles); null values are not outliers."""
    values = frame[column].drop_nulls()
    if values.len() < 4:
        return frame.with_columns(pl.lit(False).alias("outlier"))
    q1 = float(values.quantile(0.25, "linear") or 0.0)
    q3 = float(values.quantile(0.75, "linear") or 0.0)
    fence = 1.5 * (q3 - q1)
    return frame.with_columns(
        ((pl.col(column) > q3 + fence) | (pl.col(column) < q1 - fence))
        .fill_null(False)
        .alias("outlier")
    )


def card_counts(cards: pl.DataFrame, by: str) -> pl.DataFrame:
    """Open red and yellow cards per `by` (department, window_id or staff) from kpis.cards(),
    with the most overdue working days; most red cards first."""
    return (
        cards.group_by(pl.col(by).fill_null("—"))
        .agg(
            (pl.col("card") == "red").sum().alias("red"),
            (pl.col("card") == "yellow").sum().alias("yellow"),
            (-pl.col("workdays_left").min()).clip(lower_bound=0).alias("most_overdue_workdays"),
        )
        .sort(["red", "yellow", by], descending=[True, True, False])
    )
