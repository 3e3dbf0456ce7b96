"""The audit trail: hash-chained, append-only; `onewindow audit verify` finds a record deleted,
altered or cut off the end directly in the store; pruning past the retention period keeps the
chain verifiable; `onewindow audit export` writes it as CSV (and is itself audited)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onewindow.audit import AuditTrail
from onewindow.store import store_path
from tests.conftest import run_cli

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _trail(db: Path, n: int = 5) -> AuditTrail:
    trail = AuditTrail(store_path(Path(str(db) + ".d")))
    for i in range(n):
        trail.record(f"user{i}", "download", "overview.csv", rows=i, at=T0 + timedelta(days=i))
    return trail


def _sql(trail: AuditTrail, statement: str, *params: object) -> None:
    con = sqlite3.connect(trail.store)
    con.execute(statement, params)
    con.commit()
    con.close()


def test_an_intact_trail_verifies(tmp_path: Path) -> None:
    _trail(tmp_path / "w.duckdb")
    ran = run_cli("audit", "verify", "--db", tmp_path / "w.duckdb")
    assert (ran.code, ran.out, ran.err) == (0, "5 records, chain intact\n", "")


def test_a_deleted_record_is_found(tmp_path: Path) -> None:
    trail = _trail(tmp_path / "w.duckdb")
    _sql(trail, "DELETE FROM audit WHERE seq = 3")
    ran = run_cli("audit", "verify", "--db", tmp_path / "w.duckdb")
    assert ran.code == 1
    assert "audit: records 3–3 are missing" in ran.err
    assert ran.out == "4 records, CHAIN BROKEN\n"


def test_an_altered_record_is_found_even_when_renumbered(tmp_path: Path) -> None:
    trail = _trail(tmp_path / "w.duckdb")
    _sql(trail, "DROP TRIGGER audit_no_update")  # someone with the file in hand
    _sql(trail, "UPDATE audit SET result = 'ok', actor = 'someone' WHERE seq = 2")
    assert trail.verify() == ["record 2 was altered"]
    # Deleting one and renumbering the rest to hide the gap breaks the links instead.
    trail2 = _trail(tmp_path / "v.duckdb")
    _sql(trail2, "DELETE FROM audit WHERE seq = 2")
    _sql(trail2, "DROP TRIGGER audit_no_update")
    _sql(trail2, "UPDATE audit SET seq = seq - 1 WHERE seq > 2")
    assert trail2.verify()


def test_records_cut_off_the_end_are_found(tmp_path: Path) -> None:
    trail = _trail(tmp_path / "w.duckdb")
    _sql(trail, "DELETE FROM audit WHERE seq >= 4")
    assert trail.verify() == ["records 4–5 are missing from the end"]


def test_the_store_refuses_updates(tmp_path: Path) -> None:
    trail = _trail(tmp_path / "w.duckdb")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        _sql(trail, "UPDATE audit SET actor = 'x' WHERE seq = 1")


def test_pruning_keeps_the_chain_verifiable(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    trail = _trail(db, n=10)  # one record a day from T0
    pruned = trail.prune(180, now=T0 + timedelta(days=180 + 4, hours=1))
    assert pruned == 5  # the records of days 0–4 are older than 180 days
    kept = trail.records()
    assert [r.seq for r in kept] == [6, 7, 8, 9, 10, 11]
    assert kept[-1].event == "audit.checkpoint"
    assert trail.verify() == []
    # Deleting the oldest kept record is still found.
    _sql(trail, "DELETE FROM audit WHERE seq = 6")
    assert trail.verify() == ["records before 7 are missing and no checkpoint anchors them"]


def test_export_writes_every_record_and_is_audited(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _trail(db, n=3)
    out = tmp_path / "trail.csv"
    ran = run_cli("audit", "export", "--out", out, "--db", db)
    assert ran.code == 0, ran.err
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["actor"] for r in rows] == ["user0", "user1", "user2"]
    assert rows[0]["event"] == "download" and '"rows": 0' in rows[0]["detail"]
    assert out.stat().st_mode & 0o077 == 0
    last = AuditTrail(store_path(Path(str(db) + ".d"))).records()[-1]
    assert (last.event, last.target) == ("audit.export", str(out))
    assert run_cli("audit", "verify", "--db", db).code == 0


def test_every_load_and_report_export_is_audited(tmp_path: Path) -> None:
    from tests.fixtures import center_exports, write_profile

    db = tmp_path / "w.duckdb"
    files = center_exports(tmp_path / "in", n=5)
    assert run_cli("load", *files, "--profile", write_profile(tmp_path), "--db", db).code == 0
    shown = run_cli("report", "kpis", "--department", "市场监管局", "--db", db, "--format", "json")
    assert shown.code == 0
    records = AuditTrail(store_path(Path(str(db) + ".d"))).records()
    load, export = records[-2], records[-1]
    assert (load.event, load.target, load.result) == ("load", "run 1", "ok")
    assert load.actor.startswith("load:") and '"loaded": 32' in load.detail
    assert (export.event, export.target) == ("export", "report kpis")
    assert '"departments": "(\'市场监管局\',)"' in export.detail
    assert f'"rows": {len(json.loads(shown.out))}' in export.detail
