"""The province's lake (warehouse/lake.py): Hive-partitioned Parquet written incrementally and
atomically per partition, many centers in one lake, read by DuckDB that reaches no other file.
No Spark here (tests/test_spark.py): without derived tables the lake's reports run the
reference SQL over the lake's events, and must still equal each center's own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from metrics import derived
from metrics.calendar import WorkCalendar
from onewindow.config import Config
from tests.conftest import run_cli
from tests.province import demo_province
from warehouse import Warehouse
from warehouse import lake as lk

CAL = WorkCalendar.from_config(Config())


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lake")
    lake, out = demo_province(root, 2, 120, 3)
    return lake, out


def _files(lake: Path) -> dict[str, int]:
    return {
        str(p.relative_to(lake)): p.stat().st_mtime_ns
        for p in lake.rglob("*.parquet")
        if not any(part.startswith(".") for part in p.relative_to(lake).parts)
    }


def test_layout_is_hive_partitioned_by_center_and_month(province: tuple[Path, Path]) -> None:
    lake, _ = province
    assert lk.centers(lake) == sorted(["肇庆市政务服务中心", "广州市政务服务中心"])
    months = sorted(p.name for p in (lake / "events" / "center=肇庆市政务服务中心").iterdir())
    assert months == ["month=2025-04", "month=2025-05", "month=2025-06"]
    assert (lake / "matters" / "center=肇庆市政务服务中心" / "month=all" / "data.parquet").exists()
    # every event of the center is in exactly one partition
    with Warehouse(province[1] / "肇庆市政务服务中心" / "warehouse.duckdb").read() as con:
        stored = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    files = [str(p) for p in (lake / "events" / "center=肇庆市政务服务中心").glob("*/*.parquet")]
    assert (
        duckdb.sql("SELECT count(*) FROM read_parquet($f)", params={"f": files}).fetchall()[0][0]
        == stored
    )
    assert not [p for p in lake.rglob(".*") if p.name.startswith((".new-", ".old-"))]


def test_export_writes_only_the_partitions_that_changed(
    province: tuple[Path, Path], tmp_path: Path
) -> None:
    lake, out = province
    center = "广州市政务服务中心"
    wh = Warehouse(out / center / "warehouse.duckdb")
    before = _files(lake)
    ran = run_cli("lake", "export", "--to", lake, "--center", center, "--db", wh.path)
    assert ran.code == 0, ran.err
    assert _files(lake) == before  # nothing changed: nothing written
    assert "written" in ran.out

    # A corrected month: events of May change in a copy of the warehouse.
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(wh.published(), copy)
    con = duckdb.connect(str(copy))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "UPDATE events SET staff = 'X' WHERE strftime(ts AT TIME ZONE 'Asia/Shanghai', "
        "'%Y-%m') = '2025-05' AND staff IS NOT NULL"
    )
    outcome = {w.table: w for w in lk.export(con, lake, center, CAL)}
    con.close()
    after = _files(lake)
    changed = sorted(k for k in after if after[k] != before.get(k))
    assert changed == [f"events/center={center}/month=2025-05/data.parquet"]
    assert outcome["events"].written == 1 and outcome["events"].unchanged == 2
    assert outcome["applications"].written == 0
    # the other center's partitions were never touched
    assert all(v == before[k] for k, v in after.items() if "肇庆" in k)
    # and back: the original data rewrites that month only
    assert run_cli("lake", "export", "--to", lake, "--center", center, "--db", wh.path).code == 0
    again = _files(lake)
    assert sorted(k for k in again if again[k] != after[k]) == changed


def test_a_partition_is_swapped_in_whole(tmp_path: Path) -> None:
    final = tmp_path / "events" / "center=a" / "month=2025-01"
    for rows in (3, 5):
        staged = lk.staging(final)
        staged.mkdir()
        pl.DataFrame({"x": list(range(rows))}).write_parquet(staged / lk.DATA_FILE)
        reader = (final / lk.DATA_FILE).open("rb") if final.exists() else None
        lk.publish(staged, final)
        assert pl.read_parquet(final / lk.DATA_FILE).height == rows
        if reader is not None:  # a reader that opened the old file keeps reading it whole
            assert pl.read_parquet(reader).height == 3
            reader.close()
    assert [p.name for p in final.parent.iterdir()] == ["month=2025-01"]


def test_a_vanished_month_is_removed(tmp_path: Path) -> None:
    src = tmp_path / "w.duckdb"
    con = duckdb.connect(str(src))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE tickets AS SELECT 't' || i AS ticket_id, "
        "TIMESTAMPTZ '2025-01-15 02:00:00+00' + INTERVAL (i * 30) DAY AS issued_at "
        "FROM range(3) r(i)"
    )
    for table in ("events", "applications", "evaluations"):
        con.execute(
            f"CREATE TABLE {table} (ts TIMESTAMPTZ, submitted_at TIMESTAMPTZ, "
            "accepted_at TIMESTAMPTZ, completed_at TIMESTAMPTZ, rated_at TIMESTAMPTZ)"
        )
    lake = tmp_path / "lake"
    lk.export(con, lake, "c1", CAL)
    months = lambda: sorted(p.name for p in (lake / "tickets" / "center=c1").iterdir())  # noqa: E731
    assert months() == ["month=2025-01", "month=2025-02", "month=2025-03"]
    con.execute("DELETE FROM tickets WHERE issued_at > TIMESTAMPTZ '2025-03-01 00:00:00+00'")
    outcome = {w.table: w for w in lk.export(con, lake, "c1", CAL)}
    assert outcome["tickets"].removed == 1
    assert months() == ["month=2025-01", "month=2025-02"]


def test_center_names_that_cannot_name_a_partition_are_refused(tmp_path: Path) -> None:
    for bad in ("a/b", "x=1", ".hidden", "", "a b"):
        with pytest.raises(lk.LakeError):
            lk.check_center(bad)
    assert lk.check_center("肇庆市政务服务中心-2") == "肇庆市政务服务中心-2"


def test_the_lake_reader_reaches_no_file_outside_the_lake(province: tuple[Path, Path]) -> None:
    lake, _ = province
    with lk.Lake(lake, CAL).read() as con:
        assert con.execute("SELECT count(DISTINCT center) FROM events").fetchall()[0][0] == 2
        for sql in (
            "SELECT * FROM read_csv('/etc/passwd')",
            f"SELECT * FROM read_parquet('{lake}/../centers/*/*.parquet')",
            "ATTACH '/tmp/x.duckdb'",
            "SET enable_external_access = true",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        # not derived yet: the metrics run the reference SQL over the lake's events
        assert not derived.current(con, CAL)


def test_reports_on_the_lake_equal_each_centers_own(province: tuple[Path, Path]) -> None:
    lake, out = province
    for center in lk.centers(lake):
        ran = run_cli("report", "kpis", "--lake", lake, "--center", center, "--format", "json")
        assert ran.code == 0, ran.err
        own = run_cli(
            "report", "kpis", "--db", out / center / "warehouse.duckdb", "--format", "json"
        )
        expected, got = json.loads(own.out), json.loads(ran.out)
        assert [r["kpi"] for r in got] == [r["kpi"] for r in expected]
        for a, b in zip(got, expected, strict=True):
            if b["value"] is None:
                assert a["value"] is None, a["kpi"]
            else:
                assert a["value"] == pytest.approx(b["value"], rel=1e-9, abs=1e-9), a["kpi"]
    for name in ("cases", "transitions", "rework", "cards", "queue", "satisfaction", "workload"):
        ran = run_cli("report", name, "--lake", lake, "--center", "广州市政务服务中心")
        assert ran.code == 0, (name, ran.err)
    # --by center: each center's rows, as --center gives them
    ran = run_cli("report", "transitions", "--lake", lake, "--by", "center", "--format", "csv")
    one = run_cli("report", "transitions", "--lake", lake, "--center", "广州市政务服务中心")
    assert ran.code == one.code == 0
    cut = pl.read_csv(ran.out.encode()).filter(pl.col("center") == "广州市政务服务中心")
    assert cut.height == len(one.out.splitlines()) - 2 > 0


def test_lake_options_are_checked(province: tuple[Path, Path]) -> None:
    lake, _ = province
    assert run_cli("report", "kpis", "--by", "center").code == 2  # a center cut needs the lake
    ran = run_cli("report", "kpis", "--center", "x")
    assert ran.code == 1 and "--center needs --lake" in ran.err
    ran = run_cli("report", "kpis", "--lake", lake, "--center", "nowhere")
    assert ran.code == 1 and "no center 'nowhere'" in ran.err


def test_every_page_works_on_the_lake(
    province: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """onewindow serve --lake: every page of the dashboard draws from the lake, with the
    center as a filter (ONEWINDOW_LAKE_CENTER), without an exception or an error."""
    from streamlit.testing.v1 import AppTest

    import ui.data
    from ui.nav import PAGES

    lake, _ = province
    app = str(Path(__file__).resolve().parents[1] / "app.py")
    monkeypatch.setenv("ONEWINDOW_DB", str(tmp_path / "none.duckdb"))
    monkeypatch.setenv("ONEWINDOW_LAKE", str(lake))
    monkeypatch.setenv("ONEWINDOW_AUTH", "demo")  # the province's director
    monkeypatch.setenv("ONEWINDOW_DEMO_ROLES", "director,reform_officer,data_steward")
    monkeypatch.delenv("ONEWINDOW_CONFIG_FILE", raising=False)
    for center in (None, "广州市政务服务中心"):
        if center:
            monkeypatch.setenv("ONEWINDOW_LAKE_CENTER", center)
        ui.data.config.clear()
        at = AppTest.from_file(app, default_timeout=120)
        at.query_params["period"] = "custom"
        at.query_params["from"] = "2025-04-01"
        at.query_params["to"] = "2025-06-30"
        at.run()
        for page in PAGES:
            if page.slug != PAGES[0].slug:
                at.switch_page(page.file).run()
            assert not at.exception, (page.slug, at.exception)
            assert not at.error, (page.slug, [e.value for e in at.error])
        at.switch_page(PAGES[0].file).run()
        assert at.metric, "the overview shows its cards"
