"""Idempotent, incremental loads: nothing twice, corrections replace, unchanged files skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.profile import Profile
from etl.run import load_files
from tests.fixtures import APPLICATION_HEADER, CALENDAR, STEP_HEADER, center_rows, write_csv
from warehouse import Warehouse


def _count(wh: Warehouse, table: str) -> int:
    with wh.read() as con:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def test_overlapping_exports_add_nothing_twice(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(30)
    first = write_csv(tmp_path / "applications_1.csv", APPLICATION_HEADER, apps[:20])
    second = write_csv(tmp_path / "applications_2.csv", APPLICATION_HEADER, apps[10:])
    steps_1 = write_csv(tmp_path / "steps_1.csv", STEP_HEADER, steps[:80])
    steps_2 = write_csv(tmp_path / "steps_2.csv", STEP_HEADER, steps[40:])
    r1 = load_files(wh, [(first, center_profile), (steps_1, center_profile)], calendar=CALENDAR)
    r2 = load_files(wh, [(second, center_profile), (steps_2, center_profile)], calendar=CALENDAR)
    assert [(f.loaded, f.duplicates) for f in r1.files] == [(20, 0), (80, 0)]
    assert [(f.loaded, f.duplicates) for f in r2.files] == [(10, 10), (40, 40)]
    assert (_count(wh, "applications"), _count(wh, "events")) == (30, 120)


def test_the_same_rows_twice_in_one_run_count_once(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(5)
    a = write_csv(tmp_path / "applications_a.csv", APPLICATION_HEADER, apps + apps[:2])
    result = load_files(wh, [(a, center_profile)], calendar=CALENDAR)
    assert (result.files[0].rows_read, result.files[0].loaded, result.files[0].duplicates) == (
        7,
        5,
        2,
    )
    assert _count(wh, "applications") == 5


def test_a_corrected_reexport_replaces_the_earlier_version(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(5)
    load_files(
        wh,
        [(write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps), center_profile)],
        calendar=CALENDAR,
    )
    fixed = [list(a) for a in apps]
    fixed[2][6] = "0"  # trips corrected
    fixed[3][2] = "窗口"  # channel corrected
    result = load_files(
        wh,
        [
            (
                write_csv(tmp_path / "applications_fixed.csv", APPLICATION_HEADER, fixed),
                center_profile,
            )
        ],
        calendar=CALENDAR,
    )
    assert (result.files[0].loaded, result.files[0].duplicates) == (2, 3)
    with wh.read() as con:
        rows = {
            r[0]: {"trips": r[1], "channel": r[2], "run_id": r[3]}
            for r in con.execute(
                "SELECT application_id, trips, channel, run_id FROM applications"
            ).fetchall()
        }
        history = con.execute("SELECT inserted, updated FROM etl_runs ORDER BY run_id").fetchall()
    assert rows[apps[2][0]]["trips"] == 0 and rows[apps[2][0]]["run_id"] == 2
    assert rows[apps[3][0]]["channel"] == "window"
    assert rows[apps[0][0]]["run_id"] == 1
    assert history == [(5, 0), (0, 2)]
    assert _count(wh, "applications") == 5


def test_a_file_with_quarantined_rows_is_read_again_and_fixed_rows_leave_quarantine(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(3)
    steps_file = write_csv(tmp_path / "steps.csv", STEP_HEADER, steps)
    first = load_files(wh, [(steps_file, center_profile)], calendar=CALENDAR)  # no applications yet
    assert first.files[0].quarantined == 12 and _count(wh, "quarantine") == 12
    load_files(
        wh,
        [(write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps), center_profile)],
        calendar=CALENDAR,
    )
    again = load_files(wh, [(steps_file, center_profile)], calendar=CALENDAR)
    assert (again.files[0].status, again.files[0].loaded, again.files[0].quarantined) == (
        "loaded",
        12,
        0,
    )
    assert _count(wh, "quarantine") == 0 and _count(wh, "events") == 12


def test_an_unchanged_file_is_not_read_again(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, _ = center_rows(5)
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    renamed = tmp_path / "applications_copy.csv"
    path.rename(renamed)  # same bytes under another name: still known by its content hash
    result = load_files(wh, [(renamed, center_profile)], calendar=CALENDAR)
    assert (result.files[0].status, result.files[0].rows_read, result.files[0].duplicates) == (
        "unchanged",
        5,
        5,
    )
    with wh.read() as con:
        assert con.execute("SELECT count(*) FROM etl_files").fetchall()[0][0] == 1


def test_files_are_told_apart_by_their_bytes_whatever_their_size(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    """A file of a size no file had is read before its hash is made: its hash and id are
    still its own, and a file of a known size is still compared by hash."""
    import hashlib

    apps, _ = center_rows(6)
    a = write_csv(tmp_path / "applications_a.csv", APPLICATION_HEADER, apps[:3])
    same_size = [list(r) for r in apps[:3]]
    same_size[0][6] = "2" if same_size[0][6] != "2" else "1"  # trips: one digit for another
    b = write_csv(tmp_path / "applications_b.csv", APPLICATION_HEADER, same_size)
    c = write_csv(tmp_path / "applications_c.csv", APPLICATION_HEADER, apps[3:5])
    assert a.stat().st_size == b.stat().st_size != c.stat().st_size
    first = load_files(wh, [(a, center_profile), (c, center_profile)], calendar=CALENDAR)
    copy = tmp_path / "applications_d.csv"
    copy.write_bytes(c.read_bytes())
    second = load_files(
        wh, [(b, center_profile), (copy, center_profile), (a, center_profile)], calendar=CALENDAR
    )
    assert [f.status for f in first.files] == ["loaded", "loaded"]
    assert {Path(f.path).name: f.status for f in second.files} == {
        "applications_a.csv": "unchanged",
        "applications_b.csv": "loaded",
        "applications_d.csv": "unchanged",
    }
    with wh.read() as con:
        files = dict(con.execute("SELECT sha256, file_id FROM etl_files").fetchall())
        runs = con.execute(
            "SELECT path, file_id FROM etl_run_files ORDER BY run_id, path"
        ).fetchall()
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c, copy)}
    assert set(files) == {
        digest["applications_a.csv"],
        digest["applications_b.csv"],
        digest["applications_c.csv"],
    }
    assert len(set(files.values())) == 3
    assert [(Path(p).name, i) for p, i in runs] == [
        ("applications_a.csv", files[digest["applications_a.csv"]]),
        ("applications_c.csv", files[digest["applications_c.csv"]]),
        ("applications_a.csv", files[digest["applications_a.csv"]]),
        ("applications_b.csv", files[digest["applications_b.csv"]]),
        ("applications_d.csv", files[digest["applications_c.csv"]]),
    ]


def test_a_file_that_changes_while_it_is_read_fails_with_its_reason(
    tmp_path: Path, wh: Warehouse, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hash is made beside the reading: a file rewritten in between (an export still
    being written) fails, and its bytes hashed keep their one id."""
    from etl import run

    apps, _ = center_rows(8)
    first = write_csv(tmp_path / "applications_1.csv", APPLICATION_HEADER, apps[:3])
    load_files(wh, [(first, center_profile)], calendar=CALENDAR)
    before = first.read_bytes()
    grown = write_csv(tmp_path / "applications_2.csv", APPLICATION_HEADER, apps)
    hashed = run._hashed

    def stale(path: Path) -> tuple[str, int]:  # hashed before the export was rewritten
        if path == grown:
            import hashlib

            return hashlib.sha256(before).hexdigest(), len(before)
        return hashed(path)

    monkeypatch.setattr(run, "_hashed", stale)
    same_size = tmp_path / "applications_3.csv"
    same_size.write_bytes(before)  # a known size: its hash is waited for, and tells
    result = load_files(
        wh, [(grown, center_profile), (same_size, center_profile)], calendar=CALENDAR
    )
    outcome = {Path(f.path).name: (f.status, f.loaded, f.error) for f in result.files}
    assert outcome == {
        "applications_2.csv": ("failed", 0, run.CHANGED),
        "applications_3.csv": ("unchanged", 0, None),
    }
    with wh.read() as con:
        assert con.execute("SELECT count(*), count(DISTINCT sha256) FROM etl_files").fetchall() == [
            (1, 1)
        ]
        assert _count(wh, "applications") == 3
    monkeypatch.setattr(run, "_hashed", hashed)  # complete now: read again, it loads
    again = load_files(wh, [(grown, center_profile)], calendar=CALENDAR)
    assert (again.files[0].status, again.files[0].loaded) == ("loaded", 5)


