"""The named reports of `onewindow report NAME`: each is one metrics function over a read-only
connection. The dashboard draws from the same functions. Every name is documented in
docs/metrics.md (tests/test_docs.py checks it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from metrics import health, kpis, process, reforms, service
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from onewindow.config import Config

ReportFn = Callable[[duckdb.DuckDBPyConnection, Filters, Config, str], pl.DataFrame]


@dataclass(frozen=True)
class Report:
    fn: ReportFn
    by: tuple[str, ...]  # the --by dimensions it takes; "none" first
    app_cuts: bool = True  # takes --matter, --department, --channel
    period: bool = True  # takes --from, --to
    reform_cut: bool = False  # takes --reform


REPORTS: dict[str, Report] = {}


def report(
    name: str,
    by: tuple[str, ...] = ("none",),
    app_cuts: bool = True,
    period: bool = True,
    reform_cut: bool = False,
) -> Callable[[ReportFn], ReportFn]:
    def register(fn: ReportFn) -> ReportFn:
        REPORTS[name] = Report(fn, by, app_cuts, period, reform_cut)
        return fn

    return register


@report("jobs", app_cuts=False)
def _jobs(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return health.jobs(con, filters, config.center.timezone)


@report("quarantine", app_cuts=False)
def _quarantine(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return health.quarantine(con, filters, config.center.timezone)


@report("cases")
def _cases(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return process.cases(con, WorkCalendar.from_config(config), filters)


@report("transitions", by=("none", "matter", "month"))
def _transitions(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return process.transitions(con, WorkCalendar.from_config(config), filters, by)


@report("rework")
def _rework(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return process.rework(con, WorkCalendar.from_config(config), filters)


@report("kpis", by=kpis.DIMENSIONS)
def _kpis(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return kpis.kpis(con, WorkCalendar.from_config(config), filters, config, by)


@report("cards")
def _cards(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return kpis.cards(con, WorkCalendar.from_config(config), filters, config)


@report("queue", app_cuts=False)
def _queue(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return service.queue(con, WorkCalendar.from_config(config), filters, config)


@report("satisfaction")
def _satisfaction(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return service.satisfaction(con, WorkCalendar.from_config(config), filters, config)


@report("workload")
def _workload(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return service.workload(con, WorkCalendar.from_config(config), filters)


@report("reforms", app_cuts=False, period=False, reform_cut=True)
def _reforms(
    con: duckdb.DuckDBPyConnection, filters: Filters, config: Config, by: str
) -> pl.DataFrame:
    return reforms.report(con, WorkCalendar.from_config(config), config, filters.reforms)
