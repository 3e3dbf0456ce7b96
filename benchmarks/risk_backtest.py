"""Temporal backtest of the early-warning model against the yellow-card rule.

    .venv/bin/python -m benchmarks.risk_backtest --db DB [--config FILE] [--split YYYY-MM-DD]

Trains the model (metrics/risk.py) on the applications completed before the split (their
outcome was known then), then replays every working day from the split on: each application
open that day (one snapshot at a time of the day drawn as in training) gets a probability
from features known at that moment, and each is scored at its completion (late or not). An
application is *warned* at its first snapshot before its deadline with p_late at or over the
threshold; the yellow-card rule warns at its first snapshot before the deadline with at most
`supervision.yellow_workdays` working days left. Lead time = working days left at the first
warning. Applications still open at the end of the data are not scored (their outcome is not
known).

The model's threshold is chosen on the training period only: the same backtest inside it
(split again at 60 % of its snapshot days, on the applications completed before the outer
split) gives the lowest threshold whose precision there is at least the rule's there, and it
is applied to the test. For reference only, the thresholds read off the test itself: the same
number of warned applications as the rule, and the lowest one with the rule's precision.
Default split: the day that leaves the last 40 % of snapshot days after it.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from metrics import risk
from metrics.calendar import WorkCalendar
from onewindow.config import load_config
from warehouse import Warehouse


def scores(warned: pl.DataFrame, late: pl.DataFrame) -> dict[str, float]:
    """Precision, recall and median lead time of a set of warned applications
    (application_id, lead) against the outcomes (application_id, late)."""
    joined = warned.join(late, on="application_id")
    hits = int(joined["late"].sum()) if joined.height else 0
    all_late = int(late["late"].sum())
    lead = joined.filter(pl.col("late"))["lead"]
    return {
        "warned": float(warned.height),
        "precision": hits / warned.height if warned.height else float("nan"),
        "recall": hits / all_late if all_late else float("nan"),
        "median_lead": float(lead.median()) if lead.len() else float("nan"),  # type: ignore[arg-type]
    }


def first_warnings(frame: pl.DataFrame, warn: pl.Expr) -> pl.DataFrame:
    """Each application's first snapshot before its deadline where `warn` holds."""
    return (
        frame.filter(warn & (pl.col("left_workdays") >= 0))
        .sort("cut_ts")
        .group_by("application_id")
        .agg(pl.col("left_workdays").first().alias("lead"))
    )


def lowest_threshold_at_precision(
    frame: pl.DataFrame, outcome: pl.DataFrame, precision: float
) -> tuple[float, dict[str, float]] | None:
    """The lowest threshold of the model's probabilities (`p_late` in `frame`) whose warnings
    have at least `precision`, with its scores; None when none has."""
    peak = (
        frame.filter(pl.col("left_workdays") >= 0)
        .group_by("application_id")
        .agg(pl.col("p_late").max())["p_late"]
    )
    if peak.len() == 0:
        return None
    candidates = np.unique(np.quantile(peak.to_numpy(), np.linspace(0, 1, 801)))
    for threshold in candidates:  # ascending: the lowest that qualifies
        candidate = scores(first_warnings(frame, pl.col("p_late") >= threshold), outcome)
        if candidate["precision"] >= precision:
            return float(threshold), candidate
    return None


