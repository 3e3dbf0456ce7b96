"""A decoded copy of an input kept in memory, never on disk. DuckDB reads UTF-8 only; a GB18030
export is decoded in Python and handed to DuckDB through fsspec's in-memory file system, so no
copy of it (personal columns included) is ever written, and a killed load leaves none behind."""

from __future__ import annotations

import uuid

import duckdb
from fsspec.implementations.memory import MemoryFileSystem

_FS = MemoryFileSystem()  # its store is process-wide: each copy gets a unique path


def register(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """Puts `text` (UTF-8) where `con` can read it; returns the path to give read_csv."""
    path = f"/onewindow/{uuid.uuid4().hex}.csv"
    with _FS.open(path, "wb") as out:
        out.write(text.encode("utf-8"))
    con.register_filesystem(_FS)
    return f"memory://{path}"


def release(target: str) -> None:
    path = target.removeprefix("memory://")
    if target.startswith("memory://") and _FS.exists(path):
        _FS.rm(path)
