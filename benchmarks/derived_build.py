"""A full build of the derived tables (metrics/derived.refresh) on a copy of a loaded
warehouse: wall, CPU and peak memory, and the seconds of each table.

    .venv/bin/python -m benchmarks.derived_build --db /tmp/w10m-loaded.duckdb --out /tmp/DIR
        [--memory-limit 2GB] [--repeat 1]

Each repetition copies --db into --out, clears d_state (so the refresh is a full build, as
after a calendar change or a new VERSION) and runs the refresh in a child process with the
center's default calendar and `[etl] memory_limit` (config default 2GB), then a CHECKPOINT.
The peak is the child's VmHWM; CPU is the child's user + system time.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def build(copy: Path, spill: Path, memory_limit: str | None) -> dict[str, float]:
    """One full refresh of `copy`, in this process: seconds per table, total, checkpoint."""
    from metrics import derived
    from metrics.calendar import WorkCalendar
    from onewindow.config import Config
    from warehouse.warehouse import Resources, _connect

    con = _connect(copy, read_only=False)
    Resources(memory_limit).configure(con, spill)
    con.execute("DELETE FROM d_state")
    con.execute("CHECKPOINT")
    cal = WorkCalendar.from_config(Config())
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    cpu = time.process_time()
    kind = derived.refresh(con, cal, lambda what: marks.append((what, time.perf_counter())))
    refreshed = time.perf_counter()
    refresh_cpu = time.process_time() - cpu
    con.execute("CHECKPOINT")
    done = time.perf_counter()
    if kind != "full":
        raise SystemExit(f"{copy}: the refresh was {kind}, not a full build")
    out: dict[str, float] = {}
    ends = [t for _, t in marks[1:]] + [refreshed]
    for (what, began), ended in zip(marks, ends, strict=True):
        out[what] = ended - began
    out["refresh"] = refreshed - start
    out["refresh_cpu"] = refresh_cpu
    out["checkpoint"] = done - refreshed
    con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, default=Path("/tmp/w10m-loaded.duckdb"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    copy = args.out / "copy.duckdb"
    if args.child:
        print(json.dumps(build(copy, args.out / "spill", args.memory_limit)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for _ in range(args.repeat):
        copy.unlink(missing_ok=True)
        copy.with_name(copy.name + ".wal").unlink(missing_ok=True)
        shutil.copyfile(args.db, copy)
        copy.chmod(0o600)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        command = [sys.executable, "-m", "benchmarks.derived_build", "--child"]
        command += ["--out", str(args.out), "--memory-limit", str(args.memory_limit)]
        child = subprocess.run(command, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        marked = [k for k in figures if k not in ("refresh", "refresh_cpu", "checkpoint")]
        figures["process_wall"] = wall
        figures["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        figures["peak_mib"] = after.ru_maxrss / 1024  # the largest child so far
        runs.append(figures)
        steps = ", ".join(f"{k} {v:.2f}" for k, v in figures.items() if k in marked)
        print(
            f"full build: {figures['refresh']:.2f} s refresh ({steps}), checkpoint "
            f"{figures['checkpoint']:.2f} s, refresh CPU {figures['refresh_cpu']:.2f} s; "
            f"process {wall:.2f} s wall, {figures['cpu']:.2f} s CPU, "
            f"peak {figures['peak_mib']:,.0f} MiB",
            flush=True,
        )
    copy.unlink(missing_ok=True)
    if args.repeat > 1:
        refresh = statistics.median(r["refresh"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        print(f"median of {args.repeat}: refresh {refresh:.2f} s, CPU {cpu:.2f} s")


if __name__ == "__main__":
    main()
