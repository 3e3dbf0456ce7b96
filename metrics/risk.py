"""Early warning 超期预警: for every open application, the probability that it completes after
its limit and its expected remaining working days, from a model trained on completed
applications with only what was known at each moment (docs/metrics.md, `risk`).

**Snapshots.** A snapshot is an application at a cut-off instant: for training, the end of
each working day (local midnight after it) on which a completed application was still open;
for a prediction, the 'as of' instant. Its features use only events before the cut-off and
facts known at acceptance (matter, channel, limit, deadline): the matter, the step reached,
working days elapsed since acceptance and left before the limit, working hours at the current
step and per step so far, events and repeated steps so far, whether it is suspended, the
applications open at the cut-off with the same staff member and window, and the month; and,
against the training applications at the same matter and step (figures fixed when the model
is trained), the working days they still took, the days left beyond that and the hours at
the step against theirs. `tests/test_risk.py` checks that appending later events changes no
feature.

**Model.** scikit-learn's histogram gradient boosting: a classifier for 'completes late' and
a regressor for the working days still to go. It is trained by the nightly maintenance job
(and on first use when none is stored) and stored with its evaluation in the warehouse's
private folder (`PATH.d/risk/`, owner-only); the evaluation trains on applications completed
before a cut date and scores the snapshots of those accepted after it.

**Stored scores.** Each run and the nightly retrain store every open application's scores in
the warehouse (`scores_now`, written by etl/scores.py); `risk` reads them while they are
current (`stored`) and scores live otherwise, with the same table either way.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import joblib
import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.facts import ORDER
from metrics.filters import Filters
from metrics.kpis import _last_instant, period_bounds
from onewindow.config import Config
from warehouse import generation, sql

if TYPE_CHECKING:  # imported where a model is trained or read back: importing scikit-learn
    # costs 1.2-1.7 CPU-seconds, which no other report should pay (BENCHMARKS.md)
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

log = logging.getLogger("onewindow.risk")

# Raise when the features or their SQL change: a stored model of another version is retrained.
VERSION = 2
CATEGORICAL = ("matter_code", "channel", "step")
NUMERIC = (
    "promised_limit_days",
    "has_deadline",
    "elapsed_workdays",
    "left_workdays",
    "day_part",
    "step_hours",
    "per_step_hours",
    "events",
    "repeats",
    "suspended",
    "staff_open",
    "window_open",
    "month",
)
FEATURES = CATEGORICAL + NUMERIC  # of a snapshot, from the warehouse (features_sql)
# Of a snapshot against what the training applications did from the same matter and step
# (`Model.similar`, fixed when the model is trained): the median working days they still took
# (`typical_more`), the days left beyond that (`slack`), and the hours at the step against
# their median hours there (`step_ratio`).
TYPICAL = ("typical_more", "slack", "step_ratio")
MAX_CATEGORIES = 250  # the boosting's limit is 255 per feature: rarer values become missing
THRESHOLD = 0.5  # probability from which an open application is listed 'at risk'
MIN_SIMILAR = 20  # snapshots needed before a (matter, step) median is quoted in a reason
# Training reads the most recently completed applications up to about this many snapshots:
# memory and time stay bounded however long the history (BENCHMARKS.md: 1.6 GB at 510,000).
MAX_TRAINING_SNAPSHOTS = 1_000_000


# The features of the snapshots in relation `snaps` (application_id, cut_ts: the cut-off
# instant, cut_day: its local day) over the facts relation `f` (every application: the
# workload counts need all of them), as common table expressions ending in `feat`. Only
# events before cut_ts and facts known at acceptance are used. Binds $zone, $day_seconds,
# $day_end, and $as_of when the snapshots share that one cut-off (`many_cuts` false).
def features_sql(cal: WorkCalendar, many_cuts: bool = True) -> str:
    local = "(e.ts AT TIME ZONE $zone)"
    # The events of the snapshots' applications first, then their working time: for the
    # report (the open applications) the calendar is not joined to every event.
    return f"""
        ev_of AS {"" if many_cuts else "MATERIALIZED "}(
            SELECT application_id, step, stage, ts, file_id, source_row FROM events
            WHERE application_id IN (SELECT application_id FROM snaps)),
        ev AS (
            SELECT e.application_id, e.step, e.stage, e.ts,
                row_number() OVER (PARTITION BY e.application_id {ORDER}) AS seq,
                {cal.work_seconds_sql(local, "c")} AS w
            FROM ev_of e JOIN ow_calendar c ON c.day = {local}::DATE),
        upto AS (
            SELECT s.application_id, s.cut_ts, count(*) AS events,
                count(*) - count(DISTINCT ev.step) AS repeats,
                arg_max(ev.step, ev.seq) AS step, max(ev.w) AS last_w, min(ev.w) AS first_w,
                (count(*) FILTER (WHERE ev.stage = 'suspend')
                 > count(*) FILTER (WHERE ev.stage = 'resume'))::INT AS suspended
            FROM snaps s JOIN ev ON ev.application_id = s.application_id AND ev.ts < s.cut_ts
            GROUP BY ALL),
        due AS (  -- the deadline as `cards` has it: explicit, else the limit's last day's end
            SELECT f.application_id, coalesce(f.deadline_at,
                (cl.day + to_seconds($day_end)) AT TIME ZONE $zone) AS due_at
            FROM f LEFT JOIN ow_calendar cl ON cl.is_working_day
                AND cl.wd_index = f.accepted_wd + greatest(f.promised_limit_days,
                    CASE WHEN f.accepted_on_workday THEN 0 ELSE 1 END)
            WHERE f.application_id IN (SELECT application_id FROM snaps)),
{_loads_sql() if many_cuts else _loads_at_sql()}        feat AS (
        SELECT s.application_id, s.cut_ts, s.cut_day, f.matter_code, f.channel,
            coalesce(u.step, '') AS step,
            f.promised_limit_days::DOUBLE AS promised_limit_days,
            (f.deadline_at IS NOT NULL)::INT AS has_deadline,
            (cd.wd_index - f.accepted_wd)::DOUBLE AS elapsed_workdays,
            ({cal.work_seconds_sql("(d.due_at AT TIME ZONE $zone)", "cw")}
             - {cal.work_seconds_sql("(s.cut_ts AT TIME ZONE $zone)", "cc")}) / $day_seconds
                AS left_workdays,
            (CASE WHEN cc.is_working_day
                  THEN {cal.within_sql("(s.cut_ts AT TIME ZONE $zone)")} ELSE 0 END)
                / $day_seconds AS day_part,
            ({cal.work_seconds_sql("(s.cut_ts AT TIME ZONE $zone)", "cc")} - u.last_w) / 3600.0
                AS step_hours,
            (u.last_w - u.first_w) / 3600.0 / greatest(u.events - 1, 1) AS per_step_hours,
            coalesce(u.events, 0)::DOUBLE AS events, coalesce(u.repeats, 0)::DOUBLE AS repeats,
            coalesce(u.suspended, 0)::DOUBLE AS suspended,
            coalesce(sl.staff_open, 0)::DOUBLE AS staff_open,
            coalesce(wl.window_open, 0)::DOUBLE AS window_open,
            month(s.cut_day)::DOUBLE AS month,
            f.department, f.window_id, f.staff, f.accepted_at, d.due_at
        FROM snaps s
        JOIN f USING (application_id)
        LEFT JOIN due d USING (application_id)
        LEFT JOIN ow_calendar cw ON cw.day = (d.due_at AT TIME ZONE $zone)::DATE
        JOIN ow_calendar cd ON cd.day = s.cut_day
        JOIN ow_calendar cc ON cc.day = (s.cut_ts AT TIME ZONE $zone)::DATE
        LEFT JOIN upto u ON u.application_id = s.application_id AND u.cut_ts = s.cut_ts
        LEFT JOIN loads sl ON sl.application_id = s.application_id AND sl.cut_ts = s.cut_ts
        LEFT JOIN wloads wl ON wl.application_id = s.application_id AND wl.cut_ts = s.cut_ts)"""


def _loads_sql() -> str:
    """Workload at each snapshot's own cut-off (`loads`, `wloads`)."""
    return """
        -- Applications open at an instant t, per staff member and per window: those accepted
        -- before t minus those completed before t, read from each one's running count of
        -- acceptances (+1) and completions (-1) at the last change before t (an ASOF join:
        -- n log n, where joining every cut-off with every application would be n squared).
        changes AS (
            SELECT staff, window_id, accepted_at AS ts, 1 AS delta FROM f
            WHERE accepted_at IS NOT NULL
            UNION ALL
            SELECT staff, window_id, completed_at, -1 FROM f
            WHERE accepted_at IS NOT NULL AND completed_at IS NOT NULL),
        staff_load AS (
            SELECT staff, ts, sum(delta) OVER (PARTITION BY staff ORDER BY ts) AS open_now
            FROM changes WHERE staff IS NOT NULL),
        window_load AS (
            SELECT window_id, ts, sum(delta) OVER (PARTITION BY window_id ORDER BY ts) AS open_now
            FROM changes WHERE window_id IS NOT NULL),
        loads AS (
            SELECT s.application_id, s.cut_ts, sl.open_now AS staff_open
            FROM snaps s JOIN f USING (application_id)
            ASOF LEFT JOIN staff_load sl ON sl.staff = f.staff AND sl.ts < s.cut_ts),
        wloads AS (
            SELECT s.application_id, s.cut_ts, wl.open_now AS window_open
            FROM snaps s JOIN f USING (application_id)
            ASOF LEFT JOIN window_load wl ON wl.window_id = f.window_id AND wl.ts < s.cut_ts),
"""


