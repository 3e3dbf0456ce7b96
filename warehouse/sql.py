"""The one way values reach SQL: named parameters, bound by DuckDB, never formatted into text.

A query is built from fragments, each returned with the named parameters it uses (`$name`);
`merge` joins the parameters of the fragments of one query, `bound` keeps those its text uses
(DuckDB refuses a parameter the text does not name). Names are fixed by the code that writes
the fragment (`Filters` names its values `f_matters`, `f_start`, …), so two fragments that
bind the same name must bind the same value: `merge` refuses anything else.

File paths are values too: `ATTACH $path` and `read_csv($path, …)` bind them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import duckdb
import polars as pl

Params = dict[str, object]

_NAME = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class ParameterClash(ValueError):
    """Two fragments of one query bind the same name to different values."""


def merge(*parts: Mapping[str, object]) -> Params:
    """The parameters of several fragments of one query."""
    out: Params = {}
    for part in parts:
        for name, value in part.items():
            if name in out and out[name] != value:
                raise ParameterClash(f"parameter ${name} is bound to two different values")
            out[name] = value
    return out


def names(sql: str) -> set[str]:
    """The parameter names a query's text uses."""
    return set(_NAME.findall(sql))


def bound(sql: str, params: Mapping[str, object]) -> Params:
    """The parameters `sql` names, each with its value; a name without a value is an error."""
    wanted = names(sql)
    missing = sorted(wanted - params.keys())
    if missing:
        raise KeyError(f"no value bound for ${missing[0]}")
    return {name: params[name] for name in sorted(wanted)}


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object]) -> pl.DataFrame:
    """Runs a query with its parameters and returns the result as a Polars frame."""
    result: pl.DataFrame = con.sql(sql, params=bound(sql, params)).pl()
    return result


def execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object] | None = None
) -> duckdb.DuckDBPyConnection:
    """Executes a statement with its parameters."""
    return con.execute(sql, bound(sql, params or {}))
