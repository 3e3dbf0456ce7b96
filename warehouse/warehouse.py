"""The one class that owns warehouse files and connections.

On disk a warehouse at PATH (e.g. data/warehouse.duckdb) is:

    PATH                      symlink to the published copy: PATH.d/a.duckdb or PATH.d/b.duckdb
    PATH.d/a.duckdb, b.duckdb two full copies; readers only ever open the published one
    PATH.d/deltas/run-N.duckdb  a run's staged changes, kept until both copies have them
    PATH.d/etl.lock           held by the one process that writes

DuckDB lets one process write a file and nobody else open it meanwhile, so a writer never
touches the published copy: it applies a run to the other copy, then swaps the symlink
(an atomic rename), then brings the old copy up to date. Readers open short-lived read-only
connections and never wait for a run. See docs/architecture.md for the reasons.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse import migrations
from warehouse.errors import WarehouseBusy, WarehouseMissing

# Applies one staged delta file to an open read-write connection, in one transaction.
Applier = Callable[[duckdb.DuckDBPyConnection, Path], None]


@dataclass(frozen=True)
class Resources:
    """What one writing connection may use (config `[etl] memory_limit`, `threads`). Beyond
    the memory limit DuckDB spills to a folder of the warehouse's own, not to the system's
    temporary folder: the data stays under the warehouse's permissions."""

    memory_limit: str | None = None  # DuckDB size text, e.g. "1GB"; None: DuckDB's default
    threads: int | None = None  # None: one per core

    def configure(self, con: duckdb.DuckDBPyConnection, spill: Path) -> None:
        spill.mkdir(parents=True, exist_ok=True)
        con.execute("SET temp_directory = $dir", {"dir": str(spill)})
        if self.memory_limit is not None:
            con.execute("SET memory_limit = $limit", {"limit": self.memory_limit})
        if self.threads is not None:
            con.execute("SET threads = $n", {"n": self.threads})


READ_RETRY_S = 1.0  # a reader re-resolves the link and retries this long on a lock conflict
COPY_NAMES = ("a.duckdb", "b.duckdb")


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    # A reader reaches nothing but its copy: no read_csv, COPY, ATTACH or extension of any
    # file or URL, whatever SQL it is handed. Only the writer applies staged deltas.
    config: dict[str, str | bool | int | float | list[str]] = (
        {"enable_external_access": False} if read_only else {}
    )
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    # Instants are stored in UTC; the center's zone is applied explicitly where days matter.
    con.execute("SET TimeZone = 'UTC'")
    return con


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


class Warehouse:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.home = self.path.with_name(self.path.name + ".d")
        self.deltas = self.home / "deltas"
        self.lock_path = self.home / "etl.lock"
        self.spill = self.home / "spill"  # DuckDB's temporary files of the writer's connections

    # ----- reading -------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.is_symlink() and self.published().exists()

    def published(self) -> Path:
        return self.home / os.readlink(self.path).split("/")[-1]

    @contextlib.contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived read-only connection on the published copy."""
        if not self.exists():
            raise WarehouseMissing(
                f"no warehouse at {self.path}: run `onewindow demo` or `onewindow load` first"
            )
        deadline = time.monotonic() + READ_RETRY_S
        while True:
            copy = self.published()
            try:
                con = _connect(copy, read_only=True)
                break
            except duckdb.Error as exc:
                # Only a reader that resolved the link just before a swap meets the writer
                # on the old copy; the link already points elsewhere, so retry at once.
                if not _is_lock_conflict(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        try:
            migrations.check_not_newer(migrations.schema_version(con), str(self.path))
            yield con
        finally:
            con.close()

    # ----- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(
        self, applier: Applier, lock_timeout_s: float = 3600.0, resources: Resources | None = None
    ) -> Iterator[Writer]:
        """Exclusive write access across processes: an flock on PATH.d/etl.lock."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            deadline = time.monotonic() + lock_timeout_s
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        lock.seek(0)
                        holder = lock.read().strip() or "another process"
                        raise WarehouseBusy(
                            f"{self.path} is being loaded by {holder}; gave up after "
                            f"{lock_timeout_s:.0f} s"
                        ) from None
                    time.sleep(0.2)
            lock.seek(0)
            lock.truncate()
            lock.write(f"pid {os.getpid()} on {socket.gethostname()}")
            lock.flush()
            try:
                w = Writer(self, applier, resources or Resources())
                w.recover()
                yield w
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def upgrade(self, applier: Applier) -> None:
        """Creates the warehouse, or migrates an older one; refuses a newer one."""
        with self.writer(applier):
            pass


