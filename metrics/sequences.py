"""Each application's steps in order: the input of variants (metrics/variants.py) and
conformance (metrics/conformance.py).

Events of an application are ordered as for transitions (metrics/facts.py): by timestamp, then
file, then source row, so two events at the same instant keep the order they have in their
export, as process-mining tools order them. Applications are those of the derived facts that
the filters keep (`derived.source`); their events are read from the events table, which holds
the file and row the derived steps do not.
"""

from __future__ import annotations

import duckdb

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.facts import ORDER
from metrics.filters import Filters
from warehouse.sql import Params, merge


def sequences_sql(
    con: duckdb.DuckDBPyConnection, cal: WorkCalendar, filters: Filters, period_day: str
) -> tuple[str, Params]:
    """One row per application the filters keep whose `period_day` (a local day of the
    facts: `last_day`, `accepted_day`) falls in the period: its facts, `steps` (the step names
    in order) and `stages` (the same events' canonical stages, '' where none)."""
    facts, params = derived.source(con, cal, "d_facts", filters)
    period, period_params = filters.days_sql(period_day)
    sql = f"""
        WITH f AS (SELECT * FROM ({facts}) WHERE first_event IS NOT NULL AND {period}),
        s AS (
            SELECT e.application_id, list(step {ORDER}) AS steps,
                list(coalesce(stage, '') {ORDER}) AS stages
            FROM events e WHERE e.application_id IN (SELECT application_id FROM f)
            GROUP BY e.application_id)
        SELECT f.*, s.steps, s.stages FROM f JOIN s USING (application_id)"""
    return sql, merge(params, period_params)
