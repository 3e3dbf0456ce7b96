"""One ETL run over a set of files: the same code path for `onewindow load`, the inbox job and
the demo. Stages every file into a delta, then publishes it to the warehouse atomically.

Every input row ends up loaded, reported as a duplicate, or quarantined with its reason, and
the counts per file are kept in the run history (etl_run_files).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import polars as pl

from etl import pii, scores
from etl import reforms as registry
from etl.apply import apply_delta
from etl.canonical import LOAD_ORDER
from etl.filewise import FileRows
from etl.profile import Profile
from etl.progress import Progress
from etl.readers import ROW, UnreadableFile, read_source
from etl.scanahead import ScanAhead
from etl.stage import Delta
from etl.transform import map_rows
from etl.xlsx_guard import ExcelLimits
from metrics.calendar import WorkCalendar
from onewindow.audit import AuditTrail
from onewindow.config import Etl as EtlSettings
from onewindow.config import Plausibility
from onewindow.private import private_dir, write_private
from onewindow.store import store_path
from warehouse import Resources, Warehouse, WarehouseDamaged, WarehouseError, Writer
from warehouse.errors import plain

DEFAULT_SECRET_ENV = "ONEWINDOW_SECRET"

log = logging.getLogger("onewindow.etl")


class LoadError(Exception):
    """The run failed as a whole; it is recorded in the run history with this message."""


@dataclass(frozen=True)
class FileOutcome:
    path: str
    table: str
    status: str  # loaded, unchanged, failed
    rows_read: int
    loaded: int
    duplicates: int
    quarantined: int
    error: str | None


@dataclass(frozen=True)
class RunResult:
    run_id: int
    status: str  # ok, partial, failed
    files: list[FileOutcome]
    # Steps after the run's data was committed that failed (derived tables not refreshed,
    # the second copy not updated): the run is published but not complete.
    problems: tuple[str, ...] = ()

    @property
    def published(self) -> bool:
        return self.status != "failed"

    @property
    def complete(self) -> bool:
        """Published, every file loaded and every step after publishing done."""
        return self.status == "ok" and not self.problems

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]


_LONG_NUMBERS = re.compile(r"\d[\d\s-]{5,}[\dXx]")


def redact(message: str) -> str:
    """Library messages may quote a cell (a header-less export puts a row in the header):
    mask personal numbers, and any other digit run that could be one."""
    return _LONG_NUMBERS.sub("[redacted]", pii.mask_text(message))[:500]


def _hashed(path: Path) -> tuple[str, int]:
    """The file's sha256 and the number of bytes it was made of."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def pseudonym_secret(wh: Warehouse, configured: bytes | None) -> bytes | None:
    """The configured secret, else the environment's `ONEWINDOW_SECRET`; None when neither is
    set. It is never generated into the data folder: a backup would carry key and hashes
    together, and an ID number is found from its hash by trying one county's birth dates."""
    if configured:
        return configured
    if (wh.home / "secret.key").exists():
        raise LoadError(
            f"{wh.home / 'secret.key'} holds the pseudonymization secret inside the data folder: "
            "move it out (e.g. /etc/onewindow/pseudonym.key, readable by the service only) and "
            "set privacy.secret_file or ONEWINDOW_SECRET to it (docs/security.md)"
        )
    value = os.environ.get(DEFAULT_SECRET_ENV)
    return value.encode() if value else None


NO_SECRET = (
    "profile {profile!r} maps applicant_id, and no pseudonymization secret is configured: set "
    "the environment variable ONEWINDOW_SECRET or privacy.secret_file (a file outside the data "
    "folder); docs/security.md says how to keep and rotate it"
)


@dataclass(frozen=True)
class KnownFile:
    file_id: int
    status: str  # of its last read
    rows_read: int
    quarantined: int
    profile_hash: str | None

    def reusable(self, profile: Profile) -> bool:
        """Loaded cleanly with the same profile: reading it again could change nothing."""
        return (
            self.status in ("loaded", "unchanged")
            and self.quarantined == 0
            and self.profile_hash == profile.fingerprint()
        )