def _loads_at_sql() -> str:
    """Workload when every snapshot is cut at $as_of: one count per staff member and window."""
    return """
        open_now AS (
            SELECT staff, window_id FROM f
            WHERE accepted_at < $as_of AND (completed_at IS NULL OR completed_at >= $as_of)),
        loads AS (
            SELECT s.application_id, s.cut_ts, n.staff_open
            FROM snaps s JOIN f USING (application_id)
            LEFT JOIN (SELECT staff, count(*) AS staff_open FROM open_now GROUP BY staff) n
                ON n.staff = f.staff),
        wloads AS (
            SELECT s.application_id, s.cut_ts, n.window_open
            FROM snaps s JOIN f USING (application_id)
            LEFT JOIN (SELECT window_id, count(*) AS window_open FROM open_now
                       GROUP BY window_id) n ON n.window_id = f.window_id),
"""


def _calendar_params(cal: WorkCalendar) -> sql.Params:
    day_end = max(end for _, end in cal.spans)
    return {"zone": cal.zone, "day_seconds": cal.day_seconds, "day_end": day_end}


def training_frame(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    completed_before: datetime | None = None,
    accepted_from: datetime | None = None,
    max_snapshots: int = MAX_TRAINING_SNAPSHOTS,
) -> pl.DataFrame:
    """Snapshots of completed applications with a limit, one per working day they were
    open, with their features and labels: `late` (completed after the limit) and
    `remaining_workdays` (working days from the snapshot's day to completion). With
    `completed_before`, only applications completed before that instant (their outcome was
    known then); with `accepted_from`, only those accepted from it. Of those, the most
    recently completed whose working days open add up to `max_snapshots`."""
    facts, params = derived.source(con, cal, "d_facts", Filters())
    parts = ["f.completed AND f.on_time IS NOT NULL"]
    own: sql.Params = {**_calendar_params(cal), "risk_max_snapshots": max_snapshots}
    if completed_before is not None:
        parts.append("f.completed_at < $risk_completed_before")
        own["risk_completed_before"] = completed_before
    if accepted_from is not None:
        parts.append("f.accepted_at >= $risk_accepted_from")
        own["risk_accepted_from"] = accepted_from
    # One cut-off per working day the application was open, at a time of the working day
    # drawn from a hash of the application and the day (the same on every run): a prediction
    # may be asked for at any hour, and `day_part` tells the model which.
    first = min(start for start, _ in cal.spans)
    own["risk_first_s"] = first
    own["risk_span_s"] = max(end for _, end in cal.spans) - first
    where = " AND ".join(parts)
    return sql.frame(
        con,
        f"""WITH f AS ({facts}),
        recent AS (  -- each application gives one snapshot per working day it was open
            SELECT application_id FROM (
                SELECT f.application_id, sum(coalesce(f.completed_wd - f.accepted_wd, 0) + 1)
                    OVER (ORDER BY f.completed_at DESC, f.application_id
                          ROWS UNBOUNDED PRECEDING) AS upto
                FROM f WHERE {where})
            WHERE upto <= $risk_max_snapshots),
        snaps AS (
            SELECT * FROM (
                SELECT f.application_id, c.day AS cut_day, f.accepted_at, f.completed_at,
                    ((c.day::TIMESTAMP + to_seconds($risk_first_s
                        + hash(f.application_id, c.day) % $risk_span_s)) AT TIME ZONE $zone)
                        AS cut_ts
                FROM f JOIN ow_calendar c
                    ON c.day >= f.accepted_day AND c.day <= f.completed_day
                WHERE c.is_working_day AND {where}
                    AND f.application_id IN (SELECT application_id FROM recent))
            WHERE accepted_at < cut_ts AND completed_at >= cut_ts),
        {features_sql(cal)}
        SELECT feat.*, NOT f.on_time AS late,
            (f.completed_wd - cd.wd_index)::DOUBLE AS remaining_workdays
        FROM feat JOIN f USING (application_id)
        JOIN ow_calendar cd ON cd.day = feat.cut_day
        ORDER BY feat.application_id, feat.cut_day""",
        sql.merge(params, own),
    )


