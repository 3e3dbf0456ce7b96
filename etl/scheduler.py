"""`onewindow schedule`: the inbox and maintenance jobs under APScheduler 3.x.

One run at a time across processes is the warehouse's file lock (a second scheduler or a
manual `onewindow load` waits for it), not only APScheduler's max_instances. Misfires are
coalesced. SIGTERM or SIGINT stops the scheduler after the run in progress.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from types import FrameType

import duckdb
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from etl import scores
from etl.profile import Profile, load_profile
from etl.reforms import Update
from etl.run import LoadError, RunResult, export_quarantine, load_files, move_files
from metrics.calendar import WorkCalendar
from onewindow.audit import AuditTrail
from onewindow.channels import DeliveryError
from onewindow.config import Config, JobSchedule
from onewindow.store import store_path
from warehouse import Resources, Warehouse, WarehouseError

log = logging.getLogger("onewindow.schedule")

_SKIPPED_PREFIXES = (".", "~$")
_SKIPPED_SUFFIXES = (".tmp", ".part", ".crdownload", ".reason.txt")


@dataclass(frozen=True)
class Jobs:
    config: Config
    wh: Warehouse

    def inbox(self) -> RunResult | None:
        """Loads every new file in the inbox as one run, then archives or fails each file."""
        inbox = self.config.folders.inbox
        inbox.mkdir(parents=True, exist_ok=True)
        profiles = [load_profile(p) for p in self.config.etl.profiles]
        items: list[tuple[Path, Profile]] = []
        for path in sorted(p for p in inbox.iterdir() if p.is_file()):
            if path.name.startswith(_SKIPPED_PREFIXES) or path.name.endswith(_SKIPPED_SUFFIXES):
                continue  # hidden, or still being copied in
            profile = next((p for p in profiles if p.table_for(path)), None)
            if profile is None:
                log.warning("%s matches no profile in etl.profiles; left in the inbox", path)
                continue
            items.append((path, profile))
        if not items:
            return None
        result = load_files(
            self.wh,
            items,
            job="inbox",
            secret=self.config.pseudonym_secret(),
            lock_timeout_s=self.config.etl.lock_timeout_s,
            calendar=WorkCalendar.from_config(self.config),
            reforms=Update(config=tuple(self.config.reforms)),
            settings=self.config.etl,
            plausibility=self.config.plausibility,
        )
        export_quarantine(self.wh, result, self.config.folders.quarantine)
        move_files(
            result,
            self.config.folders.archive,
            self.config.folders.failed,
            {str(path): profile for path, profile in items},
            self.config.privacy.archive,
            self.config.pseudonym_secret(),
        )
        self.alerts()  # cards the run turned yellow or red reach their supervisors now
        return result

    def alerts(self) -> None:
        """New yellow and red cards of every subscriber's scope (docs/alerts.md)."""
        from onewindow import alerts

        outcome = alerts.run_new_cards(self.wh, self.config)
        for user, channel, error in outcome.failed:
            log.error("alert to %s over %s failed: %s", user, channel, error)

    def digest(self) -> None:
        """The morning digest of open cards; on the center's working days only."""
        from onewindow import alerts

        outcome = alerts.run_digest(self.wh, self.config)
        if outcome.skipped:
            log.info("digest not sent: %s", outcome.skipped)
        for user, channel, error in outcome.failed:
            log.error("digest to %s over %s failed: %s", user, channel, error)

    def monthly(self) -> None:
        """Last month's report, on the month's first working day (docs/alerts.md)."""
        from onewindow import alerts

        outcome = alerts.run_monthly(self.wh, self.config)
        for user, channel, error in outcome.failed:
            log.error("monthly report to %s over %s failed: %s", user, channel, error)

    def maintenance(self) -> RunResult:
        """A run with no files: brings both copies up to date (pending deltas, migrations),
        checkpoints them, drops applied deltas and syncs the config's reforms; it is logged
        like any other run. It also prunes the audit trail past its retention period, then
        retrains the early-warning model on the published copy."""
        calendar = WorkCalendar.from_config(self.config)
        result = load_files(
            self.wh,
            [],
            job="maintenance",
            lock_timeout_s=self.config.etl.lock_timeout_s,
            calendar=calendar,
            reforms=Update(config=tuple(self.config.reforms)),
            settings=self.config.etl,
            score=False,  # scored once, after the retrain (retrain_risk)
        )
        AuditTrail(store_path(self.wh.home)).prune(
            self.config.security.audit_retention_days, actor="maintenance"
        )
        self.retrain_risk(calendar)
        return result

    def retrain_risk(self, calendar: WorkCalendar) -> None:
        """Trains, evaluates and stores the early-warning model (docs/metrics.md, `risk`),
        reading the published copy like any reader; a failure is logged, not raised: the
        previous model stays. Then the open applications' scores, of whichever model is
        stored, for reports and the dashboard (the maintenance run leaves them to this)."""
        from metrics import risk  # scikit-learn is loaded only by the job that needs it

        try:
            with self.wh.read() as con:
                folder = risk.model_dir(con)
                model = risk.retrain(con, calendar, folder) if folder is not None else None
            if model is not None:
                log.info("early-warning model retrained: %s", model.evaluation)
        except (OSError, ValueError, WarehouseError) as exc:
            log.error("retraining the early-warning model failed: %s", exc)
        scores.after_retrain(
            self.wh,
            calendar,
            self.config.etl.lock_timeout_s,
            Resources(self.config.etl.memory_limit, self.config.etl.threads),
        )


