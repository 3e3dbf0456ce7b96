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

The model is compared with the rule (a) at the same number of warned applications and (b) at
the lowest threshold whose precision is at least the rule's. Default split: the day that
leaves the last 40 % of snapshot days after it.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, datetime
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
    with Warehouse(args.db).read() as con:
        cal.register(con)
        every = risk.training_frame(con, cal)
        days = every["cut_day"].unique().sort()
        split_day = args.split or days[int(days.len() * 0.6)]
        split = datetime.combine(split_day, clock(), ZoneInfo(cal.zone))
        train = risk.training_frame(con, cal, completed_before=split)
    test = every.filter(pl.col("cut_ts") >= split.astimezone(ZoneInfo("UTC")))
    vocab = risk._vocab(train)
    classifier, _ = risk._fit(train, vocab)
    with threadpool_limits(limits=1):
        p = classifier.predict_proba(risk._matrix(test, vocab))[:, 1]
    test = test.with_columns(pl.Series("p_late", p))
    outcome = test.group_by("application_id").agg(pl.col("late").first())
    print(f"warehouse: {args.db}, split: {split_day}, calendar: {cal.zone}")
    print(
        f"training snapshots: {train.height:,} of {train['application_id'].n_unique():,} "
        f"applications completed before the split; test: {test.height:,} snapshots of "
        f"{outcome.height:,} applications open from the split on, "
        f"{int(outcome['late'].sum()):,} of them late"
    )
    late = test["late"].cast(pl.Int8).to_numpy()
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
    equal = None
    candidates = np.unique(np.quantile(peak.to_numpy(), np.linspace(0, 1, 801)))
    for threshold in candidates:  # ascending: the lowest that qualifies
        candidate = scores(first_warnings(test, pl.col("p_late") >= threshold), outcome)
        if candidate["precision"] >= rule["precision"]:
            equal = (float(threshold), candidate)
            break
    print()
    print("| warning | threshold | warned | precision | recall | median lead (working days) |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [
        ("yellow-card rule", f"≤ {yellow:g} day left", rule),
        ("model, same number of warnings", f"{same_count_threshold:.3f}", same_count),
    ]
    if equal is not None:
        rows.append(("model, precision ≥ rule's", f"{equal[0]:.3f}", equal[1]))
    rows.append(
        (
            "model at 0.5",
            "0.500",
            scores(first_warnings(test, pl.col("p_late") >= 0.5), outcome),
        )
    )
    for label, threshold_text, s in rows:
        print(
            f"| {label} | {threshold_text} | {int(s['warned']):,} | {s['precision']:.3f} | "
            f"{s['recall']:.3f} | {s['median_lead']:.2f} |"
        )
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
