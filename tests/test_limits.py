"""A load's memory is bounded by configuration: a workbook is checked before it is read (a zip
bomb fails alone with its reason, by the command line and by the dashboard's upload box, while
the process stays small), and DuckDB's connections of a run get the configured memory limit,
threads and a spill folder inside the warehouse's own folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import fastexcel
import pytest
import xlsxwriter

from etl import readers
from etl.profile import Profile
from etl.readers import Source, UnreadableFile, _keep_mapped
from etl.run import load_files
from etl.xlsx_guard import ExcelLimits, check_workbook
from onewindow.config import Config, Etl
from tests.fixtures import (
    CALENDAR,
    MATTER_HEADER,
    PEAK_PRELUDE,
    center_exports,
    matter_rows,
    write_xlsx,
    zip_bomb_xlsx,
)
from warehouse import Resources, Warehouse

PEAK_MIB = 500
ROOT = Path(__file__).resolve().parents[1]


CLI = "import runpy; runpy.run_module('onewindow.cli', run_name='__main__')"


def _peak_run(tmp_path: Path, code: str, *args: str | Path) -> tuple[int, str, float]:
    """Exit code, stdout and peak resident memory (MiB) of `python -c code args`."""
    report = tmp_path / "peak.txt"
    done = subprocess.run(
        [sys.executable, "-c", PEAK_PRELUDE + code, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        text=True,
        env={**os.environ, "OW_PEAK_FILE": str(report)},
        check=False,
    )
    return done.returncode, done.stdout, int(report.read_text()) / 1024


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 MB on disk, 3 GiB unpacked, under the columns of the center's matters export."""
    path = zip_bomb_xlsx(tmp_path_factory.mktemp("bomb") / "matters.xlsx", MATTER_HEADER, 3072)
    assert path.stat().st_size < 4 * 1024 * 1024
    return path


def test_a_zip_bomb_fails_alone_by_the_command_line(
    tmp_path: Path, bomb: Path, center_profile: Profile
) -> None:
    folder = tmp_path / "in"
    files = center_exports(folder, n=5)
    (folder / "matters.csv").unlink()
    inputs = [bomb, *files[1:]]
    profile = tmp_path / "center.toml"
    code, out, peak = _peak_run(
        tmp_path, CLI, "load", *inputs, "--profile", profile, "--db", tmp_path / "w.duckdb"
    )
    assert peak < PEAK_MIB, f"peak {peak:.0f} MiB"
    assert code == 3 and "partial" in out  # published, one file failed
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.read() as con:
        outcome = con.execute(
            "SELECT table_name, status, rows_read, error FROM etl_run_files ORDER BY path"
        ).fetchall()
    by_table = {row[0]: row for row in outcome}
    assert by_table["matters"][1:3] == ("failed", 0)
    reason = by_table["matters"][3]
    assert re.search(
        r"packed 9\d\d times smaller than its content \(3\.2 MB unpacking to 3,072", reason
    )
    assert "etl.excel_max_ratio" in reason and "xl/worksheets/sheet1.xml" in reason
    assert by_table["applications"][1] == by_table["events"][1] == "loaded"


def test_a_zip_bomb_fails_by_the_upload_box(
    tmp_path: Path, bomb: Path, center_profile: Profile
) -> None:
    """As the Data page does: the uploaded bytes, their file name and a profile."""
    script = (
        "import json, sys; from pathlib import Path; from ui.upload import load_upload; "
        "from onewindow.config import Config; from warehouse import Warehouse; "
        "run_id, status, outcome = load_upload(Warehouse(Path(sys.argv[1])), Config(), "
        "'matters.xlsx', Path(sys.argv[2]).read_bytes(), Path(sys.argv[3])); "
        "print(json.dumps([status, outcome.to_dicts()]))"
    )
    code, out, peak = _peak_run(
        tmp_path, script, tmp_path / "w.duckdb", bomb, tmp_path / "center.toml"
    )
    assert peak < PEAK_MIB, f"peak {peak:.0f} MiB"
    assert code == 0, out
    status, files = json.loads(out.strip().splitlines()[-1])
    assert status == "partial" and len(files) == 1
    assert files[0]["status"] == "failed" and "etl.excel_max_ratio" in files[0]["error"]


