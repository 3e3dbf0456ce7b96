"""Every `onewindow report` on one warehouse: the metric's own time (in process, warm, best of
three) and the whole command's wall time (a new process, interpreter start-up included).

    .venv/bin/python -m benchmarks.reports --db DB [--config FILE] [--cli] [--only NAME ...]

Use the warehouse `benchmarks.demo_scale --events 10000000` leaves in its output folder for the
10M-event figures of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.reports import REPORTS
from onewindow.config import load_config
from warehouse import Warehouse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--cli", action="store_true", help="also time each command end to end")
    parser.add_argument("--only", nargs="+", default=list(REPORTS), choices=list(REPORTS))
    args = parser.parse_args()
    config = load_config(args.config)
    wh = Warehouse(args.db)
    with wh.read() as con:
        counts = con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM applications)"
        ).fetchall()[0]
        fresh = derived.current(con, WorkCalendar.from_config(config))
    print(f"events: {counts[0]:,}, applications: {counts[1]:,}, derived tables current: {fresh}")
    print("| report | rows | metric s (warm, best of 3) | command s |")
    print("|---|---:|---:|---:|")
    for name in args.only:
        report = REPORTS[name]
        times = []
        rows = 0
        for _ in range(3):
            with wh.read() as con:
                started = time.perf_counter()
                rows = report.fn(con, Filters(), config, "none").height
                times.append(time.perf_counter() - started)
        wall = ""
        if args.cli:
            command = [sys.executable, "-m", "onewindow.cli", "report", name, "--db", str(args.db)]
            if args.config:
                command += ["--config", str(args.config)]
            started = time.perf_counter()
            subprocess.run([*command, "--format", "csv"], check=True, stdout=subprocess.DEVNULL)
            wall = f"{time.perf_counter() - started:.2f}"
        print(f"| {name} | {rows:,} | {min(times):.2f} | {wall} |")


if __name__ == "__main__":
    main()
