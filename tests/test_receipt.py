"""The real Dutch permit log loads completely, and a second load adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Ran
from tests.fixtures import PROFILES


def test_receipt_loads_then_reloads_as_duplicates(tmp_path: Path, receipt: Path, cli_run) -> None:
    db = tmp_path / "w.duckdb"
    first: Ran = cli_run("load", receipt, "--profile", PROFILES / "receipt.toml", "--db", db)
    assert first.code == 0, first.err
    row = first.out.splitlines()[2].split()
    assert row[1:7] == ["events", "loaded", "8577", "8577", "0", "0"]

    second: Ran = cli_run("load", receipt, "--profile", PROFILES / "receipt.toml", "--db", db)
    assert second.code == 0
    assert second.out.splitlines()[2].split()[1:7] == [
        "events",
        "unchanged",
        "8577",
        "0",
        "8577",
        "0",
    ]

    from warehouse import Warehouse

    with Warehouse(db).read() as con:
        counts = con.execute(
            """SELECT (SELECT count(*) FROM applications), (SELECT count(*) FROM events),
                (SELECT count(*) FROM quarantine),
                (SELECT count(DISTINCT step) FROM events),
                (SELECT count(*) FROM applications WHERE channel IS NULL),
                (SELECT count(*) FROM events WHERE department IS NULL)"""
        ).fetchall()[0]
    assert counts == (1434, 8577, 0, 27, 0, 1936)  # 1,936 rows carry the EMPTY placeholder

    jobs = cli_run("report", "jobs", "--db", db, "--format", "csv")
    lines = jobs.out.splitlines()
    assert lines[0].startswith("run_id,job,profile,started_at")
    assert lines[1].split(",")[0] == "2" and ",8577,0,0,8577,0," in lines[1]
    assert lines[2].split(",")[0] == "1" and ",8577,8577,0,0,0," in lines[2]


def test_receipt_timestamps_keep_their_offsets(tmp_path: Path, receipt: Path, cli_run) -> None:
    db = tmp_path / "w.duckdb"
    assert cli_run("load", receipt, "--profile", PROFILES / "receipt.toml", "--db", db).code == 0
    from warehouse import Warehouse

    with Warehouse(db).read() as con:
        first = con.execute(
            """SELECT strftime(ts, '%Y-%m-%d %H:%M:%S.%g'), strftime(deadline_at, '%H:%M:%S')
            FROM events JOIN applications USING (application_id)
            WHERE application_id = 'case-10011' ORDER BY ts LIMIT 1"""
        ).fetchall()[0]
    # 2011-10-11 13:45:40.276+02:00 (summer time) and a deadline at 13:41:31.788+01:00.
    assert first == ("2011-10-11 11:45:40.276", "12:41:31")


def test_online_and_on_time_rates_match_an_independent_count(
    tmp_path: Path, receipt: Path, cli_run
) -> None:
    import json

    import polars as pl

    db = tmp_path / "w.duckdb"
    assert cli_run("load", receipt, "--profile", PROFILES / "receipt.toml", "--db", db).code == 0
    ran = cli_run("report", "kpis", "--db", db, "--format", "json")
    values = {r["kpi"]: r["value"] for r in json.loads(ran.out)}

    log = pl.read_csv(receipt, infer_schema=False).with_row_index()
    stamp = pl.col("time:timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z")
    per_case = log.group_by("case:concept:name").agg(
        pl.col("case:channel").sort_by("index").first().alias("channel"),
        stamp.max().alias("last"),
        pl.col("case:deadline")
        .str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z")
        .first()
        .alias("deadline"),
    )
    online = per_case["channel"].is_in(["Internet", "Intern", "e-mail"]).mean()
    on_time = (per_case["last"] <= per_case["deadline"]).mean()
    assert values["submitted"] == values["completed"] == 1434
    assert values["online_rate"] == pytest.approx(online)
    assert values["on_time_rate"] == pytest.approx(on_time)
    assert 0.8 < online < 0.95 and 0.5 < on_time < 1.0  # the log's own figures, not trivial
