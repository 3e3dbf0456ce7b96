"""Early-warning scores stored by the jobs that change them (docs/metrics.md, `risk`).

The probability that an open application completes late, its expected working days and the
reason in words change when the data changes (a load) or the model does (the nightly
retrain). So each successful run, and the retrain after it, scores every open application
with the stored model and writes the scores into both copies of the warehouse (`risk_scores`,
with what they were computed from in `risk_scoring`): `onewindow report risk` and the
dashboard then read them instead of reading the model back, which imports scikit-learn
(BENCHMARKS.md, issue 16). A reader checks that they are still current and otherwise scores
live (metrics/risk.py, `stored`), so scores left behind by a failure are never served.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import duckdb

from metrics.calendar import WorkCalendar
from warehouse import Resources, Warehouse, Writer, sql

if TYPE_CHECKING:
    from metrics.risk import Scoring

log = logging.getLogger("onewindow.risk")


def after_run(writer: Writer, calendar: WorkCalendar) -> None:
    """After a run was published, while its writer still holds the lock: the scores of the
    data it published. Never fails the run: without current scores, readers score live."""
    try:
        store(writer, calendar)
    except Exception as exc:  # the run is published and complete; only the shortcut is lost
        log.warning("early-warning scores not stored (reports score live): %s", exc)


def after_retrain(
    wh: Warehouse,
    calendar: WorkCalendar,
    lock_timeout_s: float = 3600.0,
    resources: Resources | None = None,
) -> None:
    """After the nightly retrain: the scores of the new model, under the ETL's lock."""
    from etl.apply import apply_delta

    try:
        with wh.writer(apply_delta, lock_timeout_s, resources) as writer:
            store(writer, calendar)
    except Exception as exc:  # the model is stored; readers score live with it meanwhile
        log.warning("early-warning scores not stored (reports score live): %s", exc)


def store(writer: Writer, calendar: WorkCalendar) -> Scoring | None:
    """Scores every open application of the published copy with the stored model and writes
    the scores into both copies; None (nothing written) when no usable model is stored."""
    from metrics import risk  # reads the model back: scikit-learn, only in the jobs

    with writer.wh.read() as con:
        scoring = risk.scores_now(con, calendar)
    if scoring is None:
        log.info("no early-warning model stored yet: scores not stored")
        return None
    writer.rewrite(functools.partial(_write, scoring=scoring))
    log.info("early-warning scores stored: %d open applications", scoring.scores.height)
    return scoring


def _write(con: duckdb.DuckDBPyConnection, scoring: Scoring) -> None:
    con.execute("DELETE FROM risk_scores")
    con.execute("DELETE FROM risk_scoring")
    con.register("risk_scored", scoring.scores)
    try:
        con.execute("INSERT INTO risk_scores BY NAME SELECT * FROM risk_scored")
    finally:
        con.unregister("risk_scored")
    sql.execute(
        con,
        """INSERT INTO risk_scoring VALUES ($model_sha256, $code_version, $calendar,
            $generation, $as_of, ($as_of::TIMESTAMPTZ AT TIME ZONE $zone)::DATE, $scored_at,
            $applications)""",
        {
            "model_sha256": scoring.model_sha256,
            "code_version": scoring.code_version,
            "calendar": scoring.calendar,
            "generation": scoring.generation,
            "as_of": scoring.as_of,
            "zone": scoring.zone,
            "scored_at": scoring.scored_at,
            "applications": scoring.scores.height,
        },
    )
