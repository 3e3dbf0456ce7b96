"""Generating and loading the demo center at scale: wall time and peak memory of each step.

    .venv/bin/python -m benchmarks.demo_scale --events 1000000 [10000000] [--out DIR]
        [--memory-limit 1GB] [--skip-default]

Each step runs in its own process (`onewindow demo` minus the load, then `onewindow load`),
so its peak resident memory is its own. Exports already in DIR are reused (generate shows —).
With --memory-limit the same exports are loaded again into a new warehouse with `[etl]
memory_limit` set to it (--skip-default: only that load).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVENTS_PER_APPLICATION = 5.84  # measured on the default demo: 233,706 steps / 40,000
END = "2026-10-31"


def _timed(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, all its threads) and peak RSS (MiB) of one
    child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{command} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, cpu, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--skip-default", action="store_true")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ow-demo-bench-"))
    # The demo profile maps applicant_id, and a load outside `onewindow demo` is refused
    # without a pseudonymization secret (docs/security.md): a throwaway one for the run.
    os.environ.setdefault("ONEWINDOW_SECRET", secrets.token_hex(32))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| target events | applications | steps written | generate s | generate peak MiB |"
        " memory_limit | load s | load CPU s | load peak MiB |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for events in args.events:
        apps = int(events / EVENTS_PER_APPLICATION)
        folder = out / f"e{events}"
        generated = "— | —"
        if not (folder / "truth.json").exists():
            gen_s, _, gen_mb = _timed(
                [
                    sys.executable,
                    "-c",
                    "import sys; from datetime import date; from pathlib import Path; "
                    "from etl.demo import write_demo; "
                    f"write_demo(Path({str(folder)!r}), seed=7, applications={apps}, months=24, "
                    f"end=date.fromisoformat({END!r}))",
                ]
            )
            generated = f"{gen_s:.1f} | {gen_mb:,.0f}"
        steps = next(folder.glob("环节_*.csv"))
        with open(steps, "rb") as fh:
            written = sum(1 for _ in fh) - 1
        limits = ([None] if not args.skip_default else []) + (
            [args.memory_limit] if args.memory_limit else []
        )
        for limit in limits:
            db = out / f"w{events}-{limit or 'default'}.duckdb"
            config = out / f"{limit or 'default'}.toml"
            config.write_text(f'[etl]\nmemory_limit = "{limit}"\n' if limit else "")
            load_s, load_cpu, load_mb = _timed(
                [
                    sys.executable,
                    "-m",
                    "onewindow.cli",
                    "load",
                    str(folder),
                    "--profile",
                    str(Path(__file__).resolve().parents[1] / "profiles" / "demo.toml"),
                    "--db",
                    str(db),
                    "--config",
                    str(config),
                ]
            )
            print(
                f"| {events:,} | {apps:,} | {written:,} | {generated} | {limit or 'default'} | "
                f"{load_s:.1f} | {load_cpu:.1f} | {load_mb:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
