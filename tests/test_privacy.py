"""Names, ID-card numbers and phone numbers never reach the warehouse in clear."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from etl.profile import Profile
from etl.run import load_files
from tests.fixtures import APPLICATION_HEADER, CALENDAR, center_exports, center_rows, write_csv
from warehouse import Warehouse

SECRET = b"center-secret"


def _all_text(wh: Warehouse) -> str:
    """Every text value of every table, as SQL sees it (compression cannot hide a value)."""
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


def test_personal_data_is_never_stored_in_clear(tmp_path: Path, center_profile: Profile) -> None:
    files = center_exports(tmp_path / "in", n=30)
    apps, _ = center_rows(30)
    bad = [list(a) for a in apps[:2]]
    bad[0][0] = "BAD-1"
    bad[0][2] = "传真"  # quarantined: its raw values must not carry personal columns
    files.append(write_csv(tmp_path / "in" / "applications_fix.csv", APPLICATION_HEADER, bad))
    wh = Warehouse(tmp_path / "wh" / "warehouse.duckdb")
    result = load_files(wh, [(f, center_profile) for f in files], secret=SECRET, calendar=CALENDAR)
    assert sum(f.quarantined for f in result.files) == 1

    planted = [a[7] for a in apps] + [a[8] for a in apps] + [a[9] for a in apps]
    assert len(set(a[8] for a in apps)) == 30 and all(len(a[8]) == 18 for a in apps)
    stored = b"".join(p.read_bytes() for p in wh.home.rglob("*") if p.is_file())
    text = _all_text(wh)
    for value in planted:
        for encoding in ("utf-8", "gb18030", "utf-16-le"):
            assert value.encode(encoding) not in stored, value
        assert value not in text, value

    # Repeat applicants can still be counted: the key is HMAC-SHA256 of the ID number.
    with wh.read() as con:
        keys = dict(
            con.execute("SELECT application_id, applicant_key FROM applications").fetchall()
        )
    expected = hmac.new(SECRET, apps[0][8].upper().encode(), hashlib.sha256).hexdigest()
    assert keys[apps[0][0]] == expected
