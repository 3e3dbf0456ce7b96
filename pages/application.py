"""Application (办件查询), for supervisors and the director: find an application by its number
(办件编号) and read its timeline — every step with its local time, who and where, the working
time it took, the clock that 特别程序 stops, its deadline and card. Every list of applications
links here (`/application?app=…`); the timeline is metrics/application.py's."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from metrics.application import Application
from metrics.filters import Filters
from ui import data, lists, page
from ui.download import table
from ui.fmt import DASH, Lang, count, decimal
from ui.fmt import instant as fmt_instant
from ui.i18n import channel, tr
from ui.view import matter_names

TIMELINE = (  # what a supervisor reads first on the left: the step, when, who, how long
    "step",
    "ended_at",
    "department",
    "window_id",
    "staff",
    "work_h",
    "workdays",
    "clock_workdays",
    "clock",
    "handling_work_h",
    "started_at",
    "in_person",
)


def status_text(found: Application, lang: Lang) -> str:
    key = "open_ok" if found.status == "open" else found.status
    return tr(f"app_status.{key}", lang)


def headline(found: Application, version: str, lang: Lang) -> None:
    """What the application is, when it moved, and its four figures."""
    facts = found.facts
    zone = ZoneInfo(data.config().center.timezone)
    code = facts["matter_code"] or DASH
    name = matter_names(data.matters(version), lang).get(code, "")
    st.subheader(f"{facts['application_id']}")
    st.caption(
        tr(
            "application.about",
            lang,
            matter=f"{code} {name}".strip(),
            department=facts["department"] or DASH,
            channel=channel(facts["channel"], lang) if facts["channel"] else DASH,
        )
    )

    def when(key: str) -> str:
        value = facts[key]
        return DASH if value is None else fmt_instant(value.astimezone(zone), lang)

    st.caption(
        tr(
            "application.times",
            lang,
            submitted=when("submitted_at"),
            accepted=when("accepted_at"),
            completed=when("completed_at"),
        )
    )
    first, second, third, fourth = st.columns(4)
    first.metric(tr("application.status", lang), status_text(found, lang), border=True)
    limit = facts["promised_limit_days"]
    limit_text = None if limit is None else tr("application.limit", lang, days=count(limit))
    if found.workdays_left is not None:  # open with a deadline: the time left (or overdue)
        left = found.workdays_left
        second.metric(
            tr("application.overdue_by" if left < 0 else "application.left", lang),
            decimal(abs(left)),
            delta=limit_text,
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
    else:
        used = facts["processing_workdays"]
        if used is None and found.steps.height:  # open without a deadline: counted so far
            so_far = found.steps["clock_workdays"].drop_nulls()
            used = so_far[-1] if so_far.len() else None
        second.metric(
            tr("application.elapsed", lang),
            count(used),
            delta=limit_text,
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
    due = None if found.due_at is None else found.due_at.astimezone(zone)
    third.metric(
        tr("application.due", lang),
        DASH if due is None else due.date().isoformat(),
        delta=None if due is None else due.strftime("%H:%M"),
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    fourth.metric(
        tr("application.suspended", lang), count(facts["suspended_workdays"]), border=True
    )
    st.caption(tr("application.as_of", lang, at=fmt_instant(found.as_of.astimezone(zone), lang)))


def steps(found: Application, version: str, lang: Lang) -> None:
    st.subheader(tr("application.timeline", lang))
    st.caption(tr("application.timeline_note", lang))
    clocks = {c: tr(f"clock.{c}", lang) for c in ("before", "running", "stopped", "done")}
    hours = ("handling_work_h", "work_h")
    days = ("workdays", "clock_workdays")
    # The first step has no previous one: its "time taken" reads "—", never "None".
    shown = lists.readable(found.steps.select(TIMELINE), lang, version).with_columns(
        *(pl.col(c).map_elements(lambda v: decimal(v, 2), return_dtype=pl.String) for c in hours),
        *(pl.col(c).map_elements(count, return_dtype=pl.String) for c in days),
        pl.col("clock").replace_strict(clocks, default=pl.col("clock")),
        pl.when(pl.col("in_person"))
        .then(pl.lit(tr("yes", lang)))
        .otherwise(pl.lit(tr("no", lang)))
        .alias("in_person"),
    )
    table(shown, f"application_{found.facts['application_id']}", lang)


def show() -> None:
    started = page.begin("application", period=False)
    if started is None:
        return
    view, version = started
    lang = view.lang
    number = st.text_input(tr("application.search", lang), key="app", placeholder="4412…").strip()
    if not number:
        st.info(tr("application.hint", lang))
        return
    found = data.one_application(version, number, Filters())
    if found is None:
        st.warning(tr("application.not_found", lang, app=number))
        return
    headline(found, version, lang)
    steps(found, version, lang)


show()
