"""Overview (总览), for the center director: are we meeting our targets this period, what
changed since the previous one, which departments and matters pull the numbers down."""

from __future__ import annotations

import polars as pl
import streamlit as st

from metrics.dashboard import on_time_drag, trailing_year, wide
from ui import data, lists, page, report, widgets
from ui.download import table
from ui.i18n import tr
from ui.view import matter_names

# The on-time rate counts completed applications only: the open overdue ones (red cards)
# stand beside it.
CARDS = (
    "submitted",
    "online_rate",
    "fully_online_rate",
    "at_most_once_rate",
    "on_time_rate",
    "open_red_cards",
    "processing_workdays_median",
    "good_review_rate",
)
TRENDS = ("on_time_rate", "online_rate", "good_review_rate", "submitted")
LEAGUE = (
    "submitted",
    "online_rate",
    "on_time_rate",
    "open_red_cards",
    "processing_workdays_median",
    "good_review_rate",
)

DRAG = ("completed", "overdue", "on_time_rate", "open_red_cards")
# The first table also tells whether the period has any data at all.
SHOWN = (*CARDS, "completed", "open", "overdue")


def show() -> None:
    started = page.begin("overview")
    if started is None:
        return
    view, version = started
    lang = view.lang
    now, before, year_ago, monthly, by_department, by_matter = data.kpi_tables(
        version,
        [
            (view.filters, "none", SHOWN),
            (view.previous, "none", CARDS),
            (view.year_ago, "none", CARDS),
            (trailing_year(view.filters), "month", CARDS),
            (view.filters, "department", LEAGUE),
            (view.filters, "matter", DRAG),
        ],
    )
    counts = widgets.values(now)
    if not any(counts.get(k) for k in ("submitted", "completed", "open")):
        page.no_data(lang)
        return
    widgets.kpi_cards(CARDS, now, before, monthly, lang, year_ago=year_ago)
    widgets.target_summary(CARDS, now, lang)
    lists.on_time_and_red(view.filters, version, lang)

    st.subheader(tr("overview.trends", lang))
    widgets.trend_charts(TRENDS, monthly, now, view)

    st.subheader(tr("overview.league", lang))
    st.caption(tr("overview.league_note", lang))
    league = wide(by_department, "department")
    if not league.is_empty():
        league = league.select("department", *LEAGUE).sort("on_time_rate", nulls_last=True)
    table(league, "departments", lang, percent=[k for k in LEAGUE if k.endswith("_rate")])

    st.subheader(tr("overview.drag", lang))
    st.caption(tr("overview.drag_note", lang))
    matters_wide = wide(by_matter, "matter")
    drag = on_time_drag(matters_wide)
    red = (
        matters_wide.select("matter", "open_red_cards")
        if "open_red_cards" in matters_wide.columns
        else pl.DataFrame(schema={"matter": pl.String, "open_red_cards": pl.Float64})
    )
    drag = drag.join(red, on="matter", how="left").with_columns(
        pl.col("open_red_cards").fill_null(0)  # no open application: no red card
    )
    names = matter_names(data.matters(version), lang)
    drag = drag.with_columns(
        pl.col("matter").replace_strict(names, default=pl.col("matter")).alias("matter_name")
    ).select(
        "matter",
        "matter_name",
        "completed",
        "overdue",
        "on_time_rate",
        "open_red_cards",
        "points_lost",
    )
    table(drag, "on_time_drag", lang, percent=["on_time_rate", "points_lost"])

    report.box(view, version)


show()
