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


def _quarantined(wh: Warehouse) -> list[tuple[object, ...]]:
    with wh.read() as con:
        return con.execute(
            "SELECT row_number, field, reason FROM quarantine ORDER BY row_number"
        ).fetchall()


@pytest.mark.parametrize("writer,suffix", [(_write_parquet, ".parquet"), (_write_jsonl, ".jsonl")])
def test_parquet_and_json_lines_are_read_a_piece_at_a_time(
    tmp_path: Path,
    center_profile: Profile,
    writer: object,
    suffix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pieces of 7 records give the same rows, row numbers, quarantine and counts as the
    file read in one piece; no piece holds more than 7 records; a header repeated in a
    later piece and a value with an invisible character are handled as in one piece."""
    from etl import readers

    apps, _ = center_rows(30, seed=5)
    rows = [list(r) for r in apps]
    rows.insert(17, list(APPLICATION_HEADER))  # two exports joined: the header again
    rows[3][0] = "\u200b" + rows[3][0]  # a zero-width space before an application id
    rows[22][3] = "not a time"  # submitted_at
    folder = tmp_path / "in"
    folder.mkdir()
    path = writer(folder / f"applications{suffix}", APPLICATION_HEADER, rows)  # type: ignore[operator]
    if suffix == ".jsonl":  # a line that is no object, in the middle
        lines = path.read_text(encoding="utf-8").splitlines()
        lines.insert(9, "[1, 2]")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def load(name: str) -> tuple[Warehouse, list[tuple[object, ...]]]:
        wh = Warehouse(tmp_path / name / "w.duckdb")
        result = load_files(wh, [(path, center_profile)], secret=b"test-secret", calendar=CALENDAR)
        f = result.files[0]
        return wh, [(f.status, f.rows_read, f.loaded, f.duplicates, f.quarantined)]

    whole, whole_counts = load("whole")
    sizes: list[int] = []
    pieces = readers.Stream._from_pieces

    def counted(self: readers.Stream, it: object) -> object:
        for batch in pieces(self, it):  # type: ignore[arg-type]
            sizes.append(batch.height)
            yield batch

    monkeypatch.setattr(readers, "BATCH_ROWS", 7)
    monkeypatch.setattr(readers.Stream, "_from_pieces", counted)
    parts, parts_counts = load("parts")
    assert len(sizes) >= 5 and max(sizes) <= 7 and sum(sizes) == 30
    extra = 1 if suffix == ".jsonl" else 0
    assert whole_counts == parts_counts == [("loaded", 31 + extra, 29, 0, 2 + extra)]
    assert _dump(parts) == _dump(whole)
    assert _quarantined(parts) == _quarantined(whole)
    header_row = 18 + (extra if suffix == ".jsonl" else 0)
    assert (header_row, "(row)", readers.HEADER_AGAIN) in _quarantined(parts)
    with parts.read() as con:
        assert con.execute(
            "SELECT count(*) FROM applications WHERE application_id = ?", [apps[3][0]]
        ).fetchall() == [(1,)]


def test_a_mapped_key_no_json_line_holds_fails_the_file(
    tmp_path: Path, wh: Warehouse, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl import readers

    apps, _ = center_rows(10)
    header = [h if h != "申请方式" else "渠道" for h in APPLICATION_HEADER]
    path = _write_jsonl(tmp_path / "applications.jsonl", header, apps)
    monkeypatch.setattr(readers, "BATCH_ROWS", 3)  # found missing after the last piece
    result = load_files(wh, [(path, center_profile)], calendar=CALENDAR)
    assert result.files[0].status == "failed"
    assert "missing column(s) '申请方式'" in (result.files[0].error or "")
    with wh.read() as con:
        assert con.execute("SELECT count(*) FROM applications").fetchall() == [(0,)]


def test_parquet_pieces_give_the_values_of_a_whole_read_for_every_common_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow's batches turned into Polars give the same text as Polars' own whole read of
    the file (what the reader did before it read in pieces), for the types exports hold."""
    import datetime as dt
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from etl import readers
    from etl.profile import TableSource

    utc = dt.UTC
    stamps = [dt.datetime(2024, 1, 1, 8, 30, 15, 123456, tzinfo=utc), None, None]
    table = pa.table(
        {
            "dictionary": pa.array(["窗口", None, "网上"]).dictionary_encode(),
            "dictionary_int": pa.array([10, 20, 10]).dictionary_encode(),
            "decimal": pa.array(
                [decimal.Decimal("1.50"), None, decimal.Decimal("-2.00")], pa.decimal128(10, 2)
            ),
            "zoned": pa.array(stamps, pa.timestamp("us", tz="Asia/Shanghai")),
            "utc_ms": pa.array(stamps, pa.timestamp("ms", tz="UTC")),
            "naive_s": pa.array(
                [dt.datetime(2024, 2, 29, 23, 59, 59), None, None], pa.timestamp("s")
            ),
            "day": pa.array([dt.date(2024, 1, 1), None, dt.date(1999, 12, 31)]),
            "struct": pa.array([{"x": 1, "y": "z"}, None, {"x": 2, "y": None}]),
            "nulls": pa.array([None, None, None], pa.string()),
            "big": pa.array([2**63 + 5, 0, None], pa.uint64()),
            "real": pa.array([1.5, float("nan"), None]),
            "flag": pa.array([True, False, None]),
            "large": pa.array(["a", "b", None], pa.large_string()),
        }
    )
    path = tmp_path / "types.parquet"
    pq.write_table(table, path, row_group_size=2)
    columns = table.column_names
    src = TableSource(files="*", columns={f"f{i}": c for i, c in enumerate(columns)})
    whole = readers._as_text(pl.read_parquet(path, columns=columns))
    monkeypatch.setattr(readers, "BATCH_ROWS", 1)
    stream = readers.read_source(path, src, tmp_path)
    pieces = list(stream)
    assert len(pieces) == 3 and stream.rows.to_list() == [1, 2, 3]
    got = pl.concat(pieces).drop(readers.K).select(columns)
    assert got.to_dicts() == whole.to_dicts()
    assert got.schema == whole.schema


def test_a_stream_refused_before_its_first_batch_stops_its_reader(
    tmp_path: Path, center_profile: Profile
) -> None:
    """Parquet is read ahead by a thread: a mapping that refuses to start (no secret for a
    mapped applicant_id) closes the stream, and the thread ends."""
    import threading

    from etl import readers
    from etl.transform import map_rows

    apps, _ = center_rows(3)
    path = _write_parquet(tmp_path / "applications.parquet", APPLICATION_HEADER, apps)
    src = center_profile.tables["applications"]
    assert "applicant_id" in src.columns
    stream = readers.read_source(path, src, tmp_path)
    with pytest.raises(ValueError, match="no pseudonymization secret"):
        map_rows(stream, "applications", src, center_profile, None, None, print, print)
    assert not [t for t in threading.enumerate() if t.name == "onewindow-read-ahead"]
