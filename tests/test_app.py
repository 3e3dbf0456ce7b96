"""The dashboard runs on a real warehouse built by the test (Streamlit AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from etl.profile import Profile
from etl.run import load_files
from tests.fixtures import APPLICATION_HEADER, center_rows, write_csv
from warehouse import Warehouse

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _app(db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("ONEWINDOW_DB", str(db))
    monkeypatch.delenv("ONEWINDOW_CONFIG_FILE", raising=False)
    import ui.data

    ui.data.config.clear()  # type: ignore[attr-defined]
    return AppTest.from_file(APP, default_timeout=30).run()


def test_data_page_shows_runs_and_quarantine(
    tmp_path: Path, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps, _ = center_rows(4)
    apps[0][3] = "soon"
    wh = Warehouse(tmp_path / "w.duckdb")
    load_files(
        wh, [(write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps), center_profile)]
    )
    at = _app(wh.path, monkeypatch)
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["运行次数 · Runs"] == "1"
    assert metrics["隔离行 · Quarantined rows"] == "1"
    held = at.dataframe[1].value
    assert list(held["reason"]) == ["unparseable timestamp 'soon'"]


def test_empty_warehouse_shows_how_to_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path / "none.duckdb", monkeypatch)
    assert not at.exception
    assert "onewindow demo" in at.info[0].value
