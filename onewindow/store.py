"""The security store: one SQLite file beside the warehouse (`PATH.d/security.sqlite`) that
holds the accounts, the sessions and the audit trail.

Why not the warehouse: DuckDB lets one process write a file at a time, and that process is the
ETL (docs/architecture.md). A login, a logout or an audit record cannot wait for a run. SQLite in
WAL mode lets the dashboard's processes, the command line and the ETL append at any moment; each
write is one short transaction. The file and its WAL are readable by their owner only."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from onewindow.private import private_dir, private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    must_change INTEGER NOT NULL DEFAULT 1,
    disabled INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until REAL,
    departments TEXT NOT NULL DEFAULT '[]',
    windows TEXT NOT NULL DEFAULT '[]',
    source TEXT NOT NULL DEFAULT 'local',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS user_roles (
    username TEXT NOT NULL REFERENCES users(username),
    role TEXT NOT NULL,
    PRIMARY KEY (username, role)
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    roles TEXT NOT NULL,
    departments TEXT NOT NULL,
    windows TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    ended_at REAL,
    end_reason TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pii_findings (
    run_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    column_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    found INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""


def store_path(warehouse_home: Path) -> Path:
    return warehouse_home / "security.sqlite"


@contextlib.contextmanager
def connect(path: Path, schema: str = SCHEMA) -> Iterator[sqlite3.Connection]:
    """One short-lived connection; commits when the block ends without an error. `schema`
    creates what is missing (another store beside this one brings its own, onewindow/alerts)."""
    private_dir(path.parent)
    fresh = not path.exists()
    if fresh:
        private_file(path)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA busy_timeout=30000")
        con.executescript(schema)
        for side in ("-wal", "-shm"):
            extra = Path(str(path) + side)
            if extra.exists():
                os.chmod(extra, 0o600)
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()
