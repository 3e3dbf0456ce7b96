"""The UTF-8 text DuckDB reads of a GB18030 file, or one that needs cleaning (etl/transcode.py):
made on demand, a chunk at a time, and byte for byte what decoding the whole file gives."""

from __future__ import annotations

import io
import random
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

from etl import readers, scanahead, transcode
from etl.profile import TableSource
from etl.readers import UnreadableFile, _scan, _text
from etl.transcode import TextFile, TextFileSystem

HEADER = "办件编号,环节名称,经办人\r\n"


def _rows(seed: int, n: int, ends: tuple[str, ...] = ("\r\n", "\n", "\r\n")) -> list[str]:
    """Lines as exports give them: CRLF (or LF: DuckDB's strict mode takes one kind in a
    file), a carriage return pasted into a cell, a second export joined on with its
    byte-order mark, characters of two to four GB18030 bytes."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        staff = rng.choice(["张三", "李四", "王五\r旁注", "𠀀赵六", "Ōno", "欧阳 娜"])
        end = rng.choice(ends)
        lines.append(f"44{i:05d},{rng.choice(['受理', '审核', '办结'])},{staff}{end}")
        if rng.random() < 0.05:
            lines.append("\ufeff" + HEADER)  # two exports joined: the second's BOM and header
    return lines


def _expected(text: str) -> bytes:
    """The whole text as DuckDB must be given it, computed at once: no leading byte-order
    mark, a carriage return that ends no line a space, a byte-order mark that starts a line
    removed."""
    text = text.removeprefix("\ufeff")
    text = "".join(
        " " if c == "\r" and text[i + 1 : i + 2] != "\n" else c for i, c in enumerate(text)
    )
    return text.replace("\n\ufeff", "\n").encode("utf-8")


def _records(text: str) -> list[str]:
    """The records DuckDB must read from `text`: its lines after the header, without the
    header lines of joined exports."""
    return [line for line in _expected(text).decode().splitlines()[1:] if line != HEADER.strip()]


STEPS = TableSource(
    files="环节*.csv",
    encoding="gb18030",
    columns={"application_id": "办件编号", "step": "环节名称", "staff": "经办人"},
)


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few bytes and marks every few dozen: every boundary case is met."""
    monkeypatch.setattr(readers, "_CHUNK", 7)
    monkeypatch.setattr(transcode, "MARK_EVERY", 40)


def _write(path: Path, text: str, bom: bool = False) -> Path:
    path.write_bytes(text.encode("gb18030") if not bom else text.encode("utf-8-sig"))
    return path


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 1 << 20])
def test_the_text_is_the_whole_decoded_file_cleaned_whatever_the_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(readers, "_CHUNK", chunk)
    monkeypatch.setattr(transcode, "MARK_EVERY", 50)
    text = HEADER + "".join(_rows(1, 200))
    path = _write(tmp_path / "环节.csv", text)
    scan = _scan(path, "gb18030", ",")
    assert scan.stray and scan.joined and not scan.direct
    assert scan.layout is not None and len(scan.layout.marks) > (10 if chunk < 50 else 0)
    whole = "".join(_text(path, scan)).encode("utf-8")
    assert whole == _expected(text)
    assert scan.layout.size == len(whole)
    with TextFile(path, scan.layout) as fh:
        assert fh.read() == whole
        assert fh.read(10) == b""


