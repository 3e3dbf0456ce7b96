"""Data (数据状况), for the data steward: is the data fresh and whole? Run history, the last
run and the last event, the files of recent runs with their counts, quarantined rows with
reasons, files that failed, applications with impossible times, years without holiday data;
and an upload box that loads a file through the normal ETL path."""

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
from ui.plain import md
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
        # Streamlit's own dropzone words are English only: the label (in the reader's
        # language) stands in for them (ui/page.py's style sheet).
        file = st.file_uploader(
            tr("data.upload_box", lang, limit=st.get_option("server.maxUploadSize")),
            type=["csv", "xlsx", "xls", "txt"],
            label_visibility="collapsed",
            key="upload-file",
        )
        profile = st.selectbox(
            tr("data.profile", lang),
            choices,
            format_func=lambda p: p.name,
            placeholder=tr("filters.choose", lang),
        )
        submitted = st.form_submit_button(tr("data.load", lang), key="upload-go")
    if not (submitted and file is not None and profile is not None):
        return
    try:
        run_id, status, outcome = upload.load_upload(
            data.warehouse(), config, file.name, file.getvalue(), profile
        )
    except (ProfileError, LoadError, WarehouseError, OSError, Denied) as exc:
        st.error(tr("data.load_failed", lang, reason=md(str(exc).splitlines()[0])))
        return
    shown = tr("data.loaded", lang, run=run_id, status=status)
    (st.success if status == "ok" else st.warning)(shown)
    table(outcome, "upload", lang)


def warehouse_state(version: str, lang: Lang) -> None:
    """Damaged copies and stale precomputed tables, in plain words (never a server path)."""
    damaged = [c for c in data.copies() if c.damage is not None]
    for copy in damaged:
        damage = copy.damage
        assert damage is not None
        what = tr(
            f"data.damage.{damage.kind}",
            lang,
            size=f"{damage.size / 1e6:.1f}",
            expected=f"{damage.expected / 1e6:.1f}",
        )
        key = "data.copy_damaged_published" if copy.published else "data.copy_damaged_standby"
        (st.error if copy.published else st.warning)(tr(key, lang, copy=copy.name, what=what))
    waiting = data.derived_waiting(version)
    if waiting:
        st.info(tr("data.derived_stale", lang, n=count(waiting)))
    if not damaged:
        st.caption(f"✓ {tr('data.copies_ok', lang)}")


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
    # Two cards a row: an instant (2026年12月1日 22:56) needs half the page to be read whole.
    cols = [*st.columns(2), *st.columns(2)]
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
    warehouse_state(version, lang)
    for gap in data.calendar_gaps(version).iter_rows(named=True):
        st.warning(tr("data.calendar_gap", lang, year=gap["year"], days=gap["fallback_days"]))
    st.subheader(tr("data.history", lang))
    table(runs, "runs", lang)
    st.subheader(tr("data.files", lang))
    st.caption(tr("data.files_note", lang))
    table(data.run_files(version), "run_files", lang)
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
    st.subheader(tr("data.flagged", lang))
    flagged = data.flagged(version)
    if flagged.height:
        table(flagged, "flagged", lang)
    else:
        st.success(f"✓ {tr('data.no_flagged', lang)}")
    privacy.findings(lang)
    st.subheader(tr("data.alerts_failed", lang))
    failed_alerts = data.alert_failures(version)
    if failed_alerts.height:
        table(failed_alerts, "alert_failures", lang)
    else:
        st.success(f"✓ {tr('data.no_alert_failures', lang)}")
    upload_box(lang)


show()
