"""Crash windows inside a run, forced precisely: the next run rolls the work forward, never
reuses a run id, keeps both copies equal and leaves no decoded input behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from etl.profile import Profile
from etl.run import load_files
from tests.fixtures import APPLICATION_HEADER, CALENDAR, center_rows, write_csv, write_profile
from warehouse import Warehouse

KILL_AT = """
import os, signal, sys
from pathlib import Path
import warehouse.warehouse as w
from etl.profile import load_profile
from etl.run import load_files
point = sys.argv[3]
original = getattr(w.Writer, point)
def die(self, *args, **kwargs):
    if point == "publish":
        os.kill(os.getpid(), signal.SIGKILL)  # delta complete, nothing applied yet
    original(self, *args, **kwargs)
    if list(self.wh.deltas.glob("run-*.duckdb")):  # the run's own delta: we are publishing
        os.kill(os.getpid(), signal.SIGKILL)
setattr(w.Writer, point, die)
from tests.fixtures import CALENDAR
load_files(
    w.Warehouse(Path(sys.argv[1])),
    [(Path(sys.argv[2]), load_profile(Path(sys.argv[4])))],
    CALENDAR,
)
"""


def _copies(wh: Warehouse) -> list[list[tuple[object, ...]]]:
    out = []
    for copy in sorted(wh.home.glob("?.duckdb")):
        with duckdb.connect(str(copy), read_only=True) as con:
            out.append(
                con.execute("SELECT application_id, run_id FROM applications ORDER BY 1").fetchall()
                + con.execute("SELECT run_id, status FROM etl_runs ORDER BY 1").fetchall()
            )
    return out


def _killed_load(wh: Warehouse, path: Path, point: str, profile: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT, str(wh.path), str(path), point, str(profile)], check=False
    )
    assert proc.returncode == -9


def test_a_kill_before_the_standby_commit_is_rolled_forward(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(9)
    files = [
        write_csv(tmp_path / f"applications_{i}.csv", APPLICATION_HEADER, apps[3 * i : 3 * i + 3])
        for i in range(3)
    ]
    profile = write_profile(tmp_path, name="p.toml")
    load_files(wh, [(files[0], center_profile)], calendar=CALENDAR)
    _killed_load(wh, files[1], "publish", profile)
    with wh.read() as con:  # readers still see the warehouse as before the killed run
        assert con.execute("SELECT count(*) FROM applications").fetchall()[0][0] == 3
    result = load_files(wh, [(files[2], center_profile)], calendar=CALENDAR)
    assert result.run_id == 3 and result.files[0].loaded == 3
    a, b = _copies(wh)
    assert a == b
    with wh.read() as con:
        assert con.execute("SELECT count(*) FROM applications").fetchall()[0][0] == 9
        assert con.execute("SELECT run_id FROM etl_runs ORDER BY 1").fetchall() == [
            (1,),
            (2,),
            (3,),
        ]
    assert list(wh.deltas.iterdir()) == []


def test_a_kill_after_the_standby_commit_is_published_by_the_next_run(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(6)
    first = write_csv(tmp_path / "applications_1.csv", APPLICATION_HEADER, apps[:3])
    second = write_csv(tmp_path / "applications_2.csv", APPLICATION_HEADER, apps[3:])
    profile = write_profile(tmp_path, name="p.toml")
    load_files(wh, [(first, center_profile)], calendar=CALENDAR)
    _killed_load(wh, second, "_catch_up", profile)  # dies right after applying to the standby
    # A run killed while staging leaves decoded copies of its inputs; the next writer drops them.
    leftover = wh.deltas / "scratch-killed" / "applications.csv.utf8.csv"
    leftover.parent.mkdir()
    leftover.write_text("办件编号\n", encoding="utf-8")
    result = load_files(wh, [(second, center_profile)], calendar=CALENDAR)
    assert result.run_id == 3 and result.files[0].duplicates == 3  # run 2 was rolled forward
    a, b = _copies(wh)
    assert a == b
    assert [p.name for p in wh.deltas.iterdir()] == []
