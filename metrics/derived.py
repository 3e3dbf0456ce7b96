"""Derived tables: the per-application facts, transitions and steps of metrics/facts.py, stored
by the ETL so that a report reads thousands of rows instead of deriving them from millions of
events (docs/architecture.md, "Derived tables").

They are a cache, never a second definition: each is built by the same SQL a metric would run
on demand, and a metric uses it only when it was built with the calendar the metric asks for
and no application is waiting to be refreshed. Otherwise the metric runs the reference SQL:
slower, the same figures.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from metrics.calendar import WorkCalendar
from metrics.facts import app_filter, facts_sql, steps_sql, transitions_sql
from metrics.filters import Filters
from warehouse.errors import rollback
from warehouse.sql import Params, execute

# Raise when a builder's SQL changes: stored tables built by older code are then rebuilt.
VERSION = 5

Builder = Callable[[WorkCalendar, Filters, str | None], tuple[str, Params]]

TABLES: dict[str, Builder] = {
    "d_facts": facts_sql,
    "d_transitions": transitions_sql,
    "d_steps": steps_sql,
}
# Each table's column holding the department of the application's matter.
_DEPARTMENT = {"d_facts": "department", "d_transitions": "matter_department"}


def fingerprint(cal: WorkCalendar, con: duckdb.DuckDBPyConnection) -> str:
    """What the stored tables must have been built with; registers the calendar view."""
    base = cal.register(con)
    return f"v{VERSION}-{cal.fingerprint(base)}"


def current(con: duckdb.DuckDBPyConnection, cal: WorkCalendar) -> bool:
    """True when the stored tables hold exactly what the reference SQL would give."""
    wanted = fingerprint(cal, con)
    try:
        row = con.execute(
            """SELECT (SELECT max(fingerprint) FROM d_state),
                      (SELECT count(*) FROM (SELECT 1 FROM d_pending LIMIT 1))"""
        ).fetchall()[0]
    except duckdb.CatalogException:  # a warehouse older than the derived tables
        return False
    return bool(row[0] == wanted and row[1] == 0)


def source(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, table: str, filters: Filters
) -> tuple[str, Params]:
    """SQL (and its named parameters) for the rows of `table` that `filters` keeps by matter,
    department, channel, window and staff: a scan of the stored table when current, else its
    reference SQL."""
    if current(con, cal):
        where, params = app_filter(
            filters,
            alias=table,
            department=f"{table}.{_DEPARTMENT.get(table, 'matter_department')}",
            desks="d_facts",
        )
        return f"SELECT * FROM {table} WHERE {where}", params
    return TABLES[table](cal, filters, None)


def refresh(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    step: Callable[[str], None] | None = None,
) -> str:
    """Brings the stored tables up to date in one transaction: the applications listed in
    d_pending are recomputed, or everything when the calendar or the code changed. Runs after
    the run's data is committed (DuckDB 2.0.0 scans of rows inserted earlier in the same
    transaction can miss them; etl/apply.py). Returns "full" or "incremental". `step` is told
    which table is being built (a terminal's progress line)."""
    wanted = fingerprint(cal, con)
    stored = con.execute("SELECT max(fingerprint) FROM d_state").fetchall()[0][0]
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
    }
    full = stored != wanted or not set(TABLES) <= tables
    con.execute("BEGIN TRANSACTION")
    try:
        if full:
            for table, build in TABLES.items():
                if step:
                    step(f"building {table}")
                sql, params = build(cal, Filters(), None)
                execute(con, f"CREATE OR REPLACE TABLE {table} AS {sql}", params)
        else:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE ow_touched AS SELECT DISTINCT application_id "
                "FROM d_pending"
            )
            for table, build in TABLES.items():
                if step:
                    step(f"updating {table}")
                con.execute(
                    f"DELETE FROM {table} "
                    "WHERE application_id IN (SELECT application_id FROM ow_touched)"
                )
                sql, params = build(cal, Filters(), "ow_touched")
                execute(con, f"INSERT INTO {table} SELECT * FROM ({sql})", params)
        con.execute("DELETE FROM d_pending")
        con.execute("DELETE FROM d_state")
        con.execute("INSERT INTO d_state VALUES (?, now())", [wanted])
        con.execute("COMMIT")
    except Exception:
        rollback(con)
        raise
    return "full" if full else "incremental"