def test_a_workbook_beyond_the_size_limit_fails_with_its_reason(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    book = write_xlsx(tmp_path / "matters.xlsx", MATTER_HEADER, matter_rows() * 2000)
    small = Etl(excel_max_uncompressed_mb=0.5)
    result = load_files(wh, [(book, center_profile)], calendar=CALENDAR, settings=small)
    [outcome] = result.files
    assert outcome.status == "failed" and outcome.rows_read == 0
    assert outcome.error is not None and "etl.excel_max_uncompressed_mb" in outcome.error
    assert "more than the 0 MB" not in outcome.error  # the limit is shown as configured
    again = load_files(wh, [(book, center_profile)], calendar=CALENDAR, settings=Etl())
    assert again.files[0].status == "loaded" and again.files[0].loaded == 7


@pytest.mark.parametrize("declared", [500_000, 300 * 1024 * 1024])
def test_a_workbook_whose_directory_lies_is_measured_by_what_it_unpacks_to(
    tmp_path: Path, center_profile: Profile, declared: int
) -> None:
    """The Excel reader unpacks a part to its end whatever the zip directory declares: a bomb
    declaring a small sheet is caught by counting what it really unpacks to (and stops being
    counted there); a sheet declaring more than it holds is damaged."""
    book = zip_bomb_xlsx(tmp_path / "matters.xlsx", MATTER_HEADER, 200, declared_bytes=declared)
    with pytest.raises(UnreadableFile) as refused:
        check_workbook(book, center_profile.tables["matters"], ExcelLimits(512, 1_000_000))
    if declared > 200 * 1024 * 1024:
        assert "declared as 314,572,800 bytes but holds 209,7" in str(refused.value)
        return
    assert "declared as 500,000 bytes but holds 209,7" in str(refused.value)
    with pytest.raises(UnreadableFile, match=r"packed more than \d+ times smaller"):
        check_workbook(book, center_profile.tables["matters"], ExcelLimits(512, 100))
    with pytest.raises(UnreadableFile, match=r"unpacks to more than the 100 MB allowed.*stopped"):
        check_workbook(book, center_profile.tables["matters"], ExcelLimits(100, 1_000_000))


def test_real_exports_pass_the_ratio_check(tmp_path: Path, center_profile: Profile) -> None:
    """Repetitive exports pack well, but nowhere near a bomb: 20,000 identical rows."""
    src = center_profile.tables["matters"]
    book = write_xlsx(tmp_path / "m.xlsx", MATTER_HEADER, [matter_rows()[0]] * 20000)
    check_workbook(book, src, ExcelLimits(max_uncompressed_mb=512, max_ratio=100))
    with pytest.raises(UnreadableFile, match="packed"):
        check_workbook(book, src, ExcelLimits(max_uncompressed_mb=512, max_ratio=2))


@pytest.mark.parametrize("bomb_header", [False, True])
def test_the_header_row_is_checked_first_with_the_full_reads_reason(
    tmp_path: Path, center_profile: Profile, bomb_header: bool
) -> None:
    """A workbook without a mapped column fails with the reason a full read gives, from its
    first row alone: a shared-strings header (xlsxwriter, as Excel writes) or an inline one
    in front of 3 GiB that are never unpacked."""
    header = [h for h in MATTER_HEADER if h != "实施部门"]
    src = center_profile.tables["matters"]
    if bomb_header:
        book = zip_bomb_xlsx(tmp_path / "m.xlsx", header, 3072)
        limits = ExcelLimits(max_uncompressed_mb=10_000, max_ratio=10_000)
    else:
        book = write_xlsx(tmp_path / "m.xlsx", header, [r[:2] + r[3:] for r in matter_rows()])
        limits = ExcelLimits()
    with pytest.raises(UnreadableFile) as guarded:
        check_workbook(book, src, limits)
    if not bomb_header:
        full = fastexcel.read_excel(str(book)).load_sheet(0, dtypes="string").to_polars()
        with pytest.raises(UnreadableFile) as after_read:
            _keep_mapped(Source(full.with_row_index("__row")), src, " in sheet '导出'")
        assert str(guarded.value) == str(after_read.value)
    assert "missing column(s) '实施部门' (mapped to department)" in str(guarded.value)


def test_a_header_that_is_not_all_text_is_left_to_the_reader(
    tmp_path: Path, center_profile: Profile
) -> None:
    """A number in the header row (a year over a column) is named as the reader formats it;
    the guard cannot know that spelling, so it leaves the column check to the full read."""
    path = tmp_path / "matters.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, MATTER_HEADER[:2])
    sheet.write_number(0, 2, 2024)
    book.close()
    check_workbook(path, center_profile.tables["matters"])
    path.unlink()
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet().write_row(0, 0, MATTER_HEADER[:2])
    book.close()
    with pytest.raises(UnreadableFile, match="missing column"):
        check_workbook(path, center_profile.tables["matters"])


def test_writing_connections_get_the_configured_memory_threads_and_spill_folder(
    tmp_path: Path, wh: Warehouse, center_profile: Profile
) -> None:
    with wh.writer(lambda con, delta: None, resources=Resources("64MB", 1)) as writer:
        con = duckdb.connect()
        writer.configure(con, "stage")
        settings = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('temp_directory')"
        ).fetchall()
        con.close()
    assert settings == [("61.0 MiB", 1, str(wh.home / "spill" / "stage"))]
    # A run configures its staging connection and both copies' connections from the config.
    files = center_exports(tmp_path / "in", n=5)
    config = Config(etl=Etl(memory_limit="64MB", threads=1))
    result = load_files(
        wh, [(f, center_profile) for f in files], calendar=CALENDAR, settings=config.etl
    )
    assert result.status == "ok"
    assert sorted(p.name for p in (wh.home / "spill").iterdir()) == ["a", "b", "stage"]


