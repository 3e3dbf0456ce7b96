"""Temporal backtest of the early-warning model against the yellow-card rule.

    .venv/bin/python -m benchmarks.risk_backtest --db DB [--config FILE]
        [--folds K] [--test-share S] [--split YYYY-MM-DD] [--bootstrap N]

**Origins.** The test period is the last `--test-share` (default 0.4) of the snapshot days
(working days on which some completed application was open), cut into `--folds` (default 1)
windows of as many snapshot days each; each window's first day is an *origin* (local
midnight). With one fold this is the single split: train before the origin, test from it to
the data's end (`--split` names its day instead). With K folds it is a rolling-origin,
expanding-window backtest: fold i trains on everything completed before its own origin.

**Which application is scored where.** Every completed application with a snapshot at or
after the first origin is scored in exactly one fold: the one whose window holds its first
such snapshot. That fold's model predicts at every snapshot of it from the fold's origin to
its completion, also past the next origin (an application first seen in window i is never
handed to fold i+1's model, so it cannot count twice). Applications still open at the data's
end are not scored (their outcome is not known); applications completed before the first
origin are only ever training.

**Each fold**, as a forecaster standing at its origin could have done it: the model
(metrics/risk.py) is trained on the applications completed before the origin (their outcome
was known then), and every test snapshot gets a probability from features known at its
moment. The threshold is chosen from the same training applications only: the same backtest
inside them (split at 60 % of their snapshot days, a model trained on those completed before
that inner split, scored on the training snapshots after it) gives the lowest threshold whose
precision there is at least the rule's there; when none reaches it (or the inner period holds
nothing to learn from) the report's own threshold, 0.5, is used and the fold says so.

**Scores.** An application is *warned* at its first test snapshot before its deadline with
p_late at or over its fold's threshold; the yellow-card rule warns at its first test snapshot
before the deadline with at most `supervision.yellow_workdays` working days left. Lead time =
working days left at the first warning, median over the warned applications that completed
late. Pooled figures are over the union of the folds' applications (disjoint by the above):
precision = late among warned ÷ warned, recall = late warned ÷ late. For reference only, rows
marked *(test)* read a threshold off the test itself (pooled: one threshold over all folds'
probabilities): the same number of warned applications as the rule, and the lowest one with
the rule's precision. `--bootstrap N` resamples the pooled applications N times to show how
far the comparison with the rule could move by chance (a percentile interval).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from metrics import risk
from metrics.calendar import WorkCalendar
from onewindow.config import load_config
from warehouse import Warehouse

INNER_SHARE = 0.6  # the inner split (threshold choice) at this share of the training days


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
    return frame.with_columns(pl.Series("p_late", p, dtype=pl.Float64))


def outcomes(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("application_id").agg(pl.col("late").first())


# ----- folds --------------------------------------------------------------------------------


def origin_days(days: pl.Series, folds: int, test_share: float) -> list[date]:
    """The origins of `folds` test windows over the last `test_share` of the sorted snapshot
    `days`, each window as many days as the others (to one day): the first origin is the day
    at index int(n × (1 − test_share)), the one the single split has always used."""
    n = days.len()
    first = int(n * (1 - test_share))
    if folds < 1 or not 0 < test_share < 1 or n - first < folds or first < 1:
        raise ValueError(
            f"{folds} folds over the last {test_share:.0%} of {n} snapshot days: "
            "each fold needs at least one day, and training at least one before"
        )
    return [days[first + (n - first) * i // folds] for i in range(folds)]


def fold_of(every: pl.DataFrame, origins: list[datetime]) -> pl.DataFrame:
    """(application_id, fold): each application with a snapshot at or after the first origin,
    in the fold (0-based) whose window [origin_i, origin_i+1) holds its first such snapshot."""
    start = origins[0].astimezone(UTC)
    return (
        every.filter(pl.col("cut_ts") >= start)
        .group_by("application_id")
        .agg(pl.col("cut_ts").min().alias("first_ts"))
        .select(
            "application_id",
            (
                pl.sum_horizontal([pl.col("first_ts") >= o.astimezone(UTC) for o in origins]) - 1
            ).alias("fold"),
        )
        .sort("application_id")
    )


@dataclass
class Fold:
    """One origin: its training snapshots (applications completed before it) and its test
    snapshots (those of the applications it scores, from the origin on)."""

    number: int  # 1-based
    origin: datetime
    end: datetime | None  # the next origin (None: the data's end)
    train: pl.DataFrame
    test: pl.DataFrame


def plan(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, every: pl.DataFrame, origins: list[datetime]
) -> list[Fold]:
    """The folds of a rolling-origin backtest over `every` (risk.training_frame of every
    completed application) at the ascending `origins`."""
    assigned = fold_of(every, origins)
    out = []
    for i, origin in enumerate(origins):
        ids = assigned.filter(pl.col("fold") == i).select("application_id")
        test = every.join(ids, on="application_id").filter(
            pl.col("cut_ts") >= origin.astimezone(UTC)
        )
        train = risk.training_frame(con, cal, completed_before=origin)
        end = origins[i + 1] if i + 1 < len(origins) else None
        out.append(Fold(i + 1, origin, end, train, test))
    return out


@dataclass
class Threshold:
    """The threshold a fold chose from its training applications, and how."""

    value: float
    inner_day: date | None
    inner_applications: int
    inner_late: int
    rule_precision: float
    chosen: bool  # False: nothing qualified inside the training period, the 0.5 fallback


def threshold_from_training(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    train: pl.DataFrame,
    yellow: float,
) -> Threshold:
    """The lowest threshold reaching the rule's precision in the training period's own
    backtest (its split at INNER_SHARE of its snapshot days, on its applications alone)."""
    fallback = Threshold(risk.THRESHOLD, None, 0, 0, float("nan"), False)
    days = train["cut_day"].unique().sort()
    if days.len() < 2:
        return fallback
    inner_day: date = days[int(days.len() * INNER_SHARE)]
    inner = datetime.combine(inner_day, clock(), ZoneInfo(cal.zone))
    inner_train = risk.training_frame(con, cal, completed_before=inner)
    inner_test = train.filter(pl.col("cut_ts") >= inner.astimezone(UTC))
    if inner_train.height == 0 or inner_test.height == 0:
        return fallback
    inner_test = predicted(inner_test, inner_train)
    outcome = outcomes(inner_test)
    rule = scores(first_warnings(inner_test, pl.col("left_workdays") <= yellow), outcome)
    chosen = lowest_threshold_at_precision(inner_test, outcome, rule["precision"])
    return Threshold(
        chosen[0] if chosen else risk.THRESHOLD,
        inner_day,
        outcome.height,
        int(outcome["late"].sum()),
        rule["precision"],
        chosen is not None,
    )


@dataclass
class Result:
    fold: Fold
    threshold: Threshold
    test: pl.DataFrame  # the fold's test snapshots with p_late and `chosen` (its threshold)


def run_fold(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, fold: Fold, yellow: float
) -> Result:
    threshold = threshold_from_training(con, cal, fold.train, yellow)
    test = fold.test
    if test.height:
        test = predicted(test, fold.train)
    else:
        test = test.with_columns(pl.lit(None, pl.Float64).alias("p_late"))
    return Result(fold, threshold, test.with_columns(pl.lit(threshold.value).alias("chosen")))


# ----- reporting ----------------------------------------------------------------------------


def rows(test: pl.DataFrame, yellow: float) -> list[tuple[str, str, dict[str, float]]]:
    """The comparison table of a set of test snapshots (one fold's or the pooled folds')."""
    outcome = outcomes(test)
    rule = scores(first_warnings(test, pl.col("left_workdays") <= yellow), outcome)
    chosen = test["chosen"].unique().sort()
    out = [
        ("yellow-card rule", f"≤ {yellow:g} day left", rule),
        (
            "model, threshold from the training period",
            f"{chosen[0]:.3f}" if chosen.len() == 1 else "per fold",
            scores(first_warnings(test, pl.col("p_late") >= pl.col("chosen")), outcome),
        ),
    ]
    # The model's candidate thresholds: each application's highest probability before its
    # deadline; warning the k most likely applications is one threshold.
    peak = (
        test.filter(pl.col("left_workdays") >= 0)
        .group_by("application_id")
        .agg(pl.col("p_late").max())["p_late"]
        .sort(descending=True)
    )
    k = min(int(rule["warned"]), peak.len()) - 1
    same = float(peak[k]) if k >= 0 else 1.0
    out.append(
        (
            "model, same number of warnings (test)",
            f"{same:.3f}",
            scores(first_warnings(test, pl.col("p_late") >= same), outcome),
        )
    )
    equal = lowest_threshold_at_precision(test, outcome, rule["precision"])
    if equal is not None:
        out.append(("model, precision ≥ rule's (test)", f"{equal[0]:.3f}", equal[1]))
    at = risk.THRESHOLD
    out.append(
        (
            f"model at {at}",
            f"{at:.3f}",
            scores(first_warnings(test, pl.col("p_late") >= at), outcome),
        )
    )
    return out


def describe(test: pl.DataFrame) -> str:
    """How many applications, late ones, late ones any warning could reach, and the AUC."""
    outcome = outcomes(test)
    # What any warning could reach: late applications open before their deadline at some
    # test snapshot, and the working days left at that first look.
    ceiling = first_warnings(test, pl.lit(True)).join(outcome.filter("late"), on="application_id")
    most = float(ceiling["lead"].median()) if ceiling.height else float("nan")  # type: ignore[arg-type]
    late = test["late"].cast(pl.Int8).to_numpy()
    auc = (
        f"{roc_auc_score(late, test['p_late'].to_numpy()):.3f}"
        if 0 < late.sum() < len(late)
        else "n/a"
    )
    return (
        f"{test.height:,} snapshots of {outcome.height:,} applications, "
        f"{int(outcome['late'].sum()):,} late, {ceiling.height:,} of them with a snapshot "
        f"before their deadline (median working days left at their first: {most:.2f}); "
        f"snapshot AUC {auc}"
    )


def print_table(
    table: list[tuple[str, str, dict[str, float]]], folds: list[int] | None = None
) -> None:
    """A Markdown table of `rows`; with `folds`, each row's fold in a first column."""
    head = "| fold " if folds else ""
    print(
        f"{head}| warning | threshold | warned | precision | recall | median lead (working days) |"
    )
    print(("|---:" if folds else "") + "|---|---:|---:|---:|---:|---:|")
    for i, (label, threshold_text, s) in enumerate(table):
        print(
            (f"| {folds[i]} " if folds else "")
            + f"| {label} | {threshold_text} | {int(s['warned']):,} | {s['precision']:.3f} | "
            f"{s['recall']:.3f} | {s['median_lead']:.2f} |"
        )


