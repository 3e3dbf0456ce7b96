"""Sign-in as a person meets it (real server in accounts mode, headless Chromium): a wrong
password is refused and audited, the fifth locks the account, a login survives a reload and a
new tab with a cookie no page script can read, logout ends it in every tab, an idle session
ends; a supervisor of one department sees only its figures whatever the URL says, a director
sees all and has no upload box or reform forms; the demo mode is refused off loopback and for
a real warehouse. Deselect with -m "not browser"."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from metrics import kpis
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from onewindow.audit import AuditTrail
from onewindow.auth import Accounts
from onewindow.config import Config
from onewindow.store import store_path
from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    free_port,
    serve,
    wait_rendered,
)
from tests.conftest import run_cli
from ui import fmt, widgets
from warehouse import Warehouse

pytestmark = pytest.mark.browser

PASSWORD = "Center-Password-2026"
TO = date.today()
FROM = TO - timedelta(days=150)
PERIOD_Q = f"period=custom&from={FROM.isoformat()}&to={TO.isoformat()}"


class Site(NamedTuple):
    base: str
    db: Path
    trail: AuditTrail
    departments: list[str]


def _people(db: Path, policy: Config) -> list[str]:
    accounts = Accounts(store_path(Warehouse(db).home), policy.security)
    with Warehouse(db).read() as con:
        deps = [r[0] for r in con.execute(
            "SELECT DISTINCT department FROM matters WHERE department IS NOT NULL ORDER BY 1"
        ).fetchall()]  # fmt: skip
    for name, roles, scope in (
        ("admin", ["administrator"], []),
        ("boss", ["director"], []),
        ("sup", ["supervisor"], deps[:1]),
        ("locky", ["director"], []),
        ("idle", ["director"], []),
    ):
        first = accounts.add("setup", name, roles, scope)
        accounts.change_password(name, first, PASSWORD)
    return deps


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("secure")
    db = tmp / "w.duckdb"
    ran = run_cli("demo", "--applications", "1500", "--months", "4", "--out", tmp / "x",
                  "--db", db)  # fmt: skip
    assert ran.code == 0, ran.err
    return db


@pytest.fixture(scope="module")
def site(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("secure-site")
    config = tmp / "onewindow.toml"
    config.write_text("[security]\nidle_minutes = 0.2\n", encoding="utf-8")
    deps = _people(demo_db, Config())
    with serve(demo_db, config, tmp / "server.log", args=["--no-demo"]) as base:
        yield Site(base, demo_db, AuditTrail(store_path(Warehouse(demo_db).home)), deps)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


def sign_in(page: Page, site: Site, user: str, password: str = PASSWORD) -> None:
    page.goto(f"{site.base}/")
    assert page.url.endswith("/ow/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")


def _events(site: Site, user: str) -> list[tuple[str, str]]:
    return [(r.event, r.result) for r in site.trail.records() if r.actor == user]


def _submitted_card(page: Page) -> str:
    for metric in page.get_by_test_id("stMetric").all():
        label = metric.get_by_test_id("stMetricLabel").inner_text()
        if label.startswith(("Applications", "Submitted", "申请", "办件")):
            return metric.get_by_test_id("stMetricValue").inner_text()
    raise AssertionError("no submitted card")


def _expected(db: Path, filters: Filters) -> str:
    with Warehouse(db).read() as con:
        table = kpis.kpis(con, WorkCalendar.from_config(Config()), filters, Config(), "none")
    values = widgets.values(table)
    return fmt.kpi_value("submitted", values.get("submitted", 0), "en")


def test_a_wrong_password_is_refused_and_audited(site: Site, page: Page) -> None:
    sign_in(page, site, "boss", "not-the-password")
    assert "wrong user name or password" in page.inner_text("main")
    assert ("login.failed", "refused") in _events(site, "boss")


def test_the_fifth_failure_locks_the_account(site: Site, page: Page) -> None:
    for _ in range(5):
        sign_in(page, site, "locky", "wrong-again")
    assert "locked" in page.inner_text("main")
    sign_in(page, site, "locky")  # the right password, meanwhile
    assert "locked" in page.inner_text("main")
    assert ("login.locked", "refused") in _events(site, "locky")


def test_a_login_survives_reload_and_new_tab_and_its_cookie_is_httponly(
    site: Site, context: BrowserContext, page: Page
) -> None:
    sign_in(page, site, "boss")
    page.goto(f"{site.base}/?lang=en&{PERIOD_Q}")
    wait_rendered(page)
    assert page.evaluate("document.cookie").find("ow_session") == -1
    cookie = next(c for c in context.cookies() if c["name"] == "ow_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.reload()
    wait_rendered(page)
    other = context.new_page()
    other.goto(f"{site.base}/?lang=en&{PERIOD_Q}")
    wait_rendered(other)
    assert _submitted_card(other)
    # Logout in one tab ends the session in every tab.
    page.goto(f"{site.base}/ow/logout")
    other.reload()
    assert other.url.endswith("/ow/login")
    assert ("logout", "ok") in _events(site, "boss")


def test_a_supervisor_sees_only_their_department(site: Site, page: Page) -> None:
    mine, other = site.departments[0], site.departments[1]
    sign_in(page, site, "sup")
    page.goto(f"{site.base}/overview?lang=en&{PERIOD_Q}")
    wait_rendered(page)
    shown = _submitted_card(page)
    assert shown == _expected(site.db, Filters(FROM, TO, departments=(mine,)))
    assert shown != _expected(site.db, Filters(FROM, TO, departments=(other,)))
    # The URL edited to another department: below the page the scope turns it into nothing,
    # so the page has no figures at all, and none of that department's.
    page.goto(f"{site.base}/overview?lang=en&{PERIOD_Q}&department={other}")
    wait_rendered(page)
    with pytest.raises(AssertionError, match="no submitted card"):
        _submitted_card(page)
    assert "No data for the chosen period" in page.get_by_test_id("stMain").inner_text()
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert "Data health" not in nav and "Reform effects" not in nav


def test_a_director_sees_all_and_has_no_forms(site: Site, page: Page) -> None:
    sign_in(page, site, "boss")
    page.goto(f"{site.base}/?lang=en&{PERIOD_Q}")
    wait_rendered(page)
    assert _submitted_card(page) == _expected(site.db, Filters(FROM, TO))
    # Every download is audited: what, how many rows, the filters.
    page.goto(f"{site.base}/matters?lang=en&{PERIOD_Q}")
    wait_rendered(page)
    with page.expect_download():
        page.get_by_test_id("stDownloadButton").first.locator("button").click()
    deadline = time.monotonic() + 20
    while ("download", "ok") not in _events(site, "boss") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ("download", "ok") in _events(site, "boss")
    page.goto(f"{site.base}/reforms?lang=en")
    wait_rendered(page)
    assert page.get_by_role("button", name="Save").count() == 0
    assert page.get_by_test_id("stFileUploader").count() == 0
    page.goto(f"{site.base}/data?lang=en")  # not theirs: the default page and "not found"
    wait_rendered(page)
    assert page.get_by_test_id("stFileUploader").count() == 0


def test_an_idle_session_ends(site: Site, page: Page) -> None:
    sign_in(page, site, "idle")
    page.goto(f"{site.base}/?lang=en&{PERIOD_Q}")
    wait_rendered(page)
    time.sleep(14)  # idle_minutes = 0.2
    page.reload()
    assert page.url.endswith("/ow/login")
    assert ("session.timeout", "ok") in _events(site, "idle")


def test_the_administrator_sees_no_figures(site: Site, page: Page) -> None:
    sign_in(page, site, "admin")
    page.goto(f"{site.base}/?lang=en")
    wait_rendered(page)
    assert page.get_by_test_id("stMetric").count() == 0
    assert "Users & roles" in page.inner_text("h1")


def test_demo_mode_is_refused_off_loopback_and_for_a_real_warehouse(
    tmp_path: Path, demo_db: Path
) -> None:
    ran = run_cli("serve", "--db", demo_db, "--address", "0.0.0.0", "--demo")
    assert ran.code == 2 and "only listens on a loopback address" in ran.err
    real = tmp_path / "real.duckdb"
    from tests.fixtures import center_exports, write_profile

    files = center_exports(tmp_path / "in", n=5)
    assert run_cli("load", *files, "--profile", write_profile(tmp_path), "--db", real).code == 0
    ran = run_cli("serve", "--db", real, "--demo")
    assert ran.code == 2 and "only for a warehouse made by `onewindow demo`" in ran.err
    ran = run_cli("serve", "--db", real)
    assert ran.code == 2
    assert "no administrator account: create one with `onewindow users add NAME --role " \
        "administrator`" in ran.err  # fmt: skip


@pytest.fixture
def oidc_provider(tmp_path: Path) -> Iterator[str]:
    """A real OpenID Connect provider process on localhost (tests/oidc_provider.py)."""
    users = tmp_path / "users.json"
    users.write_text(json.dumps({
        "li": {"password": "op-pass", "groups": ["ow-market-supervisors"]},
        "zhao": {"password": "op-pass", "groups": ["someone-else"]},
    }), encoding="utf-8")  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.oidc_provider", "--port", str(port), "--client-id",
         "onewindow", "--client-secret", "op-secret", "--users", str(users)],
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    issuer = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration") as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield issuer
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_single_sign_on_through_a_real_oidc_provider(
    demo_db: Path, tmp_path: Path, oidc_provider: str, browser: Browser
) -> None:
    accounts = Accounts(store_path(Warehouse(demo_db).home), Config().security)
    if not accounts.has_administrator():
        accounts.add("setup", "admin2", ["administrator"])
    with Warehouse(demo_db).read() as con:
        mine = con.execute(
            "SELECT min(department) FROM matters WHERE department IS NOT NULL"
        ).fetchone()[0]
    port = free_port()
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        f'[auth]\nredirect_uri = "http://localhost:{port}/oauth2callback"\n'
        f'cookie_secret = "{"c" * 32}"\nclient_id = "onewindow"\n'
        f'client_secret = "op-secret"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    config = tmp_path / "onewindow.toml"
    config.write_text(
        f'[sso]\nclaim = "groups"\n[[sso.map]]\nvalue = "ow-market-supervisors"\n'
        f'roles = ["supervisor"]\ndepartments = ["{mine}"]\n',
        encoding="utf-8",
    )
    env = {"STREAMLIT_SECRETS_FILES": str(secrets_file)}
    with serve(demo_db, config, tmp_path / "server.log", extra_env=env, args=["--no-demo"],
               port=port) as base:  # fmt: skip
        for user, allowed in (("li", True), ("zhao", False)):
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{base}/?lang=en&{PERIOD_Q}")
            assert "/ow/login" in page.url
            page.click("text=Single sign-on")
            page.wait_for_url(f"{oidc_provider}/authorize**")
            page.fill("#user", user)
            page.fill("#password", "op-pass")
            page.click("#go")
            page.wait_for_url(f"{base}/**")
            page.goto(f"{base}/overview?lang=en&{PERIOD_Q}")  # its own path: no redirect run
            wait_rendered(page)
            if allowed:
                # Signed in by the identity platform, the first run also reads the ID token:
                # wait for the cards of the run that draws the page.
                page.get_by_test_id("stMetric").first.wait_for(timeout=60_000)
                wait_rendered(page)
                assert _submitted_card(page) == _expected(
                    demo_db, Filters(FROM, TO, departments=(mine,))
                )
                assert "sso:li" in page.get_by_test_id("stSidebar").inner_text()
            else:
                assert "has no role here" in page.inner_text("body")
                assert page.get_by_test_id("stMetric").count() == 0
            context.close()
    trail = AuditTrail(store_path(Warehouse(demo_db).home)).records()
    assert any(r.actor == "sso:li" and r.event == "login" for r in trail)
    assert any(r.event == "login.failed" and r.result == "refused" and "zhao" in r.actor
               for r in trail)  # fmt: skip
