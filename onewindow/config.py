"""The project config (`onewindow.toml`), validated by Pydantic; `ONEWINDOW_*` overrides it.

Every key is documented in docs/config.md; tests/test_docs.py fails when one is not.
"""

from __future__ import annotations

import os
import re
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


def _duckdb_size(value: str | None) -> str | None:
    """A DuckDB memory size such as '1GB', '512MB' or '80%'; checked here so a typo is a config
    error, not a failed run."""
    if value is None:
        return None
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(%|[KMGT]i?B|bytes)?\s*", value, re.I):
        raise ValueError(f"{value!r} is not a memory size such as '1GB', '512MB' or '50%'")
    return value.strip()


class Etl(_Section):
    profiles: list[Path] = []  # profiles the inbox job matches files against
    lock_timeout_s: float = Field(default=3600.0, gt=0)
    # DuckDB's memory for staging, applying and the derived tables; beyond it DuckDB spills to
    # the warehouse folder (docs/config.md). Bounded by default: a load runs beside the dashboard
    # (DuckDB's own default is 80 % of the machine's RAM; "80%" asks for it).
    memory_limit: Annotated[str | None, AfterValidator(_duckdb_size)] = "2GB"
    threads: int | None = Field(default=None, gt=0)
    # A workbook is checked before it is read (etl/xlsx_guard.py); a sheet larger than
    # excel_whole_sheet_mb is read a row at a time (etl/xlsx.py).
    excel_max_uncompressed_mb: float = Field(default=2048.0, gt=0)
    excel_max_ratio: float = Field(default=100.0, gt=1)
    excel_whole_sheet_mb: float = Field(default=100.0, ge=0)


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
    secret_file: Path | None = None  # a file outside the data folder holding the secret
    archive: Literal["without_personal", "none"] = "without_personal"


class Security(_Section):
    """Accounts, sessions and the audit trail (docs/security.md)."""

    password_min_length: int = Field(default=12, ge=8)
    password_classes: int = Field(default=3, ge=1, le=4)  # of lower, upper, digit, symbol
    max_failures: int = Field(default=5, ge=1)  # failed logins in a row that lock an account
    lockout_minutes: float = Field(default=30.0, gt=0)
    idle_minutes: float = Field(default=30.0, gt=0)
    audit_retention_days: int = Field(default=180, ge=180)  # 等保 2.0: at least six months
    address: str = "127.0.0.1"  # where `onewindow serve` listens
    upload_max_mb: int = Field(default=50, gt=0)


class SsoRule(_Section):
    """Users whose ID token's claim holds `value` get these roles (and scope)."""

    value: str = Field(min_length=1)
    roles: list[str] = Field(min_length=1)
    departments: list[str] = []
    windows: list[str] = []

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        from onewindow.roles import check_roles

        check_roles(value)
        return value


class Sso(_Section):
    """Single sign-on through OpenID Connect (st.login); unknown users get no access."""

    claim: str = "groups"
    map: list[SsoRule] = []


class Smtp(_Section):
    """The mail server alerts and the monthly report are sent through."""

    host: str | None = None  # unset: no e-mail
    port: int = Field(default=465, gt=0, lt=65536)
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str | None = None
    password_env: str = "ONEWINDOW_SMTP_PASSWORD"  # environment variable holding the password
    sender: str = "onewindow@localhost"
    timeout_s: float = Field(default=20.0, gt=0)


class Webhook(_Section):
    """A group robot (企业微信, 钉钉, 飞书) or a generic JSON receiver."""

    name: str = Field(min_length=1)
    kind: Literal["wecom", "dingtalk", "feishu", "json"]
    # The full address, including its key or token; private instances (政务微信, 浙政钉 …)
    # have their own host. Prefer url_env for an address that holds a token.
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None  # DingTalk's and Feishu's signing secret
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _one_address(self) -> Webhook:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"webhook {self.name!r} needs exactly one of url and url_env")
        return self


