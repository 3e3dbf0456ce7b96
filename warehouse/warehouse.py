"""The one class that owns warehouse files and connections.

On disk a warehouse at PATH (e.g. data/warehouse.duckdb) is:

    PATH                      symlink to the published copy: PATH.d/a.duckdb or PATH.d/b.duckdb
    PATH.d/a.duckdb, b.duckdb two full copies; readers only ever open the published one
    PATH.d/deltas/run-N.duckdb  a run's staged changes, kept until both copies have them
    PATH.d/etl.lock           held by the one process that writes
    PATH.d/copies.json        each copy's size when the writer last closed it (integrity.py)
    PATH.d/a.duckdb.damaged   left by a reader that found damage inside that copy

DuckDB lets one process write a file and nobody else open it meanwhile, so a writer never
touches the published copy: it applies a run to the other copy, then swaps the symlink
(an atomic rename), then brings the old copy up to date. Readers open short-lived read-only
connections and never wait for a run. A copy found damaged or read-only is read around
(readers take the other copy) and rebuilt from the other by the next writer. See
docs/architecture.md for the reasons.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse import integrity, migrations
from warehouse.errors import (
    CopyUnusable,
    FollowUpFailed,
    WarehouseBusy,
    WarehouseDamaged,
    WarehouseError,
    WarehouseMissing,
    plain,
    rollback,
)
from warehouse.integrity import Damage

log = logging.getLogger("onewindow.warehouse")

# Applies one staged delta file to an open read-write connection, in one transaction.
Applier = Callable[[duckdb.DuckDBPyConnection, Path], None]


@dataclass(frozen=True)
class Resources:
    """What one writing connection may use (config `[etl] memory_limit`, `threads`). Beyond
    the memory limit DuckDB spills to a folder of the warehouse's own, not to the system's
    temporary folder: the data stays under the warehouse's permissions."""

    memory_limit: str | None = None  # DuckDB size text, e.g. "1GB"; None: DuckDB's default
    threads: int | None = None  # None: one per core

    def configure(self, con: duckdb.DuckDBPyConnection, spill: Path | None) -> None:
        """`spill` None: the connection never writes temporary files (it holds raw input)."""
        if spill is None:
            con.execute("SET temp_directory = ''")
        else:
            spill.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(spill, 0o700)  # whatever the umask: spilled rows hold personal columns
            con.execute("SET temp_directory = $dir", {"dir": str(spill)})
        if self.memory_limit is not None:
            con.execute("SET memory_limit = $limit", {"limit": self.memory_limit})
        if self.threads is not None:
            con.execute("SET threads = $n", {"n": self.threads})


# When a copy lacks runs the other, published copy holds (the old copy after a swap), it is
# either caught up (each run applied again: CPU grows with the run's rows, disk writes too)
# or replaced by a copy of the published file (disk reads and writes of the whole warehouse,
# hardly any CPU). Measured on the 2-core VM (BENCHMARKS.md, issue 11): applying a run costs
# 2.5 to 6 µs of CPU per staged row, the derived tables included (1M receipt events: 2.5 s a
# copy; the 2M demo, 2.7M staged rows: 16 s); copying a warehouse file with its fsync about
# 1.4 ms per MB (1M events: a 32.5 MB copy, 45 ms). A copy is cloned when it is at most
# CLONE_BYTES_PER_ROW bytes per staged row it lacks (600: 3 µs at a disk as slow as
# 200 MB/s) and the runs stage at least CLONE_MIN_ROWS rows: below that a catch-up takes a
# fraction of a second anyway, and an inbox run every few minutes must not rewrite the whole
# warehouse each time.
CLONE_BYTES_PER_ROW = 600
CLONE_MIN_ROWS = 100_000

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


_QUOTED_FILE = re.compile(r"""["']([^"']+\.duckdb[^"']*)["']""")


def _damage_of(copy: Path, exc: BaseException) -> Damage | None:
    """What a DuckDB error met on `copy` says about the copy itself (not about a delta)."""
    named = _QUOTED_FILE.findall(str(exc))
    if named and not any(Path(n).name.startswith(copy.name) for n in named):
        return None  # the error is about another file, e.g. the run's delta
    message = plain(exc)
    if integrity.is_damage(message):
        return integrity.inspect(copy) or Damage("failed_read", detail=message)
    if integrity.is_read_only(message):
        return Damage("read_only", detail=message)
    return None


@dataclass(frozen=True)
class CopyHealth:
    name: str  # "a" or "b"
    published: bool
    damage: Damage | None


