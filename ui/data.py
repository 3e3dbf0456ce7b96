"""Cached data access for the pages. A cache entry is keyed on the published warehouse copy,
so a new ETL run (which swaps the copy) invalidates every cached figure at once."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import streamlit as st

from metrics import health
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from onewindow.config import Config, load_config
from warehouse import Warehouse


@st.cache_resource
def config() -> Config:
    path = os.environ.get("ONEWINDOW_CONFIG_FILE")
    return load_config(Path(path) if path else None)


def warehouse() -> Warehouse:
    return Warehouse(config().warehouse_path())


def version() -> str | None:
    """Identifies the published copy and its content; None while there is no warehouse."""
    wh = warehouse()
    if not wh.exists():
        return None
    published = wh.published()
    return f"{published}:{published.stat().st_mtime_ns}"


@st.cache_data(show_spinner=False)
def jobs(version: str, zone: str) -> pl.DataFrame:
    with warehouse().read() as con:
        return health.jobs(con, Filters(), zone)


@st.cache_data(show_spinner=False)
def calendar_gaps(version: str) -> pl.DataFrame:
    with warehouse().read() as con:
        return health.calendar_coverage(con, WorkCalendar.from_config(config()))


@st.cache_data(show_spinner=False)
def quarantine(version: str, zone: str) -> pl.DataFrame:
    with warehouse().read() as con:
        return health.quarantine(con, Filters(), zone)
