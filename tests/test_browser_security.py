"""Sign-in as a person meets it (real server in accounts mode, headless Chromium): a wrong
password is refused and audited, the fifth locks the account, a login survives a reload and a
new tab with a cookie no page script can read, logout ends it in every tab, an idle session
ends; a supervisor of one department sees only its figures whatever the URL says, a director
sees all and has no upload box or reform forms; the demo mode is refused off loopback and for
a real warehouse. Deselect with -m "not browser"."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, WebSocketRoute
from streamlit.proto.BackMsg_pb2 import BackMsg

from etl.demo import DEMO_SECRET
from metrics import kpis, reforms
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from onewindow.audit import AuditTrail
from onewindow.auth import Accounts
from onewindow.config import Config
from onewindow.store import connect, store_path
from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RENDER_TIMEOUT_MS,
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
        ("keeper", ["data_steward"], []),
        ("officer", ["reform_officer"], []),
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
    # The default idle time: the idle test makes a session idle by dating its last request
    # back (_idle), so no other test races a short one on a busy machine.
    config.write_text("[security]\nidle_minutes = 30\n", encoding="utf-8")
    deps = _people(demo_db, Config())
    # The secret the demo warehouse was loaded with, as a real deployment configures its own:
    # the upload box's loads need one.
    env = {"ONEWINDOW_SECRET": DEMO_SECRET.decode()}
    with serve(demo_db, config, tmp / "server.log", extra_env=env, args=["--no-demo"]) as base:
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


def _windows(db: Path, department: str) -> set[str]:
    """The windows that handled a department's applications: on the application record, else
    on its first acceptance step."""
    with Warehouse(db).read() as con:
        rows = con.execute(
            "SELECT DISTINCT coalesce(a.window_id, (SELECT e.window_id FROM events e WHERE"
            " e.application_id = a.application_id AND e.stage = 'accept' ORDER BY e.ts"
            " LIMIT 1)) FROM applications a JOIN matters m USING (matter_code)"
            " WHERE m.department = ?",
            [department],
        ).fetchall()
    return {str(r[0]) for r in rows if r[0] is not None}


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
    said = page.get_by_test_id("stMain").inner_text()
    assert f"there is no department “{other}” in the data" in said  # as for a made-up name
    # The filter bar offers only the windows that handled their department's applications.
    page.goto(f"{site.base}/overview?lang=en&{PERIOD_Q}")
    wait_rendered(page)
    box = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text="Window")
    box.scroll_into_view_if_needed()
    box.locator("input").click()
    page.get_by_role("option").first.wait_for(timeout=RENDER_TIMEOUT_MS)
    offered = set(page.get_by_role("option").all_inner_texts()) - {"Select all"}
    ours, theirs = _windows(site.db, mine), _windows(site.db, other)
    assert offered == ours and theirs - ours and not offered & (theirs - ours)
    page.keyboard.press("Escape")
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


STREAM = re.compile(r"/_stcore/stream$")  # Streamlit's websocket


def _pressed(frame: str | bytes) -> set[str]:
    """The ids of the buttons a websocket frame from the page presses: a BackMsg asking for a
    rerun, with the widget states of the page (a pressed button's trigger is true)."""
    if not isinstance(frame, bytes):
        return set()
    msg = BackMsg()
    msg.ParseFromString(frame)
    if msg.WhichOneof("type") != "rerun_script":
        return set()
    return {
        w.id
        for w in msg.rerun_script.widget_states.widgets
        if w.WhichOneof("value") == "trigger_value" and w.trigger_value
    }


class Wire:
    """A page's websocket to the server, routed through the test (Playwright's
    route_web_socket): every frame goes through unchanged, and the test keeps a copy of the
    first one that presses a button whose id ends with `keep` (`kept`). `send` puts a frame
    on the page's current connection, as the page itself would."""

    def __init__(self, page: Page, keep: str | None = None) -> None:
        self.keep, self.kept = keep, b""
        self.server: WebSocketRoute | None = None
        page.route_web_socket(STREAM, self._route)

    def _route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        self.server = server

        def from_page(frame: str | bytes) -> None:
            keep = self.keep
            if keep and not self.kept and any(i.endswith(keep) for i in _pressed(frame)):
                assert isinstance(frame, bytes)
                self.kept = frame
            server.send(frame)

        ws.on_message(from_page)

    def send(self, frame: bytes) -> None:
        assert self.server is not None, "the page never opened its websocket"
        self.server.send(frame)


def _runs(db: Path) -> int:
    with Warehouse(db).read() as con:
        return int(con.execute("SELECT count(*) FROM etl_runs").fetchone()[0])


def _reform_ids(db: Path) -> list[str]:
    with Warehouse(db).read() as con:
        return sorted(reforms.registry(con)["reform_id"].to_list())


def _wait_for(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.25)


def _open_as(
    browser: Browser, site: Site, user: str, path: str, keep: str | None = None
) -> tuple[BrowserContext, Page, Wire]:
    """`user` signed in, in a browser of their own, on `path` (English), its websocket
    routed through a Wire that keeps the first frame pressing a button ending with `keep`."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    wire = Wire(page, keep=keep)
    sign_in(page, site, user)
    page.goto(f"{site.base}/{path}?lang=en")
    wait_rendered(page)
    return context, page, wire


def _replay(site: Site, browser: Browser, frame: bytes) -> str:
    """Signs the director in (in a browser of their own), sends `frame` on the director's
    websocket and returns what the page then says."""
    context, page, wire = _open_as(browser, site, "boss", "application")  # a light page
    try:
        assert page.get_by_test_id("stFileUploader").count() == 0
        assert page.get_by_role("button", name="Delete this reform").count() == 0
        wire.send(frame)
        refusal = page.get_by_text("Your role does not allow this")
        refusal.wait_for(timeout=RENDER_TIMEOUT_MS)
        return refusal.inner_text()
    finally:
        context.close()


def test_a_replayed_upload_or_reform_change_is_refused_to_a_director(
    site: Site, browser: Browser
) -> None:
    """The director has no upload box and no reform forms; a request that presses them anyway
    (a data steward's and a reform officer's own websocket frames, captured as they did the
    work and sent again on the director's websocket: a real request over the real connection)
    is refused, in one sentence, and audited, and changes nothing.

    Why a straight replay reaches the server's check: a keyed widget's id is the same in every
    session (`$$ID-<hash>-<key>`), the frame's page hash names a page the director's
    navigation lacks (so Streamlit would open the default page and silently drop the unknown
    widget states), and app.py checks the incoming widget states (ui/auth.refuse_replays)
    before any page runs. The uploaded file itself lives in the steward's session: what the
    frame brings is the press of the Load button with the file's reference."""
    # The data steward uploads a file (a demo export again: every row a duplicate).
    export = min((site.db.parent / "x").rglob("*.csv"), key=lambda f: f.stat().st_size)
    runs = _runs(site.db)
    steward, keeper, wire = _open_as(browser, site, "keeper", "data", keep="upload-go")
    keeper.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(export)
    keeper.get_by_test_id("stFileChipName").wait_for()  # uploaded to the steward's session
    keeper.get_by_test_id("stFileChipIconSpinner").wait_for(state="hidden")
    keeper.get_by_role("button", name="Load", exact=True).click()
    keeper.get_by_text(re.compile(r"^Run \d+: ")).wait_for(timeout=RENDER_TIMEOUT_MS)
    assert _runs(site.db) == runs + 1
    assert ("upload", "ok") in _events(site, "keeper")
    steward.close()
    assert any(i.endswith("-upload-go") for i in _pressed(wire.kept))

    runs = _runs(site.db)
    said = _replay(site, browser, wire.kept)
    assert said == "Your role does not allow this: upload-go (recorded)."
    assert _runs(site.db) == runs  # nothing loaded
    denied = [r for r in site.trail.records() if r.actor == "boss" and r.event == "denied"]
    assert denied and denied[-1].target == "upload-go" and denied[-1].result == "refused"
    assert json.loads(denied[-1].detail)["replayed"] is True and denied[-1].at
    assert "upload" not in {e for e, _ in _events(site, "boss")}

    # The reform officer deletes a reform.
    before = _reform_ids(site.db)
    officer_context, officer, wire = _open_as(browser, site, "officer", "reforms", keep="-go")
    officer.get_by_text("Edit or delete this reform").click()
    # The box is ticked before the form is sent: a click that lands while the expander still
    # opens is lost, and the form would then be sent unconfirmed (nothing deleted).
    sure = officer.get_by_role("checkbox", name=re.compile(r"^Yes, delete"))
    for _ in range(3):
        officer.get_by_text("Yes, delete").click()
        if sure.is_checked():
            break
        officer.wait_for_timeout(500)
    assert sure.is_checked()
    officer.get_by_role("button", name="Delete this reform").click()
    _wait_for(lambda: len(_reform_ids(site.db)) == len(before) - 1, "the deletion")
    officer_context.close()
    pressed = next(i for i in _pressed(wire.kept) if i.endswith("-go"))
    target = pressed[pressed.index("delete-") :]

    # Replayed by the director: refused before the page's form could run the delete again
    # (which would be one more run, even for a reform already gone).
    left, runs = _reform_ids(site.db), _runs(site.db)
    said = _replay(site, browser, wire.kept)
    assert said == f"Your role does not allow this: {target} (recorded)."
    assert (_reform_ids(site.db), _runs(site.db)) == (left, runs)  # no reform changed
    denied = [r for r in site.trail.records() if r.actor == "boss" and r.event == "denied"]
    assert denied[-1].target == target
    assert json.loads(denied[-1].detail)["needs"] == "reforms.edit"
    assert not any(e.startswith("reform.") for e, _ in _events(site, "boss"))


def _idle(db: Path, user: str, minutes: float) -> None:
    """The user's open sessions, as if their last request came `minutes` ago: the clock the
    idle timeout reads, pinned in the store instead of a test that sleeps half an hour."""
    with connect(store_path(Warehouse(db).home)) as con:
        con.execute(
            "UPDATE sessions SET last_seen = ? WHERE username = ? AND ended_at IS NULL",
            [time.time() - minutes * 60, user],
        )


def test_an_idle_session_ends(site: Site, page: Page) -> None:
    sign_in(page, site, "idle")
    page.goto(f"{site.base}/?lang=en&{PERIOD_Q}")
    wait_rendered(page)
    _idle(site.db, "idle", 29)  # not yet: idle_minutes = 30
    page.reload()
    wait_rendered(page)
    assert _submitted_card(page)
    _idle(site.db, "idle", 31)
    page.reload()
    assert page.url.endswith("/ow/login")
    assert ("session.timeout", "ok") in _events(site, "idle")


def test_the_administrator_sees_no_figures(site: Site, page: Page) -> None:
    sign_in(page, site, "admin")
    page.goto(f"{site.base}/?lang=en")
    wait_rendered(page)
    assert page.get_by_test_id("stMetric").count() == 0
    assert "Users & roles" in page.inner_text("h1")


def test_demo_mode_is_refused_off_loopback_and_for_a_real_warehouse(tmp_path: Path) -> None:
    # A demo warehouse of its own: the module's has had a real upload (the replay test), which
    # rightly makes it a real warehouse.
    demo_db = tmp_path / "demo.duckdb"
    ran = run_cli("demo", "--applications", "200", "--months", "2", "--out", tmp_path / "x",
                  "--db", demo_db)  # fmt: skip
    assert ran.code == 0, ran.err
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
                # Idle for longer than security.idle_minutes (30, the default): the single
                # sign-on ends as a local session does, and st.login's cookie is forgotten.
                _idle(demo_db, "sso:li", 31)
                page.reload()
                page.wait_for_url("**/ow/login")
                assert not [c for c in context.cookies() if c["name"] == "_streamlit_user"]
                page.goto(f"{base}/overview?lang=en")
                assert page.url.endswith("/ow/login")
            else:
                assert "has no role here" in page.inner_text("body")
                assert page.get_by_test_id("stMetric").count() == 0
            context.close()
    trail = AuditTrail(store_path(Warehouse(demo_db).home)).records()
    assert [(r.event, r.result) for r in trail if r.actor == "sso:li"] == [
        ("login", "ok"),
        ("session.timeout", "ok"),
    ]
    assert any(r.event == "login.failed" and r.result == "refused" and "zhao" in r.actor
               for r in trail)  # fmt: skip
