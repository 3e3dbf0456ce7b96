"""The project config (`onewindow.toml`), validated by Pydantic; `ONEWINDOW_*` overrides it.

Every key is documented in docs/config.md; tests/test_docs.py fails when one is not.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from metrics.registry import DEFAULT_TARGETS as DEFAULT_KPI_TARGETS
from metrics.registry import KPIS

DEFAULT_DB = Path("data/warehouse.duckdb")
DEFAULT_CONFIG = Path("onewindow.toml")


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


class Center(_Section):
    name: str = "政务服务中心"
    timezone: TimeZoneName = "Asia/Shanghai"
    working_hours: list[str] = ["09:00-12:00", "13:30-17:30"]

    @field_validator("working_hours")
    @classmethod
    def _spans(cls, value: list[str]) -> list[str]:
        for span in value:
            start, sep, end = span.partition("-")
            if not sep or not (_is_hhmm(start) and _is_hhmm(end)) or start >= end:
                raise ValueError(f"working hours {span!r} must look like '09:00-12:00'")
        return value


def _is_hhmm(text: str) -> bool:
    hh, sep, mm = text.partition(":")
    return bool(sep) and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60


class Calendar(_Section):
    holidays: Literal["china", "none"] = "china"
    closed: list[date] = []  # extra closures (e.g. a typhoon day)
    working: list[date] = []  # extra working days


class Folders(_Section):
    inbox: Path = Path("data/inbox")
    archive: Path = Path("data/archive")
    failed: Path = Path("data/failed")
    quarantine: Path = Path("data/quarantine")


class Etl(_Section):
    profiles: list[Path] = []  # profiles the inbox job matches files against
    lock_timeout_s: float = Field(default=3600.0, gt=0)


class JobSchedule(_Section):
    every_minutes: float | None = Field(default=None, gt=0)
    cron: str | None = None

    @field_validator("cron")
    @classmethod
    def _cron_fields(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) != 5:
            raise ValueError(f"cron {value!r} must have 5 fields: minute hour day month weekday")
        return value


class Schedule(_Section):
    inbox: JobSchedule = JobSchedule(every_minutes=5)
    maintenance: JobSchedule = JobSchedule(cron="30 2 * * *")


class Privacy(_Section):
    secret: SecretStr | None = None
    secret_env: str = "ONEWINDOW_SECRET"


class Satisfaction(_Section):
    good_from: int = Field(default=4, ge=3, le=5)  # ratings from this level count as good
    rectify_within_workdays: int = Field(default=10, gt=0)


class Supervision(_Section):
    yellow_workdays: float = Field(default=1.0, ge=0)  # yellow card: this much time left, or less


class Queue(_Section):
    wait_target_min: float = Field(default=30.0, gt=0)


DEFAULT_TARGETS = DEFAULT_KPI_TARGETS  # from the KPI registry (metrics/registry.py)


class Reform(_Section):
    """A reform: the matters it touched from its effective date, and how to evaluate it
    (docs/metrics.md, `reforms`)."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    effective: date
    matters: list[str] = Field(min_length=1)
    # None: every untouched matter; "departments": untouched matters of the touched matters'
    # departments; a list: those matters.
    control: list[str] | Literal["departments"] | None = None
    window_days: int = Field(default=90, gt=0)  # analysis window on each side of the date
    gap_days: int = Field(default=0, ge=0)  # days left out on each side of the date
    description: str | None = None

    @model_validator(mode="after")
    def _control_untouched(self) -> Reform:
        if isinstance(self.control, list):
            both = sorted(set(self.control) & set(self.matters))
            if both:
                raise ValueError(f"control matters {', '.join(both)} are also touched")
            if not self.control:
                raise ValueError("control must name at least one matter (or be left out)")
        return self


class Config(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ONEWINDOW_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    db: Path | None = None
    center: Center = Center()
    calendar: Calendar = Calendar()
    folders: Folders = Folders()
    etl: Etl = Etl()
    schedule: Schedule = Schedule()
    privacy: Privacy = Privacy()
    targets: dict[str, float] = DEFAULT_TARGETS
    satisfaction: Satisfaction = Satisfaction()
    supervision: Supervision = Supervision()
    queue: Queue = Queue()
    reforms: list[Reform] = []

    @field_validator("targets")
    @classmethod
    def _known_kpis(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(KPIS))
        if unknown:
            raise ValueError(f"no KPI named {', '.join(unknown)} (see docs/metrics.md)")
        return {**DEFAULT_TARGETS, **value}

    @field_validator("reforms")
    @classmethod
    def _unique_reforms(cls, value: list[Reform]) -> list[Reform]:
        ids = [r.id for r in value]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"reform id {', '.join(twice)} is declared more than once")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file, which is passed in as init values.
        return env_settings, init_settings

    def pseudonym_secret(self) -> bytes | None:
        if self.privacy.secret is not None:
            return self.privacy.secret.get_secret_value().encode()
        value = os.environ.get(self.privacy.secret_env)
        return value.encode() if value else None

    def warehouse_path(self, cli_db: Path | None = None) -> Path:
        """--db, else ONEWINDOW_DB, else the file's `db`, else data/warehouse.duckdb."""
        return cli_db or self.db or DEFAULT_DB


_PATH_KEYS = {
    ("db",),
    ("folders", "inbox"),
    ("folders", "archive"),
    ("folders", "failed"),
    ("folders", "quarantine"),
}


def load_config(path: Path | None = None) -> Config:
    """Reads `path` (or ./onewindow.toml when present); relative paths in it are relative to it."""
    if path is None:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: config file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        _anchor_paths(data, path.parent)
    try:
        return Config(**data)
    except ValidationError as exc:
        raise ConfigError(f"{path or 'environment'}: {describe_validation(exc)}") from exc


def _anchor_paths(data: dict[str, Any], base: Path) -> None:
    for keys in _PATH_KEYS:
        holder: Any = data
        for key in keys[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(holder.get(keys[-1]), str):
            holder[keys[-1]] = str(base / holder[keys[-1]])
    etl = data.get("etl")
    if isinstance(etl, dict) and isinstance(etl.get("profiles"), list):
        etl["profiles"] = [str(base / p) if isinstance(p, str) else p for p in etl["profiles"]]


def describe_validation(exc: ValidationError) -> str:
    """One line per problem: the dotted key and what was expected."""
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{key}: {msg}" if key else msg)
    return "; ".join(parts)