def bootstrap(test: pl.DataFrame, yellow: float, n: int, seed: int = 0) -> str:
    """Percentile intervals (5–95 %) of the model's (threshold from the training period)
    precision minus the rule's and of its median lead over the rule's, resampling the
    applications with replacement `n` times."""
    outcome = outcomes(test)
    model = first_warnings(test, pl.col("p_late") >= pl.col("chosen")).rename({"lead": "m"})
    rule = first_warnings(test, pl.col("left_workdays") <= yellow).rename({"lead": "r"})
    apps = (
        outcome.join(model, on="application_id", how="left")
        .join(rule, on="application_id", how="left")
        .sort("application_id")  # the same resamples on every run
    )
    late = apps["late"].to_numpy().astype(bool)
    m = apps["m"].fill_null(np.nan).to_numpy()
    r = apps["r"].fill_null(np.nan).to_numpy()
    rng = np.random.default_rng(seed)
    diff, ratio = [], []
    for _ in range(n):
        i = rng.integers(0, len(late), len(late))
        lt, mi, ri = late[i], m[i], r[i]
        mw, rw = ~np.isnan(mi), ~np.isnan(ri)
        if not mw.any() or not rw.any() or not (mw & lt).any() or not (rw & lt).any():
            continue
        diff.append((mw & lt).sum() / mw.sum() - (rw & lt).sum() / rw.sum())
        rule_lead = float(np.median(ri[rw & lt]))
        if rule_lead > 0:
            ratio.append(float(np.median(mi[mw & lt])) / rule_lead)
    if not diff or not ratio:
        return f"bootstrap ({n}): too few warned late applications"
    d, q = np.percentile(diff, [5, 95]), np.percentile(ratio, [5, 95])
    return (
        f"bootstrap over applications ({n} resamples, {len(diff)} usable): model precision "
        f"minus the rule's {d[0]:+.3f} to {d[1]:+.3f}; model median lead ÷ the rule's "
        f"{q[0]:.2f} to {q[1]:.2f} (5–95 %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--test-share", type=float, default=0.4)
    parser.add_argument("--split", type=date.fromisoformat, default=None)
    parser.add_argument("--bootstrap", type=int, default=0)
    args = parser.parse_args()
    if args.split is not None and args.folds != 1:
        parser.error("--split names the one origin of a single split: use it without --folds")
    config = load_config(args.config)
    cal = WorkCalendar.from_config(config)
    yellow = config.supervision.yellow_workdays
    started = time.perf_counter()
    zone = ZoneInfo(cal.zone)
    with Warehouse(args.db).read() as con:
        cal.register(con)
        every = risk.training_frame(con, cal)
        days = every["cut_day"].unique().sort()
        try:
            starts = [args.split] if args.split else origin_days(days, args.folds, args.test_share)
        except ValueError as exc:
            parser.error(str(exc))
        origins = [datetime.combine(day, clock(), zone) for day in starts]
        folds = plan(con, cal, every, origins)
        results = [run_fold(con, cal, fold, yellow) for fold in folds]
    print(
        f"warehouse: {args.db}, calendar: {cal.zone}, {days.len()} snapshot days "
        f"{days[0]} to {days[-1]}, {every['application_id'].n_unique():,} completed "
        f"applications with a snapshot; origins: {', '.join(str(d) for d in starts)}"
    )
    if len(results) > 1:
        print()
        print(
            "| fold | origin | to | trained on | threshold (inner split: its test; rule's "
            "precision there) | test |"
        )
        print("|---:|---|---|---:|---|---|")
    for res in results:
        fold, th = res.fold, res.threshold
        how = (
            f"{th.value:.3f} ({th.inner_day}: {th.inner_applications:,} applications, "
            f"{th.inner_late:,} late; {th.rule_precision:.3f})"
            if th.chosen
            else f"{th.value:.3f}, fallback (inner split {th.inner_day}: no threshold reaches "
            f"the rule's precision {th.rule_precision:.3f})"
        )
        trained = f"{fold.train['application_id'].n_unique():,} applications"
        if len(results) == 1:
            print(
                f"training: {fold.train.height:,} snapshots of {trained} completed before "
                f"the origin; threshold chosen inside the training period: {how}"
            )
            print(f"test: {describe(res.test)}")
        else:
            end_day = fold.end.date() if fold.end else days[-1]
            print(
                f"| {fold.number} | {fold.origin.date()} | {end_day} | {trained} | {how} | "
                f"{describe(res.test) if res.test.height else 'nothing'} |"
            )
    if len(results) > 1:
        print()
        per_fold = [
            (res.fold.number, row)
            for res in results
            if res.test.height
            for row in rows(res.test, yellow)
        ]
        print_table([row for _, row in per_fold], [number for number, _ in per_fold])
    pooled = pl.concat([res.test for res in results if res.test.height])
    # No application counts twice: the folds' applications are disjoint.
    assert pooled["application_id"].n_unique() == sum(
        res.test["application_id"].n_unique() for res in results
    )
    if len(results) > 1:
        print(f"\npooled over {len(results)} folds: {describe(pooled)}")
    print()
    print_table(rows(pooled, yellow))
    if args.bootstrap:
        print()
        print(bootstrap(pooled, yellow, args.bootstrap))
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
