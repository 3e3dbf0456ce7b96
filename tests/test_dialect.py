"""The engine-specific pieces (metrics/dialect.py) and the translation to Spark SQL, without
Spark: DuckDB computes them as documented, and the Spark text keeps microseconds, named
parameters and DuckDB's NULL order (tests/test_spark.py runs it on Spark)."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from metrics import dialect
from metrics.calendar import WorkCalendar
from metrics.facts import facts_sql, steps_sql, transitions_sql
from metrics.filters import Filters
from onewindow.config import Config

pytest.importorskip("sqlglot")


def test_the_pieces_on_duckdb() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    a = datetime(2025, 3, 1, 15, 59, 59, 999_999, tzinfo=UTC)
    b = datetime(2025, 3, 2, 16, 0, 0, 1, tzinfo=UTC)
    row = con.execute(
        f"""SELECT {dialect.seconds_between_sql("$a::TIMESTAMPTZ", "$b::TIMESTAMPTZ")},
            {dialect.day_sql("$a::TIMESTAMPTZ")}, {dialect.local_sql("$b::TIMESTAMPTZ")},
            {dialect.in_list_sql("'x'", "names")},
            (SELECT {dialect.arg_min_sql("v", "k")} FROM (VALUES (2, 'b'), (1, 'a')) t(k, v)),
            (SELECT {dialect.quantile_sql("k", 0.9)} FROM range(11) t(k))""",
        {"a": a, "b": b, "zone": "Asia/Shanghai", "names": ["y", "x"]},
    ).fetchall()[0]
    assert row[0] == 86400.000002  # exact to the microsecond
    assert str(row[1]) == "2025-03-01"  # 23:59:59.999999 in Shanghai
    assert str(row[2]) == "2025-03-03 00:00:00.000001"
    assert row[3] is True and row[4] == "a" and row[5] == 9.0


@pytest.mark.parametrize("build", [facts_sql, transitions_sql, steps_sql])
def test_spark_text_keeps_microseconds_parameters_and_null_order(build: object) -> None:
    cal = WorkCalendar.from_config(Config())
    text, params = build(cal, Filters(), None)  # type: ignore[operator]
    spark = dialect.to_spark(text)
    assert "EPOCH" not in spark.upper().replace("UNIX_MICROS", "")
    assert "UNIX_TIMESTAMP" not in spark.upper()
    assert ":zone" in spark and "$" not in spark
    assert "FROM_UTC_TIMESTAMP" in spark.upper()
    if "ORDER BY" in spark.upper():
        assert "NULLS LAST" in spark.upper()
    assert set(params) == {"zone"}
