"""Cached data access for the pages: each function wraps one metrics call. A cache entry is
keyed on the published warehouse copy (`version()`), so a new ETL run (which swaps the copy)
invalidates every cached figure at once. No SQL here: metrics/ owns it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from metrics import bottlenecks, catalog, followup, health, kpis, process, reforms, service
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.freshness import Freshness, failed_files, freshness
from onewindow.config import Config, Reform, load_config
from warehouse import Warehouse
from warehouse.lake import Lake

T = TypeVar("T")


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
    published = wh.published()
    return f"{published}:{published.stat().st_mtime_ns}"


def _read(fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
    with store().read() as con:
        return fn(con)


@st.cache_data(show_spinner=False)
def fresh(version: str) -> Freshness:
    return _read(freshness)


@st.cache_data(show_spinner=False)
def matters(version: str) -> pl.DataFrame:
    return _read(catalog.matters)


@st.cache_data(show_spinner=False)
def channels(version: str) -> list[str]:
    return _read(catalog.channels)


@st.cache_data(show_spinner=False)
def data_days(version: str) -> tuple[date, date] | None:
    return _read(lambda con: catalog.data_days(con, config().center.timezone))


def as_of(version: str, filters: Filters) -> datetime:
    """The instant open figures are counted at (as kpis.kpis counts them)."""
    last = fresh(version).last_event_at
    return kpis.period_bounds(
        filters, config().center.timezone, last + timedelta(seconds=1) if last else None
    )[2]


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
    slowest one, not their sum (the Overview asks for five)."""
    context = get_script_run_ctx()

    def one(ask: KpiAsk) -> pl.DataFrame:
        add_script_run_ctx(threading.current_thread(), context)  # the cache needs the session
        return kpi_table(version, *ask)

    with ThreadPoolExecutor(max_workers=max(1, len(asks))) as pool:
        return list(pool.map(one, asks))


@st.cache_data(show_spinner=False)
def cards(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: kpis.cards(con, calendar(), filters, config()))


@st.cache_data(show_spinner=False)
def transitions(version: str, filters: Filters, by: str = "none") -> pl.DataFrame:
    return _read(lambda con: process.transitions(con, calendar(), filters, by))


@st.cache_data(show_spinner=False)
def rework(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: process.rework(con, calendar(), filters))


@st.cache_data(show_spinner=False)
def handovers(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: bottlenecks.handover_matrix(con, calendar(), filters))


@st.cache_data(show_spinner=False)
def slower(version: str, filters: Filters, end: date) -> pl.DataFrame:
    return _read(lambda con: bottlenecks.slower_steps(con, calendar(), filters, end))


@st.cache_data(show_spinner=False)
def distribution(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: bottlenecks.processing_distribution(con, calendar(), filters))


@st.cache_data(show_spinner=False)
def queue(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: service.queue(con, calendar(), filters, config()))


@st.cache_data(show_spinner=False)
def bad_reviews(version: str, filters: Filters) -> pl.DataFrame:
    at = as_of(version, filters)
    return _read(lambda con: followup.bad_reviews(con, calendar(), filters, config(), at))


@st.cache_data(show_spinner=False)
def workload(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: service.workload(con, calendar(), filters))


@st.cache_data(show_spinner=False)
def window_workload(version: str, filters: Filters) -> pl.DataFrame:
    return _read(lambda con: followup.window_workload(con, calendar(), filters))


@st.cache_data(show_spinner=False)
def jobs(version: str) -> pl.DataFrame:
    return _read(lambda con: health.jobs(con, Filters(), config().center.timezone))


@st.cache_data(show_spinner=False)
def calendar_gaps(version: str) -> pl.DataFrame:
    return _read(lambda con: health.calendar_coverage(con, calendar()))


@st.cache_data(show_spinner=False)
def quarantine(version: str) -> pl.DataFrame:
    return _read(lambda con: health.quarantine(con, Filters(), config().center.timezone))


@st.cache_data(show_spinner=False)
def failed(version: str) -> pl.DataFrame:
    return _read(lambda con: failed_files(con, Filters(), config().center.timezone))


@st.cache_data(show_spinner=False)
def reform_list(version: str) -> list[Reform]:
    """The registry's reforms, by effective date."""
    return _read(reforms.stored)


@st.cache_data(show_spinner=False)
def reform_units(version: str) -> pl.DataFrame:
    return _read(lambda con: reforms.units(con, calendar(), config()))


@st.cache_data(show_spinner=False)
def reform_analysis(version: str, reform_id: str, design: reforms.Design) -> reforms.Analysis:
    """One reform's effects and monthly series under `design` (the bootstrap at its default
    2,000 resamples, seeded: the same for every view of this copy)."""
    reform = next(r for r in reform_list(version) if r.id == reform_id)
    return reforms.analyse(reform_units(version), reform, design)
