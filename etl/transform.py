"""Maps a read file onto its canonical table: columns, constants, value maps, null markers,
types, stages; splits the rows into valid ones and quarantined ones with field and reason.

Values of personal columns never appear in a reason or in a quarantined row's raw values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from etl import parse
from etl.canonical import COLUMNS, DERIVED_FIELDS, Field, field_map
from etl.pii import KeyedHash
from etl.profile import Profile, TableSource
from etl.readers import ROW, K, Reject, Source, Stream
from onewindow.config import Plausibility

ERR_FIELD, ERR_REASON = "__err_field", "__err_reason"
# Events: the occurrence of a row among identical rows of its file, from the second on (else
# null); etl/stage.py builds the key with it (etl/filewise.py counts occurrences).
OCCURRENCE = "__key_occurrence"
# Instants that say when something happened: checked against config [plausibility]. Not
# deadline_at (a deadline lies ahead) and not the application fields of a flat event log
# (applications are flagged in data quality, metrics/health.py, not held back).
_HAPPENED = {
    "events": ("timestamp", "started_at"),
    "evaluations": ("rated_at", "rectified_at"),
    "tickets": ("issued_at", "called_at", "service_start", "service_end"),
}


@dataclass
class Mapped:
    """What is known of a file once its batches were mapped and handed on: its quarantined
    rows (ROW, field, reason, raw) and, for each record K, the row a person finds it on."""

    quarantine: pl.DataFrame
    rows: pl.Series


QUARANTINE_SCHEMA = {ROW: pl.Int64, "field": pl.String, "reason": pl.String, "raw": pl.String}


def pseudonymize(values: pl.Series, secret: bytes) -> pl.Series:
    """HMAC-SHA256 of each distinct value (trimmed, upper-cased: '11010...x' == '11010...X')."""
    unique = values.drop_nulls().unique()
    keyed = KeyedHash(secret)
    digests = {v: keyed.hex(v.strip().upper().encode()) for v in unique.to_list()}
    return values.replace_strict(digests, default=None, return_dtype=pl.String)


def flat_log(table: str, src: TableSource) -> bool:
    """An event log that names each event's matter: it also gives its applications."""
    return table == "events" and ("matter_code" in src.columns or "matter_code" in src.constants)


def staged_columns(table: str, src: TableSource) -> list[str]:
    """The typed columns a batch hands on (K aside): the table's stored columns (events: no
    key yet, and the application fields of a flat event log). Never applicant_id itself."""
    if table != "events":
        return list(COLUMNS[table])
    own = [c for c in COLUMNS["events"] if c != "event_key"]
    return own + (list(DERIVED_FIELDS) if flat_log(table, src) else [])


def map_rows(
    source: Source | Stream,
    table: str,
    src: TableSource,
    profile: Profile,
    secret: bytes | None,
    rules: Plausibility | None,
    sink: Callable[[pl.DataFrame], None],
    bad_sink: Callable[[pl.DataFrame], None],
) -> Mapped:
    """Types, checks and maps the file a batch at a time (each row on its own) and hands each
    batch's valid rows (staged_columns and K) to `sink` at once, and its quarantined rows (K,
    field, reason, raw) to `bad_sink`: no more than a batch is held, of either. What takes the
    whole file (row numbers, repeated keys, occurrences, conflicts, derived applications) is
    done on the staged rows (etl/filewise.py). Returns the rows the reader could not split,
    and for each record K the row a person finds it on, known once the whole file was read."""
    stream = source if isinstance(source, Stream) else Stream.whole(source)
    wanted = staged_columns(table, src)
    try:  # the stream is closed whatever happens: its reader may be a thread
        if "applicant_id" in src.columns and secret is None:
            raise ValueError("applicant_id is mapped but no pseudonymization secret is set")
        for batch in stream:
            good, quarantined = _map_batch(batch, table, src, profile, secret, rules)
            if table == "events":
                good = _event_columns(good, profile)
            elif "applicant_key" in wanted and "applicant_key" not in good.columns:
                good = good.with_columns(pl.lit(None, pl.String).alias("applicant_key"))
            sink(good.select(*wanted, K))
            if quarantined.height:
                bad_sink(quarantined)
    finally:
        stream.close()
    return Mapped(_unsplit(stream.rejects), stream.rows)


def _event_columns(good: pl.DataFrame, profile: Profile) -> pl.DataFrame:
    """An event's own columns that follow from its row: its instant, lifecycle, stage and
    whether it is done in person."""
    if "applicant_key" not in good.columns:
        good = good.with_columns(pl.lit(None, pl.String).alias("applicant_key"))
    return good.with_columns(
        pl.col("timestamp").alias("ts"),
        pl.col("lifecycle").fill_null("complete"),
        pl.col("step")
        .replace_strict(profile.stages, default=None, return_dtype=pl.String)
        .alias("stage"),
        pl.col("step").is_in(profile.in_person_steps).alias("in_person"),
    )


