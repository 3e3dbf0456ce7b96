"""Writes the demo center's exports the way a provincial approval system does: CSV in
GB18030 with Chinese headers, the matter catalog as Excel, and truth.json beside them.

Byte-identical for the same seed and arguments (the workbook carries a fixed creation date).
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import xlsxwriter

from etl.demo.generate import Demo

CHUNK_ROWS = 500_000


def write_gb18030_csv(frame: pl.DataFrame, path: Path) -> Path:
    """In slices, so a 10M-row table never holds two full text copies in memory."""
    with open(path, "wb") as out:
        for offset in range(0, max(frame.height, 1), CHUNK_ROWS):
            buffer = io.BytesIO()
            frame.slice(offset, CHUNK_ROWS).write_csv(
                buffer, include_header=offset == 0, line_terminator="\r\n"
            )
            out.write(buffer.getvalue().decode("utf-8").encode("gb18030"))
    return path


def write_workbook(frame: pl.DataFrame, path: Path, sheet: str, created: date) -> Path:
    book = xlsxwriter.Workbook(str(path))
    book.set_properties(
        {"created": datetime(created.year, created.month, created.day), "author": "OneWindow demo"}
    )
    ws = book.add_worksheet(sheet)
    bold = book.add_format({"bold": True})
    ws.write_row(0, 0, frame.columns, bold)
    for r, row in enumerate(frame.iter_rows(), start=1):
        ws.write_row(r, 0, row)
    book.close()
    return path


def write_exports(demo: Demo, out: Path, end: date) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stamp = end.strftime("%Y%m%d")
    files = [
        write_workbook(demo.matters, out / "事项目录.xlsx", "事项目录", end),
        write_gb18030_csv(demo.applications, out / f"办件_{stamp}.csv"),
        write_gb18030_csv(demo.steps, out / f"环节_{stamp}.csv"),
        write_gb18030_csv(demo.ratings, out / f"好差评_{stamp}.csv"),
        write_gb18030_csv(demo.tickets, out / f"排队叫号_{stamp}.csv"),
    ]
    (out / "truth.json").write_text(
        json.dumps(demo.truth, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    return files
