"""The `onewindow` command line. Each command is a thin shell over one library call; library
errors become one clear line on stderr here, at the edge (a traceback only with --debug).

Exit codes: 0 success, 1 a failed run, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from etl.profile import Profile, ProfileError, load_profile
from etl.progress import Progress
from etl.reforms import Update
from etl.run import LoadError, RunResult, load_files
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.reforms import UnknownReform
from metrics.reports import REPORTS
from onewindow import province
from onewindow.config import Config, ConfigError, load_config
from warehouse import Warehouse, WarehouseError


class UsageError(Exception):
    """Bad usage found after parsing (exit 2)."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        help="warehouse file (default: $ONEWINDOW_DB, the config's db, else data/warehouse.duckdb)",
    )
    parser.add_argument("--config", type=Path, help="config file (default: ./onewindow.toml)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onewindow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    load = sub.add_parser("load", help="one ETL run over the given files")
    load.add_argument("paths", nargs="+", type=Path, help="files, or folders to scan")
    load.add_argument("--profile", type=Path, required=True, help="source profile (TOML)")
    _common(load)

    demo = sub.add_parser("demo", help="write the demo center's exports and load them")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--applications", type=int, default=None, help="number of applications (default 40,000)"
    )
    demo.add_argument("--months", type=int, default=None, help="months of history (default 24)")
    demo.add_argument(
        "--end",
        type=date.fromisoformat,
        default=None,
        help="last day of the export, YYYY-MM-DD (default: today)",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("data/demo"),
        help="folder for the exports and truth.json (default data/demo)",
    )
    province.demo_options(demo)
    _common(demo)

    schedule = sub.add_parser("schedule", help="run the configured jobs until stopped")
    _common(schedule)

    serve = sub.add_parser("serve", help="start the dashboard")
    serve.add_argument("--port", type=int, default=8501)
    province.lake_options(serve)
    _common(serve)

    rep = sub.add_parser("report", help="print one metric table")
    rep.add_argument("name", help="report name: " + ", ".join(sorted(REPORTS)))
    rep.add_argument("--from", dest="start", type=date.fromisoformat, help="YYYY-MM-DD")
    rep.add_argument("--to", dest="end", type=date.fromisoformat, help="YYYY-MM-DD")
    rep.add_argument("--matter", action="append", default=[], help="matter code")
    rep.add_argument("--department", action="append", default=[])
    rep.add_argument("--channel", action="append", default=[])
    rep.add_argument("--window", action="append", default=[], help="window that handled it")
    rep.add_argument("--staff", action="append", default=[], help="staff member who handled it")
    rep.add_argument(
        "--reform", action="append", default=[], help="reform id (report reforms only)"
    )
    rep.add_argument("--by", default="none", help="dimension to group by")
    rep.add_argument("--format", choices=["table", "csv", "json"], default="table")
    province.lake_options(rep)
    _common(rep)
    province.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config)
        wh = Warehouse(config.warehouse_path(args.db or _env_db()))
        command: Callable[[argparse.Namespace, Config, Warehouse], int] = {
            "load": cmd_load,
            "schedule": cmd_schedule,
            "report": cmd_report,
            "serve": cmd_serve,
            "demo": cmd_demo,
            **province.COMMANDS,
        }[args.command]
        return command(args, config, wh)
    except UsageError as exc:
        print(f"onewindow: {exc}", file=sys.stderr)
        return 2
    except (ConfigError, ProfileError, WarehouseError, LoadError, OSError) as exc:
        if args.debug:
            raise
        print(f"onewindow: {exc}", file=sys.stderr)
        return 1


def _env_db() -> Path | None:
    value = os.environ.get("ONEWINDOW_DB")
    return Path(value) if value else None


def _expand(paths: list[Path], profile: Profile) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and profile.table_for(p)))
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such file or folder")
    return files


def cmd_load(args: argparse.Namespace, config: Config, wh: Warehouse) -> int:
    profile = load_profile(args.profile)
    files = _expand(args.paths, profile)
    if not files:
        raise UsageError("no file to load (folders are scanned for the profile's file names)")
    result = load_files(
        wh,
        [(f, profile) for f in files],
        secret=config.pseudonym_secret(),
        lock_timeout_s=config.etl.lock_timeout_s,
        progress=Progress(len(files), sys.stderr),
        calendar=WorkCalendar.from_config(config),
        reforms=Update(config=tuple(config.reforms)),
    )
    print(format_table(outcome_frame(result)))
    print(f"run {result.run_id}: {result.status}")
    return 0 if result.status == "ok" else 1


def outcome_frame(result: RunResult) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "file": f.path,
                "table": f.table,
                "status": f.status,
                "read": f.rows_read,
                "loaded": f.loaded,
                "duplicate": f.duplicates,
                "quarantined": f.quarantined,
                "error": f.error or "",
            }
            for f in result.files
        ],
        schema={
            "file": pl.String,
            "table": pl.String,
            "status": pl.String,
            "read": pl.Int64,
            "loaded": pl.Int64,
            "duplicate": pl.Int64,
            "quarantined": pl.Int64,
            "error": pl.String,
        },
    )


