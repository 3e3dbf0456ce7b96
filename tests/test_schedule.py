"""The inbox and maintenance jobs, one run at a time across processes, clean SIGTERM."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from etl.apply import apply_delta
from etl.scheduler import Jobs
from tests.fixtures import (
    APPLICATION_HEADER,
    PROFILES,
    center_exports,
    center_rows,
    load_command,
    replicated_receipt,
    write_csv,
    write_profile,
)
from warehouse import Warehouse


def _config(tmp_path: Path, profile: Path, every_minutes: float = 5.0) -> Path:
    text = f"""
db = "wh/warehouse.duckdb"
[folders]
inbox = "inbox"
archive = "archive"
failed = "failed"
quarantine = "quarantine"
[etl]
profiles = ["{profile}"]
[schedule.inbox]
every_minutes = {every_minutes}
[schedule.maintenance]
cron = "30 2 * * *"
"""
    path = tmp_path / "onewindow.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_inbox_job_loads_new_files_and_files_them_away(tmp_path: Path) -> None:
    from onewindow.config import load_config

    config = load_config(_config(tmp_path, write_profile(tmp_path)))
    inbox = tmp_path / "inbox"
    center_exports(inbox, n=10)
    (inbox / "applications_bad.csv").write_bytes(b"")
    write_csv(inbox / "applications_late.csv.part", APPLICATION_HEADER, center_rows(2)[0])
    (inbox / "notes.txt").write_text("not an export")
    apps, _ = center_rows(12)
    apps[11][3] = "yesterday"
    write_csv(inbox / "applications.csv", APPLICATION_HEADER, apps)  # replaces the clean one
    wh = Warehouse(config.warehouse_path())
    result = Jobs(config, wh).inbox()
    assert result is not None and result.status == "partial"
    assert sorted(p.name for p in inbox.iterdir()) == ["applications_late.csv.part", "notes.txt"]
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == [
        "run000001-applications.csv",
        "run000001-matters.csv",
        "run000001-steps.csv",
    ]
    # The profile declares personal columns for applications: an unreadable file of them is
    # not kept (they cannot be taken out of it), only its reason (tests/test_pii.py).
    assert sorted(p.name for p in (tmp_path / "failed").iterdir()) == [
        "run000001-applications_bad.csv.reason.txt",
    ]
    assert (tmp_path / "failed" / "run000001-applications_bad.csv.reason.txt").read_text() == (
        "the file is empty\nthe file itself was not kept: it may hold personal data. Fix the "
        "export and put it in the inbox again.\n"
    )
    exported = (
        (tmp_path / "quarantine" / "run000001-applications.csv.quarantine.csv")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    assert exported[0] == "row,field,reason,raw_values" and len(exported) == 2
    assert exported[1].startswith(
        "13,submitted_at,unparseable timestamp 'yesterday',"
        '"{""办件编号"":""441200000011"",""事项编码"":""M-004"",""申请方式"":""移动端"",'
        '""申请时间"":""yesterday"",'
    )
    assert "证件号码" not in exported[1] and apps[11][8] not in exported[1]
    assert Jobs(config, wh).inbox() is None  # nothing new
    maintenance = Jobs(config, wh).maintenance()
    with wh.read() as con:
        jobs = con.execute("SELECT job, status FROM etl_runs ORDER BY run_id").fetchall()
    assert jobs == [("inbox", "partial"), ("maintenance", "ok")] and maintenance.run_id == 2
    assert list(wh.deltas.iterdir()) == []  # both copies have every run


def test_a_second_process_waits_for_the_run_in_progress(tmp_path: Path, receipt: Path) -> None:
    db = tmp_path / "w.duckdb"
    wh = Warehouse(db)
    with wh.writer(apply_delta):
        proc = subprocess.Popen(
            load_command(db, receipt),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.0)
        assert proc.poll() is None  # blocked on the lock, not loading beside us
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "8577    8577" in out


def test_schedule_runs_jobs_and_stops_after_the_current_run_on_sigterm(
    tmp_path: Path, receipt: Path
) -> None:
    config = _config(tmp_path, PROFILES / "receipt.toml", every_minutes=0.02)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    big = replicated_receipt(tmp_path / "receipt-big.csv", 10)
    with open(tmp_path / "schedule.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "onewindow.cli", "schedule", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        shutil.move(big, inbox / big.name)
        staging = tmp_path / "wh" / "warehouse.duckdb.d" / "deltas"
        deadline = time.monotonic() + 60
        while not list(staging.glob("*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.02)  # wait until a run is under way
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "schedule.log").read_text()
    assert "stopping after the current run" in text and "scheduler stopped" in text
    assert (tmp_path / "archive" / f"run000001-{big.name}").exists()
    with Warehouse(tmp_path / "wh" / "warehouse.duckdb").read() as con:
        assert con.execute("SELECT job, status, inserted FROM etl_runs").fetchall() == [
            ("inbox", "ok", 8577 * 10)
        ]
