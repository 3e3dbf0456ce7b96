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
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from onewindow.auth import Accounts
from onewindow.config import Config
from onewindow.store import store_path
from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    EVERY_PAGE,
    RENDER_TIMEOUT_MS,
    VIEWPORT,
    foreign,
    page_url,
    serve,
    wait_rendered,
    whole_page,
)
from tests.conftest import TEST_SECRET, run_cli
from ui.nav import PAGES, PageSpec
from ui.plain import WORD_JOINER
from warehouse import Warehouse

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


def example(served: Served, slug: str) -> dict[str, str]:
    """The query a page that shows one thing needs to show it: the Application page opens on
    the most urgent open card, as a supervisor arrives from the Supervision page's list."""
    if slug != "application":
        return {}
    cards = run_cli("report", "cards", "--db", served.db, "--format", "json")
    assert cards.code == 0, cards.err
    return {"app": json.loads(cards.out)[0]["application_id"]}


def open_page(page: Page, served: Served, slug: str, lang: str, **params: str | list[str]) -> str:
    """Opens a page by its documented path and query string (a page that shows one thing
    with its example) and waits for its run to end; returns what the server logged meanwhile."""
    before = served.log.stat().st_size
    page.goto(page_url(served.base, slug, lang, **{**example(served, slug), **params}))
    wait_rendered(page)
    with served.log.open("rb") as log:
        log.seek(before)
        return log.read().decode(errors="replace")


@pytest.fixture(scope="session")
def busiest_department(served: Served) -> str:
    ran = run_cli("report", "kpis", "--db", served.db, "--by", "department", "--format", "json")
    assert ran.code == 0, ran.err
    rows = [r for r in json.loads(ran.out) if r["kpi"] == "submitted" and r["department"]]
    return str(max(rows, key=lambda r: r["value"])["department"])


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


# Streamlit's own English words that must not reach a Chinese page (widget placeholders, the
# upload box, a missing cell, the not-found dialog).
ENGLISH_WIDGET_TEXTS = (
    "Choose options",
    "Choose an option",
    "Drag and drop",
    "per file",
    "Browse files",
    "Upload",
    "No results",
    "Page not found",
)
# Values a reader must never see: a missing value printed raw, a negative zero.
RAW = re.compile(r"\bNone\b|\bnan\b|\bNaN\b|[−-]0\.0+(?![0-9]*[1-9])\b|[−-]0(?:\.0+)?%")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("spec", PAGES, ids=[p.slug for p in PAGES])
def test_page_shows_its_figures_at_its_documented_path(
    spec: PageSpec,
    lang: str,
    served: Served,
    page: Page,
    requested: list[str],
    busiest_department: str,
) -> None:
    """Each page by its path (docs/dashboard.md) with a language, a period and a filter in
    the query string: its heading and figures, no "Page not found", the link kept whole."""
    params = {"period": "last_month", "department": busiest_department}
    server_output = open_page(page, served, spec.slug, lang, **params)
    whole_page(page, ARTIFACTS / f"{spec.slug}-{lang}.png")
    print(f"server output while rendering:\n{server_output}")  # shown if the test fails

    address = urlsplit(page.url)
    assert address.path == f"/{spec.slug}"
    kept = parse_qs(address.query)
    assert (kept["lang"], kept["period"], kept["department"]) == (
        [lang],
        ["last_month"],
        [busiest_department],
    )
    assert page.get_by_role("dialog").all_inner_texts() == []
    assert page.locator("h1").first.inner_text().strip() == spec.title(lang)
    nav = page.get_by_test_id("stSidebarNav")
    assert nav.count() == 0 or spec.title(lang) in nav.inner_text()
    assert page.get_by_test_id("stException").all_inner_texts() == []
    errors = page.get_by_test_id("stAlertContentError").all_inner_texts()
    assert errors == []
    values = page.get_by_test_id("stMetricValue").all_inner_texts()
    tables = page.get_by_test_id("stDataFrame").count()
    assert values or tables, "no figure on the page"
    assert all(v.strip() for v in values), values
    text = page.locator("body").inner_text()
    assert "Page not found" not in text
    assert foreign(requested) == []


@pytest.mark.parametrize("spec", PAGES, ids=[p.slug for p in PAGES])
def test_a_chinese_page_shows_no_raw_value_and_no_english_widget_text(
    spec: PageSpec, served: Served, page: Page, requested: list[str]
) -> None:
    """The whole text of each page in Chinese — the tables too, through their print copies —
    holds no None, nan or −0.0 and none of Streamlit's English widget words."""
    open_page(page, served, spec.slug, "zh")
    text = page.locator("body").inner_text()
    tables = "\n".join(page.locator(".print-only").all_text_contents())
    assert RAW.findall(text) == [] and RAW.findall(tables) == []
    assert [w for w in ENGLISH_WIDGET_TEXTS if w in text] == []
    placeholders = page.locator("input[placeholder], textarea[placeholder]").evaluate_all(
        "nodes => nodes.map(n => n.placeholder)"
    )
    assert [p for p in placeholders if re.search(r"[A-Za-z]{3}", p)] == []


