"""A million-event run loads completely. Written after a benchmark found every event of such a
run quarantined as 'unknown application': in DuckDB 2.0.0 a scan inside the run's transaction
missed the 167,778 applications the run had just inserted (more than one row group). And
after a session found such a run's derived tables built empty yet marked current (from about
860k events up; reports read them: every figure was empty), they must hold every event."""

from __future__ import annotations

from pathlib import Path

from etl.profile import load_profile
from etl.run import load_files
from tests.fixtures import CALENDAR, PROFILES, replicated_receipt
from warehouse import Warehouse


def test_a_million_events_load_completely(tmp_path: Path, receipt: Path) -> None:
    big = replicated_receipt(tmp_path / "receipt-1m.csv", 117)
    wh = Warehouse(tmp_path / "w.duckdb")
    result = load_files(wh, [(big, load_profile(PROFILES / "receipt.toml"))], calendar=CALENDAR)
    assert [(f.rows_read, f.loaded, f.quarantined) for f in result.files] == [
        (1_003_509, 1_003_509, 0)
    ]
    with wh.read() as con:
        assert con.execute(
            "SELECT (SELECT count(DISTINCT application_id) FROM applications),"
            " (SELECT count(DISTINCT application_id) FROM events)"
        ).fetchall() == [(167_778, 167_778)]
        assert con.execute(
            "SELECT (SELECT count(*) FROM d_steps), (SELECT count(*) FROM d_facts),"
            " (SELECT count(*) FROM d_pending), (SELECT count(*) FROM d_state)"
        ).fetchall() == [(1_003_509, 167_778, 0, 1)]
