"""A decoded copy of an input kept in memory, never on disk. DuckDB reads UTF-8 only; a GB18030
export is decoded in Python a chunk at a time and handed to DuckDB through fsspec's in-memory
file system, so no copy of it (personal columns included) is ever written, and a killed load
leaves none behind. The copy is the only one: neither the file's bytes nor its whole text are
held besides it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import duckdb
from fsspec.implementations.memory import MemoryFileSystem

_FS = MemoryFileSystem()  # its store is process-wide: each copy gets a unique path


def register(con: duckdb.DuckDBPyConnection, pieces: Iterable[str]) -> str:
    """Puts the text `pieces` (as UTF-8) where `con` can read it; returns the path to give
    read_csv."""
    path = f"/onewindow/{uuid.uuid4().hex}.csv"
    try:
        with _FS.open(path, "wb") as out:
            for piece in pieces:
                out.write(piece.encode("utf-8"))
    except BaseException:
        release(f"memory://{path}")
        raise
    con.register_filesystem(_FS)
    return f"memory://{path}"


def release(target: str) -> None:
    path = target.removeprefix("memory://")
    if target.startswith("memory://") and _FS.exists(path):
        _FS.rm(path)