@dataclass
class Model:
    """A trained early-warning model with what it needs to predict and explain."""

    classifier: HistGradientBoostingClassifier
    regressor: HistGradientBoostingRegressor
    vocab: dict[str, list[str]]
    # "matter|step" or "|step" -> more working days (median), step hours (median, P90)
    similar: dict[str, dict[str, float]]
    calendar: str
    evaluation: dict[str, Any] = field(default_factory=dict)
    version: int = VERSION

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        return _matrix(frame, self.vocab, self.similar)


def _vocab(frame: pl.DataFrame) -> dict[str, list[str]]:
    vocab = {}
    for column in CATEGORICAL:
        counts = frame[column].drop_nulls().value_counts(sort=True)
        vocab[column] = counts[column].head(MAX_CATEGORIES).to_list()
    return vocab


def typical(frame: pl.DataFrame, similar: dict[str, dict[str, float]]) -> pl.DataFrame:
    """The TYPICAL features of snapshots: each one's matter and step (else its step) looked up
    in the training applications' figures; missing where fewer than MIN_SIMILAR had them."""
    known = [(*key.split("|", 1), v["more"], v.get("median_hours")) for key, v in similar.items()]
    table = pl.DataFrame(
        known,
        schema={"m": pl.String, "s": pl.String, "more": pl.Float64, "hours": pl.Float64},
        orient="row",
    )
    pair = table.filter(pl.col("m") != "").rename({"more": "more_1", "hours": "hours_1"})
    step = table.filter(pl.col("m") == "").drop("m")
    looked = frame.select(
        pl.col("matter_code").alias("m"), pl.col("step").alias("s"), "left_workdays", "step_hours"
    ).with_row_index("row")
    looked = (
        looked.join(pair, on=["m", "s"], how="left")
        .join(step, on="s", how="left")
        .sort("row")
        .select(
            pl.coalesce("more_1", "more").alias("typical_more"),
            pl.coalesce("hours_1", "hours").alias("hours"),
            "left_workdays",
            "step_hours",
        )
    )
    return looked.select(
        "typical_more",
        (pl.col("left_workdays") - pl.col("typical_more")).alias("slack"),
        (pl.col("step_hours") / (pl.col("hours") + 1.0)).alias("step_ratio"),
    )


