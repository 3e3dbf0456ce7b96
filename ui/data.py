"""Cached data access for the pages: each function wraps one metrics call. A cache entry is
keyed on the published warehouse copy (`version()`), so a new ETL run (which swaps the copy)
invalidates every cached figure at once. No SQL here: metrics/ owns it."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from metrics import (
    application,
    bottlenecks,
    catalog,
    followup,
    health,
    kpis,
    lists,
    monthly,
    process,
    reforms,
    service,
)
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.freshness import Freshness, failed_files, freshness, stale_derived
from onewindow.audit import AuditTrail
from onewindow.config import Config, Reform, load_config
from onewindow.roles import Perm
from onewindow.store import store_path
from ui import session
from warehouse import CopyHealth, Warehouse, WarehouseError
from warehouse.lake import Lake

T = TypeVar("T")
P = ParamSpec("P")


def can(perm: Perm) -> bool:
    """Whether the session holds `perm` (outside a session, as in a report: yes)."""
    who = session.principal()
    return not session.in_session() or (who is not None and who.can(perm))


def guarded(perm: Perm) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Below every page: the session must hold `perm` (else Denied, audited), and every
    Filters argument is cut to the session's scope *before* the cache is asked, so a cache
    entry never serves one scope's figures to another, and no URL widens a scope."""

    def wrap(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def scoped(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                session.check(perm, fn.__name__)
            except session.Denied as exc:
                AuditTrail(store_path(warehouse().home)).record(
                    exc.who, "denied", exc.action, "refused", needs=str(perm)
                )
                raise
            limit = session.scope()
            if limit is not None:
                args = tuple(  # type: ignore[assignment]
                    a.within(limit) if isinstance(a, Filters) else a for a in args
                )
                kwargs = {  # type: ignore[assignment]
                    k: v.within(limit) if isinstance(v, Filters) else v for k, v in kwargs.items()
                }
            return fn(*args, **kwargs)

        scoped.clear = getattr(fn, "clear", None)  # type: ignore[attr-defined]
        return scoped

    return wrap


@st.cache_resource
def config() -> Config:
    path = os.environ.get("ONEWINDOW_CONFIG_FILE")
    return load_config(Path(path) if path else None)


def calendar() -> WorkCalendar:
    return WorkCalendar.from_config(config())


def warehouse() -> Warehouse:
    return Warehouse(config().warehouse_path())


def store() -> Warehouse | Lake:
    """What the pages read: the warehouse, or a province's lake (onewindow serve --lake)."""
    lake = os.environ.get("ONEWINDOW_LAKE")
    if lake:
        return Lake(Path(lake), calendar(), os.environ.get("ONEWINDOW_LAKE_CENTER") or None)
    return warehouse()


def version() -> str | None:
    """Identifies the published copy and its content; None while there is no warehouse."""
    wh = store()
    if not wh.exists():
        return None
    try:
        # The other copy while the published one is damaged; a lake has one.
        copy = wh.reading_copy() if isinstance(wh, Warehouse) else wh.published()
    except WarehouseError:
        copy = wh.published()  # reading says why, inside the page's guard
    try:
        return f"{copy}:{copy.stat().st_mtime_ns}"
    except FileNotFoundError:
        return f"{copy}:missing"


def copies() -> list[CopyHealth]:
    """Each warehouse copy and what is wrong with it: a look at its headers, never cached."""
    wh = warehouse()
    return wh.health() if wh.exists() else []


def _read(fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    with store().read() as con:
        return fn(con)


@st.cache_data(show_spinner=False)
def fresh(version: str) -> Freshness:
    return _read(freshness)


@st.cache_data(show_spinner=False)
def _matters(version: str) -> pl.DataFrame:
    return _read(catalog.matters)


def matters(version: str) -> pl.DataFrame:
    """The matter catalogue, as the session's scope lets it see it: a supervisor's lists only
    their departments' matters and, when their scope names windows, only those handled at
    them (so the filter bar's matter and department choices are theirs alone)."""
    frame = _matters(version)
    limit = session.scope()
    if limit is None or not limit.limited:
        return frame
    if limit.departments is not None:
        frame = frame.filter(pl.col("department").is_in(sorted(limit.departments)))
    if limit.windows is not None:
        frame = frame.filter(
            pl.col("matter_code").is_in(_handled(version, "matter_code", Filters()))
        )
    return frame


def departments_all(version: str) -> list[str]:
    """Every department (the demo's scope picker offers them)."""
    return sorted(_matters(version)["department"].drop_nulls().unique().to_list())


@st.cache_data(show_spinner=False)
def channels(version: str) -> list[str]:
    return _read(catalog.channels)


@guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def _handled(version: str, column: catalog.Desk, within: Filters) -> list[str]:
    """The windows, staff or matters of the applications `within` the session's scope (the
    guard cuts the empty Filters() the callers pass to it before the cache is asked)."""
    return _read(lambda con: catalog.handled(con, column, within))


def windows(version: str) -> list[str]:
    """The windows the filter bar offers: those that handled an application of the scope."""
    return _handled(version, "window_id", Filters())


def staff(version: str) -> list[str]:
    """The staff members the filter bar offers: those who handled an application of the
    scope."""
    return _handled(version, "staff", Filters())


@st.cache_data(show_spinner=False)
def _problems(version: str, filters: Filters) -> list[catalog.Problem]:
    return _read(lambda con: catalog.check_filters(con, filters))


SCOPED_FIELDS = ("department", "matter", "window", "staff")


def problems(version: str, filters: Filters) -> list[catalog.Problem]:
    """What is wrong with the filters a page was asked for. A session with a scope learns
    nothing of what lies outside it: a department, matter, window or staff member it may not
    see is reported just as one nobody has (else a URL could probe which names exist)."""
    found = _problems(version, filters)
    limit = session.scope()
    if limit is None or not limit.limited:
        return found
    catalogue = matters(version)
    seen: dict[str, Callable[[], Sequence[str]]] = {
        "department": lambda: catalogue["department"].drop_nulls().to_list(),
        "matter": lambda: catalogue["matter_code"].to_list(),
        "window": lambda: windows(version),
        "staff": lambda: staff(version),
    }
    kept = [p for p in found if p.kind != "unknown" or p.field not in SCOPED_FIELDS]
    return kept + catalog.unknown(filters, seen)


TODAY_VARIABLE = "ONEWINDOW_TODAY"


def today() -> date:
    """Today in the center's time zone; $ONEWINDOW_TODAY (YYYY-MM-DD) pins it, so a test or a
    demonstration can open the dashboard as it reads on a given day (docs/dashboard.md)."""
    pinned = os.environ.get(TODAY_VARIABLE)
    if pinned:
        return date.fromisoformat(pinned)
    return datetime.now(ZoneInfo(config().center.timezone)).date()


def working_days(first: date, last: date) -> int:
    """Working days from `first` to `last`, both included, by the center's calendar."""
    if last < first:
        return 0
    return int(calendar().days(first, last)["is_working_day"].sum())


@st.cache_data(show_spinner=False)
def data_days(version: str) -> tuple[date, date] | None:
    return _read(lambda con: catalog.data_days(con, config().center.timezone))


def as_of(version: str, filters: Filters) -> datetime:
    """The instant open figures are counted at (as kpis.kpis counts them)."""
    last = fresh(version).last_event_at
    return kpis.period_bounds(
        filters, config().center.timezone, last + timedelta(seconds=1) if last else None
    )[2]


@guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def kpi_table(
    version: str, filters: Filters, by: str = "none", only: tuple[str, ...] = ()
) -> pl.DataFrame:
    """`only`: the KPIs the page shows; their cohorts alone are computed (metrics.kpis)."""
    return _read(lambda con: kpis.kpis(con, calendar(), filters, config(), by, only=only))


KpiAsk = tuple[Filters, str, tuple[str, ...]]  # filters, by, only


def kpi_tables(version: str, asks: Sequence[KpiAsk]) -> list[pl.DataFrame]:
    """Several kpi_table() at once, each on its own connection in its own thread. DuckDB plans
    and runs a query without holding Python's lock, so a page's tables cost about the
    slowest one, not their sum (the Overview asks for six). The first runs alone: DuckDB
    2.0 sets up its Arrow scan (the calendar view) on a copy's first use, and connections
    racing to do so fail with "Table Function python_arrow_scan does not exist"."""
    context = get_script_run_ctx()

    def one(ask: KpiAsk) -> pl.DataFrame:
        add_script_run_ctx(threading.current_thread(), context)  # the cache needs the session
        return kpi_table(version, *ask)

    if not asks:
        return []
    first = kpi_table(version, *asks[0])
    with ThreadPoolExecutor(max_workers=max(1, len(asks) - 1)) as pool:
        return [first, *pool.map(one, asks[1:])]


@guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def cards(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: kpis.cards(con, calendar(), filters, config()))


@guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def card_list(version: str, filters: Filters, card: str) -> pl.DataFrame:
    """The open applications with a `card` ("red", "yellow"): what open_*_cards counts."""
    return _read(lambda con: lists.cards(con, calendar(), filters, config(), card))


@guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def overdue_list(version: str, filters: Filters) -> pl.DataFrame:
    """The applications completed late in the period: what `overdue` counts."""
    return _read(lambda con: lists.overdue(con, calendar(), filters))


@guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def rework_list(version: str, filters: Filters) -> pl.DataFrame:
    """Application and step pairs with rework: what `applications_with_rework` counts."""
    return _read(lambda con: lists.rework(con, calendar(), filters))


@guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def one_application(
    version: str, application_id: str, filters: Filters
) -> application.Application | None:
    """The application, if the session's scope (cut into `filters`, pass Filters()) holds it;
    else None, as for a number nobody has."""
    return _read(
        lambda con: application.find(con, calendar(), config(), application_id, filters=filters)
    )


@guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def transitions(version: str, filters: Filters, by: str = "none") -> pl.DataFrame:
    return _read(lambda con: process.transitions(con, calendar(), filters, by))


@guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def rework(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: process.rework(con, calendar(), filters))


@guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def handovers(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: bottlenecks.handover_matrix(con, calendar(), filters))


@guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def slower(version: str, filters: Filters, end: date) -> pl.DataFrame:
    return _read(lambda con: bottlenecks.slower_steps(con, calendar(), filters, end))


@guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def distribution(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: bottlenecks.processing_distribution(con, calendar(), filters))


@guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def queue(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: service.queue(con, calendar(), filters, config()))


@guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def bad_reviews(version: str, filters: Filters) -> pl.DataFrame:
    at = as_of(version, filters)
    return _read(lambda con: followup.bad_reviews(con, calendar(), filters, config(), at))


@guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def workload(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: service.workload(con, calendar(), filters))


@guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def window_workload(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: followup.window_workload(con, calendar(), filters))


@guarded(Perm.DATA_HEALTH)
@st.cache_data(show_spinner=False)
def jobs(version: str) -> pl.DataFrame:
    return _read(lambda con: health.jobs(con, Filters(), config().center.timezone))


@guarded(Perm.DATA_HEALTH)
@st.cache_data(show_spinner=False)
def derived_waiting(version: str) -> int | None:
    return _read(lambda con: stale_derived(con, calendar()))


@guarded(Perm.DATA_HEALTH)
@st.cache_data(show_spinner=False)
def calendar_gaps(version: str) -> pl.DataFrame:
    return _read(lambda con: health.calendar_coverage(con, calendar()))


@guarded(Perm.DATA_HEALTH)
@st.cache_data(show_spinner=False)
def quarantine(version: str) -> pl.DataFrame:
    return _read(lambda con: health.quarantine(con, Filters(), config().center.timezone))


@guarded(Perm.DATA_HEALTH)
@st.cache_data(show_spinner=False)
def run_files(version: str) -> pl.DataFrame:
    return _read(lambda con: health.files(con, config().center.timezone))


@guarded(Perm.DATA_HEALTH)
@st.cache_data(show_spinner=False)
def flagged(version: str) -> pl.DataFrame:
    return _read(lambda con: health.flagged(con, config().plausibility, config().center.timezone))


@guarded(Perm.DATA_HEALTH)
@st.cache_data(show_spinner=False)
def failed(version: str) -> pl.DataFrame:
    return _read(lambda con: failed_files(con, Filters(), config().center.timezone))


@guarded(Perm.DATA_HEALTH)
def alert_failures(version: str) -> pl.DataFrame:
    """Alert deliveries that failed in the last week (onewindow/alerts.py); not cached: the
    alert store changes without a new warehouse copy."""
    from onewindow import alerts

    return alerts.failures(warehouse())


@guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False, max_entries=8)
def monthly_report(version: str, first: date, filters: Filters) -> monthly.Monthly:
    """The monthly report of `first`'s month for the session's scope: the departments of the
    scoped `filters` (pass Filters(); a supervisor's are cut in), else the whole center."""
    return _read(lambda con: monthly.build(con, calendar(), config(), first, filters.departments))


@guarded(Perm.REFORMS)
@st.cache_data(show_spinner=False)
def reform_list(version: str) -> list[Reform]:
    """The registry's reforms, by effective date."""
    return _read(reforms.stored)


@guarded(Perm.REFORMS)
@st.cache_data(show_spinner=False)
def reform_units(version: str) -> pl.DataFrame:
    return _read(lambda con: reforms.units(con, calendar(), config()))


@guarded(Perm.REFORMS)
@st.cache_data(show_spinner=False)
def reform_analysis(version: str, reform_id: str, design: reforms.Design) -> reforms.Analysis:
    """One reform's effects and monthly series under `design` (the bootstrap at its default
    2,000 resamples, seeded: the same for every view of this copy)."""
    reform = next(r for r in reform_list(version) if r.id == reform_id)
    return reforms.analyse(reform_units(version), reform, design)
