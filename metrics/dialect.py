"""The engine-specific pieces of the metric SQL, in one place, and the one translation.

The per-application SQL (metrics/facts.py) is written once, in DuckDB's dialect, and runs on
DuckDB as written; for Spark SQL it is transpiled by `sqlglot` (pinned, extra
`onewindow[spark]`), see docs/architecture.md ("Decision: one SQL, two engines"). sqlglot maps
most of DuckDB to Spark faithfully (`AT TIME ZONE` → `from_utc_timestamp` under a UTC session,
`arg_min` → `min_by`, `::` casts, `FILTER (WHERE …)`, DuckDB's NULLS LAST default made
explicit, `$name` → `:name` parameters). The pieces below are the ones that differ between
the engines; the metric SQL writes them through these functions only, never by hand:

- instants to local time and local day: `local_sql`, `day_sql`;
- seconds between two instants, to the microsecond: `seconds_between_sql` (DuckDB's `epoch`
  becomes Spark's `unix_timestamp`, which drops the microseconds: we count `epoch_us`, which
  `to_spark` maps to `unix_micros`);
- list membership of a bound list: `in_list_sql`;
- the value at the earliest instant: `arg_min_sql`;
- interpolated quantiles: `quantile_sql` (DuckDB `quantile_cont`, Spark `percentile`).

Every value still reaches the engine as a named parameter: `$zone` here, `:zone` there.
"""

from __future__ import annotations

from typing import Literal

Engine = Literal["duckdb", "spark"]


def local_sql(column: str) -> str:
    """The local wall-clock time of an instant in the center's zone ($zone)."""
    return f"({column} AT TIME ZONE $zone)"


def day_sql(column: str) -> str:
    """The local day of an instant in the center's zone ($zone)."""
    return f"{local_sql(column)}::DATE"


def seconds_between_sql(start: str, end: str) -> str:
    """end − start in seconds, a DOUBLE exact to the microsecond on both engines."""
    return f"((epoch_us({end}) - epoch_us({start})) / 1e6)"


def in_list_sql(column: str, name: str) -> str:
    """column is one of the values of the bound list $name."""
    return f"{column} IN (SELECT unnest(${name}))"


def arg_min_sql(value: str, order: str) -> str:
    """The value at the smallest `order`."""
    return f"arg_min({value}, {order})"


def quantile_sql(value: str, fraction: float, engine: Engine = "duckdb") -> str:
    """Interpolated (continuous) quantile; `fraction` is a code constant."""
    if engine == "spark":
        return f"percentile({value}, {fraction!r})"
    return f"quantile_cont({value}, {fraction!r})"


def to_spark(sql: str) -> str:
    """The DuckDB SQL of metrics/facts.py as Spark SQL (run with spark.sql(text, args=...)
    under spark.sql.session.timeZone = UTC)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Anonymous) and str(node.this).upper() == "EPOCH_US":
            return exp.Anonymous(this="unix_micros", expressions=node.expressions)
        return node

    return tree.transform(fix).sql(dialect="spark")
