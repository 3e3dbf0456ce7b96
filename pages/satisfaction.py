"""Satisfaction (好差评): the good-review rate over time against its target, and every bad
review with its rectification status and age, open and oldest first."""

from __future__ import annotations

import polars as pl
import streamlit as st

from metrics.dashboard import trailing_year
from ui import data, lists, page, widgets
from ui.download import table
from ui.i18n import tr
from ui.view import matter_names

CARDS = ("ratings", "good_review_rate", "bad_reviews", "rectification_rate")


def show() -> None:
    started = page.begin("satisfaction")
    if started is None:
        return
    view, version = started
    lang = view.lang
    now, before, year_ago, monthly = data.kpi_tables(
        version,
        [
            (view.filters, "none", CARDS),
            (view.previous, "none", CARDS),
            (view.year_ago, "none", CARDS),
            (trailing_year(view.filters), "month", CARDS),
        ],
    )
    if not widgets.values(now).get("ratings"):
        page.no_data(lang)
        return
    widgets.kpi_cards(CARDS, now, before, monthly, lang, year_ago=year_ago)
    widgets.target_summary(CARDS, now, lang)
    st.subheader(tr("satisfaction.trend", lang))
    widgets.trend_charts(("good_review_rate", "bad_reviews"), monthly, now, view)

    st.subheader(tr("satisfaction.bad", lang))
    bad = data.bad_reviews(version, view.filters)
    if bad.is_empty():
        st.success(f"✓ {tr('satisfaction.none', lang)}")
        return
    open_ = bad.filter(pl.col("status").is_in(["open", "overdue"])).height
    st.metric(tr("satisfaction.open_bad", lang), f"{open_:,}", border=True)
    zone = data.config().center.timezone
    names = matter_names(data.matters(version), lang)
    statuses = {s: tr(f"status.{s}", lang) for s in ("rectified", "late", "open", "overdue")}
    shown = bad.with_columns(
        pl.col("status").replace_strict(statuses),
        pl.col("matter_code")
        .replace_strict(names, default=pl.col("matter_code"))
        .alias("matter_name"),
        pl.col("rated_at").dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M"),
        pl.col("rectified_at").dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M"),
    ).select(
        "status",
        "age_workdays",
        "application_id",
        "matter_code",
        "matter_name",
        "department",
        "rating",
        "reason",
        "rated_at",
        "rectified_at",
    )
    table(shown, "bad_reviews", lang, link=lambda a: lists.link(a, lang))


show()
