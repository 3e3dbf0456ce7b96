"""`onewindow load` of the receipt log replicated to about 1M events against pm4py reading the
same file (pandas `read_csv`, the timestamps parsed, `pm4py.format_dataframe`), alternating in
one run, each repetition in new processes; then where the load's time goes.

    .venv/bin/python -m benchmarks.load_vs_pm4py [--copies 117] [--repeat 3] [--out DIR]
        [--memory-limit 1GB] [--no-profile]

Per side: wall seconds, CPU seconds (user + system) and peak resident memory of the whole
process, interpreter start-up and imports included; the pm4py child also reports its own
read + format time without its imports. Medians over the repetitions. The profile runs the same
load once more in this process under cProfile (process CPU time, DuckDB's threads included)
and sums the time of the load's steps. --repeat 0 only profiles.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures import CALENDAR, PEAK_PRELUDE, PROFILES, load_command, replicated_receipt

PM4PY = """
import sys, time
import pandas as pd
import pm4py
started = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
frame["time:timestamp"] = pd.to_datetime(frame["time:timestamp"], utc=True, format="ISO8601")
log = pm4py.format_dataframe(frame, case_id="case:concept:name", activity_key="concept:name",
                             timestamp_key="time:timestamp")
print(f"{time.perf_counter() - started:.2f} {len(log)}")  # the banner goes before: last line
"""

# The load's steps, by the function that does each (cumulative seconds under cProfile).
STEPS = {
    "wait for the file's sha256 (made in a thread; not waited for by a file of a new size)": (
        "etl/run.py",
        "hash",
    ),
    "read: CSV to text columns (readers.read_source)": ("etl/readers.py", "read_source"),
    "map + stage each batch: Polars typing, value maps, quarantine, insert (transform.map_rows)": (
        "etl/transform.py",
        "map_rows",
    ),
    "whole-file rules in SQL: repeats, occurrences, conflicts, applications (filewise.rule)": (
        "etl/filewise.py",
        "rule",
    ),
    "stage: row numbers, event key md5, insert into the delta (filewise.store)": (
        "etl/filewise.py",
        "store",
    ),
    "apply to both copies (apply._apply: dedupe, classify, merge)": ("etl/apply.py", "_apply"),
    "derived tables, both copies (derived.refresh)": ("metrics/derived.py", "refresh"),
    "checkpoint + close of the delta (stage.finish)": ("etl/stage.py", "finish"),
    "whole run (run.load_files)": ("etl/run.py", "load_files"),
}


@dataclass
class Sample:
    wall: float
    cpu: float
    peak_mib: float
    inner: float | None = None


def timed(command: list[str]) -> tuple[Sample, str]:
    """Runs one child to its end; its wall and CPU (os.wait4 of that child) and its peak memory
    (its own VmHWM, written at exit: a child's ru_maxrss starts at its parent's peak)."""
    if command[1] == "-m":  # python -m MODULE args: run the module after the prelude
        code = f"import runpy; runpy.run_module({command[2]!r}, run_name='__main__')"
        command = [command[0], "-c", PEAK_PRELUDE + code, *command[3:]]
    else:  # python -c CODE args
        command = [command[0], "-c", PEAK_PRELUDE + command[2], *command[3:]]
    started = time.perf_counter()
    with (
        tempfile.TemporaryFile() as out_file,
        tempfile.TemporaryFile() as err_file,
        tempfile.NamedTemporaryFile() as peak_file,
    ):
        env = {**os.environ, "OW_PEAK_FILE": peak_file.name}
        proc = subprocess.Popen(command, stdout=out_file, stderr=err_file, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read().decode(), err_file.read().decode()
        peak_kib = int(Path(peak_file.name).read_text())
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise SystemExit(f"{' '.join(command[:4])} … failed ({code}): {err[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, peak_kib / 1024), out


def profile_load(log_path: Path, db: Path) -> list[tuple[str, float]]:
    from etl.profile import load_profile
    from etl.run import load_files
    from warehouse import Warehouse

    # CPU time of the whole process (DuckDB's threads included): on a shared machine wall time
    # mostly measures the other processes.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    load_files(Warehouse(db), [(log_path, load_profile(PROFILES / "receipt.toml"))], CALENDAR)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    found = []
    for label, (file, name) in STEPS.items():
        total = sum(
            v[3] for (path, _, fn), v in stats.items() if fn == name and path.endswith(file)
        )
        found.append((label, total))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=117)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--memory-limit", default=None, help="[etl] memory_limit for the load")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ow-load-pm4py-"))
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / f"receipt-x{args.copies}.csv"
    if not log_path.exists():
        replicated_receipt(log_path, args.copies)
    config = out / "onewindow.toml"
    config.write_text(
        f'[etl]\nmemory_limit = "{args.memory_limit}"\n' if args.memory_limit else "",
        encoding="utf-8",
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average at start {os.getloadavg()[0]:.1f}; "
        f"file: {log_path.stat().st_size / 1e6:,.0f} MB"
    )
    ours: list[Sample] = []
    theirs: list[Sample] = []
    for i in range(args.repeat):
        db = out / f"w{i}.duckdb"
        for stale in out.glob(f"w{i}.duckdb*"):
            subprocess.run(["rm", "-rf", str(stale)], check=True)
        sample, _ = timed([*load_command(db, log_path), "--config", str(config)])
        ours.append(sample)
        sample, printed = timed([sys.executable, "-c", PM4PY, str(log_path)])
        inner, events = printed.strip().splitlines()[-1].split()
        sample.inner = float(inner)
        theirs.append(sample)
        print(
            f"repetition {i + 1}: load {ours[-1].wall:.1f} s ({ours[-1].cpu:.1f} s CPU, "
            f"{ours[-1].peak_mib:,.0f} MiB); pm4py {sample.wall:.1f} s ({sample.cpu:.1f} s CPU, "
            f"{sample.peak_mib:,.0f} MiB; read + format {sample.inner:.1f} s, {int(events):,} "
            f"events); load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )

    if ours:
        _table(ours, theirs)
    if args.no_profile:
        return
    prof_db = out / "profile.duckdb"
    for stale in out.glob("profile.duckdb*"):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    print("| step of the load (cProfile, CPU s of one run in process) | s |")
    print("|---|---:|")
    for label, seconds in profile_load(log_path, prof_db):
        print(f"| {label} | {seconds:.1f} |")


def _table(ours: list[Sample], theirs: list[Sample]) -> None:
    def med(samples: list[Sample], attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in samples)

    print("| | OneWindow `onewindow load` | pm4py read_csv + format_dataframe | ratio |")
    print("|---|---:|---:|---:|")
    for attr, label in (
        ("wall", "wall s, median"),
        ("cpu", "CPU s, median"),
        ("peak_mib", "peak MiB, median"),
    ):
        a, b = med(ours, attr), med(theirs, attr)
        print(f"| {label} | {a:,.1f} | {b:,.1f} | {a / b:.2f} |")
    print(f"pm4py's read + format alone (no imports), median: {med(theirs, 'inner'):.1f} s")


if __name__ == "__main__":
    main()
