"""One application of a run to one warehouse copy, alone: CPU, wall, peak memory and the
costliest statements (etl.apply.apply_delta, the derived tables included).

    .venv/bin/python -m benchmarks.apply_delta FILE_OR_FOLDER --profile profiles/X.toml
        --out /tmp/DIR [--onto-loaded] [--memory-limit 300MB]

First loads the source into a warehouse in --out keeping the run's delta (once; reused when
--out already holds it), then, in this process, applies that delta to a new empty copy (a
bulk load), or with --onto-loaded to a copy of the loaded warehouse (every row already there:
classifying against the stored rows). The peak is this process's VmHWM.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.load_steps import status_kib

KEEP = """
import sys
import warehouse.warehouse as w
w.Writer._prune_deltas = lambda self: None  # keep the run's delta for the benchmark
from onewindow import cli
sys.exit(cli.main(sys.argv[1:]))
"""


class Timed:
    """A connection whose execute() notes each statement's CPU and wall seconds."""

    def __init__(self, con: object) -> None:
        self.con = con
        self.spent: list[tuple[float, float, str]] = []

    def execute(self, sql: str, *args: object, **kwargs: object) -> object:
        cpu, wall = time.process_time(), time.perf_counter()
        result = self.con.execute(sql, *args, **kwargs)  # type: ignore[attr-defined]
        self.spent.append(
            (time.process_time() - cpu, time.perf_counter() - wall, " ".join(sql.split())[:100])
        )
        return result

    def __getattr__(self, name: str) -> object:
        return getattr(self.con, name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path)
    parser.add_argument("--profile", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--onto-loaded", action="store_true")
    parser.add_argument("--memory-limit", default=None)
    args = parser.parse_args()
    loaded = args.out / "loaded.duckdb"
    deltas = sorted((args.out / "loaded.duckdb.d" / "deltas").glob("run-*.duckdb"))
    if not deltas:
        args.out.mkdir(parents=True, exist_ok=True)
        command = ["load", str(args.source), "--profile", str(args.profile), "--db", str(loaded)]
        subprocess.run([sys.executable, "-c", KEEP, *command], check=True)
        deltas = sorted((args.out / "loaded.duckdb.d" / "deltas").glob("run-*.duckdb"))

    from etl.apply import apply_delta
    from warehouse import migrations
    from warehouse.warehouse import Resources, _connect

    copy = args.out / "copy.duckdb"
    copy.unlink(missing_ok=True)
    copy.with_name(copy.name + ".wal").unlink(missing_ok=True)
    if args.onto_loaded:
        shutil.copyfile(loaded.resolve(), copy)
    con = _connect(copy, read_only=False)
    migrations.migrate(con, str(copy))
    con.execute("CHECKPOINT")
    Resources(args.memory_limit).configure(con, args.out / "spill")
    timed = Timed(con)
    cpu, wall = time.process_time(), time.perf_counter()
    apply_delta(timed, deltas[-1])  # type: ignore[arg-type]
    con.execute("CHECKPOINT")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = status_kib("VmHWM")
    print(
        f"apply: {cpu:.2f} CPU s, {wall:.2f} s, peak {peak / 1024:,.0f} MiB, memory_limit "
        f"{args.memory_limit or 'DuckDB default'}"
    )
    print("| CPU s | wall s | statement |\n|---:|---:|---|")
    for spent_cpu, spent_wall, sql in sorted(timed.spent, reverse=True)[:12]:
        print(f"| {spent_cpu:.2f} | {spent_wall:.2f} | `{sql}` |")


if __name__ == "__main__":
    main()
