"""Builders for real, seeded test inputs and warehouses a person can also open.

`python -m tests.fixtures DIR` writes the center exports and loads them into DIR/warehouse.duckdb.
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import xlsxwriter

from metrics.calendar import WorkCalendar
from onewindow.config import Config

if TYPE_CHECKING:
    from warehouse import Warehouse

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
RECEIPT = SHARED / "data" / "real" / "receipt.csv"
PROFILES = Path(__file__).resolve().parents[1] / "profiles"
# The default config's calendar: the center's calendar of every test that sets no other.
CALENDAR = WorkCalendar.from_config(Config())

APPLICATION_HEADER = [
    "办件编号",
    "事项编码",
    "申请方式",
    "申请时间",
    "受理时间",
    "办结时间",
    "跑动次数",
    "申请人",
    "证件号码",
    "联系电话",
]
STEP_HEADER = ["办件编号", "环节名称", "开始时间", "结束时间", "办理部门", "窗口", "经办人"]
MATTER_HEADER = ["事项编码", "事项名称", "实施部门", "法定时限", "承诺时限", "办件类型"]

CENTER_PROFILE = """
name = "center"
timezone = "Asia/Shanghai"

[tables.matters]
files = "matters*"
[tables.matters.columns]
matter_code = "事项编码"
name_zh = "事项名称"
department = "实施部门"
statutory_limit_days = "法定时限"
promised_limit_days = "承诺时限"
matter_type = "办件类型"
[tables.matters.values.matter_type]
"即办件" = "instant"
"承诺件" = "promised"

[tables.applications]
files = "applications*"
personal = ["申请人", "证件号码", "联系电话"]
[tables.applications.columns]
application_id = "办件编号"
matter_code = "事项编码"
channel = "申请方式"
submitted_at = "申请时间"
accepted_at = "受理时间"
completed_at = "办结时间"
trips = "跑动次数"
applicant_id = "证件号码"
[tables.applications.values.channel]
"窗口" = "window"
"网上" = "online"
"移动端" = "mobile"

[tables.events]
files = "steps*"
[tables.events.columns]
application_id = "办件编号"
step = "环节名称"
started_at = "开始时间"
timestamp = "结束时间"
department = "办理部门"
window_id = "窗口"
staff = "经办人"

