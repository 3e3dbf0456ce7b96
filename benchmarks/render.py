"""Server-side time to render each dashboard page, cold and cached, on demo warehouses.

    .venv/bin/python -m benchmarks.render [--sizes default 10m] [--repeat 3]

Every page of ui.nav.PAGES is rendered with Streamlit's AppTest (the app's script run and its
elements serialized, as the server does for a browser; no browser, no network):

- cold: every st.cache_data / st.cache_resource entry cleared, then one run of the page;
- cached: the same page run again, best of --repeat runs.

The operating system's file cache stays warm: "cold" means the dashboard's own caches.
Warehouses are built once with `onewindow demo` into data/bench/render-<size>/ (git-ignored)
and reused while present; the 10M one takes several minutes and about 8 GB of memory to build.
Targets (issue): under 1 s cold at the default size, under 3 s cold at 10M events, under
0.2 s cached.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from ui.nav import PAGES, PageSpec
from warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
BENCH = ROOT / "data" / "bench"
EVENTS_PER_APPLICATION = 5.84  # measured on the default demo (see benchmarks.demo_scale)
SIZES = {
    "default": None,  # `onewindow demo` as `bash scripts/serve` runs it: 40,000 applications
    "10m": round(10_000_000 / EVENTS_PER_APPLICATION),
}
TARGET_COLD_S = {"default": 1.0, "10m": 3.0}
TARGET_CACHED_S = 0.2


@dataclass(frozen=True)
class Timing:
    page: PageSpec
    cold_s: float
    cached_s: float


def build(size: str) -> Path:
    """The demo warehouse of this size under data/bench/, generated and loaded if absent."""
    home = BENCH / f"render-{size}"
    db = home / "warehouse.duckdb"
    if Warehouse(db).exists():
        return db
    exports = home / "exports"
    command = [
        str(Path(sys.executable).with_name("onewindow")),
        "demo",
        "--seed",
        "7",
        "--out",
        str(exports),
        "--db",
        str(db),
    ]
    applications = SIZES[size]
    if applications:
        command += ["--applications", str(applications)]
    started = time.perf_counter()
    print(f"building {db} …", file=sys.stderr, flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(exports)  # the warehouse holds everything the pages read
    print(f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return db


def describe(db: Path) -> str:
    with Warehouse(db).read() as con:
        rows = con.sql(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM applications),"
            " (SELECT max(ts)::DATE FROM events)"
        ).fetchall()
    events, applications, last = rows[0]
    return f"{events:,} events, {applications:,} applications, last event {last}"


def clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


def _run(app: AppTest) -> float:
    started = time.perf_counter()
    app.run()
    elapsed = time.perf_counter() - started
    if app.exception:
        raise SystemExit(f"the page raised: {app.exception[0].message}")
    return elapsed


def measure(db: Path, repeat: int) -> list[Timing]:
    """Each page cold, then cached, in one AppTest session as one browser tab would see it."""
    for key in [k for k in os.environ if k.startswith("ONEWINDOW_")]:
        del os.environ[key]
    config = db.with_name("onewindow.toml")  # empty: a developer's own onewindow.toml stays out
    config.write_text("", encoding="utf-8")
    os.environ["ONEWINDOW_DB"] = str(db)
    os.environ["ONEWINDOW_CONFIG_FILE"] = str(config)
    app = AppTest.from_file(str(APP), default_timeout=1800)
    app.run()  # st.navigation registers the pages on the first run; switch_page needs them
    timings = []
    for spec in PAGES:
        app.switch_page(spec.file)
        clear_caches()
        cold = _run(app)
        cached = min(_run(app) for _ in range(repeat))
        timings.append(Timing(spec, cold, cached))
    return timings


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in subprocess.run(
                ["lscpu"], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            if line.startswith("Model name")
        ),
        platform.processor(),
    )
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        kib = int(meminfo.readline().split()[1])
    return (
        f"{model}, {os.cpu_count()} cores, {kib / 2**20:.0f} GiB, "
        f"Python {platform.python_version()}, Streamlit {st.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["default"])
    parser.add_argument("--repeat", type=int, default=3, help="cached runs per page (best kept)")
    args = parser.parse_args()
    print(f"machine: {machine()}; measured {date.today()}")
    for size in args.sizes:
        db = build(size)
        print(f"\n{size}: {describe(db)}\n")
        print("| page | cold s | cached s |")
        print("|---|---:|---:|")
        timings = measure(db, args.repeat)
        for t in timings:
            print(f"| {t.page.slug} | {t.cold_s:.2f} | {t.cached_s:.3f} |", flush=True)
        colds = [t.cold_s for t in timings]
        over = [t.page.slug for t in timings if t.cold_s >= TARGET_COLD_S[size]]
        slow = [t.page.slug for t in timings if t.cached_s >= TARGET_CACHED_S]
        print(
            f"\nmedian cold {statistics.median(colds):.2f} s; cold target "
            f"{TARGET_COLD_S[size]} s missed by: {', '.join(over) or 'none'}; cached target "
            f"{TARGET_CACHED_S} s missed by: {', '.join(slow) or 'none'}"
        )


if __name__ == "__main__":
    main()
