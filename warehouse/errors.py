"""Warehouse problems worth one plain line to the user."""

import contextlib
import re

import duckdb


class WarehouseError(Exception):
    pass


class WarehouseMissing(WarehouseError):
    """No warehouse at the path yet."""


class WarehouseBusy(WarehouseError):
    """Another process holds the write lock (or a reader holds a copy) for too long."""


class WarehouseTooNew(WarehouseError):
    """The warehouse was written by a newer OneWindow; this one must not touch it."""


class WarehouseDamaged(WarehouseError):
    """No copy of the warehouse can be read: both are damaged."""


class CopyUnusable(WarehouseError):
    """One copy cannot be read or written (damaged, read-only); the other may be intact."""


class FollowUpFailed(WarehouseError):
    """A run's data was committed to a copy, but a step after it failed (e.g. refreshing the
    derived tables). The copy is consistent; the message says what is missing."""


_PATH = re.compile(r"""(["']?)(/[^\s"':]+/)([^/\s"':]+)\1""")


def hide_paths(text: str) -> str:
    """Library messages name files by their server path; keep only the file's name."""
    return _PATH.sub(r"\1\3\1", text)


def plain(exc: BaseException) -> str:
    """An error's first line without server paths, for the run history and the dashboard."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return hide_paths(text)[:300]


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """After a failed statement of a transaction: roll it back. A COMMIT that failed (a full
    disk) has already ended it, and the error of that ROLLBACK must not hide the cause."""
    with contextlib.suppress(duckdb.TransactionException):
        con.execute("ROLLBACK")