def test_the_csv_reader_follows_the_etl_limits_and_never_spills_raw_input(
    tmp_path: Path, wh: Warehouse, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An in-memory DuckDB spills to `.tmp` in the working folder by default: the reader's
    # holds raw input (personal columns among them), so it must never write one.
    assert duckdb.connect().execute("SELECT current_setting('temp_directory')").fetchall() == [
        (".tmp",)
    ]
    settings = (
        "SELECT current_setting('memory_limit'), current_setting('threads'), "
        "current_setting('temp_directory')"
    )
    con = readers.reader_connection(Resources("64MB", 1))
    assert con.execute(settings).fetchall() == [("61.0 MiB", 1, "")]
    con = readers.reader_connection()  # no [etl] section: DuckDB's own memory and threads
    assert con.execute("SELECT current_setting('temp_directory')").fetchall() == [("",)]
    # A run hands the configured limits to the reader of every CSV file.
    given: list[Resources | None] = []
    original = readers.reader_connection

    def spy(resources: Resources | None = None) -> duckdb.DuckDBPyConnection:
        given.append(resources)
        return original(resources)

    monkeypatch.setattr(readers, "reader_connection", spy)
    files = center_exports(tmp_path / "in", n=5)
    config = Config(etl=Etl(memory_limit="64MB", threads=1))
    result = load_files(
        wh, [(f, center_profile) for f in files], calendar=CALENDAR, settings=config.etl
    )
    assert result.status == "ok", [(f.status, f.error) for f in result.files]
    csvs = [f for f in files if f.suffix == ".csv"]
    assert csvs and given == [Resources("64MB", 1)] * len(csvs)


def test_a_memory_limit_that_is_not_a_size_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="not a memory size"):
        Etl(memory_limit="lots")
    assert Etl(memory_limit="1GB").memory_limit == "1GB"
