"""Our transitions, case durations and working-hour durations against pm4py's, in one run, on
the receipt log replicated to about 1M events (shifted in time, distinct ids).

    .venv/bin/python -m benchmarks.vs_pm4py [--copies 117] [--out DIR]

Each side starts from its own loaded data: pm4py from a formatted pandas DataFrame, OneWindow
from its warehouse, loaded for a center whose working hours are pm4py's business hours (Mon–Fri
07:00–17:00 UTC, no holidays), so its derived tables hold working time in those hours. The
figures are what `onewindow report` and the dashboard compute: aggregates over the derived
tables. Also timed: the same figures from the reference SQL on the events (what a report costs
when the tables are stale) and the full build of the derived tables (the one-off cost a load
or a calendar change pays). Times are the best of three runs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd

from metrics import derived, process
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from tests.fixtures import load_command, replicated_receipt
from warehouse import Warehouse

PM4PY_HOURS = WorkCalendar("UTC", ((7 * 3600, 17 * 3600),), "none")


def best(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    import pm4py

    logging.getLogger("pm4py").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=117)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ow-pm4py-"))
    out.mkdir(parents=True, exist_ok=True)
    log_path = replicated_receipt(out / "receipt-big.csv", args.copies)
    db = out / "w.duckdb"
    config = out / "onewindow.toml"
    config.write_text(
        '[center]\ntimezone = "UTC"\nworking_hours = ["07:00-17:00"]\n'
        '[calendar]\nholidays = "none"\n',
        encoding="utf-8",
    )
    if not db.exists():
        started = time.perf_counter()
        subprocess.run(
            [*load_command(db, log_path), "--config", str(config)], check=True, capture_output=True
        )
        print(f"load (with the derived tables): {time.perf_counter() - started:.1f} s")
    frame = pd.read_csv(log_path)
    frame["time:timestamp"] = pd.to_datetime(frame["time:timestamp"], utc=True, format="ISO8601")
    log = pm4py.format_dataframe(
        frame,
        case_id="case:concept:name",
        activity_key="concept:name",
        timestamp_key="time:timestamp",
    )
    wh = Warehouse(db)
    print(f"events: {len(log):,}, applications: {log['case:concept:name'].nunique():,}")

    with wh.read() as con:
        assert derived.current(con, PM4PY_HOURS), "the warehouse was loaded with another calendar"

        def ours_transitions() -> object:
            return process.transitions(con, PM4PY_HOURS, Filters())

        def ours_cases() -> object:
            return process.cases(con, PM4PY_HOURS, Filters())

        rows = [
            (
                "transitions (performance DFG)",
                best(ours_transitions),
                best(lambda: pm4py.discover_performance_dfg(log), 1),
            ),
            (
                "case durations",
                best(ours_cases),
                best(lambda: pm4py.get_all_case_durations(log), 1),
            ),
            (
                "transitions in working hours",
                best(ours_transitions),
                best(lambda: pm4py.discover_performance_dfg(log, business_hours=True), 1),
            ),
            (
                "case durations in working hours",
                best(ours_cases),
                best(lambda: pm4py.get_all_case_durations(log, business_hours=True), 1),
            ),
        ]
    stale = out / "stale.duckdb"
    shutil.copyfile(wh.published(), stale)
    with contextlib.closing(duckdb.connect(str(stale))) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("DELETE FROM d_state")
        reference = (
            best(lambda: process.transitions(con, PM4PY_HOURS, Filters()), 1),
            best(lambda: process.cases(con, PM4PY_HOURS, Filters()), 1),
        )
        started = time.perf_counter()
        derived.refresh(con, PM4PY_HOURS)
        build = time.perf_counter() - started
    stale.unlink()
    print("| figure | OneWindow s | pm4py s | pm4py ÷ OneWindow |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in rows:
        print(f"| {name} | {ours:.3f} | {theirs:.2f} | {theirs / ours:.0f}× |")
    print(
        f"reference SQL without derived tables: transitions {reference[0]:.2f} s, "
        f"cases {reference[1]:.2f} s; full build of the derived tables: {build:.2f} s"
    )


if __name__ == "__main__":
    main()
