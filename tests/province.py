"""Helpers of the province's tests: the derived rows of a lake against a warehouse's."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from metrics.calendar import WorkCalendar
from warehouse import Warehouse
from warehouse.lake import Lake

# The columns that identify a row of each derived table (with its order among ties).
KEYS = {
    "d_facts": ["application_id"],
    "d_transitions": ["application_id", "from_ts", "to_ts", "from_step", "to_step"],
    "d_steps": ["application_id", "ts", "step", "occurrence", "staff_occurrence"],
}


def _normal(frame: pl.DataFrame) -> pl.DataFrame:
    ints = [c for c, t in frame.schema.items() if t.is_integer()]
    return frame.with_columns(pl.col(ints).cast(pl.Int64))


def assert_same_rows(lake: Path, center: str, wh: Warehouse, cal: WorkCalendar) -> None:
    """Every row of the lake's d_facts, d_transitions and d_steps for `center` equals the
    warehouse's (DuckDB's): instants to the microsecond, floats to 1e-6, all else exactly."""
    for table, key in KEYS.items():
        with wh.read() as con:
            ours = _normal(con.sql(f"SELECT * FROM {table}").pl())
        with Lake(lake, cal, center).read() as con:
            theirs = _normal(con.sql(f"SELECT * EXCLUDE (center) FROM {table}").pl())
        assert ours.height > 0, table
        assert set(theirs.columns) == set(ours.columns), table
        theirs = theirs.select(ours.columns).sort(key, nulls_last=True)
        ours = ours.sort(key, nulls_last=True)
        assert theirs.height == ours.height, (table, center)
        for column, kind in ours.schema.items():
            a, b = ours[column], theirs[column]
            if kind.is_float():
                diff = (a - b).abs()
                same_nulls = (a.is_null() == b.is_null()).all()
                assert same_nulls and (diff.fill_null(0) <= 1e-6).all(), (table, column)
            else:
                assert a.equals(b.cast(a.dtype)), (table, column, center)


def demo_province(root: Path, centers: int, applications: int, months: int) -> tuple[Path, Path]:
    """`onewindow demo --centers N` into root: (the lake, the folder of the centers)."""
    from tests.conftest import run_cli

    lake, out = root / "lake", root / "centers"
    ran = run_cli(
        "demo",
        "--centers",
        str(centers),
        "--applications",
        str(applications),
        "--months",
        str(months),
        "--end",
        "2025-06-30",
        "--out",
        out,
        "--lake",
        lake,
    )
    assert ran.code == 0, ran.err
    return lake, out