[stages]
"受理" = "accept"
"办结" = "complete"
"""

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"


def id_card(rng: random.Random) -> str:
    """A mainland resident ID number (GB 11643) with a valid check digit."""
    born = datetime(1960, 1, 1) + timedelta(days=rng.randrange(20000))
    body = f"441203{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"


def center_rows(n: int, seed: int = 1) -> tuple[list[list[str]], list[list[str]]]:
    """n applications with their steps; fixed seed, so the same rows every time."""
    rng = random.Random(seed)
    apps, steps = [], []
    start = datetime(2025, 3, 3, 9, 0)
    for i in range(n):
        submitted = start + timedelta(hours=rng.randrange(24 * 60), minutes=rng.randrange(60))
        accepted = submitted + timedelta(minutes=rng.randrange(5, 300))
        done = accepted + timedelta(days=rng.randrange(0, 12), minutes=rng.randrange(600))
        app_id = f"4412{i:08d}"
        apps.append(
            [
                app_id,
                f"M-{i % 7:03d}",
                rng.choice(["窗口", "网上", "移动端"]),
                f"{submitted:%Y-%m-%d %H:%M:%S}",
                f"{accepted:%Y/%m/%d %H:%M}",
                f"{done:%Y年%m月%d日 %H:%M}",
                str(rng.randrange(3)),
                rng.choice(["张伟", "王芳", "李娜", "刘洋"]),
                id_card(rng),
                phone(rng),
            ]
        )
        t = accepted
        for step in ("受理", "审查", "决定", "办结"):
            end = t + timedelta(minutes=rng.randrange(10, 2000))
            steps.append(
                [
                    app_id,
                    step,
                    f"{t:%Y-%m-%d %H:%M:%S}",
                    f"{end:%Y-%m-%d %H:%M:%S}",
                    rng.choice(["市场监管局", "税务局"]),
                    f"{rng.randrange(1, 12)}号窗口",
                    f"staff-{rng.randrange(20):02d}",
                ]
            )
            t = end
    return apps, steps


def matter_rows() -> list[list[str]]:
    return [[f"M-{i:03d}", f"事项{i}", "市场监管局", "20", "5", "承诺件"] for i in range(7)]


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "gb18030"
) -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("导出")
    sheet.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    return path


def write_profile(folder: Path, text: str = CENTER_PROFILE, name: str = "center.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def center_exports(folder: Path, n: int = 50, seed: int = 1) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    apps, steps = center_rows(n, seed)
    return [
        write_csv(folder / "matters.csv", MATTER_HEADER, matter_rows()),
        write_csv(folder / "applications.csv", APPLICATION_HEADER, apps),
        write_csv(folder / "steps.csv", STEP_HEADER, steps),
    ]


if __name__ == "__main__":
    from etl.profile import load_profile
    from etl.run import load_files
    from warehouse import Warehouse

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data/fixture")
    files = center_exports(out / "exports")
    profile = load_profile(write_profile(out))
    result = load_files(
        Warehouse(out / "warehouse.duckdb"), [(f, profile) for f in files], calendar=CALENDAR
    )
    print(f"loaded run {result.run_id} into {out / 'warehouse.duckdb'}")


# Run first in the child: at exit it writes its own high-water mark of resident memory. Not
# the child's rusage: on Linux a child started by a large process (this test session) reports
# at least its parent's peak (the kernel keeps the old high-water mark across exec).
PEAK_PRELUDE = """import atexit, os, sys
def _peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["OW_PEAK_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
"""


def load_command(db: Path, path: Path, profile: Path = PROFILES / "receipt.toml") -> list[str]:
    """`onewindow load` as a separate process, for tests and benchmarks that need one."""
    return [
        sys.executable,
        "-m",
        "onewindow.cli",
        "load",
        str(path),
        "--profile",
        str(profile),
        "--db",
        str(db),
    ]


def replicated_receipt(path: Path, copies: int) -> Path:
    """receipt.csv repeated `copies` times with distinct case ids, each copy shifted a week."""
    import polars as pl

    log = pl.read_csv(RECEIPT, infer_schema=False)
    parts = []
    for i in range(copies):
        stamp = pl.col("time:timestamp").str.slice(0, 19).str.to_datetime("%Y-%m-%d %H:%M:%S")
        parts.append(
            log.with_columns(
                (pl.col("case:concept:name") + f"-r{i}"),
                (stamp + pl.duration(weeks=i)).dt.strftime("%Y-%m-%d %H:%M:%S")
                + pl.col("time:timestamp").str.slice(19),
            )
        )
    pl.concat(parts).write_csv(path)
    return path


_SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
        'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
        'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
        '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_SHEET_NS}" xmlns:r="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name='
        '"导出" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
        '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def zip_bomb_xlsx(
    path: Path, header: list[str], unpacked_mb: int, declared_bytes: int | None = None
) -> Path:
    """A workbook whose header row is `header` and whose sheet then holds `unpacked_mb` rows of
    one 1 MiB cell each: about 1,000 times smaller packed than unpacked, as zip bombs are.
    With `declared_bytes` its zip directory lies about the sheet's unpacked size.

    Written without ever holding or compressing the sheet: one 1 MiB row is deflated once,
    ending in a full flush (byte-aligned, no reference to earlier data), so its packed bytes
    can be repeated as they are; only the CRC runs over the whole sheet."""
    import struct
    import zlib

    def cell(text: str) -> str:
        return f'<c t="inlineStr"><is><t>{text}</t></is></c>'

    head = (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_SHEET_NS}"><sheetData>'
        f'<row r="1">{"".join(cell(h) for h in header)}</row>'
    ).encode()
    body = f"<row>{cell('A' * (1 << 20))}</row>".encode()
    tail = b"</sheetData></worksheet>"

    def deflate(data: bytes, mode: int) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return packer.compress(data) + packer.flush(mode)

    packed_body = deflate(body, zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(unpacked_mb):
        crc = zlib.crc32(body, crc)
    crc = zlib.crc32(tail, crc)
    sheet = [deflate(head, zlib.Z_FULL_FLUSH)] + [packed_body] * unpacked_mb
    sheet.append(deflate(tail, zlib.Z_FINISH))  # a list of one chunk repeated: a few MB
    members = [
        (name, zlib.crc32(text.encode()), len(text.encode()), [deflate(text.encode(), 4)])
        for name, text in _XLSX_PARTS.items()
    ]
    size = len(head) + len(body) * unpacked_mb + len(tail)
    members.append(("xl/worksheets/sheet1.xml", crc, declared_bytes or size, sheet))
    central = b""
    with open(path, "wb") as fh:
        for name, crc_, size_, chunks in members:
            offset = fh.tell()
            raw = name.encode()
            # version 2.0, UTF-8 names, deflated, a fixed date, CRC, sizes, name length
            fields = (20, 0x800, 8, 0, 0x21, crc_, sum(map(len, chunks)), size_, len(raw), 0)
            fh.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + raw)
            fh.writelines(chunks)
            central += struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, offset
            )
            central += raw
        start = fh.tell()
        fh.write(central)
        end = struct.pack(
            "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0
        )
        fh.write(end)
    return path


def hand_built(folder: Path, profile: str, files: dict[str, str]) -> Warehouse:
    """A warehouse loaded from hand-written CSV texts (file name → text) with the profile
    text `profile`; fails when a row is quarantined."""
    from etl.profile import load_profile
    from etl.run import load_files
    from warehouse import Warehouse

    (folder / "p.toml").write_text(profile, encoding="utf-8")
    paths = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    loaded = load_profile(folder / "p.toml")
    warehouse = Warehouse(folder / "w.duckdb")
    result = load_files(warehouse, [(path, loaded) for path in paths], CALENDAR)
    assert all(f.quarantined == 0 for f in result.files), result
    return warehouse
