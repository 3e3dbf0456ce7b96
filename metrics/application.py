"""One application up close (the dashboard's Application page): its facts, its deadline and
card, and its timeline — every step with its local time, who and where, and the working time
it took by the center's calendar, with the clock that 特别程序 stops. Definitions in
docs/metrics.md ("One application")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.kpis import _last_instant, cards_sql, period_bounds
from metrics.lists import query
from onewindow.config import Config
from warehouse.sql import Params, merge

ONE = timedelta(microseconds=1)


@dataclass(frozen=True)
class Application:
    facts: dict[str, Any]  # the application's row of the facts (metrics/facts.py)
    due_at: datetime | None  # its deadline (as the cards compute it)
    status: str  # red, yellow, open, on_time, late, completed (on-time unknown), not_accepted
    workdays_left: float | None  # while open and with a deadline; negative when overdue
    as_of: datetime  # the instant open figures are counted at
    steps: pl.DataFrame  # the timeline, one row per event, in the facts' order


def find(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    config: Config,
    application_id: str,
    as_of: datetime | None = None,
    filters: Filters | None = None,
) -> Application | None:
    """The application `application_id` among those `filters` keeps by matter, department,
    channel, window and staff (None when there is no such application there), open figures
    counted at `as_of` (default: the data's last event, or now if earlier)."""
    application_id = application_id.strip()
    facts_sql, params = derived.source(con, cal, "d_facts", filters or Filters())
    rows = query(
        con,
        f"SELECT * FROM ({facts_sql}) WHERE application_id = $app",
        params,
        app=application_id,
    ).to_dicts()
    if not rows:
        return None
    facts = rows[0]
    _, _, at = period_bounds(Filters(), cal.zone, as_of or _last_instant(con))
    status, due_at, left = _card(con, cal, config, facts, params, at)
    return Application(facts, due_at, status, left, at, timeline(con, cal, facts))


def _card(
    con: duckdb.DuckDBPyConnection,
    cal: WorkCalendar,
    config: Config,
    facts: dict[str, Any],
    params: Params,
    at: datetime,
) -> tuple[str, datetime | None, float | None]:
    """Status, deadline and working days left, by the cards' own definition (kpis.cards_sql):
    the deadline is computed as at the instant just after acceptance, the card at `at`."""
    accepted, completed = facts["accepted_at"], facts["completed_at"]
    if accepted is None or accepted >= at:
        return "not_accepted", None, None
    facts_sql, _ = derived.source(con, cal, "d_facts", Filters())
    open_cards, card_params = cards_sql(cal, "f", config)
    sql = f"""WITH f AS (SELECT * FROM ({facts_sql}) WHERE application_id = $app)
        SELECT due_at, workdays_left, card FROM ({open_cards})"""
    app = facts["application_id"]
    still_open = completed is None or completed >= at
    # While open, the cards at `at`; once completed, at the instant after acceptance (the
    # deadline does not depend on the instant; the card does).
    card = query(
        con, sql, merge(params, card_params), app=app, as_of=at if still_open else accepted + ONE
    )
    due_at = card["due_at"][0] if card.height else facts["deadline_at"]
    if still_open:
        left = card["workdays_left"][0] if card.height else None
        return (card["card"][0] if card.height else None) or "open", due_at, left
    on_time = facts["on_time"]
    return ("completed" if on_time is None else "on_time" if on_time else "late"), due_at, None


def timeline(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, facts: dict[str, Any]
) -> pl.DataFrame:
    """Every event of the application in the facts' order (time, file, row): its step and
    stage; start and end in local time; department, window, staff; `handling_work_h` (working
    hours from the step's start to its end, when the export gives a start); `work_h` and
    `workdays` (working hours and working days since the previous event: the time the step
    took, waiting included); `clock_workdays`, the working days counted so far as the facts
    count processing time (after the day of acceptance, the suspended ones left out); and
    `clock` — `before` acceptance, `running`, `stopped` (from a 特别程序 suspend to its resume)
    or `done` after completion."""
    zone = cal.zone
    cal.register(con)
    local = "(e.ts AT TIME ZONE $zone)"
    start_local = "(e.started_at AT TIME ZONE $zone)"
    sql = f"""SELECT e.step, e.stage, {start_local} AS started_local, {local} AS ended_local,
            e.department, e.window_id, e.staff, e.in_person, c.wd_index,
            {cal.work_seconds_sql(local, "c")} AS w,
            {cal.work_seconds_sql(start_local, "cs")} AS w_start
        FROM events e
        JOIN ow_calendar c ON c.day = {local}::DATE
        LEFT JOIN ow_calendar cs ON cs.day = {start_local}::DATE
        WHERE e.application_id = $app
        ORDER BY e.ts, e.file_id, e.source_row"""  # the facts' order (metrics.facts.ORDER)
    events = query(con, sql, {"zone": zone}, app=facts["application_id"])
    accepted_wd, completed_wd = facts["accepted_wd"], facts["completed_wd"]
    accepted_local = _local(facts["accepted_at"], zone)
    completed_local = _local(facts["completed_at"], zone)
    rows: list[dict[str, Any]] = []
    state = "before"
    suspended = 0  # working days of finished suspensions
    stopped_at = 0  # wd_index of the open suspension's start
    previous: dict[str, Any] | None = None
    for n, e in enumerate(events.iter_rows(named=True), start=1):
        wd, ended = e["wd_index"], e["ended_local"]
        if state == "before" and accepted_local is not None and ended >= accepted_local:
            state = "running"
        if e["stage"] == "suspend" and state == "running":
            state, stopped_at = "stopped", wd
        elif e["stage"] == "resume" and state == "stopped":
            state, suspended = "running", suspended + wd - stopped_at
        if state != "before" and completed_local is not None and ended >= completed_local:
            state = "done"
        counted = None
        if state != "before" and accepted_wd is not None:
            until = min(wd, completed_wd) if completed_wd is not None else wd
            frozen = suspended + (until - stopped_at if state == "stopped" else 0)
            counted = until - accepted_wd - frozen
        rows.append(
            {
                "seq": n,
                "step": e["step"],
                "stage": e["stage"],
                "started_at": e["started_local"],
                "ended_at": ended,
                "department": e["department"],
                "window_id": e["window_id"],
                "staff": e["staff"],
                "in_person": e["in_person"],
                "handling_work_h": None if e["w_start"] is None else (e["w"] - e["w_start"]) / 3600,
                "work_h": None if previous is None else (e["w"] - previous["w"]) / 3600,
                "workdays": None if previous is None else wd - previous["wd_index"],
                "clock_workdays": counted,
                "clock": state,
            }
        )
        previous = e
    return (
        pl.DataFrame(rows, schema=_SCHEMA, orient="row") if rows else pl.DataFrame(schema=_SCHEMA)
    )


def _local(instant: datetime | None, zone: str) -> datetime | None:
    """An instant as the center's wall-clock time (naive), as the timeline shows times."""
    return None if instant is None else instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "step": pl.String(),
    "stage": pl.String(),
    "started_at": pl.Datetime("us"),
    "ended_at": pl.Datetime("us"),
    "department": pl.String(),
    "window_id": pl.String(),
    "staff": pl.String(),
    "in_person": pl.Boolean(),
    "handling_work_h": pl.Float64(),
    "work_h": pl.Float64(),
    "workdays": pl.Int64(),
    "clock_workdays": pl.Int64(),
    "clock": pl.String(),
}
