"""The demo center's working clock: working days (statutory holidays and make-up working days
from chinese-calendar, Monday–Friday beyond its years) and working hours 09:00–12:00 and
13:30–17:30, as a continuous count of working minutes that maps back to clock time.

The generator thinks in working minutes (a review takes 3 working hours, whatever nights and
holidays lie between) and converts to instants only at the end, vectorized.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import numpy as np

SPANS = ((9 * 60, 12 * 60), (13 * 60 + 30, 17 * 60 + 30))  # minutes after midnight
DAY_MINUTES = sum(end - start for start, end in SPANS)  # 420
UTC_OFFSET_MIN = 8 * 60  # Asia/Shanghai, no daylight saving


def is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # beyond the package's years: plain Monday–Friday
        return day.weekday() < 5


class WorkClock:
    def __init__(self, first: date, last: date) -> None:
        n = (last - first).days + 1
        self.first = first
        self.days = np.array([first + timedelta(days=i) for i in range(n)], dtype="datetime64[D]")
        self.workday = np.array([is_workday(first + timedelta(days=i)) for i in range(n)])
        self.work_days = self.days[self.workday]
        # Working minutes elapsed at the start of each working day.
        self.day_start = np.arange(len(self.work_days), dtype=np.float64) * DAY_MINUTES
        # For every calendar day: working minutes elapsed at its start (next working day's).
        self.minutes_before_day = np.cumsum(np.concatenate([[0], self.workday[:-1]])) * float(
            DAY_MINUTES
        )
        self.covered_by_statutory = {y for y in range(first.year, last.year + 1) if _covered(y)}

    def day_index(self, days: np.ndarray) -> np.ndarray:
        return (days.astype("datetime64[D]") - self.days[0]).astype(np.int64)

    def to_work(self, day_idx: np.ndarray, minute_of_day: np.ndarray) -> np.ndarray:
        """Working minutes at a clock time: time outside working hours moves to the next
        working minute."""
        within = np.zeros_like(minute_of_day, dtype=np.float64)
        for start, end in SPANS:
            within += np.clip(minute_of_day - start, 0, end - start)
        within = np.where(self.workday[day_idx], within, 0.0)
        return self.minutes_before_day[day_idx] + within

    def to_clock(self, work: np.ndarray) -> np.ndarray:
        """UTC instants (datetime64[s]) of working-minute positions."""
        k = np.clip((work // DAY_MINUTES).astype(np.int64), 0, len(self.work_days) - 1)
        m = work - k * DAY_MINUTES
        first_span = SPANS[0][1] - SPANS[0][0]
        clock_min = np.where(m < first_span, SPANS[0][0] + m, SPANS[1][0] + (m - first_span))
        seconds = np.round((clock_min - UTC_OFFSET_MIN) * 60).astype(np.int64)
        return self.work_days[k].astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def _covered(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True
