"""After a swap the old copy gets the run either applied again or, when that costs more (a bulk
load), as a copy of the published file (Writer._cheaper_to_clone). Either way both copies end
equal; a reader holding the old copy keeps reading it whole; a kill while copying leaves the
old copy as it was, caught up by the next run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import warehouse.warehouse as w
from etl.profile import Profile
from etl.run import load_files
from tests.fixtures import CALENDAR, center_exports, write_profile
from warehouse import Warehouse

TABLES = ("matters", "applications", "events", "etl_runs", "d_facts", "d_steps", "d_pending")


def _contents(copy: Path) -> dict[str, list[str]]:
    with duckdb.connect(str(copy), read_only=True) as con:
        return {t: sorted(map(repr, con.execute(f"FROM {t}").fetchall())) for t in TABLES}


def _rows(copy: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(copy), read_only=True) as con:
        return con.execute(sql).fetchall()


def _inodes(wh: Warehouse) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in sorted(wh.home.glob("?.duckdb"))}


@pytest.fixture
def clones(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every run counts as big enough to copy the published file rather than apply it twice;
    lists the copies so replaced."""
    monkeypatch.setattr(w, "CLONE_MIN_ROWS", 0)
    monkeypatch.setattr(w, "CLONE_BYTES_PER_ROW", 10**12)
    done: list[str] = []
    clone_other = w.Writer._clone_other

    def spy(self: w.Writer, copy: Path) -> None:
        clone_other(self, copy)
        done.append(copy.stem)

    monkeypatch.setattr(w.Writer, "_clone_other", spy)
    return done


def _load(wh: Warehouse, files: list[Path], profile: Profile) -> None:
    result = load_files(wh, [(f, profile) for f in files], calendar=CALENDAR)
    assert result.complete, result


def test_a_bulk_load_copies_the_published_file_onto_the_old_copy(
    tmp_path: Path, wh: Warehouse, center_profile: Profile, clones: list[str]
) -> None:
    _load(wh, center_exports(tmp_path / "in", n=40), center_profile)
    a, b = (wh.home / n for n in w.COPY_NAMES)
    old = wh.other(wh.published())
    assert clones == [old.stem]  # the old copy, once the run is published
    assert old.stat().st_mode & 0o077 == 0  # owner only, whatever the process's umask
    assert _contents(a) == _contents(b)
    assert len(_contents(a)["events"]) > 100 and _contents(a)["d_pending"] == []
    assert list(wh.deltas.iterdir()) == [] and not list(wh.home.glob("*.tmp"))
    # the next run starts from two equal copies and catches up or copies as usual
    more = center_exports(tmp_path / "more", n=50, seed=2)
    inodes = _inodes(wh)
    _load(wh, more, center_profile)
    assert _contents(a) == _contents(b) and len(clones) == 2
    changed = [name for name, inode in _inodes(wh).items() if inodes[name] != inode]
    assert changed == [f"{clones[-1]}.duckdb"]  # a new file renamed over the old copy


def test_a_small_run_is_applied_to_the_old_copy_in_place(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    _load(wh, center_exports(tmp_path / "in", n=20), center_profile)
    inodes = _inodes(wh)
    _load(wh, center_exports(tmp_path / "more", n=25, seed=2), center_profile)
    assert _inodes(wh) == inodes  # both copies written in place: nothing rewrote a whole file
    a, b = (wh.home / n for n in w.COPY_NAMES)
    assert _contents(a) == _contents(b)


def test_a_reader_of_the_old_copy_keeps_its_file_and_does_not_hold_the_run_back(
    tmp_path: Path, wh: Warehouse, center_profile: Profile, clones: list[str]
) -> None:
    _load(wh, center_exports(tmp_path / "in", n=20), center_profile)
    published = wh.published()
    held = w._connect(published, read_only=True)  # as a reader opens it, before the run
    try:
        _load(wh, center_exports(tmp_path / "more", n=25, seed=2), center_profile)
        assert wh.published() != published
        # the reader still reads the whole file it opened: the state before the run
        assert held.execute("SELECT count(*) FROM etl_runs").fetchall() == [(1,)]
        assert held.execute("SELECT count(*) FROM applications").fetchall() == [(20,)]
    finally:
        held.close()
    # not left for the next run: the old copy already holds the run, no delta is pending
    assert list(wh.deltas.iterdir()) == []
    assert _contents(published) == _contents(wh.published())
    assert len(_contents(published)["applications"]) > 20 and published.stem in clones


KILL_WHILE_COPYING = """
import os, shutil, signal, sys
from pathlib import Path
import warehouse.warehouse as w
from etl.profile import load_profile
from etl.run import load_files
from tests.fixtures import CALENDAR
w.CLONE_MIN_ROWS, w.CLONE_BYTES_PER_ROW = 0, 10**12
def half_then_die(src, dst):
    with open(src, "rb") as fh, open(dst, "wb") as out:
        out.write(fh.read(os.path.getsize(src) // 2))
    os.kill(os.getpid(), signal.SIGKILL)
w.shutil.copyfile = half_then_die
load_files(
    w.Warehouse(Path(sys.argv[1])),
    [(Path(p), load_profile(Path(sys.argv[2]))) for p in sys.argv[3:]],
    CALENDAR,
)
"""


def test_a_kill_while_copying_leaves_the_old_copy_whole_and_the_next_run_catches_it_up(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    _load(wh, center_exports(tmp_path / "in", n=20), center_profile)
    old = wh.published()
    first = _contents(old)
    more = center_exports(tmp_path / "more", n=25, seed=2)
    profile = write_profile(tmp_path, name="p.toml")
    proc = subprocess.run(
        [sys.executable, "-c", KILL_WHILE_COPYING, str(wh.path), str(profile), *map(str, more)],
        check=False,
    )
    assert proc.returncode == -9
    assert wh.published() != old  # the run was published before its copy was made
    assert list(wh.home.glob("*.clone.tmp"))  # the half-written file, beside the old copy
    assert _contents(old) == first  # the old copy itself untouched
    assert [p.name for p in wh.deltas.iterdir()] == ["run-00000002.duckdb"]
    _load(wh, center_exports(tmp_path / "last", n=30, seed=3), center_profile)
    a, b = (wh.home / n for n in w.COPY_NAMES)
    assert _contents(a) == _contents(b)
    assert [r[0] for r in _rows(a, "SELECT run_id FROM etl_runs ORDER BY 1")] == [1, 2, 3]
    assert list(wh.deltas.iterdir()) == [] and not list(wh.home.glob("*.tmp"))


def test_a_copy_that_fails_falls_back_to_applying_the_run(
    tmp_path: Path,
    wh: Warehouse,
    center_profile: Profile,
    clones: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _load(wh, center_exports(tmp_path / "in", n=20), center_profile)

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w.shutil, "copyfile", full_disk)
    _load(wh, center_exports(tmp_path / "more", n=25, seed=2), center_profile)
    a, b = (wh.home / n for n in w.COPY_NAMES)
    assert _contents(a) == _contents(b) and list(wh.deltas.iterdir()) == []
    assert not list(wh.home.glob("*.tmp")) and clones == ["a"]  # the first load's, not this
