"""The dashboard's server: Streamlit 1.67's `st.App` (an ASGI app on Starlette and uvicorn)
serving app.py, with OneWindow's sign-in routes and a gate in front of every request.

`onewindow serve` runs `python -m onewindow.streamlit_main run onewindow/server.py …`;
Streamlit finds the `app` below and serves it. Why this and not a reverse proxy or a login
form inside the script: docs/architecture.md, "Decision: sign-in in the server".

- `/ow/login` (GET: the form; POST: checks the password, onewindow.auth) sets the session
  cookie `ow_session`: HttpOnly (no page script can read it), SameSite=Strict, Secure behind
  TLS, without an expiry date (it lasts while the browser runs: a reload or a new tab keeps
  the login). The store keeps only the token's hash. A one-time password leads to
  `/ow/password`, and only a changed password opens a session.
- `/ow/logout` ends every session of the user (every tab, every browser) and clears the cookie.
- The gate lets through the sign-in routes, Streamlit's health check, its static files and the
  st.login routes; refuses `/_stcore/metrics`; and for everything else (pages, the websocket,
  uploads, media) wants a live session, else it redirects a page to `/ow/login` and refuses the
  rest. The app itself checks the session again on every run (ui/auth.py), so a session that
  ended (logout in another tab, idle timeout, a disabled account) ends there too.
- Forms carry a CSRF token (a double-submit cookie); answers carry no error details.

In demo mode (ONEWINDOW_AUTH=demo, only on loopback and a demo warehouse: onewindow/serve.py)
the gate lets everything through but the metrics endpoint.
"""

from __future__ import annotations

import functools
import html
import os
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from onewindow.auth import SESSION_COOKIE, SSO_COOKIE, Accounts, AuthError
from onewindow.config import Config, load_config
from onewindow.store import store_path
from warehouse import Warehouse

APP = Path(__file__).resolve().parents[1] / "app.py"
CSRF_COOKIE = "ow_csrf"
OPEN_PATHS = {
    "/ow/login", "/ow/password", "/ow/logout", "/ow/sso",  # sign-in
    "/auth/login", "/auth/logout", "/oauth2callback",  # st.login's
    "/_stcore/health", "/_stcore/host-config", "/favicon.png", "/manifest.json",
}  # fmt: skip
OPEN_PREFIXES = ("/static/",)
CLOSED = ("/_stcore/metrics",)


@functools.lru_cache(maxsize=1)
def _config() -> Config:
    """Read once per server process (the gate asks for every request)."""
    config_file = os.environ.get("ONEWINDOW_CONFIG_FILE")
    return load_config(Path(config_file) if config_file else None)


def _accounts() -> Accounts:
    config = _config()
    wh = Warehouse(config.warehouse_path())
    return Accounts(store_path(wh.home), config.security)


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is no session
                return {}
    return {k: m.value for k, m in jar.items()}


