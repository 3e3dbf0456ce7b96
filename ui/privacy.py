"""The Data health page's count of personal numbers found and masked at load (etl/pii.py), per
file and column."""

from __future__ import annotations

import polars as pl
import streamlit as st

from etl.pii import stored_findings
from onewindow.roles import Perm
from ui import data, session
from ui.download import table
from ui.fmt import Lang
from ui.i18n import tr


def findings(lang: Lang) -> None:
    session.check(Perm.DATA_HEALTH, "pii_findings")
    st.subheader(tr("data.pii", lang))
    st.caption(tr("data.pii_note", lang))
    found = stored_findings(data.warehouse())
    if found.is_empty():
        st.success("✓ 0")
        return
    shown = found.with_columns(pl.col("path").str.split("/").list.last()).rename({"path": "file"})
    table(shown, "pii_findings", lang)
