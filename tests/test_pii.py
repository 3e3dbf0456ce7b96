"""Personal data kept out (issue 13, part 5): ID-card and phone numbers planted in declared and
undeclared columns, in a header-less export and in rows that fail, and a load killed mid-run;
none of them is found in clear anywhere the project writes. The pseudonymization secret never
lives in the data folder, and a load that maps applicant_id is refused without one."""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etl import pii
from etl.demo import DEMO_SECRET
from etl.profile import Profile, load_profile
from etl.run import LoadError, load_files
from onewindow.config import Config, ConfigError
from onewindow.store import store_path
from tests.conftest import run_cli
from tests.fixtures import (
    APPLICATION_HEADER,
    CALENDAR,
    MATTER_HEADER,
    STEP_HEADER,
    center_rows,
    id_card,
    matter_rows,
    phone,
    write_csv,
    write_profile,
)
from warehouse import Warehouse

ENCODINGS = ("utf-8", "gb18030", "utf-16-le")


def test_gb11643_check_digit() -> None:
    assert pii.is_id_number("11010519491231002X")  # the standard's own example
    assert pii.is_id_number("11010519491231002x")
    assert not pii.is_id_number("110105194912310021")  # wrong check digit
    assert not pii.is_id_number("110105194913310028")  # no 13th month
    rng = random.Random(3)
    assert all(pii.is_id_number(id_card(rng)) for _ in range(200))


def test_masks_are_consistent_and_keyed() -> None:
    number = id_card(random.Random(1))
    a, b = pii.Masker(b"k1"), pii.Masker(b"k2")
    assert a.mask(f"BJ{number}") == f"BJ{a.mask(number)}"
    assert a.mask(number) != b.mask(number) and number not in a.mask(number)
    assert (
        a.mask("电话 138-1234-5678") == a.mask("电话 13812345678") == a.mask("电话 +86 13812345678")
    )
    assert pii.mask_text("mail li.si@gov.cn now") == "mail [MAIL] now"
    assert pii.mask_text("run 12 of 20250301 rows") == "run 12 of 20250301 rows"


