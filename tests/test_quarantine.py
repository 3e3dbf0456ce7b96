"""Bad rows are quarantined with file, row, field and reason; unreadable files fail alone;
for every file, rows read = loaded + duplicates + quarantined."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.profile import Profile, load_profile
from etl.run import load_files
from tests.fixtures import (
    APPLICATION_HEADER,
    CALENDAR,
    CENTER_PROFILE,
    STEP_HEADER,
    center_rows,
    write_csv,
    write_profile,
    write_xlsx,
)
from warehouse import Warehouse


def _bad_applications(folder: Path) -> Path:
    apps, _ = center_rows(6)
    apps[1][0] = ""  # row 3: missing id
    apps[2][3] = "yesterday"  # row 4: unparseable timestamp
    apps[3][2] = "传真"  # row 5: a channel the profile does not map
    apps[4][6] = "two"  # row 6: trips not a number
    path = write_csv(folder / "applications.csv", APPLICATION_HEADER, apps)
    with open(path, "ab") as fh:  # row 8: too few fields, row 9: too many
        fh.write("4412X,M-001,网上\r\n".encode("gb18030"))
        fh.write(",".join(["4412Y", *apps[0][1:], "extra"]).encode("gb18030") + b"\r\n")
    return path


def _steps(folder: Path) -> Path:
    _, steps = center_rows(6)
    steps[0][0] = "NO-SUCH-APP"  # row 2: event of an unknown application
    return write_csv(folder / "steps.csv", STEP_HEADER, steps)


def test_every_bad_row_is_quarantined_with_its_reason(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    files = [_bad_applications(tmp_path), _steps(tmp_path)]
    result = load_files(wh, [(f, center_profile) for f in files], calendar=CALENDAR)
    assert result.status == "ok"
    with wh.read() as con:
        q = con.execute(
            "SELECT table_name, row_number, field, reason, raw::VARCHAR FROM quarantine "
            "ORDER BY table_name, row_number"
        ).fetchall()
        stored = con.execute("SELECT count(*) FROM applications").fetchall()[0][0]
    rows = [(t, r, f, reason) for t, r, f, reason, _ in q]
    assert rows == [
        ("applications", 3, "application_id", "missing required field"),
        ("applications", 4, "submitted_at", "unparseable timestamp 'yesterday'"),
        (
            "applications",
            5,
            "channel",
            "unknown channel '传真' (expected one of window, online, "
            "mobile, kiosk, mail, other; map it under [tables.applications.values.channel])",
        ),
        ("applications", 6, "trips", "not a whole number 'two'"),
        (
            "applications",
            8,
            "(row)",
            "row has fewer fields than the header (3 fields, header has 10)",
        ),
        (
            "applications",
            9,
            "(row)",
            "row has more fields than the header (11 fields, header has 10)",
        ),
        *[
            (
                "events",
                r,
                "application_id",
                "unknown application: not in the warehouse nor in this run",
            )
            # row 2 names no known application; rows 6-21 belong to the quarantined ones
            for r in [2, *range(6, 22)]
        ],
    ]
    assert stored == 2  # rows 2 and 7 of 8 records
    raw = next(r for t, r_, f, _, r in q if r_ == 4)
    assert '"申请时间":"yesterday"' in raw and "证件号码" not in raw and "申请人" not in raw
    by_file = {Path(f.path).name: f for f in result.files}
    for f in result.files:
        assert f.rows_read == f.loaded + f.duplicates + f.quarantined
    assert (by_file["applications.csv"].rows_read, by_file["applications.csv"].quarantined) == (
        8,
        6,
    )
    assert (by_file["steps.csv"].rows_read, by_file["steps.csv"].loaded) == (24, 7)


def test_unreadable_files_fail_alone_and_the_run_goes_on(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    apps, steps = center_rows(4)
    good = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    empty = tmp_path / "applications_empty.csv"
    empty.write_bytes(b"")
    undecodable = tmp_path / "applications_bytes.csv"
    header = ",".join(APPLICATION_HEADER).encode("gb18030") + b"\r\n"
    undecodable.write_bytes(header + b"\xff\xff,1\r\n")  # 0xFF starts no GB18030 character
    missing = write_csv(
        tmp_path / "applications_nocol.csv", APPLICATION_HEADER[1:], [a[1:] for a in apps]
    )
    cut = write_csv(tmp_path / "steps.csv", STEP_HEADER, steps)
    cut.write_bytes(cut.read_bytes()[:-30])  # cut mid-row, as an interrupted export
    book = write_xlsx(tmp_path / "applications_book.xlsx", APPLICATION_HEADER, apps)
    book.write_bytes(book.read_bytes()[:2000])
    files = [good, empty, undecodable, missing, cut, book]
    result = load_files(wh, [(f, center_profile) for f in files], calendar=CALENDAR)
    assert result.status == "partial"
    reasons = {Path(f.path).name: f.error for f in result.failed}
    assert reasons == {
        "applications_empty.csv": "the file is empty",
        "applications_bytes.csv": "neither UTF-8 nor GB18030 (undecodable byte in row 2, "
        "column 1 (办件编号))",
        "applications_nocol.csv": "missing column(s) '办件编号' (mapped to application_id)",
        "steps.csv": "the file ends in the middle of row 17: it looks truncated",
        "applications_book.xlsx": "not a readable Excel workbook (CalamineError)",
    }
    loaded = [f for f in result.files if f.status == "loaded"]
    assert [(Path(f.path).name, f.loaded) for f in loaded] == [("applications.csv", 4)]
    with wh.read() as con:
        assert con.execute("SELECT count(*) FROM events").fetchall()[0][0] == 0
        history = con.execute("SELECT status, files, failed_files FROM etl_runs").fetchall()
    assert history == [("partial", 6, 5)]


def test_an_explicit_wrong_encoding_names_the_fix(tmp_path: Path, wh: Warehouse) -> None:
    text = CENTER_PROFILE.replace(
        'files = "applications*"', 'files = "applications*"\nencoding = "utf-8"'
    )
    profile = load_profile(write_profile(tmp_path, text))
    apps, _ = center_rows(2)
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    result = load_files(wh, [(path, profile)], calendar=CALENDAR)
    assert result.failed[0].error == (
        "not valid utf-8 (undecodable byte in row 1, column 1); "
        'set encoding = "auto" or the file\'s real encoding in the profile'
    )


def test_quarantined_rows_are_staged_a_batch_at_a_time_with_long_values_cut(
    tmp_path: Path, wh: Warehouse, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose every row is quarantined (a profile that does not fit it) is not gathered
    in Python: each batch's quarantined rows go to the staging database as they are found,
    and get their rows there. A value of thousands of characters (a pasted document, a zip
    bomb's cell) is kept as its first 1,000 and its length."""
    from etl import readers

    monkeypatch.setattr(readers, "BATCH_ROWS", 4)
    apps, _ = center_rows(10)
    for row in apps:
        row[3] = "05.03.2024"  # a notation no profile maps: every row quarantined
    apps[6][1] = "M-" + "长" * 5000
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    with open(path, "ab") as fh:  # row 12 cannot be split: quarantined by the reader
        fh.write("4412X,M-001,网上\r\n".encode("gb18030"))
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    (outcome,) = result.files
    assert (outcome.rows_read, outcome.loaded, outcome.quarantined) == (11, 0, 11)
    with wh.read() as con:
        q = con.execute(
            "SELECT row_number, field, raw::VARCHAR FROM quarantine ORDER BY row_number"
        ).fetchall()
    assert [r for r, _, _ in q] == list(range(2, 13))
    assert {f for r, f, _ in q if r < 12} == {"submitted_at"} and q[-1][1] == "(row)"
    raw = q[6][2]
    assert "M-" + "长" * 998 + ' … (5002 characters)"' in raw and "长" * 999 not in raw


def test_a_source_column_named_as_a_field_shows_its_text(tmp_path: Path, wh: Warehouse) -> None:
    """A quarantined row's raw values are the file's texts, also in a column whose header is
    a field's own name (`trips`), which the typing replaces by its typed value."""
    profile = tmp_path / "p.toml"
    profile.write_text(
        'name = "plain"\ntimezone = "Asia/Shanghai"\n[tables.applications]\nfiles = "apps*"\n'
        '[tables.applications.columns]\napplication_id = "id"\nmatter_code = "matter"\n'
        'channel = "channel"\nsubmitted_at = "submitted"\ntrips = "trips"\n',
        encoding="utf-8",
    )
    apps = tmp_path / "apps.csv"
    apps.write_text(
        "id,matter,channel,submitted,trips\nA1,M1,window,2025-03-03 09:00,two\n",
        encoding="utf-8",
    )
    result = load_files(wh, [(apps, load_profile(profile))], calendar=CALENDAR)
    assert result.files[0].quarantined == 1
    with wh.read() as con:
        (raw,) = con.execute("SELECT raw::VARCHAR FROM quarantine").fetchone()  # type: ignore[misc]
    assert '"trips":"two"' in raw and '"id":"A1"' in raw