class Subscription(_Section):
    """A user's alerts: new yellow and red cards of their scope, and the morning digest."""

    user: str = Field(min_length=1)
    email: str | None = None
    webhook: str | None = None  # the name of an [[alerts.webhooks]] entry
    new_cards: bool = True
    digest: bool = True
    lang: Literal["zh", "en"] = "zh"

    @field_validator("email")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and (value.count("@") != 1 or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


class Alerts(_Section):
    """Electronic supervision alerts (docs/alerts.md)."""

    digest_times: list[str] = ["08:30"]  # local times of the morning digest, on working days
    quiet_hours: str | None = "20:00-08:00"  # nothing is sent in this span (local time)
    attempts: int = Field(default=3, ge=1)  # tries per delivery in one job run
    backoff_s: float = Field(default=5.0, ge=0)  # wait before the 2nd try; doubled for each next
    retry_hours: float = Field(default=24.0, gt=0)  # later runs retry a failed delivery this long
    link_base: str = "http://127.0.0.1:8501"  # the dashboard's address, for links to applications
    max_listed: int = Field(default=20, gt=0)  # applications listed in one message
    # The monthly report: written on the first working day of each month at this local time
    # into `monthly_folder`, and e-mailed to every director with an e-mail subscription.
    monthly_time: str | None = "07:30"
    monthly_folder: Path = Path("data/reports")
    smtp: Smtp = Smtp()
    webhooks: list[Webhook] = []
    subscriptions: list[Subscription] = []

    @field_validator("digest_times")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        for t in value:
            if not _is_hhmm(t):
                raise ValueError(f"digest time {t!r} must look like '08:30'")
        return value

    @field_validator("monthly_time")
    @classmethod
    def _monthly_time(cls, value: str | None) -> str | None:
        if value is not None and not _is_hhmm(value):
            raise ValueError(f"monthly time {value!r} must look like '07:30'")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value == "":
            return None
        if value is not None:
            start, sep, end = value.partition("-")
            if not sep or not (_is_hhmm(start) and _is_hhmm(end)) or start == end:
                raise ValueError(f"quiet hours {value!r} must look like '20:00-08:00'")
        return value

    @model_validator(mode="after")
    def _known_webhooks(self) -> Alerts:
        names = [w.name for w in self.webhooks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"webhook {', '.join(twice)} is declared more than once")
        for s in self.subscriptions:
            if s.webhook is not None and s.webhook not in names:
                raise ValueError(f"subscription of {s.user!r} names no webhook {s.webhook!r}")
        return self


class Satisfaction(_Section):
    good_from: int = Field(default=4, ge=3, le=5)  # ratings from this level count as good
    rectify_within_workdays: int = Field(default=10, gt=0)


class Supervision(_Section):
    yellow_workdays: float = Field(default=1.0, ge=0)  # yellow card: this much time left, or less


class Queue(_Section):
    wait_target_min: float = Field(default=30.0, gt=0)


class Report(_Section):
    # TrueType font (or collection) with CJK glyphs for the monthly report's PDF.
    font: Path = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


class Plausibility(_Section):
    """Times that cannot be true: such event rows are quarantined, such applications flagged
    (docs/config.md)."""

    earliest: date = date(2000, 1, 1)  # an instant before this day is a typo or a placeholder
    future_tolerance_hours: float = Field(default=24.0, ge=0)  # clock skew, late time zones
    # An event before its application's submission by more than this is held back.
    before_submission_hours: float = Field(default=24.0, ge=0)
    # An event after its application's completion by more than this is held back; delivery and
    # pick-up steps (送达, 领证) follow completion by days or weeks.
    after_completion_days: float = Field(default=90.0, ge=0)


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


class Procedure(_Section):
    """A matter's reference procedure, from its 办事指南 (docs/metrics.md, `conformance`):
    steps as the events name them."""

    matters: list[str] = Field(min_length=1)  # matter codes that follow it
    required: list[str] = Field(min_length=1)  # in their order
    optional: list[str] = []  # may occur, anywhere before the end
    repeatable: list[str] = []  # may occur more than once
    end: str | None = None  # the step that ends it; default the last required step
    after_end: list[str] = []  # may follow the end (送达, 领证)

    @model_validator(mode="after")
    def _consistent(self) -> Procedure:
        known = set(self.required) | set(self.optional)
        if len(set(self.required)) != len(self.required):
            raise ValueError("a required step is listed twice")
        both = sorted(set(self.required) & set(self.optional))
        if both:
            raise ValueError(f"steps {', '.join(both)} are both required and optional")
        stray = sorted(set(self.repeatable) - known - set(self.after_end))
        if stray:
            raise ValueError(f"repeatable steps {', '.join(stray)} are not in the procedure")
        if self.end is not None and self.end not in known:
            raise ValueError(f"end step {self.end!r} is neither required nor optional")
        if set(self.after_end) & known:
            raise ValueError("after_end steps cannot also be required or optional")
        return self

    @property
    def end_step(self) -> str:
        return self.end or self.required[-1]


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
    security: Security = Security()
    sso: Sso = Sso()
    targets: dict[str, float] = DEFAULT_TARGETS
    satisfaction: Satisfaction = Satisfaction()
    supervision: Supervision = Supervision()
    queue: Queue = Queue()
    report: Report = Report()
    plausibility: Plausibility = Plausibility()
    alerts: Alerts = Alerts()
    reforms: list[Reform] = []
    procedures: list[Procedure] = []

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

    @field_validator("procedures")
    @classmethod
    def _one_procedure_per_matter(cls, value: list[Procedure]) -> list[Procedure]:
        codes = [m for p in value for m in p.matters]
        twice = sorted({m for m in codes if codes.count(m) > 1})
        if twice:
            raise ValueError(f"matter {', '.join(twice)} has more than one procedure")
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
        """The configured secret: `privacy.secret`, else the environment variable, else the
        file `privacy.secret_file`; None when none is set."""
        if self.privacy.secret_file is not None:
            self._outside_data(self.privacy.secret_file)
        if self.privacy.secret is not None:
            return self.privacy.secret.get_secret_value().encode()
        value = os.environ.get(self.privacy.secret_env)
        if value:
            return value.encode()
        if self.privacy.secret_file is not None:
            try:
                text = self.privacy.secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"privacy.secret_file: cannot read {self.privacy.secret_file} ({exc.strerror})"
                ) from None
            return text.encode() if text else None
        return None

    def _outside_data(self, path: Path) -> None:
        """A secret kept with the data would leave in every backup with the hashes it keys."""
        target = path.absolute()
        folders = [self.warehouse_path().absolute().parent]
        folders += [
            f.absolute()
            for f in (
                self.folders.inbox,
                self.folders.archive,
                self.folders.failed,
                self.folders.quarantine,
            )
        ]
        for folder in folders:
            if target.is_relative_to(folder):
                raise ConfigError(
                    f"privacy.secret_file: {path} is inside the data folder {folder}; keep the "
                    "secret outside it (docs/security.md)"
                )

    def warehouse_path(self, cli_db: Path | None = None) -> Path:
        """--db, else ONEWINDOW_DB, else the file's `db`, else data/warehouse.duckdb."""
        return cli_db or self.db or DEFAULT_DB


_PATH_KEYS = {
    ("db",),
    ("folders", "inbox"),
    ("folders", "archive"),
    ("folders", "failed"),
    ("folders", "quarantine"),
    ("privacy", "secret_file"),
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