def _planted(folder: Path, n: int = 40) -> tuple[list[Path], list[str]]:
    """Center exports with personal numbers in undeclared places: application ids that embed
    an ID number, staff cells with a phone, a channel cell holding a phone (a row that fails),
    and a header-less export whose first row (with an ID number twice) becomes its header."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(11)
    apps, steps = center_rows(n)
    secrets_: list[str] = [a[8] for a in apps] + [a[9] for a in apps]
    renamed: dict[str, str] = {}
    for app in apps[:5]:
        embedded = id_card(rng)
        renamed[app[0]] = f"BJ{embedded}"
        app[0] = renamed[app[0]]
        secrets_.append(embedded)
    for step in steps:
        step[0] = renamed.get(step[0], step[0])
    for step in steps[:6]:
        mobile = phone(rng)
        step[6] = f"王五{mobile}"
        secrets_.append(mobile)
    bad_phone = phone(rng)
    apps[7][2] = bad_phone  # an unknown channel: quarantined, its reason quotes the cell
    secrets_.append(bad_phone)
    headerless = [list(a) for a in apps[10:13]]
    twice = id_card(rng)
    headerless[0][8] = twice
    headerless[0][1] = twice  # the same value twice: "duplicate column name(s) '…'"
    secrets_.append(twice)
    files = [
        write_csv(folder / "matters.csv", MATTER_HEADER, matter_rows()),
        write_csv(folder / "applications.csv", APPLICATION_HEADER, apps),
        write_csv(folder / "steps.csv", STEP_HEADER, steps),
    ]
    body = "\r\n".join(",".join(r) for r in headerless) + "\r\n"
    (folder / "applications_noheader.csv").write_bytes(body.encode("gb18030"))
    files.append(folder / "applications_noheader.csv")
    return files, secrets_


def _everything_written(root: Path, skip: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in root.rglob("*") if p.is_file() and skip not in p.parents
    )


def _assert_absent(planted: list[str], *texts: str | bytes) -> None:
    for value in planted:
        for text in texts:
            if isinstance(text, bytes):
                for encoding in ENCODINGS:
                    assert value.encode(encoding) not in text, value
            else:
                assert value not in text, value


def test_no_planted_number_is_found_in_clear_anywhere(tmp_path: Path) -> None:
    files, planted = _planted(tmp_path / "inbox")
    profile = write_profile(tmp_path)
    db = tmp_path / "data" / "warehouse.duckdb"
    ran = run_cli("load", *files, "--profile", profile, "--db", db)
    assert ran.code == 3  # published; the header-less export failed, the rest loaded
    assert "applications_noheader.csv" in ran.out and "failed" in ran.out
    assert "duplicate column name(s) '[ID]'" in ran.out
    wh = Warehouse(db)
    text = _all_text(wh)
    jobs = run_cli("report", "jobs", "--db", db, "--format", "csv")
    quarantine = run_cli("report", "quarantine", "--db", db, "--format", "csv")
    written = _everything_written(tmp_path, tmp_path / "inbox")
    _assert_absent(planted, ran.out, ran.err, text, jobs.out, quarantine.out, written)
    # The masks still join: the steps of applications whose ids embed an ID number loaded.
    with wh.read() as con:
        joined = con.execute(
            "SELECT count(DISTINCT e.application_id) FROM events e JOIN applications a "
            "USING (application_id) WHERE a.application_id LIKE 'BJ[ID:%'"
        ).fetchone()
        assert joined == (5,)
        staff = con.execute("SELECT DISTINCT staff FROM events WHERE staff LIKE '王五%'").fetchall()
        assert staff and all(s[0].startswith("王五[TEL:") for s in staff)
    # Counted per file and column for the Data health page.
    found = pii.stored_findings(wh)
    counts = {(Path(p).name, c, k): n for _, p, c, k, n in found.rows()}
    assert counts[("applications.csv", "application_id", "id_card")] == 5
    assert counts[("steps.csv", "application_id", "id_card")] >= 5
    assert counts[("steps.csv", "staff", "mobile")] == 6
    assert counts[("applications.csv", pii.QUARANTINED, "mobile")] == 1


def _all_text(wh: Warehouse) -> str:
    parts = []
    with wh.read() as con:
        columns = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE data_type IN ('VARCHAR', 'JSON') AND NOT internal"
        ).fetchall()
        for table, column in columns:
            parts += [
                str(v[0])
                for v in con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall()
            ]
    return "\n".join(parts)


def test_the_inbox_job_keeps_no_personal_data_in_archive_failed_or_quarantine(
    tmp_path: Path,
) -> None:
    from etl.scheduler import Jobs
    from onewindow.config import load_config

    _, planted = _planted(tmp_path / "inbox")
    profile = write_profile(tmp_path)
    conf = tmp_path / "onewindow.toml"
    conf.write_text(
        f'db = "data/warehouse.duckdb"\n[folders]\ninbox = "inbox"\narchive = "data/archive"\n'
        f'failed = "data/failed"\nquarantine = "data/quarantine"\n'
        f'[etl]\nprofiles = ["{profile.name}"]\n',
        encoding="utf-8",
    )
    config = load_config(conf)
    wh = Warehouse(config.warehouse_path())
    result = Jobs(config, wh).inbox()
    assert result is not None and result.status == "partial"
    data = tmp_path / "data"
    assert sorted(p.name for p in (data / "archive").iterdir()) == [
        "run000001-applications.csv", "run000001-matters.csv", "run000001-steps.csv",
    ]  # fmt: skip
    assert sorted(p.name for p in (data / "failed").iterdir()) == [
        "run000001-applications_noheader.csv.reason.txt"
    ]
    assert list((data / "quarantine").iterdir())
    _assert_absent(planted, _everything_written(data, tmp_path / "inbox"))
    assert list((tmp_path / "inbox").iterdir()) == []
    # The archived copies load again with the same profile (named as the profile expects).
    again = tmp_path / "again"
    again.mkdir()
    for name in ("matters.csv", "applications.csv"):
        shutil.copy(data / "archive" / f"run000001-{name}", again / name)
    reloaded = load_files(
        Warehouse(tmp_path / "w2.duckdb"),
        [(again / n, load_profile(profile)) for n in ("matters.csv", "applications.csv")],
        calendar=CALENDAR,
    )
    assert [(f.status, f.loaded) for f in reloaded.files] == [("loaded", 39), ("loaded", 7)]
    # Everything written is readable by its owner only.
    for path in data.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


def test_archive_none_keeps_nothing(tmp_path: Path, center_profile: Profile) -> None:
    from etl.run import move_files

    files, _ = _planted(tmp_path / "inbox")
    wh = Warehouse(tmp_path / "w.duckdb")
    result = load_files(wh, [(f, center_profile) for f in files[:3]], calendar=CALENDAR)
    move_files(result, tmp_path / "archive", tmp_path / "failed",
               {str(f): center_profile for f in files}, "none")  # fmt: skip
    assert not (tmp_path / "archive").exists()
    assert all(not f.exists() for f in files[:3])


def test_a_killed_load_leaves_no_decoded_copy(tmp_path: Path) -> None:
    """A GB18030 export is decoded in memory: a SIGKILL mid-run leaves no copy of it."""
    apps, _ = center_rows(30000, seed=5)
    planted = [a[8] for a in apps[:500]] + [a[9] for a in apps[:500]]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    big = write_csv(inbox / "applications.csv", APPLICATION_HEADER, apps)
    profile = write_profile(tmp_path)
    db = tmp_path / "data" / "warehouse.duckdb"
    code = (
        "import sys; from onewindow.cli import main; "
        f"sys.exit(main(['load', {str(big)!r}, '--profile', {str(profile)!r}, "
        f"'--db', {str(db)!r}]))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL,
                            env=dict(os.environ))  # fmt: skip
    deadline = time.monotonic() + 60
    deltas = tmp_path / "data" / "warehouse.duckdb.d" / "deltas"
    while time.monotonic() < deadline and proc.poll() is None:
        if deltas.exists() and any(deltas.iterdir()):
            break
        time.sleep(0.01)
    time.sleep(0.2)  # reading and decoding
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _assert_absent(planted, _everything_written(tmp_path / "data", inbox))


def test_a_load_that_maps_applicant_id_needs_a_secret(
    tmp_path: Path, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ONEWINDOW_SECRET")
    files, _ = _planted(tmp_path / "in")
    wh = Warehouse(tmp_path / "data" / "w.duckdb")
    with pytest.raises(LoadError, match="no pseudonymization secret is configured"):
        load_files(wh, [(f, center_profile) for f in files], calendar=CALENDAR)
    assert not wh.exists()
    ran = run_cli("load", *files, "--profile", tmp_path / "center.toml", "--db", wh.path)
    assert ran.code == 1 and "maps applicant_id, and no pseudonymization secret" in ran.err
    # Nothing is generated into the data folder; an old generated key there is refused.
    assert not list((tmp_path / "data").rglob("secret.key"))
    wh.home.mkdir(parents=True, exist_ok=True)
    (wh.home / "secret.key").write_text("old")
    monkeypatch.setenv("ONEWINDOW_SECRET", "x")
    with pytest.raises(LoadError, match="inside the data folder: move it out"):
        load_files(wh, [(f, center_profile) for f in files], calendar=CALENDAR)


def test_the_demo_loads_without_a_configured_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ONEWINDOW_SECRET")
    db = tmp_path / "w.duckdb"
    ran = run_cli("demo", "--applications", "300", "--months", "3", "--out", tmp_path / "x",
                  "--db", db)  # fmt: skip
    assert ran.code == 0, ran.err
    assert not list(tmp_path.rglob("secret.key"))
    assert DEMO_SECRET


def test_a_secret_file_inside_the_data_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ONEWINDOW_SECRET")
    inside = tmp_path / "data" / "key"
    inside.parent.mkdir()
    inside.write_text("s3cret")
    config = Config(db=tmp_path / "data" / "w.duckdb", privacy={"secret_file": inside})
    with pytest.raises(ConfigError, match="inside the data folder"):
        config.pseudonym_secret()
    outside = tmp_path / "etc" / "key"
    outside.parent.mkdir()
    outside.write_text("s3cret\n")
    config = Config(db=tmp_path / "data" / "w.duckdb", privacy={"secret_file": outside})
    assert config.pseudonym_secret() == b"s3cret"


def test_the_store_is_beside_the_warehouse(tmp_path: Path) -> None:
    assert store_path(tmp_path / "w.duckdb.d") == tmp_path / "w.duckdb.d" / "security.sqlite"


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"s" * 64, bytes(range(200))])
def test_keyed_hash_is_hmac_sha256(key: bytes) -> None:
    """The pads hashed once give what hmac.new gives, for keys shorter, as long as and
    longer than SHA-256's block (64 bytes: a longer key is hashed first)."""
    import hashlib
    import hmac

    keyed = pii.KeyedHash(key)
    for value in (b"", b"441203199303115555", "中文申请人".encode(), bytes(range(256)) * 3):
        assert keyed.hex(value) == hmac.new(key, value, hashlib.sha256).hexdigest()
