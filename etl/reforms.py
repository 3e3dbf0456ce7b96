"""The reform registry: how reforms reach the warehouse's `reforms` table.

Reforms come from two places. The config's `[[reforms]]` are synced by every ETL run (load,
inbox, maintenance, demo): the config is the source of its own rows (`origin = 'config'`), so
a reform removed from the file leaves the table. The reform page saves and deletes reforms
(`origin = 'page'`); a saved reform wins over the config's reform of the same id, and a
deleted one is kept with `deleted = true`, so the next run does not bring it back. The demo
registers the reforms it planted (`origin = 'demo'`).

Every change travels like any other: staged into a run's delta (table `st_reforms`) and applied
to both warehouse copies inside the run's transaction (`apply_staged`, called by
etl/apply.py), so readers see it only once published and both copies agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from metrics.calendar import WorkCalendar
from onewindow.config import Reform
from warehouse import Warehouse

_COLUMNS = (
    "reform_id, name, effective, matter_codes, control_codes, control_departments, "
    "window_days, gap_days, description"
)


@dataclass(frozen=True)
class Update:
    """What a run changes in the registry."""

    config: tuple[Reform, ...] | None = None  # the config's whole list; None leaves them be
    save: tuple[Reform, ...] = ()  # stored as given, replacing any reform of the same id
    origin: str = "page"  # of the saved reforms: page or demo
    delete: tuple[str, ...] = ()  # reform ids


def stage(con: duckdb.DuckDBPyConnection, update: Update) -> None:
    """Writes `update` into an open delta (etl.stage.Delta.con)."""
    con.execute(
        """CREATE TABLE st_reforms (op VARCHAR, reform_id VARCHAR, name VARCHAR,
            effective DATE, matter_codes VARCHAR[], control_codes VARCHAR[],
            control_departments BOOLEAN, window_days INTEGER, gap_days INTEGER,
            description VARCHAR, origin VARCHAR)"""
    )
    rows = [_row("config", r, "config") for r in update.config or ()]
    rows += [_row("save", r, update.origin) for r in update.save]
    rows += [("delete", i, *[None] * 8, None) for i in update.delete]
    if rows:
        con.executemany(f"INSERT INTO st_reforms VALUES ({', '.join(['?'] * 11)})", rows)
    if update.config is not None:
        # Marks the config list as complete: an empty list removes every config reform.
        con.execute("CREATE TABLE st_reforms_config_sync AS SELECT true AS synced")


def _row(op: str, r: Reform, origin: str) -> tuple[object, ...]:
    control = r.control if isinstance(r.control, list) else None
    return (
        op,
        r.id,
        r.name,
        r.effective,
        list(r.matters),
        control,
        r.control == "departments",
        r.window_days,
        r.gap_days,
        r.description,
        origin,
    )


def _staged(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'd' AND table_name = ?",
        [table],
    ).fetchall()
    return bool(found[0][0])


def apply_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Applies the delta attached as `d` to the reforms table; inside the run's transaction."""
    if not _staged(con, "st_reforms"):
        return
    if _staged(con, "st_reforms_config_sync"):
        # The config's reforms are replaced as a whole; the page's and the demo's stay.
        con.execute("DELETE FROM reforms WHERE origin = 'config'")
        # Reforms saved on the page (or by the demo), and deletions, win over the config.
        con.execute(
            f"""INSERT INTO reforms ({_COLUMNS}, origin, deleted)
            SELECT {_COLUMNS}, 'config', false FROM d.st_reforms
            WHERE op = 'config' AND reform_id NOT IN (SELECT reform_id FROM reforms)"""
        )
    saved = "SELECT reform_id FROM d.st_reforms WHERE op = 'save'"
    con.execute(f"DELETE FROM reforms WHERE reform_id IN ({saved})")
    con.execute(
        f"""INSERT INTO reforms ({_COLUMNS}, origin, deleted)
        SELECT {_COLUMNS}, origin, false FROM d.st_reforms WHERE op = 'save'"""
    )
    con.execute(
        """UPDATE reforms SET deleted = true, origin = 'page'
        WHERE reform_id IN (SELECT reform_id FROM d.st_reforms WHERE op = 'delete')"""
    )


def save_reform(
    wh: Warehouse, reform: Reform, calendar: WorkCalendar, lock_timeout_s: float = 3600.0
) -> int:
    """Adds or replaces a reform (the reform page's save); returns the run id. The run
    refreshes the derived tables with `calendar`, the center's."""
    return _run(wh, Update(save=(reform,)), calendar, lock_timeout_s)


def delete_reform(
    wh: Warehouse, reform_id: str, calendar: WorkCalendar, lock_timeout_s: float = 3600.0
) -> int:
    """Deletes a reform (the reform page's delete; an id not stored changes nothing); returns
    the run id."""
    return _run(wh, Update(delete=(reform_id,)), calendar, lock_timeout_s)


def _run(wh: Warehouse, update: Update, calendar: WorkCalendar, lock_timeout_s: float) -> int:
    from etl.run import LoadError, load_files  # etl.run stages reforms with this module

    result = load_files(
        wh, [], calendar, job="reforms", lock_timeout_s=lock_timeout_s, reforms=update
    )
    if result.status != "ok":
        raise LoadError(f"run {result.run_id} saving the reform ended {result.status}")
    return result.run_id
