"""Maps a read file onto its canonical table: columns, constants, value maps, null markers,
types, stages; splits the rows into valid ones and quarantined ones with field and reason.

Values of personal columns never appear in a reason or in a quarantined row's raw values.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from etl import parse
from etl.canonical import COLUMNS, DERIVED_FIELDS, KEYS, RECORD_LABEL, Field, field_map
from etl.profile import Profile, TableSource
from etl.readers import ROW, K, Reject, Source, Stream
from onewindow.config import Plausibility

ERR_FIELD, ERR_REASON = "__err_field", "__err_reason"
# Events: the occurrence of a row among identical rows of its file, from the second on (else
# null), and whether the file holds complete step lists; etl/stage.py builds the key from them.
OCCURRENCE, COMPLETE_LIST_COLUMN = "__key_occurrence", "__complete_list"
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
    frame: pl.DataFrame  # canonical columns, typed, and ROW
    quarantine: pl.DataFrame  # ROW, field, reason, raw
    applications: pl.DataFrame | None = None  # derived from a flat event log
    conflicts: pl.DataFrame | None = None  # application_id, field, kept, other
    repeated: int = 0  # rows that repeated an earlier row of the file (same key)


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
    source: Source | Stream,
    table: str,
    src: TableSource,
    profile: Profile,
    secret: bytes | None,
    rules: Plausibility | None = None,
) -> Mapped:
    """Types, checks and maps the file a batch at a time (each row on its own); then what
    takes the whole file (repeated keys, conflicts, applications) on the typed rows."""
    stream = source if isinstance(source, Stream) else Stream.whole(source)
    if "applicant_id" in src.columns and secret is None:
        raise ValueError("applicant_id is mapped but no pseudonymization secret is set")
    try:
        checked = [_map_batch(b, table, src, profile, secret, rules) for b in stream]
    finally:
        stream.close()
    good = pl.concat([g for g, _ in checked])
    bad = pl.concat([q for _, q in checked])
    # Rows a person finds in the file, known once the whole file was read.
    good = good.with_columns(stream.rows.gather(good[K]).alias(ROW)).drop(K)
    bad = bad.with_columns(stream.rows.gather(bad[K]).alias(ROW)).drop(K)
    quarantine = _quarantine(bad, stream.rejects)
    if table == "events":
        return _events(good, quarantine, src, profile)
    if table == "applications" and "applicant_key" not in good.columns:
        good = good.with_columns(pl.lit(None, pl.String).alias("applicant_key"))
    good = good.select([*COLUMNS[table], ROW])
    key = list(KEYS[table])
    repeated = int(good.select((pl.col(ROW).rank("ordinal").over(key) > 1).sum()).item())
    conflicts = _repeat_conflicts(good, key, RECORD_LABEL[table])
    return Mapped(good, quarantine, conflicts=conflicts, repeated=repeated)


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
    visible = [c for c in src.source_columns() if c not in src.hidden_columns()]
    bad = frame.filter(pl.col(ERR_FIELD).is_not_null()).select(
        pl.col(K),
        pl.col(ERR_FIELD).alias("field"),
        pl.col(ERR_REASON).alias("reason"),
        (pl.struct(visible).struct.json_encode() if visible else pl.lit("{}")).alias("raw"),
    )
    keep = [c for c in (*fields, "applicant_key") if c in frame.columns]
    return frame.filter(pl.col(ERR_FIELD).is_null()).select(*keep, K), bad


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


def _repeat_conflicts(frame: pl.DataFrame, key: list[str], label: str) -> pl.DataFrame:
    """Rows of one file with the same key and other values: per field, the value kept (the
    last row's, as a run keeps the last) and another one. Personal values are not shown."""
    values = [c for c in frame.columns if c not in (*key, ROW, OCCURRENCE, COMPLETE_LIST_COLUMN)]
    repeats = frame.filter(pl.len().over(key) > 1).sort(ROW)
    schema = {
        "application_id": pl.String,
        "field": pl.String,
        "kept": pl.String,
        "other": pl.String,
    }
    if not repeats.height or not values:
        return pl.DataFrame(schema=schema)
    missing = "\u0000"  # null is a value too: a later blank replaces an earlier value

    def text(c: str) -> pl.Expr:
        value = pl.col(c)
        if isinstance(frame.schema[c], pl.Datetime):
            value = value.dt.strftime("%Y-%m-%d %H:%M:%S%:z")
        return value.cast(pl.String).fill_null(missing)

    agg = repeats.group_by(key, maintain_order=True).agg(
        pl.col(label).last().cast(pl.String).alias("__label"),
        *[text(c).last().alias(f"__k_{c}") for c in values],
        *[text(c).filter(text(c) != text(c).last()).first().alias(f"__o_{c}") for c in values],
    )
    frames = [
        agg.filter(pl.col(f"__o_{c}").is_not_null()).select(
            pl.col("__label").alias("application_id"),
            pl.lit(c).alias("field"),
            *[
                (
                    pl.lit(None, pl.String)
                    if c == "applicant_key"
                    else pl.when(pl.col(f"__{k}_{c}") != missing).then(pl.col(f"__{k}_{c}"))
                ).alias(name)
                for k, name in (("k", "kept"), ("o", "other"))
            ],
        )
        for c in values
    ]
    return pl.concat(frames).cast(schema)  # type: ignore[arg-type]


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


def _quarantine(bad: pl.DataFrame, rejects: list[Reject]) -> pl.DataFrame:
    unsplit = pl.DataFrame(
        {
            ROW: [r.row for r in rejects],
            "field": [r.field for r in rejects],
            "reason": [r.reason for r in rejects],
            "raw": [None] * len(rejects),
        },
        schema=QUARANTINE_SCHEMA,
    )
    parsed = bad.select(ROW, "field", "reason", "raw").cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
    return pl.concat([parsed, unsplit]).sort(ROW)


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
    apps = conflicts = None
    if "matter_code" in src.columns or "matter_code" in src.constants:
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
    good, repeated, repeats = _occurrences(good, src)
    if repeats.height:
        conflicts = repeats if conflicts is None else pl.concat([conflicts, repeats])
    cols = [c for c in COLUMNS["events"] if c != "event_key"]
    frame = good.select([*cols, ROW, OCCURRENCE, COMPLETE_LIST_COLUMN])
    return Mapped(frame, quarantine, apps, conflicts, repeated)


_CONTENT = ["application_id", "step", "lifecycle", "ts"]  # an event's key without event_id


def _occurrences(good: pl.DataFrame, src: TableSource) -> tuple[pl.DataFrame, int, pl.DataFrame]:
    """Each row's occurrence among the rows of its file with the same identity: its event_id
    (with its application) when it has one, else its application, step, lifecycle and instant.
    Identical rows without event_id stay distinct events unless the table says `identical_rows
    = "merge"`; rows of one event_id are one event (the last wins, other values are
    conflicts). Returns the rows, how many repeated an earlier one, and the conflicts."""
    identified = good["event_id"].is_not_null()
    by_id = _ordinal(good, ["application_id", "event_id"], identified)
    # Identical content counts every row, with event_id or not (only rows without one use it).
    by_content = _ordinal(good, _CONTENT, pl.repeat(True, good.height, eager=True))
    has_id = pl.col("event_id").is_not_null()
    good = good.with_columns(
        pl.when(has_id).then(by_id).otherwise(by_content).cast(pl.Int64).alias("__occurrence")
    )
    repeated = int(good.select((pl.col("__occurrence") > 1).sum()).item())
    distinct = src.identical_rows == "keep"
    good = good.with_columns(
        pl.when(~has_id & (pl.col("__occurrence") > 1) & distinct)
        .then(pl.col("__occurrence"))
        .alias(OCCURRENCE),
        pl.lit(src.complete_step_lists).alias(COMPLETE_LIST_COLUMN),
    )
    values = [c for c in COLUMNS["events"] if c not in ("event_key", "stage", "in_person")]
    with_id = good.filter(has_id).select([*values, ROW])
    conflicts = [_repeat_conflicts(with_id, ["application_id", "event_id"], "application_id")]
    if not distinct:
        merged = good.filter(~has_id).select([*values, ROW])
        conflicts.append(_repeat_conflicts(merged, _CONTENT, "application_id"))
    return good.drop("__occurrence"), repeated, pl.concat(conflicts)


def _ordinal(frame: pl.DataFrame, keys: list[str], among: pl.Series) -> pl.Series:
    """For the rows `among`, each row's rank by ROW among those rows with the same `keys`
    (1 for a row whose keys no other row has); 1 for the others. The window runs over only
    the rows whose keys repeat: over every row of a million-event file it would hold about
    400 MB."""
    ones = pl.repeat(1, frame.height, dtype=pl.Int64, eager=True)
    taking = among.arg_true()
    if not taking.len():
        return ones
    part = frame.select(*keys, ROW)
    if taking.len() < frame.height:
        part = part[taking]
    repeats = part.select(pl.struct(keys).is_duplicated()).to_series()
    if not repeats.any():
        return ones
    where = repeats.arg_true()
    ranks = part[where].select(pl.col(ROW).rank("ordinal").over(keys).cast(pl.Int64))
    return ones.scatter(taking.gather(where), ranks.to_series())


def _derive_applications(
    events: pl.DataFrame, profile: Profile
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Per application, the first non-null value of each application field, in event order."""
    names = list(DERIVED_FIELDS)
    if "applicant_key" not in events.columns:
        events = events.with_columns(pl.lit(None, pl.String).alias("applicant_key"))
    ordered = events.select("application_id", "ts", ROW, *names).sort("application_id", "ts", ROW)
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
