"""The reform registry: config reforms synced by every run, page edits that survive a reload,
deletions that stay deleted, and both warehouse copies agreeing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from etl.reforms import Update, delete_reform, save_reform
from etl.run import load_files
from metrics import reforms
from onewindow.config import ConfigError, Reform, load_config
from tests.conftest import run_cli
from tests.fixtures import CALENDAR
from warehouse import Warehouse

A = Reform(id="a", name="A", effective=date(2025, 7, 1), matters=["M1"])
B = Reform(id="b", name="B", effective=date(2025, 9, 1), matters=["M2"], control="departments")


def _sync(wh: Warehouse, *config: Reform) -> None:
    load_files(wh, [], job="maintenance", reforms=Update(config=config), calendar=CALENDAR)


def _stored(wh: Warehouse) -> dict[str, tuple[str, str, object]]:
    """id -> (name, origin, control) in the published copy; both copies must agree."""
    copies = []
    for copy in sorted(wh.home.glob("?.duckdb")):
        with duckdb.connect(str(copy), read_only=True) as con:
            copies.append(
                sorted(
                    con.execute("SELECT reform_id, name, origin, deleted FROM reforms").fetchall()
                )
            )
    assert copies[0] == copies[1]
    with wh.read() as con:
        return {
            r.id: (r.name, origin, r.control)
            for r, origin in zip(
                reforms.stored(con), reforms.registry(con)["origin"].to_list(), strict=True
            )
        }


def test_config_reforms_are_synced_and_page_edits_survive_a_reload(wh: Warehouse) -> None:
    _sync(wh, A, B)
    assert _stored(wh) == {
        "a": ("A", "config", None),
        "b": ("B", "config", "departments"),
    }
    # The page renames A; a reload of the config (still saying "A") keeps the page's name.
    save_reform(
        wh, A.model_copy(update={"name": "A (edited)", "control": ["M9"]}), calendar=CALENDAR
    )
    _sync(wh, A, B)
    assert _stored(wh)["a"] == ("A (edited)", "page", ["M9"])
    # Deleted on the page: a reload does not bring it back.
    delete_reform(wh, "b", calendar=CALENDAR)
    _sync(wh, A, B)
    assert set(_stored(wh)) == {"a"}
    # Saved again on the page, it is back.
    save_reform(wh, B, calendar=CALENDAR)
    assert _stored(wh)["b"] == ("B", "page", "departments")


def test_a_reform_removed_from_the_config_leaves_the_warehouse(wh: Warehouse) -> None:
    _sync(wh, A, B)
    load_files(
        wh,
        [],
        job="demo",
        reforms=Update(save=(B.model_copy(update={"id": "d"}),), origin="demo"),
        calendar=CALENDAR,
    )
    _sync(wh, B)
    assert set(_stored(wh)) == {"b", "d"}
    _sync(wh)  # an empty config list removes every config reform, not the demo's
    assert _stored(wh) == {"d": ("B", "demo", "departments")}
    # A run that does not sync the config (a plain load) leaves the registry alone.
    load_files(wh, [], job="load", calendar=CALENDAR)
    assert set(_stored(wh)) == {"d"}


def test_every_registry_change_is_a_run_in_the_history(wh: Warehouse) -> None:
    _sync(wh, A)
    run_id = save_reform(wh, B, calendar=CALENDAR)
    with wh.read() as con:
        jobs = con.execute("SELECT run_id, job, status FROM etl_runs ORDER BY run_id").fetchall()
    assert jobs[-1] == (run_id, "reforms", "ok")


def test_report_reforms_names_an_unknown_reform_and_the_known_ones(wh: Warehouse) -> None:
    _sync(wh, A, B)
    ran = run_cli("report", "reforms", "--db", wh.path, "--reform", "nope")
    assert (ran.code, ran.err) == (
        2,
        "onewindow: no reform with id 'nope'; known reforms: a, b\n",
    )
    misuse = run_cli("report", "kpis", "--db", wh.path, "--reform", "a")
    assert misuse.code == 2 and "only report reforms" in misuse.err
    period = run_cli("report", "reforms", "--db", wh.path, "--from", "2025-01-01")
    assert period.code == 2 and "--from and --to do not apply" in period.err


def test_report_reforms_with_no_applications_says_not_enough_data(wh: Warehouse) -> None:
    _sync(wh, A)
    ran = run_cli("report", "reforms", "--db", wh.path, "--format", "csv")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].startswith("reform_id,kpi,before,after,change,")
    assert len(lines) == 1 + len(reforms.MEASURES)
    assert all(line.endswith(",0,0,0,0,not_enough_data") for line in lines[1:])


@pytest.mark.parametrize(
    "body,message",
    [
        (
            'id = "x"\nname = "X"\neffective = 2025-07-01\nmatters = ["M1"]\ncontrol = ["M1"]',
            "reforms.0: control matters M1 are also touched",
        ),
        (
            'id = "x"\nname = "X"\neffective = 2025-07-01\nmatters = []',
            "reforms.0.matters: List should have at least 1 item after validation, not 0",
        ),
        (
            'id = "x"\nname = "X"\neffective = 2025-07-01\nmatters = ["M1"]\ngap_days = -1',
            "reforms.0.gap_days: Input should be greater than or equal to 0",
        ),
    ],
)
def test_bad_reforms_in_the_config_are_named(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "onewindow.toml"
    path.write_text(f"[[reforms]]\n{body}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: {message}"


def test_a_reform_id_declared_twice_is_an_error(tmp_path: Path) -> None:
    one = 'name = "X"\neffective = 2025-07-01\nmatters = ["M1"]\n'
    path = tmp_path / "onewindow.toml"
    path.write_text(f'[[reforms]]\nid = "x"\n{one}[[reforms]]\nid = "x"\n{one}', encoding="utf-8")
    with pytest.raises(ConfigError, match="reform id x is declared more than once"):
        load_config(path)