def _matrix(
    frame: pl.DataFrame, vocab: dict[str, list[str]], similar: dict[str, dict[str, float]]
) -> np.ndarray:
    columns = []
    for column in CATEGORICAL:
        codes = {v: float(i) for i, v in enumerate(vocab[column])}
        columns.append(frame[column].replace_strict(codes, default=None, return_dtype=pl.Float64))
    columns += [frame[c].cast(pl.Float64) for c in NUMERIC]
    columns += typical(frame, similar).get_columns()
    return np.column_stack([c.fill_null(np.nan).to_numpy() for c in columns])


def _fit(
    frame: pl.DataFrame, vocab: dict[str, list[str]], similar: dict[str, dict[str, float]]
) -> tuple[Any, Any]:
    # One OpenMP thread: on a busy server the boosting's threads spin against the other
    # processes' (measured 18 times slower with the default threads at a load of 15).
    with threadpool_limits(limits=1):
        return _fit_models(_matrix(frame, vocab, similar), frame)


def _fit_models(x: np.ndarray, frame: pl.DataFrame) -> tuple[Any, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    x = x.copy()
    x[:, np.isnan(x).all(axis=0)] = 0.0  # a feature the data never has (no limits): constant
    mask = [True] * len(CATEGORICAL) + [False] * (len(NUMERIC) + len(TYPICAL))
    late = frame["late"].cast(pl.Int8).to_numpy()
    classifier = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.1, categorical_features=mask, random_state=0
    )
    if late.min() == late.max():  # nothing (or everything) late: a constant model
        classifier = HistGradientBoostingClassifier(max_iter=1, random_state=0)
        x_c, late = np.vstack([x, x[:1]]), np.append(late, 1 - late[0])
        classifier.fit(x_c, late)
    else:
        classifier.fit(x, late)
    regressor = HistGradientBoostingRegressor(
        max_iter=200, learning_rate=0.1, categorical_features=mask, random_state=0
    )
    regressor.fit(x, frame["remaining_workdays"].to_numpy())
    return classifier, regressor


