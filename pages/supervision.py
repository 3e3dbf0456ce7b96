"""Supervision (红黄牌), for window and department supervisors: which open applications are
past (red) or near (yellow) their promised limit, by department, window and staff, most
urgent first."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from metrics.dashboard import card_counts
from ui import charts, data, intel, page
from ui.download import table
from ui.fmt import Lang, count, decimal
from ui.fmt import instant as fmt_instant
from ui.i18n import column, tr
from ui.view import matter_names

DIMENSIONS = ("department", "window_id", "staff")


def urgency(cards: pl.DataFrame, lang: Lang) -> pl.DataFrame:
    """The card list as a supervisor reads it: the card in words, time left or overdue."""
    red, yellow = tr("card.red", lang), tr("card.yellow", lang)
    left = [
        tr("card.overdue", lang, days=decimal(-d))
        if d < 0
        else tr("card.left", lang, days=decimal(d))
        for d in cards["workdays_left"].fill_null(0.0).to_list()
    ]
    return cards.with_columns(
        pl.col("card").replace_strict({"red": red, "yellow": yellow}).alias("card"),
        pl.Series("time_left", left, dtype=pl.String),
    )


def show() -> None:
    started = page.begin("supervision")
    if started is None:
        return
    view, version = started
    lang = view.lang
    cards = data.cards(version, view.filters)
    at = data.as_of(version, view.filters)
    zone = data.config().center.timezone
    local_at = at.astimezone(ZoneInfo(zone))
    st.caption(tr("supervision.as_of", lang, at=fmt_instant(local_at, lang)))
    reds = cards.filter(pl.col("card") == "red").height
    yellows = cards.filter(pl.col("card") == "yellow").height
    due_today = cards.filter(
        (pl.col("card") == "yellow")
        & (pl.col("due_at").dt.convert_time_zone(zone).dt.date() == local_at.date())
    ).height
    for column_, label, value in zip(
        st.columns(3),
        ("supervision.red", "supervision.yellow", "supervision.due_today"),
        (reds, yellows, due_today),
        strict=True,
    ):
        column_.metric(tr(label, lang), count(value), border=True)
    intel.at_risk(view, version)
    if cards.is_empty():
        st.success(f"✓ {tr('supervision.none', lang)}")
        intel.deviations_section(view, version)
        return
    tabs = st.tabs([tr("supervision.by", lang, dim=column(d, lang)) for d in DIMENSIONS])
    for tab, dim in zip(tabs, DIMENSIONS, strict=True):
        with tab:
            counts = card_counts(cards, dim)
            tab.vega_lite_chart(
                spec=charts.cards(
                    counts.head(15),
                    dim,
                    column(dim, lang),
                    tr("chart.value", lang),
                    tr("card.red", lang),
                    tr("card.yellow", lang),
                ),
                width="stretch",
            )
            table(counts, f"cards_by_{dim}", lang)
    st.subheader(tr("supervision.list", lang))
    names = matter_names(data.matters(version), lang)
    listed = (
        urgency(cards, lang)
        .with_columns(
            pl.col("matter_code")
            .replace_strict(names, default=pl.col("matter_code"))
            .alias("matter_name"),
            pl.col("accepted_at").dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M"),
            pl.col("due_at").dt.convert_time_zone(zone).dt.strftime("%Y-%m-%d %H:%M"),
        )
        .select(
            "card",
            "time_left",
            "application_id",
            "matter_code",
            "matter_name",
            "department",
            "window_id",
            "staff",
            "accepted_at",
            "due_at",
            "workdays_left",
        )
    )
    table(listed, "cards", lang)
    intel.deviations_section(view, version)


show()
