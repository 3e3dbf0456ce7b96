"""The province's lake: every center's canonical tables as Hive-partitioned Parquet.

    LAKE/<table>/center=<name>/month=YYYY-MM/data.parquet   tables with a time (local month)
    LAKE/<table>/center=<name>/month=all/data.parquet       the others (catalog, runs, …)
    LAKE/calendar/center=<name>/month=all/                  the center's working-day calendar
    LAKE/centers/center=<name>/month=all/                   its time zone and working hours
    LAKE/d_facts|d_transitions|d_steps/center=…/month=…/    derived by `onewindow spark derive`
    LAKE/_state/<name>.json                                 what each partition holds (hashes)

`export` writes one center's warehouse into the lake. It is incremental: a partition's rows
are summarised by their count and the sum of their row hashes, and only partitions whose
summary changed since the last export are written (and partitions that vanished removed). It
is atomic per partition: a partition is written in full into a hidden folder and swapped in
with one `renameat2(RENAME_EXCHANGE)`, so a reader sees the old or the new partition, never
part of one. Many centers export into one lake; each center's exports take its own lock.

`connect` opens the lake for reading with DuckDB: an in-memory database whose views read the
Parquet files, and which can reach no file outside the lake (docs/scale.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from metrics import derived
from metrics.calendar import WorkCalendar
from warehouse import sql
from warehouse.errors import WarehouseError

DATA_FILE = "data.parquet"
ALL = "all"  # month of a table without a time
NONE = "none"  # month of a row whose time is unknown
STATE = "_state"
MONTHS_PER_SCAN = 6  # a full export reads a table once per half year of months

# Canonical tables and the instant that places a row in a month (None: not by month).
TABLES: dict[str, str | None] = {
    "matters": None,
    "applications": "coalesce(submitted_at, accepted_at, completed_at)",
    "events": "ts",
    "evaluations": "rated_at",
    "tickets": "issued_at",
    "reforms": None,
    "etl_runs": None,
    "etl_run_files": None,
    "quarantine": None,
}
DERIVED = ("d_facts", "d_transitions", "d_steps")
# The instant (or day) that places a derived row in a month.
DERIVED_MONTH = {"d_facts": "submitted_day", "d_transitions": "to_day", "d_steps": "day"}

_CENTER = re.compile(r"^[^\W][\w\-]*$")


class LakeError(WarehouseError):
    """A lake that cannot be written or read as asked; the message names the path."""


def check_center(name: str) -> str:
    """A center's name is a partition value: letters (any script), digits, - and _."""
    if not _CENTER.fullmatch(name):
        raise LakeError(
            f"center name {name!r} cannot name a lake partition: use letters, digits, - and _ "
            "(set [center] name, or --center)"
        )
    return name


# ----- atomic partition swap -----------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two paths (Linux renameat2); False where the system cannot."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def publish(staged: Path, final: Path) -> None:
    """Makes the complete folder `staged` the partition `final`, in one step."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if not final.exists():
        os.rename(staged, final)
        return
    if _exchange(staged, final):
        shutil.rmtree(staged)  # now the old partition
        return
    # Without renameat2 a reader may, for an instant, find the month missing (never half).
    trash = final.with_name(f".old-{uuid.uuid4().hex}-{final.name}")
    os.rename(final, trash)
    os.rename(staged, final)
    shutil.rmtree(trash)


def remove(final: Path) -> None:
    trash = final.with_name(f".old-{uuid.uuid4().hex}-{final.name}")
    os.rename(final, trash)
    shutil.rmtree(trash)


def staging(final: Path) -> Path:
    """A hidden folder beside the partition; readers' globs skip names starting with '.'."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.with_name(f".new-{uuid.uuid4().hex}-{final.name}")


def partition(lake: Path, table: str, center: str, month: str) -> Path:
    return lake / table / f"center={center}" / f"month={month}"