def _known_files(wh: Warehouse, hashes: list[str]) -> dict[str, KnownFile]:
    """sha256 -> what the last successful read of those bytes gave."""
    if not wh.exists() or not hashes:
        return {}
    with wh.read() as con:
        rows = con.execute(
            """SELECT f.sha256, f.file_id, arg_max(r.status, r.run_id),
                arg_max(r.rows_read, r.run_id), arg_max(r.quarantined, r.run_id),
                arg_max(r.profile_hash, r.run_id)
            FROM etl_files f LEFT JOIN etl_run_files r
                ON r.file_id = f.file_id AND r.status <> 'failed'
            WHERE f.sha256 IN (SELECT unnest(?))
            GROUP BY ALL""",
            [hashes],
        ).fetchall()
    return {
        r[0]: KnownFile(int(r[1]), str(r[2]), int(r[3] or 0), int(r[4] or 0), r[5]) for r in rows
    }


CHANGED = (
    "the file changed while the run read it (is it still being written?); load it again "
    "once it is complete"
)


class _Files:
    """Which file of the run is which: its id and whether its bytes are new.

    The files are hashed in load order by a thread of their own (hashlib works without
    Python's lock): the next file's hash is made while this one is read. A file of a size
    that no file had, in the warehouse or earlier in the run, holds new bytes whatever its
    hash: it is read at once, and its hash is waited for when it is recorded. A file of a
    known size waits for its hash, which tells whether the same bytes were read before."""

    def __init__(
        self,
        wh: Warehouse,
        paths: Sequence[Path],
        next_file_id: int,
        hasher: ThreadPoolExecutor,
    ) -> None:
        self.wh = wh
        self.pending = {path: hasher.submit(_hashed, path) for path in paths}
        self.known: dict[str, KnownFile] = {}
        self.assigned: dict[str, int] = {}  # sha256 -> id, of the files new in this run
        self.ids = itertools.count(next_file_id)
        self.unhashed: dict[Path, int] = {}  # new by size: id, until their hash is known
        self.sizes: set[int] = set()  # of the files read before, and of the run's
        if wh.exists():
            with wh.read() as con:
                rows = con.execute("SELECT DISTINCT size_bytes FROM etl_files").fetchall()
            self.sizes = {int(r[0]) for r in rows}

    def hash(self, path: Path) -> str:
        return self.pending[path].result()[0]

    def identify(self, path: Path, size: int) -> tuple[str | None, int, bool]:
        """(sha256, or None when it is not waited for; file id; whether the bytes are new)."""
        if size not in self.sizes:
            self.sizes.add(size)
            self.unhashed[path] = next(self.ids)
            return None, self.unhashed[path], True
        sha = self.hash(path)
        return (sha, *self._by_hash(sha))

    def _by_hash(self, sha: str) -> tuple[int, bool]:
        for path, file_id in self.unhashed.items():
            self.assigned.setdefault(self.hash(path), file_id)
        self.unhashed.clear()
        if sha not in self.known and sha not in self.assigned:
            self.known.update(_known_files(self.wh, [sha]))
        if sha in self.known:
            return self.known[sha].file_id, False
        if sha not in self.assigned:
            self.assigned[sha] = next(self.ids)
            return self.assigned[sha], True
        return self.assigned[sha], False

    def changed(self, path: Path, size: int) -> bool:
        """Whether the bytes hashed were not the `size` the file had when the run came to
        it, or it has another size now: it is being written."""
        try:
            now = path.stat().st_size
        except OSError:
            return True
        return self.pending[path].result()[1] != size or now != size

    def record(
        self,
        delta: Delta,
        path: Path,
        size: int,
        file_id: int,
        is_new: bool,
        *args: Any,
        **kwargs: Any,
    ) -> int:
        """Records the file's outcome (Delta.add_file) under its hash. A file new by its size
        whose hash is of other bytes (it changed meanwhile) takes the id of the bytes hashed,
        as these may be known."""
        if path in self.unhashed and self.changed(path, size):
            del self.unhashed[path]
            file_id, is_new = self._by_hash(self.hash(path))
        return delta.add_file(file_id, self.hash(path), size, is_new, path, *args, **kwargs)


