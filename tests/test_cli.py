"""The command line: exit codes and the exact one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.profile import ProfileError, load_profile
from onewindow.config import ConfigError, load_config
from tests.conftest import run_cli
from tests.fixtures import (
    APPLICATION_HEADER,
    CENTER_PROFILE,
    PROFILES,
    center_exports,
    center_rows,
    write_csv,
    write_profile,
)


def test_load_prints_counts_per_file_and_exits_3_when_a_file_failed(tmp_path: Path) -> None:
    files = center_exports(tmp_path / "in", n=5)
    (tmp_path / "in" / "applications_empty.csv").write_bytes(b"")
    profile = write_profile(tmp_path)
    ran = run_cli("load", tmp_path / "in", "--profile", profile, "--db", tmp_path / "w.duckdb")
    assert ran.code == 3  # published, not complete
    lines = ran.out.splitlines()
    assert lines[0].split() == [
        "file",
        "table",
        "status",
        "read",
        "loaded",
        "duplicate",
        "quarantined",
        "error",
    ]
    assert len(lines) == 2 + 4 + 1 and lines[-1] == "run 1: partial"
    assert any(line.endswith("the file is empty") for line in lines)
    assert len(files) == 3


def test_report_formats(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    apps, _ = center_rows(3)
    apps[0][3] = "soon"
    path = write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps)
    assert run_cli("load", path, "--profile", write_profile(tmp_path), "--db", db).code == 0
    as_json = json.loads(run_cli("report", "quarantine", "--db", db, "--format", "json").out)
    assert [(r["row"], r["field"], r["reason"]) for r in as_json] == [
        (2, "submitted_at", "unparseable timestamp 'soon'")
    ]
    as_csv = run_cli("report", "quarantine", "--db", db, "--format", "csv").out.splitlines()
    assert as_csv[0] == "run_id,file,row,table_name,field,reason,raw_values"
    table = run_cli("report", "jobs", "--db", db, "--from", "2000-01-01").out.splitlines()
    assert table[0].split()[:3] == ["run_id", "job", "profile"] and len(table) == 3
    none = run_cli("report", "jobs", "--db", db, "--to", "2000-01-01").out
    assert none.endswith("(no rows)\n")


@pytest.mark.parametrize(
    "args,code,error",
    [
        (
            ["report", "nope"],
            2,
            "onewindow: unknown report 'nope'; choose one of jobs, quarantine, cases, "
            "transitions, rework, kpis, cards, queue, satisfaction, workload, reforms, flagged, "
            "variants, conformance, risk\n",
        ),
        (
            ["report", "rework", "--by", "staff"],
            2,
            "onewindow: report rework cannot be cut by 'staff'; choose one of none\n",
        ),
        (
            ["report", "queue", "--staff", "staff-01"],
            2,
            "onewindow: report queue cannot be cut by matter, department, channel, window or "
            "staff; use --from and --to\n",
        ),
        (
            ["report", "jobs"],
            1,
            "onewindow: no warehouse at {db}: run `onewindow demo` or `onewindow load` first\n",
        ),
        (
            ["load", "missing.csv", "--profile", str(PROFILES / "receipt.toml")],
            2,
            "onewindow: missing.csv: no such file or folder\n",
        ),
        (
            ["load", "x.csv", "--profile", "nope.toml"],
            1,
            "onewindow: profile nope.toml: file not found\n",
        ),
    ],
)
def test_errors_are_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, error: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("a\n")
    db = tmp_path / "w.duckdb"
    ran = run_cli(*args, "--db", db)
    assert (ran.code, ran.err) == (code, error.format(db=db))


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_cli("load", "x.csv").code == 2  # --profile is required
    assert run_cli("report", "jobs", "--from", "yesterday").code == 2


def test_profile_errors_name_the_profile_and_the_key(tmp_path: Path) -> None:
    unknown = CENTER_PROFILE.replace('name = "center"', 'name = "center"\ncolour = "red"')
    path = write_profile(tmp_path, unknown)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(err.value) == f"profile {path}: colour: unknown key"
    wrong = CENTER_PROFILE.replace('"即办件" = "instant"', '"即办件" = "fast"')
    path = write_profile(tmp_path, wrong, "p1.toml")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(err.value) == (
        f"profile {path}: tables.matters.values.matter_type.即办件: "
        "'fast' is not one of instant, promised"
    )
    unmapped = CENTER_PROFILE.replace('step = "环节名称"\n', "")
    with pytest.raises(
        ProfileError,
        match=r"tables\.events\.columns\.step: required field "
        "is not mapped",
    ):
        load_profile(write_profile(tmp_path, unmapped, "p2.toml"))


def test_config_errors_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "onewindow.toml"
    path.write_text('[center]\ntimezone = "Mars/Olympus"\nwindows = 3\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (
        f"{path}: center.timezone: unknown time zone 'Mars/Olympus'; center.windows: unknown key"
    )
    path.write_text('[calendar]\nholidays = "none"\n[folders]\ninbox = "in"\n', encoding="utf-8")
    monkeypatch.setenv("ONEWINDOW_DB", "/elsewhere/w.duckdb")
    monkeypatch.setenv("ONEWINDOW_CALENDAR__HOLIDAYS", "china")
    config = load_config(path)
    assert config.calendar.holidays == "china"  # the environment overrides the file
    assert config.folders.inbox == tmp_path / "in"  # relative to the config file
    assert config.warehouse_path() == Path("/elsewhere/w.duckdb")
