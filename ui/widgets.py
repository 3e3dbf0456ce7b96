"""Pieces several pages share: KPI cards with target, change and sparkline, the line that
says which targets are missed, and monthly trend charts."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import streamlit as st

from metrics.dashboard import partial_months
from metrics.kpis import KPIS
from ui import charts, data
from ui.fmt import DASH, Lang, day, kind, kpi_change, kpi_value, missing, month
from ui.i18n import axis_title, kpi_name, tr
from ui.view import View


def values(table: pl.DataFrame) -> dict[str, float | None]:
    """KPI → value of an undivided kpis() table."""
    return dict(zip(table["kpi"].to_list(), table["value"].to_list(), strict=True))


def targets(table: pl.DataFrame) -> dict[str, float]:
    return {
        k: t
        for k, t in zip(table["kpi"].to_list(), table["target"].to_list(), strict=True)
        if t is not None
    }


def target_text(kpi: str, target: float, lang: Lang) -> str:
    sign = "≤" if KPIS[kpi].better == "lower" else "≥"
    return tr("target.label", lang, target=f"{sign} {kpi_value(kpi, target, lang)}")


def card_label(kpi: str, table: pl.DataFrame, lang: Lang) -> str:
    """The KPI's name, with its target when it has one."""
    goal = targets(table).get(kpi)
    name = kpi_name(kpi, lang)
    return (
        name
        if goal is None
        else f"{name}（{target_text(kpi, goal, lang)}）"
        if lang == "zh"
        else f"{name} ({target_text(kpi, goal, lang)})"
    )


def kpi_cards(
    kpis: Sequence[str],
    now: pl.DataFrame,
    before: pl.DataFrame,
    monthly: pl.DataFrame | None,
    lang: Lang,
    per_row: int = 4,
    year_ago: pl.DataFrame | None = None,
) -> None:
    """One st.metric per KPI: value, change against the previous period (环比, green when
    better), the last months as a sparkline, and under the card the change against the same
    period a year earlier (同比)."""
    current, previous = values(now), values(before)
    last_year = values(year_ago) if year_ago is not None else {}
    for first in range(0, len(kpis), per_row):
        columns = st.columns(per_row)
        for column, kpi in zip(columns, kpis[first : first + per_row], strict=False):
            better = KPIS[kpi].better
            spark = None
            if monthly is not None and not monthly.is_empty():
                series = monthly.filter(pl.col("kpi") == kpi).sort("month")["value"]
                spark = [float(v) for v in series.to_list() if not missing(v)] or None
            change = kpi_change(kpi, current.get(kpi), previous.get(kpi), lang)
            signed = change is not None and change[0] in "+-"
            column.metric(
                card_label(kpi, now, lang),
                kpi_value(kpi, current.get(kpi), lang),
                delta=None if change is None else compared(change, "previous", lang),
                delta_color="off"
                if better == "none" or not signed
                else "inverse"
                if better == "lower"
                else "normal",
                delta_arrow="auto" if signed else "off",
                chart_data=spark,
                chart_type="line",
                border=True,
            )
            if year_ago is not None:
                yoy = kpi_change(kpi, current.get(kpi), last_year.get(kpi), lang)
                column.caption(compared(yoy.replace("-", "−") if yoy else DASH, "year_ago", lang))


def compared(change: str, against: str, lang: Lang) -> str:
    """A change with what it is against: "+1.2 个百分点（环比）", "-3 MoM", "同比 −0.5"."""
    label = tr(f"compare.{against}", lang)
    if against == "year_ago":
        return f"{label} {change}"
    return f"{change}（{label}）" if lang == "zh" else f"{change} {label}"


def target_summary(kpis: Sequence[str], now: pl.DataFrame, lang: Lang) -> None:
    """One line: how many targets are met and which are not (in words, not only colour)."""
    rows = now.filter(pl.col("kpi").is_in(list(kpis)) & pl.col("meets_target").is_not_null())
    if rows.is_empty():
        return
    missed = rows.filter(~pl.col("meets_target"))["kpi"].to_list()
    met = rows.height - len(missed)
    if not missed:
        st.success(f"✓ {tr('target.all_met', lang, met=met)}")
        return
    names = (
        "、".join(kpi_name(k, lang) for k in missed)
        if lang == "zh"
        else ", ".join(kpi_name(k, lang) for k in missed)
    )
    st.warning(f"⚠ {tr('target.summary', lang, met=met, missed=len(missed), names=names)}")