def _similar(frame: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Per (matter, step) and per step: how many more working days similar applications
    took from there (median), and their hours at the step (median and P90), for the TYPICAL
    features and the reasons."""
    out: dict[str, dict[str, float]] = {}
    for keys, prefix in ((["matter_code", "step"], True), (["step"], False)):
        stats = frame.group_by(keys).agg(
            pl.len().alias("n"),
            pl.col("remaining_workdays").median().alias("more"),
            pl.col("step_hours").median().alias("median_hours"),
            pl.col("step_hours").quantile(0.9).alias("p90_hours"),
        )
        for row in stats.filter(pl.col("n") >= MIN_SIMILAR).to_dicts():
            key = f"{row['matter_code'] if prefix else ''}|{row['step']}"
            out[key] = {
                "more": float(row["more"]),
                "median_hours": float(row["median_hours"] or 0),
                "p90_hours": float(row["p90_hours"] or 0),
            }
    return out


def train(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, evaluate: bool = True) -> Model | None:
    """Trains on every completed application; with `evaluate`, first measures the model
    trained on those completed before the last fifth of the acceptance period on the
    snapshots of applications accepted after it. None when nothing is completed yet."""
    frame = training_frame(con, cal)
    if frame.height == 0:
        return None
    evaluation: dict[str, Any] = {"trained_on_snapshots": frame.height}
    if evaluate:
        evaluation.update(_evaluate(con, cal, frame))
    vocab, similar = _vocab(frame), _similar(frame)
    classifier, regressor = _fit(frame, vocab, similar)
    base = cal.register(con)
    evaluation["trained_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    evaluation["applications"] = frame["application_id"].n_unique()
    late: float | None = frame["late"].cast(pl.Float64).mean()  # type: ignore[assignment]
    evaluation["late_share"] = late
    return Model(classifier, regressor, vocab, similar, cal.fingerprint(base), evaluation)


def _evaluate(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, frame: pl.DataFrame
) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    accepted = frame.group_by("application_id").agg(pl.col("cut_ts").min())["cut_ts"].sort()
    if accepted.len() < 50:
        return {"evaluation": "too few applications"}
    split: datetime = accepted[int(accepted.len() * 0.8)]
    train_rows = training_frame(con, cal, completed_before=split)
    test_rows = frame.filter(pl.col("cut_ts") >= split)
    if train_rows.height == 0 or test_rows.height == 0:
        return {"evaluation": "too few applications"}
    vocab, similar = _vocab(train_rows), _similar(train_rows)
    classifier, regressor = _fit(train_rows, vocab, similar)
    x = _matrix(test_rows, vocab, similar)
    with threadpool_limits(limits=1):
        p = classifier.predict_proba(x)[:, 1]
        remaining = np.maximum(regressor.predict(x), 0)
    late = test_rows["late"].cast(pl.Int8).to_numpy()
    warned = p >= THRESHOLD
    both = int((warned & (late == 1)).sum())
    return {
        "split": split.isoformat(),
        "test_snapshots": len(p),
        "test_late_share": float(late.mean()),
        "auc": float(roc_auc_score(late, p)) if 0 < late.sum() < len(late) else None,
        "average_precision": float(average_precision_score(late, p)) if late.sum() else None,
        "brier": float(brier_score_loss(late, p)),
        "precision_at_threshold": both / int(warned.sum()) if warned.sum() else None,
        "recall_at_threshold": both / int(late.sum()) if late.sum() else None,
        "remaining_mae_workdays": float(
            np.mean(np.abs(remaining - test_rows["remaining_workdays"].to_numpy()))
        ),
    }


# ----- storage ------------------------------------------------------------------------------


def model_dir(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The warehouse's private folder (PATH.d/risk) of the copy `con` reads."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    if not row or not row[0][0]:
        return None
    return Path(row[0][0]).parent / "risk"


def store(model: Model, folder: Path) -> Path:
    """Writes the model (owner-only, atomically) and its evaluation beside it; the
    evaluation records the model file's SHA-256, checked before loading."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    path = folder / "model.joblib"
    _write(path, data)
    meta = {**model.evaluation, "sha256": hashlib.sha256(data).hexdigest(), "version": VERSION}
    _write(folder / "evaluation.json", json.dumps(meta, indent=1, default=str).encode())
    return path


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


_loaded: dict[str, Any] = {}  # the last model read back, by its file's SHA-256


def _stored(folder: Path | None) -> tuple[str, bytes] | None:
    """The stored model file's SHA-256 and bytes, if it is this code's version and its bytes
    match the hash recorded beside it; else None. Read and hashed once while neither file
    changes (a report on stored scores asks for the hash on every call)."""
    if folder is None:
        return None
    try:
        key = tuple(
            (s.st_ino, s.st_mtime_ns, s.st_size)
            for s in ((folder / name).stat() for name in ("evaluation.json", "model.joblib"))
        )
        if (folder, key) in _read:
            return _read[(folder, key)]
        meta = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
        data = (folder / "model.joblib").read_bytes()
    except (OSError, ValueError):
        return None
    digest = hashlib.sha256(data).hexdigest()
    found = None
    if meta.get("version") == VERSION and digest == meta.get("sha256"):
        found = digest, data
    _read.clear()
    _read[(folder, key)] = found
    return found


_read: dict[tuple[Path, object], tuple[str, bytes] | None] = {}  # the last folder read


def _load(
    folder: Path | None, cal: WorkCalendar, con: duckdb.DuckDBPyConnection
) -> tuple[Model, str] | None:
    """The stored model (see `load`) and the SHA-256 of the bytes it was read from."""
    stored = _stored(folder)
    if stored is None:
        return None
    digest, data = stored
    # Read back once per process (the dashboard's): the same bytes give the same model.
    model = _loaded.get(digest)
    if model is None:
        model = joblib.load(io.BytesIO(data))
        _loaded.clear()
        _loaded[digest] = model
    if not isinstance(model, Model) or model.calendar != cal.fingerprint(cal.register(con)):
        return None
    return model, digest


def load(folder: Path | None, cal: WorkCalendar, con: duckdb.DuckDBPyConnection) -> Model | None:
    """The stored model, if it is this code's version, was built with this calendar and its
    bytes match the recorded hash; else None."""
    found = _load(folder, cal, con)
    return found[0] if found is not None else None


def evaluation(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The stored model's evaluation, as written beside it."""
    folder = model_dir(con)
    try:
        text = (folder / "evaluation.json").read_text(encoding="utf-8") if folder else None
    except OSError:
        return None
    return json.loads(text) if text else None


def retrain(con: duckdb.DuckDBPyConnection, cal: WorkCalendar, folder: Path) -> Model | None:
    """Trains, evaluates and stores a model (the nightly maintenance job)."""
    model = train(con, cal)
    if model is not None:
        store(model, folder)
    return model


def model_for(con: duckdb.DuckDBPyConnection, cal: WorkCalendar) -> Model | None:
    """The stored model, else one trained now (and stored when the folder is writable)."""
    folder = model_dir(con)
    model = load(folder, cal, con)
    if model is None:
        model = train(con, cal)
        if model is not None and folder is not None:
            try:
                store(model, folder)
            except OSError as exc:
                log.warning("could not store the early-warning model in %s: %s", folder, exc)
    return model


# ----- prediction ---------------------------------------------------------------------------


def snapshot_frame(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, as_of: datetime
) -> pl.DataFrame:
    """Features of the applications the filters keep that are open at `as_of`."""
    query, params = derived.source(con, cal, "d_facts", filters)
    facts, every_params = derived.source(con, cal, "d_facts", Filters())
    own = {**_calendar_params(cal), "as_of": as_of}
    # Only the applications open at `as_of` are needed, the workload counts' included.
    return sql.frame(
        con,
        f"""WITH f AS (
            SELECT * FROM ({facts})
            WHERE accepted_at < $as_of AND (completed_at IS NULL OR completed_at >= $as_of)),
        snaps AS (
            SELECT application_id, $as_of::TIMESTAMPTZ AS cut_ts,
                ($as_of::TIMESTAMPTZ AT TIME ZONE $zone)::DATE AS cut_day
            FROM ({query})
            WHERE accepted_at < $as_of AND (completed_at IS NULL OR completed_at >= $as_of)),
        {features_sql(cal, many_cuts=False)}
        SELECT * FROM feat ORDER BY application_id""",
        sql.merge(every_params, params, own),
    )


def risk(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    filters: Filters,
    config: Config,
    as_of: datetime | None = None,
    *,
    use_stored: bool = True,
) -> pl.DataFrame:
    """Every open application at the period's end (as `cards` counts them) with `p_late`, the
    expected remaining and total working days, its card, and a reason in Chinese and English;
    most likely late first. The scores the jobs stored are used when current (`stored`): the
    same table as scoring now, without reading the model back."""
    _, _, as_of = period_bounds(filters, cal.zone, as_of or _last_instant(con))
    scored = stored(con, cal, filters, as_of) if use_stored else None
    if scored is None:
        frame = snapshot_frame(con, cal, filters, as_of)
        scored = score(model_for(con, cal) if frame.height else None, frame)
    return present(scored, config.supervision.yellow_workdays)


# The `risk` table's columns a scoring computes (stored by the jobs in risk_scores, unrounded),
# and those read from the facts beside them: the department, window and staff member are
# never copied into the scores.
SCORED = (
    "application_id",
    "step",
    "elapsed_workdays",
    "due_at",
    "left_workdays",
    "p_late",
    "expected_remaining_workdays",
    "reason_zh",
    "reason_en",
)
FROM_FACTS = ("matter_code", "department", "window_id", "staff", "accepted_at")


def score(model: Model | None, frame: pl.DataFrame) -> pl.DataFrame:
    """The model's figures for a snapshot frame, unrounded: SCORED, FROM_FACTS and `cut_ts`."""
    if model is None or frame.height == 0:
        p = np.full(frame.height, np.nan)
        more = np.full(frame.height, np.nan)
    else:
        x = model.matrix(frame)
        with threadpool_limits(limits=1):
            p = model.classifier.predict_proba(x)[:, 1]
            more = np.maximum(model.regressor.predict(x), 0.0)
    zh, en = reasons(model, frame)
    return frame.select(
        "application_id",
        *FROM_FACTS,
        "cut_ts",
        "step",
        "elapsed_workdays",
        "due_at",
        "left_workdays",
        pl.Series("p_late", p, dtype=pl.Float64),
        pl.Series("expected_remaining_workdays", more, dtype=pl.Float64),
        pl.Series("reason_zh", zh, dtype=pl.String),
        pl.Series("reason_en", en, dtype=pl.String),
    )


def present(scored: pl.DataFrame, yellow_workdays: float) -> pl.DataFrame:
    """The `risk` table of scores (`score`'s columns, computed now or stored): cards at the
    cut-off, rounding, most likely late first."""
    return (
        scored.with_columns(
            (pl.col("elapsed_workdays") + pl.col("expected_remaining_workdays")).alias(
                "expected_total_workdays"
            ),
            pl.when(pl.col("due_at") < pl.col("cut_ts"))
            .then(pl.lit("red"))
            .when(pl.col("left_workdays") <= yellow_workdays)
            .then(pl.lit("yellow"))
            .alias("card"),
        )
        .with_columns(
            pl.col("p_late").round(4),
            pl.col("expected_remaining_workdays").round(1),
            pl.col("expected_total_workdays").round(1),
        )
        .select(
            "application_id",
            "matter_code",
            "department",
            "window_id",
            "staff",
            "accepted_at",
            "step",
            pl.col("elapsed_workdays").cast(pl.Int64).alias("elapsed_workdays"),
            "due_at",
            pl.col("left_workdays").round(2).alias("workdays_left"),
            "card",
            "p_late",
            "expected_remaining_workdays",
            "expected_total_workdays",
            "reason_zh",
            "reason_en",
        )
        .sort(["p_late", "application_id"], descending=[True, False], nulls_last=True)
    )


# ----- scores stored by the jobs ------------------------------------------------------------

# Raise when what is stored per application, or its reasons, change: stored scores of another
# version are not used.
SCORES_VERSION = 1


def _code_version() -> int:
    return VERSION * 1000 + SCORES_VERSION


@dataclass(frozen=True)
class Scoring:
    """The scores of every application open at `as_of` and what they were computed from."""

    model_sha256: str
    calendar: str
    generation: int
    as_of: datetime
    zone: str  # the calendar's, for the local day of `as_of`
    scores: pl.DataFrame  # SCORED
    scored_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def code_version(self) -> int:
        return _code_version()


def scores_now(con: duckdb.DuckDBPyConnection, cal: WorkCalendar) -> Scoring | None:
    """What the jobs store after a load or a retrain (etl/scores.py): every application open
    at the data's 'as of' instant (the `risk` report's without filters), scored with the
    stored model. None when no usable model is stored: a job never trains one here (the
    nightly job does, or the first report)."""
    found = _load(model_dir(con), cal, con)
    if found is None:
        return None
    model, digest = found
    calendar = model.calendar  # _load checked it is this calendar's
    data = generation(con)
    _, _, as_of = period_bounds(Filters(), cal.zone, _last_instant(con))
    frame = snapshot_frame(con, cal, Filters(), as_of)
    return Scoring(digest, calendar, data, as_of, cal.zone, score(model, frame).select(SCORED))


def stored(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, as_of: datetime
) -> pl.DataFrame | None:
    """The stored scores (risk_scores) of the applications the filters keep that are open at
    `as_of`, with the facts' columns, as `score` gives them; None unless they are current:
    computed by this code's version, with the model `risk` would read now (its file's
    SHA-256), the same calendar, from the data this copy holds (its generation: the last run
    that changed it) and at the same 'as of' instant. The instant is the data's last event
    (or the period's end, or now, when sooner): working days elapsed, hours at the step and
    days left all count to it, so the same instant gives the same figures on any day, and
    another (a new load, a period ending earlier) is scored live."""
    try:
        row = con.execute(
            """SELECT model_sha256, code_version, calendar, generation, as_of
            FROM risk_scoring"""
        ).fetchall()
    except duckdb.CatalogException:
        return None  # a warehouse before the table, or the province's lake
    if len(row) != 1:
        return None
    sha, version, calendar, data, scored_as_of = row[0]
    if (
        version != _code_version()
        or scored_as_of != as_of
        or data != generation(con)
        or calendar != cal.fingerprint(cal.register(con))
    ):
        return None
    model = _stored(model_dir(con))
    if model is None or model[0] != sha:
        return None
    query, params = derived.source(con, cal, "d_facts", filters)
    return sql.frame(
        con,
        f"""WITH f AS ({query})
        SELECT s.application_id, f.matter_code, f.department, f.window_id, f.staff,
            f.accepted_at, $as_of::TIMESTAMPTZ AS cut_ts, s.step, s.elapsed_workdays, s.due_at,
            s.left_workdays, s.p_late, s.expected_remaining_workdays, s.reason_zh, s.reason_en
        FROM risk_scores s JOIN f USING (application_id)
        WHERE f.accepted_at < $as_of AND (f.completed_at IS NULL OR f.completed_at >= $as_of)""",
        sql.merge(params, {"as_of": as_of}),
    )


def _days(value: float) -> str:
    rounded = round(value, 1)
    return f"{rounded:.0f}" if rounded == math.floor(rounded) else f"{rounded:.1f}"


def _working_days(value: float) -> str:
    text = _days(value)
    return f"{text} working day" if text == "1" else f"{text} working days"


def reasons(model: Model | None, frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    """A plain-words reason per row: how many more working days similar applications at this
    step took, against the days left; or how long it has been at the step compared with 9 in
    10 similar ones."""
    zh: list[str] = []
    en: list[str] = []
    for row in frame.select("matter_code", "step", "left_workdays", "step_hours").iter_rows():
        matter, step, left, hours = row
        similar = None
        if model is not None:
            similar = model.similar.get(f"{matter}|{step}") or model.similar.get(f"|{step}")
        if similar is None or left is None:
            zh.append("")
            en.append("")
            continue
        more = similar["more"]
        step_zh, step_en = f"「{step}」" if step else "受理前", step or "before acceptance"
        if left < 0:
            left_zh, left_en = (
                f"已超期 {_days(-left)} 个工作日",
                f"{_working_days(-left)} overdue",
            )
        else:
            left_zh, left_en = f"剩余 {_days(left)} 个工作日", f"{_working_days(left)} left"
        if hours is not None and similar["p90_hours"] and hours > similar["p90_hours"]:
            zh.append(f"已在{step_zh}停留 {hours:.0f} 个工作小时，超过九成同类办件；{left_zh}")
            en.append(
                f"{hours:.0f} working hours at {step_en}, longer than 9 in 10 similar "
                f"applications; {left_en}"
            )
        elif round(more, 1) == 0:
            zh.append(f"同类办件在{step_zh}之后通常当天办结，{left_zh}")
            en.append(
                f"similar applications at {step_en} were usually completed the same working "
                f"day; {left_en}"
            )
        else:
            zh.append(f"同类办件在{step_zh}之后通常还需 {_days(more)} 个工作日，{left_zh}")
            en.append(
                f"similar applications at {step_en} took {_days(more)} more "
                f"{_working_days(more).split(' ', 1)[1]}; {left_en}"
            )
    return zh, en
