"""Variants: the distinct step sequences applications take, how many take each and how long
and how well they do (docs/metrics.md, `variants`). Two applications share a variant when their
steps, in order (metrics/sequences.py), are the same, as `pm4py.get_variants` groups cases.
"""

from __future__ import annotations

import duckdb
import polars as pl

from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.sequences import sequences_sql
from warehouse import sql

SEPARATOR = " → "
DIMENSIONS = ("none", "matter")


def variants(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, by: str = "none"
) -> pl.DataFrame:
    """One row per variant (per matter with `by` = matter), most frequent first: `rank`,
    `variant` (steps joined by ' → '), `events`, `applications`, `share` (of the applications
    in the cut, or of the matter's), `completed`, median and P90 processing working days and
    on-time rate of the completed ones, `rework_steps` (occurrences of a step beyond its
    first). The period keeps applications whose last event falls in it (as `cases`)."""
    query, params = sequences_sql(con, cal, filters, "last_day")
    key = "matter_code, " if by == "matter" else ""
    partition = "PARTITION BY matter_code" if by == "matter" else ""
    return sql.frame(
        con,
        f"""WITH seq AS ({query}), agg AS (
            SELECT {key}steps, count(*) AS applications,
                count(*) FILTER (WHERE completed) AS completed,
                median(processing_workdays) FILTER (WHERE completed)
                    AS processing_workdays_median,
                quantile_cont(processing_workdays, 0.9) FILTER (WHERE completed)
                    AS processing_workdays_p90,
                avg(on_time::INT) FILTER (WHERE completed) AS on_time_rate
            FROM seq GROUP BY ALL)
        SELECT {key}row_number() OVER ({partition}
                ORDER BY applications DESC, steps) AS rank,
            array_to_string(steps, $variant_separator) AS variant, len(steps) AS events,
            applications, applications / sum(applications) OVER ({partition}) AS share,
            completed, processing_workdays_median, processing_workdays_p90, on_time_rate,
            len(steps) - len(list_distinct(steps)) AS rework_steps
        FROM agg ORDER BY {key}rank""",
        sql.merge(params, {"variant_separator": SEPARATOR}),
    )


def grouped(frame: pl.DataFrame, top: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The `top` most frequent variants of a `variants` frame (one matter or no --by), and
    the rest summed into one row: `variants` (how many), `applications`, `share`,
    `completed` (their medians cannot be summed, so they are left out)."""
    head = frame.filter(pl.col("rank") <= top)
    rest = frame.filter(pl.col("rank") > top)
    other = pl.DataFrame(
        {
            "variants": [rest.height],
            "applications": [int(rest["applications"].sum())],
            "share": [float(rest["share"].sum())],
            "completed": [int(rest["completed"].sum())],
        },
        schema={
            "variants": pl.Int64,
            "applications": pl.Int64,
            "share": pl.Float64,
            "completed": pl.Int64,
        },
    )
    return head, other


def chain(variant: str) -> list[str]:
    """The steps of a `variant` label, in order."""
    return variant.split(SEPARATOR) if variant else []