def predicted(frame: pl.DataFrame, train: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `p_late` from a classifier trained on `train`."""
    vocab, similar = risk._vocab(train), risk._similar(train)
    classifier, _ = risk._fit(train, vocab, similar)
    with threadpool_limits(limits=1):
        p = classifier.predict_proba(risk._matrix(frame, vocab, similar))[:, 1]
    return frame.with_columns(pl.Series("p_late", p))


def outcomes(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("application_id").agg(pl.col("late").first())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--split", type=date.fromisoformat, default=None)
    args = parser.parse_args()
    config = load_config(args.config)
    cal = WorkCalendar.from_config(config)
    yellow = config.supervision.yellow_workdays
    started = time.perf_counter()
    zone = ZoneInfo(cal.zone)
    with Warehouse(args.db).read() as con:
        cal.register(con)
        every = risk.training_frame(con, cal)
        days = every["cut_day"].unique().sort()
        split_day = args.split or days[int(days.len() * 0.6)]
        split = datetime.combine(split_day, clock(), zone)
        train = risk.training_frame(con, cal, completed_before=split)
        # The threshold is chosen on the training period alone: the same split again inside
        # it (its own last 40 % of snapshot days), on the applications whose outcome was known
        # at the split.
        train_days = train["cut_day"].unique().sort()
        inner_day = train_days[int(train_days.len() * 0.6)]
        inner = datetime.combine(inner_day, clock(), zone)
        inner_train = risk.training_frame(con, cal, completed_before=inner)
    test = predicted(every.filter(pl.col("cut_ts") >= split.astimezone(UTC)), train)
    outcome = outcomes(test)
    inner_test = predicted(train.filter(pl.col("cut_ts") >= inner.astimezone(UTC)), inner_train)
    inner_outcome = outcomes(inner_test)
    inner_rule = scores(
        first_warnings(inner_test, pl.col("left_workdays") <= yellow), inner_outcome
    )
    chosen = lowest_threshold_at_precision(inner_test, inner_outcome, inner_rule["precision"])
    print(f"warehouse: {args.db}, split: {split_day}, calendar: {cal.zone}")
    print(
        f"training snapshots: {train.height:,} of {train['application_id'].n_unique():,} "
        f"applications completed before the split; test: {test.height:,} snapshots of "
        f"{outcome.height:,} applications open from the split on, "
        f"{int(outcome['late'].sum()):,} of them late"
    )
    print(
        f"threshold chosen inside the training period (split {inner_day}): "
        f"{inner_outcome.height:,} applications, {int(inner_outcome['late'].sum()):,} late; "
        f"the rule's precision there {inner_rule['precision']:.3f}, "
        + (
            f"the lowest threshold reaching it {chosen[0]:.3f} (precision "
            f"{chosen[1]['precision']:.3f}, {int(chosen[1]['warned'])} warned)"
            if chosen
            else "no threshold reaches it"
        )
    )
    # What any warning could reach: late applications open before their deadline at some
    # snapshot (the others were late before the split's first look at them), and the working
    # days left at that first look.
    ceiling = first_warnings(test, pl.lit(True)).join(outcome.filter("late"), on="application_id")
    most = float(ceiling["lead"].median()) if ceiling.height else float("nan")  # type: ignore[arg-type]
    print(
        f"late applications with a snapshot before their deadline: {ceiling.height:,} of "
        f"{int(outcome['late'].sum()):,}; median working days left at their first snapshot: "
        f"{most:.2f}"
    )
    late = test["late"].cast(pl.Int8).to_numpy()
    p = test["p_late"].to_numpy()
    if 0 < late.sum() < len(late):
        print(f"snapshot AUC: {roc_auc_score(late, p):.3f}")
    rule = scores(first_warnings(test, pl.col("left_workdays") <= yellow), outcome)
    # The model's candidate thresholds: each application's highest probability before its
    # deadline; warning the k most likely applications is one threshold.
    peak = (
        test.filter(pl.col("left_workdays") >= 0)
        .group_by("application_id")
        .agg(pl.col("p_late").max())["p_late"]
        .sort(descending=True)
    )
    k = min(int(rule["warned"]), peak.len()) - 1
    same_count_threshold = float(peak[k]) if k >= 0 else 1.0
    same_count = scores(first_warnings(test, pl.col("p_late") >= same_count_threshold), outcome)
    rows = [("yellow-card rule", f"≤ {yellow:g} day left", rule)]
    if chosen is not None:
        at = chosen[0]
        rows.append(
            (
                "model, threshold from the training period",
                f"{at:.3f}",
                scores(first_warnings(test, pl.col("p_late") >= at), outcome),
            )
        )
    rows.append(
        ("model, same number of warnings (test)", f"{same_count_threshold:.3f}", same_count)
    )
    equal = lowest_threshold_at_precision(test, outcome, rule["precision"])
    if equal is not None:
        rows.append(("model, precision ≥ rule's (test)", f"{equal[0]:.3f}", equal[1]))
    rows.append(
        ("model at 0.5", "0.500", scores(first_warnings(test, pl.col("p_late") >= 0.5), outcome))
    )
    print()
    print("| warning | threshold | warned | precision | recall | median lead (working days) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, threshold_text, s in rows:
        print(
            f"| {label} | {threshold_text} | {int(s['warned']):,} | {s['precision']:.3f} | "
            f"{s['recall']:.3f} | {s['median_lead']:.2f} |"
        )
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
