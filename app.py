"""OneWindow dashboard: `onewindow serve` runs this with Streamlit."""

from __future__ import annotations

import streamlit as st

from ui.nav import PAGES

st.set_page_config(page_title="OneWindow 一窗通", layout="wide")
navigation = st.navigation(
    {
        "数据 · Data": [
            st.Page(p.file, title=f"{p.title_zh} · {p.title_en}", url_path=p.slug, default=i == 0)
            for i, p in enumerate(PAGES)
        ]
    }
)
navigation.run()
