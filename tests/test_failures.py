"""Failures of a run outside staging, and damaged warehouse copies (issue 10, "Why" 7).

Each failure is recorded in the run history with its reason and without server paths, the
exit code says whether the run was published (0 complete, 1 not published, 3 published with
problems), nothing ends in a traceback, and the counts add up. A copy that is cut short,
zeroed, damaged inside or read-only is read around and rebuilt by the next run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

import metrics.derived
from metrics import derived
from metrics.calendar import WorkCalendar
from onewindow.config import Config
from tests.conftest import Ran, run_cli
from tests.fixtures import APPLICATION_HEADER, center_exports, center_rows, write_csv, write_profile
from ui.fmt import Lang
from ui.i18n import tr
from ui.nav import PAGES
from warehouse import Warehouse, integrity

APP = str(Path(__file__).resolve().parents[1] / "app.py")

FULL_DISK = (
    'IO Error: Could not write file "/srv/onewindow/data/w.duckdb.d/a.duckdb.wal": '
    "No space left on device"
)


class Center:
    """A warehouse loaded with one run, and a second export to load next."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.db = root / "w.duckdb"
        self.wh = Warehouse(self.db)
        self.profile = write_profile(root)
        self.first = center_exports(root / "first", n=20)
        apps, _ = center_rows(40, seed=1)
        self.second = write_csv(root / "applications_2.csv", APPLICATION_HEADER, apps[20:23])
        self.third = write_csv(root / "applications_3.csv", APPLICATION_HEADER, apps[23:26])

    def load(self, *paths: Path) -> Ran:
        ran = run_cli("load", *paths, "--profile", self.profile, "--db", self.db)
        assert "Traceback" not in ran.err
        return ran

    def report(self, name: str) -> list[dict[str, object]]:
        ran = run_cli("report", name, "--db", self.db, "--format", "json")
        assert ran.code == 0, ran.err
        rows: list[dict[str, object]] = json.loads(ran.out)
        return rows

    def jobs(self) -> list[dict[str, object]]:
        return sorted(self.report("jobs"), key=lambda r: int(str(r["run_id"])))

    def standby(self) -> Path:
        return self.wh.other(self.wh.published())


@pytest.fixture
def center(tmp_path: Path) -> Center:
    c = Center(tmp_path)
    assert c.load(*c.first).code == 0
    return c


def _copy_state(copy: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(copy), read_only=True) as con:
        return (
            con.execute("SELECT application_id, run_id FROM applications ORDER BY 1").fetchall()
            + con.execute("SELECT count(*) FROM events").fetchall()
            + con.execute("SELECT run_id, job, status FROM etl_runs ORDER BY 1").fetchall()
        )


def _assert_whole(c: Center) -> None:
    """Both copies whole and equal, no delta left over, every run's counts adding up."""
    assert all(h.damage is None for h in c.wh.health())
    a, b = (c.wh.home / n for n in ("a.duckdb", "b.duckdb"))
    assert _copy_state(a) == _copy_state(b)
    assert list(c.wh.deltas.glob("run-*")) == []
    for run in c.jobs():
        moved = sum(int(str(run[k])) for k in ("inserted", "updated", "duplicates", "quarantined"))
        assert moved == run["rows_read"], run
    with c.wh.read() as con:
        bad = con.execute(
            """SELECT count(*) FROM etl_run_files
            WHERE rows_read <> loaded + duplicates + quarantined"""
        ).fetchall()[0][0]
    assert bad == 0


def _submitted(c: Center) -> float:
    kpis = {str(r["kpi"]): r["value"] for r in c.report("kpis")}
    return float(str(kpis["submitted"]))


