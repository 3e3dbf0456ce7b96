"""The matter catalog and the choices a filter offers: matter names in both languages where the
catalog has them, departments, channels, windows and staff, the span of the data; and the check
that a filter names only what the warehouse knows (the dashboard and `onewindow report`
share it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

import duckdb
import polars as pl

from metrics.facts import DESKS, app_filter
from metrics.filters import Filters


def matters(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per matter (its latest catalog row): code, names, department, limits, type.
    Matters that applications name but the catalog lacks appear with their code as name."""
    frame: pl.DataFrame = con.sql(
        """WITH latest AS (
            SELECT matter_code, name_zh, name_en, department, statutory_limit_days,
                promised_limit_days, matter_type
            FROM matters
            QUALIFY row_number() OVER (PARTITION BY matter_code
                                       ORDER BY run_id DESC, source_row DESC) = 1)
        SELECT * FROM latest
        UNION ALL
        SELECT DISTINCT a.matter_code, a.matter_code, NULL, NULL, NULL, NULL, NULL
        FROM applications a WHERE a.matter_code NOT IN (SELECT matter_code FROM latest)
        ORDER BY matter_code"""
    ).pl()
    return frame


def channels(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Channels that occur, most used first."""
    rows = con.execute(
        """SELECT channel FROM applications WHERE channel IS NOT NULL
        GROUP BY channel ORDER BY count(*) DESC, channel"""
    ).fetchall()
    return [str(r[0]) for r in rows]


def data_days(con: duckdb.DuckDBPyConnection, zone: str) -> tuple[date, date] | None:
    """The first and last local day with an event or a submission; None when there is none."""
    row = con.execute(
        # The local day of the first instant is the first local day: one conversion, not
        # one per event (10M of them take seconds).
        """SELECT (min(t) AT TIME ZONE $zone)::DATE, (max(t) AT TIME ZONE $zone)::DATE
        FROM (SELECT min(ts) AS t FROM events UNION ALL SELECT max(ts) FROM events
              UNION ALL SELECT min(submitted_at) FROM applications
              UNION ALL SELECT max(submitted_at) FROM applications)""",
        {"zone": zone},
    ).fetchall()[0]
    if row[0] is None:
        return None
    return row[0], row[1]


Desk = Literal["window_id", "staff", "matter_code"]  # what handled() lists


def windows(con: duckdb.DuckDBPyConnection, within: Filters | None = None) -> list[str]:
    """Windows that handled an application (as the --window cut reads them), by name; with
    `within`, only those that handled one of its applications (a supervisor's scope)."""
    return handled(con, "window_id", within)


def staff(con: duckdb.DuckDBPyConnection, within: Filters | None = None) -> list[str]:
    """Staff members who handled an application (as the --staff cut reads them), by name; with
    `within`, only those who handled one of its applications."""
    return handled(con, "staff", within)


def handled(
    con: duckdb.DuckDBPyConnection,
    column: Desk,
    within: Filters | None = None,
) -> list[str]:
    """The distinct windows, staff members or matters of the applications `within` cuts to
    (its period is not read: a choice list spans all the data), by name."""
    cut = replace(within, start=None, end=None) if within else Filters()
    where, params = app_filter(cut)
    select = "a.matter_code" if column == "matter_code" else f"d.{column}"
    joins = ""
    if cut.cuts_applications or column == "matter_code":
        joins = (
            "JOIN applications a USING (application_id)"
            " LEFT JOIN matters m ON m.matter_code = a.matter_code"
        )
    rows = con.execute(
        f"SELECT DISTINCT {select} FROM ({DESKS}) d {joins}"
        f" WHERE {select} IS NOT NULL AND {where} ORDER BY 1",
        params,
    ).fetchall()
    return [str(r[0]) for r in rows]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a filter: `kind` is "unknown" (values no application or catalog
    row has) or "reversed" (the period starts after it ends); `field` names the cut
    (department, matter, channel, window, staff) or "period"; `values` the offending ones."""

    kind: Literal["unknown", "reversed"]
    field: str
    values: tuple[str, ...]

    def sentence(self) -> str:
        """The problem in one English sentence (the command line's wording)."""
        if self.kind == "reversed":
            first, last = self.values
            return f"the period starts on {first}, after it ends on {last}"
        return f"no {self.field} {', '.join(repr(v) for v in self.values)} in the data"


def check_filters(con: duckdb.DuckDBPyConnection, filters: Filters) -> list[Problem]:
    """What in `filters` cannot be right: a start after the end, and cut values the warehouse
    does not know. A filter with problems must be reported, never applied: an unknown value
    would silently show nothing, and dropping it would silently show everything."""
    problems: list[Problem] = []
    if filters.start is not None and filters.end is not None and filters.start > filters.end:
        problems.append(
            Problem("reversed", "period", (filters.start.isoformat(), filters.end.isoformat()))
        )
    if not filters.cuts_applications:
        return problems
    catalog = matters(con)
    known: dict[str, Callable[[], list[str]]] = {
        "department": lambda: [d for d in catalog["department"].to_list() if d],
        "matter": lambda: catalog["matter_code"].to_list(),
        "channel": lambda: channels(con),
        "window": lambda: windows(con),
        "staff": lambda: staff(con),
    }
    return problems + unknown(filters, known)


def unknown(filters: Filters, known: Mapping[str, Callable[[], Sequence[str]]]) -> list[Problem]:
    """The cut values of `filters` that are not among the `known` ones of their field
    (department, matter, channel, window, staff; a field `known` lacks is not checked)."""
    asked = {
        "department": filters.departments,
        "matter": filters.matters,
        "channel": filters.channels,
        "window": filters.windows,
        "staff": filters.staff,
    }
    problems: list[Problem] = []
    for field, values in asked.items():
        if not values or field not in known:
            continue
        valid = set(known[field]())
        missing = tuple(v for v in dict.fromkeys(values) if v not in valid)
        if missing:
            problems.append(Problem("unknown", field, missing))
    return problems