def cmd_demo(args: argparse.Namespace, config: Config, wh: Warehouse) -> int:
    from etl import demo

    end = args.end or datetime.now(ZoneInfo(config.center.timezone)).date()
    if args.centers is not None:
        return province.cmd_demo_centers(args, config, end)
    files = demo.write_demo(
        args.out,
        seed=args.seed,
        applications=args.applications or demo.DEFAULT_APPLICATIONS,
        months=args.months or demo.DEFAULT_MONTHS,
        end=end,
    )
    print(f"wrote {len(files)} exports and truth.json to {args.out}")
    result = demo.load_demo(
        wh,
        files,
        secret=config.pseudonym_secret(),
        progress=Progress(len(files), sys.stderr),
        calendar=WorkCalendar.from_config(config),
        config_reforms=config.reforms,
    )
    print(format_table(outcome_frame(result)))
    print(f"run {result.run_id}: {result.status}")
    return 0 if result.status == "ok" else 1


def cmd_schedule(args: argparse.Namespace, config: Config, wh: Warehouse) -> int:
    from etl.scheduler import run_schedule

    run_schedule(config, wh)
    return 0


def cmd_serve(args: argparse.Namespace, config: Config, wh: Warehouse) -> int:
    """Runs Streamlit in the foreground; the app reads the same config and warehouse."""
    app = Path(__file__).resolve().parents[1] / "app.py"
    # absolute(), not resolve(): the warehouse path is a symlink to the published copy, and the
    # app must open the link (which each ETL run swaps), not the copy it points at today.
    env = dict(os.environ, ONEWINDOW_DB=str(wh.path.absolute()))
    env.update(province.serve_env(args))
    if args.config:
        env["ONEWINDOW_CONFIG_FILE"] = str(args.config.resolve())
    command = [
        sys.executable,
        "-m",
        "onewindow.streamlit_main",  # why not plain streamlit: see that module
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
    ]
    return subprocess.call(command, env=env, cwd=app.parent)


def cmd_report(args: argparse.Namespace, config: Config, wh: Warehouse) -> int:
    chosen = REPORTS.get(args.name)
    if chosen is None:
        raise UsageError(f"unknown report {args.name!r}; choose one of {', '.join(REPORTS)}")
    if not chosen.app_cuts and (
        args.matter or args.department or args.channel or args.window or args.staff
    ):
        raise UsageError(
            f"report {args.name} cannot be cut by matter, department, channel, window or staff; "
            "use --from and --to"
        )
    if not chosen.period and (args.start or args.end):
        raise UsageError(
            f"report {args.name} takes its periods from each reform; --from and --to do not apply"
        )
    if args.reform and not chosen.reform_cut:
        raise UsageError(f"report {args.name} cannot be cut by reform; only report reforms can")
    by = chosen.by + (province.LAKE_BY if args.lake else ())
    if args.by not in by:
        raise UsageError(
            f"report {args.name} cannot be cut by {args.by!r}; choose one of {', '.join(by)}"
        )
    filters = Filters(
        start=args.start,
        end=args.end,
        matters=tuple(args.matter),
        departments=tuple(args.department),
        channels=tuple(args.channel),
        windows=tuple(args.window),
        staff=tuple(args.staff),
        reforms=tuple(args.reform),
    )
    try:
        if args.by in province.LAKE_BY:
            frame = province.by_center(
                args, config, lambda con: chosen.fn(con, filters, config, "none")
            )
        else:
            with province.store(args, config, wh).read() as con:
                frame = chosen.fn(con, filters, config, args.by)
    except UnknownReform as exc:
        raise UsageError(str(exc)) from None
    print(render(frame, args.format), end="")
    return 0


def render(frame: pl.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        # Polars writes a million rows in well under a second; the csv module took seconds.
        nested = [c for c, t in frame.schema.items() if t.is_nested()]
        flat = frame.with_columns(
            pl.col(c).map_elements(
                lambda v: json.dumps(
                    v.to_list() if hasattr(v, "to_list") else v, ensure_ascii=False, default=str
                ),
                return_dtype=pl.String,
            )
            for c in nested
        )
        return flat.write_csv(datetime_format="%Y-%m-%d %H:%M:%S%.f%:z")
    if fmt == "json":
        rows = [
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()
            }
            for row in frame.to_dicts()
        ]
        return json.dumps(rows, ensure_ascii=False, default=str, indent=1) + "\n"
    return format_table(frame) + "\n"


def _json_cell(value: object) -> str:
    listed = value.to_list() if isinstance(value, pl.Series) else value
    return json.dumps(listed, ensure_ascii=False, default=str)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_table(frame: pl.DataFrame) -> str:
    """Aligned plain text; wide (Chinese) characters count as two columns."""
    cells = [[("" if v is None else str(v)) for v in row] for row in frame.rows()]
    header = frame.columns
    widths = [max([_width(h)] + [_width(r[i]) for r in cells]) for i, h in enumerate(header)]
    numeric = [frame.schema[c].is_numeric() for c in header]

    def line(values: Sequence[str]) -> str:
        out = []
        for value, width, num in zip(values, widths, numeric, strict=True):
            pad = " " * (width - _width(value))
            out.append(pad + value if num else value + pad)
        return "  ".join(out).rstrip()

    rows = [line(header), line(["-" * w for w in widths])] + [line(r) for r in cells]
    if not cells:
        rows.append("(no rows)")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