class Gate:
    """Checks every HTTP request and websocket before Streamlit sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if path.rstrip("/").endswith(CLOSED):
            await PlainTextResponse("Not found", status_code=404)(scope, receive, send)
            return
        if os.environ.get("ONEWINDOW_AUTH") == "demo" or _open(path):
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        if await run_in_threadpool(_admitted, cookies):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        if scope.get("method") == "GET" and not path.startswith("/_stcore/"):
            response = RedirectResponse("/ow/login", status_code=303)
            for name in cookies:  # a single sign-on that ended (idle, logout): forget it
                if name.startswith(SSO_COOKIE):
                    response.delete_cookie(name, path="/")
            await response(scope, receive, send)
            return
        await PlainTextResponse("Sign in first", status_code=401)(scope, receive, send)


def _admitted(cookies: dict[str, str]) -> bool:
    """A live local session, or st.login's signed cookie whose session has not ended (the app
    checks its signature and claims, and starts its session at the first run: ui/auth.py)."""
    accounts = _accounts()
    if accounts.session(cookies.get(SESSION_COOKIE)) is not None:
        return True
    sso = cookies.get(SSO_COOKIE)
    return sso is not None and accounts.sso_live(sso)


def _open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body())[:65536].decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _secure(request: Request) -> bool:
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    return proto == "https"


def _page(title: str, body: str, request: Request, status: int = 200) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    page = PAGE.format(title=html.escape(title), body=body.replace("{csrf}", token))
    response = HTMLResponse(page, status_code=status)
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/ow")  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and secrets.compare_digest(cookie, form.get("csrf", ""))


def _message(text: str) -> str:
    return f'<p class="error" role="alert">{html.escape(text)}</p>' if text else ""


def _login_form(error: str = "", username: str = "") -> str:
    sso = (
        '<p><a href="/ow/sso">统一身份认证登录 / Single sign-on</a></p>'
        if _config().sso.map
        else ""
    )
    return LOGIN.format(error=_message(error), username=html.escape(username), sso=sso)


async def login(request: Request) -> Response:
    if request.method == "GET":
        return _page("登录 / Sign in", _login_form(), request)
    form = await _form(request)
    if not _csrf_ok(request, form):
        return _page("登录 / Sign in", _login_form("请重试 / Please try again"), request, 400)
    username = form.get("username", "")
    try:
        done = await run_in_threadpool(_accounts().login, username, form.get("password", ""))
    except AuthError as exc:
        return _page("登录 / Sign in", _login_form(str(exc), username), request, 401)
    if done.must_change:
        body = PASSWORD.format(error="", username=html.escape(done.principal.username))
        return _page("修改密码 / Change password", body, request)
    return _signed_in(request, done.token)


async def password(request: Request) -> Response:
    if request.method == "GET":
        body = PASSWORD.format(error="", username="")
        return _page("修改密码 / Change password", body, request)
    form = await _form(request)
    username = form.get("username", "")
    again = form.get("new", "") == form.get("repeat", "")
    try:
        if not _csrf_ok(request, form):
            raise AuthError("请重试 / Please try again")
        if not again:
            raise AuthError("两次输入的新密码不同 / The new passwords differ")
        accounts = _accounts()
        await run_in_threadpool(
            accounts.change_password, username, form.get("current", ""), form.get("new", "")
        )
        done = await run_in_threadpool(accounts.login, username, form.get("new", ""))
    except AuthError as exc:
        body = PASSWORD.format(error=_message(str(exc)), username=html.escape(username))
        return _page("修改密码 / Change password", body, request, 400)
    return _signed_in(request, done.token)


def _signed_in(request: Request, token: str) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/")  # fmt: skip
    return response


async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(_accounts().logout, token)
    response = RedirectResponse("/ow/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def sso(request: Request) -> Response:
    """Starts single sign-on: Streamlit's own st.login route (the `[auth]` provider of its
    secrets), with the signed provider token st.login itself would make."""
    from streamlit.auth_util import encode_provider_token

    token = await run_in_threadpool(encode_provider_token, "default")
    return RedirectResponse(f"/auth/login?provider={token}", status_code=303)


app = st.App(
    str(APP),
    routes=[
        Route("/ow/login", login, methods=["GET", "POST"]),
        Route("/ow/password", password, methods=["GET", "POST"]),
        Route("/ow/logout", logout, methods=["GET"]),
        Route("/ow/sso", sso, methods=["GET"]),
    ],
    middleware=[Middleware(Gate)],
)

PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>{title} · OneWindow 一窗通</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;background:#f5f6f8;margin:0}}
main{{max-width:22rem;margin:12vh auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px #0002}}h1{{font-size:1.3rem}}label{{display:block;margin:.8rem 0 .2rem}}
input{{width:100%;padding:.5rem;box-sizing:border-box}}button{{margin-top:1.2rem;width:100%;
padding:.6rem;background:#c8102e;color:#fff;border:0;border-radius:4px;font-size:1rem}}
.error{{color:#b00020}}</style></head>
<body><main><h1>OneWindow 一窗通 · {title}</h1>{body}</main></body></html>"""

LOGIN = """{error}<form method="post" action="/ow/login" autocomplete="off">
<input type="hidden" name="csrf" value="{{csrf}}">
<label for="username">用户名 / User name</label>
<input id="username" name="username" value="{username}" required autofocus>
<label for="password">密码 / Password</label>
<input id="password" name="password" type="password" required>
<button type="submit">登录 / Sign in</button></form>{sso}"""

PASSWORD = """<p>首次登录或密码已重置，请设置新密码。<br>
Set a new password (first sign-in, or a reset).</p>
{error}<form method="post" action="/ow/password" autocomplete="off">
<input type="hidden" name="csrf" value="{{csrf}}">
<label for="username">用户名 / User name</label>
<input id="username" name="username" value="{username}" required>
<label for="current">当前密码 / Current password</label>
<input id="current" name="current" type="password" required>
<label for="new">新密码 / New password</label>
<input id="new" name="new" type="password" required>
<label for="repeat">再次输入 / Repeat</label>
<input id="repeat" name="repeat" type="password" required>
<button type="submit">保存并登录 / Save and sign in</button></form>"""
