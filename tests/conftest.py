from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from etl.profile import Profile, load_profile
from onewindow import cli
from tests.fixtures import RECEIPT, write_profile
from warehouse import Warehouse

TEST_SECRET = "test-pseudonymization-secret"


@pytest.fixture(autouse=True)
def pseudonym_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """Tests load as a real center does, with the secret configured in the environment (a load
    that maps applicant_id is refused without one: tests/test_pii.py)."""
    monkeypatch.setenv("ONEWINDOW_SECRET", TEST_SECRET)
    return TEST_SECRET


@dataclass
class Ran:
    code: int
    out: str
    err: str


def run_cli(*args: str | Path) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli_run() -> Callable[..., Ran]:
    return run_cli


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "wh" / "warehouse.duckdb")


@pytest.fixture
def center_profile(tmp_path: Path) -> Profile:
    return load_profile(write_profile(tmp_path))


@pytest.fixture(scope="session")
def receipt() -> Path:
    if not RECEIPT.exists():
        pytest.skip(f"the shared real log is absent: {RECEIPT} (CI always has ../shared)")
    return RECEIPT


def demo_center(out: Path, seed: int, applications: int, months: int) -> Path:
    """`onewindow demo` ending 2026-11-24: exports in OUT/exports, the warehouse returned."""
    ran = run_cli(
        "demo",
        "--seed",
        str(seed),
        "--applications",
        str(applications),
        "--months",
        str(months),
        "--end",
        "2026-11-24",
        "--out",
        out / "exports",
        "--db",
        out / "w.duckdb",
    )
    assert ran.code == 0, ran.err
    return out / "w.duckdb"


def python_subprocess(code: str, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], **kwargs)  # type: ignore[call-overload]


def demo_app(
    db: Path, monkeypatch: pytest.MonkeyPatch, roles: str, departments: str = ""
) -> AppTest:
    """The dashboard on `db` as the demo mode signs it in (ui/auth.py) with `roles` (and, for
    a supervisor, `departments`), not yet run; the cached config is read afresh."""
    import ui.data

    monkeypatch.setenv("ONEWINDOW_DB", str(db))
    monkeypatch.delenv("ONEWINDOW_CONFIG_FILE", raising=False)
    monkeypatch.setenv("ONEWINDOW_AUTH", "demo")
    monkeypatch.setenv("ONEWINDOW_DEMO_ROLES", roles)
    monkeypatch.setenv("ONEWINDOW_DEMO_DEPARTMENTS", departments)
    ui.data.config.clear()
    return AppTest.from_file(
        str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120
    )
