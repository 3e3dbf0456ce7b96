"""Audit trail (审计日志), for the auditor only: whether the chain is intact, the records (newest
first) and their download. Reading and downloading are themselves audited."""

from __future__ import annotations

import polars as pl
import streamlit as st

from onewindow.audit import iter_dicts
from onewindow.roles import Perm
from ui import auth, view
from ui.download import table
from ui.i18n import tr


def show() -> None:
    lang = view.lang()
    st.title(tr("page.audit", lang))
    auth.require(Perm.AUDIT, "audit", lang)
    trail = auth.trail()
    problems = trail.verify()
    records = trail.records()
    if problems:
        st.error(tr("audit.broken", lang, problems="; ".join(problems)))
    else:
        st.success(tr("audit.intact", lang, n=len(records)))
    frame = pl.DataFrame(
        list(iter_dicts(records[::-1])),
        schema={
            "seq": pl.Int64,
            "at": pl.String,
            "actor": pl.String,
            "event": pl.String,
            "target": pl.String,
            "result": pl.String,
            "detail": pl.String,
        },
    )
    table(frame, "audit", lang)


show()
