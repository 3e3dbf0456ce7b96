"""The dashboard's side of identities: who this session is (a local login's HttpOnly cookie,
single sign-on through st.login, or the demo's picker), what its roles let it see and do, the
scope every data call is cut to, and the audit records of what it does.

`onewindow serve` tells the app how people sign in through ONEWINDOW_AUTH: "accounts" (the
server's login page, onewindow/server.py) or "demo" (a loopback server on a demo warehouse; a
picker switches role and scope without a password). Started any other way the app shows
nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from onewindow.audit import AuditTrail
from onewindow.auth import SESSION_COOKIE, SSO_COOKIE, Accounts
from onewindow.roles import ROLES, Perm, Principal
from onewindow.store import store_path
from ui import data, session
from ui.fmt import Lang
from ui.i18n import tr
from ui.nav import PageSpec
from ui.session import PRINCIPAL, Denied, principal

DEMO_ROLE, DEMO_DEPARTMENTS = "demo.role", "demo.departments"

# The security pages: not in ui/nav.PAGES, which lists the business pages every test opens.
SECURITY_PAGES = (
    PageSpec("users", "pages/users.py", "security", "用户与角色", "Users & roles"),
    PageSpec("audit", "pages/audit.py", "security", "审计日志", "Audit trail"),
    PageSpec("alerts", "pages/alerts.py", "supervisor", "我的提醒", "My alerts"),
)

# What each page needs.
PAGE_PERMS: dict[str, Perm] = {
    "overview": Perm.FIGURES,
    "matters": Perm.FIGURES,
    "bottlenecks": Perm.FIGURES,
    "supervision": Perm.APPLICATIONS,
    "application": Perm.APPLICATIONS,
    "windows": Perm.APPLICATIONS,
    "satisfaction": Perm.FIGURES,
    "reforms": Perm.REFORMS,
    "data": Perm.DATA_HEALTH,
    "users": Perm.USERS,
    "audit": Perm.AUDIT,
    "alerts": Perm.APPLICATIONS,
}


def mode() -> str:
    return os.environ.get("ONEWINDOW_AUTH", "")


def accounts() -> Accounts:
    return Accounts(store_path(data.warehouse().home), data.config().security)


def trail() -> AuditTrail:
    return AuditTrail(store_path(data.warehouse().home))


def sign_in(lang: Lang) -> Principal | None:
    """Resolves who this run is for; None (after saying why) when nobody is signed in."""
    kind = mode()
    if kind == "demo":
        found: Principal | None = _demo(lang)
    elif kind == "accounts":
        found = _session(lang)
    else:
        st.error(tr("auth.no_mode", lang))
        found = None
    if found is None:
        st.session_state.pop(PRINCIPAL, None)
    else:
        st.session_state[PRINCIPAL] = found
    return found


def _session(lang: Lang) -> Principal | None:
    token = st.context.cookies.get(SESSION_COOKIE)
    found = accounts().session(token)
    if found is None and getattr(st.user, "is_logged_in", False):
        found = _sso(lang)
    if found is None:
        ended = st.session_state.get(PRINCIPAL) is not None or token is not None
        st.warning(tr("auth.ended" if ended else "auth.sign_in", lang))
        st.link_button(tr("auth.sign_in_button", lang), "/ow/login")
    return found


def _sso(lang: Lang) -> Principal | None:
    """A user signed in through OpenID Connect: roles from the configured claim mapping."""
    from onewindow.sso import principal_from_claims

    claims: Mapping[str, Any] = st.user.to_dict()
    found = principal_from_claims(claims, data.config().sso)
    if found is None:
        who = str(claims.get("email") or claims.get("sub") or "?")
        if st.session_state.get("ow.sso_refused") != who:
            trail().record(who, "login.failed", who, "refused", reason="no role for this claim")
            st.session_state["ow.sso_refused"] = who
        st.error(tr("auth.sso_unknown", lang))
        return None
    # The session (its login audited once, its idle clock) is kept like a local one, keyed on
    # st.login's signed cookie: it ends after the same idle time.
    cookie = st.context.cookies.get(SSO_COOKIE)
    return accounts().sso_session(cookie, found) if cookie else None


def _demo(lang: Lang) -> Principal:
    """Demo mode: the director by default; the sidebar's picker switches role and scope."""
    default = os.environ.get("ONEWINDOW_DEMO_ROLES", "director").split(",")
    names = list(ROLES)
    with st.sidebar:
        st.markdown(f":orange-badge[{tr('demo.badge', lang)}]")
        first = "+".join(default)
        options: list[str] = [first, *[n for n in names if n != first]]
        picked: str = st.selectbox(
            tr("demo.role", lang),
            options,
            key=DEMO_ROLE,
            format_func=lambda n: " + ".join(_role_title(r, lang) for r in n.split("+")),
            placeholder=tr("filters.choose", lang),
        )
        roles = frozenset(picked.split("+"))
        departments: Sequence[str] = ()
        if any(ROLES[r].scoped for r in roles):
            version = data.version()
            known = data.departments_all(version) if version else []
            asked = os.environ.get("ONEWINDOW_DEMO_DEPARTMENTS", "").split(",")
            departments = st.multiselect(
                tr("demo.departments", lang),
                known,
                default=[d for d in asked if d in known] or known[:1],
                key=DEMO_DEPARTMENTS,
                placeholder=tr("filters.choose", lang),
            )
    return Principal("demo", roles, frozenset(departments), demo=True)


