"""OneWindow dashboard: `onewindow serve` runs this with Streamlit. The sidebar holds the
language and the filter bar (both in the URL); ui/nav.py lists the pages."""

from __future__ import annotations

import streamlit as st

from ui import data, view
from ui.i18n import tr
from ui.nav import PAGES
from ui.page import guard

st.set_page_config(page_title="OneWindow 一窗通", layout="wide")
with guard() as sidebar:
    view.sidebar(data.version())
lang = view.lang()
groups: dict[str, list[st.Page]] = {}
for i, spec in enumerate(PAGES):
    groups.setdefault(tr(f"group.{spec.group}", lang), []).append(
        st.Page(spec.file, title=spec.title(lang), url_path=spec.slug, default=i == 0)
    )
navigation = st.navigation(groups)
if sidebar.ok:  # else its one message already says why nothing can be shown
    with guard():
        navigation.run()
