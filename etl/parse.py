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
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
_SERIAL = r"^\d{5}(?:\.\d+)?$"  # Excel day numbers 10000-99999: years 1927-2173
_TRUE = ["true", "t", "yes", "y", "1", "是", "有", "√", "1.0"]
_FALSE = ["false", "f", "no", "n", "0", "否", "无", "×", "0.0"]


def parse_timestamp(text: pl.Series, zone: str) -> tuple[pl.Series, pl.Series]:
    """UTC instants and an ok mask; the regular expression is evaluated once per value."""
    frame = pl.DataFrame({"t": text}).with_columns(
        pl.col("t").str.extract_groups(_STAMP).alias("g")
    )
    frame = frame.unnest("g").rename({str(i): f"g{i}" for i in range(1, 9)})
    # Rebuild a zero-padded canonical text, so one strict format rejects 2025-02-30 or 24:00.
    frame = (
        frame.with_columns(
            pl.concat_str(
                pl.col("g1"),
                pl.lit("-"),
                pl.col("g2").str.zfill(2),
                pl.lit("-"),
                pl.col("g3").str.zfill(2),
                pl.lit(" "),
                pl.col("g4").fill_null("0").str.zfill(2),
                pl.lit(":"),
                pl.col("g5").fill_null("0").str.zfill(2),
                pl.lit(":"),
                pl.col("g6").fill_null("0").str.zfill(2),
                pl.lit("."),
                (pl.col("g7").fill_null("") + "000000").str.slice(0, 6),
            )
            .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us")
            .alias("parsed"),
            pl.col("g8").str.replace_all(r"[^0-9]", "").alias("digits"),
        )
        .with_columns(
            pl.col("digits")
            .str.slice(0, 2)
            .cast(pl.Int64, strict=False)
            .fill_null(0)
            .alias("off_h"),
            pl.col("digits")
            .str.slice(2, 2)
            .cast(pl.Int64, strict=False)
            .fill_null(0)
            .alias("off_m"),
        )
        .with_columns(
            # A leap second (:60) would roll over, an offset beyond ±14:00 is no real zone.
            pl.when(
                (pl.col("g6").cast(pl.Int64, strict=False).fill_null(0) < 60)
                & (pl.col("off_h") <= 14)
                & (pl.col("off_m") < 60)
            )
            .then(pl.col("parsed"))
            .alias("naive"),
            (
                pl.when(pl.col("g8").str.starts_with("-")).then(-1).otherwise(1)
                * (pl.col("off_h") * 60 + pl.col("off_m"))
            ).alias("offset_min"),
            pl.when(pl.col("t").str.contains(_SERIAL))
            .then(pl.col("t").cast(pl.Float64, strict=False))
            .alias("serial"),
        )
    )
    with_offset = (
        pl.col("naive") - pl.duration(minutes=pl.col("offset_min").fill_null(0))
    ).dt.replace_time_zone("UTC")
    local = pl.col("naive").dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    serial = (
        pl.datetime(1899, 12, 30)
        + pl.duration(microseconds=(pl.col("serial") * 86_400_000_000).round(0).cast(pl.Int64))
    ).dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    out = frame.select(
        pl.coalesce(
            pl.when(pl.col("g8").is_not_null())
            .then(with_offset)
            .otherwise(local.dt.convert_time_zone("UTC")),
            serial.dt.convert_time_zone("UTC"),
        ).alias("value")
    )["value"]
    return out, text.is_null() | out.is_not_null()


def parse_int(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    as_float = text.cast(pl.Float64, strict=False)
    whole = pl.when(as_float == as_float.floor()).then(as_float).cast(pl.Int64, strict=False)
    value = whole.cast(pl.Int32, strict=False)  # out of range becomes null, and is an error
    return value, text.is_null() | value.is_not_null()


def parse_rating(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    value, ok = parse_int(text)
    in_range = value.is_between(1, 5)
    return pl.when(in_range).then(value), text.is_null() | (ok & in_range.fill_null(False))


def parse_bool(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    low = text.str.to_lowercase()
    value = pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
    return value, text.is_null() | value.is_not_null()