def trigger(job: JobSchedule) -> CronTrigger | IntervalTrigger:
    if job.cron:
        return CronTrigger.from_crontab(job.cron)
    return IntervalTrigger(minutes=job.every_minutes or 5)


def _logged(name: str, fn: object) -> object:
    def run() -> None:
        try:
            fn()  # type: ignore[operator]
        except (LoadError, WarehouseError, OSError, ValueError, duckdb.Error, DeliveryError) as exc:
            # The run is already in the history when it failed inside a run; keep scheduling.
            log.error("%s job failed: %s", name, exc)

    return run


def run_schedule(config: Config, wh: Warehouse, stop: threading.Event | None = None) -> None:
    """Runs the jobs until SIGTERM/SIGINT (or `stop` is set), then waits for the current run."""
    stop = stop or threading.Event()
    jobs = Jobs(config, wh)
    scheduler = BackgroundScheduler(
        timezone=config.center.timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    scheduler.add_job(
        _logged("inbox", jobs.inbox), trigger(config.schedule.inbox), id="inbox", name="inbox"
    )
    scheduler.add_job(
        _logged("maintenance", jobs.maintenance),
        trigger(config.schedule.maintenance),
        id="maintenance",
        name="maintenance",
    )
    if config.alerts.monthly_time is not None:
        hour, minute = config.alerts.monthly_time.split(":")
        scheduler.add_job(
            _logged("monthly", jobs.monthly),
            CronTrigger(hour=int(hour), minute=int(minute)),
            id="monthly",
            name="monthly report",
        )
    if config.alerts.subscriptions or config.alerts.webhooks or config.alerts.smtp.host:
        for hhmm in config.alerts.digest_times:
            hour, minute = hhmm.split(":")
            # Each digest time also looks for new cards: time turns cards yellow, not only loads.
            for name, fn in (("digest", jobs.digest), ("alerts", jobs.alerts)):
                scheduler.add_job(
                    _logged(name, fn),
                    CronTrigger(hour=int(hour), minute=int(minute)),
                    id=f"{name}-{hhmm}",
                    name=f"{name} {hhmm}",
                )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current run", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    scheduler.start()
    for job in scheduler.get_jobs():
        log.info("job %s: next run at %s", job.id, job.next_run_time.astimezone(UTC))
    try:
        # Wake up regularly: a SIGTERM delivered to a worker thread (DuckDB's, the scheduler's)
        # only runs its Python handler once the main thread executes bytecode again.
        while not stop.wait(timeout=0.2):
            pass
    finally:
        scheduler.shutdown(wait=True)
        log.info("scheduler stopped")