def test_a_crlf_cut_by_every_chunk_boundary_stays_a_line_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`\\r` the last byte of one chunk, `\\n` the first of the next, for every chunk size
    that makes it so; and a stray `\\r` at the end of a chunk is still a space."""
    for chunk in range(1, 12):
        monkeypatch.setattr(readers, "_CHUNK", chunk)
        monkeypatch.setattr(transcode, "MARK_EVERY", 3)
        text = "a,b\r\n甲,乙\r\n丙\r,丁\r\n\ufeff戊,己\r\n庚,辛\r"
        path = _write(tmp_path / f"x{chunk}.csv", text)
        scan = _scan(path, "gb18030", ",")
        assert scan.layout is not None
        expected = "a,b\r\n甲,乙\r\n丙 ,丁\r\n戊,己\r\n庚,辛 ".encode()
        with TextFile(path, scan.layout) as fh:
            assert fh.read() == expected, chunk
        assert "".join(_text(path, scan)).encode() == expected


def test_a_utf8_file_with_its_bom_that_needs_cleaning(tmp_path: Path, small: None) -> None:
    text = HEADER + "".join(_rows(2, 60))
    path = _write(tmp_path / "x.csv", text, bom=True)
    scan = _scan(path, "auto", ",")
    assert scan.codec == "utf-8" and scan.skip == 3 and not scan.direct
    assert scan.layout is not None
    with TextFile(path, scan.layout) as fh:
        assert fh.read() == _expected(text) == "".join(_text(path, scan)).encode()


def test_random_seeks_and_reads_give_the_bytes_at_that_place(tmp_path: Path, small: None) -> None:
    text = HEADER + "".join(_rows(3, 400))
    path = _write(tmp_path / "x.csv", text)
    scan = _scan(path, "gb18030", ",")
    assert scan.layout is not None
    whole = _expected(text)
    rng = random.Random(4)
    with TextFile(path, scan.layout) as fh:
        assert fh.seekable() and fh.readable() and not fh.writable()
        assert fh.seek(0, io.SEEK_END) == len(whole)
        for _ in range(500):
            start = rng.choice([rng.randrange(len(whole) + 5), fh.tell()])
            size = rng.choice([0, 1, 2, 39, 40, 41, 300, len(whole)])
            assert fh.seek(start) == start
            assert fh.read(size) == whole[start : start + size]
            assert fh.tell() == max(start, min(start + size, len(whole)))
        fh.seek(-10, io.SEEK_END)
        assert fh.read(-1) == whole[-10:]
        buffer = bytearray(25)
        fh.seek(100)
        assert fh.readinto(buffer) == 25 and bytes(buffer) == whole[100:125]
        fh.seek(17)
        fh.seek(8, io.SEEK_CUR)
        assert fh.read(5) == whole[25:30]


def test_a_read_after_a_mark_starts_from_the_mark(tmp_path: Path, small: None) -> None:
    """Seeking back does not decode from the start: the file is read again only from the
    last mark before the place (a file that is changed behind the reader's back shows it)."""
    text = HEADER + "".join(_rows(5, 300))
    path = _write(tmp_path / "x.csv", text)
    scan = _scan(path, "gb18030", ",")
    layout = scan.layout
    assert layout is not None
    whole = _expected(text)
    place = layout.marks[len(layout.marks) // 2] + 3
    with TextFile(path, layout) as fh:
        fh.seek(place)
        assert fh.read(50) == whole[place : place + 50]
        start = layout.places[len(layout.marks) // 2].offset
        raw = bytearray(path.read_bytes())
        raw[: start - 1] = b"#" * (start - 1)  # everything before the mark's chunk, damaged
        path.write_bytes(bytes(raw))
        fh.seek(place - 2)
        assert fh.read(50) == whole[place - 2 : place + 48]
        path.write_bytes(bytes(raw[: start + 20]))  # and now cut short
        fh.seek(len(whole) - 5)
        with pytest.raises(OSError, match="changed while it was read"):
            fh.read(5)


def test_an_undecodable_byte_still_names_its_row_and_column(tmp_path: Path, small: None) -> None:
    lines = [HEADER, *_rows(6, 30)]
    raw = b"".join(line.encode("gb18030") for line in lines[:7])
    raw += "4400099,受理,".encode("gb18030") + b"\x81\x20" + b"\r\n"
    raw += b"".join(line.encode("gb18030") for line in lines[7:])
    path = tmp_path / "x.csv"
    path.write_bytes(raw)
    row = 8  # the header and seven lines before it
    with pytest.raises(UnreadableFile, match=rf"row {row}, column 3 \(经办人\)"):
        _scan(path, "gb18030", ",")
    with pytest.raises(UnreadableFile, match=rf"neither UTF-8 nor GB18030.*row {row}, column 3"):
        _scan(path, "auto", ",")


def test_duckdb_reads_the_text_through_the_registered_file_system(
    tmp_path: Path, small: None
) -> None:
    text = HEADER + "".join(_rows(7, 500, ("\r\n",)))
    path = _write(tmp_path / "x.csv", text)
    scan = _scan(path, "gb18030", ",")
    assert scan.layout is not None
    con = duckdb.connect()
    target = transcode.register(con, path, scan.layout)
    try:
        got = con.execute(
            "SELECT * FROM read_csv($p, header = true, all_varchar = true, buffer_size = 64)",
            {"p": target},
        ).fetchall()
    finally:
        con.close()
        transcode.release(target)
    assert [",".join(r) for r in got if r[0] != "办件编号"] == _records(text)
    with pytest.raises(FileNotFoundError):  # released: gone, and nothing was written
        TextFileSystem().info(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_the_text_file_system_is_read_only(tmp_path: Path, small: None) -> None:
    path = _write(tmp_path / "x.csv", HEADER + "1,2,3\r\n")
    scan = _scan(path, "gb18030", ",")
    assert scan.layout is not None
    target = transcode.register(duckdb.connect(), path, scan.layout)
    try:
        fs = TextFileSystem()
        assert fs.info(target)["size"] == len(_expected(HEADER + "1,2,3\r\n"))
        assert [e["name"] for e in fs.ls(target)] == [target.split("://")[1]]
        with pytest.raises(PermissionError):
            fs.open(target, "wb")
    finally:
        transcode.release(target)


def test_a_gb18030_file_loads_the_same_read_in_tiny_chunks(tmp_path: Path, small: None) -> None:
    text = HEADER + "".join(_rows(8, 300, ("\r\n",)))
    path = _write(tmp_path / "环节.csv", text)
    frame = readers.read_frame(path, STEPS, tmp_path)
    assert frame.drop(readers.ROW).rows() == [tuple(line.split(",")) for line in _records(text)]


def test_reading_on_never_decodes_again(
    tmp_path: Path, small: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads that follow one another, as DuckDB's are, decode the file once, whatever their
    sizes against the chunks and marks; a read behind them starts once more, from a mark."""
    text = HEADER + "".join(_rows(9, 300))
    path = _write(tmp_path / "x.csv", text)
    scan = _scan(path, "gb18030", ",")
    assert scan.layout is not None
    starts: list[transcode.At | None] = []
    decode = transcode.decode

    def counted(*args: object, **kwargs: object) -> object:
        starts.append(kwargs.get("at"))  # type: ignore[arg-type]
        return decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transcode, "decode", counted)
    whole = _expected(text)
    rng = random.Random(10)
    with TextFile(path, scan.layout) as fh:
        got = b""
        while chunk := fh.read(rng.choice([1, 7, 40, 41, 80, 333])):
            got += chunk
        assert got == whole and starts == [None]
        fh.seek(len(whole) // 2)
        assert fh.read(100) == whole[len(whole) // 2 : len(whole) // 2 + 100]
        assert len(starts) == 2 and starts[1] is not None


def test_threads_that_seek_and_read_one_handle_each_get_their_own_place(
    tmp_path: Path, small: None
) -> None:
    """DuckDB reads one handle from several threads, each a seek and then a read: a read
    gives the bytes where its own thread sought, whatever the others sought meanwhile."""
    text = HEADER + "".join(_rows(11, 400))
    path = _write(tmp_path / "x.csv", text)
    scan = _scan(path, "gb18030", ",")
    assert scan.layout is not None
    whole = _expected(text)
    handle = TextFile(path, scan.layout)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two steps
    wrong: list[tuple[int, int]] = []

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            at, size = rng.randrange(len(whole)), rng.randrange(1, 200)
            handle.seek(at)
            if handle.read(size) != whole[at : at + size]:
                wrong.append((at, size))

    try:
        threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        handle.close()
    assert wrong == []


def test_duckdb_reading_with_many_threads_gets_every_row_in_order(tmp_path: Path) -> None:
    """The CSV reader's threads, small buffers, a file of many buffers: every row, once, in
    the file's order, none rejected."""
    text = HEADER + "".join(_rows(13, 20_000, ("\r\n",)))
    path = _write(tmp_path / "x.csv", text)
    scan = _scan(path, "gb18030", ",")
    assert scan.layout is not None
    expected = _records(text)
    for _ in range(3):
        con = duckdb.connect()
        con.execute("SET threads = 8")
        target = transcode.register(con, path, scan.layout)
        try:
            got = con.execute(
                "SELECT * FROM read_csv($p, header = true, all_varchar = true, "
                "buffer_size = 16384, max_line_size = 16384, store_rejects = true)",
                {"p": target},
            ).fetchall()
            rejected = con.execute("SELECT count(*) FROM reject_errors").fetchone()
        finally:
            con.close()
            transcode.release(target)
        assert rejected == (0,)
        assert [",".join(r) for r in got if r[0] != "办件编号"] == expected


def test_a_file_changed_while_it_is_read_fails_with_that_reason(tmp_path: Path) -> None:
    """Measured by the first pass, then replaced by something shorter before DuckDB read it:
    the file fails and says why, not as an unreadable CSV."""
    text = HEADER + "".join(_rows(14, 300, ("\r\n",)))
    path = _write(tmp_path / "环节.csv", text)
    stream = readers.read_source(path, STEPS, tmp_path)
    _write(path, HEADER + "".join(_rows(14, 30, ("\r\n",))))
    with pytest.raises(UnreadableFile, match=r"^the file changed while it was read$"):
        list(stream)


@pytest.mark.parametrize("seed", range(6))
def test_scan_counts_what_the_whole_text_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The first pass looks at a chunk at a time, and at the seam with the chunk before: its
    counts equal those of the whole text searched at once, wherever the chunks are cut."""
    rng = random.Random(seed)
    parts = ["a,b", "\n", "\r\n", "\r", "\ufeff", " ", "申请", "x,y", "\n\n", "\n \r\n"]
    if seed % 2:  # no blank line
        parts = ["a,b\n", "x\r\ny", "\ufeffz", "申请\r", "q"]
    text = "h1,h2\n" + "".join(rng.choice(parts) for _ in range(3000))
    path = tmp_path / "f.csv"
    codec = rng.choice(["utf-8", "gb18030"])
    path.write_bytes(text.encode(codec))
    monkeypatch.setattr(readers, "_CHUNK", rng.choice([1, 2, 3, 5, 64]))
    scan = readers._count(path, codec, 0)
    assert scan.newlines == text.count("\n")
    assert scan.has_cr == ("\r" in text)
    assert scan.stray == text.count("\r") - text.count("\r\n")
    assert scan.joined == text.count("\n\ufeff")
    assert scan.blank == (readers._BLANK.search(text) is not None)


def test_read_ahead_gives_every_batch_then_the_readers_error() -> None:
    def batches() -> Iterator[pl.DataFrame]:
        for i in range(5):
            yield pl.DataFrame({"i": [i]})
        raise UnreadableFile("the file ends in the middle of row 7")

    ahead = readers.ReadAhead(batches())
    got = []
    with pytest.raises(UnreadableFile, match="row 7"):
        for batch in ahead:
            got.append(batch["i"][0])
    assert got == [0, 1, 2, 3, 4]
    assert list(ahead) == []  # ended: nothing more, no wait


def test_read_ahead_stopped_early_closes_the_reader_in_its_thread() -> None:
    closed: list[str] = []

    def batches() -> Iterator[pl.DataFrame]:
        try:
            for i in range(1_000):
                yield pl.DataFrame({"i": [i]})
        finally:
            closed.append(threading.current_thread().name)

    ahead = readers.ReadAhead(batches())
    assert next(ahead)["i"][0] == 0
    ahead.close()
    assert closed == ["onewindow-read-ahead"]
    assert not ahead._thread.is_alive()


def test_scans_made_ahead_by_the_child_equal_those_made_here(tmp_path: Path) -> None:
    """ScanAhead's child gives the very scan (counts, text length, restart marks) the file's
    own first pass gives, and its refusal with the same reason; the run's first file is
    scanned where it is read."""
    src = TableSource(files="*.csv", columns={"application_id": "办件编号"})
    first, good, bad = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    first.write_text("办件编号\n1\n", encoding="utf-8")
    good.write_bytes((HEADER + "".join(_rows(3, 30_000))).encode("gb18030"))
    bad.write_bytes("办件编号,x\n1,".encode("gb18030") + b"\x81\x20" + b"\n")
    ahead = scanahead.ScanAhead([(first, src), (good, src), (bad, src)], min_bytes=0)
    try:
        assert ahead._order == [(good, "auto", ","), (bad, "auto", ",")]
        assert ahead.scan(good, src) == _scan(good, "auto", ",")
        assert ahead.made_ahead == 1
        with pytest.raises(UnreadableFile) as here:
            _scan(bad, "auto", ",")
        with pytest.raises(UnreadableFile, match="undecodable byte") as there:
            ahead.scan(bad, src)
        assert str(there.value) == str(here.value)
        assert ahead.scan(first, src) == _scan(first, "auto", ",")
        assert ahead.made_ahead == 1
    finally:
        ahead.close()


@pytest.mark.parametrize("broken", [False, True])
def test_the_first_file_scanned_beside_the_run_equals_its_own_scan(
    tmp_path: Path, broken: bool
) -> None:
    """The run's first file is scanned by a thread from the start of the run: the same scan,
    or the same refusal, as the file's own first pass; asked for once."""
    src = TableSource(files="*.csv", columns={"application_id": "办件编号"})
    first = tmp_path / "a.csv"
    first.write_bytes((HEADER + "".join(_rows(1, 20_000))).encode("gb18030"))
    if broken:
        first.write_bytes(first.read_bytes() + b"1,\x81\x20\n")
    ahead = scanahead.ScanAhead([(first, src)], first_bytes=0)
    try:
        assert ahead._first is not None and ahead._order == []
        if broken:
            with pytest.raises(UnreadableFile) as here:
                _scan(first, "auto", ",")
            with pytest.raises(UnreadableFile, match="undecodable byte") as there:
                ahead.scan(first, src)
            assert str(there.value) == str(here.value)
        else:
            assert ahead.scan(first, src) == _scan(first, "auto", ",")
            assert ahead.made_ahead == 1
        assert ahead._first is None  # asked again, it is scanned where it is read
    finally:
        ahead.close()
    small = scanahead.ScanAhead([(first, src)])  # under FIRST_BYTES: scanned where read
    assert small._first is None


def test_a_child_that_dies_leaves_each_file_to_be_scanned_where_it_is_read(
    tmp_path: Path,
) -> None:
    """Killed, the child gives nothing more: the files are scanned here, the same scans."""
    src = TableSource(files="*.csv", columns={"application_id": "办件编号"})
    paths = [tmp_path / f"{i}.csv" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_bytes((HEADER + "".join(_rows(i, 2_000))).encode("gb18030"))
    ahead = scanahead.ScanAhead([(p, src) for p in paths], min_bytes=0)
    try:
        assert ahead._child is not None
        ahead._child.kill()
        for path in paths:
            assert ahead.scan(path, src) == _scan(path, "auto", ",")
        assert ahead.made_ahead == 0 and ahead._child is None
    finally:
        ahead.close()


def test_a_demo_load_with_scans_made_ahead_equals_one_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    from etl import demo
    from tests.fixtures import CALENDAR
    from warehouse import Warehouse

    files = demo.write_demo(
        tmp_path / "out", seed=5, applications=600, months=4, end=date(2025, 6, 30)
    )
    tables = {}
    made: list[int] = []
    close = scanahead.ScanAhead.close

    def counted(self: scanahead.ScanAhead) -> None:
        made.append(self.made_ahead)
        close(self)

    monkeypatch.setattr(scanahead.ScanAhead, "close", counted)
    for name, min_bytes in (("here", 1 << 62), ("ahead", 0)):
        monkeypatch.setattr(scanahead.ScanAhead, "MIN_BYTES", min_bytes)
        wh = Warehouse(tmp_path / f"{name}.duckdb")
        demo.load_demo(wh, files, secret=b"s", calendar=CALENDAR)
        with wh.read() as con:
            tables[name] = {
                t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("events", "applications", "evaluations", "tickets", "quarantine")
            }
            tables[name]["runs"] = con.execute(
                "SELECT path, status, rows_read, loaded, duplicates, quarantined "
                "FROM etl_run_files ORDER BY path"
            ).fetchall()
    # The matter catalogue (a workbook) loads first: the four CSV exports are scanned ahead.
    assert made == [0, len([f for f in files if f.suffix == ".csv"])] == [0, 4]
    assert tables["ahead"] == tables["here"]
    assert len(tables["here"]["events"]) > 1_000


def test_staged_batches_are_inserted_behind_and_an_insert_error_is_raised() -> None:
    """FileRows inserts each batch in a thread of its own: after flush every batch is in the
    table; a batch DuckDB refuses raises its error in the thread that adds or flushes, and
    dropping the file afterwards does not wait forever."""
    from etl.filewise import FileRows
    from etl.readers import K as KEY
    from etl.transform import staged_columns

    src = TableSource(files="*.csv", columns={"application_id": "a", "step": "b", "timestamp": "c"})
    con = duckdb.connect()
    rows = FileRows(con, "events", src)
    columns = staged_columns("events", src)

    def batch(start: int, n: int, ts: str = "2025-01-02 03:04:05+00") -> pl.DataFrame:
        frame = pl.DataFrame(
            {c: [None] * n for c in columns}, schema=dict.fromkeys(columns, pl.String)
        )
        return frame.with_columns(
            pl.lit("A1").alias("application_id"),
            pl.lit(ts).alias("ts"),
            pl.int_range(start, start + n, dtype=pl.Int64).alias(KEY),
        )

    for i in range(5):
        rows.add(batch(i * 1000, 1000))
    rows.flush()
    assert con.execute("SELECT count(*), count(DISTINCT __k) FROM file_rows").fetchall() == [
        (5000, 5000)
    ]
    rows.add(batch(5000, 10, ts="not a time"))
    with pytest.raises(duckdb.ConversionException):
        for i in range(6, 12):
            rows.add(batch(i * 1000, 1000))
        rows.flush()
    rows.drop()
    assert rows._writer is None