def test_the_default_page_opens_at_its_own_path_with_the_link_kept(
    served: Served, page: Page, requested: list[str]
) -> None:
    page.goto(f"{served.base}/?lang=en&period=ytd&channel=online&channel=mobile")
    wait_rendered(page)
    address = urlsplit(page.url)
    assert address.path == f"/{PAGES[0].slug}"
    kept = parse_qs(address.query)
    assert kept["channel"] == ["online", "mobile"] and kept["period"] == ["ytd"]
    assert page.locator("h1").first.inner_text().strip() == PAGES[0].title("en")
    assert page.get_by_role("dialog").all_inner_texts() == []


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


# Names as an export or a form may carry them: Markdown images (an outside and an internal
# host), a link, raw HTML, a colour directive, emphasis and an emoji code.
IMAGE = "![x](http://evil.example.com/p.png)"
INTERNAL = "![y](http://10.9.8.7/q.png)"
LINK = "[点我](http://evil.example.com/go)"
HTML = "<img src=http://evil.example.com/i.png>"
COLOUR = ":red[加急]"
HOSTILE_MATTER = f"{IMAGE} 企业开办 {INTERNAL}"
HOSTILE_DEPARTMENT = f"{COLOUR}局"
HOSTILE_STEP = f"审查 {LINK} {HTML}"
HOSTILE_DECISION = "**决定** :smile:"
HOSTILE_REFORM = f"{COLOUR} 改革 {IMAGE}"
HOSTILE_DESCRIPTION = f"说明 {LINK} {INTERNAL} {HTML} :red[不应变红]"


