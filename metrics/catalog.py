"""The matter catalog and the choices a filter offers: matter names in both languages where the
catalog has them, departments, channels, and the span of the data."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl


def matters(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per matter (its latest catalog row): code, names, department, limits, type.
    Matters that applications name but the catalog lacks appear with their code as name."""
    frame: pl.DataFrame = con.sql(
        """WITH latest AS (
            SELECT matter_code, name_zh, name_en, department, statutory_limit_days,
                promised_limit_days, matter_type
            FROM matters
            QUALIFY row_number() OVER (PARTITION BY matter_code
                                       ORDER BY run_id DESC, source_row DESC) = 1)
        SELECT * FROM latest
        UNION ALL
        SELECT DISTINCT a.matter_code, a.matter_code, NULL, NULL, NULL, NULL, NULL
        FROM applications a WHERE a.matter_code NOT IN (SELECT matter_code FROM latest)
        ORDER BY matter_code"""
    ).pl()
    return frame


def channels(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Channels that occur, most used first."""
    rows = con.execute(
        """SELECT channel FROM applications WHERE channel IS NOT NULL
        GROUP BY channel ORDER BY count(*) DESC, channel"""
    ).fetchall()
    return [str(r[0]) for r in rows]


def data_days(con: duckdb.DuckDBPyConnection, zone: str) -> tuple[date, date] | None:
    """The first and last local day with an event or a submission; None when there is none."""
    row = con.execute(
        # The local day of the first instant is the first local day: one conversion, not
        # one per event (10M of them take seconds).
        """SELECT (min(t) AT TIME ZONE $zone)::DATE, (max(t) AT TIME ZONE $zone)::DATE
        FROM (SELECT min(ts) AS t FROM events UNION ALL SELECT max(ts) FROM events
              UNION ALL SELECT min(submitted_at) FROM applications
              UNION ALL SELECT max(submitted_at) FROM applications)""",
        {"zone": zone},
    ).fetchall()[0]
    if row[0] is None:
        return None
    return row[0], row[1]
