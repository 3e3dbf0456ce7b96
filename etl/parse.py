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
# The shape nearly every export writes, zero-padded ISO 8601 (a fraction of at most 6 digits, Z or
# +hh:mm): read with one strict format, without the groups; any other text takes the general path.
# Each field is range-checked here as the general path checks it (no 24:00, no leap second, no
# offset beyond ±14:59), so the two paths give the same value for every text this one takes.
_CANONICAL = (
    r"^\d{4}-\d{2}-\d{2}[ T](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
    r"(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)?$"
)
_SERIAL = r"^\d{5}(?:\.\d+)?$"  # Excel day numbers 10000-99999: years 1927-2173
_TRUE = ["true", "t", "yes", "y", "1", "是", "有", "√", "1.0"]
_FALSE = ["false", "f", "no", "n", "0", "否", "无", "×", "0.0"]


def parse_timestamp(text: pl.Series, zone: str) -> tuple[pl.Series, pl.Series]:
    """UTC instants and an ok mask. Canonical ISO texts are read with one strict format; the
    others go through the general regular expression, evaluated once per value."""
    if _repeats(text):
        # A case attribute of a flat event log (a deadline, a start) repeats on every event of
        # its case: each distinct text is read once.
        distinct = text.unique()
        values, _ = parse_timestamp(distinct, zone)
        read = pl.DataFrame({"t": distinct, "v": values})
        out = (
            pl.DataFrame({"t": text})
            .join(read, on="t", how="left", nulls_equal=True, maintain_order="left")
            .get_column("v")
        )
        return out, text.is_null() | out.is_not_null()
    canonical = text.str.contains(_CANONICAL).fill_null(False)
    out = _canonical(text, zone)
    others = (~canonical).arg_true()
    if others.len():
        out = out.scatter(others, _general(text.gather(others), zone))
    return out, text.is_null() | out.is_not_null()


def _repeats(text: pl.Series, sample: int = 1024) -> bool:
    """Whether a long column's first values repeat much (a quarter or fewer are distinct)."""
    return text.len() > 4 * sample and text.head(sample).n_unique() <= sample // 4


def _canonical(text: pl.Series, zone: str) -> pl.Series:
    """The instants of canonical texts (the others' are replaced by the caller; a date that
    does not exist, such as 2025-02-30, is null)."""
    lengths = text.str.len_bytes()
    if lengths.min() == lengths.max() == 19:
        # The usual column: every text 'YYYY-MM-DD hh:mm:ss', local time, no fraction.
        naive = text.str.replace("T", " ", literal=True, n=1).str.to_datetime(
            "%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"
        )
        return naive.dt.replace_time_zone(
            zone, ambiguous="earliest", non_existent="null"
        ).dt.convert_time_zone("UTC")
    zulu = text.str.ends_with("Z")
    sign = text.str.slice(-6, 1)
    offset = sign.is_in(["+", "-"]) & (text.str.slice(-3, 1) == ":")
    body = (
        pl.DataFrame({"t": text, "z": zulu, "o": offset})
        .select(
            pl.when(pl.col("z"))
            .then(pl.col("t").str.head(-1))
            .when(pl.col("o"))
            .then(pl.col("t").str.head(-6))
            .otherwise(pl.col("t"))
            .str.replace("T", " ", literal=True, n=1)
        )
        .to_series()
    )
    # The fraction apart: a format with %.f reads four times slower.
    micros = (body.str.slice(20) + "000000").str.slice(0, 6).cast(pl.Int64, strict=False)
    naive = body.str.slice(0, 19).str.to_datetime(
        "%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"
    ) + micros.fill_null(0).cast(pl.Duration("us"))
    given = zulu | offset  # the text says its offset; the others are the zone's local time
    if not given.any():
        return naive.dt.replace_time_zone(
            zone, ambiguous="earliest", non_existent="null"
        ).dt.convert_time_zone("UTC")
    minutes = (
        text.str.slice(-5, 2).cast(pl.Int64, strict=False) * 60
        + text.str.slice(-2, 2).cast(pl.Int64, strict=False)
    ).fill_null(0)
    minutes = pl.select(
        pl.when(offset & (sign == "-")).then(-minutes).when(offset).then(minutes).otherwise(0)
    ).to_series()
    utc = (naive - minutes.cast(pl.Duration("us")) * 60_000_000).dt.replace_time_zone("UTC")
    if given.all():
        return utc
    local = naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    return pl.select(
        pl.when(given).then(utc).otherwise(local.dt.convert_time_zone("UTC"))
    ).to_series()


def _general(text: pl.Series, zone: str) -> pl.Series:
    """Any notation the module's docstring lists (null where none fits)."""
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
    return out


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