@contextlib.contextmanager
def center_lock(lake: Path, center: str) -> Iterator[None]:
    """One writer per center of a lake at a time (exports, derives)."""
    (lake / STATE).mkdir(parents=True, exist_ok=True)
    with open(lake / STATE / f"{center}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_state(lake: Path, name: str) -> dict[str, dict[str, str]]:
    path = lake / STATE / f"{name}.json"
    if not path.exists():
        return {}
    data: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def write_state(lake: Path, name: str, state: dict[str, dict[str, str]]) -> None:
    path = lake / STATE / f"{name}.json"
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def state_digest(state: dict[str, dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def derive_input(lake: Path, center: str) -> dict[str, str]:
    """What a center's derived tables are computed from: its export and the code's version.
    The derive records it; the reader and the next derive compare it."""
    return {
        "source": state_digest(read_state(lake, center)),
        "version": str(derived.VERSION),
    }


# ----- export --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    table: str
    partitions: int
    written: int
    unchanged: int
    removed: int
    rows_written: int


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The table's columns; 128-bit integers (the event key, an MD5) as 32 hex digits, since
    Parquet and Spark have no 128-bit integer (a cast to VARCHAR writes decimal digits at
    some 100 µs a row; printf is a hundred times faster)."""
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = $t "
        "ORDER BY column_index",
        {"t": table},
    ).fetchall()
    out = []
    for column, kind in rows:
        quoted = '"' + column.replace('"', '""') + '"'
        if kind in ("UHUGEINT", "HUGEINT"):
            out.append(f"printf('%032x', {quoted}) AS {quoted}")
        elif kind == "JSON":
            out.append(f"{quoted}::VARCHAR AS {quoted}")
        else:
            out.append(quoted)
    return ", ".join(out)


def _month_sql(instant: str | None) -> str:
    if instant is None:
        return f"'{ALL}'"
    return f"coalesce(strftime({instant} AT TIME ZONE $zone, '%Y-%m'), '{NONE}')"


def export(
    con: duckdb.DuckDBPyConnection, lake: Path, center: str, cal: WorkCalendar
) -> list[Written]:
    """Writes the center's tables (read from `con`) into the lake, changed partitions only."""
    check_center(center)
    lake.mkdir(parents=True, exist_ok=True)
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
    }
    outcome = []
    with center_lock(lake, center):
        old = read_state(lake, center)
        new: dict[str, dict[str, str]] = {}
        for table, instant in TABLES.items():
            if table not in tables:
                continue
            new[table], done = _export_table(con, lake, center, cal, table, instant, old)
            outcome.append(done)
        new["calendar"], done = _export_calendar(con, lake, center, cal, old)
        outcome.append(done)
        write_state(lake, center, new)
    return outcome


def _export_table(
    con: duckdb.DuckDBPyConnection,
    lake: Path,
    center: str,
    cal: WorkCalendar,
    table: str,
    instant: str | None,
    old: dict[str, dict[str, str]],
) -> tuple[dict[str, str], Written]:
    month = _month_sql(instant)
    params = {"zone": cal.zone}
    summary_sql = f"""SELECT {month} AS month, count(*) AS n,
            sum(hash(t)::HUGEINT)::VARCHAR AS h
        FROM {table} t GROUP BY ALL"""
    summary = {
        r[0]: f"{r[1]}:{r[2]}"
        for r in con.execute(summary_sql, sql.bound(summary_sql, params)).fetchall()
    }
    before = old.get(table, {})
    written = rows = 0
    select = _columns(con, table)
    changed = [
        value
        for value, digest in sorted(summary.items())
        if before.get(value) != digest or not partition(lake, table, center, value).exists()
    ]
    # One scan per batch of months (the month of a row is computed once), split in Polars.
    query = f"""SELECT * FROM (SELECT {month} AS ow_month, {select} FROM {table} t)
        WHERE list_contains($months, ow_month)"""
    for start in range(0, len(changed), MONTHS_PER_SCAN):
        batch = changed[start : start + MONTHS_PER_SCAN]
        frame = sql.frame(con, query, {**params, "months": batch})
        parts = frame.partition_by("ow_month", as_dict=True, include_key=False)
        for value in batch:
            part = parts.get((value,), frame.clear().drop("ow_month"))
            final = partition(lake, table, center, value)
            staged = staging(final)
            staged.mkdir()
            part.write_parquet(staged / DATA_FILE)
            publish(staged, final)
            written += 1
            rows += part.height
    removed = 0
    for value in sorted(set(before) - set(summary)):
        final = partition(lake, table, center, value)
        if final.exists():
            remove(final)
            removed += 1
    return summary, Written(table, len(summary), written, len(summary) - written, removed, rows)


def _export_calendar(
    con: duckdb.DuckDBPyConnection,
    lake: Path,
    center: str,
    cal: WorkCalendar,
    old: dict[str, dict[str, str]],
) -> tuple[dict[str, str], Written]:
    """The calendar the center's working time is counted with, as the derive needs it: the
    days (ow_calendar) and the center's zone and working hours."""
    base = cal.register(con)
    days = sql.frame(
        con, "SELECT day, is_working_day, source, wd_index, work_s_before FROM ow_calendar", {}
    )
    meta = pl.DataFrame(
        {
            "calendar": [cal.to_json()],
            "fingerprint": [cal.fingerprint(base)],
            "base": [base],
            "exported_at": [datetime.now(UTC)],
        }
    )
    last = days["day"].cast(pl.String).max()
    digest = {ALL: f"{days.height}:{cal.fingerprint(base)}:{last!s}"}
    before = old.get("calendar", {})
    written = 0
    if before != digest or not partition(lake, "calendar", center, ALL).exists():
        for table, frame in (("calendar", days), ("centers", meta)):
            final = partition(lake, table, center, ALL)
            staged = staging(final)
            staged.mkdir()
            frame.write_parquet(staged / DATA_FILE)
            publish(staged, final)
        written = 1
    return digest, Written("calendar", 1, written, 1 - written, 0, days.height * written)


def written_frame(outcome: list[Written]) -> pl.DataFrame:
    return pl.DataFrame(
        [w.__dict__ for w in outcome],
        schema={
            "table": pl.String,
            "partitions": pl.Int64,
            "written": pl.Int64,
            "unchanged": pl.Int64,
            "removed": pl.Int64,
            "rows_written": pl.Int64,
        },
    )


# ----- reading -------------------------------------------------------------------------------


def centers(lake: Path) -> list[str]:
    """The centers exported into the lake."""
    root = lake / "centers"
    if not root.is_dir():
        return []
    return sorted(
        p.name.removeprefix("center=")
        for p in root.iterdir()
        if p.name.startswith("center=") and (p / f"month={ALL}" / DATA_FILE).exists()
    )


class Lake:
    """A lake opened for reading, as `Warehouse` is: `read()` gives a short-lived DuckDB
    connection whose views (events, applications, …, d_facts, …) read the lake's Parquet,
    each row with its `center`; with `center`, only that center's rows. The connection reaches
    no file outside the lake (DuckDB's allowed_directories, external access off, settings
    locked)."""

    def __init__(self, path: Path, calendar: WorkCalendar, center: str | None = None) -> None:
        self.path = Path(path)
        self.calendar = calendar
        self.center = check_center(center) if center else None

    def exists(self) -> bool:
        return bool(centers(self.path))

    def published(self) -> Path:
        """Changes (its modification time) whenever an export or a derive lands."""
        return self.path / STATE

    @contextlib.contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        known = centers(self.path)
        if not known:
            raise LakeError(f"{self.path}: no center in this lake (run `onewindow lake export`)")
        if self.center is not None and self.center not in known:
            raise LakeError(
                f"{self.path}: no center {self.center!r}; the lake holds {', '.join(known)}"
            )
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET allowed_directories = $dirs", {"dirs": [str(self.path.resolve())]})
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            self._views(con, [self.center] if self.center else known)
            yield con
        finally:
            con.close()

    def _relation(
        self, con: duckdb.DuckDBPyConnection, table: str, chosen: list[str]
    ) -> duckdb.DuckDBPyRelation | None:
        files = [
            str(f)
            for center in chosen
            for f in sorted((self.path / table / f"center={center}").glob("month=*/*.parquet"))
        ]
        if not files:
            return None
        rel = con.read_parquet(files, hive_partitioning=True, union_by_name=True)
        keep = [duckdb.ColumnExpression(c) for c in rel.columns if c != "month"]
        return rel.select(*keep)

    def _views(self, con: duckdb.DuckDBPyConnection, chosen: list[str]) -> None:
        for table in (*TABLES, *DERIVED):
            rel = self._relation(con, table, chosen)
            if rel is None:
                continue
            name = f"lake_{table}" if table == "matters" else table
            rel.create_view(name)
        # A province shares one matter catalog (事项目录); each code once.
        con.execute(
            "CREATE TEMP VIEW matters AS SELECT DISTINCT ON (matter_code) * EXCLUDE (center) "
            "FROM lake_matters ORDER BY matter_code, center"
        )
        for table, ddl in _EMPTY.items():
            if table not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}:
                con.execute(ddl)
        # The derived tables are current when every center was derived, by this code, with
        # the calendar the reader counts working time with; otherwise metrics fall back to
        # the reference SQL over the lake's events (docs/architecture.md, "Derived tables").
        fingerprint = derived.fingerprint(self.calendar, con)
        con.execute("CREATE TEMP TABLE d_pending (application_id VARCHAR)")
        con.execute("CREATE TEMP TABLE d_state (fingerprint VARCHAR, built_at TIMESTAMPTZ)")
        if all(self._derived_with(center) for center in chosen):
            con.execute("INSERT INTO d_state VALUES ($f, now())", {"f": fingerprint})

    def _derived_with(self, center: str) -> bool:
        done = read_state(self.path, f"{center}.derived")
        return (
            done.get("input") == derive_input(self.path, center)
            and done.get("calendar", {}).get("json") == self.calendar.to_json()
        )


# Tables a center may not have exported (an old warehouse, nothing rated): empty, so every
# report runs.
_EMPTY = {
    "evaluations": """CREATE TEMP TABLE evaluations (application_id VARCHAR, rating INTEGER,
        rated_at TIMESTAMPTZ, channel VARCHAR, reason VARCHAR, rectified_at TIMESTAMPTZ,
        center VARCHAR)""",
    "tickets": """CREATE TEMP TABLE tickets (ticket_id VARCHAR, issued_at TIMESTAMPTZ,
        called_at TIMESTAMPTZ, service_start TIMESTAMPTZ, service_end TIMESTAMPTZ,
        window_id VARCHAR, category VARCHAR, outcome VARCHAR, center VARCHAR)""",
}