class Warehouse:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.home = self.path.with_name(self.path.name + ".d")
        self.deltas = self.home / "deltas"
        self.lock_path = self.home / "etl.lock"
        self.spill = self.home / "spill"  # DuckDB's temporary files of the writer's connections

    # ----- reading -------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.is_symlink() and any((self.home / n).exists() for n in COPY_NAMES)

    def published(self) -> Path:
        return self.home / os.readlink(self.path).split("/")[-1]

    def other(self, copy: Path) -> Path:
        a, b = (self.home / n for n in COPY_NAMES)
        return b if copy == a else a

    def health(self) -> list[CopyHealth]:
        """Each copy and what is wrong with it, if anything (a look at its headers)."""
        published = self.published()
        return [
            CopyHealth(p.stem, p == published, integrity.inspect(p))
            for p in (self.home / n for n in COPY_NAMES)
        ]

    def reading_copy(self) -> Path:
        """The published copy when it is whole, else the other one: readers go on while a
        damaged copy waits for the next run to rebuild it."""
        published = self.published()
        damage = integrity.inspect(published)
        if damage is None:
            return published
        other = self.other(published)
        if integrity.inspect(other) is None:
            log.warning(
                "copy %s is %s; reading copy %s until a run rebuilds it",
                published.stem,
                damage.describe(),
                other.stem,
            )
            return other
        raise WarehouseDamaged(
            "both copies of the warehouse are damaged; restore the warehouse folder from a "
            "backup (docs/architecture.md, 'Damaged copies')"
        )

    @contextlib.contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived read-only connection on the published copy."""
        if not self.exists():
            raise WarehouseMissing(
                f"no warehouse at {self.path}: run `onewindow demo` or `onewindow load` first"
            )
        deadline = time.monotonic() + READ_RETRY_S
        while True:
            copy = self.reading_copy()
            try:
                con = _connect(copy, read_only=True)
                break
            except duckdb.Error as exc:
                if integrity.is_damage(str(exc)):
                    integrity.note_damage(copy, plain(exc))
                    if integrity.inspect(copy) is None:  # no marker could be left
                        raise self._damaged_while_reading() from None
                    continue  # reading_copy() now takes the other copy
                # Only a reader that resolved the link just before a swap meets the writer
                # on the old copy; the link already points elsewhere, so retry at once.
                if not _is_lock_conflict(exc):
                    raise
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        "the warehouse is being updated or repaired; try again in a minute"
                    ) from None
                time.sleep(0.01)
        try:
            migrations.check_not_newer(migrations.schema_version(con), str(self.path))
            yield con
        except duckdb.Error as exc:
            if not integrity.is_damage(str(exc)):
                raise
            # A block that fails DuckDB's checksum: later readers take the other copy.
            integrity.note_damage(copy, plain(exc))
            raise self._damaged_while_reading() from None
        finally:
            con.close()

    @staticmethod
    def _damaged_while_reading() -> CopyUnusable:
        return CopyUnusable(
            "a copy of the warehouse turned out to be damaged while reading it; try again: "
            "the other copy is read now, and the next run rebuilds the damaged one"
        )

    # ----- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(
        self,
        applier: Applier,
        lock_timeout_s: float = 3600.0,
        resources: Resources | None = None,
        *,
        recover: bool = True,
    ) -> Iterator[Writer]:
        """Exclusive write access across processes: an flock on PATH.d/etl.lock. The writer
        has recovered (Writer.recover) unless `recover` is false: then the caller must call
        it, and can record its failure."""
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
                if recover:
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
        # Copies rebuilt in this session, one sentence each (for the run history).
        self.repairs: list[str] = []
        # Steps after a run's data was committed that failed (derived tables, the second
        # copy): the run is published, but not complete. One sentence each.
        self.problems: list[str] = []

    def _copies(self) -> tuple[Path, Path]:
        a, b = (self.wh.home / n for n in COPY_NAMES)
        return a, b

    def standby(self) -> Path:
        a, b = self._copies()
        return b if self.wh.published() == a else a

    def recover(self) -> None:
        """Brings the files to a state where both copies hold every run, at the latest schema;
        a damaged or read-only copy is rebuilt from the other first."""
        self.wh.deltas.mkdir(parents=True, exist_ok=True)
        a, b = self._copies()
        if not self.wh.path.is_symlink():
            if self.wh.path.exists():  # a plain DuckDB file: adopt it as copy a
                shutil.move(str(self.wh.path), a)
            if not a.exists():
                with contextlib.closing(_connect(a, read_only=False)) as con:
                    migrations.migrate(con, str(self.wh.path))
                    con.execute("CHECKPOINT")
            integrity.record(a)
            self._clone(a, b)
            self._point_to(a)
        # What a killed run left behind before its delta was complete: it never happened.
        for tmp in [*self.wh.deltas.glob("*.tmp"), *self.wh.deltas.glob("*.tmp.wal")]:
            tmp.unlink()
        for scratch in self.wh.deltas.glob("scratch-*"):
            shutil.rmtree(scratch, ignore_errors=True)  # may hold decoded copies of inputs
        shutil.rmtree(self.wh.spill, ignore_errors=True)  # spilled by a killed writer
        for clone in self.wh.home.glob("*.clone.tmp"):
            clone.unlink()  # a rebuild that was killed
        self._repair()
        published, standby = self.wh.published(), self.standby()
        # Complete deltas the standby lacks (a run killed before or after its commit there,
        # or a standby that was busy) are applied now, and then published: roll forward.
        self._catch_up(standby, wait_s=60.0)
        if self._runs(standby) - self._runs(published) or (
            self._published_version() < migrations.LATEST
        ):
            self._point_to(standby)
            self._update_old(published)

    def _repair(self) -> None:
        """Rebuilds a damaged copy from the other. When the published copy is the damaged
        one, readers already read the standby (Warehouse.reading_copy): it is brought up to
        date and published first. A read-only standby is rewritten as a writable file; a
        read-only published copy is left to the step after the swap (it is not written
        before)."""
        published, standby = self.wh.published(), self.standby()
        on_published = integrity.inspect(published)
        on_standby = integrity.inspect(standby, writable=True) or self._failed_open(standby)
        if on_published is None and on_standby is None:
            return
        if on_published is not None and not (on_standby is None or on_standby.readable):
            raise WarehouseDamaged(
                f"both copies of the warehouse are damaged (copy {published.stem}: "
                f"{on_published.describe()}; copy {standby.stem}: {on_standby.describe()}); "
                "restore the warehouse folder from a backup"
            )
        if on_published is None:
            assert on_standby is not None
            self._rebuild(standby, published, on_standby)
            return
        if on_standby is not None:  # read-only, contents intact: rewrite it from itself
            self._rebuild(standby, standby, on_standby)
        self._have[published] = set()  # unknown: no delta may be dropped meanwhile
        self._catch_up(standby, wait_s=60.0)
        self._point_to(standby)
        self._rebuild(published, standby, on_published)

    def _failed_open(self, copy: Path) -> Damage | None:
        """What only opening the standby for writing shows: a file the system will not let
        us write (an immutable file, a read-only mount, permissions root ignores)."""
        try:
            con = _connect(copy, read_only=False)
        except duckdb.Error as exc:
            if _is_lock_conflict(exc):
                return None  # a reader that fell back to it: not damage
            return _damage_of(copy, exc)
        con.close()
        return None

    def _rebuild(self, target: Path, source: Path, damage: Damage) -> None:
        """Replaces `target` with a copy of `source` (which is closed and checkpointed)."""
        try:
            self._clone(source, target)
        except OSError as exc:
            raise CopyUnusable(
                f"copy {target.stem} of the warehouse is {damage.describe()} and could not be "
                f"rebuilt ({plain(exc)}); make the warehouse folder and its "
                "files writable by the ETL's user"
            ) from None
        integrity.clear_marker(target)
        self._have.pop(target, None)
        self._migrated.discard(target)
        if target == source:
            text = f"copy {target.stem} was {damage.describe()}; rewritten as a writable file"
        else:
            text = f"copy {target.stem} was {damage.describe()}; rebuilt from copy {source.stem}"
        log.warning("%s", text)
        self.repairs.append(text)

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
        """Applies a finished delta to the standby, swaps, then updates the other copy.

        Raises when the run is not published: nothing was applied (the standby rolled back)
        unless `holds()` says the standby has it (then the link could not be swapped and the
        next run publishes it). Failures after the swap are not raised but listed in
        `problems`: the run is published."""
        standby = self.standby()
        self._catch_up(standby, wait_s=60.0)  # includes `delta`
        old = self.wh.published()
        try:
            self._point_to(standby)
        except OSError as exc:
            raise WarehouseError(
                f"the published link could not be swapped to copy {standby.stem} ({plain(exc)})"
            ) from None
        self._update_old(old)

    def note(self, run_id: int, text: str) -> None:
        """Adds `text` to the run's history entry in the standby, the copy the next run
        publishes (after a failed swap). Best effort: the command says it anyway."""
        standby = self.standby()
        try:
            with contextlib.closing(self._open_rw(standby, wait_s=5.0)) as con:
                con.execute(
                    "UPDATE etl_runs SET error = concat_ws('; ', error, ?) WHERE run_id = ?",
                    [text, run_id],
                )
                con.execute("CHECKPOINT")
            integrity.record(standby)
        except (duckdb.Error, WarehouseError, OSError) as exc:
            log.warning("could not note on run %s: %s", run_id, plain(exc))

    def holds(self, run_id: int) -> bool:
        """Whether a copy holds the run (after a failed publish: was anything applied?)."""
        for copy in self._copies():
            self._have.pop(copy, None)
            try:
                if run_id in self._runs(copy):
                    return True
            except (duckdb.Error, WarehouseError):
                continue  # an unreadable copy holds nothing usable
        return False

    def rewrite(self, change: Callable[[duckdb.DuckDBPyConnection], object]) -> bool:
        """Makes a change that is not a run (the early-warning scores, etl/scores.py) in both
        copies, each in one transaction: the standby, brought up to date first, is changed
        and published, then the other copy. No run is recorded. A copy still read after 30 s,
        or that fails, keeps what it had: what `change` writes must name what it was computed
        from, for readers to tell (metrics/risk.py). Returns whether both copies have it."""
        standby = self.standby()
        self._catch_up(standby, wait_s=60.0)
        self._change(standby, change, wait_s=60.0)
        old = self.wh.published()
        self._point_to(standby)
        try:
            self._catch_up(old, wait_s=30.0)
            self._change(old, change, wait_s=30.0)
        except (duckdb.Error, WarehouseError, OSError) as exc:
            log.warning("copy %s keeps its previous scores (%s)", old.stem, plain(exc))
            return False
        return True

    # ----- internals -----------------------------------------------------------------------

    def _change(
        self, copy: Path, change: Callable[[duckdb.DuckDBPyConnection], object], wait_s: float
    ) -> None:
        with contextlib.closing(self._open_rw(copy, wait_s)) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                change(con)
            except BaseException:
                rollback(con)
                raise
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        integrity.record(copy)

    def _update_old(self, old: Path) -> None:
        """After a swap: the old copy gets what it lacks. The run is published whatever
        happens here; a copy left behind is caught up by the next run."""
        try:
            self._catch_up(old, wait_s=30.0)
        except (duckdb.Error, WarehouseError, OSError) as exc:
            text = f"copy {old.stem} was not updated ({plain(exc)}); the next run updates it"
            log.warning("%s", text)
            self.problems.append(text)

    def _deltas(self) -> dict[int, Path]:
        return {int(d.stem.split("-")[1]): d for d in self.wh.deltas.glob("run-*.duckdb")}

    def _catch_up(self, copy: Path, wait_s: float, *, retry: bool = True) -> None:
        """Migrates `copy` and applies every delta it lacks; a busy copy is left for later. A
        copy found damaged or read-only on the way is rebuilt from the other, once."""
        known = self._have.get(copy)
        if known is not None and copy in self._migrated and set(self._deltas()) <= known:
            return
        try:
            if self._cheaper_to_clone(copy):
                try:
                    self._clone_other(copy)
                    return
                except OSError as exc:  # e.g. the disk filled up meanwhile: apply instead
                    log.warning("copy %s could not be copied (%s); applying", copy.stem, exc)
            self._apply_missing(copy, wait_s)
        except WarehouseBusy:
            if copy == self.standby():
                raise
            return  # the old copy is still being read; the next run brings it up to date
        except duckdb.Error as exc:
            damage = _damage_of(copy, exc)
            if damage is None or not retry:
                raise
            source = self.wh.other(copy)
            if integrity.inspect(source) is not None:
                raise
            self._rebuild(copy, source, damage)
            self._catch_up(copy, wait_s, retry=False)
            return
        self._migrated.add(copy)
        self._prune_deltas()

    def _cheaper_to_clone(self, copy: Path) -> bool:
        """Whether `copy` is better replaced by a copy of the other one than caught up: the
        other (not `copy`) is published, whole, migrated and holds every pending run, and
        copying its file costs less than applying the staged rows `copy` lacks (CLONE_*)."""
        source = self.wh.other(copy)
        have, deltas = self._have.get(copy), self._deltas()
        if (
            have is None
            or copy == self.wh.published()
            or source not in self._migrated
            or not set(deltas) <= self._have.get(source, set())
            or integrity.inspect(source) is not None
        ):
            return False
        rows = sum(_staged_rows(d) for run_id, d in deltas.items() if run_id not in have)
        size = source.stat().st_size
        if rows < CLONE_MIN_ROWS or size > rows * CLONE_BYTES_PER_ROW:
            return False
        return shutil.disk_usage(copy.parent).free > 2 * size  # room for the third file

    def _clone_other(self, copy: Path) -> None:
        """Replaces `copy` by a copy of the other, published one (see _cheaper_to_clone).
        Readers still holding `copy` keep reading its old file (a new file is renamed over
        it); a kill leaves `copy` as it was, caught up by the next writer."""
        source = self.wh.other(copy)
        self._clone(source, copy)
        integrity.clear_marker(copy)
        self._have[copy] = set(self._have[source])
        self._migrated.add(copy)
        log.info("copy %s: copied from copy %s, not caught up run by run", copy.stem, source.stem)
        self._prune_deltas()

    def _apply_missing(self, copy: Path, wait_s: float) -> None:
        con = self._open_rw(copy, wait_s)
        with contextlib.closing(con):
            migrations.migrate(con, str(copy))
            have = {int(r[0]) for r in con.execute("SELECT run_id FROM etl_runs").fetchall()}
            self._have[copy] = have  # kept current delta by delta: holds() reads it
            applied = []
            for run_id, delta in sorted(self._deltas().items()):
                if run_id not in have:
                    try:
                        self.applier(con, delta)
                    except FollowUpFailed as exc:  # the run's data is committed
                        text = f"run {run_id}, copy {copy.stem}: {exc}"
                        log.warning("%s", text)
                        self.problems.append(text)
                    have.add(run_id)
                    applied.append(run_id)
            self._take_notes(con, self.wh.other(copy), applied)
            con.execute("CHECKPOINT")
        integrity.record(copy)

    def _take_notes(self, con: duckdb.DuckDBPyConnection, other: Path, runs: list[int]) -> None:
        """A run's history entry can gain a note on the copy that got it first (derived
        tables not refreshed, a swap that failed): the copy catching up takes it, so both
        copies tell the same history."""
        if not runs or integrity.inspect(other) is not None:
            return
        try:
            with contextlib.closing(_connect(other, read_only=True)) as ro:
                notes = ro.execute(
                    """SELECT run_id, status, error FROM etl_runs
                    WHERE run_id IN (SELECT unnest(?)) AND error IS NOT NULL""",
                    [runs],
                ).fetchall()
        except duckdb.Error:
            return  # busy or unreadable: its notes stay where they are
        for run_id, status, error in notes:
            con.execute(
                "UPDATE etl_runs SET status = ?, error = ? WHERE run_id = ? AND error IS NULL",
                [status, error, run_id],
            )

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
                        f"copy {copy.stem} stayed open by a reader for {wait_s:.0f} s"
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
        if copy == self.wh.published():  # readers may hold it: open it as they do
            with contextlib.closing(_connect(copy, read_only=True)) as ro:
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
        """Replaces `dst` by a copy of `src` (closed and checkpointed): written beside it,
        flushed to disk, then renamed over it, so `dst` is at every moment one whole file."""
        tmp = dst.with_name(dst.stem + ".clone.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # owner only
            shutil.copyfile(src, tmp)  # into the file just made: its mode stays
            _fsync(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        wal = dst.with_name(dst.name + ".wal")
        wal.unlink(missing_ok=True)  # a log of the old file must never replay onto the new
        os.replace(tmp, dst)
        _fsync(dst.parent)
        integrity.record(dst)
        src_wal = src.with_name(src.name + ".wal")
        if src != dst and src_wal.exists():  # changes a failed checkpoint left in the log
            shutil.copyfile(src_wal, wal)

    def _point_to(self, copy: Path) -> None:
        tmp = self.wh.path.with_name(self.wh.path.name + ".link.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(f"{self.wh.home.name}/{copy.name}", tmp)
        os.replace(tmp, self.wh.path)
        _fsync(self.wh.path.parent)


def generation(con: duckdb.DuckDBPyConnection) -> int:
    """The data a copy holds, as the last run that changed it: two copies with the same
    generation hold the same data (a failed run changes nothing but the history)."""
    row = con.execute(
        "SELECT coalesce(max(run_id), 0) FROM etl_runs WHERE status <> 'failed'"
    ).fetchall()
    return int(row[0][0])


def _fsync(path: Path) -> None:
    """Flushes a file, or a folder's entries (a rename in it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _staged_rows(delta: Path) -> int:
    """The rows a delta stages (its st_* tables, DuckDB's count); 0 when it cannot be read."""
    try:
        with contextlib.closing(duckdb.connect(str(delta), read_only=True)) as con:
            row = con.execute(
                """SELECT coalesce(sum(estimated_size), 0) FROM duckdb_tables()
                WHERE starts_with(table_name, 'st_')"""
            ).fetchall()[0]
    except duckdb.Error:
        return 0
    return int(row[0])
