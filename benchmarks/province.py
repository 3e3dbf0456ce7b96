"""A province end to end: its centers' warehouses exported into one lake, derived on Spark
(local[2]), and the province's reports read from the lake by DuckDB. Wall time and peak memory
of each step, each in its own process.

    .venv/bin/python -m benchmarks.province --events 20000000 [--centers 4] [--out DIR]

`--events` is the province's least total (about 5.84 events per application); the centers' sizes
follow `onewindow demo --centers` (the first the mean size, the others from half to one and a
half times it). Figures and the extrapolation to 10^9 events: BENCHMARKS.md, docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.demo_scale import END, EVENTS_PER_APPLICATION
from etl import demo

ONEWINDOW = [sys.executable, "-m", "onewindow.cli"]


def _timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB; for Spark the driver's Python, its JVM is a grandchild)
    and standard output of one child process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if status != 0:
            raise SystemExit(f"{command} failed:\n{err.read().decode()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def _events(lake: Path) -> int:
    import duckdb

    files = [str(p) for p in lake.glob("events/*/*/*.parquet")]
    row = duckdb.sql("SELECT count(*) FROM read_parquet($f)", params={"f": files}).fetchall()
    return int(row[0][0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--centers", type=int, default=4)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ow-province-bench-"))
    lake = out / "lake"
    specs = demo.centers(args.centers, 7, 1)
    weights = sum(0.5 + (i * 0.37) % 1.0 if i else 1.0 for i in range(args.centers))
    # `--events` is a floor: the events per application vary a little with the seed and the
    # centers' sizes (5.82 at 20M, 2 centers), so ask 1 % more applications than the mean.
    mean_apps = math.ceil(args.events * 1.01 / EVENTS_PER_APPLICATION / weights)
    print(
        f"# {platform.node()} {os.cpu_count()} cores; {args.centers} centers, "
        f"{args.events:,} events asked; out {out}",
        flush=True,
    )
    figures: dict[str, object] = {"centers": [s.name for s in specs]}
    seconds, peak, _ = _timed(
        [
            *ONEWINDOW,
            "demo",
            "--centers",
            str(args.centers),
            "--applications",
            str(mean_apps),
            "--months",
            str(args.months),
            "--end",
            END,
            "--out",
            str(out / "centers"),
            "--lake",
            str(lake),
        ]
    )
    events = _events(lake)
    figures["events"] = events
    if events < args.events:
        print(f"warning: {events:,} events, fewer than the {args.events:,} asked", flush=True)
    figures["generate_load_export_s"] = round(seconds, 1)
    figures["generate_load_export_peak_mib"] = round(peak)
    print(f"generate + load + first export: {seconds:.1f} s", flush=True)

    # Export again, each center: nothing changed, so only the summaries are computed.
    total = 0.0
    for spec in demo.centers(args.centers, 7, mean_apps):
        db = out / "centers" / spec.name / "warehouse.duckdb"
        s, _, _ = _timed(
            [
                *ONEWINDOW,
                "lake",
                "export",
                "--to",
                str(lake),
                "--center",
                spec.name,
                "--db",
                str(db),
            ]
        )
        total += s
    figures["export_unchanged_s"] = round(total, 1)
    # A full export of the first center into a fresh lake: every partition written.
    first = demo.centers(args.centers, 7, mean_apps)[0]
    s, _, _ = _timed(
        [
            *ONEWINDOW,
            "lake",
            "export",
            "--to",
            str(out / "lake-first"),
            "--center",
            first.name,
            "--db",
            str(out / "centers" / first.name / "warehouse.duckdb"),
        ]
    )
    figures["export_full_first_center_s"] = round(s, 1)
    print(f"exports: unchanged {total:.1f} s; first center in full {s:.1f} s", flush=True)

    s, peak, table = _timed([*ONEWINDOW, "spark", "derive", "--lake", str(lake)])
    figures["spark_derive_local2_s"] = round(s, 1)
    figures["spark_driver_peak_mib"] = round(peak)
    figures["spark_derive_output"] = table
    print(f"spark derive local[2]: {s:.1f} s\n{table}", flush=True)

    reports = {
        "kpis --by center": ["report", "kpis", "--lake", str(lake), "--by", "center"],
        "kpis (province)": ["report", "kpis", "--lake", str(lake)],
        "kpis --center (first)": ["report", "kpis", "--lake", str(lake), "--center", first.name],
        "transitions (province)": ["report", "transitions", "--lake", str(lake)],
        "cards (province)": ["report", "cards", "--lake", str(lake)],
    }
    timings = {}
    for name, command in reports.items():
        s, _, _ = _timed([*ONEWINDOW, *command, "--format", "csv"])
        timings[name] = round(s, 2)
        print(f"report {name}: {s:.2f} s", flush=True)
    figures["reports_s"] = timings
    size = sum(p.stat().st_size for p in lake.rglob("*") if p.is_file())
    figures["lake_bytes"] = size
    print(json.dumps(figures, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
