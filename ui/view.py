"""The one filter bar and the language, shared by every page and kept in the URL's query
string so a link reproduces the view. Parameters (docs/dashboard.md): lang, period, from, to,
department, matter, channel (the last three may repeat), focus (the Matters page's matter) and
reform (the Reform page's reform)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from metrics.dashboard import PERIODS, Period, period_range, previous_range
from metrics.filters import Filters
from ui import data
from ui.fmt import Lang
from ui.fmt import day as fmt_day
from ui.i18n import channel, tr

LANGS: tuple[Lang, ...] = ("zh", "en")
LIST_KEYS = ("department", "matter", "channel")
DEFAULT_PERIOD: Period = "this_month"


@dataclass(frozen=True)
class View:
    lang: Lang
    period: Period
    anchor: date  # the day named periods end on: today, or the data's last day if earlier
    filters: Filters
    previous: Filters  # the period before, same cuts

    def caption(self) -> str:
        f, p = self.filters, self.previous
        now = tr(
            "filters.showing",
            self.lang,
            start=fmt_day(f.start, self.lang),
            end=fmt_day(f.end, self.lang),
        )
        before = tr(
            "filters.previous",
            self.lang,
            start=fmt_day(p.start, self.lang),
            end=fmt_day(p.end, self.lang),
        )
        return f"{now} · {before}"


def browser_lang() -> Lang:
    """Chinese when the browser's language is Chinese (or unknown: the users read Chinese
    first), else English."""
    locale: str | None = None
    try:
        locale = st.context.locale
    except Exception:  # outside a browser session (bare script runs) there is none
        locale = None
    if not locale:
        header = st.context.headers.get("Accept-Language") if st.context.headers else None
        locale = header.split(",")[0] if header else None
    if not locale:
        return "zh"
    return "zh" if locale.lower().startswith("zh") else "en"


def lang() -> Lang:
    value = st.session_state.get("lang")
    return cast(Lang, value) if value in LANGS else _url_lang()


def _url_lang() -> Lang:
    value = st.query_params.get("lang")
    return value if value in LANGS else browser_lang()


def _url_list(key: str, valid: list[str]) -> list[str]:
    values: list[str] = []
    for raw in st.query_params.get_all(key):
        values += [v for v in raw.split(",") if v]
    return [v for v in dict.fromkeys(values) if v in valid]


def _url_date(key: str) -> date | None:
    try:
        return date.fromisoformat(st.query_params.get(key, ""))
    except ValueError:
        return None


def _anchor(version: str | None) -> date:
    today = datetime.now(ZoneInfo(data.config().center.timezone)).date()
    days = data.data_days(version) if version else None
    return min(today, days[1]) if days else today


def _seed(
    version: str | None, departments: list[str], matters: list[str], channels: list[str]
) -> None:
    """Fills the widgets' state from the URL the first time a session sees them."""
    state = st.session_state
    if "lang" not in state:
        state["lang"] = _url_lang()
    if "period" not in state:
        url_period = st.query_params.get("period")
        has_dates = _url_date("from") or _url_date("to")
        state["period"] = (
            url_period if url_period in PERIODS else "custom" if has_dates else DEFAULT_PERIOD
        )
        anchor = _anchor(version)
        start, end = period_range(cast(Period, state["period"]), anchor)
        state["from"] = _url_date("from") or start
        state["to"] = _url_date("to") or end
    for key, valid in (("department", departments), ("matter", matters), ("channel", channels)):
        if key not in state:
            state[key] = _url_list(key, valid)
    if "focus" not in state and st.query_params.get("focus") in matters:
        state["focus"] = st.query_params.get("focus")
    if "app" not in state and st.query_params.get("app"):  # the Application page's number
        state["app"] = st.query_params.get("app")
    if "reform" not in state and st.query_params.get("reform"):
        state["reform"] = st.query_params.get("reform")  # the Reform page checks it is known


def _write_url() -> None:
    """The URL mirrors the state: defaults are left out to keep links short."""
    state = st.session_state
    wanted: dict[str, str | list[str]] = {}
    if state["lang"] != browser_lang():
        wanted["lang"] = state["lang"]
    if state["period"] != DEFAULT_PERIOD:
        wanted["period"] = state["period"]
    if state["period"] == "custom":
        wanted["from"] = state["from"].isoformat()
        wanted["to"] = state["to"].isoformat()
    for key in LIST_KEYS:
        if state[key]:
            wanted[key] = list(state[key])
    if state.get("focus"):  # the Matters page's one matter
        wanted["focus"] = state["focus"]
    if state.get("app"):  # the Application page's application
        wanted["app"] = state["app"].strip()
    if state.get("reform"):  # the Reform page's reform
        wanted["reform"] = state["reform"]
    current = {k: st.query_params.get_all(k) for k in st.query_params}
    target = {k: v if isinstance(v, list) else [v] for k, v in wanted.items()}
    if current != target:
        st.query_params.from_dict(wanted)


def sidebar(version: str | None) -> None:
    """The language selector and the filter bar, in the sidebar of every page."""
    matters = data.matters(version) if version else None
    departments = (
        sorted({d for d in matters["department"].to_list() if d}) if matters is not None else []
    )
    codes = matters["matter_code"].to_list() if matters is not None else []
    channels = data.channels(version) if version else []

    _seed(version, departments, codes, channels)
    bar = st.sidebar
    bar.radio(
        tr("lang.label", lang()),
        LANGS,
        key="lang",
        horizontal=True,
        format_func=lambda v: {"zh": "中文", "en": "English"}[v],
    )
    now = lang()
    bar.subheader(tr("filters.title", now))
    bar.selectbox(
        tr("filters.period", now),
        PERIODS,
        key="period",
        format_func=lambda p: tr(f"period.{p}", now),
    )
    if st.session_state["period"] == "custom":
        left, right = bar.columns(2)
        left.date_input(tr("filters.from", now), key="from")
        right.date_input(tr("filters.to", now), key="to")
    names = matter_names(matters, now) if matters is not None else {}
    bar.multiselect(
        tr("filters.department", now),
        departments,
        key="department",
        placeholder=tr("filters.all", now),
    )
    bar.multiselect(
        tr("filters.matter", now),
        codes,
        key="matter",
        format_func=lambda c: f"{c} {names.get(c, '')}".strip(),
        placeholder=tr("filters.all", now),
    )
    bar.multiselect(
        tr("filters.channel", now),
        channels,
        key="channel",
        format_func=lambda c: channel(c, now),
        placeholder=tr("filters.all", now),
    )
    _write_url()


def matter_names(matters: pl.DataFrame, lang_: Lang) -> dict[str, str]:
    """Code → name in `lang_`, the Chinese name where the catalog has no English one."""
    column = "name_en" if lang_ == "en" else "name_zh"
    return {
        row["matter_code"]: row[column] or row["name_zh"] or row["matter_code"]
        for row in matters.iter_rows(named=True)
    }


def current(version: str | None) -> View:
    """The view the filter bar describes, resolved to dates."""
    state = st.session_state
    period = cast(Period, state.get("period", DEFAULT_PERIOD))
    anchor = _anchor(version)
    start, end = period_range(period, anchor, state.get("from"), state.get("to"))
    prev_start, prev_end = previous_range(period, start, end)
    cuts = {
        "matters": tuple(state.get("matter", ())),
        "departments": tuple(state.get("department", ())),
        "channels": tuple(state.get("channel", ())),
    }
    return View(
        lang(),
        period,
        anchor,
        Filters(start, end, **cuts),
        Filters(prev_start, prev_end, **cuts),
    )
