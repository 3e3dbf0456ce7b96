"""The demo service center: realistic exports with planted, documented effects, loaded through
the normal ETL path (the demo is the ETL's first user, not a shortcut around it)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from etl.demo.export import write_exports
from etl.demo.generate import generate
from etl.profile import load_profile
from etl.progress import Progress
from etl.run import RunResult, load_files
from metrics.calendar import WorkCalendar
from warehouse import Warehouse

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "demo.toml"
DEFAULT_APPLICATIONS = 40_000
DEFAULT_MONTHS = 24


def write_demo(out: Path, *, seed: int, applications: int, months: int, end: date) -> list[Path]:
    """Writes the exports and truth.json into `out`; returns the export files."""
    return write_exports(generate(seed, applications, months, end), out, end)


def load_demo(
    wh: Warehouse,
    files: list[Path],
    *,
    secret: bytes | None,
    progress: Progress | None = None,
    calendar: WorkCalendar | None = None,
) -> RunResult:
    profile = load_profile(PROFILE)
    return load_files(
        wh,
        [(f, profile) for f in files],
        job="demo",
        secret=secret,
        progress=progress,
        calendar=calendar,
    )
