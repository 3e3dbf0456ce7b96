"""Early-warning scores stored by the jobs (issue 16): what scoring costs a job, and what a
cold `onewindow report risk` costs with the stored scores against scoring live.

    .venv/bin/python -m benchmarks.risk_scores --db DB [--config FILE] [--repeat 3]

DB needs a stored model (`benchmarks.risk_train`). It writes the scores into both copies,
as a run's end does: use a copy of a warehouse another process is reading. Each command is
a new process; CPU is user + system time of that process and its threads.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from etl.apply import apply_delta
from warehouse import Warehouse

STORE = """
import resource, sys, time
from pathlib import Path
from etl import scores
from etl.apply import apply_delta
from metrics.calendar import WorkCalendar
from onewindow.config import load_config
from warehouse import Warehouse

config = load_config(Path(sys.argv[2]) if len(sys.argv) > 2 else None)
wh = Warehouse(Path(sys.argv[1]))
started, cpu = time.perf_counter(), time.process_time()
with wh.writer(apply_delta) as writer:
    scoring = scores.store(writer, WorkCalendar.from_config(config))
wall, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
rows = scoring.scores.height if scoring else None
print(f"{rows} {wall:.2f} {cpu:.2f} {peak:.0f} {'sklearn' in sys.modules}")
"""


def _child(command: list[str]) -> tuple[float, float, float, str]:
    """Wall s, CPU s and peak MB of a new process, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, after.ru_maxrss / 1024, done.stdout


def _report(db: Path, config: Path | None) -> list[str]:
    command = [sys.executable, "-m", "onewindow.cli", "report", "risk", "--db", str(db)]
    return [*command, *(["--config", str(config)] if config else []), "--format", "csv"]


def _cold(label: str, command: list[str], repeat: int) -> str:
    runs = []
    for _ in range(repeat):
        load = os.getloadavg()[0]
        wall, cpu, peak, out = _child(command)
        runs.append((wall, cpu, peak, load))
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    loads = ", ".join(f"{r[3]:.1f}" for r in runs)
    print(
        f"{label}: median of {repeat}: {wall:.2f} s wall, {cpu:.2f} s CPU "
        f"(walls {', '.join(f'{r[0]:.2f}' for r in runs)}; CPUs "
        f"{', '.join(f'{r[1]:.2f}' for r in runs)}; load average at start {loads}); "
        f"rows {out.count(chr(10)) - 1:,}"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report = _report(args.db, args.config)
    # Scores of another generation: the first command scores live (and, on a warehouse
    # before the scores' migration, the writer below migrates both copies first).
    with Warehouse(args.db).writer(apply_delta) as writer:
        writer.rewrite(lambda con: con.execute("DELETE FROM risk_scoring"))
    live = _cold("cold report, scored live", report, args.repeat)
    store = [sys.executable, "-c", STORE, str(args.db)]
    store += [str(args.config)] if args.config else []
    for attempt in (1, 2):
        wall, cpu, _, out = _child(store)
        rows, _, own_cpu, own_peak, sklearn = out.split()
        print(
            f"storing the scores (a run's end), new process #{attempt}: {rows} open, "
            f"{wall:.2f} s wall, {cpu:.2f} s CPU with start-up ({own_cpu} s in the job), "
            f"peak {own_peak} MB, scikit-learn imported: {sklearn}"
        )
    stored = _cold("cold report, stored scores", report, args.repeat)
    print(f"same CSV from stored and live scores: {stored == live}")


if __name__ == "__main__":
    main()
