"""The applications behind a count, as a supervisor reads them: a table whose application
numbers link to the Application page (`/application?app=…`), with CSV and Excel downloads,
under a heading or a "show these N applications" that opens it (docs/dashboard.md)."""

from __future__ import annotations

from urllib.parse import urlencode

import polars as pl
import streamlit as st

from metrics.filters import Filters
from ui import data
from ui.download import table
from ui.fmt import Lang, count
from ui.i18n import channel, tr
from ui.view import matter_names

PAGE = "application"  # ui/nav.py's slug of the Application page


def link(application_id: str, lang: Lang) -> str:
    """The Application page of `application_id`, relative to the dashboard's address."""
    return f"{PAGE}?{urlencode({'app': application_id, 'lang': lang})}"


def readable(frame: pl.DataFrame, lang: Lang, version: str) -> pl.DataFrame:
    """Times in the center's local time, matters with their names, cards and channels in
    words."""
    zone = data.config().center.timezone
    out = frame
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            col = pl.col(name)
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone(zone)
            out = out.with_columns(col.dt.strftime("%Y-%m-%d %H:%M").alias(name))
    if "matter_code" in out.columns and "matter_name" not in out.columns:
        names = matter_names(data.matters(version), lang)
        at = out.columns.index("matter_code") + 1
        out = out.insert_column(
            at,
            out["matter_code"]
            .replace_strict(names, default=out["matter_code"])
            .alias("matter_name"),
        )
    if "card" in out.columns:
        words = {c: tr(f"card.{c}", lang) for c in ("red", "yellow")}
        out = out.with_columns(pl.col("card").replace_strict(words, default=pl.col("card")))
    if "channel" in out.columns:
        out = out.with_columns(
            pl.col("channel").map_elements(lambda c: channel(c, lang), return_dtype=pl.String)
        )
    return out


def applications(frame: pl.DataFrame, name: str, lang: Lang, version: str) -> None:
    """The list, numbers linked to the Application page, with its downloads."""
    if frame.is_empty():
        st.caption(tr("list.none", lang))
        return
    st.caption(tr("list.link_note", lang))
    table(readable(frame, lang, version), name, lang, link=lambda a: link(a, lang))


def behind(title: str, frame: pl.DataFrame, name: str, lang: Lang, version: str) -> None:
    """A count's applications in an expander titled `title`, closed until asked for."""
    with st.expander(title):
        applications(frame, name, lang, version)


def on_time_and_red(filters: Filters, version: str, lang: Lang) -> None:
    """Under an on-time rate: the sentence saying it counts completed applications, with the
    open overdue ones (red cards) of the same cut, and the lists behind both counts."""
    red = data.card_list(version, filters, "red")
    st.caption(tr("ontime.note", lang, red=count(red.height)))
    left, right = st.columns(2)
    with left:
        behind(tr("list.red", lang, n=count(red.height)), red, "list_red", lang, version)
    with right:
        late = data.overdue_list(version, filters)
        behind(tr("list.overdue", lang, n=count(late.height)), late, "list_overdue", lang, version)
