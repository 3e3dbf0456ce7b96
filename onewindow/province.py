"""The province's commands: `onewindow lake export`, `onewindow spark derive`, the `--lake`
and `--center` options of `report` and `serve`, and `onewindow demo --centers N`
(docs/scale.md). Kept apart from onewindow/cli.py, which only wires them in."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from metrics.calendar import WorkCalendar
from onewindow.config import Config
from warehouse import Warehouse
from warehouse import lake as lk

Command = Callable[[argparse.Namespace, Config, Warehouse], int]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from onewindow.cli import _common

    lake = sub.add_parser("lake", help="the province's Parquet lake")
    lake_sub = lake.add_subparsers(dest="lake_command", required=True)
    export = lake_sub.add_parser(
        "export", help="write this warehouse's tables into a lake (changed partitions only)"
    )
    export.add_argument("--to", dest="lake", type=Path, required=True, help="lake folder")
    export.add_argument("--center", help="center name in the lake (default: [center] name)")
    _common(export)

    spark = sub.add_parser("spark", help="compute on Apache Spark")
    spark_sub = spark.add_subparsers(dest="spark_command", required=True)
    derive = spark_sub.add_parser(
        "derive", help="derive facts, transitions and steps of every center of a lake"
    )
    derive.add_argument("--lake", type=Path, required=True, help="lake folder")
    derive.add_argument("--master", default="local[2]", help="Spark master URL (default local[2])")
    derive.add_argument(
        "--center", action="append", default=[], help="only this center (repeatable)"
    )
    derive.add_argument(
        "--full", action="store_true", help="derive centers whose export did not change too"
    )
    derive.add_argument(
        "--shuffle-partitions",
        type=int,
        default=8,
        help="spark.sql.shuffle.partitions (default 8; docs/scale.md sizes it)",
    )
    _common(derive)


def lake_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lake", type=Path, help="read a province's lake instead of --db")
    parser.add_argument("--center", help="with --lake: only this center")


def demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--centers", type=int, help="a province: N centers exported into --lake (default 1)"
    )
    parser.add_argument("--lake", type=Path, help="with --centers: the lake (default data/lake)")


def store(args: argparse.Namespace, config: Config, wh: Warehouse) -> Warehouse | lk.Lake:
    """What a report reads: the lake with --lake, else the warehouse."""
    if getattr(args, "lake", None) is None:
        if getattr(args, "center", None):
            raise lk.LakeError("--center needs --lake")
        return wh
    return lk.Lake(args.lake, WorkCalendar.from_config(config), args.center)


def serve_env(args: argparse.Namespace) -> dict[str, str]:
    """The dashboard reads the lake (ui/data.py) when these are set."""
    if args.lake is None:
        if args.center:
            raise lk.LakeError("--center needs --lake")
        return {}
    env = {"ONEWINDOW_LAKE": str(args.lake.resolve())}
    if args.center:
        env["ONEWINDOW_LAKE_CENTER"] = lk.check_center(args.center)
    return env


# --by dimensions every report takes on a lake.
LAKE_BY = ("center",)


def by_center(
    args: argparse.Namespace,
    config: Config,
    fn: Callable[[duckdb.DuckDBPyConnection], pl.DataFrame],
) -> pl.DataFrame:
    """A report cut by center: the report of each center of the lake (or of --center) on its
    own rows, with a first column `center`. Each center's figures are exactly those of its
    own warehouse: its open figures count as of its own last event, not the province's."""
    cal = WorkCalendar.from_config(config)
    names = [args.center] if args.center else lk.centers(args.lake)
    frames = []
    for name in names:
        with lk.Lake(args.lake, cal, name).read() as con:
            frame = fn(con)
        frames.append(frame.select(pl.lit(name).alias("center"), pl.all()))
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def cmd_lake(args: argparse.Namespace, config: Config, wh: Warehouse) -> int:
    from onewindow.cli import format_table

    center = args.center or config.center.name
    with wh.read() as con:
        outcome = lk.export(con, args.lake, center, WorkCalendar.from_config(config))
    print(format_table(lk.written_frame(outcome)))
    print(f"exported center {center} into {args.lake}")
    return 0


def cmd_spark(args: argparse.Namespace, config: Config, wh: Warehouse) -> int:
    from metrics import spark
    from onewindow.cli import format_table

    with spark.spark_session(args.master, args.shuffle_partitions) as session:
        outcome = spark.derive(session, args.lake, args.center or None, full=args.full)
    print(format_table(pl.DataFrame([d.__dict__ for d in outcome])))
    return 0


COMMANDS: dict[str, Command] = {"lake": cmd_lake, "spark": cmd_spark}


def cmd_demo_centers(args: argparse.Namespace, config: Config, end: date) -> int:
    """N demo centers, each with its own seed, size and planted effects, each loaded into its
    own warehouse (under --out) and exported into one lake."""
    from etl import demo
    from onewindow.cli import format_table

    lake = args.lake or Path("data/lake")
    frames = []
    for i, spec in enumerate(demo.centers(args.centers, args.seed, args.applications)):
        folder = args.out / spec.name
        wh = Warehouse(folder / "warehouse.duckdb")
        files = demo.write_demo(
            folder / "exports",
            seed=spec.seed,
            applications=spec.applications,
            months=args.months or demo.DEFAULT_MONTHS,
            end=end,
            center=i,
        )
        result = demo.load_demo(
            wh,
            files,
            secret=config.pseudonym_secret(),
            calendar=WorkCalendar.from_config(config),
        )
        if result.status != "ok":
            print(f"center {spec.name}: run {result.run_id} {result.status}", file=sys.stderr)
            return 1
        with wh.read() as con:
            lk.export(con, lake, spec.name, WorkCalendar.from_config(config))
        frames.append({"center": spec.name, "seed": spec.seed, "applications": spec.applications})
    print(format_table(pl.DataFrame(frames)))
    print(f"exported {len(frames)} centers into {lake}")
    return 0