def month_labels(months: Sequence[str], view: View) -> dict[str, str]:
    """ "YYYY-MM" → the month as an axis reads it: the year at the first month and at each
    January, else the month alone (twelve labels fit side by side); a partial month says up
    to which day."""
    partial, lang, end = view.partial(), view.lang, view.filters.end
    labels = {}
    for i, m in enumerate(months):
        number = int(m.split("-")[1])
        text = (
            month(m, lang)
            if i == 0 or number == 1
            else f"{number}月"
            if lang == "zh"
            else month(m, lang).split()[0]
        )
        if m in partial and end is not None and f"{end:%Y-%m}" == m:
            mark = end.day if lang == "zh" else day(end, lang)
            text = tr("chart.partial_mark", lang, month=text, day=mark)
        labels[m] = text
    return labels


def partial_note(months: Sequence[str], view: View) -> str:
    """The sentence under a monthly chart whose months include a partial one; else ""."""
    end = view.filters.end
    shown = [m for m in months if m in view.partial()]
    if not shown or end is None:
        return ""
    notes = []
    for m in shown:
        last = end if f"{end:%Y-%m}" == m else None
        notes.append(
            tr("chart.partial", view.lang, month=month(m, view.lang), end=day(last, view.lang))
            if last is not None
            else tr("chart.partial_start", view.lang, month=month(m, view.lang))
        )
    return ("；" if view.lang == "zh" else "; ").join(notes)


def data_partial_month(version: str, lang: Lang) -> tuple[str, str]:
    """The data's last month when the data ends before its last day: its first day (ISO) and
    the sentence a monthly chart shows under its title; ("", "") when the month is whole."""
    days = data.data_days(version)
    if days is None:
        return "", ""
    last = days[1]
    if f"{last:%Y-%m}" not in partial_months(last.replace(day=1), last):
        return "", ""
    name = month(f"{last:%Y-%m}", lang)
    return last.replace(day=1).isoformat(), tr(
        "chart.partial", lang, month=name, end=day(last, lang)
    )


def trend_charts(
    kpis: Sequence[str], monthly: pl.DataFrame, now: pl.DataFrame, view: View, per_row: int = 2
) -> None:
    """A monthly line per KPI with its target as a dashed rule; a partial month is drawn
    hollow and named under the title; a KPI with no value in any month says so in words."""
    lang = view.lang
    goals = targets(now)
    months = sorted(set(monthly["month"].to_list())) if not monthly.is_empty() else []
    labels = month_labels(months, view)
    partial = view.partial()
    for first in range(0, len(kpis), per_row):
        columns = st.columns(per_row)
        for column, kpi in zip(columns, kpis[first : first + per_row], strict=False):
            series = monthly.filter(pl.col("kpi") == kpi).sort("month")
            if series.is_empty() or series["value"].drop_nulls().drop_nans().is_empty():
                column.markdown(f"**{kpi_name(kpi, lang)}**")
                column.info(tr("chart.no_data", lang))
                continue
            shown = series.select(
                pl.col("month").replace_strict(labels, return_dtype=pl.String),
                pl.col("value"),
                pl.col("month").is_in(list(partial)).alias("partial"),
            )
            goal = goals.get(kpi)
            goal_text = (
                "" if goal is None else f"{tr('target.line', lang)} {kpi_value(kpi, goal, lang)}"
            )
            column.vega_lite_chart(
                spec=charts.trend(
                    shown,
                    "month",
                    "value",
                    kpi_name(kpi, lang),
                    tr("chart.month", lang),
                    axis_title(kpi, lang),
                    target=goal,
                    measure=kind(kpi) if kind(kpi) in ("rate", "count") else "decimal",
                    target_title=goal_text,
                    partial_note=partial_note(series["month"].to_list(), view),
                ),
                width="stretch",
            )
