"""The docs are part of the product: every report, config key and profile key is documented."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from etl.canonical import TABLES
from etl.profile import Profile, TableSource
from metrics.reports import REPORTS
from onewindow.config import Config

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key a user can set: leaves, and lists of tables (e.g. [[reforms]]) with theirs."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        nested = [
            c
            for c in getattr(annotation, "__args__", (annotation,))
            if isinstance(c, type) and issubclass(c, BaseModel)
        ]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested = [annotation]
        else:
            keys.append(key)
        for candidate in nested:
            keys += _keys(candidate, key + ".")
    return keys


def test_every_report_is_documented() -> None:
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    missing = [name for name in REPORTS if not re.search(rf"^### `{name}`", text, re.M)]
    assert missing == []


def test_every_config_key_is_documented() -> None:
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    missing = [key for key in _keys(Config) if f"| `{key}` |" not in text]
    assert missing == []


def test_every_profile_key_and_canonical_field_is_documented() -> None:
    text = (DOCS / "profiles.md").read_text(encoding="utf-8")
    missing = [k for k in Profile.model_fields if f"| `{k}` |" not in text]
    missing += [k for k in TableSource.model_fields if f"| `{k}` |" not in text]
    for table, fields in TABLES.items():
        section = text.split(f"### {table}", 1)[1].split("\n### ", 1)[0]
        missing += [f"{table}.{f.name}" for f in fields if f"`{f.name}`" not in section]
    assert missing == []


def test_the_readme_gives_exactly_two_setup_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(
        r"```(?:sh|bash)\n(.*?)```", readme.split("## Set-up", 1)[1].split("\n## ", 1)[0], re.S
    )
    assert [b.strip() for b in blocks] == ["bash scripts/serve", "bash scripts/test"]
    ci = (DOCS.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test" in ci


def test_every_kpi_has_its_generated_row_and_wording() -> None:
    """The KPI table of docs/metrics.md is the registry's (python -m metrics.registry), and
    every KPI reads in both languages; a KPI the reform analysis measures has its sentence
    wording in both."""
    from metrics.registry import REGISTRY, docs_block, stored_block

    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert stored_block(text) == docs_block(), "run python -m metrics.registry"
    missing = [k.name for k in REGISTRY if f"| `{k.name}` | {k.zh} | {k.en} |" not in text]
    assert missing == []
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for k in REGISTRY:
        assert cjk.search(k.zh) and k.en.strip() and not cjk.search(k.en), k.name
        if k.measure is not None:
            assert k.wording is not None, k.name
            assert cjk.search(k.wording.zh) and k.wording.en.strip(), k.name