def _role_title(name: str, lang: Lang) -> str:
    role = ROLES[name]
    return role.title_zh if lang == "zh" else role.title_en


def banner(who: Principal, lang: Lang) -> None:
    """Every page says when it runs in demo mode."""
    if who.demo:
        st.markdown(f":orange-badge[{tr('demo.badge', lang)}]")


def account_box(who: Principal, lang: Lang) -> None:
    """The sidebar's user, roles and sign-out."""
    roles = ", ".join(_role_title(r, lang) for r in sorted(who.roles))
    st.sidebar.caption(f"{who.username} · {roles}")
    if mode() != "accounts":
        return
    if who.username.startswith("sso:"):
        if st.sidebar.button(tr("auth.sign_out", lang), key="sso-logout"):
            cookie = st.context.cookies.get(SSO_COOKIE)
            if not cookie or accounts().logout(cookie) is None:
                trail().record(who.username, "logout", who.username, via="oidc")
            st.logout()
    else:
        st.sidebar.link_button(tr("auth.change_password", lang), "/ow/password")
        st.sidebar.link_button(tr("auth.sign_out", lang), "/ow/logout")


def allowed(perm: Perm) -> bool:
    who = principal()
    return who is not None and who.can(perm)


def require(perm: Perm, action: str, lang: Lang = "zh") -> None:
    """Raises Denied (audited, its message one sentence in `lang`) unless this session may do
    `action`. Outside a dashboard session (the command line, the ETL) there is nothing to
    check."""
    try:
        session.check(perm, action)
    except Denied as exc:
        trail().record(exc.who, "denied", action, "refused", needs=str(perm))
        raise Denied(action, perm, exc.who, tr("auth.denied", lang, action=action)) from None


def audit(event: str, target: str = "", result: str = "ok", **detail: Any) -> None:
    who = principal()
    trail().record(who.username if who else "?", event, target, result, **detail)


# Keys of the widgets that change data (pages/data.py, pages/reforms.py): a request that sets
# one for a session whose roles do not show it is a replayed or forged request.
_PROTECTED = re.compile(r"-(upload-(file|go)|(new|edit-.+|delete-.+|design-.+)-(save|go|apply))$")


def refuse_replays(who: Principal, lang: Lang) -> None:
    """Refuses (audited, one sentence) a request that sets a data-changing widget the session's
    roles never showed it, before any page runs: Streamlit would silently drop it, but a
    replayed upload or reform form from a director's browser is worth recording. The sentence
    names the button the request presses (else the first such widget)."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    # Streamlit's own record of the widget states this request brings. Read without a
    # fallback: should Streamlit move it, the app fails loudly instead of letting replays
    # through (and tests/test_browser_security.py's replay test fails).
    incoming: dict[str, Any] = ctx.session_state._state._new_widget_state.states
    found = [m.group(1) for m in map(_PROTECTED.search, map(str, list(incoming))) if m]
    refused = [a for a in found if not who.can(_needs(a))]
    if not refused:
        return
    action = next((a for a in refused if a.endswith(("-go", "-save", "-apply"))), refused[0])
    trail().record(
        who.username,
        "denied",
        action,
        "refused",
        needs=str(_needs(action)),
        replayed=True,
        widgets=sorted(refused),
    )
    st.error(tr("auth.denied", lang, action=action))
    st.stop()


def _needs(action: str) -> Perm:
    return Perm.UPLOAD if action.startswith("upload") else Perm.REFORMS_EDIT
