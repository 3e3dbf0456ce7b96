"""The canonical tables' fields as the ETL sees them: type, whether required, allowed values.

The meanings are those of ../shared/spec/domain.md; docs/profiles.md lists them for users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "timestamp", "int", "bool", "rating", "enum"]
TableName = Literal["matters", "applications", "events", "evaluations", "tickets"]

CHANNELS = ("window", "online", "mobile", "kiosk", "mail", "other")
STAGES = ("accept", "complete", "suspend", "resume", "correction")


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = False
    choices: tuple[str, ...] = ()


def _f(name: str, kind: Kind = "text", required: bool = False, *choices: str) -> Field:
    return Field(name, kind, required, tuple(choices))


APPLICATION_FIELDS = (
    _f("application_id", "text", True),
    _f("matter_code", "text", True),
    _f("channel", "enum", False, *CHANNELS),
    _f("applicant_type", "enum", False, "person", "enterprise"),
    _f("applicant_id", "text"),  # never stored: becomes applicant_key, a keyed hash
    _f("submitted_at", "timestamp"),
    _f("accepted_at", "timestamp"),
    _f("completed_at", "timestamp"),
    _f("result", "enum", False, "approved", "refused", "withdrawn", "other"),
    _f("trips", "int"),
    _f("materials_submitted", "int"),
    _f("deadline_at", "timestamp"),
    _f("window_id"),
    _f("staff"),
)

EVENT_FIELDS = (
    _f("application_id", "text", True),
    _f("step", "text", True),
    _f("timestamp", "timestamp", True),
    _f("started_at", "timestamp"),
    _f("lifecycle", "enum", False, "start", "complete"),
    _f("department"),
    _f("window_id"),
    _f("staff"),
    _f("event_id"),  # the step record's own number (环节流水号): then the event's key
)

# Application fields a flat event log may carry on every row (taken per application).
EVENT_APPLICATION_FIELDS = tuple(
    f for f in APPLICATION_FIELDS if f.name not in {"application_id", "window_id", "staff"}
)

TABLES: dict[str, tuple[Field, ...]] = {
    "matters": (
        _f("matter_code", "text", True),
        _f("name_zh", "text", True),
        _f("name_en"),
        _f("department", "text", True),
        _f("statutory_limit_days", "int"),
        _f("promised_limit_days", "int"),
        _f("matter_type", "enum", False, "instant", "promised"),
        _f("max_trips", "int"),
        _f("required_materials", "int"),
        _f("online_capable", "bool"),
        _f("fully_online_capable", "bool"),
    ),
    "applications": APPLICATION_FIELDS,
    "events": EVENT_FIELDS
    + tuple(Field(f.name, f.kind, False, f.choices) for f in EVENT_APPLICATION_FIELDS),
    "evaluations": (
        _f("application_id", "text", True),
        _f("rating", "rating", True),
        _f("rated_at", "timestamp", True),
        _f("channel", "enum", False, *CHANNELS),
        _f("reason"),
        _f("rectified_at", "timestamp"),
    ),
    "tickets": (
        _f("ticket_id", "text", True),
        _f("issued_at", "timestamp", True),
        _f("called_at", "timestamp"),
        _f("service_start", "timestamp"),
        _f("service_end", "timestamp"),
        _f("window_id"),
        _f("category"),
        _f("outcome", "enum", False, "served", "no_show"),
    ),
}

# Columns stored per table, as the warehouse schema has them (bookkeeping columns file_id,
# source_row and run_id come on top). applicant_id is stored only as applicant_key.
COLUMNS: dict[str, tuple[str, ...]] = {
    "matters": tuple(f.name for f in TABLES["matters"]),
    "applications": tuple(
        "applicant_key" if f.name == "applicant_id" else f.name for f in APPLICATION_FIELDS
    ),
    "events": (
        "event_key",
        "application_id",
        "step",
        "ts",
        "lifecycle",
        "started_at",
        "stage",
        "in_person",
        "department",
        "window_id",
        "staff",
        "event_id",
    ),
    "evaluations": tuple(f.name for f in TABLES["evaluations"]),
    "tickets": tuple(f.name for f in TABLES["tickets"]),
}

# Application fields a flat event log fills in (first non-null value in event order wins).
DERIVED_FIELDS: tuple[str, ...] = tuple(
    "applicant_key" if f.name == "applicant_id" else f.name for f in EVENT_APPLICATION_FIELDS
)

# Natural keys: a row whose key is already stored is a duplicate (same values) or a correction.
KEYS: dict[str, tuple[str, ...]] = {
    "matters": ("matter_code",),
    "applications": ("application_id",),
    "events": ("event_key",),
    "evaluations": ("application_id", "rated_at"),
    "tickets": ("ticket_id", "issued_at"),
}

# What etl_conflicts.application_id holds for each table: the record's own key column.
RECORD_LABEL: dict[str, str] = {
    "matters": "matter_code",
    "applications": "application_id",
    "events": "application_id",
    "evaluations": "application_id",
    "tickets": "ticket_id",
}

# Load order inside a run: what others refer to comes first.
LOAD_ORDER: tuple[str, ...] = ("matters", "applications", "events", "evaluations", "tickets")


def field_map(table: str) -> dict[str, Field]:
    return {f.name: f for f in TABLES[table]}
