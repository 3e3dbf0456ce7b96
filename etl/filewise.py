"""A file's mapped rows, staged as each batch is mapped, and the rules that take the whole file,
set-wise in SQL over them: row numbers, repeated keys, occurrences among identical events,
conflicts between rows of one record, the applications a flat event log gives.

The rows go into a temporary table of the run's staging database, which follows `[etl]`
memory_limit and threads and spills to the warehouse's own folder beyond them: a file of any
size is held by DuckDB within its limit, not by Python. Rows are ordered by K, their place
among the file's records, which orders them as their rows (ROW) do; ROW itself is known once
the whole file was read and is only looked up for what is stored.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from etl.canonical import COLUMNS, DERIVED_FIELDS, KEYS, RECORD_LABEL
from etl.profile import Profile, TableSource
from etl.readers import ROW, K
from etl.stage import EVENT_KEY, column_type
from etl.transform import OCCURRENCE, QUARANTINE_SCHEMA, flat_log, staged_columns
from warehouse import sql as q

CONFLICT_SCHEMA = {
    "application_id": pl.String,
    "field": pl.String,
    "kept": pl.String,
    "other": pl.String,
}
# Events: an event's identity without event_id (rows without one repeat on it).
_CONTENT = ("application_id", "step", "lifecycle", "ts")
_ORPHAN = "no event of this application names its matter"
# The order of a flat log's events inside an application: instant, then row (K < 2^40), as
# one number (a struct of both took half as long again to aggregate).
_EVENT_ORDER = f"epoch_us(ts)::HUGEINT * 1099511627776 + {K}"


@dataclass
class Ruled:
    """What the whole-file rules found: rows that repeated an earlier row of the file (same
    key), conflicts (application_id, field, kept, other) and quarantined rows (ROW, field,
    reason, raw) of applications that name no matter."""

    repeated: int
    conflicts: pl.DataFrame
    quarantine: pl.DataFrame


class FileRows:
    """One file's typed rows in the staging database (`file_rows`), then the rules."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        src: TableSource,
        clean: Callable[[pl.DataFrame], pl.DataFrame] = lambda batch: batch,
        clean_bad: Callable[[pl.DataFrame], pl.DataFrame] = lambda batch: batch,
    ) -> None:
        self.con = con
        self.clean = clean
        self.clean_bad = clean_bad
        self.table = table
        self.src = src
        self.columns = staged_columns(table, src)
        self.flat = flat_log(table, src)
        self.orphans = False
        self.occurrences = 0  # events: rows that repeat an earlier one (file_occ)
        # Batches are inserted by a thread of their own while the next one is mapped.
        self._queue: queue.Queue[tuple[str, pl.DataFrame] | None] = queue.Queue(maxsize=1)
        self._writer: threading.Thread | None = None
        self._error: BaseException | None = None
        cols = ", ".join(f"{c} {column_type(table, c)}" for c in self.columns)
        self.drop()
        con.execute(f"CREATE TEMP TABLE file_rows ({cols}, {K} BIGINT)")
        con.execute(
            f"""CREATE TEMP TABLE file_bad ({K} BIGINT, field VARCHAR, reason VARCHAR,
                raw VARCHAR)"""
        )

    def add(self, batch: pl.DataFrame) -> None:
        """One mapped batch (staged_columns and K), cleaned (personal numbers masked) here
        and inserted into the table by a thread of its own: DuckDB inserts without Python's
        lock while the next batch is mapped. At most two batches wait; the insert's error is
        raised by the next add or by `flush`. Nothing else uses the connection meanwhile:
        every other method flushes first."""
        self._put("file_rows", self.clean(batch))

    def add_bad(self, batch: pl.DataFrame) -> None:
        """One batch's quarantined rows (K, field, reason, raw), masked as a quarantine is
        (`clean_bad`), staged like the valid ones: a file whose every row is quarantined is
        held by DuckDB within its limit, not by Python. `store` gives them their rows."""
        self._put("file_bad", self.clean_bad(batch.select(K, "field", "reason", "raw")))

    def _put(self, table: str, batch: pl.DataFrame) -> None:
        self._raise()
        if self._writer is None:
            self._writer = threading.Thread(target=self._write, name="onewindow-stage", daemon=True)
            self._writer.start()
        self._queue.put((table, batch))

    def _write(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # failed: the rest is let through unread, so add never blocks
            table, batch = item
            try:
                self.con.register("batch", batch)
                try:
                    self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch")
                finally:
                    self.con.unregister("batch")
            except BaseException as exc:  # raised in the thread that adds
                self._error = exc

    def flush(self) -> None:
        """Waits for every batch added to be in the table; raises the insert's error."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def rule(self, rows: pl.Series) -> Ruled:
        """The whole-file rules, once every batch was added; `rows` maps K to ROW."""
        self.flush()
        self._row_numbers(rows)
        conflicts: list[pl.DataFrame] = []
        quarantine = pl.DataFrame(schema=QUARANTINE_SCHEMA)
        if self.flat:
            conflicts.append(self._derive_applications())
            quarantine = self._orphans()
        if self.table == "events":
            repeated = self.occurrences = self._occurrences()
            conflicts += self._event_conflicts()
        else:
            key = list(KEYS[self.table])
            values = [c for c in self.columns if c not in key]
            repeated = self._count(
                "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT "
                + ", ".join(key)
                + " FROM file_rows)) FROM file_rows"
            )
            conflicts.append(self._conflicts(key, RECORD_LABEL[self.table], values, "true"))
        return Ruled(repeated, pl.concat(conflicts), quarantine)

    def store(self, file_id: int, ord_: int, profile: Profile) -> None:
        """Inserts the file's rows into the run's staged tables (events with their key), the
        applications a flat event log gives, and its quarantined rows (add_bad), each with the
        row a person finds it on."""
        self.flush()
        table = self.table
        cols = ", ".join(c for c in self.columns if table != "events" or c in _EVENT_COLS)
        params = {"file_id": file_id, "ord": ord_, "row0": self.row0}
        joins = self.join_sql()
        if table == "events":
            key = f"{EVENT_KEY} AS event_key, $complete AS complete_list, "
            params["complete"] = self.src.complete_step_lists
            params["keep"] = self.src.identical_rows == "keep"
            select = f"""SELECT {key}{cols}, $file_id AS file_id, __row AS source_row,
                    $ord AS ord
                FROM (SELECT f.*, {self.occurrence_sql()} AS {OCCURRENCE},
                        {self.row_sql()} AS __row
                    FROM {self.live_sql()} f {joins} {self.occurrence_join_sql()})"""
        else:
            select = f"""SELECT {cols}, $file_id AS file_id, {self.row_sql()} AS source_row,
                    $ord AS ord
                FROM file_rows f {joins}"""
        q.execute(self.con, f"INSERT INTO st_{table} BY NAME {select}", params)
        if self.flat:
            cols = ", ".join(DERIVED_FIELDS)
            params["complete_case"] = profile.complete_cases
            q.execute(
                self.con,
                f"""INSERT INTO st_derived BY NAME
                SELECT application_id, {cols}, $complete_case AS complete_case,
                    $file_id AS file_id, {self.row_sql()} AS source_row, $ord AS ord
                FROM file_apps f {joins} WHERE matter_code IS NOT NULL""",
                params,
            )
        q.execute(
            self.con,
            f"""INSERT INTO st_quarantine SELECT $file_id, {self.row_sql()}, field, reason, raw,
                $ord
            FROM file_bad f {joins}""",
            {"file_id": file_id, "ord": ord_, "row0": self.row0},
        )

    def drop(self) -> None:
        with contextlib.suppress(Exception):  # a failed file: its insert error is known
            self.flush()
        for name in ("file_rows", "file_bad", "file_occ", "file_apps", "file_orphans"):
            self.con.execute(f"DROP TABLE IF EXISTS {name}")
        with contextlib.suppress(duckdb.Error):
            self.con.unregister("row_map")

    # ----- the rules -----------------------------------------------------------------------

    def _row_numbers(self, rows: pl.Series) -> None:
        """ROW of a staged row: K plus the first row when the records' rows follow each other
        (most files), else looked up in `row_map`."""
        self.rows = rows
        self.row0 = int(rows[0]) if rows.len() else 0
        self.mapped = not (not rows.len() or int(rows[-1]) - self.row0 == rows.len() - 1)
        if self.mapped:
            ks = pl.int_range(rows.len(), eager=True, dtype=pl.Int64)
            self.con.register("row_map", pl.DataFrame({"k": ks, "row": rows}))

    def row_sql(self) -> str:
        """A staged row's ROW, over `file_rows f` (or a relation with its K) joined by
        join_sql()."""
        return "m.row" if self.mapped else f"f.{K} + $row0"

    def join_sql(self) -> str:
        return f"JOIN row_map m ON m.k = f.{K}" if self.mapped else ""

    def occurrence_sql(self) -> str:
        """An event's occurrence among identical rows (file_occ), over `file_rows f` joined
        by occurrence_join_sql(). Without repeated rows nothing is joined: the rows go in as
        the file has them, in order (etl/apply.py then copies them without sorting)."""
        return (
            "CASE WHEN f.event_id IS NULL AND $keep THEN o.occ END"
            if self.occurrences
            else "NULL::BIGINT"
        )

    def occurrence_join_sql(self) -> str:
        return f"LEFT JOIN file_occ o ON o.{K} = f.{K}" if self.occurrences else ""

    def live_sql(self) -> str:
        """The staged rows that stay: a flat log's rows of applications naming no matter go."""
        if self.orphans:
            return "(SELECT * FROM file_rows ANTI JOIN file_orphans USING (application_id))"
        return "file_rows"

    def _derive_applications(self) -> pl.DataFrame:
        """Per application, its first row and the first non-null value of each application
        field, in event order (instant, then row); conflicts where a field has two values: the
        one kept and the next other one in event order."""
        first = ", ".join(
            f"""arg_min({c}, {_EVENT_ORDER}) FILTER (WHERE {c} IS NOT NULL) AS {c},
                min({c}) IS DISTINCT FROM max({c}) AS __n_{c}"""
            for c in DERIVED_FIELDS
        )
        self.con.execute(
            f"""CREATE TEMP TABLE file_apps AS
            SELECT application_id, arg_min({K}, {_EVENT_ORDER}) AS {K}, {first}
            FROM file_rows GROUP BY application_id"""
        )
        parts = []
        for n, c in enumerate(DERIVED_FIELDS):
            sql_type = column_type("events", c)
            text = _text_sql(c, sql_type, micro=True)
            parts.append(
                f"""SELECT a.application_id, '{c}' AS field,
                    {_text_sql("a." + c, sql_type, micro=True)} AS kept, o.other, {n} AS n
                FROM file_apps a JOIN (
                    SELECT application_id, {text} AS other FROM (
                        SELECT application_id, {c}, min({_EVENT_ORDER}) AS o FROM file_rows
                        SEMI JOIN (SELECT application_id FROM file_apps WHERE __n_{c}) x
                            USING (application_id)
                        WHERE {c} IS NOT NULL GROUP BY ALL)
                    QUALIFY row_number() OVER (PARTITION BY application_id ORDER BY o) = 2
                ) o USING (application_id)
                WHERE a.__n_{c}"""
            )
        query = " UNION ALL ".join(parts)
        return q.frame(
            self.con,
            f"SELECT application_id, field, kept, other FROM ({query}) ORDER BY n, application_id",
            {},
        ).cast(CONFLICT_SCHEMA)  # type: ignore[arg-type]

    def _orphans(self) -> pl.DataFrame:
        """A flat log's rows of applications that no event gives a matter: quarantined."""
        self.con.execute(
            """CREATE TEMP TABLE file_orphans AS
            SELECT application_id FROM file_apps WHERE matter_code IS NULL"""
        )
        self.orphans = self._count("SELECT count(*) FROM file_orphans") > 0
        if not self.orphans:
            return pl.DataFrame(schema=QUARANTINE_SCHEMA)
        found = q.frame(
            self.con,
            f"SELECT {K} FROM file_rows SEMI JOIN file_orphans USING (application_id) ORDER BY {K}",
            {},
        )
        return pl.DataFrame(
            {
                ROW: self.rows.gather(found[K]),
                "field": "matter_code",
                "reason": _ORPHAN,
                "raw": None,
            },
            schema=QUARANTINE_SCHEMA,
        )

    def _occurrences(self) -> int:
        """`file_occ`: each staged event that repeats an earlier one of the file (K, its
        occurrence, 2 for the second, …) by its event_id with its application when it has
        one, else by application, step, lifecycle and instant among every row. Only keys that
        occur more than once are ranked. Returns how many rows repeat."""
        partition = ", ".join(_CONTENT)
        on = " AND ".join(f"f.{c} IS NOT DISTINCT FROM g.{c}" for c in _CONTENT)
        self.con.execute(
            f"""CREATE TEMP TABLE file_occ AS
            SELECT {K}, occ FROM (
                SELECT f.{K}, f.event_id, row_number() OVER (
                    PARTITION BY {partition} ORDER BY f.{K}) AS occ
                FROM {self.live_sql()} f SEMI JOIN (
                    SELECT {partition} FROM {self.live_sql()} GROUP BY ALL HAVING count(*) > 1) g
                    ON {on})
            WHERE occ > 1 AND event_id IS NULL
            UNION ALL
            SELECT {K}, occ FROM (
                SELECT f.{K}, row_number() OVER (
                    PARTITION BY application_id, event_id ORDER BY f.{K}) AS occ
                FROM {self.live_sql()} f SEMI JOIN (
                    SELECT application_id, event_id FROM {self.live_sql()}
                    WHERE event_id IS NOT NULL
                    GROUP BY ALL HAVING count(*) > 1) g
                    ON f.application_id = g.application_id AND f.event_id = g.event_id)
            WHERE occ > 1"""
        )
        return self._count("SELECT count(*) FROM file_occ")

    def _event_conflicts(self) -> list[pl.DataFrame]:
        """Rows of one event_id (the last wins) with other values; with `identical_rows =
        "merge"` also identical rows without one."""
        values = [c for c in _EVENT_COLS if c not in ("stage", "in_person")]
        by_id = ["application_id", "event_id"]
        found = [
            self._conflicts(
                by_id,
                "application_id",
                [c for c in values if c not in by_id],
                "event_id IS NOT NULL",
            )
        ]
        if self.src.identical_rows != "keep":
            found.append(
                self._conflicts(
                    list(_CONTENT),
                    "application_id",
                    [c for c in values if c not in _CONTENT],
                    "event_id IS NULL",
                )
            )
        return found

    def _conflicts(
        self, key: list[str], column: str, values: list[str], where: str
    ) -> pl.DataFrame:
        """Rows of one file with the same key and other values: per field, the value kept
        (the last row's, as a run keeps the last) and the first other one. Personal values
        (the applicant key) are not shown. `column` labels the record; fields in their
        column order, records in the order of their first row."""
        if not values:
            return pl.DataFrame(schema=CONFLICT_SCHEMA)
        cols = ", ".join(key)
        on = " AND ".join(f"t.{k} IS NOT DISTINCT FROM l.{k}" for k in key)
        group = " AND ".join(f"f.{k} IS NOT DISTINCT FROM g.{k}" for k in key)
        match = ", ".join(f"t.{k}" for k in key)
        select = ", ".join(
            f"coalesce({_text_sql(c, column_type(self.table, c))}, {MISSING}) AS __v{n}"
            for n, c in enumerate(values)
        )
        assign = ", ".join(f"arg_max(__v{n}, {K}) AS __k{n}" for n in range(len(values)))
        differs = ", ".join(
            f"arg_min(t.__v{n}, t.{K}) FILTER (WHERE t.__v{n} <> l.__k{n}) AS __o{n}"
            for n in range(len(values))
        )
        parts = " UNION ALL ".join(_conflict_sql(n, c) for n, c in enumerate(values))
        query = f"""WITH t AS (
                SELECT f.*, {column}::VARCHAR AS __label, {select}
                FROM {self.live_sql()} f
                SEMI JOIN (SELECT {cols} FROM {self.live_sql()} WHERE {where}
                    GROUP BY ALL HAVING count(*) > 1) g ON {group}
                WHERE {where}),
            l AS (SELECT {cols}, min({K}) AS __first, arg_max(__label, {K}) AS __label,
                    {assign}
                FROM t GROUP BY ALL),
            lo AS (SELECT l.*, o.* EXCLUDE ({cols}) FROM l JOIN (
                SELECT {match}, {differs}
                FROM t JOIN l ON {on} GROUP BY ALL) o USING ({cols}))
            SELECT __label AS application_id, field, kept, other FROM ({parts})
            ORDER BY n, __first"""
        return q.frame(self.con, query, {}).cast(CONFLICT_SCHEMA)  # type: ignore[arg-type]

    def _count(self, query: str) -> int:
        return int(self.con.execute(query).fetchall()[0][0])


_EVENT_COLS = tuple(c for c in COLUMNS["events"] if c != "event_key")  # without its key


MISSING = "chr(0)"  # null is a value too: a later blank replaces an earlier value


def _conflict_sql(n: int, c: str) -> str:
    """One field's conflicts from `lo` (the applicant key's values are not shown)."""
    return f"""SELECT __label, '{c}' AS field, {_shown_sql("__k", n, c)} AS kept,
        {_shown_sql("__o", n, c)} AS other, {n} AS n, __first FROM lo WHERE __o{n} IS NOT NULL"""


def _shown_sql(prefix: str, n: int, c: str) -> str:
    return "NULL" if c == "applicant_key" else f"nullif({prefix}{n}, {MISSING})"


def _text_sql(column: str, sql_type: str, micro: bool = False) -> str:
    """A value as a conflict shows it: an instant with its offset (UTC), to the second (to
    the microsecond with `micro`, as a derived application's conflict shows it)."""
    if sql_type == "TIMESTAMPTZ":
        return f"strftime({column}, '%Y-%m-%d %H:%M:%S{'.%f' if micro else ''}') || '+00:00'"
    return f"{column}::VARCHAR"