def load_files(
    wh: Warehouse,
    items: Sequence[tuple[Path, Profile]],
    calendar: WorkCalendar,
    *,
    job: str = "load",
    secret: bytes | None = None,
    lock_timeout_s: float = 3600.0,
    progress: Progress | None = None,
    reforms: registry.Update | None = None,
    settings: EtlSettings | None = None,
    plausibility: Plausibility | None = None,
    score: bool = True,
) -> RunResult:
    """Loads the files, each with its profile, as one atomic run. The derived tables are
    refreshed with `calendar`, always the center's (WorkCalendar.from_config of its config):
    a run refreshed with another would serve figures of another calendar. With `reforms`,
    the run also changes the reform registry (etl/reforms.py). `settings` (the config's
    `[etl]`) bounds DuckDB's memory and threads and the size of a workbook. Implausible times
    are held back by `plausibility` (the config's [plausibility]; default: its defaults).
    `score`: store the open applications' early-warning scores of what the run published
    (etl/scores.py); the nightly job stores them once, after its retrain, instead.

    Returns the outcome of a published run (`RunResult.complete` tells whether every step
    after publishing succeeded too); raises LoadError when the run was not published, after
    recording it in the run history as `failed` with the step and the reason."""
    progress = progress or Progress(total_files=len(items))
    secret = pseudonym_secret(wh, secret)
    for _, profile in items:
        if secret is None and any("applicant_id" in t.columns for t in profile.tables.values()):
            raise LoadError(NO_SECRET.format(profile=profile.name))
    findings: list[tuple[str, pii.Finding]] = []
    settings = settings or EtlSettings()
    resources = Resources(settings.memory_limit, settings.threads)
    excel = ExcelLimits(
        settings.excel_max_uncompressed_mb, settings.excel_max_ratio, settings.excel_whole_sheet_mb
    )
    applier = functools.partial(apply_delta, step=progress.doing)
    rules = plausibility or Plausibility()
    profiles = ", ".join(sorted({p.name for _, p in items})) or None
    ordered = sorted(items, key=_order)
    # The first passes over the run's CSV files begin now: the first file's in a thread while
    # the run opens the warehouse, the later big ones' in a child process (etl/scanahead.py).
    tables = [(path, profile.table_for(path, strict=False), profile) for path, profile in ordered]
    ahead = ScanAhead(
        [(p, prof.tables[t]) for p, t, prof in tables if t is not None]  # type: ignore[index]
    )
    with (
        contextlib.closing(ahead),
        wh.writer(applier, lock_timeout_s, resources, recover=False) as writer,
    ):
        try:
            writer.recover()
        except WarehouseDamaged as exc:  # no intact copy: nothing can be recorded
            raise LoadError(f"the run could not start: {exc}") from exc
        except Exception as exc:
            try:
                run_id = writer.next_ids()[0]
            except Exception:
                raise LoadError(f"the run could not start: {plain(exc)}") from exc
            _fail(writer, wh, run_id, job, profiles, "bringing the warehouse up to date", exc)
        _record_repairs(writer)
        run_id, next_file_id = writer.next_ids()
        delta: Delta | None = None
        try:
            delta = Delta(
                writer.delta_path(run_id), run_id, job, profiles, calendar.to_json(), rules
            )
            writer.configure(delta.con, "stage")
            _stage(
                wh,
                delta,
                ordered,
                next_file_id,
                secret,
                progress,
                excel,
                rules,
                findings,
                resources,
                ahead,
            )
            if reforms is not None:
                registry.stage(delta.con, reforms)
            path = delta.finish("ok", None)
        except Exception as exc:
            if delta is not None:
                delta.discard()
            _fail(writer, wh, run_id, job, profiles, "staging", exc)
        progress.doing("publishing the run")
        try:
            writer.publish(path)
        except Exception as exc:
            if writer.holds(run_id):  # in the standby, not yet published: rolled forward
                writer.note(run_id, f"not published at once: {plain(exc)}; the next run did")
                raise LoadError(
                    f"run {run_id} was not published yet: {plain(exc)}; the next run publishes it"
                ) from exc
            path.unlink(missing_ok=True)  # no copy has it: it never happened
            _fail(writer, wh, run_id, job, profiles, "applying", exc)
        _record_repairs(writer)
        if score:
            scores.after_run(writer, calendar)  # early-warning scores of what it published
        problems = tuple(writer.problems)
    pii.record_findings(wh, run_id, findings)
    result = run_outcome(wh, run_id, problems)
    _audit_load(wh, job, result)
    progress.finish(result)
    return result


def _fail(
    writer: Writer,
    wh: Warehouse,
    run_id: int,
    job: str,
    profiles: str | None,
    step: str,
    exc: BaseException,
) -> NoReturn:
    """Records the run as failed at `step` (nothing else changes) and raises LoadError."""
    # Our own errors are plain sentences; a library's keeps its type (IOException: …).
    kind = "" if isinstance(exc, WarehouseError) else f"{type(exc).__name__}: "
    reason = redact(f"{step}: {kind}{plain(exc)}")
    kept = _record(writer, run_id, job, profiles, "failed", reason)
    _audit_load(wh, job, RunResult(run_id, "failed", []))
    raise LoadError(f"run {run_id} failed while {reason}{kept}") from exc


