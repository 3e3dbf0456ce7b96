"""Every page of the dashboard, in both languages, as a person opens it: the real server
(`onewindow serve`) on a small demo center, headless Chromium, one browser for the session.

Each page and language is screenshotted to tests/artifacts/browser/<slug>-<lang>.png before
the checks, so a failure leaves its picture. Deselect with `-m "not browser"`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    EVERY_PAGE,
    VIEWPORT,
    foreign,
    page_url,
    serve,
    wait_rendered,
)
from tests.conftest import run_cli
from ui.nav import PAGES, PageSpec

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "browser"
LANGS = ("zh", "en")


class Served(NamedTuple):
    base: str  # http://localhost:PORT
    db: Path
    log: Path  # the server's output, shown with a failing test


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the session, on a demo center small enough to build in seconds."""
    tmp = tmp_path_factory.mktemp("browser")
    db = tmp / "w.duckdb"
    ran = run_cli(
        "demo", "--applications", "3000", "--months", "14", "--out", tmp / "exports", "--db", db
    )
    assert ran.code == 0, ran.err
    config = tmp / "onewindow.toml"  # empty: a developer's own onewindow.toml stays out
    config.write_text("", encoding="utf-8")
    with serve(db, config, tmp / "server.log", extra_env=EVERY_PAGE) as base:
        yield Served(base, db, tmp / "server.log")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium: Playwright's own browser cannot be downloaded here."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: `bash scripts/install --dev` installs it")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture
def requested(context: BrowserContext, page: Page) -> list[str]:
    """Every URL the browser asks for while the test runs, websockets included."""
    urls: list[str] = []
    context.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda socket: urls.append(socket.url))
    page.set_default_timeout(60_000)
    return urls


def open_page(page: Page, served: Served, slug: str, lang: str) -> str:
    """Opens a page and waits for its run to end; returns what the server logged meanwhile."""
    before = served.log.stat().st_size
    page.goto(page_url(served.base, slug, lang))
    wait_rendered(page)
    with served.log.open("rb") as log:
        log.seek(before)
        return log.read().decode(errors="replace")


def test_the_first_visitor_may_arrive_by_a_page_link(
    served: Served, page: Page, requested: list[str]
) -> None:
    """Runs first, on a fresh server: Streamlit takes a pages/ folder for an old-style multipage
    app until st.navigation runs, so a first visit to /<slug> ran that file alone, with a
    file-named sidebar for every later visitor (onewindow/streamlit_main.py prevents it)."""
    last = PAGES[-1]
    open_page(page, served, last.slug, "en")
    assert urlsplit(page.url).path == f"/{last.slug}"
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert all(spec.title("en") in nav for spec in PAGES), nav
    assert page.get_by_test_id("stException").all_inner_texts() == []


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("spec", PAGES, ids=[p.slug for p in PAGES])
def test_page_shows_its_figures_without_errors(
    spec: PageSpec, lang: str, served: Served, page: Page, requested: list[str]
) -> None:
    server_output = open_page(page, served, spec.slug, lang)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{spec.slug}-{lang}.png", full_page=True)
    print(f"server output while rendering:\n{server_output}")  # shown if the test fails

    # An unknown path falls back to the default page, with a "Page not found" dialog.
    assert urlsplit(page.url).path == urlsplit(page_url(served.base, spec.slug, lang)).path
    assert page.get_by_role("dialog").all_inner_texts() == []
    # The app's own navigation, not Streamlit's file-named pages/ listing: that one appears
    # when a page is opened by its URL on a server whose first visitor did not start at "/".
    nav = page.get_by_test_id("stSidebarNav")
    assert nav.count() == 0 or spec.title(lang) in nav.inner_text()
    assert page.get_by_test_id("stException").all_inner_texts() == []
    errors = page.get_by_test_id("stAlertContentError").all_inner_texts()
    assert [e for e in errors if "Traceback" in e] == []
    values = page.get_by_test_id("stMetricValue").all_inner_texts()
    assert values, "no st.metric on the page"
    assert all(v.strip() for v in values), values
    assert foreign(requested) == []


def test_data_page_counts_every_etl_run(served: Served, page: Page, requested: list[str]) -> None:
    ran = run_cli("report", "jobs", "--db", served.db, "--format", "json")
    assert ran.code == 0, ran.err
    runs = json.loads(ran.out)
    open_page(page, served, "data", "en")
    shown = {
        metric.get_by_test_id("stMetricLabel").inner_text(): metric.get_by_test_id(
            "stMetricValue"
        ).inner_text()
        for metric in page.get_by_test_id("stMetric").all()
    }
    count = [v for label, v in shown.items() if re.search(r"运行次数|\bRuns\b", label)]
    assert count == [f"{len(runs):,}"], shown
    assert len(runs) >= 1
