"""OneWindow dashboard: `onewindow serve` runs this with Streamlit."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="OneWindow 一窗通", layout="wide")
navigation = st.navigation(
    {"数据 · Data": [st.Page("pages/data.py", title="数据状况 · Data health", default=True)]}
)
navigation.run()