def _map_batch(
    frame: pl.DataFrame,
    table: str,
    src: TableSource,
    profile: Profile,
    secret: bytes | None,
    rules: Plausibility | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One batch of records (source text and K): the typed rows that pass every check, and
    the others (K, field, reason, raw)."""
    fields = field_map(table)
    # The source texts a quarantined row shows, kept apart: a source column named as a field
    # (`trips`) is replaced by the typed value below.
    visible = [c for c in src.source_columns() if c not in src.hidden_columns()]
    frame = frame.with_columns(pl.col(c).alias(f"__s_{c}") for c in visible)
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
    for fname, implausible in _implausible(table, text, rules or Plausibility(), profile):
        first = pl.col(ERR_FIELD).is_null() & implausible.is_not_null()
        frame = frame.with_columns(
            pl.when(first).then(pl.lit(fname)).otherwise(pl.col(ERR_FIELD)).alias(ERR_FIELD),
            pl.when(first).then(implausible).otherwise(pl.col(ERR_REASON)).alias(ERR_REASON),
        )
    if "applicant_id" in text and secret is not None:
        frame = frame.with_columns(
            pseudonymize(frame["applicant_id"], secret).alias("applicant_key")
        )
    raw = [_shown_raw(f"__s_{c}").alias(c) for c in visible]
    bad = frame.filter(pl.col(ERR_FIELD).is_not_null()).select(
        pl.col(K),
        pl.col(ERR_FIELD).alias("field"),
        pl.col(ERR_REASON).alias("reason"),
        (pl.struct(raw).struct.json_encode() if raw else pl.lit("{}")).alias("raw"),
    )
    keep = [c for c in (*fields, "applicant_key") if c in frame.columns]
    return frame.filter(pl.col(ERR_FIELD).is_null()).select(*keep, K), bad


RAW_CHARS = 1000  # of a value, in a quarantined row's raw values


def _shown_raw(column: str) -> pl.Expr:
    """A source value as a quarantined row keeps it: whole, or its first RAW_CHARS characters
    and how many more there were (a 1 MB cell shows what it is without being kept)."""
    value = pl.col(column)
    longer = value.str.len_chars() > RAW_CHARS
    cut = value.str.slice(0, RAW_CHARS) + pl.lit(" … (") + value.str.len_chars().cast(pl.String)
    return pl.when(longer).then(cut + pl.lit(" characters)")).otherwise(value)


def _implausible(
    table: str, mapped: dict[str, pl.Expr], rules: Plausibility, profile: Profile
) -> list[tuple[str, pl.Expr]]:
    """(field, reason or null) for times that cannot be true (config [plausibility])."""
    zone = ZoneInfo(profile.timezone)
    earliest = datetime.combine(rules.earliest, time(), tzinfo=zone).astimezone(UTC)
    latest = datetime.now(UTC) + timedelta(hours=rules.future_tolerance_hours)

    def shown(name: str) -> pl.Expr:
        return pl.col(name).dt.convert_time_zone(profile.timezone).dt.strftime("%Y-%m-%d %H:%M")

    checks: list[tuple[str, pl.Expr]] = []
    if table == "events" and "started_at" in mapped:
        checks.append(
            (
                "started_at",
                pl.when(pl.col("started_at") > pl.col("timestamp")).then(
                    pl.lit("step ends before it starts (started_at ")
                    + shown("started_at")
                    + pl.lit(", timestamp ")
                    + shown("timestamp")
                    + pl.lit(")")
                ),
            )
        )
    for name in _HAPPENED.get(table, ()):
        if name not in mapped:
            continue
        before = (
            pl.lit(f"{name} ")
            + shown(name)
            + pl.lit(f" is before {rules.earliest} (plausibility.earliest)")
        )
        future = (
            pl.lit(f"{name} ")
            + shown(name)
            + pl.lit(
                f" is in the future (more than {rules.future_tolerance_hours:g} h after the load; "
                "plausibility.future_tolerance_hours)"
            )
        )
        checks.append(
            (
                name,
                pl.when(pl.col(name) < pl.lit(earliest))
                .then(before)
                .when(pl.col(name) > pl.lit(latest))
                .then(future),
            )
        )
    return checks


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


def _unsplit(rejects: list[Reject]) -> pl.DataFrame:
    """The reader's rejects as quarantined rows (ROW, field, reason, no raw values)."""
    return pl.DataFrame(
        {
            ROW: [r.row for r in rejects],
            "field": [r.field for r in rejects],
            "reason": [r.reason for r in rejects],
            "raw": [None] * len(rejects),
        },
        schema=QUARANTINE_SCHEMA,
    )
