"""What reading one file costs: `etl.readers.read_source` over the file, its batches counted and
dropped, as a load's reading step sees it (no mapping, no staging).

    .venv/bin/python -m benchmarks.read_source FILE --profile profiles/X.toml --table events
        [--whole-sheet-mb MB]

Prints the records read, the rows rejected, the values cleaned, wall seconds, CPU seconds of
the whole process (all threads: DuckDB's too) and its peak resident memory (VmHWM), with
the load average before and after: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.load_steps import status_kib
from etl.profile import load_profile
from etl.readers import read_source
from etl.xlsx_guard import ExcelLimits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--profile", type=Path, required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument(
        "--whole-sheet-mb", type=float, default=None, help="[etl] excel_whole_sheet_mb"
    )
    args = parser.parse_args()
    src = load_profile(args.profile).tables[args.table]
    before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as scratch:
        limits = (
            None if args.whole_sheet_mb is None else ExcelLimits(whole_sheet_mb=args.whole_sheet_mb)
        )
        stream = read_source(args.file, src, Path(scratch), excel=limits)
        records = sum(batch.height for batch in stream)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = status_kib("VmHWM") / 1024
    print(
        f"records {records:,} rejected {len(stream.rejects):,} cleaned {stream.cleaned:,} | "
        f"wall {wall:.1f} s | CPU {cpu:.1f} s | peak {peak:,.0f} MiB | "
        f"load average {before:.1f} -> {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