def test_flat_log_conflicts_are_reported_not_dropped(
    tmp_path: Path, wh: Warehouse, receipt: Path
) -> None:
    from etl.profile import load_profile
    from tests.fixtures import PROFILES

    lines = receipt.read_text(encoding="utf-8").splitlines()
    header, first, second = lines[0], lines[1], lines[2]
    assert first.startswith("Internet,case-10011") and second.startswith("Internet,case-10011")
    log = tmp_path / "receipt-conflict.csv"
    log.write_text("\n".join([header, first, second.replace("Internet,", "Desk,", 1)]) + "\n")
    result = load_files(wh, [(log, load_profile(PROFILES / "receipt.toml"))], calendar=CALENDAR)
    assert result.files[0].loaded == 2
    with wh.read() as con:
        assert con.execute("SELECT channel FROM applications").fetchall() == [("online",)]
        assert con.execute(
            "SELECT application_id, field, kept, other FROM etl_conflicts"
        ).fetchall() == [("case-10011", "channel", "online", "window")]


RATINGS = """
[tables.evaluations]
files = "ratings*"
[tables.evaluations.columns]
application_id = "办件编号"
rating = "评价等级"
rated_at = "评价时间"
[tables.evaluations.values.rating]
"满意" = "4"
"不满意" = "2"
"""


