"""The demo center: deterministic exports, a clean load through the ETL, realistic shape,
and no personal data in the warehouse. (Recovering the planted effects with `onewindow
report` needs the metrics and is tested with them.)"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import run_cli
from tests.fixtures import ID_CHECK, ID_WEIGHTS
from tests.test_privacy import _all_text
from warehouse import Warehouse

ARGS = ["--seed", "7", "--applications", "4000", "--months", "14", "--end", "2025-12-31"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    ran = run_cli("demo", *ARGS, "--out", out / "exports", "--db", out / "w.duckdb")
    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[-1] == "run 1: ok"
    return out


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_same_seed_same_bytes_other_seed_other_data(demo: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert run_cli("demo", *ARGS, "--out", again, "--db", tmp_path / "w.duckdb").code == 0
    assert _digests(again) == _digests(demo / "exports")
    assert sorted(_digests(again)) == [
        "onewindow.toml",
        "truth.json",
        "事项目录.xlsx",
        "办件_20251231.csv",
        "好差评_20251231.csv",
        "排队叫号_20251231.csv",
        "环节_20251231.csv",
    ]
    other = tmp_path / "other"
    args = [a if a != "7" else "8" for a in ARGS]
    assert run_cli("demo", *args, "--out", other, "--db", tmp_path / "w8.duckdb").code == 0
    assert _digests(other)["办件_20251231.csv"] != _digests(again)["办件_20251231.csv"]


def test_loads_every_row_with_nothing_quarantined(demo: Path) -> None:
    truth = json.loads((demo / "exports" / "truth.json").read_text(encoding="utf-8"))
    with Warehouse(demo / "w.duckdb").read() as con:
        counts = con.execute(
            """SELECT (SELECT count(*) FROM matters), (SELECT count(*) FROM applications),
                (SELECT count(*) FROM events), (SELECT count(*) FROM evaluations),
                (SELECT count(*) FROM tickets), (SELECT count(*) FROM quarantine),
                (SELECT count(DISTINCT department) FROM matters)"""
        ).fetchall()[0]
    c = truth["counts"]
    assert counts == (151, c["applications"], c["steps"], c["ratings"], c["tickets"], 0, 15)


def test_exports_look_like_a_provincial_platform(demo: Path) -> None:
    raw = (demo / "exports" / "办件_20251231.csv").read_bytes()
    header = raw.split(b"\r\n", 1)[0].decode("gb18030").split(",")
    assert header[:4] == ["办件编号", "事项编码", "事项名称", "申请方式"]
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GB18030, as real exports are
    apps = pl.read_csv(raw.decode("gb18030").encode(), infer_schema=False)
    ids = apps["证件号码"].to_list()
    for number in ids[:500]:
        body = [int(d) for d in number[:17]]
        assert (
            number[17] == ID_CHECK[sum(d * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]
        )
    assert apps["证件号码"].n_unique() < apps.height  # repeat applicants


def test_windows_close_on_holidays_while_online_continues(demo: Path) -> None:
    with Warehouse(demo / "w.duckdb").read() as con:
        rows = con.execute(
            """SELECT (submitted_at AT TIME ZONE 'Asia/Shanghai')::DATE AS day, channel,
                count(*) FROM applications GROUP BY ALL"""
        ).fetchall()
    by_day: dict[date, dict[str, int]] = {}
    for day, channel, n in rows:
        by_day.setdefault(day, {})[channel] = n
    national_day = [date(2025, 10, d) for d in range(1, 9)]
    assert all("window" not in by_day.get(d, {}) for d in national_day)
    assert sum(by_day.get(d, {}).get("online", 0) for d in national_day) > 0
    for makeup in (date(2025, 9, 28), date(2025, 10, 11)):  # make-up working weekend days
        assert by_day[makeup].get("window", 0) > 0
    assert all("window" not in by_day.get(d, {}) for d in (date(2025, 11, 1), date(2025, 11, 2)))


def test_channels_drift_online_and_some_applications_stay_open(demo: Path) -> None:
    with Warehouse(demo / "w.duckdb").read() as con:
        early, late = con.execute(
            """SELECT avg((channel IN ('online', 'mobile'))::INT) FILTER (WHERE submitted_at <
                   '2025-01-01'), avg((channel IN ('online', 'mobile'))::INT) FILTER (WHERE
                   submitted_at >= '2025-10-01') FROM applications"""
        ).fetchall()[0]
        results = dict(
            con.execute(
                "SELECT coalesce(result, 'open'), count(*) FROM applications GROUP BY 1"
            ).fetchall()
        )
        rework = con.execute(
            """SELECT count(*) FROM (SELECT application_id FROM events WHERE step = '审查'
               GROUP BY 1 HAVING count(*) > 1)"""
        ).fetchall()[0][0]
    assert late > early + 0.15
    assert set(results) == {"approved", "refused", "withdrawn", "open"}
    assert results["open"] >= 40 and results["refused"] > 0 and results["withdrawn"] > 0
    assert rework > 0


def test_no_personal_data_reaches_the_warehouse(demo: Path) -> None:
    apps = pl.read_csv(
        (demo / "exports" / "办件_20251231.csv").read_bytes().decode("gb18030").encode(),
        infer_schema=False,
    )
    stored = b"".join(p.read_bytes() for p in (demo / "w.duckdb.d").rglob("*") if p.is_file())
    text = _all_text(Warehouse(demo / "w.duckdb"))
    for column in ("证件号码", "联系电话", "申请人"):
        for value in apps[column].unique().to_list()[:300]:
            assert value not in text  # no text column holds it, whatever its length
            for encoded in (value.encode("utf-8"), value.encode("gb18030")):
                # A 2-character name is 4 bytes: such a pattern turns up by chance in
                # megabytes of compressed pages, so bytes are checked from 6 on.
                assert len(encoded) < 6 or encoded not in stored
    with Warehouse(demo / "w.duckdb").read() as con:
        keys = con.execute("SELECT count(DISTINCT applicant_key) FROM applications").fetchall()
    assert keys[0][0] == apps["证件号码"].n_unique()
