"""The Overview's monthly report box: the director picks a month and downloads the report
(月报) of the center, or of their scope, as an A4 PDF and an Excel workbook — the same two
files `onewindow monthly` writes (metrics/monthly.py, ui/monthly.py). The report is built
when asked for, not on every page run: it takes seconds."""

from __future__ import annotations

from datetime import date

import streamlit as st

from metrics.dashboard import shift_months
from metrics.filters import Filters
from onewindow.roles import Perm
from ui import auth, data
from ui.fmt import month
from ui.i18n import tr
from ui.monthly import ReportError, file_stem, to_pdf, to_xlsx
from ui.view import View


def months(anchor: date, first: date | None, n: int = 24) -> list[date]:
    """The complete months up to the one before `anchor`, newest first, back to the data's
    first month (at most `n`)."""
    last = shift_months(anchor.replace(day=1), -1)
    found = [shift_months(last, -i) for i in range(n)]
    return [m for m in found if first is None or m >= first.replace(day=1)]


def box(view: View, version: str) -> None:
    """A month picker and, once built, the PDF and workbook downloads (audited)."""
    if not auth.allowed(Perm.APPLICATIONS):
        return
    lang = view.lang
    choices = months(view.anchor, view.first_day)
    if not choices:
        return
    st.subheader(tr("monthly.box", lang))
    chosen = st.selectbox(
        tr("monthly.month", lang),
        choices,
        format_func=lambda m: month(f"{m:%Y-%m}", lang),
        key="monthly-month",
        placeholder=tr("filters.choose", lang),
    )
    key = f"monthly-{chosen:%Y-%m}-{lang}-{version}"
    if st.button(tr("monthly.build", lang), key="monthly-build"):
        try:
            report = data.monthly_report(version, chosen, Filters())
            st.session_state[key] = (
                file_stem(report, lang),
                to_pdf(report, lang, data.config().report.font),
                to_xlsx(report, lang),
            )
        except ReportError as exc:
            st.error(str(exc))
    built = st.session_state.get(key)
    if built is None:
        return
    stem, pdf, xlsx = built
    left, right = st.columns(2)
    left.download_button(
        tr("monthly.download_pdf", lang),
        pdf,
        file_name=f"{stem}.pdf",
        mime="application/pdf",
        key="monthly-pdf",
        on_click=_audited,
        args=(stem, "pdf"),
    )
    right.download_button(
        tr("monthly.download_xlsx", lang),
        xlsx,
        file_name=f"{stem}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key="monthly-xlsx",
        on_click=_audited,
        args=(stem, "xlsx"),
    )


def _audited(stem: str, kind: str) -> None:
    auth.audit("download", f"{stem}.{kind}", report="monthly")
