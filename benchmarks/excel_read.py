"""What reading a large Excel sheet costs, whole (fastexcel) against a row at a time
(etl/xlsx.py): the receipt log replicated to N rows written as one .xlsx sheet (shared strings,
as Excel writes), then `benchmarks.read_source` run on it in a new process for each reader,
alternating.

    .venv/bin/python -m benchmarks.excel_read [--rows 200000] [--repeat 2] [--out DIR]
        [--inline]

--inline writes inline strings instead (xlsxwriter's constant_memory mode, as exports written
a row at a time by Apache POI's streaming writer are).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import xlsxwriter

from tests.fixtures import PROFILES, RECEIPT


def write_sheet(path: Path, rows: int, inline: bool) -> None:
    with RECEIPT.open(encoding="utf-8", newline="") as fh:
        header, *body = list(csv.reader(fh))
    case = header.index("case:concept:name")
    book = xlsxwriter.Workbook(str(path), {"constant_memory": inline})
    sheet = book.add_worksheet("log")
    sheet.write_row(0, 0, header)
    written, copy = 0, 0
    while written < rows:
        for record in body[: rows - written]:
            record = list(record)
            record[case] = f"{record[case]}-r{copy}"
            written += 1
            sheet.write_row(written, 0, record)
        copy += 1
    book.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--inline", action="store_true")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="ow-excel-"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"receipt-{args.rows}{'-inline' if args.inline else ''}.xlsx"
    if not path.exists():
        write_sheet(path, args.rows, args.inline)
    with zipfile.ZipFile(path) as book:
        xml = book.getinfo("xl/worksheets/sheet1.xml").file_size
    print(f"{path.name}: {path.stat().st_size / 1e6:,.1f} MB, sheet XML {xml / 1e6:,.0f} MB")
    profile = out / "receipt-xlsx.toml"
    profile.write_text(
        (PROFILES / "receipt.toml")
        .read_text(encoding="utf-8")
        .replace('files = "receipt*.csv"', 'files = "receipt*.xlsx"'),
        encoding="utf-8",
    )
    for i in range(args.repeat):
        for label, limit in (("whole", "1000000"), ("row at a time", "0")):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.read_source",
                    str(path),
                    "--profile",
                    str(profile),
                    "--table",
                    "events",
                    "--whole-sheet-mb",
                    limit,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            print(f"{i + 1} {label}: {done.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
