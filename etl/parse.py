"""Text to typed values, vectorized with Polars. Each parser returns (values, ok) where `ok`
is false only for a non-null input that could not be parsed.

Timestamps: ISO 8601 with or without offset ('T' or space, optional fraction, Z/+08:00/+0800),
`YYYY/MM/DD HH:MM[:SS]`, `YYYY年M月D日 HH:MM`, date only, and Excel serial day numbers. A time
without an offset is local time in the profile's zone. Results are UTC instants.
"""

from __future__ import annotations

import polars as pl

_STAMP = (
    r"^(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(?:[.,](\d{1,9}))?秒?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_SERIAL = r"^\d{4,6}(?:\.\d+)?$"  # Excel day numbers: 1900-01-01 is day 1
_TRUE = ["true", "t", "yes", "y", "1", "是", "有", "√", "1.0"]
_FALSE = ["false", "f", "no", "n", "0", "否", "无", "×", "0.0"]


def parse_timestamp(text: pl.Expr, zone: str) -> tuple[pl.Expr, pl.Expr]:
    parts = text.str.extract_groups(_STAMP)
    g = [parts.struct.field(str(i)) for i in range(1, 9)]
    # Rebuild a zero-padded canonical text, so one strict format rejects 2025-02-30 or 24:00.
    canonical = pl.concat_str(
        g[0],
        pl.lit("-"),
        g[1].str.zfill(2),
        pl.lit("-"),
        g[2].str.zfill(2),
        pl.lit(" "),
        g[3].fill_null("0").str.zfill(2),
        pl.lit(":"),
        g[4].fill_null("0").str.zfill(2),
        pl.lit(":"),
        g[5].fill_null("0").str.zfill(2),
        pl.lit("."),
        (g[6].fill_null("") + "000000").str.slice(0, 6),
    )
    naive = canonical.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us")
    offset = g[7]
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    digits = offset.str.replace_all(r"[^0-9]", "")
    offset_min = sign * (
        digits.str.slice(0, 2).cast(pl.Int64, strict=False) * 60
        + digits.str.slice(2, 2).cast(pl.Int64, strict=False)
    )
    with_offset = (naive - pl.duration(minutes=offset_min.fill_null(0))).dt.replace_time_zone("UTC")
    local = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    stamped = (
        pl.when(offset.is_not_null()).then(with_offset).otherwise(local.dt.convert_time_zone("UTC"))
    )
    serial_days = pl.when(text.str.contains(_SERIAL)).then(text.cast(pl.Float64, strict=False))
    serial = (
        pl.datetime(1899, 12, 30)
        + pl.duration(microseconds=(serial_days * 86_400_000_000).round(0).cast(pl.Int64))
    ).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    value = pl.coalesce(stamped, serial.dt.convert_time_zone("UTC"))
    return value, text.is_null() | value.is_not_null()


def parse_int(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    as_float = text.cast(pl.Float64, strict=False)
    whole = pl.when(as_float == as_float.floor()).then(as_float).cast(pl.Int64, strict=False)
    return whole.cast(pl.Int32, strict=False), text.is_null() | whole.is_not_null()


def parse_rating(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    value, ok = parse_int(text)
    in_range = value.is_between(1, 5)
    return pl.when(in_range).then(value), text.is_null() | (ok & in_range.fill_null(False))


def parse_bool(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    low = text.str.to_lowercase()
    value = pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
    return value, text.is_null() | value.is_not_null()
