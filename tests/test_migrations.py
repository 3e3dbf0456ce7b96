"""Versioned migrations: an older warehouse is upgraded on open, a newer one is refused."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from etl.apply import apply_delta
from tests.conftest import run_cli
from warehouse import Warehouse, WarehouseTooNew, migrations


def _versions(wh: Warehouse) -> list[list[int]]:
    out = []
    for copy in sorted(wh.home.glob("?.duckdb")):
        with duckdb.connect(str(copy), read_only=True) as con:
            out.append(
                [
                    r[0]
                    for r in con.execute(
                        "SELECT version FROM schema_migrations ORDER BY 1"
                    ).fetchall()
                ]
            )
    return out


def test_a_new_warehouse_has_every_migration_in_both_copies(wh: Warehouse) -> None:
    wh.upgrade(apply_delta)
    assert _versions(wh) == [list(range(1, migrations.LATEST + 1))] * 2
    assert wh.path.is_symlink()


def test_an_older_warehouse_is_upgraded_when_opened(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh.upgrade(apply_delta)
    extra = migrations.Migration(
        migrations.LATEST + 1, "add_notes", "ALTER TABLE matters ADD COLUMN notes VARCHAR"
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, extra])
    monkeypatch.setattr(migrations, "LATEST", extra.version)
    wh.upgrade(apply_delta)
    assert _versions(wh) == [list(range(1, extra.version + 1))] * 2
    with wh.read() as con:
        assert "notes" in [r[0] for r in con.execute("DESCRIBE matters").fetchall()]


def test_a_plain_duckdb_file_is_adopted(tmp_path: Path) -> None:
    plain = tmp_path / "old.duckdb"
    with duckdb.connect(str(plain)) as con:
        migrations.migrate(con, str(plain))
    wh = Warehouse(plain)
    wh.upgrade(apply_delta)
    assert plain.is_symlink() and len(_versions(wh)) == 2


def test_a_newer_warehouse_is_refused_with_a_clear_message(wh: Warehouse) -> None:
    wh.upgrade(apply_delta)
    for copy in wh.home.glob("?.duckdb"):
        with duckdb.connect(str(copy)) as con:
            con.execute("INSERT INTO schema_migrations VALUES (99, 'future', now())")
    message = (
        f"{wh.path} has schema version 99, but this OneWindow only knows versions up to "
        f"{migrations.LATEST}: upgrade OneWindow before opening it"
    )
    with pytest.raises(WarehouseTooNew, match="schema version 99"), wh.read():
        pass
    ran = run_cli("report", "jobs", "--db", wh.path)
    assert (ran.code, ran.err) == (1, f"onewindow: {message}\n")
