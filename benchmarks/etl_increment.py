"""How an ETL run's cost grows: a bulk load, then one small new export into warehouses of
different sizes. The claim under test: a run's cost grows with the new data, not with the
warehouse.

    .venv/bin/python -m benchmarks.etl_increment [--sizes 10 117] [--out DIR]

Inputs are the real receipt log replicated with distinct ids (tests.fixtures.replicated_receipt).
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from tests.fixtures import RECEIPT, load_command, replicated_receipt


def _load(db: Path, path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        load_command(db, path),
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10, 117],
        help="warehouse sizes in copies of the receipt log (8,577 events each)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not RECEIPT.exists():
        raise SystemExit(f"needs the real log at {RECEIPT}")
    out = args.out or Path(tempfile.mkdtemp(prefix="ow-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, "
        f"Python {platform.python_version()}"
    )
    small = replicated_receipt(out / "receipt-new.csv", 1)
    small.write_text(small.read_text().replace("-r0,", "-new,"))
    print(
        "| warehouse events | bulk load s | increment (8,577 new events) s | "
        "reload of the same file s |"
    )
    print("|---:|---:|---:|---:|")
    for copies in args.sizes:
        bulk = replicated_receipt(out / f"receipt-{copies}.csv", copies)
        db = out / f"w{copies}.duckdb"
        bulk_s = _load(db, bulk)
        inc_s = _load(db, small)
        again_s = _load(db, small)
        print(f"| {8577 * copies:,} | {bulk_s:.1f} | {inc_s:.2f} | {again_s:.2f} |")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory of one load process: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
