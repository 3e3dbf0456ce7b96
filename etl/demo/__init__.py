"""The demo service center: realistic exports with planted, documented effects, loaded through
the normal ETL path (the demo is the ETL's first user, not a shortcut around it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from etl.demo.catalog import MATTERS
from etl.demo.export import write_exports
from etl.demo.generate import generate
from etl.profile import load_profile
from etl.progress import Progress
from etl.reforms import Update
from etl.run import RunResult, load_files
from metrics.calendar import WorkCalendar
from onewindow.config import Etl, Reform
from warehouse import Warehouse

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "demo.toml"
CONFIG = "onewindow.toml"  # the demo center's config, beside its exports
PROCEDURE_KEYS = ("required", "optional", "repeatable", "end", "after_end")
DEFAULT_APPLICATIONS = 40_000
DEFAULT_MONTHS = 24


def write_demo(
    out: Path, *, seed: int, applications: int, months: int, end: date, center: int = 0
) -> list[Path]:
    """Writes the exports and truth.json into `out`; returns the export files. `center`
    numbers a province's demo centers: each plants its effects elsewhere (Plan.for_period)
    and has its own application ids."""
    region = "4412" if center == 0 else f"44{20 + center:02d}"
    demo = generate(seed, applications, months, end, variant=center, region=region)
    files = write_exports(demo, out, end)
    write_config(out / CONFIG, demo.truth["skipped_review"]["procedure"])
    return files


def write_config(path: Path, procedure: dict[str, Any]) -> Path:
    """The demo center's config: its matters' reference procedure as their 办事指南 publishes
    it (`[[procedures]]`, docs/config.md), so `conformance` checks them against it rather than
    the stage order. `onewindow --config PATH` (scripts/serve does) reads it."""
    lines = [
        "# The demo center's config, written by `onewindow demo` (docs/demo.md).",
        "# Every demo matter follows the procedure its 办事指南 publishes.",
        "",
        "[[procedures]]",
        f"matters = {_toml([m.code for m in MATTERS])}",
        *(f"{key} = {_toml(procedure[key])}" for key in PROCEDURE_KEYS if key in procedure),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: object) -> str:
    """A string or a list of strings as TOML (a JSON string is a TOML basic string)."""
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class CenterSpec:
    name: str
    seed: int
    applications: int


CITIES = ("肇庆", "广州", "深圳", "佛山", "东莞", "中山", "江门", "湛江", "汕头", "韶关")


def centers(n: int, seed: int, applications: int | None) -> list[CenterSpec]:
    """A province of n demo centers: different names, seeds and sizes (the first the size
    asked for, the others from half to one and a half times it)."""
    if n < 1:
        raise ValueError("--centers must be at least 1")
    size = applications or DEFAULT_APPLICATIONS
    specs = []
    for i in range(n):
        city = CITIES[i % len(CITIES)] + (str(i // len(CITIES) + 1) if i >= len(CITIES) else "")
        scale = 1.0 if i == 0 else 0.5 + (i * 0.37) % 1.0
        specs.append(
            CenterSpec(f"{city}市政务服务中心", seed + 101 * i, max(50, int(size * scale)))
        )
    return specs


# The demo's people are made up: its secret may be known. Real loads need a configured one.
DEMO_SECRET = b"onewindow-demo-center"


def load_demo(
    wh: Warehouse,
    files: list[Path],
    *,
    secret: bytes | None,
    progress: Progress | None = None,
    calendar: WorkCalendar,
    config_reforms: Sequence[Reform] = (),
    settings: Etl | None = None,
) -> RunResult:
    """Loads the exports; the same run registers the reforms truth.json says were planted
    (beside the exports) and syncs the config's."""
    profile = load_profile(PROFILE)
    truth = files[0].parent / "truth.json" if files else None
    planted = planted_reforms(truth) if truth is not None and truth.exists() else ()
    return load_files(
        wh,
        [(f, profile) for f in files],
        job="demo",
        secret=secret or DEMO_SECRET,
        progress=progress,
        calendar=calendar,
        reforms=Update(config=tuple(config_reforms), save=planted, origin="demo"),
        settings=settings,
    )


def planted_reforms(truth: Path) -> tuple[Reform, ...]:
    """The reforms of a truth.json, as the registry stores them. When every touched matter can
    be done online, the control is the untouched matters that can too: the demo's drift toward
    online moves only those, and parallel trends needs controls that share the drift
    (docs/demo.md)."""
    data = json.loads(truth.read_text(encoding="utf-8"))
    online = {m.code for m in MATTERS if m.online}
    planted = []
    for r in data["reforms"]:
        touched = set(r["matters"])
        control = sorted(online - touched) if touched <= online else None
        planted.append(
            Reform(
                id=r["id"],
                name=r["name"],
                effective=date.fromisoformat(r["effective"]),
                matters=r["matters"],
                control=control,
                # The registry holds one description: both languages, as the names have them.
                description=f"{r['planted_zh']} / {r['planted']}",
            )
        )
    return tuple(planted)
