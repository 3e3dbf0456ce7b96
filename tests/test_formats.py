"""The same export in every supported format and encoding gives identical warehouse rows."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from etl.profile import Profile
from etl.run import load_files
from tests.fixtures import (
    APPLICATION_HEADER,
    CALENDAR,
    MATTER_HEADER,
    STEP_HEADER,
    center_rows,
    matter_rows,
    write_csv,
    write_xlsx,
)
from warehouse import Warehouse

TABLES = ("matters", "applications", "events")


def _dump(wh: Warehouse, exclude: str = "file_id") -> dict[str, list[tuple[object, ...]]]:
    with wh.read() as con:
        return {
            t: con.execute(f"SELECT * EXCLUDE ({exclude}) FROM {t} ORDER BY ALL").fetchall()
            for t in TABLES
        }


def _load(folder: Path, profile: Profile, writer: object, suffix: str) -> Warehouse:
    folder.mkdir()
    apps, steps = center_rows(40, seed=3)
    files = [
        writer(folder / f"matters{suffix}", MATTER_HEADER, matter_rows()),  # type: ignore[operator]
        writer(folder / f"applications{suffix}", APPLICATION_HEADER, apps),  # type: ignore[operator]
        writer(folder / f"steps{suffix}", STEP_HEADER, steps),  # type: ignore[operator]
    ]
    wh = Warehouse(folder / "w.duckdb")
    result = load_files(wh, [(f, profile) for f in files], secret=b"test-secret", calendar=CALENDAR)
    assert result.status == "ok" and all(f.quarantined == 0 for f in result.files), result
    return wh


def _write_parquet(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    pl.DataFrame(rows, schema=header, orient="row").write_parquet(path)
    return path


def _write_jsonl(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    lines = [json.dumps(dict(zip(header, r, strict=True)), ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_bom(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    return write_csv(path, header, rows, encoding="utf-8-sig")


def test_gb18030_csv_and_xlsx_give_identical_rows(tmp_path: Path, center_profile: Profile) -> None:
    from_csv = _dump(_load(tmp_path / "csv", center_profile, write_csv, ".csv"))
    from_xlsx = _dump(_load(tmp_path / "xlsx", center_profile, write_xlsx, ".xlsx"))
    assert [len(from_csv[t]) for t in TABLES] == [7, 40, 160]
    assert from_csv == from_xlsx
    raw = (tmp_path / "csv" / "applications.csv").read_bytes()
    assert "办件编号".encode("gb18030") in raw  # the fixture really is GB18030


@pytest.mark.parametrize(
    "writer,suffix", [(_write_parquet, ".parquet"), (_write_jsonl, ".jsonl"), (_write_bom, ".csv")]
)
def test_parquet_jsonl_and_bom_csv_match_gb18030_csv(
    tmp_path: Path, center_profile: Profile, writer: object, suffix: str
) -> None:
    # Rows are numbered as a person finds them: CSV counts its header line, JSON lines and
    # Parquet have none, so only source_row may differ.
    skip = "file_id, source_row" if suffix != ".csv" else "file_id"
    expected = _dump(_load(tmp_path / "gb", center_profile, write_csv, ".csv"), skip)
    assert _dump(_load(tmp_path / "other", center_profile, writer, suffix), skip) == expected


def test_stored_instants_follow_the_profile_time_zone(
    tmp_path: Path, center_profile: Profile
) -> None:
    wh = _load(tmp_path / "csv", center_profile, write_csv, ".csv")
    apps, _ = center_rows(40, seed=3)
    with wh.read() as con:
        got = con.execute(
            "SELECT strftime(submitted_at, '%Y-%m-%d %H:%M:%S'), strftime(accepted_at, '%H:%M'),"
            " strftime(completed_at, '%H:%M') FROM applications WHERE application_id = ?",
            [apps[0][0]],
        ).fetchall()[0]
    # Local Asia/Shanghai times (UTC+8), given in three different notations.
    from datetime import datetime, timedelta

    local = datetime.strptime(apps[0][3], "%Y-%m-%d %H:%M:%S")
    assert got[0] == f"{local - timedelta(hours=8):%Y-%m-%d %H:%M:%S}"
    assert got[1] == f"{datetime.strptime(apps[0][4], '%Y/%m/%d %H:%M') - timedelta(hours=8):%H:%M}"
    assert (
        got[2]
        == f"{datetime.strptime(apps[0][5], '%Y年%m月%d日 %H:%M') - timedelta(hours=8):%H:%M}"
    )
