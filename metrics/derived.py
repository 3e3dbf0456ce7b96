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
from metrics.dialect import day_sql, local_sql, seconds_between_sql
from metrics.facts import (
    ORDER,
    app_filter,
    facts_sql,
    per_application_sql,
    steps_sql,
    transitions_sql,
)
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


def _build(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, step: Callable[[str], None] | None
) -> None:
    """Every table from scratch, by the full build's route (FAST below) when it applies."""
    fast: bool | None = None
    for table, build in TABLES.items():
        if step:
            step(f"building {table}")
        if fast is None:  # the events enriched for all three, within the first's step
            fast = _prepare(con, cal)
        if fast:
            sql, params = FAST[table](cal)
        else:
            sql, params = build(cal, Filters(), None)
        execute(con, f"CREATE OR REPLACE TABLE {table} AS {sql}", params)
    for name in _TEMP:
        con.execute(f"DROP TABLE IF EXISTS {name}")


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
            _build(con, cal, step)
            _check_whole(con)
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


def _check_whole(con: duckdb.DuckDBPyConnection) -> None:
    """A full build holds a fact for every application (one each, as the ETL keeps matter
    codes unique). DuckDB 2.0.0 once built these tables empty right after a run of 860k
    events or more had committed (the same connection's scan saw none of its rows) and they
    were marked current: every report was empty. Should a build miss rows again it fails
    here, the tables stay as they were and not current, and reports take the reference SQL
    (tests/test_scale.py)."""
    built, stored = con.execute(
        "SELECT (SELECT count(*) FROM d_facts), (SELECT count(*) FROM applications)"
    ).fetchall()[0]
    if built < stored:
        raise duckdb.InvalidInputException(
            f"the derived tables were built with {built} of {stored} applications"
        )


# The full build on DuckDB: the same rows as the reference SQL (facts_sql, transitions_sql,
# steps_sql; tests/test_derived_full.py), computed the way a full build of millions of events
# needs (benchmarks/derived_build.py). The windows sort every event; a sort carrying the
# event's strings (step, department, staff, window, the application's matter and channel)
# costs several times the CPU of one carrying integers, and a window fed by the joins that
# enrich the events several times one fed by a table. So the events are enriched once, not
# once per table, into a narrow temporary table of integers and instants (ow_k: the
# application's rowid, a code per distinct step, staff member, department and window — ow_c_*,
# a few hundred rows —, the local time and W of events_sql); the windows and d_facts'
# per-application aggregates read it, and the strings are joined back to their results.
# Partitioning by the application's rowid instead of its id is the same partition as long as
# application ids are unique in `applications` and matter codes in `matters`, as the ETL
# keeps them (etl/canonical.py KEYS); `_prepare` checks it, else the reference SQL builds the
# tables.
_CODES = {
    "ow_c_step": "step",
    "ow_c_staff": "staff",
    "ow_c_department": "department",
    "ow_c_window": "window_id",
}
_TEMP = (*_CODES, "ow_k")


