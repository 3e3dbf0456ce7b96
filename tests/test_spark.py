"""The province on Apache Spark (local mode): `onewindow spark derive` over a lake gives every
facts, transitions and steps row DuckDB gives each center; the province's reports per center
equal each center's own. One SparkSession for the module (starting the JVM takes tens of
seconds on the CI machine); tiny centers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metrics import spark as derive
from metrics.calendar import WorkCalendar
from onewindow.config import Config
from tests.conftest import run_cli
from tests.fixtures import PROFILES
from tests.province import assert_same_rows, demo_province
from warehouse import Warehouse
from warehouse import lake as lk

pytest.importorskip("pyspark")
CAL = WorkCalendar.from_config(Config())


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    with derive.spark_session("local[2]") as session:
        yield session


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("province")
    lake, out = demo_province(root, 3, 150, 3)
    outcome = derive.derive(spark, lake)
    assert [d.status for d in outcome] == ["derived"] * 3
    return lake, out


def test_spark_rows_equal_duckdb_rows_for_every_center(province: tuple[Path, Path]) -> None:
    lake, out = province
    centers = lk.centers(lake)
    assert len(centers) == 3
    for center in centers:
        assert_same_rows(lake, center, Warehouse(out / center / "warehouse.duckdb"), CAL)


def test_a_center_whose_export_did_not_change_is_not_derived_again(
    province: tuple[Path, Path], spark: Any
) -> None:
    lake, _ = province
    again = derive.derive(spark, lake)
    assert [d.status for d in again] == ["unchanged"] * 3
    assert all(d.facts > 0 for d in again)


def test_kpis_by_center_on_the_lake_equal_each_centers_own(province: tuple[Path, Path]) -> None:
    lake, out = province
    ran = run_cli("report", "kpis", "--lake", lake, "--by", "center", "--format", "json")
    assert ran.code == 0, ran.err
    rows = json.loads(ran.out)
    for center in lk.centers(lake):
        own = run_cli(
            "report", "kpis", "--db", out / center / "warehouse.duckdb", "--format", "json"
        )
        assert own.code == 0, own.err
        expected = json.loads(own.out)
        got = [{k: v for k, v in r.items() if k != "center"} for r in rows if r["center"] == center]
        assert len(got) == len(expected) > 20
        for a, b in zip(got, expected, strict=True):
            assert a["kpi"] == b["kpi"] and a["meets_target"] == b["meets_target"]
            assert (a["value"] is None) == (b["value"] is None), a["kpi"]
            if a["value"] is not None:
                assert a["value"] == pytest.approx(b["value"], rel=1e-9, abs=1e-9), a["kpi"]
        # --center keeps that center's rows, and the lake's figures are from the derived tables
        one = run_cli("report", "kpis", "--lake", lake, "--center", center, "--format", "json")
        assert json.loads(one.out) == expected or _close(json.loads(one.out), expected)


def _close(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return len(a) == len(b) and all(
        x["kpi"] == y["kpi"]
        and (x["value"] == y["value"] or x["value"] == pytest.approx(y["value"], rel=1e-9))
        for x, y in zip(a, b, strict=True)
    )


def test_the_lake_reader_uses_the_derived_tables(province: tuple[Path, Path]) -> None:
    from metrics import derived

    lake, _ = province
    with lk.Lake(lake, CAL).read() as con:
        assert derived.current(con, CAL)
    other = WorkCalendar("Asia/Shanghai", ((8 * 3600, 18 * 3600),), "china")
    with lk.Lake(lake, other).read() as con:  # another calendar: the reference SQL runs
        assert not derived.current(con, other)


def test_the_receipt_log_derives_the_same_on_spark(
    tmp_path_factory: pytest.TempPathFactory, receipt: Path, spark: Any
) -> None:
    root = tmp_path_factory.mktemp("receipt-lake")
    db, lake = root / "w.duckdb", root / "lake"
    assert run_cli("load", receipt, "--profile", PROFILES / "receipt.toml", "--db", db).code == 0
    ran = run_cli("lake", "export", "--to", lake, "--center", "receipt", "--db", db)
    assert ran.code == 0, ran.err
    outcome = derive.derive(spark, lake, ["receipt"])
    assert outcome[0].status == "derived" and outcome[0].facts > 1000
    assert_same_rows(lake, "receipt", Warehouse(db), CAL)
