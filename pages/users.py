"""Users & roles (用户与角色), for the administrator only: accounts, their roles and scope,
disable, enable, reset a password. Each action is one call of onewindow.auth (as the `onewindow
users` commands are), checked and audited. No business figure is shown here."""

from __future__ import annotations

import polars as pl
import streamlit as st

from onewindow.auth import AuthError
from onewindow.roles import ROLES, Perm, UnknownRole
from ui import auth, view
from ui.download import table
from ui.i18n import tr


def show() -> None:
    lang = view.lang()
    st.title(tr("page.users", lang))
    auth.require(Perm.USERS, "users", lang)
    who = auth.principal()
    actor = who.username if who else "?"
    accounts = auth.accounts()
    listed = accounts.all()
    table(
        pl.DataFrame(
            [
                {
                    "user": a.username,
                    "name": a.display_name,
                    "roles": ", ".join(a.roles),
                    "departments": ", ".join(a.departments),
                    "windows": ", ".join(a.windows),
                    "state": "disabled" if a.disabled else "active",
                }
                for a in listed
            ],
            schema=dict.fromkeys(
                ["user", "name", "roles", "departments", "windows", "state"], pl.String
            ),
        ),
        "users",
        lang,
    )
    roles = list(ROLES)
    with st.form("user-add", clear_on_submit=True):
        st.subheader(tr("users.add", lang))
        username = st.text_input(tr("users.username", lang), key="user-add-name")
        name = st.text_input(tr("users.name", lang), key="user-add-display")
        picked = st.multiselect(
            tr("users.roles", lang),
            roles,
            key="user-add-roles",
            placeholder=tr("filters.choose", lang),
        )
        deps = st.text_input(tr("users.departments", lang), key="user-add-deps")
        wins = st.text_input(tr("users.windows", lang), key="user-add-wins")
        added = st.form_submit_button(tr("users.save", lang), key="user-add-go")
    if added:
        try:
            password = accounts.add(actor, username, picked, _split(deps), _split(wins), name)
            st.success(tr("users.added", lang, user=username, password=password))
        except (AuthError, UnknownRole) as exc:
            st.error(str(exc))
    if not listed:
        return
    st.subheader(tr("users.set_roles", lang))
    names = [a.username for a in listed]
    user = st.selectbox(
        tr("users.pick", lang), names, key="user-pick", placeholder=tr("filters.choose", lang)
    )
    current = next(a for a in listed if a.username == user)
    with st.form(f"user-roles-{user}"):
        new_roles = st.multiselect(
            tr("users.roles", lang),
            roles,
            default=list(current.roles),
            key=f"user-roles-{user}-r",
            placeholder=tr("filters.choose", lang),
        )
        new_deps = st.text_input(tr("users.departments", lang), ", ".join(current.departments))
        new_wins = st.text_input(tr("users.windows", lang), ", ".join(current.windows))
        changed = st.form_submit_button(tr("users.save", lang))
    left, middle, right = st.columns(3)
    try:
        if changed:
            accounts.set_roles(actor, user, new_roles, _split(new_deps), _split(new_wins))
            st.success(tr("users.done", lang))
        if left.button(tr("users.disable", lang), key=f"user-disable-{user}"):
            accounts.set_disabled(actor, user, True)
            st.success(tr("users.done", lang))
        if middle.button(tr("users.enable", lang), key=f"user-enable-{user}"):
            accounts.set_disabled(actor, user, False)
            st.success(tr("users.done", lang))
        if right.button(tr("users.reset", lang), key=f"user-reset-{user}"):
            password = accounts.reset_password(actor, user)
            st.success(tr("users.reset_done", lang, user=user, password=password))
    except (AuthError, UnknownRole) as exc:
        st.error(str(exc))


def _split(text: str) -> list[str]:
    return [v.strip() for v in text.replace("，", ",").split(",") if v.strip()]


show()
