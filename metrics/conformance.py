"""Conformance to the reference procedure (程序违规): which applications left their matter's
procedure, and how (docs/metrics.md, `conformance`).

A matter's reference is its `[[procedures]]` entry in the config: required steps in order,
optional steps, steps that may repeat, the ending step and the steps that may follow it. A
matter without one is checked against the stage order of the events: accept, then (correction,
suspension, resumption, any number of times), then complete; only stages the warehouse's
events use at all are required, and events without a stage are not judged.

Deviations of one application, given its steps in order (metrics/sequences.py):
- `missing_required`: a required step that never occurs. An application still open (or
  withdrawn, which ends early by design) is only missing a step a later required step has
  already passed;
- `out_of_order`: a required step whose first occurrence comes after that of a required step
  the procedure puts later;
- `unexpected_step`: a step the procedure does not name, or a second occurrence of a step
  that may not repeat;
- `after_completion`: an event after the first occurrence of the ending step, other than the
  steps allowed to follow it.

Deviations depend only on the procedure, the step sequence and whether the application is
finished, so they are computed once per distinct combination and joined back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.sequences import sequences_sql
from onewindow.config import Config, Procedure
from warehouse import sql

KINDS = ("missing_required", "out_of_order", "unexpected_step", "after_completion")
DIMENSIONS = ("none", "matter", "department", "window", "staff", "month")
_DIM_COLUMN = {
    "matter": "matter_code",
    "department": "department",
    "window": "window_id",
    "staff": "staff",
    "month": "month",
}
STAGE_ORDER = ("accept", "complete")
STAGE_OPTIONAL = ("correction", "suspend", "resume")


@dataclass(frozen=True)
class Reference:
    """A reference procedure over tokens: step names, or stages for the stage order."""

    required: tuple[str, ...]
    optional: frozenset[str] = frozenset()
    repeatable: frozenset[str] = frozenset()
    end: str | None = None
    after_end: frozenset[str] = frozenset()
    by_stage: bool = False

    @classmethod
    def of(cls, procedure: Procedure) -> Reference:
        return cls(
            tuple(procedure.required),
            frozenset(procedure.optional),
            frozenset(procedure.repeatable),
            procedure.end_step,
            frozenset(procedure.after_end),
        )

    @classmethod
    def stages(cls, used: Sequence[str]) -> Reference:
        """The stage order, requiring only the stages `used` by the events at all."""
        required = tuple(s for s in STAGE_ORDER if s in used)
        optional = frozenset(STAGE_OPTIONAL)
        end = "complete" if "complete" in used else None
        return cls(required, optional, optional, end, by_stage=True)


@dataclass(frozen=True)
class Deviation:
    kind: str
    step: str
    detail: str


def deviations(
    steps: Sequence[str], stages: Sequence[str], ref: Reference, finished: bool
) -> list[Deviation]:
    """The deviations of one application from `ref`, in the order of its events. `finished`:
    completed, and not withdrawn."""
    events = [
        (stage if ref.by_stage else step, step)
        for step, stage in zip(steps, stages, strict=True)
        if not ref.by_stage or stage
    ]
    known = set(ref.required) | ref.optional | ({ref.end} if ref.end else set())
    rank = {token: i for i, token in enumerate(ref.required)}
    found: list[Deviation] = []
    seen: dict[str, int] = {}
    ended = False
    latest: tuple[int, str] | None = None  # highest-ranked required step so far, and its name
    for token, step in events:
        seen[token] = seen.get(token, 0) + 1
        if ended:
            if token not in ref.after_end:
                found.append(Deviation("after_completion", step, f"{step} after the end"))
            continue
        if token not in known:
            found.append(Deviation("unexpected_step", step, f"{step} is not in the procedure"))
        elif seen[token] > 1 and token not in ref.repeatable:
            found.append(Deviation("unexpected_step", step, f"{step} repeated"))
        elif token in rank and seen[token] == 1:
            if latest is not None and rank[token] < latest[0]:
                found.append(Deviation("out_of_order", step, f"{step} after {latest[1]}"))
            elif latest is None or rank[token] > latest[0]:
                latest = (rank[token], step)
        if token == ref.end:
            ended = True
    reached = max((rank[t] for t in seen if t in rank), default=-1)
    for token in ref.required:
        if token not in seen and (finished or rank[token] < reached):
            found.append(Deviation("missing_required", token, f"{token} missing"))
    return found


def per_application(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, config: Config
) -> pl.DataFrame:
    """Every application the filters keep (the period by its day of acceptance) with its
    deviations: `procedure` ('config' or 'stages'), `deviations` (how many), one 0/1 column
    per kind, `detail`."""
    query, params = sequences_sql(con, cal, filters, "accepted_day")
    frame = sql.frame(
        con,
        f"""SELECT application_id, matter_code, department, window_id, staff, channel,
            accepted_at, strftime(accepted_day, '%Y-%m') AS month,
            completed AND coalesce(result, '') <> 'withdrawn' AS finished, steps, stages
        FROM ({query}) ORDER BY application_id""",
        params,
    )
    procedures = {m: Reference.of(p) for p in config.procedures for m in p.matters}
    used = [r[0] for r in con.execute("SELECT DISTINCT stage FROM events").fetchall()]
    default = Reference.stages([s for s in used if s])
    frame = frame.with_columns(_combo())
    combos = frame.unique("combo", keep="first", maintain_order=True)
    found: dict[str, list[object]] = {
        "combo": [],
        "procedure": [],
        "deviations": [],
        "detail": [],
        **{kind: [] for kind in KINDS},
    }
    for combo, matter, steps, stages, finished in combos.select(
        "combo", "matter_code", "steps", "stages", "finished"
    ).iter_rows():
        ref = procedures.get(matter, default)
        devs = deviations(steps, stages, ref, bool(finished))
        found["combo"].append(combo)
        found["procedure"].append("stages" if ref.by_stage else "config")
        found["deviations"].append(len(devs))
        found["detail"].append("; ".join(f"{d.kind}: {d.detail}" for d in devs))
        for kind in KINDS:
            found[kind].append(int(any(d.kind == kind for d in devs)))
    judged = pl.DataFrame(
        found,
        schema={
            "combo": pl.String,
            "procedure": pl.String,
            "deviations": pl.Int64,
            "detail": pl.String,
            **{kind: pl.Int64 for kind in KINDS},
        },
    )
    return frame.join(judged, on="combo", how="left").drop("steps", "stages", "combo")


def _combo() -> pl.Expr:
    """What deviations depend on, as one string: matter, steps, stages, finished."""
    return pl.concat_str(
        pl.col("matter_code").fill_null(""),
        pl.col("steps").list.join("\x1f"),
        pl.col("stages").list.join("\x1f"),
        pl.col("finished").fill_null(False).cast(pl.String),
        separator="\x1e",
    ).alias("combo")


def conformance(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    filters: Filters,
    config: Config,
    by: str = "none",
) -> pl.DataFrame:
    """With `by` = none, the deviating applications, latest accepted first. Otherwise per
    matter, department, window, staff or month of acceptance: `applications`, `deviating`,
    `deviation_share` and, per kind, the applications with it; highest share first."""
    apps = per_application(con, cal, filters, config)
    if by == "none":
        return (
            apps.filter(pl.col("deviations") > 0)
            .sort(["accepted_at", "application_id"], descending=[True, False])
            .select(
                "application_id",
                "matter_code",
                "department",
                "window_id",
                "staff",
                "accepted_at",
                "procedure",
                "deviations",
                *KINDS,
                "detail",
            )
        )
    column = _DIM_COLUMN[by]
    return (
        apps.group_by(pl.col(column).alias(by))
        .agg(
            pl.len().alias("applications"),
            (pl.col("deviations") > 0).sum().alias("deviating"),
            *[pl.col(kind).sum() for kind in KINDS],
        )
        .with_columns((pl.col("deviating") / pl.col("applications")).alias("deviation_share"))
        .select(by, "applications", "deviating", "deviation_share", *KINDS)
        .sort(
            ["deviation_share", "deviating", by],
            descending=[True, True, False],
            nulls_last=True,
        )
    )
