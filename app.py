"""OneWindow dashboard: `onewindow serve` runs this with Streamlit. Who is signed in comes
first (ui/auth.py): the navigation lists only the pages their roles allow, and every data call
below the pages checks the roles and cuts the filters to the session's scope (ui/data.py). The
sidebar holds the language and the filter bar (both in the URL); ui/nav.py lists the pages.

Every page is served at its own path (/overview, /matters, …). Streamlit serves its default
page only at "/", so the default here is a hidden page that sends "/" on to the first page the
user may see, at its path, with the query string kept: a link copied from the address bar
always names its page."""

from __future__ import annotations

import streamlit as st

from onewindow.roles import Perm
from ui import auth, data, view
from ui.i18n import tr
from ui.nav import PAGES
from ui.page import guard, style

st.set_page_config(page_title="OneWindow 一窗通", layout="wide")
style()
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
visible = [p for p in (*PAGES, *auth.SECURITY_PAGES) if who.can(auth.PAGE_PERMS[p.slug])]
if not visible:
    st.info(tr("auth.no_pages", lang))
    st.stop()
pages = [st.Page(spec.file, title=spec.title(lang), url_path=spec.slug) for spec in visible]


def _home() -> None:
    """ "/" opens the first page at its own path; repeated parameters stay whole."""
    st.switch_page(pages[0], query_params={k: st.query_params.get_all(k) for k in st.query_params})


home = st.Page(_home, title=pages[0].title, url_path="home", default=True, visibility="hidden")
groups: dict[str, list[st.Page]] = {}
for spec, page_ in zip(visible, pages, strict=True):
    groups.setdefault(tr(f"group.{spec.group}", lang), []).append(page_)
next(iter(groups.values())).insert(0, home)
navigation = st.navigation(groups)
auth.banner(who, lang)
if sidebar_ok:  # else its one message already says why nothing can be shown
    with guard():
        navigation.run()