def _record(
    writer: Writer, run_id: int, job: str, profiles: str | None, status: str, error: str
) -> str:
    """Publishes a history entry without data. When even that cannot be written (the disk
    is full, a copy is read-only) the entry stays pending: the next run that can write
    records it. Returns "" or a note saying so."""
    path = writer.delta_path(run_id)
    try:
        for leftover in (path, path.with_name(path.name + ".tmp")):
            leftover.unlink(missing_ok=True)
        path = Delta(path, run_id, job, profiles, None).finish(status, error)
        writer.publish(path)
    except Exception as exc:
        log.error("run %s could not be recorded in the history yet: %s", run_id, plain(exc))
        if path.exists():
            return f" (the history entry is kept and recorded by the next run: {plain(exc)})"
        return f" (no history entry could be written: {plain(exc)})"
    return ""


def _record_repairs(writer: Writer) -> None:
    """Copies rebuilt in this session become one `repair` entry in the run history."""
    if not writer.repairs:
        return
    repairs = "; ".join(writer.repairs)
    writer.repairs.clear()
    run_id = writer.next_ids()[0]
    _record(writer, run_id, "repair", None, "ok", repairs)


def _audit_load(wh: Warehouse, job: str, result: RunResult) -> None:
    """Every ETL run is in the audit trail: which job, as which operating-system user, which
    files (names only), with what result."""
    import getpass

    AuditTrail(store_path(wh.home)).record(
        f"{job}:{getpass.getuser()}",
        "load",
        f"run {result.run_id}",
        "ok" if result.status == "ok" else "failed",
        status=result.status,
        files=[Path(f.path).name for f in result.files],
        loaded=sum(f.loaded for f in result.files),
    )


def _order(item: tuple[Path, Profile]) -> tuple[int, str]:
    table = item[1].table_for(item[0], strict=False)
    return (LOAD_ORDER.index(table) if table else -1, str(item[0]))


def _stage(
    wh: Warehouse,
    delta: Delta,
    ordered: Sequence[tuple[Path, Profile]],
    next_file_id: int,
    secret: bytes | None,
    progress: Progress,
    excel: ExcelLimits,
    rules: Plausibility,
    findings: list[tuple[str, pii.Finding]],
    resources: Resources,
    ahead: ScanAhead,
) -> None:
    """Stages the files, in load order (`_order`), into the delta."""
    read_in_run: dict[str, int] = {}  # sha256 -> rows read by its first copy in this run
    with contextlib.ExitStack() as stack:
        hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onewindow-hash")
        stack.callback(hasher.shutdown, cancel_futures=True)
        files = _Files(wh, [path for path, _ in ordered], next_file_id, hasher)
        # Decoded copies of inputs live here; a writer's recovery removes what a killed run
        # left.
        scratch = stack.enter_context(tempfile.TemporaryDirectory(dir=wh.deltas, prefix="scratch-"))
        for path, profile in ordered:
            size = path.stat().st_size
            sha, file_id, is_new = files.identify(path, size)
            table = profile.table_for(path, strict=False)
            record = functools.partial(
                files.record, delta, path, size, file_id, is_new, table or "?", profile
            )
            if sha is not None and files.changed(path, size):
                record("failed", 0, CHANGED)
                progress.file_done(path, 0)
                continue
            if table is None:
                record("failed", 0, f"no table of profile {profile.name!r} matches this file name")
                progress.file_done(path, 0)
                continue
            previous = files.known.get(sha) if sha else None
            if sha and sha in read_in_run:  # the same bytes earlier in this run
                record("unchanged", read_in_run[sha])
                progress.file_done(path, read_in_run[sha])
                continue
            if previous is not None and previous.reusable(profile):
                # Loaded before with this profile and nothing quarantined: nothing to read.
                record("unchanged", previous.rows_read)
                progress.file_done(path, previous.rows_read)
                continue
            src = profile.tables[table]  # type: ignore[index]
            progress.doing(f"reading {path.name}")
            scrubber = pii.Scrubber(secret)
            staged: FileRows | None = None
            try:  # a failure of this file's own staging (memory, spill) fails this file alone
                staged = FileRows(delta.con, table, src, scrubber.rows, scrubber.quarantine)
                source = read_source(path, src, Path(scratch), excel, resources, ahead)
                mapped = map_rows(
                    source, table, src, profile, secret, rules, staged.add, staged.add_bad
                )
                progress.doing(f"checking {path.name} as a whole")
                ruled = staged.rule(mapped.rows)
                quarantine = scrubber.quarantine(
                    pl.concat([mapped.quarantine, ruled.quarantine]).sort(ROW)
                )
                conflicts = scrubber.conflicts(ruled.conflicts)
            except UnreadableFile as exc:
                if staged is not None:
                    staged.drop()
                record("failed", 0, redact(str(exc)))
                progress.file_done(path, 0)
                continue
            except Exception as exc:  # any other surprise fails this file, not the run
                if staged is not None:
                    staged.drop()
                record(
                    "failed",
                    0,
                    redact(f"unexpected error reading the file ({type(exc).__name__}: {exc})"),
                )
                log.warning("%s failed with %s", path, type(exc).__name__)
                progress.file_done(path, 0)
                continue
            if files.changed(path, size):
                staged.drop()
                record("failed", 0, CHANGED)
                progress.file_done(path, 0)
                continue
            findings += [(str(path), f) for f in scrubber.findings()]
            ord_ = record(
                "loaded", source.rows_read, repeated=ruled.repeated, cleaned=source.cleaned
            )
            read_in_run[files.hash(path)] = source.rows_read
            progress.doing(f"staging {path.name}")
            staged.store(file_id, ord_, profile)
            staged.drop()
            delta.add_quarantine(file_id, ord_, quarantine)
            if conflicts.height:
                delta.add_conflicts(file_id, ord_, conflicts)
            progress.file_done(path, source.rows_read)


