"""Maps a read file onto its canonical table: columns, constants, value maps, null markers,
types, stages; splits the rows into valid ones and quarantined ones with field and reason.

Values of personal columns never appear in a reason or in a quarantined row's raw values.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import polars as pl

from etl import parse
from etl.canonical import COLUMNS, DERIVED_FIELDS, Field, field_map
from etl.profile import Profile, TableSource
from etl.readers import ROW, Source

ERR_FIELD, ERR_REASON = "__err_field", "__err_reason"


@dataclass
class Mapped:
    frame: pl.DataFrame  # canonical columns, typed, and ROW
    quarantine: pl.DataFrame  # ROW, field, reason, raw
    applications: pl.DataFrame | None = None  # derived from a flat event log
    conflicts: pl.DataFrame | None = None  # application_id, field, kept, other


QUARANTINE_SCHEMA = {ROW: pl.Int64, "field": pl.String, "reason": pl.String, "raw": pl.String}


def pseudonymize(values: pl.Series, secret: bytes) -> pl.Series:
    """HMAC-SHA256 of each distinct value (trimmed, upper-cased: '11010...x' == '11010...X')."""
    unique = values.drop_nulls().unique()
    digests = {
        v: hmac.new(secret, v.strip().upper().encode(), hashlib.sha256).hexdigest()
        for v in unique.to_list()
    }
    return values.replace_strict(digests, default=None, return_dtype=pl.String)


def map_rows(
    source: Source, table: str, src: TableSource, profile: Profile, secret: bytes | None
) -> Mapped:
    fields = field_map(table)
    frame = source.frame
    text: dict[str, pl.Expr] = {}
    for fname, column in src.columns.items():
        expr = pl.col(column).str.strip_chars()
        markers = ["", *src.nulls.get(fname, [])]
        text[fname] = pl.when(~expr.is_in(markers)).then(expr)
    for fname, given in src.constants.items():
        constant = str(given).lower() if isinstance(given, bool) else str(given)
        text[fname] = pl.lit(constant, dtype=pl.String)
    for fname, mapping in src.values.items():
        if fname in text:
            text[fname] = text[fname].replace(mapping)
    frame = frame.with_columns(**{f"__t_{k}": v for k, v in text.items()})
    for fname in text:
        if fields[fname].kind == "timestamp":
            stamps, parsed = parse.parse_timestamp(frame[f"__t_{fname}"], profile.timezone)
            frame = frame.with_columns(stamps.alias(f"__v_{fname}"), parsed.alias(f"__ok_{fname}"))

    typed: list[pl.Expr] = []
    bad_fields: list[pl.Expr] = []
    reasons: list[pl.Expr] = []
    for fname in text:
        fdef = fields[fname]
        raw_text = pl.col(f"__t_{fname}")
        value, ok = _typed(fdef, raw_text)
        shown = src.columns.get(fname) not in src.hidden_columns()
        problem = _problem(fdef, raw_text, value, ok, shown, table)
        if fdef.required:
            problem = (
                pl.when(raw_text.is_null())
                .then(pl.lit("missing required field"))
                .otherwise(problem)
            )
        typed.append(value.alias(fname))
        bad_fields.append(pl.when(problem.is_not_null()).then(pl.lit(fname)))
        reasons.append(problem)
    for fname, fdef in fields.items():
        if fname not in text and not (
            fdef.required and table == "events" and fname == "matter_code"
        ):
            typed.append(pl.lit(None, dtype=_dtype(fdef)).alias(fname))
    frame = frame.with_columns(
        *typed,
        pl.coalesce(bad_fields).alias(ERR_FIELD) if bad_fields else pl.lit(None, pl.String),
        pl.coalesce(reasons).alias(ERR_REASON) if reasons else pl.lit(None, pl.String),
    )
    if "applicant_id" in text:
        if secret is None:
            raise ValueError("applicant_id is mapped but no pseudonymization secret is set")
        frame = frame.with_columns(
            pseudonymize(frame["applicant_id"], secret).alias("applicant_key")
        )
    quarantine = _quarantine(frame, src, source)
    good = frame.filter(pl.col(ERR_FIELD).is_null())
    if table == "events":
        return _events(good, quarantine, src, profile)
    if table == "applications" and "applicant_key" not in good.columns:
        good = good.with_columns(pl.lit(None, pl.String).alias("applicant_key"))
    return Mapped(good.select([*COLUMNS[table], ROW]), quarantine)


def _typed(fdef: Field, text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    if fdef.kind == "timestamp":  # parsed beforehand, once per column
        return pl.col(f"__v_{fdef.name}"), pl.col(f"__ok_{fdef.name}")
    if fdef.kind == "int":
        return parse.parse_int(text)
    if fdef.kind == "rating":
        return parse.parse_rating(text)
    if fdef.kind == "bool":
        return parse.parse_bool(text)
    if fdef.kind == "enum":
        return text, text.is_null() | text.is_in(list(fdef.choices))
    return text, pl.lit(True)


def _dtype(fdef: Field) -> pl.DataType:
    kinds: dict[str, pl.DataType] = {
        "timestamp": pl.Datetime("us", "UTC"),
        "int": pl.Int32(),
        "rating": pl.Int32(),
        "bool": pl.Boolean(),
    }
    return kinds.get(fdef.kind, pl.String())


def _problem(
    fdef: Field, text: pl.Expr, value: pl.Expr, ok: pl.Expr, shown: bool, table: str
) -> pl.Expr:
    quoted = pl.lit(" '") + text + pl.lit("'") if shown else pl.lit("")
    if fdef.kind == "enum":
        message = (
            pl.lit(f"unknown {fdef.name}")
            + quoted
            + pl.lit(
                f" (expected one of {', '.join(fdef.choices)}; map it under "
                f"[tables.{table}.values.{fdef.name}])"
            )
        )
    else:
        what = {
            "timestamp": "unparseable timestamp",
            "int": "not a whole number",
            "rating": "rating is not a whole number from 1 to 5",
            "bool": "not a yes/no value",
            "text": "invalid text",
        }[fdef.kind]
        message = pl.lit(what) + quoted
    return pl.when(~ok).then(message)


def _quarantine(frame: pl.DataFrame, src: TableSource, source: Source) -> pl.DataFrame:
    shown = [c for c in src.source_columns() if c not in src.hidden_columns()]
    bad = frame.filter(pl.col(ERR_FIELD).is_not_null())
    parsed = bad.select(
        pl.col(ROW),
        pl.col(ERR_FIELD).alias("field"),
        pl.col(ERR_REASON).alias("reason"),
        (pl.struct(shown).struct.json_encode() if shown else pl.lit("{}")).alias("raw"),
    )
    unsplit = pl.DataFrame(
        {
            ROW: [r.row for r in source.rejects],
            "field": [r.field for r in source.rejects],
            "reason": [r.reason for r in source.rejects],
            "raw": [None] * len(source.rejects),
        },
        schema=QUARANTINE_SCHEMA,
    )
    return pl.concat([parsed.cast(QUARANTINE_SCHEMA), unsplit]).sort(ROW)  # type: ignore[arg-type]


def _events(
    good: pl.DataFrame, quarantine: pl.DataFrame, src: TableSource, profile: Profile
) -> Mapped:
    good = good.with_columns(
        pl.col("timestamp").alias("ts"),
        pl.col("lifecycle").fill_null("complete"),
        pl.col("step")
        .replace_strict(profile.stages, default=None, return_dtype=pl.String)
        .alias("stage"),
        pl.col("step").is_in(profile.in_person_steps).alias("in_person"),
    )
    events_cols = [c for c in COLUMNS["events"] if c != "event_key"] + [ROW]
    if "matter_code" not in src.columns and "matter_code" not in src.constants:
        return Mapped(good.select(events_cols), quarantine)
    apps, conflicts, orphans = _derive_applications(good, profile)
    if orphans.height:
        lost = good.join(orphans, on="application_id", how="semi").select(
            pl.col(ROW),
            pl.lit("matter_code").alias("field"),
            pl.lit("no event of this application names its matter").alias("reason"),
            pl.lit(None, pl.String).alias("raw"),
        )
        quarantine = pl.concat([quarantine, lost]).sort(ROW)
        good = good.join(orphans, on="application_id", how="anti")
    return Mapped(good.select(events_cols), quarantine, apps, conflicts)


def _derive_applications(
    events: pl.DataFrame, profile: Profile
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Per application, the first non-null value of each application field, in event order."""
    names = list(DERIVED_FIELDS)
    if "applicant_key" not in events.columns:
        events = events.with_columns(pl.lit(None, pl.String).alias("applicant_key"))
    ordered = events.sort("application_id", "ts", ROW)
    agg = ordered.group_by("application_id", maintain_order=True).agg(
        pl.col(ROW).first(),
        *[pl.col(n).drop_nulls().first().alias(n) for n in names],
        *[pl.col(n).drop_nulls().n_unique().alias(f"__n_{n}") for n in names],
        *[
            pl.col(n)
            .drop_nulls()
            .unique(maintain_order=True)
            .slice(1, 1)
            .first()
            .cast(pl.String)
            .alias(f"__o_{n}")
            for n in names
        ],
    )
    conflicts = pl.concat(
        [
            agg.filter(pl.col(f"__n_{n}") > 1).select(
                "application_id",
                pl.lit(n).alias("field"),
                pl.col(n).cast(pl.String).alias("kept"),
                pl.col(f"__o_{n}").alias("other"),
            )
            for n in names
        ]
    )
    orphans = agg.filter(pl.col("matter_code").is_null()).select("application_id")
    apps = agg.filter(pl.col("matter_code").is_not_null()).select(
        "application_id",
        *names,
        pl.lit(None, pl.String).alias("window_id"),
        pl.lit(None, pl.String).alias("staff"),
        pl.lit(profile.complete_cases).alias("complete_case"),
        ROW,
    )
    return apps, conflicts, orphans
