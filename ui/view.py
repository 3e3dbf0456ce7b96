"""The one filter bar and the language, shared by every page and kept in the URL's query
string so a link reproduces the view. Parameters (docs/dashboard.md): lang, period, from, to,
department, matter, channel, window, staff (the last five may repeat), focus (the Matters
page's matter) and reform (the Reform page's reform). Values the warehouse does not know and a
start after the end are reported on the page (ui/page.py), never dropped or swapped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast

import polars as pl
import streamlit as st

from metrics.catalog import Problem
from metrics.dashboard import (
    PERIODS,
    Period,
    default_period,
    partial_months,
    period_range,
    previous_range,
    reversed_days,
    trailing_year,
    year_ago_range,
)
from metrics.filters import Filters
from onewindow.roles import Perm
from ui import data
from ui.fmt import Lang
from ui.fmt import day as fmt_day
from ui.i18n import channel, tr
from ui.plain import md

LANGS: tuple[Lang, ...] = ("zh", "en")
# The cuts of the filter bar: URL parameter (and session key) → the Filters field it fills.
LIST_KEYS = {
    "department": "departments",
    "matter": "matters",
    "channel": "channels",
    "window": "windows",
    "staff": "staff",
}
UNKNOWN = "filters.unknown"  # session key: URL values the warehouse does not know, by key


@dataclass(frozen=True)
class View:
    lang: Lang
    period: Period
    anchor: date  # the day named periods end on: today, or the data's last day if earlier
    filters: Filters
    previous: Filters  # the period before, of the same length (环比), same cuts
    year_ago: Filters  # the same period a year earlier (同比), same cuts
    problems: tuple[Problem, ...] = ()  # what is wrong with the filters: nothing is shown
    first_day: date | None = None  # the data's first day (a month it starts in is partial)

    def caption(self) -> str:
        f = self.filters
        now = tr(
            "filters.showing",
            self.lang,
            start=fmt_day(f.start, self.lang),
            end=fmt_day(f.end, self.lang),
        )
        compared = [
            tr(
                key,
                self.lang,
                start=fmt_day(other.start, self.lang),
                end=fmt_day(other.end, self.lang),
            )
            for key, other in (
                ("filters.previous", self.previous),
                ("filters.year_ago", self.year_ago),
            )
        ]
        return " · ".join([now, *compared])

    def partial(self) -> set[str]:
        """The months ("YYYY-MM") a monthly series up to the period's end shows in part."""
        if self.filters.start is None or self.filters.end is None:
            return set()
        return partial_months(trailing_start(self.filters), self.filters.end, self.first_day)

    def problem_text(self) -> str:
        """Every problem of the filters in one sentence in the reader's language."""
        return problems_sentence(self.problems, self.lang)


def trailing_start(filters: Filters) -> date:
    start = trailing_year(filters).start
    assert start is not None
    return start


def problems_sentence(problems: tuple[Problem, ...] | list[Problem], lang: Lang) -> str:
    parts = []
    for p in problems:
        if p.kind == "reversed":
            first, last = (date.fromisoformat(v) for v in p.values)
            parts.append(
                tr("problem.reversed", lang, start=fmt_day(first, lang), end=fmt_day(last, lang))
            )
        else:
            quoted = ("、" if lang == "zh" else ", ").join(
                f"「{md(v)}」" if lang == "zh" else f"“{md(v)}”" for v in p.values
            )
            field = tr(f"filters.{p.field}", lang)
            parts.append(
                tr(
                    "problem.unknown",
                    lang,
                    field=field if lang == "zh" else field.lower(),
                    values=quoted,
                )
            )
    return tr("problem.sentence", lang, problems=("；" if lang == "zh" else "; ").join(parts))


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


def _url_values(key: str) -> list[str]:
    """A list filter's values: the parameter repeated (docs/dashboard.md). Never split on
    commas: a department or matter name may hold one."""
    values = [v.strip() for v in st.query_params.get_all(key) if v.strip()]
    return list(dict.fromkeys(values))


def _url_date(key: str) -> date | None:
    try:
        return date.fromisoformat(st.query_params.get(key, ""))
    except ValueError:
        return None


def _anchor(version: str | None) -> date:
    today = data.today()
    days = data.data_days(version) if version else None
    return min(today, days[1]) if days else today


def _default_period(anchor: date) -> Period:
    return default_period(anchor, data.working_days(anchor.replace(day=1), anchor))


