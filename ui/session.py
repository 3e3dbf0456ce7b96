"""This session's principal, as ui/auth.py signed it in, and the checks the data layer makes
with it before any query: a permission for each data function and the scope its filters are
cut to (metrics.filters.Filters.within). Outside a dashboard session (the command line, the ETL,
unit tests of the metrics) there is no session and nothing to check."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from metrics.filters import Scope
from onewindow.roles import Perm, Principal

PRINCIPAL = "ow.principal"
NOBODY = Scope(departments=frozenset(), windows=frozenset())


class Denied(Exception):
    """A request the session's roles do not allow; its message is one sentence."""

    def __init__(self, action: str, perm: Perm, who: str, message: str = "") -> None:
        super().__init__(message or action)
        self.action, self.perm, self.who = action, perm, who


def in_session() -> bool:
    return get_script_run_ctx() is not None


def principal() -> Principal | None:
    if not in_session():
        return None
    found = st.session_state.get(PRINCIPAL)
    return found if isinstance(found, Principal) else None


def check(perm: Perm, action: str) -> None:
    """Raises Denied unless the session may `action`."""
    if not in_session():
        return
    who = principal()
    if who is None or not who.can(perm):
        raise Denied(action, perm, who.username if who else "?")


def scope() -> Scope | None:
    """The session's scope; None outside a session; nothing at all when nobody signed in."""
    if not in_session():
        return None
    who = principal()
    return who.scope if who is not None else NOBODY
