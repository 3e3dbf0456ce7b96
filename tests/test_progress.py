"""On a terminal a load shows files and rows done and the rate; in logs one line per file."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from etl.profile import Profile
from etl.progress import Progress
from etl.run import load_files
from tests.fixtures import CALENDAR, center_exports
from warehouse import Warehouse


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_and_one_log_line_per_file(
    tmp_path: Path, wh: Warehouse, center_profile: Profile, caplog: pytest.LogCaptureFixture
) -> None:
    files = center_exports(tmp_path / "in", n=5)
    screen = Terminal()
    with caplog.at_level(logging.INFO, logger="onewindow.etl"):
        result = load_files(
            wh,
            [(f, center_profile) for f in files],
            progress=Progress(len(files), screen),
            calendar=CALENDAR,
        )
    shown = screen.getvalue()
    assert "reading steps.csv" in shown and "publishing the run" in shown
    assert "3/3 files, 32 rows" in shown and " rows/s " in shown
    lines = [r.getMessage() for r in caplog.records if "read " in r.getMessage()]
    assert len(lines) == 3
    assert lines[1].endswith(
        "matters.csv [matters] loaded: read 7, loaded 7, duplicate 0, quarantined 0"
    )
    assert result.status == "ok"


def test_the_apply_and_derived_steps_show_on_a_terminal(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    """After the files are read, each copy's merge and derived build is named as it runs, and
    the rate stays that of reading."""
    files = center_exports(tmp_path / "in", n=5)
    screen = Terminal()
    load_files(
        wh,
        [(f, center_profile) for f in files],
        progress=Progress(len(files), screen),
        calendar=CALENDAR,
    )
    shown = screen.getvalue().split("\r")
    steps = [m[1] for line in shown if (m := re.search(r"rows/s +[\d,]+ s +(.*?) *$", line))]
    after_reading = steps[steps.index("publishing the run") :]
    for copy in sorted({s.split(":")[0] for s in after_reading if s.startswith("copy ")}):
        assert [s.removeprefix(f"{copy}: ") for s in after_reading if s.startswith(copy)] == [
            "merging matters",
            "merging applications",
            "merging events",
            "merging evaluations",
            "merging tickets",
            "building d_facts",
            "building d_transitions",
            "building d_steps",
        ]
    assert {s.split(":")[0] for s in after_reading if s.startswith("copy ")} == {"copy a", "copy b"}
