"""Versioned schema migrations: named, decorated functions returning plain SQL.

Each migration runs in one transaction together with its row in `schema_migrations`, so a
warehouse is always at exactly one version. Append new migrations at the end; never edit one
that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from warehouse.errors import WarehouseTooNew, rollback


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: list[Migration] = []


def migration(fn: Callable[[], str]) -> Callable[[], str]:
    MIGRATIONS.append(Migration(len(MIGRATIONS) + 1, fn.__name__, fn()))
    return fn


LATEST = 0  # set below, after every migration is registered


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    try:
        rows = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    except duckdb.CatalogException:
        return 0  # a new, empty file
    return int(rows[0][0])


def check_not_newer(version: int, where: str) -> None:
    if version > LATEST:
        raise WarehouseTooNew(
            f"{where} has schema version {version}, but this OneWindow only knows versions up "
            f"to {LATEST}: upgrade OneWindow before opening it"
        )


def migrate(con: duckdb.DuckDBPyConnection, where: str) -> list[str]:
    """Applies every pending migration; returns the names applied."""
    version = schema_version(con)
    check_not_newer(version, where)
    applied = []
    for m in MIGRATIONS[version:]:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(m.sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [m.version, m.name])
            con.execute("COMMIT")
        except Exception:
            rollback(con)
            raise
        applied.append(m.name)
    return applied


@migration
def canonical_schema() -> str:
    # No primary-key indexes: DuckDB's ART indexes made a 10M-event load 8x slower and the
    # file 5x larger; natural keys are enforced by the ETL's classify-then-upsert instead
    # (docs/architecture.md).
    return """
    CREATE TABLE schema_migrations (
        version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL);

    CREATE TABLE matters (
        matter_code VARCHAR NOT NULL, name_zh VARCHAR NOT NULL, name_en VARCHAR,
        department VARCHAR NOT NULL, statutory_limit_days INTEGER, promised_limit_days INTEGER,
        matter_type VARCHAR, max_trips INTEGER, required_materials INTEGER,
        online_capable BOOLEAN, fully_online_capable BOOLEAN,
        file_id BIGINT NOT NULL, source_row BIGINT NOT NULL, run_id BIGINT NOT NULL);

    CREATE TABLE applications (
        application_id VARCHAR NOT NULL, matter_code VARCHAR NOT NULL, channel VARCHAR,
        applicant_type VARCHAR, applicant_key VARCHAR, submitted_at TIMESTAMPTZ,
        accepted_at TIMESTAMPTZ, completed_at TIMESTAMPTZ, result VARCHAR, trips INTEGER,
        materials_submitted INTEGER, deadline_at TIMESTAMPTZ, window_id VARCHAR, staff VARCHAR,
        complete_case BOOLEAN NOT NULL DEFAULT false,
        file_id BIGINT NOT NULL, source_row BIGINT NOT NULL, run_id BIGINT NOT NULL);

    CREATE TABLE events (
        event_key UHUGEINT NOT NULL, application_id VARCHAR NOT NULL, step VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL, lifecycle VARCHAR NOT NULL, started_at TIMESTAMPTZ,
        stage VARCHAR, in_person BOOLEAN NOT NULL DEFAULT false,
        department VARCHAR, window_id VARCHAR, staff VARCHAR,
        file_id BIGINT NOT NULL, source_row BIGINT NOT NULL, run_id BIGINT NOT NULL);

    CREATE TABLE evaluations (
        application_id VARCHAR NOT NULL, rating INTEGER NOT NULL, rated_at TIMESTAMPTZ NOT NULL,
        channel VARCHAR, reason VARCHAR, rectified_at TIMESTAMPTZ,
        file_id BIGINT NOT NULL, source_row BIGINT NOT NULL, run_id BIGINT NOT NULL);

    CREATE TABLE tickets (
        ticket_id VARCHAR NOT NULL, issued_at TIMESTAMPTZ NOT NULL, called_at TIMESTAMPTZ,
        service_start TIMESTAMPTZ, service_end TIMESTAMPTZ, window_id VARCHAR, category VARCHAR,
        outcome VARCHAR,
        file_id BIGINT NOT NULL, source_row BIGINT NOT NULL, run_id BIGINT NOT NULL);

    CREATE TABLE reforms (
        reform_id VARCHAR NOT NULL, name VARCHAR NOT NULL, effective DATE NOT NULL,
        matter_codes VARCHAR[] NOT NULL, control_codes VARCHAR[], description VARCHAR);

    CREATE TABLE calendar (
        day DATE NOT NULL, is_working_day BOOLEAN NOT NULL, source VARCHAR NOT NULL);

    CREATE TABLE etl_runs (
        run_id BIGINT NOT NULL, job VARCHAR NOT NULL, profile VARCHAR,
        started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL,
        status VARCHAR NOT NULL, files INTEGER NOT NULL, failed_files INTEGER NOT NULL,
        rows_read BIGINT NOT NULL, inserted BIGINT NOT NULL, updated BIGINT NOT NULL,
        duplicates BIGINT NOT NULL, quarantined BIGINT NOT NULL, error VARCHAR,
        host VARCHAR, pid INTEGER);

    CREATE TABLE etl_files (
        file_id BIGINT NOT NULL, sha256 VARCHAR NOT NULL, size_bytes BIGINT NOT NULL,
        first_run_id BIGINT NOT NULL);

    CREATE TABLE etl_run_files (
        run_id BIGINT NOT NULL, file_id BIGINT NOT NULL, path VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL, profile VARCHAR NOT NULL, status VARCHAR NOT NULL,
        rows_read BIGINT NOT NULL, loaded BIGINT NOT NULL, duplicates BIGINT NOT NULL,
        quarantined BIGINT NOT NULL, error VARCHAR);

    CREATE TABLE quarantine (
        file_id BIGINT NOT NULL, row_number BIGINT NOT NULL, run_id BIGINT NOT NULL,
        path VARCHAR NOT NULL, table_name VARCHAR NOT NULL, field VARCHAR NOT NULL,
        reason VARCHAR NOT NULL, raw JSON);

    CREATE TABLE etl_conflicts (
        run_id BIGINT NOT NULL, file_id BIGINT NOT NULL, application_id VARCHAR NOT NULL,
        field VARCHAR NOT NULL, kept VARCHAR, other VARCHAR);
    """


@migration
def run_files_profile_hash() -> str:
    # A file is read again when the profile that mapped it changes (a corrected time zone,
    # a new value map), not only when its bytes change.
    return "ALTER TABLE etl_run_files ADD COLUMN profile_hash VARCHAR"


@migration
def reforms_registry() -> str:
    # Reforms come from the config and from the dashboard's reform page: `origin` says which,
    # so a config reload replaces only its own rows; a reform deleted on the page is kept as
    # `deleted` so a reload does not bring it back (etl/reforms.py).
    return """
    ALTER TABLE reforms ADD COLUMN control_departments BOOLEAN DEFAULT false;
    ALTER TABLE reforms ADD COLUMN window_days INTEGER DEFAULT 90;
    ALTER TABLE reforms ADD COLUMN gap_days INTEGER DEFAULT 0;
    ALTER TABLE reforms ADD COLUMN origin VARCHAR DEFAULT 'config';
    ALTER TABLE reforms ADD COLUMN deleted BOOLEAN DEFAULT false;
    """


@migration
def derived_state() -> str:
    # The derived tables (d_facts, d_transitions, d_steps) are created by their first build,
    # from the reference SQL in metrics/facts.py, so their columns cannot drift from it.
    # d_state names the calendar they were computed with; d_pending lists applications whose
    # rows a crash left stale. Readers use the tables only when both say they are current.
    return """
    CREATE TABLE d_state (fingerprint VARCHAR NOT NULL, built_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE d_pending (application_id VARCHAR NOT NULL);
    """


@migration
def event_identity_and_cleaning() -> str:
    # Identical events of one file are distinct events; a profile may map the step record's
    # own number (event_id); runs count per file the rows that repeated an earlier row of the
    # file, the values cleaned of invisible characters and the stored events a complete step
    # list removed. A conflict names its table (matters and tickets have no application).
    return """
    ALTER TABLE events ADD COLUMN event_id VARCHAR;
    ALTER TABLE etl_run_files ADD COLUMN repeated BIGINT DEFAULT 0;
    ALTER TABLE etl_run_files ADD COLUMN cleaned BIGINT DEFAULT 0;
    ALTER TABLE etl_run_files ADD COLUMN removed BIGINT DEFAULT 0;
    ALTER TABLE etl_runs ADD COLUMN repeated BIGINT DEFAULT 0;
    ALTER TABLE etl_runs ADD COLUMN cleaned BIGINT DEFAULT 0;
    ALTER TABLE etl_runs ADD COLUMN removed BIGINT DEFAULT 0;
    ALTER TABLE etl_conflicts ADD COLUMN table_name VARCHAR;
    """


@migration
def risk_scores() -> str:
    # The early-warning scores of the applications open at the data's 'as of' instant, written
    # by the jobs that change them (after each load and after the nightly retrain: etl/scores.py)
    # so that `onewindow report risk` and the dashboard need not read the model back. One row of
    # risk_scoring says what they were computed from; readers use them only when all of it is
    # still what they would compute from (metrics/risk.py, `stored`), else they score live. No
    # personal column: department, window, staff and acceptance are joined from the facts.
    return """
    CREATE TABLE risk_scoring (
        model_sha256 VARCHAR NOT NULL,
        code_version INTEGER NOT NULL,
        calendar VARCHAR NOT NULL,
        generation BIGINT NOT NULL,
        as_of TIMESTAMPTZ NOT NULL,
        as_of_day DATE NOT NULL,
        scored_at TIMESTAMPTZ NOT NULL,
        applications BIGINT NOT NULL
    );
    CREATE TABLE risk_scores (
        application_id VARCHAR NOT NULL,
        step VARCHAR,
        elapsed_workdays DOUBLE,
        due_at TIMESTAMPTZ,
        left_workdays DOUBLE,
        p_late DOUBLE,
        expected_remaining_workdays DOUBLE,
        reason_zh VARCHAR,
        reason_en VARCHAR
    );
    """


LATEST = len(MIGRATIONS)
