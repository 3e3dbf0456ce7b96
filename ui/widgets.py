"""Pieces several pages share: KPI cards with target, change and sparkline, the line that
says which targets are missed, and monthly trend charts."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import streamlit as st

from metrics.kpis import KPIS
from ui import charts
from ui.fmt import Lang, kind, kpi_change, kpi_value, missing, month
from ui.i18n import kpi_name, tr


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
) -> None:
    """One st.metric per KPI: value, change against the previous period (green when better),
    and the last months as a sparkline."""
    current, previous = values(now), values(before)
    for first in range(0, len(kpis), per_row):
        columns = st.columns(per_row)
        for column, kpi in zip(columns, kpis[first : first + per_row], strict=False):
            better = KPIS[kpi].better
            spark = None
            if monthly is not None and not monthly.is_empty():
                series = monthly.filter(pl.col("kpi") == kpi).sort("month")["value"]
                spark = [float(v) for v in series.to_list() if not missing(v)] or None
            column.metric(
                card_label(kpi, now, lang),
                kpi_value(kpi, current.get(kpi), lang),
                delta=kpi_change(kpi, current.get(kpi), previous.get(kpi), lang),
                delta_color="off"
                if better == "none"
                else "inverse"
                if better == "lower"
                else "normal",
                chart_data=spark,
                chart_type="line",
                border=True,
            )


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


def trend_charts(
    kpis: Sequence[str], monthly: pl.DataFrame, now: pl.DataFrame, lang: Lang, per_row: int = 2
) -> None:
    """A monthly line per KPI with its target as a dashed rule."""
    goals = targets(now)
    for first in range(0, len(kpis), per_row):
        columns = st.columns(per_row)
        for column, kpi in zip(columns, kpis[first : first + per_row], strict=False):
            series = (
                monthly.filter(pl.col("kpi") == kpi)
                .sort("month")
                .with_columns(
                    pl.col("month").map_elements(lambda m: month(m, lang), return_dtype=pl.String)
                )
            )
            goal = goals.get(kpi)
            goal_text = (
                "" if goal is None else f"{tr('target.line', lang)} {kpi_value(kpi, goal, lang)}"
            )
            column.vega_lite_chart(
                spec=charts.trend(
                    series,
                    "month",
                    "value",
                    kpi_name(kpi, lang),
                    tr("chart.month", lang),
                    kpi_name(kpi, lang),
                    target=goal,
                    percent=kind(kpi) == "rate",
                    target_title=goal_text,
                ),
                width="stretch",
            )
