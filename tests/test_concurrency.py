"""Dashboard-style reads in another process while a large load runs: no error, no wait over a
second, never a half-loaded run; and the open reader never makes the load fail."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures import load_command, replicated_receipt

READER = """
import json, sys, time
from pathlib import Path
from warehouse import Warehouse
wh, stop, out = Warehouse(Path(sys.argv[1])), Path(sys.argv[2]), Path(sys.argv[3])
seen, errors, slowest, reads = set(), [], 0.0, 0
while not stop.exists():
    started = time.monotonic()
    try:
        with wh.read() as con:
            apps, events, runs = con.execute(
                "SELECT (SELECT count(*) FROM applications), (SELECT count(*) FROM events), "
                "(SELECT count(*) FROM etl_runs)").fetchall()[0]
            by_step = con.execute(
                "SELECT step, count(*), median(ts) FROM events GROUP BY step").fetchall()
        seen.add((apps, events, runs, sum(n for _, n, _ in by_step)))
        reads += 1
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    slowest = max(slowest, time.monotonic() - started)
out.write_text(json.dumps({"seen": sorted(seen), "errors": errors, "slowest": slowest,
                           "reads": reads}))
"""


def _load(db: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        load_command(db, path),
        capture_output=True,
        text=True,
        check=False,
    )


def test_reads_during_a_large_load_see_whole_runs_only(tmp_path: Path, receipt: Path) -> None:
    big = replicated_receipt(tmp_path / "receipt-big.csv", 20)
    db = tmp_path / "w.duckdb"
    assert _load(db, receipt).returncode == 0
    stop, out = tmp_path / "stop", tmp_path / "reads.json"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(stop), str(out)])
    try:
        time.sleep(1.0)  # the reader is reading before the load starts
        loaded = _load(db, big)
        time.sleep(1.0)  # and after it has landed
    finally:
        stop.touch()
        reader.wait(timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    reads = json.loads(out.read_text())
    assert reads["errors"] == []
    assert reads["slowest"] < 1.0
    assert reads["reads"] > 20
    before = [1434, 8577, 1, 8577]
    after = [1434 * 21, 8577 * 21, 2, 8577 * 21]
    assert reads["seen"] == [before, after]
