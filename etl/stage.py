"""A run's staged changes: a private DuckDB file that becomes visible only when complete.

The file is written as `run-N.duckdb.tmp` and renamed to `run-N.duckdb` once closed, so a run
killed while staging leaves nothing that could be applied.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from etl.canonical import COLUMNS, DERIVED_FIELDS, TABLES
from etl.profile import Profile
from etl.readers import ROW
from etl.transform import OCCURRENCE
from onewindow.config import Plausibility

_SQL_TYPES = {
    "timestamp": "TIMESTAMPTZ",
    "int": "INTEGER",
    "rating": "INTEGER",
    "bool": "BOOLEAN",
    "enum": "VARCHAR",
    "text": "VARCHAR",
}
_EXTRA_TYPES = {
    "event_key": "UHUGEINT",
    "ts": "TIMESTAMPTZ",
    "stage": "VARCHAR",
    "in_person": "BOOLEAN",
    "applicant_key": "VARCHAR",
    "complete_case": "BOOLEAN",
}
_BOOKKEEPING = "file_id BIGINT, source_row BIGINT, ord INTEGER"

# An event's key (docs/profiles.md, "Natural keys"): its own number when the profile maps
# event_id, else its application, step, lifecycle and instant, plus its occurrence among
# identical rows of its file from the second on (etl/transform.py), so the first of identical
# rows keeps the key it had before occurrences were counted.
EVENT_KEY = f"""md5_number(CASE WHEN event_id IS NOT NULL
    THEN concat_ws(chr(31), application_id, 'event_id', event_id)
    ELSE concat_ws(chr(31), application_id, step, lifecycle, epoch_us(ts)::VARCHAR,
                   {OCCURRENCE}::VARCHAR) END)::UHUGEINT"""


def column_type(table: str, column: str) -> str:
    for f in TABLES[table]:
        if f.name == column:
            return _SQL_TYPES[f.kind]
    return _EXTRA_TYPES[column]


def _ddl(name: str, table: str, columns: tuple[str, ...]) -> str:
    cols = ", ".join(f"{c} {column_type(table, c)}" for c in columns)
    return f"CREATE TABLE {name} ({cols}, {_BOOKKEEPING})"


class Delta:
    def __init__(
        self,
        path: Path,
        run_id: int,
        job: str,
        profile: str | None,
        calendar: str | None,
        rules: Plausibility | None = None,
    ) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.run_id = run_id
        self.job = job
        self.profile = profile
        self.started_at = datetime.now().astimezone()
        self._ord = 0
        self.con = duckdb.connect(str(self.tmp))
        self.con.execute("SET TimeZone = 'UTC'")
        for table, cols in COLUMNS.items():
            self.con.execute(_ddl(f"st_{table}", table, cols))
        # Events only: staged from a file that holds its applications' complete step lists.
        self.con.execute("ALTER TABLE st_events ADD COLUMN complete_list BOOLEAN DEFAULT false")
        self.con.execute(
            _ddl("st_derived", "applications", ("application_id", *DERIVED_FIELDS, "complete_case"))
        )
        self.con.execute(
            """CREATE TABLE files (file_id BIGINT, sha256 VARCHAR, size_bytes BIGINT,
                is_new BOOLEAN, path VARCHAR, table_name VARCHAR, profile VARCHAR,
                status VARCHAR, rows_read BIGINT, error VARCHAR, ord INTEGER,
                profile_hash VARCHAR, repeated BIGINT DEFAULT 0, cleaned BIGINT DEFAULT 0);
            CREATE TABLE st_quarantine (file_id BIGINT, row_number BIGINT, field VARCHAR,
                reason VARCHAR, raw JSON, ord INTEGER);
            CREATE TABLE st_conflicts (file_id BIGINT, application_id VARCHAR, field VARCHAR,
                kept VARCHAR, other VARCHAR, ord INTEGER);
            CREATE TABLE run (run_id BIGINT, job VARCHAR, profile VARCHAR,
                started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, status VARCHAR,
                error VARCHAR, host VARCHAR, pid INTEGER);
            -- The working calendar the derived tables are refreshed with (metrics/derived.py).
            CREATE TABLE calendar (definition VARCHAR);
            -- How far an event may lie outside its application (config [plausibility]).
            CREATE TABLE rules (before_submission_hours DOUBLE, after_completion_days DOUBLE);"""
        )
        if calendar is not None:
            self.con.execute("INSERT INTO calendar VALUES (?)", [calendar])
        if rules is not None:
            self.con.execute(
                "INSERT INTO rules VALUES (?, ?)",
                [rules.before_submission_hours, rules.after_completion_days],
            )

    def add_file(
        self,
        file_id: int,
        sha256: str,
        size: int,
        is_new: bool,
        path: Path,
        table: str,
        profile: Profile,
        status: str,
        rows_read: int,
        error: str | None = None,
        *,
        repeated: int = 0,
        cleaned: int = 0,
    ) -> int:
        """Records a file's outcome; returns its order in the run (later files win)."""
        self._ord += 1
        self.con.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                file_id,
                sha256,
                size,
                is_new,
                str(path),
                table,
                profile.name,
                status,
                rows_read,
                error,
                self._ord,
                profile.fingerprint(),
                repeated,
                cleaned,
            ],
        )
        return self._ord

    def add_quarantine(self, file_id: int, ord_: int, frame: pl.DataFrame) -> None:
        self._insert_plain(
            "st_quarantine", f"$file_id, {ROW}, field, reason, raw, $ord", file_id, ord_, frame
        )

    def add_conflicts(self, file_id: int, ord_: int, frame: pl.DataFrame) -> None:
        self._insert_plain(
            "st_conflicts",
            "$file_id, application_id, field, kept, other, $ord",
            file_id,
            ord_,
            frame,
        )

    def _insert_plain(
        self, name: str, select: str, file_id: int, ord_: int, frame: pl.DataFrame
    ) -> None:
        self.con.register("frame", frame)
        try:
            self.con.execute(
                f"INSERT INTO {name} SELECT {select} FROM frame", {"file_id": file_id, "ord": ord_}
            )
        finally:
            self.con.unregister("frame")

    def finish(self, status: str, error: str | None) -> Path:
        self.con.execute(
            "INSERT INTO run VALUES (?, ?, ?, ?, now(), ?, ?, ?, ?)",
            [
                self.run_id,
                self.job,
                self.profile,
                self.started_at,
                status,
                error,
                socket.gethostname(),
                os.getpid(),
            ],
        )
        self.con.execute("CHECKPOINT")
        self.con.close()
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        self.con.close()
        for p in (self.tmp, self.tmp.with_name(self.tmp.name + ".wal")):
            p.unlink(missing_ok=True)
