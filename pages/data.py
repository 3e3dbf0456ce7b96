"""Data (数据状况), for the data steward: is the data fresh and whole? Run history, the last
run and the last event, quarantined rows with reasons, files that failed, years without
holiday data; and an upload box that loads a file through the normal ETL path."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import polars as pl
import streamlit as st

from etl.profile import ProfileError
from etl.run import LoadError
from onewindow.roles import Perm
from ui import auth, data, page, privacy, upload, view
from ui.download import table
from ui.fmt import Lang, count, instant
from ui.i18n import tr
from ui.session import Denied
from warehouse import WarehouseError


def upload_box(lang: Lang) -> None:
    if not auth.allowed(Perm.UPLOAD):
        return
    st.subheader(tr("data.upload", lang))
    st.caption(tr("data.upload_note", lang))
    config = data.config()
    choices = upload.profiles(config)
    if not choices:
        st.info(tr("data.no_profiles", lang))
        return
    with st.form("upload", clear_on_submit=True):
        file = st.file_uploader(
            tr("data.upload", lang), type=["csv", "xlsx", "xls", "txt"], key="upload-file"
        )
        profile = st.selectbox(tr("data.profile", lang), choices, format_func=lambda p: p.name)
        submitted = st.form_submit_button(tr("data.load", lang), key="upload-go")
    if not (submitted and file is not None and profile is not None):
        return
    try:
        run_id, status, outcome = upload.load_upload(
            data.warehouse(), config, file.name, file.getvalue(), profile
        )
    except (ProfileError, LoadError, WarehouseError, OSError, Denied) as exc:
        st.error(tr("data.load_failed", lang, reason=str(exc).splitlines()[0]))
        return
    shown = tr("data.loaded", lang, run=run_id, status=status)
    (st.success if status == "ok" else st.warning)(shown)
    table(outcome, "upload", lang)


def show() -> None:
    started = page.begin("data", period=False)  # ETL health is not cut by the filters
    if started is None:
        upload_box(view.lang())
        return
    current, version = started
    lang = current.lang
    zone = ZoneInfo(data.config().center.timezone)
    fresh = data.fresh(version)
    runs = data.jobs(version)
    cols = st.columns(4)
    cols[0].metric(tr("data.runs", lang), count(runs.height), border=True)
    cols[1].metric(
        tr("data.last_run", lang),
        instant(fresh.last_run_at.astimezone(zone), lang) if fresh.last_run_at else "—",
        border=True,
    )
    cols[2].metric(
        tr("data.last_event", lang),
        instant(fresh.last_event_at.astimezone(zone), lang) if fresh.last_event_at else "—",
        border=True,
    )
    cols[3].metric(tr("data.quarantined", lang), count(int(runs["quarantined"].sum())), border=True)
    for gap in data.calendar_gaps(version).iter_rows(named=True):
        st.warning(tr("data.calendar_gap", lang, year=gap["year"], days=gap["fallback_days"]))
    st.subheader(tr("data.history", lang))
    table(runs, "runs", lang)
    st.subheader(tr("data.failed", lang))
    failed = data.failed(version)
    if failed.is_empty():
        st.success(f"✓ {tr('data.no_failed', lang)}")
    else:
        table(failed, "failed_files", lang)
    st.subheader(tr("data.held", lang))
    held = data.quarantine(version)
    if held.height:
        table(held.with_columns(pl.col("raw_values").cast(pl.String)), "quarantine", lang)
    else:
        st.success(f"✓ {tr('data.no_held', lang)}")
    privacy.findings(lang)
    upload_box(lang)


show()
