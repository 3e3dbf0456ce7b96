"""Supervision (红黄牌), for window and department supervisors: the open applications still
worth acting on — near their promised limit (yellow), then past it (red) — each count with its
list, most urgent first; then where the cards are, by department, window and staff."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from metrics.dashboard import card_counts
from ui import charts, data, intel, lists, page
from ui.download import table
from ui.fmt import Lang, count, decimal
from ui.fmt import instant as fmt_instant
from ui.i18n import column, tr

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


CARD_COLUMNS = (  # each list holds one card, which its heading names
    "time_left",
    "application_id",
    "matter_code",
    "department",
    "window_id",
    "staff",
    "accepted_at",
    "due_at",
    "workdays_left",
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
    yellow = data.card_list(version, view.filters, "yellow")
    red = data.card_list(version, view.filters, "red")
    due_today = yellow.filter(
        pl.col("due_at").dt.convert_time_zone(zone).dt.date() == local_at.date()
    )
    # In the order the lists follow: still in time (yellow, due today among them), then red.
    for column_, label, value in zip(
        st.columns(3),
        ("supervision.yellow", "supervision.due_today", "supervision.red"),
        (yellow.height, due_today.height, red.height),
        strict=True,
    ):
        column_.metric(tr(label, lang), count(value), border=True)
    intel.at_risk(view, version)
    if cards.is_empty():
        st.success(f"✓ {tr('supervision.none', lang)}")
        intel.deviations_section(view, version)
        return
    # The applications still worth acting on first: yellow (in time), then red (overdue).
    st.header(tr("supervision.act", lang))
    st.caption(tr("supervision.act_note", lang))
    for key, listed in (("yellow", yellow), ("red", red)):
        st.subheader(tr(f"list.{key}", lang, n=count(listed.height)))
        lists.applications(
            urgency(listed, lang).select(CARD_COLUMNS), f"cards_{key}", lang, version
        )
    lists.behind(
        tr("list.due_today", lang, n=count(due_today.height)),
        urgency(due_today, lang).select(CARD_COLUMNS),
        "cards_due_today",
        lang,
        version,
    )
    st.header(tr("supervision.where", lang))
    tabs = st.tabs([tr("supervision.by", lang, dim=column(d, lang)) for d in DIMENSIONS])
    for tab, dim in zip(tabs, DIMENSIONS, strict=True):
        with tab:
            counts = card_counts(cards, dim)
            tab.vega_lite_chart(
                spec=charts.cards(
                    counts.head(15),
                    dim,
                    column(dim, lang),
                    tr("chart.cards", lang),
                    tr("card.red", lang),
                    tr("card.yellow", lang),
                ),
                width="stretch",
            )
            table(counts, f"cards_by_{dim}", lang)
    intel.deviations_section(view, version)


show()