def _truncate(copy: Path) -> None:
    with open(copy, "r+b") as fh:
        fh.truncate(copy.stat().st_size // 2)


def _zero(copy: Path) -> None:
    copy.write_bytes(b"\0" * copy.stat().st_size)


@pytest.mark.parametrize("which", ["published", "standby"])
@pytest.mark.parametrize(
    ("damage", "kind", "words"),
    [
        (_truncate, "truncated", "cut short"),
        (_zero, "not_database", "not a database file"),
    ],
)
def test_a_damaged_copy_is_read_around_and_rebuilt_by_the_next_run(
    center: Center, which: str, damage: object, kind: str, words: str
) -> None:
    c = center
    before = c.report("kpis")
    target = c.wh.published() if which == "published" else c.standby()
    damage(target)  # type: ignore[operator]

    found = {h.name: h for h in c.wh.health()}
    assert found[target.stem].damage is not None and found[target.stem].damage.kind == kind
    assert found[c.wh.other(target).stem].damage is None
    # Reports still answer, with the same figures, from the intact copy.
    assert c.report("kpis") == before
    assert [r["status"] for r in c.jobs()] == ["ok"]

    ran = c.load(c.second)
    assert ran.code == 0, ran.err
    assert _submitted(c) == 23
    jobs = c.jobs()
    assert [(r["job"], r["status"]) for r in jobs] == [
        ("load", "ok"),
        ("repair", "ok"),
        ("load", "ok"),
    ]
    repair = str(jobs[1]["error"])
    assert repair.startswith(f"copy {target.stem} was {words}")
    assert repair.endswith(f"rebuilt from copy {c.wh.other(target).stem}")
    assert "/" not in repair  # no server path
    _assert_whole(c)
    assert c.load(c.third).code == 0  # and the warehouse goes on as before
    _assert_whole(c)


def test_each_copy_truncated_in_turn_reports_answer_and_the_next_load_repairs_it(
    center: Center,
) -> None:
    c = center
    expected = 20.0
    for extra in (c.second, c.third):
        for target in (c.wh.home / "a.duckdb", c.wh.home / "b.duckdb"):
            before = c.report("kpis")
            _truncate(target)
            assert c.report("kpis") == before  # answered from the other copy
            assert c.load(extra).code == 0  # repairs, then loads (or finds duplicates)
            expected = 23.0 if extra == c.second else 26.0
            assert _submitted(c) == expected
            assert str(c.jobs()[-2]["error"]).startswith(f"copy {target.stem} was cut short")
            _assert_whole(c)
    assert [r["job"] for r in c.jobs()].count("repair") == 4


def test_a_copy_damaged_inside_is_noted_by_a_reader_and_rebuilt(center: Center) -> None:
    """Headers intact, blocks zeroed: only DuckDB's checksums see it, when a block is read."""
    c = center
    before = c.report("kpis")
    target = c.wh.published()
    with open(target, "r+b") as fh:
        fh.seek(3 * integrity.HEADER)
        fh.write(b"\0" * (target.stat().st_size - 3 * integrity.HEADER))
    first = run_cli("report", "kpis", "--db", c.db, "--format", "json")
    assert "Traceback" not in first.err and str(c.wh.home) not in first.err
    if first.code != 0:  # met while reading: one plain line, and the copy is marked
        assert first.err.startswith("onewindow: a copy of the warehouse turned out to be damaged")
    assert integrity.inspect(target) is not None
    assert c.report("kpis") == before
    assert c.load(c.second).code == 0
    assert "damaged inside" in str(c.jobs()[1]["error"])
    assert not integrity.marker(target).exists()
    _assert_whole(c)


def test_both_copies_damaged_is_one_clear_line(center: Center) -> None:
    c = center
    for copy in (c.wh.published(), c.standby()):
        _zero(copy)
    for ran in (
        run_cli("report", "kpis", "--db", c.db),
        run_cli("load", c.second, "--profile", c.profile, "--db", c.db),
    ):
        assert ran.code == 1 and "Traceback" not in ran.err
        assert "both copies of the warehouse are damaged" in ran.err
        assert len(ran.err.strip().splitlines()) == 1 or "WARNING" in ran.err


def test_a_failed_derived_refresh_is_recorded_and_the_run_published(
    tmp_path: Path, center: Center, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = center
    control = Center(tmp_path / "control")
    assert control.load(*control.first).code == 0
    assert control.load(control.second).code == 0

    def refresh(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, *_: object) -> str:
        raise duckdb.IOException(FULL_DISK)

    with monkeypatch.context() as patched:
        patched.setattr(metrics.derived, "refresh", refresh)
        ran = c.load(c.second)
    assert ran.code == 3  # published, not complete
    assert ran.out.splitlines()[-1] == "run 2: partial"
    assert "derived tables not refreshed" in ran.err and "No space left on device" in ran.err
    run = c.jobs()[-1]
    assert run["status"] == "partial" and run["inserted"] == 3
    assert "derived tables not refreshed" in str(run["error"])
    assert "No space left on device" in str(run["error"]) and "/srv" not in str(run["error"])
    # The stored tables are stale, so reports compute from the events: the same figures.
    with c.wh.read() as con:
        assert not derived.current(con, WorkCalendar.from_config(Config()))
    for name in ("kpis", "transitions", "cases"):
        assert _rounded(c.report(name)) == _rounded(control.report(name)), name
    _assert_whole(c)

    assert c.load(c.third).code == 0  # the next run refreshes them
    assert control.load(control.third).code == 0
    with c.wh.read() as con:
        assert derived.current(con, WorkCalendar.from_config(Config()))
    for name in ("kpis", "transitions", "cases"):
        assert _rounded(c.report(name)) == _rounded(control.report(name)), name


def _rounded(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Stored tables and the reference SQL sum in another order: equal to 9 digits."""
    return [{k: round(v, 9) if isinstance(v, float) else v for k, v in r.items()} for r in rows]


FULL_DISK_HOOK = """
import resource, signal, sys
from pathlib import Path
import metrics.derived
from onewindow import cli
original = metrics.derived.refresh
def refresh(con, cal, *args):
    # Every write that grows a file fails, as on a full disk; the rollback frees the space.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
    try:
        return original(con, cal, *args)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
metrics.derived.refresh = refresh
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_full_disk_during_the_derived_refresh_in_a_real_process(center: Center) -> None:
    c = center
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            FULL_DISK_HOOK,
            "load",
            str(c.second),
            "--profile",
            str(c.profile),
            "--db",
            str(c.db),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    run = c.jobs()[-1]
    assert run["status"] == "partial" and "derived tables not refreshed" in str(run["error"])
    assert "File too large" in str(run["error"]) and str(c.wh.home) not in str(run["error"])
    assert _submitted(c) == 23
    _assert_whole(c)


def test_a_failure_while_applying_is_recorded_and_nothing_published(
    center: Center, monkeypatch: pytest.MonkeyPatch
) -> None:
    import etl.apply

    c = center
    original = etl.apply._mark_touched

    def mark(con: duckdb.DuckDBPyConnection) -> None:
        if con.execute("SELECT count(*) FROM d.files").fetchall()[0][0]:
            raise duckdb.IOException(FULL_DISK)
        original(con)

    with monkeypatch.context() as patched:
        patched.setattr(etl.apply, "_mark_touched", mark)
        ran = c.load(c.second)
    assert ran.code == 1 and ran.err.startswith("onewindow: run 2 failed while applying")
    jobs = c.jobs()
    assert [(r["run_id"], r["status"]) for r in jobs] == [(1, "ok"), (2, "failed")]
    assert str(jobs[1]["error"]).startswith("applying: IOException")
    assert "/srv" not in str(jobs[1]["error"])
    assert _submitted(c) == 20  # nothing of the run is in
    _assert_whole(c)
    assert c.load(c.second).code == 0  # the same file loads once the cause is gone
    assert _submitted(c) == 23


def test_a_failed_swap_is_not_published_then_rolled_forward(
    center: Center, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warehouse.warehouse import Writer

    c = center
    original = Writer._point_to

    def point_to(self: Writer, copy: Path) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(Writer, "_point_to", point_to)
        ran = c.load(c.second)
    assert ran.code == 1 and "run 2 was not published yet" in ran.err
    assert _submitted(c) == 20  # readers see the warehouse as before
    assert Writer._point_to is original
    assert c.load(c.third).code == 0
    assert _submitted(c) == 26  # run 2 was published by run 3
    jobs = c.jobs()
    assert [(r["run_id"], r["status"]) for r in jobs] == [(1, "ok"), (2, "ok"), (3, "ok")]
    assert "not published at once: the published link could not be swapped" in str(jobs[1]["error"])
    _assert_whole(c)


def _immutable(path: Path, on: bool) -> bool:
    flag = "+i" if on else "-i"
    return (
        subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False).returncode
        == 0
    )


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    marked: list[Path] = []
    yield marked
    for path in marked:
        _immutable(path, False)


def test_a_read_only_standby_fails_the_run_and_is_recorded_once_writable(
    center: Center, immutable: list[Path]
) -> None:
    """chattr +i: not even root may write or replace the file (chmod would not stop root)."""
    c = center
    standby = c.standby()
    if shutil.which("chattr") is None or not _immutable(standby, True):
        pytest.skip("chattr +i is not available here (needs CAP_LINUX_IMMUTABLE)")
    immutable.append(standby)
    ran = c.load(c.second)
    assert ran.code == 1
    assert ran.err.startswith("onewindow: run 2 failed while bringing the warehouse up to date")
    assert "read-only" in ran.err and "could not be rebuilt" in ran.err
    assert _submitted(c) == 20
    _immutable(standby, False)
    assert c.load(c.second).code == 0
    jobs = c.jobs()
    assert [(r["run_id"], r["status"]) for r in jobs] == [(1, "ok"), (2, "failed"), (3, "ok")]
    assert "read-only" in str(jobs[1]["error"]) and str(c.wh.home) not in str(jobs[1]["error"])
    assert _submitted(c) == 23
    _assert_whole(c)


def test_a_standby_without_write_permission_is_rebuilt_and_the_run_goes_on(
    center: Center, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod a-w as the service's own (non-root) user: the folder stays writable, so the
    copy is replaced by a writable one. Root ignores the mode bits, so the permission check
    is what this test forces."""
    c = center
    standby = c.standby()
    inode = standby.stat().st_ino
    real_access = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        target = Path(str(path))
        if mode == os.W_OK and target == standby and target.stat().st_ino == inode:
            return False
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(integrity.os, "access", access)
    ran = c.load(c.second)
    assert ran.code == 0, ran.err
    jobs = c.jobs()
    assert [(r["job"], r["status"]) for r in jobs] == [
        ("load", "ok"),
        ("repair", "ok"),
        ("load", "ok"),
    ]
    assert str(jobs[1]["error"]) == (
        f"copy {standby.stem} was read-only (no write permission); "
        f"rebuilt from copy {c.wh.other(standby).stem}"
    )
    assert standby.stat().st_ino != inode and _submitted(c) == 23
    _assert_whole(c)


def test_a_read_only_published_copy_still_publishes_the_run(
    center: Center, immutable: list[Path]
) -> None:
    c = center
    published = c.wh.published()
    if shutil.which("chattr") is None or not _immutable(published, True):
        pytest.skip("chattr +i is not available here (needs CAP_LINUX_IMMUTABLE)")
    immutable.append(published)
    ran = c.load(c.second)
    assert ran.code == 3  # published; the read-only copy could not be updated
    assert f"copy {published.stem} was not updated" in ran.err and "read-only" in ran.err
    assert _submitted(c) == 23
    assert [r["status"] for r in c.jobs()] == ["ok", "ok"]
    _immutable(published, False)
    assert c.load(c.third).code == 0
    assert _submitted(c) == 26
    _assert_whole(c)


def test_a_run_is_published_even_if_the_old_copy_is_held_by_a_reader_os_error(
    center: Center, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any failure after the swap leaves the run published (exit 3) and the old copy caught
    up by the next run."""
    from warehouse.warehouse import Writer

    c = center
    catch_up_before, point_to_before = Writer._catch_up, Writer._point_to
    swapped: list[Path] = []

    def point_to(self: Writer, copy: Path) -> None:
        point_to_before(self, copy)
        swapped.append(copy)

    def catch_up(self: Writer, copy: Path, wait_s: float, *, retry: bool = True) -> None:
        if swapped and copy != swapped[-1]:  # the old copy, after the swap
            raise OSError(28, "No space left on device")
        catch_up_before(self, copy, wait_s, retry=retry)

    with monkeypatch.context() as patched:
        patched.setattr(Writer, "_catch_up", catch_up)
        patched.setattr(Writer, "_point_to", point_to)
        ran = c.load(c.second)
    assert ran.code == 3 and "was not updated (No space left on device)" in ran.err
    assert _submitted(c) == 23
    assert c.load(c.third).code == 0
    _assert_whole(c)


def test_the_marker_and_sizes_live_beside_the_copies(center: Center) -> None:
    sizes = json.loads((center.wh.home / "copies.json").read_text())
    assert set(sizes) == {"a.duckdb", "b.duckdb"}
    for name, entry in sizes.items():
        assert entry["size"] == os.path.getsize(center.wh.home / name)


def _data_page(db: Path, monkeypatch: pytest.MonkeyPatch, lang: str) -> AppTest:
    import ui.data

    monkeypatch.setenv("ONEWINDOW_DB", str(db))
    monkeypatch.delenv("ONEWINDOW_CONFIG_FILE", raising=False)
    monkeypatch.setenv("ONEWINDOW_AUTH", "demo")  # signed in as the data steward
    monkeypatch.setenv("ONEWINDOW_DEMO_ROLES", "data_steward")
    ui.data.config.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = lang
    at.run()
    at.switch_page(next(p for p in PAGES if p.slug == "data").file).run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(
        str(e.value)
        for kind in (at.error, at.warning, at.info, at.caption, at.success)
        for e in kind
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_data_page_says_what_happened_in_plain_words(
    center: Center, monkeypatch: pytest.MonkeyPatch, lang: Lang
) -> None:
    c = center
    published = c.wh.published()
    _truncate(published)
    at = _data_page(c.db, monkeypatch, lang)
    shown = _texts(at)
    what = tr("data.damage.truncated", lang, size="", expected="").split("（")[0].split("(")[0]
    assert [e.value for e in at.error] == [
        e.value for e in at.error if f"{published.stem}" in e.value and what in e.value
    ] and len(at.error) == 1, shown
    assert str(c.wh.home) not in shown and "duckdb" not in shown
    assert at.metric[0].value == "1"  # the history still reads, from the intact copy

    with monkeypatch.context() as patched:

        def refresh(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, *_: object) -> str:
            raise duckdb.IOException(FULL_DISK)

        patched.setattr(metrics.derived, "refresh", refresh)
        assert c.load(c.second).code == 3
    at = _data_page(c.db, monkeypatch, lang)
    shown = _texts(at)
    assert not at.error and tr("data.copies_ok", lang) in shown
    assert tr("data.derived_stale", lang, n=3) in shown  # the run's applications
    history = at.dataframe[0].value
    assert len(history) == 3 and str(c.wh.home) not in history.to_string()