HOSTILE_USER, HOSTILE_PASSWORD = "reader", "Literal-Text-2026!"


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A small center whose matter, department, step and reform texts are Markdown and HTML,
    loaded through `onewindow load` with a [[reforms]] table in the config."""
    from tests.fixtures import (
        APPLICATION_HEADER,
        MATTER_HEADER,
        STEP_HEADER,
        center_rows,
        matter_rows,
        write_csv,
        write_profile,
    )

    tmp = tmp_path_factory.mktemp("hostile")
    apps, steps = center_rows(80)
    renamed = {"审查": HOSTILE_STEP, "决定": HOSTILE_DECISION}
    steps = [[row[0], renamed.get(row[1], row[1]), *row[2:]] for row in steps]
    matters = matter_rows()
    matters[0][1:3] = [HOSTILE_MATTER, HOSTILE_DEPARTMENT]
    exports = tmp / "exports"
    exports.mkdir()
    write_csv(exports / "matters.csv", MATTER_HEADER, matters)
    write_csv(exports / "applications.csv", APPLICATION_HEADER, apps)
    write_csv(exports / "steps.csv", STEP_HEADER, steps)
    config = tmp / "onewindow.toml"
    config.write_text(
        "[[reforms]]\n"
        'id = "hostile"\n'
        f"name = {json.dumps(HOSTILE_REFORM, ensure_ascii=False)}\n"
        "effective = 2025-04-01\n"
        'matters = ["M-000", "M-001"]\n'
        f"description = {json.dumps(HOSTILE_DESCRIPTION, ensure_ascii=False)}\n",
        encoding="utf-8",
    )
    db = tmp / "w.duckdb"
    profile = write_profile(tmp)
    with pytest.MonkeyPatch.context() as patched:  # a session fixture: before the autouse one
        patched.setenv("ONEWINDOW_SECRET", TEST_SECRET)
        ran = run_cli("load", exports, "--profile", profile, "--db", db, "--config", config)
    assert ran.code == 0, ran.err
    # Real exports, not a demo: the server signs people in with accounts (docs/security.md).
    accounts = Accounts(store_path(Warehouse(db).home), Config().security)
    for name, roles in (("admin", ["administrator"]), (HOSTILE_USER, ["director"])):
        accounts.change_password(name, accounts.add("setup", name, roles), HOSTILE_PASSWORD)
    with serve(db, config, tmp / "server.log") as base:
        yield Served(base, db, tmp / "server.log")


def _visible(page: Page) -> str:
    """The page's text as a reader sees it (the word joiner that keeps `:name:` from turning
    into an emoji is invisible)."""
    return page.locator("body").inner_text().replace(WORD_JOINER, "")


@pytest.mark.parametrize(
    ("slug", "params", "literal"),
    [
        ("matters", {"focus": "M-000"}, [f"M-000 {HOSTILE_MATTER}"]),
        ("overview", {"department": HOSTILE_DEPARTMENT}, [HOSTILE_DEPARTMENT]),
        ("bottlenecks", {}, [HOSTILE_STEP]),
        ("reforms", {"reform": "hostile"}, [HOSTILE_DESCRIPTION, IMAGE]),
        ("supervision", {"matter": "M-000"}, []),
        ("satisfaction", {}, []),
    ],
)
def test_names_from_exports_are_shown_as_literal_text(
    hostile: Served,
    page: Page,
    requested: list[str],
    slug: str,
    params: dict[str, str],
    literal: list[str],
) -> None:
    """Markdown images, links, HTML and colour directives in names and descriptions read as
    the characters they are: nothing is fetched from any host but the server's, nothing is
    coloured, linked or drawn."""
    page.goto(f"{hostile.base}/")
    page.fill("#username", HOSTILE_USER)
    page.fill("#password", HOSTILE_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hostile.base}/**")
    view = {"period": "custom", "from": "2025-03-01", "to": "2025-05-31", **params}
    open_page(page, hostile, slug, "zh", **view)
    whole_page(page, ARTIFACTS / f"hostile-{slug}.png")
    text = _visible(page)
    assert [t for t in literal if t not in text] == [], text
    assert foreign(requested) == []
    main = page.get_by_test_id("stMain")
    assert main.locator("img").evaluate_all("nodes => nodes.map(n => n.src)") == []
    styled = "a[href^='http'], a[href^='//'], .stMarkdownColoredText, strong:has-text('决定')"
    assert main.locator(styled).evaluate_all("ns => ns.map(n => n.outerHTML)") == []
    assert page.get_by_test_id("stException").all_inner_texts() == []


def test_a_printed_page_is_its_content_with_every_table_whole(
    served: Served, page: Page, requested: list[str]
) -> None:
    """Print (A4): no navigation, sidebar, filters or buttons; each table printed whole from
    its print copy, not the on-screen grid that draws only the rows in view."""
    open_page(page, served, "matters", "zh", period="ytd")
    # The lists behind counts sit in closed expanders: neither their grid nor their print copy
    # is drawn, on screen or on paper, until opened.
    copies = page.locator(".print-only:not([data-testid='stExpander'] .print-only)")
    assert not copies.first.is_visible()  # on screen: the grid only
    grids = page.get_by_test_id("stDataFrame").locator("[role=grid]")
    # A grid is drawn a moment after its print copy: wait for each to have its grid.
    expect(grids).to_have_count(copies.count(), timeout=RENDER_TIMEOUT_MS)
    assert copies.count() == grids.count() >= 3
    rows = [int(g.get_attribute("aria-rowcount") or 0) - 1 for g in grids.all()]  # less header
    page.emulate_media(media="print")
    for hidden in ("stSidebar", "stDataFrame", "stDownloadButton", "stTextInput", "stHeader"):
        shown = page.get_by_test_id(hidden).evaluate_all(
            "nodes => nodes.filter(n => n.checkVisibility()).length"
        )
        assert shown == 0, hidden
    assert [c.locator("tbody tr").count() for c in copies.all()] == rows
    assert rows[0] > 10  # more rows than the grid shows at once
    assert all(c.is_visible() for c in copies.all())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.pdf(path=ARTIFACTS / "matters-zh-print.pdf", format="A4")
    assert foreign(requested) == []


def test_the_overview_downloads_the_monthly_report(
    served: Served, page: Page, requested: list[str]
) -> None:
    """A director builds last month's report on the Overview and downloads its PDF and its
    workbook: the files `onewindow monthly` writes, named for the center, month and scope."""
    open_page(page, served, "overview", "zh")
    box = page.get_by_text("月报", exact=True)
    box.scroll_into_view_if_needed()
    page.get_by_role("button", name="生成月报").click()
    wait_rendered(page)
    with page.expect_download() as pdf_download:
        page.get_by_role("button", name="下载 PDF（A4）").click()
    pdf = Path(pdf_download.value.path())
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf_download.value.suggested_filename.endswith("_全中心.pdf")
    with page.expect_download() as xlsx_download:
        page.get_by_role("button", name="下载 Excel 工作簿").click()
    assert Path(xlsx_download.value.path()).read_bytes()[:2] == b"PK"
    page.screenshot(path=str(ARTIFACTS / "overview-monthly-zh.png"))
    assert all(urlsplit(u).hostname in ("localhost", "127.0.0.1") for u in requested)