def _prepare(con: duckdb.DuckDBPyConnection, cal: WorkCalendar) -> bool:
    """Creates the code tables and ow_k (temporary); False when keys are not unique."""
    unique = con.execute(
        """SELECT (SELECT count(*) = count(DISTINCT application_id) FROM applications)
              AND (SELECT count(*) = count(DISTINCT matter_code) FROM matters)"""
    ).fetchall()[0][0]
    if not unique:
        return False
    for name, column in _CODES.items():
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {name} AS
                SELECT v, (row_number() OVER ())::INTEGER AS n
                FROM (SELECT DISTINCT {column} AS v FROM events WHERE {column} IS NOT NULL)"""
        )
    local = local_sql("e.ts")
    # As events_sql (the calendar joined on the local day), but kept when no calendar day
    # matches (`dated` false): steps_sql does not join the calendar.
    execute(
        con,
        f"""CREATE OR REPLACE TEMP TABLE ow_k AS
        SELECT a.rowid AS app_no, s.n AS step_no, f.n AS staff_no, d.n AS department_no,
            w.n AS window_no, e.ts, e.file_id, e.source_row, {local} AS local_ts,
            c.day IS NOT NULL AS dated, c.wd_index, {cal.work_seconds_sql(local, "c")} AS w,
            {seconds_between_sql("e.started_at", "e.ts")} AS step_s, e.stage, e.in_person
        FROM events e
        JOIN applications a USING (application_id)
        LEFT JOIN ow_calendar c ON c.day = {day_sql("e.ts")}
        JOIN ow_c_step s ON s.v = e.step
        LEFT JOIN ow_c_staff f ON f.v = e.staff
        LEFT JOIN ow_c_department d ON d.v = e.department
        LEFT JOIN ow_c_window w ON w.v = e.window_id""",
        {"zone": cal.zone},
    )
    return True


# The application's columns both tables carry, joined back by rowid (`x.app_no`).
_APPLICATION = """
    JOIN applications a ON a.rowid = x.app_no
    LEFT JOIN matters m ON m.matter_code = a.matter_code"""


def _facts_full(cal: WorkCalendar) -> tuple[str, Params]:
    """facts_sql with its per-application aggregates over ow_k, by rowid (ow_k read where
    it is used: a materialized CTE would copy its 10M rows once more)."""
    per_app = f"""
        ev AS NOT MATERIALIZED (SELECT * FROM ow_k WHERE dated),
        {per_application_sql("ev", "app_no", "suspended_n", "per_app_n")},
        suspended AS (
            SELECT a.application_id, x.* EXCLUDE (app_no)
            FROM suspended_n x JOIN applications a ON a.rowid = x.app_no),
        per_app AS (
            SELECT a.application_id, x.* EXCLUDE (app_no)
            FROM per_app_n x JOIN applications a ON a.rowid = x.app_no)"""
    return facts_sql(cal, Filters(), None, per_app)


def _transitions_full(cal: WorkCalendar) -> tuple[str, Params]:
    return (
        f"""
        WITH x AS (
            SELECT * FROM (
                SELECT app_no, step_no AS from_no, lead(step_no) OVER win AS to_no,
                    department_no AS from_department_no,
                    lead(department_no) OVER win AS to_department_no,
                    ts AS from_ts, lead(ts) OVER win AS to_ts,
                    (lead(local_ts) OVER win)::DATE AS to_day,
                    {seconds_between_sql("ts", "lead(ts) OVER win")} AS duration_s,
                    ((lead(w) OVER win) - w) / 3600.0 AS work_h
                FROM ow_k WHERE dated WINDOW win AS (PARTITION BY app_no {ORDER}))
            WHERE to_no IS NOT NULL)
        SELECT a.application_id, a.matter_code, m.department AS matter_department, a.channel,
            fs.v AS from_step, ts_.v AS to_step, fd.v AS from_department, td.v AS to_department,
            x.from_ts, x.to_ts, x.to_day, x.duration_s, x.work_h
        FROM x{_APPLICATION}
        JOIN ow_c_step fs ON fs.n = x.from_no
        JOIN ow_c_step ts_ ON ts_.n = x.to_no
        LEFT JOIN ow_c_department fd ON fd.n = x.from_department_no
        LEFT JOIN ow_c_department td ON td.n = x.to_department_no""",
        {},
    )


def _steps_full(cal: WorkCalendar) -> tuple[str, Params]:
    return (
        f"""
        WITH x AS (
            SELECT app_no, step_no, staff_no, department_no, window_no, ts,
                local_ts::DATE AS day, step_s,
                row_number() OVER (PARTITION BY app_no, step_no {ORDER}) AS occurrence,
                row_number() OVER (PARTITION BY app_no, staff_no {ORDER}) AS staff_occurrence
            FROM ow_k)
        SELECT a.application_id, a.matter_code, m.department AS matter_department, a.channel,
            s.v AS step, f.v AS staff, d.v AS department, w.v AS window_id, x.ts, x.day,
            x.step_s, x.occurrence, x.staff_occurrence
        FROM x{_APPLICATION}
        JOIN ow_c_step s ON s.n = x.step_no
        LEFT JOIN ow_c_staff f ON f.n = x.staff_no
        LEFT JOIN ow_c_department d ON d.n = x.department_no
        LEFT JOIN ow_c_window w ON w.n = x.window_no""",
        {},
    )


FAST: dict[str, Callable[[WorkCalendar], tuple[str, Params]]] = {
    "d_facts": _facts_full,
    "d_transitions": _transitions_full,
    "d_steps": _steps_full,
}
