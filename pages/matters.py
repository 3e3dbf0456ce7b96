"""Matters (事项): every matter with its KPIs, then one matter up close: how long it takes
against its promised and statutory limits, its trend, channels, process map and rework."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import streamlit as st

from metrics.dashboard import trailing_year, wide
from ui import charts, data, intel, lists, page, widgets
from ui.download import table
from ui.fmt import Lang, count
from ui.i18n import channel, column, tr
from ui.plain import md
from ui.processmap import dot
from ui.view import View, matter_names

COLUMNS = (
    "submitted",
    "online_rate",
    "completed",
    "on_time_rate",
    "overdue",
    "open_red_cards",
    "processing_workdays_median",
    "processing_workdays_p90",
    "good_review_rate",
)
# The on-time rate with the open overdue applications (red cards) beside it.
CARDS = (
    "submitted",
    "on_time_rate",
    "open_red_cards",
    "processing_workdays_median",
    "processing_workdays_p90",
)
TRENDS = ("submitted", "on_time_rate", "processing_workdays_median")


def all_matters(view: View, version: str) -> pl.DataFrame:
    """One row per matter with activity in the period: names in the reader's language."""
    kpis = wide(data.kpi_table(version, view.filters, "matter", only=COLUMNS), "matter")
    catalog = data.matters(version)
    names = matter_names(catalog, view.lang)
    if kpis.is_empty():
        return kpis
    return (
        kpis.with_columns(
            pl.col("matter").replace_strict(names, default=pl.col("matter")).alias("matter_name")
        )
        .join(
            catalog.select(pl.col("matter_code").alias("matter"), "department"),
            on="matter",
            how="left",
        )
        .select("matter", "matter_name", "department", *[c for c in COLUMNS if c in kpis.columns])
        .sort("submitted", descending=True, nulls_last=True)
    )


def one_matter(view: View, version: str, code: str) -> None:
    lang = view.lang
    cut = replace(view.filters, matters=(code,), departments=())
    before = replace(view.previous, matters=(code,), departments=())
    year_ago = replace(view.year_ago, matters=(code,), departments=())
    now, previous, last_year, monthly, channels = data.kpi_tables(
        version,
        [
            (cut, "none", CARDS),
            (before, "none", CARDS),
            (year_ago, "none", CARDS),
            (trailing_year(cut), "month", CARDS),
            (cut, "channel", ("submitted",)),
        ],
    )
    widgets.kpi_cards(CARDS, now, previous, monthly, lang, per_row=len(CARDS), year_ago=last_year)
    lists.on_time_and_red(cut, version, lang)
    limits = data.matters(version).filter(pl.col("matter_code") == code)
    rules: list[tuple[float, str]] = []
    for name, key in (
        ("promised_limit_days", "matters.promised"),
        ("statutory_limit_days", "matters.statutory"),
    ):
        value = limits[name][0] if limits.height else None
        if value is not None:
            rules.append((float(value), f"{tr(key, lang)} {value}"))
    if rules:
        st.caption(
            " · ".join(
                f"{label.rsplit(' ', 1)[0]}：{tr('matters.limit_days', lang, days=int(v))}"
                for v, label in rules
            )
        )

    left, right = st.columns(2)
    with left:
        st.markdown(f"**{tr('matters.distribution', lang)}**")
        spread = data.distribution(version, cut)
        if spread.is_empty():
            page.no_data(lang)
        else:
            st.vega_lite_chart(
                spec=charts.histogram(
                    spread,
                    "processing_workdays",
                    "applications",
                    column("processing_workdays", lang),
                    column("applications", lang),
                    rules,
                ),
                width="stretch",
            )
    with right:
        st.markdown(f"**{tr('matters.channels', lang)}**")
        mix = channels.filter(pl.col("kpi") == "submitted")
        mix = mix.with_columns(
            pl.col("channel")
            .fill_null("other")
            .map_elements(lambda c: channel(c, lang), return_dtype=pl.String)
        ).select("channel", pl.col("value").alias("applications"))
        if mix.is_empty():
            page.no_data(lang)
        else:
            st.vega_lite_chart(
                spec=charts.bars(
                    mix,
                    "channel",
                    "applications",
                    column("channel", lang),
                    column("applications", lang),
                    whole=True,
                ),
                width="stretch",
            )
    st.markdown(f"**{tr('matters.trend', lang)}**")
    widgets.trend_charts(TRENDS, monthly, now, view, per_row=3)

    st.subheader(tr("matters.map", lang))
    st.caption(tr("matters.map_note", lang))
    moves = data.transitions(version, cut)
    st.graphviz_chart(dot(moves, "h" if lang == "en" else "工时"))
    st.markdown(f"**{tr('matters.transitions', lang)}**")
    table(
        moves.select(
            "from_step",
            "to_step",
            "count",
            "median_work_h",
            "p90_work_h",
            "mean_work_h",
            "handovers",
            "total_work_h",
            "share_of_time",
        ),
        f"transitions_{code}",
        lang,
        percent=["share_of_time"],
    )
    st.markdown(f"**{tr('matters.rework', lang)}**")
    table(data.rework(version, cut), f"rework_{code}", lang)
    again = data.rework_list(version, cut)
    lists.behind(
        tr("list.rework", lang, n=count(again.height)), again, "list_rework", lang, version
    )
    intel.variants_section(view, version, cut, code)


def pick(matters: pl.DataFrame, view: View, lang: Lang) -> str | None:
    """The matter to look at: the filter's one matter, else a choice (busiest first)."""
    if len(view.filters.matters) == 1:
        return view.filters.matters[0]
    codes = matters["matter"].to_list()
    if not codes:
        return None
    if st.session_state.get("focus") not in codes:
        st.session_state["focus"] = codes[0]
    names = dict(zip(codes, matters["matter_name"].to_list(), strict=True))
    choice: str | None = st.selectbox(
        tr("matters.pick", lang),
        codes,
        key="focus",
        format_func=lambda c: f"{c} {names.get(c, '')}",
        placeholder=tr("filters.choose", lang),
    )
    return choice


def show() -> None:
    started = page.begin("matters")
    if started is None:
        return
    view, version = started
    lang = view.lang
    matters = all_matters(view, version)
    if matters.is_empty():
        page.no_data(lang)
        return
    st.subheader(tr("matters.all", lang))
    search = st.text_input(tr("matters.search", lang), key="matter_search")
    shown = matters
    if search:
        needle = search.strip().lower()
        shown = matters.filter(
            pl.col("matter").str.to_lowercase().str.contains(needle, literal=True)
            | pl.col("matter_name").str.to_lowercase().str.contains(needle, literal=True)
        )
    table(shown, "matters", lang, percent=[c for c in COLUMNS if c.endswith("_rate")])
    code = pick(matters, view, lang)
    if code is not None:
        st.subheader(md(f"{code} {matter_names(data.matters(version), lang).get(code, '')}"))
        one_matter(view, version, code)


show()