def _forget_unknown() -> None:
    """A filter changed by hand: the link's unknown values are no longer asked for."""
    st.session_state.pop(UNKNOWN, None)


def _seed(version: str | None, valid: dict[str, list[str]]) -> None:
    """Fills the widgets' state from the URL the first time a session sees them. Values the
    warehouse does not know stay aside (UNKNOWN) to be reported, not dropped."""
    state = st.session_state
    if "lang" not in state:
        state["lang"] = _url_lang()
    if "period" not in state:
        url_period = st.query_params.get("period")
        has_dates = _url_date("from") or _url_date("to")
        anchor = _anchor(version)
        state["period"] = (
            url_period
            if url_period in PERIODS
            else "custom"
            if has_dates
            else _default_period(anchor)
        )
        start, end = period_range(cast(Period, state["period"]), anchor)
        state["from"] = _url_date("from") or start
        state["to"] = _url_date("to") or end
    for key, choices in valid.items():
        if key not in state:
            asked = _url_values(key)
            state[key] = [v for v in asked if v in choices]
            unknown = [v for v in asked if v not in choices]
            if unknown and version is not None:
                state.setdefault(UNKNOWN, {})[key] = unknown
    if "focus" not in state and st.query_params.get("focus") in valid["matter"]:
        state["focus"] = st.query_params.get("focus")
    if "app" not in state and st.query_params.get("app"):  # the Application page's number
        state["app"] = st.query_params.get("app")
    if "reform" not in state and st.query_params.get("reform"):
        state["reform"] = st.query_params.get("reform")  # the Reform page checks it is known


def _write_url() -> None:
    """The URL mirrors the state, language and period always, so a copied link shows the same
    view to anyone (another browser language, another day's default period)."""
    state = st.session_state
    unknown: dict[str, list[str]] = state.get(UNKNOWN, {})
    wanted: dict[str, str | list[str]] = {"lang": state["lang"], "period": state["period"]}
    if state["period"] == "custom":
        wanted["from"] = state["from"].isoformat()
        wanted["to"] = state["to"].isoformat()
    for key in LIST_KEYS:
        values = [*state[key], *unknown.get(key, [])]
        if values:
            wanted[key] = values
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
    valid = {
        "department": departments,
        "matter": matters["matter_code"].to_list() if matters is not None else [],
        "channel": data.channels(version) if version else [],
        # Windows and staff are the supervisors' cuts: a data steward is not offered them.
        "window": data.windows(version) if version and data.can(Perm.FIGURES) else [],
        "staff": data.staff(version) if version and data.can(Perm.FIGURES) else [],
    }
    _seed(version, valid)
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
        on_change=_forget_unknown,
        placeholder=tr("filters.choose", now),
    )
    if st.session_state["period"] == "custom":
        left, right = bar.columns(2)
        left.date_input(tr("filters.from", now), key="from", format="YYYY-MM-DD")
        right.date_input(tr("filters.to", now), key="to", format="YYYY-MM-DD")
    names = matter_names(matters, now) if matters is not None else {}
    labels = {
        "matter": lambda c: f"{c} {names.get(c, '')}".strip(),
        "channel": lambda c: channel(c, now),
    }
    for key, choices in valid.items():
        bar.multiselect(
            tr(f"filters.{key}", now),
            choices,
            key=key,
            format_func=labels.get(key, str),
            placeholder=tr("filters.all", now),
            on_change=_forget_unknown,
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
    """The view the filter bar describes, resolved to dates, with what is wrong with it."""
    state = st.session_state
    anchor = _anchor(version)
    period = cast(Period, state.get("period") or _default_period(anchor))
    start, end = period_range(period, anchor, state.get("from"), state.get("to"))
    unknown: dict[str, list[str]] = state.get(UNKNOWN, {})
    cuts = {
        field: tuple([*state.get(key, ()), *unknown.get(key, [])])
        for key, field in LIST_KEYS.items()
    }
    filters = Filters(start, end, **cuts)
    problems = tuple(data.problems(version, filters)) if version else ()
    if reversed_days(start, end):
        return View(lang(), period, anchor, filters, filters, filters, problems)
    prev_start, prev_end = previous_range(period, start, end)
    ago_start, ago_end = year_ago_range(start, end)
    days = data.data_days(version) if version else None
    return View(
        lang(),
        period,
        anchor,
        filters,
        Filters(prev_start, prev_end, **cuts),
        Filters(ago_start, ago_end, **cuts),
        problems,
        days[0] if days else None,
    )
