"""Drives the real dashboard in a browser: `onewindow serve` in its own process, opened by
Debian's headless Chromium through Playwright. Used by tests/test_browser.py and by
scripts/screenshot (run as `python -m tests.browser`), so both see the app the same way.

Playwright cannot download its own browser on a closed network; scripts/install --dev installs
/usr/bin/chromium instead."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import Page, ViewportSize, sync_playwright

from ui.nav import PAGES

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling home, and a closed network
# refuses those connections. Playwright's launch() gives each browser a fresh temporary profile.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
RENDER_TIMEOUT_MS = 60_000
# The demo mode's roles that see every page of ui.nav.PAGES (the demo opens as the director).
EVERY_PAGE = {"ONEWINDOW_DEMO_ROLES": "director,reform_officer,data_steward"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    db: Path,
    config: Path,
    log: Path,
    timeout_s: float = 90,
    today: str | None = None,
    extra_env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    port: int | None = None,
) -> Iterator[str]:
    """Runs `onewindow serve` on a free port until the block ends; yields its base URL.
    `today` (YYYY-MM-DD) pins the day the dashboard takes as today ($ONEWINDOW_TODAY);
    `extra_env` and `args` go to the server (e.g. the demo mode's roles, `--no-demo`).

    The server gets its own process group, so stopping it also stops the Streamlit child that
    `onewindow serve` starts. If it never answers its health check, the error carries its log.
    """
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEWINDOW_")}
    if today:
        env["ONEWINDOW_TODAY"] = today
    env.update(extra_env or {})
    command = [
        str(Path(sys.executable).with_name("onewindow")),
        "serve",
        "--port",
        str(port),
        "--db",
        str(db),
        "--config",
        str(config),
        *args,
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    base = f"http://localhost:{port}"
    try:
        _wait_healthy(server, f"{base}/_stcore/health", log, timeout_s)
        yield base
    finally:
        _stop(server)


def _wait_healthy(server: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    state = f"exited with {server.returncode}" if server.poll() is not None else "never answered"
    raise RuntimeError(
        f"onewindow serve {state} at {url}; its output:\n{log.read_text(errors='replace')}"
    )


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def page_url(base: str, slug: str, lang: str | None, **params: str | list[str]) -> str:
    """Where a person opens the page: its documented path (docs/dashboard.md), the default
    page too, with the query string of the view."""
    query = {"lang": lang, **params} if lang else dict(params)
    return f"{base}/{slug}" + (f"?{urlencode(query, doseq=True)}" if query else "")


def wait_rendered(page: Page, timeout_ms: int = RENDER_TIMEOUT_MS) -> None:
    """Waits until the page's script has run to its end and drawn something.

    Streamlit marks its root with the connection and script state; the "running" status widget
    and loading skeletons go away when the run ends.
    """
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
        '[data-test-script-state="notRunning"]',
        timeout=timeout_ms,
    )
    page.wait_for_selector(
        '[data-testid="stMain"] [data-testid="stElementContainer"]', timeout=timeout_ms
    )
    for busy in ("stStatusWidget", "stSkeleton"):
        page.get_by_test_id(busy).first.wait_for(state="hidden", timeout=timeout_ms)


def whole_page(page: Page, path: Path) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, not the
    document, so the viewport is made as tall as the content first."""
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stSidebar'].map(id => "
        'document.querySelector(`[data-testid="${id}"]`)?.scrollHeight ?? 0))'
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)})
    page.wait_for_timeout(500)  # charts redraw at the new size
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size(VIEWPORT)


def foreign(urls: Sequence[str]) -> list[str]:
    """The network URLs among `urls` whose host is not this machine (data:, blob: are local)."""
    return [
        u
        for u in urls
        if urlsplit(u).scheme in ("http", "https", "ws", "wss")
        and urlsplit(u).hostname not in LOCAL_HOSTS
    ]


def screenshot(db: Path, slug: str, lang: str | None, out: Path, today: str | None = None) -> None:
    """Serves the warehouse `db`, opens page `slug` and saves a full-page screenshot to `out`
    (`today`: the day the dashboard takes as today, YYYY-MM-DD)."""
    if slug not in {p.slug for p in PAGES}:
        raise SystemExit(f"no page {slug!r} in ui.nav.PAGES: {', '.join(p.slug for p in PAGES)}")
    with tempfile.TemporaryDirectory(prefix="onewindow-shot-") as tmp:
        config = Path(tmp) / "onewindow.toml"
        config.write_text("", encoding="utf-8")
        with (
            serve(db, config, Path(tmp) / "server.log", today=today, extra_env=EVERY_PAGE) as base,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(page_url(base, slug, lang))
                wait_rendered(page)
                whole_page(page, out)
            finally:
                browser.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot one dashboard page.")
    parser.add_argument("--db", type=Path, required=True, help="warehouse to serve")
    parser.add_argument("--page", default="overview", help="page slug from ui.nav.PAGES")
    parser.add_argument("--lang", choices=["zh", "en"], default=None)
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args(argv)
    screenshot(args.db.absolute(), args.page, args.lang, args.out)  # the link, not its target
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
