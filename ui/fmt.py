"""Numbers, dates and KPI values written for the reader's language. Pages and tests format
through these functions, so a test compares exactly what a page shows."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Literal

from metrics.registry import KPIS

Lang = Literal["zh", "en"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DASH = "—"


def missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def count(value: float | None) -> str:
    return DASH if missing(value) else f"{round(float(value or 0)) + 0:,}"


def _unsigned_zero(text: str) -> str:
    """ "-0.0" (a small negative rounded away) reads as 0.0: never a signed zero."""
    return text[1:] if text.startswith("-") and not text.strip("-0.,%") else text


def decimal(value: float | None, places: int = 1) -> str:
    return DASH if missing(value) else _unsigned_zero(f"{float(value or 0):,.{places}f}")


def pct(value: float | None, places: int = 1) -> str:
    return DASH if missing(value) else _unsigned_zero(f"{100 * float(value or 0):.{places}f}%")


def kind(kpi: str) -> str:
    """How a KPI's value reads (metrics/registry.py): rate, count, workdays, hours, minutes
    or decimal."""
    return KPIS[kpi].kind if kpi in KPIS else "rate"


def kpi_value(kpi: str, value: float | None, lang: Lang) -> str:
    """A KPI's value as a card shows it, with its unit."""
    if missing(value):
        return DASH
    what = kind(kpi)
    if what == "rate":
        return pct(value)
    if what == "count":
        return count(value)
    if what == "decimal":
        return decimal(value, 2)
    unit = {
        # Short: the card is narrow and its label already says "working days" (工作日).
        "workdays": (" 天", " days"),
        "hours": ("小时", " h"),
        "minutes": ("分钟", " min"),
    }[what]
    return decimal(value) + (unit[0] if lang == "zh" else unit[1])


def kpi_change(kpi: str, now: float | None, before: float | None, lang: Lang) -> str | None:
    """The change against another period: percentage points for shares, the unit's
    difference otherwise; None when either side is missing. A change that rounds to zero
    has no sign (never "−0.0")."""
    if missing(now) or missing(before):
        return None
    diff = float(now or 0) - float(before or 0)
    if kind(kpi) == "rate":
        size = f"{abs(diff) * 100:.1f}"
        unit = " 个百分点" if lang == "zh" else " pp"
    elif kind(kpi) == "count":
        size, unit = f"{round(abs(diff)):,}", ""
    else:
        size, unit = f"{abs(diff):,.1f}", ""
    if float(size.replace(",", "")) == 0:
        return size + unit
    # ASCII "-": st.metric reads the delta's first character for its arrow and colour.
    return ("+" if diff > 0 else "-") + size + unit


def day(value: date | datetime | None, lang: Lang) -> str:
    if value is None:
        return DASH
    if lang == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def instant(value: datetime | None, lang: Lang) -> str:
    """A local date and time (the caller converts to the center's zone)."""
    if value is None:
        return DASH
    return f"{day(value, lang)} {value:%H:%M}"


def month(value: str, lang: Lang) -> str:
    """'2025-03' as 2025年3月 or Mar 2025."""
    year, mm = value.split("-")
    return f"{year}年{int(mm)}月" if lang == "zh" else f"{_MONTHS[int(mm) - 1]} {year}"
