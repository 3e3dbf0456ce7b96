"""A run is atomic: SIGKILL at any moment leaves the published warehouse as it was before the
run (or, past the swap, complete), and the next run completes the work."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures import load_command, replicated_receipt
from warehouse import Warehouse

COPIES = 20  # 171,540 events


def _state(db: Path) -> tuple[int, int, int, tuple[str, ...]]:
    with Warehouse(db).read() as con:
        row = con.execute(
            """SELECT (SELECT count(*) FROM applications), (SELECT count(*) FROM events),
                (SELECT count(*) FROM etl_runs)"""
        ).fetchall()[0]
        statuses = tuple(
            r[0] for r in con.execute("SELECT status FROM etl_runs ORDER BY run_id").fetchall()
        )
    return int(row[0]), int(row[1]), int(row[2]), statuses


def _load(db: Path, path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        load_command(db, path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, receipt: Path) -> Path:
    return replicated_receipt(tmp_path_factory.mktemp("big") / "receipt-big.csv", COPIES)


def test_sigkill_mid_run_leaves_the_warehouse_unchanged(
    tmp_path: Path, receipt: Path, big: Path
) -> None:
    base = tmp_path / "base"
    base.mkdir()
    assert _load(base / "w.duckdb", receipt).wait() == 0
    before = _state(base / "w.duckdb")
    assert before == (1434, 8577, 1, ("ok",))

    started = time.monotonic()
    assert _load(base / "timing.duckdb", big).wait() == 0
    full_run = time.monotonic() - started
    complete = (1434 + 1434 * COPIES, 8577 + 8577 * COPIES, 2, ("ok", "ok"))

    outcomes = []
    for fraction in (0.2, 0.5, 0.8):
        trial = tmp_path / f"kill-{fraction}"
        shutil.copytree(base, trial, symlinks=True)
        db = trial / "w.duckdb"
        proc = _load(db, big)
        time.sleep(full_run * fraction)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        after_kill = _state(db)
        # Never a half-loaded run: the old state, or (killed after the swap) the whole run.
        assert after_kill in (before, complete), (fraction, after_kill)
        outcomes.append(after_kill == before)
        assert _load(db, big).wait() == 0
        assert _state(db)[:2] == complete[:2]
        with Warehouse(db).read() as con:
            assert con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 0
    assert any(outcomes), "no kill landed before the swap; the test proved nothing"
