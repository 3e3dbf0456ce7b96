"""The Data page's upload box: a file goes through the normal ETL path (etl.run.load_files,
as `onewindow load` does) with a profile the user picks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from etl.profile import load_profile
from etl.run import load_files
from metrics.calendar import WorkCalendar
from onewindow.cli import outcome_frame
from onewindow.config import Config
from onewindow.roles import Perm
from ui import auth
from warehouse import Warehouse

BUNDLED = Path(__file__).resolve().parents[1] / "profiles"


def profiles(config: Config) -> list[Path]:
    """The profiles the inbox job uses, then those shipped in profiles/."""
    listed = [p for p in config.etl.profiles if p.exists()]
    shipped = sorted(BUNDLED.glob("*.toml")) if BUNDLED.is_dir() else []
    return list(dict.fromkeys([*listed, *shipped]))


def load_upload(
    wh: Warehouse, config: Config, name: str, content: bytes, profile: Path
) -> tuple[int, str, pl.DataFrame]:
    """Loads one uploaded file as one run; returns the run id, its status and the per-file
    outcome. The file keeps its name, since profiles match tables by file name."""
    auth.require(Perm.UPLOAD, "upload")
    parsed = load_profile(profile)
    with tempfile.TemporaryDirectory(prefix="onewindow-upload-") as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(content)
        result = load_files(
            wh,
            [(path, parsed)],
            WorkCalendar.from_config(config),
            job="upload",
            secret=config.pseudonym_secret(),
            lock_timeout_s=config.etl.lock_timeout_s,
            settings=config.etl,
            plausibility=config.plausibility,
        )
    auth.audit(
        "upload",
        Path(name).name,
        result.status,
        run=result.run_id,
        bytes=len(content),
        profile=profile.name,
    )
    return result.run_id, result.status, outcome_frame(result)
