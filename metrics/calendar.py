"""The center's calendar and working time, for SQL.

Working days: statutory holidays and make-up working days from `chinese-calendar` for the years
it covers; Monday–Friday for other years (source `fallback`, a data-quality warning); config
overrides on top. Working time is counted set-wise in DuckDB: every instant gets W, the working
seconds elapsed since the calendar's first day, so the working time between two instants is
W(b) − W(a) and the working days after acceptance are a difference of day indexes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.metadata import version

import chinese_calendar
import duckdb
import polars as pl

from metrics.dialect import seconds_between_sql
from onewindow.config import Config

VIEW = "ow_calendar"
# Day indexes and working seconds count from a fixed first day, so values stored by one run
# (the derived tables) compare with values of the next. Data older than this moves the base.
BASE = date(1990, 1, 1)


@dataclass(frozen=True)
class WorkCalendar:
    zone: str
    spans: tuple[tuple[int, int], ...]  # working spans, seconds after local midnight
    holidays: str  # "china" or "none"
    closed: frozenset[date] = frozenset()
    working: frozenset[date] = frozenset()

    @classmethod
    def from_config(cls, config: Config) -> WorkCalendar:
        spans = []
        for span in config.center.working_hours:
            start, end = span.split("-")
            spans.append((_seconds(start), _seconds(end)))
        return cls(
            config.center.timezone,
            tuple(sorted(spans)),
            config.calendar.holidays,
            frozenset(config.calendar.closed),
            frozenset(config.calendar.working),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "zone": self.zone,
                "spans": [list(s) for s in self.spans],
                "holidays": self.holidays,
                "closed": sorted(d.isoformat() for d in self.closed),
                "working": sorted(d.isoformat() for d in self.working),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> WorkCalendar:
        raw = json.loads(text)
        return cls(
            raw["zone"],
            tuple((int(a), int(b)) for a, b in raw["spans"]),
            raw["holidays"],
            frozenset(date.fromisoformat(d) for d in raw["closed"]),
            frozenset(date.fromisoformat(d) for d in raw["working"]),
        )

    def fingerprint(self, base: date) -> str:
        """Identifies every working-time value this calendar gives from `base` on: a change of
        config, base or holiday data changes it."""
        text = f"{self.to_json()}|{base.isoformat()}|chinese-calendar {version('chinese-calendar')}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def day_seconds(self) -> int:
        return sum(end - start for start, end in self.spans)

    def days(self, first: date, last: date) -> pl.DataFrame:
        """day, is_working_day, source, wd_index (working days up to and including the day),
        work_s_before (working seconds before the day starts). Vectorised: a calendar from
        1990 has some 14,000 days, and it is built on every process's first query."""
        day = pl.col("day")
        weekday = day.dt.weekday() <= 5
        plain = (
            pl.when(weekday).then(pl.lit("weekday")).otherwise(pl.lit("weekend")),
            weekday,
        )
        if self.holidays == "none":
            source, working = plain
        else:
            off, extra = chinese_calendar.holidays, chinese_calendar.workdays
            covered = day.dt.year().is_between(min(off).year, max(off).year)
            working = (
                pl.when(~covered)
                .then(weekday)
                .otherwise(day.is_in(list(extra)) | (weekday & ~day.is_in(list(off))))
            )
            source = (
                pl.when(~covered)
                .then(pl.lit("fallback"))
                .when(working & ~weekday)
                .then(pl.lit("make-up day"))
                .when(working | weekday)
                .then(pl.lit("statutory"))
                .otherwise(pl.lit("weekend"))
            )
        closed, opened = day.is_in(list(self.closed)), day.is_in(list(self.working))
        frame = pl.DataFrame({"day": pl.date_range(first, last, "1d", eager=True)}).select(
            "day",
            pl.when(closed)
            .then(False)
            .when(opened)
            .then(True)
            .otherwise(working)
            .alias("is_working_day"),
            pl.when(closed | opened).then(pl.lit("override")).otherwise(source).alias("source"),
        )
        working_int = frame["is_working_day"].cast(pl.Int64)
        return frame.with_columns(
            working_int.cum_sum().alias("wd_index"),
            ((working_int.cum_sum() - working_int) * self.day_seconds).alias("work_s_before"),
        )

    def register(self, con: duckdb.DuckDBPyConnection) -> date:
        """Makes the calendar view `ow_calendar` cover every day the warehouse's instants touch
        (plus two years ahead, for deadlines); returns its first day (the base of W)."""
        bounds = con.execute(
            """SELECT min(d), max(d) FROM (
                SELECT (min(ts) AT TIME ZONE $zone)::DATE AS d FROM events
                UNION ALL SELECT (max(ts) AT TIME ZONE $zone)::DATE FROM events
                UNION ALL SELECT (min(least(submitted_at, accepted_at, completed_at))
                    AT TIME ZONE $zone)::DATE FROM applications
                UNION ALL SELECT (min(rated_at) AT TIME ZONE $zone)::DATE
                    FROM evaluations
                UNION ALL SELECT (max(coalesce(completed_at, submitted_at))
                    AT TIME ZONE $zone)::DATE FROM applications
                UNION ALL SELECT (min(issued_at) AT TIME ZONE $zone)::DATE FROM tickets)""",
            {"zone": self.zone},
        ).fetchall()[0]
        today = date.today()
        first = min(BASE, (bounds[0] or today) - timedelta(days=7))
        last = max(bounds[1] or today, today) + timedelta(days=731)
        con.register(VIEW, _cached_days(self, first, last))
        return first

    def is_working_day(self, day: date) -> bool:
        """Whether the center works on `day` (statutory holidays, make-up days, overrides)."""
        return bool(self.days(day, day)["is_working_day"][0])

    def within_sql(self, local: str) -> str:
        """Working seconds of the day elapsed at local timestamp `local` (a SQL expression)."""
        tod = seconds_between_sql(f"date_trunc('day', {local})", local)
        return (
            " + ".join(f"greatest(0, least({tod}, {end}) - {start})" for start, end in self.spans)
            or "0"
        )

    def work_seconds_sql(self, local: str, cal: str) -> str:
        """W: working seconds since the calendar's start at `local`, joined to calendar `cal`
        on the local day."""
        return (
            f"({cal}.work_s_before + CASE WHEN {cal}.is_working_day "
            f"THEN {self.within_sql(local)} ELSE 0 END)"
        )


_CACHE: dict[tuple[WorkCalendar, date, date], pl.DataFrame] = {}


def _cached_days(cal: WorkCalendar, first: date, last: date) -> pl.DataFrame:
    key = (cal, first, last)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = cal.days(first, last)
    return _CACHE[key]


def _seconds(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60
