"""The KPI registry: one definition of each figure.

Each KPI names its cohort, its aggregate over that cohort (DuckDB SQL over the cohort's rows,
see metrics/kpis.py), the per-application measure the reform analysis resamples (when it has
one), how its value reads (kind), its wording in Chinese and English, which direction is better
and its default target. Everything else is derived from here: `kpis()` and its order, the
reform analysis' MEASURES, ui/fmt's kind of a value, metrics/wording's phrases,
DEFAULT_TARGETS of the config, and the KPI table of docs/metrics.md (`python -m
metrics.registry` rewrites it; tests/test_docs.py fails when it is out of date).

Pure data: nothing here touches a database, so the config can import it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Better = Literal["higher", "lower", "none"]
Cohort = Literal["submitted", "accepted", "completed", "open", "rated", "issued"]
# How a value reads: a share, a count, working days, calendar hours, minutes, or a mean
# count (trips, materials) shown with decimals.
Kind = Literal["rate", "count", "workdays", "hours", "minutes", "decimal"]
Stat = Literal["mean", "median"]

# Rows each cohort's aggregates run over (metrics/kpis.py builds them), for the docs.
COHORTS: dict[Cohort, str] = {
    "submitted": "applications submitted in the period (submitted time, else first event)",
    "accepted": "applications accepted in the period",
    "completed": "applications completed in the period",
    "open": "applications accepted before and not completed by the period's end",
    "rated": "ratings given in the period",
    "issued": "queue tickets issued in the period",
}


@dataclass(frozen=True)
class Measure:
    """A KPI's value per application, for the reform analysis: SQL over the facts (NULL
    outside the KPI's cohort) and the statistic over applications. `stream` numbers the
    bootstrap's random stream (and the reform report's row order), fixed so that adding a
    KPI changes no interval."""

    value: str
    stat: Stat
    stream: int


@dataclass(frozen=True)
class Wording:
    """How a sentence names the KPI ("median processing time fell by 2.1 working days"), and
    the unit of its changes; rates read in percentage points."""

    en: str
    zh: str
    unit_en: str = " percentage points"
    unit_zh: str = " 个百分点"
    decimals: int = 1


@dataclass(frozen=True)
class Kpi:
    name: str
    zh: str  # label, as cards, tables and the docs name it
    en: str
    cohort: Cohort
    aggregate: str  # SQL over the cohort's rows, one value per group
    kind: Kind
    formula: str  # in words, for docs/metrics.md
    better: Better = "higher"
    target: float | None = None  # default of [targets]
    measure: Measure | None = None
    wording: Wording | None = None


_DAYS = Wording("", "", " working days", " 个工作日")


def _wd(en: str, zh: str, decimals: int) -> Wording:
    return Wording(en, zh, _DAYS.unit_en, _DAYS.unit_zh, decimals)


REGISTRY: tuple[Kpi, ...] = (
    # ----- submitted ---------------------------------------------------------------------
    Kpi("submitted", "申请件数", "Submitted", "submitted", "count(*)", "count", "count", "none"),
    Kpi(
        "online_rate",
        "网上办理率",
        "Online rate",
        "submitted",
        "avg((channel IN ('online', 'mobile'))::INT)",
        "rate",
        "channel online or mobile ÷ submitted",
        target=0.90,
        measure=Measure("(channel IN ('online', 'mobile'))::DOUBLE", "mean", 3),
        wording=Wording("the online rate", "网上办理率"),
    ),
    Kpi(
        "fully_online_rate",
        "全程网办率",
        "Fully-online rate",
        "submitted",
        "avg(fully_online::INT)",
        "rate",
        "fully online ÷ submitted with known trips",
        measure=Measure("fully_online::DOUBLE", "mean", 4),
        wording=Wording("the fully-online rate", "全程网办率"),
    ),
    Kpi(
        "trips_mean",
        "平均跑动次数",
        "Mean trips",
        "submitted",
        "avg(trips)",
        "decimal",
        "mean trips (known ones)",
        "lower",
        measure=Measure("trips::DOUBLE", "mean", 5),
        wording=Wording("mean trips", "平均跑动次数", " trips", " 次", 2),
    ),
    Kpi(
        "at_most_once_rate",
        "最多跑一次实现率",
        "At-most-once rate",
        "submitted",
        "avg((trips <= 1)::INT)",
        "rate",
        "trips ≤ 1 ÷ known trips",
        target=0.95,
        measure=Measure("(trips <= 1)::DOUBLE", "mean", 6),
        wording=Wording("the at-most-once rate", "最多跑一次实现率"),
    ),
    Kpi(
        "zero_trip_rate",
        "零跑动率",
        "Zero-trip rate",
        "submitted",
        "avg((trips = 0)::INT)",
        "rate",
        "trips = 0 ÷ known trips",
        measure=Measure("(trips = 0)::DOUBLE", "mean", 7),
        wording=Wording("the zero-trip rate", "零跑动率"),
    ),
    Kpi(
        "materials_mean",
        "平均提交材料数",
        "Mean materials",
        "submitted",
        "avg(materials_submitted)",
        "decimal",
        "mean materials submitted",
        "lower",
        measure=Measure("materials_submitted::DOUBLE", "mean", 8),
        wording=Wording("mean materials submitted", "平均提交材料数", "", " 份", 1),
    ),
    # ----- accepted ----------------------------------------------------------------------
    Kpi("accepted", "受理件数", "Accepted", "accepted", "count(*)", "count", "count", "none"),
    Kpi(
        "completion_rate",
        "办结率",
        "Completion rate",
        "accepted",
        "avg(CASE WHEN completed_at < $as_of THEN 1 ELSE 0 END)",
        "rate",
        "completed before the period's end ÷ accepted",
    ),
    # ----- completed ---------------------------------------------------------------------
    Kpi("completed", "办结件数", "Completed", "completed", "count(*)", "count", "count", "none"),
    Kpi(
        "processing_workdays_mean",
        "平均办理时长（工作日）",
        "Mean processing working days",
        "completed",
        "avg(processing_workdays)",
        "workdays",
        "mean processing working days",
        "lower",
        measure=Measure("processing_workdays::DOUBLE", "mean", 1),
        wording=_wd("mean processing time", "平均办理时长", 2),
    ),
    Kpi(
        "processing_workdays_median",
        "办理时长中位数（工作日）",
        "Median processing working days",
        "completed",
        "median(processing_workdays)",
        "workdays",
        "median (interpolated) of processing working days",
        "lower",
        measure=Measure("processing_workdays::DOUBLE", "median", 0),
        wording=_wd("median processing time", "办理时长中位数", 1),
    ),
    Kpi(
        "processing_workdays_p90",
        "办理时长P90（工作日）",
        "P90 processing working days",
        "completed",
        "quantile_cont(processing_workdays, 0.9)",
        "workdays",
        "90th percentile (interpolated) of processing working days",
        "lower",
    ),
    Kpi(
        "processing_hours_mean",
        "平均办理时长（小时）",
        "Mean processing hours",
        "completed",
        "avg(epoch(completed_at) - epoch(accepted_at)) / 3600",
        "hours",
        "mean calendar hours from accepted to completed",
        "lower",
    ),
    Kpi(
        "on_time_rate",
        "按时办结率",
        "On-time rate",
        "completed",
        "avg(on_time::INT)",
        "rate",
        "on time ÷ completed with a deadline or promised limit",
        target=0.99,
        measure=Measure("on_time::DOUBLE", "mean", 2),
        wording=Wording("the on-time rate", "按时办结率"),
    ),
    Kpi(
        "overdue",
        "超期件数",
        "Overdue",
        "completed",
        "count(*) FILTER (WHERE NOT on_time)",
        "count",
        "completed late",
        "lower",
    ),
    Kpi(
        "speedup_statutory",
        "法定提速率",
        "Speed-up vs statutory limit",
        "completed",
        """(sum(statutory_limit_days) FILTER (WHERE statutory_limit_days IS NOT NULL)
            - sum(processing_workdays) FILTER (WHERE statutory_limit_days IS NOT NULL))
            / nullif(sum(statutory_limit_days), 0)""",
        "rate",
        "(Σ statutory days − Σ processing working days) ÷ Σ statutory days, over completed "
        "with a statutory limit",
    ),
    Kpi(
        "speedup_promised",
        "承诺提速率",
        "Speed-up vs promised limit",
        "completed",
        """(sum(promised_limit_days) FILTER (WHERE promised_limit_days IS NOT NULL)
            - sum(processing_workdays) FILTER (WHERE promised_limit_days IS NOT NULL))
            / nullif(sum(promised_limit_days), 0)""",
        "rate",
        "the same against promised limits",
    ),
    Kpi(
        "instant_share",
        "即办件占比",
        "Instant share",
        "completed",
        "avg(instant::INT)",
        "rate",
        "completed on the day of acceptance ÷ completed",
    ),
    Kpi(
        "rating_coverage",
        "评价覆盖率",
        "Rating coverage",
        "completed",
        "avg((application_id IN (SELECT application_id FROM evaluations))::INT)",
        "rate",
        "completed with a rating ÷ completed",
    ),
    # ----- open --------------------------------------------------------------------------
    Kpi(
        "open",
        "在办件数",
        "Open",
        "open",
        "count(*)",
        "count",
        "accepted before and not completed by the period's end",
        "none",
    ),
    Kpi(
        "open_yellow_cards",
        "黄牌（在办）",
        "Open yellow cards",
        "open",
        "count(*) FILTER (WHERE card = 'yellow')",
        "count",
        "open, deadline not passed, at most `supervision.yellow_workdays` working days left",
        "lower",
    ),
    Kpi(
        "open_red_cards",
        "红牌（在办）",
        "Open red cards",
        "open",
        "count(*) FILTER (WHERE card = 'red')",
        "count",
        "open past the deadline",
        "lower",
    ),
    # ----- rated -------------------------------------------------------------------------
    Kpi("ratings", "评价数", "Ratings", "rated", "count(*)", "count", "count", "none"),
    Kpi(
        "good_review_rate",
        "好评率",
        "Good-review rate",
        "rated",
        "avg((rating >= $good_from)::INT)",
        "rate",
        "ratings ≥ `satisfaction.good_from` ÷ ratings",
        target=0.99,
        measure=Measure("good", "mean", 9),
        wording=Wording("the good-review rate", "好评率"),
    ),
    Kpi(
        "bad_reviews",
        "差评数",
        "Bad reviews",
        "rated",
        "count(*) FILTER (WHERE rating <= 2)",
        "count",
        "ratings of 1 or 2",
        "lower",
    ),
    Kpi(
        "rectification_rate",
        "差评整改率",
        "Rectification rate",
        "rated",
        """avg(CASE WHEN rating <= 2 THEN (rectified_at IS NOT NULL
            AND rectify_work_s <= $rectify_s)::INT END)""",
        "rate",
        "bad reviews rectified within `satisfaction.rectify_within_workdays` working days "
        "(working time from rating to rectification) ÷ bad reviews",
    ),
    # ----- issued ------------------------------------------------------------------------
    Kpi("tickets", "取号数", "Queue tickets", "issued", "count(*)", "count", "count", "none"),
    Kpi(
        "wait_mean_min",
        "平均等候时长（分钟）",
        "Mean wait (min)",
        "issued",
        "avg(wait_min)",
        "minutes",
        "mean of called − issued, minutes",
        "lower",
    ),
    Kpi(
        "wait_p90_min",
        "等候时长P90（分钟）",
        "P90 wait (min)",
        "issued",
        "quantile_cont(wait_min, 0.9)",
        "minutes",
        "90th percentile (interpolated) of called − issued, minutes",
        "lower",
    ),
    Kpi(
        "wait_within_target_rate",
        "等候达标率",
        "Waits within target",
        "issued",
        "avg((wait_min <= $wait_target_min)::INT)",
        "rate",
        "waits ≤ `queue.wait_target_min` ÷ called tickets",
        target=0.90,
    ),
    Kpi(
        "no_show_rate",
        "过号率",
        "No-show rate",
        "issued",
        "avg((outcome = 'no_show')::INT)",
        "rate",
        "no-shows ÷ tickets",
        "lower",
    ),
    Kpi(
        "service_mean_min",
        "平均办理时长（窗口，分钟）",
        "Mean service time (min)",
        "issued",
        "avg(epoch(service_end) - epoch(service_start)) / 60",
        "minutes",
        "mean service end − start, minutes",
        "lower",
    ),
)

KPIS: dict[str, Kpi] = {k.name: k for k in REGISTRY}
DEFAULT_TARGETS: dict[str, float] = {k.name: k.target for k in REGISTRY if k.target is not None}
MEASURED: tuple[Kpi, ...] = tuple(
    sorted((k for k in REGISTRY if k.measure), key=lambda k: k.measure.stream if k.measure else 0)
)


# ----- the docs table ------------------------------------------------------------------------

BEGIN = "<!-- kpi table: generated by `python -m metrics.registry`; do not edit -->"
END = "<!-- end of kpi table -->"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def _percent(value: float) -> str:
    return f"{value * 100:g} %"


def docs_table() -> str:
    """The KPI table of docs/metrics.md, one row per KPI, in report order."""
    lines = [
        "| kpi | Chinese | English | cohort | reads as | better | default target | formula |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k in REGISTRY:
        target = "" if k.target is None else _percent(k.target)
        better = {"higher": "higher", "lower": "lower", "none": "—"}[k.better]
        lines.append(
            f"| `{k.name}` | {k.zh} | {k.en} | {k.cohort} | {k.kind} | {better} | {target} "
            f"| {k.formula} |"
        )
    return "\n".join(lines)


def docs_block() -> str:
    return f"{BEGIN}\n{docs_table()}\n{END}"


def stored_block(text: str) -> str | None:
    match = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), text, re.S)
    return match.group(0) if match else None


def write_docs(path: Path = DOCS) -> bool:
    """Rewrites the table in docs/metrics.md; True when it changed."""
    text = path.read_text(encoding="utf-8")
    old = stored_block(text)
    if old is None:
        raise ValueError(f"{path}: no generated KPI table ({BEGIN})")
    new = text.replace(old, docs_block())
    path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    changed = write_docs()
    print(f"{DOCS}: {'rewritten' if changed else 'up to date'}", file=sys.stderr)