def run_outcome(wh: Warehouse, run_id: int, problems: tuple[str, ...] = ()) -> RunResult:
    with wh.read() as con:
        found = con.execute("SELECT status FROM etl_runs WHERE run_id = ?", [run_id]).fetchall()
        rows = con.execute(
            """SELECT path, table_name, status, rows_read, loaded, duplicates, quarantined, error
            FROM etl_run_files WHERE run_id = ? ORDER BY path""",
            [run_id],
        ).fetchall()
    files = [FileOutcome(*r) for r in rows]
    return RunResult(run_id, str(found[0][0]) if found else "failed", files, problems)


def export_quarantine(wh: Warehouse, result: RunResult, folder: Path) -> list[Path]:
    """Writes each file's quarantined rows of this run to FOLDER/runN-NAME.quarantine.csv."""
    written = []
    with wh.read() as con:
        for f in result.files:
            if not f.quarantined:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"run{result.run_id:06d}-{Path(f.path).name}.quarantine.csv"
            con.sql(
                """SELECT row_number AS row, field, reason, raw::VARCHAR AS raw_values
                FROM quarantine WHERE run_id = ? AND path = ? ORDER BY row_number""",
                params=[result.run_id, f.path],
            ).pl().write_csv(target)
            written.append(target)
    return written


def move_files(
    result: RunResult,
    archive: Path,
    failed: Path,
    profiles: dict[str, Profile] | None = None,
    keep: str = "without_personal",
    key: bytes | None = None,
) -> None:
    """Inbox housekeeping after a published run. A loaded file goes to the archive without
    its personal columns (`keep` "without_personal": its profile from `profiles`, keyed by path;
    personal numbers masked with `key`, as in the warehouse) or not at all ("none"); the input
    itself leaves the inbox. An unreadable file leaves its reason in the failed folder; the
    file is kept there only when its profile declares no personal column (it cannot be read,
    so they cannot be taken out)."""
    profiles = profiles or {}
    for f in result.files:
        src = Path(f.path)
        if not src.exists():
            continue
        profile = profiles.get(f.path)
        name = f"run{result.run_id:06d}-{src.name}"
        if f.status == "failed":
            private_dir(failed)
            reason = redact(f.error or "")
            if _declares_personal(profile, src):
                src.unlink()
                reason = f"{reason}\n{pii.NOT_KEPT}"
            else:
                shutil.move(str(src), failed / name)
            write_private(failed / f"{name}.reason.txt", f"{reason}\n".encode())
        elif keep == "none" or profile is None:
            src.unlink()
        else:
            pii.archive_copy(src, profile, archive / name, key)
            src.unlink()


def _declares_personal(profile: Profile | None, path: Path) -> bool:
    table = profile.table_for(path, strict=False) if profile is not None else None
    if profile is None or table is None:
        return True  # unknown: assume it may
    return bool(profile.tables[table].hidden_columns())  # type: ignore[index]