class Writer:
    """What the holder of the ETL lock may do. Created by Warehouse.writer() only."""

    def __init__(self, wh: Warehouse, applier: Applier, resources: Resources) -> None:
        self.wh = wh
        self.applier = applier
        self.resources = resources
        # What each copy holds, learnt once: while we hold the lock nobody else writes.
        self._have: dict[Path, set[int]] = {}
        self._migrated: set[Path] = set()

    def _copies(self) -> tuple[Path, Path]:
        a, b = (self.wh.home / n for n in COPY_NAMES)
        return a, b

    def standby(self) -> Path:
        a, b = self._copies()
        return b if self.wh.published() == a else a

    def recover(self) -> None:
        """Brings the files to a state where both copies hold every run, at the latest schema."""
        self.wh.deltas.mkdir(parents=True, exist_ok=True)
        a, b = self._copies()
        if not self.wh.path.is_symlink():
            if self.wh.path.exists():  # a plain DuckDB file: adopt it as copy a
                shutil.move(str(self.wh.path), a)
            if not a.exists():
                with contextlib.closing(_connect(a, read_only=False)) as con:
                    migrations.migrate(con, str(self.wh.path))
                    con.execute("CHECKPOINT")
            self._clone(a, b)
            self._point_to(a)
        # What a killed run left behind before its delta was complete: it never happened.
        for tmp in [*self.wh.deltas.glob("*.tmp"), *self.wh.deltas.glob("*.tmp.wal")]:
            tmp.unlink()
        for scratch in self.wh.deltas.glob("scratch-*"):
            shutil.rmtree(scratch, ignore_errors=True)  # may hold decoded copies of inputs
        shutil.rmtree(self.wh.spill, ignore_errors=True)  # spilled by a killed writer
        published, standby = self.wh.published(), self.standby()
        if not standby.exists():
            self._clone(published, standby)
        # Complete deltas the standby lacks (a run killed before or after its commit there,
        # or a standby that was busy) are applied now, and then published: roll forward.
        self._catch_up(standby, wait_s=60.0)
        if self._runs(standby) - self._runs(published) or (
            self._published_version() < migrations.LATEST
        ):
            self._point_to(standby)
            self._catch_up(published, wait_s=60.0)

    def next_ids(self) -> tuple[int, int]:
        """The next run id and file id. After recover() the published copy holds every run;
        pending deltas are counted too, so an id is never given twice."""
        with self.wh.read() as con:
            row = con.execute(
                "SELECT (SELECT coalesce(max(run_id), 0) + 1 FROM etl_runs),"
                "       (SELECT coalesce(max(file_id), 0) + 1 FROM etl_files)"
            ).fetchall()[0]
        return max([int(row[0]), *(r + 1 for r in self._deltas())]), int(row[1])

    def delta_path(self, run_id: int) -> Path:
        return self.wh.deltas / f"run-{run_id:08d}.duckdb"

    def configure(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        """Gives a writing connection the run's memory limit, threads and its own spill
        folder (PATH.d/spill/NAME): the staging connection and each copy's."""
        self.resources.configure(con, self.wh.spill / name)

    def publish(self, delta: Path) -> None:
        """Applies a finished delta to the standby, swaps, then updates the other copy."""
        standby = self.standby()
        self._catch_up(standby, wait_s=60.0)  # includes `delta`
        old = self.wh.published()
        self._point_to(standby)
        self._catch_up(old, wait_s=30.0)

    # ----- internals -----------------------------------------------------------------------

    def _deltas(self) -> dict[int, Path]:
        return {int(d.stem.split("-")[1]): d for d in self.wh.deltas.glob("run-*.duckdb")}

    def _catch_up(self, copy: Path, wait_s: float) -> None:
        """Migrates `copy` and applies every delta it lacks; a busy copy is left for later."""
        known = self._have.get(copy)
        if known is not None and copy in self._migrated and set(self._deltas()) <= known:
            return
        try:
            con = self._open_rw(copy, wait_s)
        except WarehouseBusy:
            if copy == self.standby():
                raise
            return  # the old copy is still being read; the next run brings it up to date
        with contextlib.closing(con):
            migrations.migrate(con, str(copy))
            have = {int(r[0]) for r in con.execute("SELECT run_id FROM etl_runs").fetchall()}
            for run_id, delta in sorted(self._deltas().items()):
                if run_id not in have:
                    self.applier(con, delta)
                    have.add(run_id)
            con.execute("CHECKPOINT")
        self._have[copy] = have
        self._migrated.add(copy)
        self._prune_deltas()

    def _prune_deltas(self) -> None:
        a, b = self._copies()
        done = self._runs(a) & self._runs(b)
        for delta in self.wh.deltas.glob("run-*.duckdb"):
            if int(delta.stem.split("-")[1]) in done:
                delta.unlink()

    def _open_rw(self, copy: Path, wait_s: float) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                con = _connect(copy, read_only=False)
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc):
                    raise
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"{copy} stayed open by a reader for {wait_s:.0f} s"
                    ) from None
                time.sleep(0.05)
                continue
            self.configure(con, copy.stem)
            return con

    def _runs(self, copy: Path) -> set[int]:
        if copy in self._have:
            return self._have[copy]
        if not copy.exists():
            return set()
        if copy == self.wh.published():
            with self.wh.read() as ro:
                have = {int(r[0]) for r in ro.execute("SELECT run_id FROM etl_runs").fetchall()}
        else:
            with contextlib.closing(self._open_rw(copy, wait_s=60.0)) as con:
                if migrations.schema_version(con) == 0:
                    return set()
                have = {int(r[0]) for r in con.execute("SELECT run_id FROM etl_runs").fetchall()}
        self._have[copy] = have
        return have

    def _published_version(self) -> int:
        with self.wh.read() as con:
            return migrations.schema_version(con)

    def _clone(self, src: Path, dst: Path) -> None:
        tmp = dst.with_suffix(".clone.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)

    def _point_to(self, copy: Path) -> None:
        tmp = self.wh.path.with_name(self.wh.path.name + ".link.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(f"{self.wh.home.name}/{copy.name}", tmp)
        os.replace(tmp, self.wh.path)
        dir_fd = os.open(self.wh.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
