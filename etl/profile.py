"""Source profiles (TOML): how one source's files map onto the canonical tables.

Validated by Pydantic when loaded; every error names the profile, the key and what was
expected. Every key is documented in docs/profiles.md (tests/test_docs.py checks it).
"""

from __future__ import annotations

import fnmatch
import hashlib
import tomllib
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from etl.canonical import STAGES, TABLES, field_map
from onewindow.config import TimeZoneName, describe_validation

Encoding = Literal["auto", "utf-8", "utf-8-sig", "gb18030", "gbk", "gb2312"]
Stage = Literal["accept", "complete", "suspend", "resume", "correction"]
assert set(STAGES) == set(Stage.__args__)  # type: ignore[attr-defined]


class ProfileError(Exception):
    """A profile that cannot be used."""


class TableSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    files: str
    encoding: Encoding = "auto"
    delimiter: str = ","
    sheet: str | int | None = None
    personal: list[str] = []
    columns: dict[str, str] = {}
    constants: dict[str, str | int | float | bool] = {}
    values: dict[str, dict[str, str]] = {}
    nulls: dict[str, list[str]] = {}
    # Events only: identical rows of one file are distinct events ("keep", as process-mining
    # tools count them) or one event repeated by mistake ("merge").
    identical_rows: Literal["keep", "merge"] = "keep"
    # Events only: each file holds the complete step list of the applications in it, so their
    # stored events that are not in the file are removed.
    complete_step_lists: bool = False

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("delimiter must be a single character, e.g. ',' or '\\t'")
        return value

    def matches(self, path: Path) -> bool:
        return fnmatch.fnmatch(path.name, Path(self.files).name)

    def hidden_columns(self) -> set[str]:
        """Source columns whose values must never be shown: personal ones and the applicant id."""
        hidden = set(self.personal)
        if "applicant_id" in self.columns:
            hidden.add(self.columns["applicant_id"])
        return hidden

    def source_columns(self) -> list[str]:
        return list(dict.fromkeys(self.columns.values()))


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    timezone: TimeZoneName = "Asia/Shanghai"
    complete_cases: bool = False
    tables: dict[
        Literal["matters", "applications", "events", "evaluations", "tickets"], TableSource
    ]
    stages: dict[str, Stage] = {}
    in_person_steps: list[str] = []

    @model_validator(mode="after")
    def _fields_exist(self) -> Self:
        for table, src in self.tables.items():
            known = field_map(table)
            where = f"tables.{table}"
            for key in ("columns", "constants", "values", "nulls"):
                for fname in getattr(src, key):
                    if fname not in known:
                        raise ValueError(
                            f"{where}.{key}.{fname}: not a field of {table} "
                            f"(expected one of {', '.join(known)})"
                        )
            for fname, column in src.columns.items():
                if column in src.personal and fname != "applicant_id":
                    raise ValueError(
                        f"{where}.columns.{fname}: column {column!r} is listed in personal; "
                        "personal data may only be mapped to applicant_id (kept as a keyed hash)"
                    )
            for fname, fdef in known.items():
                needed = fdef.required and not (table == "events" and fname == "matter_code")
                if needed and fname not in src.columns and fname not in src.constants:
                    raise ValueError(f"{where}.columns.{fname}: required field is not mapped")
            if table != "events" and (src.identical_rows != "keep" or src.complete_step_lists):
                raise ValueError(
                    f"{where}: identical_rows and complete_step_lists apply to the events table "
                    "only (other tables merge rows by their key)"
                )
            for fname, mapping in src.values.items():
                choices = known[fname].choices
                for source_value, canonical in mapping.items():
                    if choices and canonical not in choices:
                        raise ValueError(
                            f"{where}.values.{fname}.{source_value}: {canonical!r} is not one of "
                            f"{', '.join(choices)}"
                        )
        return self

    def fingerprint(self) -> str:
        """Changes whenever the mapping changes: a file loaded with another is read again."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def table_for(self, path: Path, *, strict: bool = True) -> str | None:
        """The table whose `files` glob matches this file's name; with strict=False (a file
        named on the command line), a profile of one table takes any file."""
        for table, src in self.tables.items():
            if src.matches(path):
                return table
        if not strict and len(self.tables) == 1:
            return next(iter(self.tables))
        return None


def load_profile(path: Path) -> Profile:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProfileError(f"profile {path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {path}: not valid TOML: {exc}") from exc
    try:
        return Profile(**data)
    except ValidationError as exc:
        raise ProfileError(f"profile {path}: {describe_validation(exc)}") from exc


__all__ = ["TABLES", "Profile", "ProfileError", "TableSource", "load_profile"]