def test_a_rating_repeated_in_one_run_keeps_the_last_files_value(
    tmp_path: Path, wh: Warehouse
) -> None:
    """Ratings are keyed by application and time (two columns): inside a run the last file's
    row wins, the earlier one is a duplicate; a later run with another value replaces it."""
    from etl.profile import load_profile
    from tests.fixtures import CENTER_PROFILE, write_profile

    profile = load_profile(write_profile(tmp_path, CENTER_PROFILE + RATINGS))
    apps, _ = center_rows(3)
    ids = [row[0] for row in apps]
    header = ["办件编号", "评价等级", "评价时间"]
    a = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    first = write_csv(
        tmp_path / "ratings_1.csv",
        header,
        [[ids[0], "不满意", "2025-06-01 10:00:00"], [ids[1], "满意", "2025-06-01 11:00:00"]],
    )
    second = write_csv(
        tmp_path / "ratings_2.csv",
        header,
        [[ids[0], "满意", "2025-06-01 10:00:00"], [ids[0], "满意", "2025-06-02 10:00:00"]],
    )
    result = load_files(wh, [(f, profile) for f in (a, first, second)], calendar=CALENDAR)
    assert [(f.loaded, f.duplicates) for f in result.files] == [(3, 0), (1, 1), (2, 0)]

    def ratings() -> list[tuple[object, ...]]:
        with wh.read() as con:
            return con.execute(
                "SELECT application_id, rating, strftime(rated_at, '%d %H') FROM evaluations "
                "ORDER BY 1, 3"
            ).fetchall()

    assert ratings() == [(ids[0], 4, "01 02"), (ids[0], 4, "02 02"), (ids[1], 4, "01 03")]
    again = write_csv(
        tmp_path / "ratings_3.csv", header, [[ids[1], "不满意", "2025-06-01 11:00:00"]]
    )
    result = load_files(wh, [(again, profile)], calendar=CALENDAR)
    assert [(f.loaded, f.duplicates) for f in result.files] == [(1, 0)]
    assert ratings()[-1] == (ids[1], 2, "01 03")
