"""OneWindow dashboard: `onewindow serve` runs this with Streamlit. Who is signed in comes
first (ui/auth.py): the navigation lists only the pages their roles allow, and every data call
below the pages checks the roles and cuts the filters to the session's scope (ui/data.py). The
sidebar holds the language and the filter bar (both in the URL); ui/nav.py lists the pages."""

from __future__ import annotations

import streamlit as st

from onewindow.roles import Perm
from ui import auth, data, view
from ui.i18n import tr
from ui.nav import PAGES
from ui.page import guard

st.set_page_config(page_title="OneWindow 一窗通", layout="wide")
lang = view.lang()
who = auth.sign_in(lang)
if who is None:
    st.stop()
auth.refuse_replays(who, lang)
sidebar_ok = True
if who.can(Perm.FIGURES) or who.can(Perm.DATA_HEALTH):
    with guard() as sidebar:
        view.sidebar(data.version())
    sidebar_ok = sidebar.ok
    lang = view.lang()
auth.account_box(who, lang)
groups: dict[str, list[st.Page]] = {}
visible = [p for p in (*PAGES, *auth.SECURITY_PAGES) if who.can(auth.PAGE_PERMS[p.slug])]
if not visible:
    st.info(tr("auth.no_pages", lang))
    st.stop()
for i, spec in enumerate(visible):
    groups.setdefault(tr(f"group.{spec.group}", lang), []).append(
        st.Page(spec.file, title=spec.title(lang), url_path=spec.slug, default=i == 0)
    )
navigation = st.navigation(groups)
auth.banner(who, lang)
if sidebar_ok:  # else its one message already says why nothing can be shown
    with guard():
        navigation.run()
