"""Data (数据): ETL health for the data steward: run history and quarantined rows."""

from __future__ import annotations

import streamlit as st

from ui import data


def show() -> None:
    st.title("数据状况 · Data health")
    version = data.version()
    if version is None:
        st.info(
            "仓库为空。加载演示中心：`onewindow demo`；或加载文件："
            "`onewindow load 文件 --profile 配置.toml`。\n\n"
            "The warehouse is empty. Load the demo center with `onewindow demo`, or a file with "
            "`onewindow load FILE --profile PROFILE.toml`."
        )
        return
    zone = data.config().center.timezone
    runs = data.jobs(version, zone)
    last = runs.row(0, named=True) if runs.height else None
    cols = st.columns(3)
    cols[0].metric("运行次数 · Runs", f"{runs.height:,}")
    cols[1].metric("最近运行 · Last run", last["started_at"] if last else "—")
    cols[2].metric("隔离行 · Quarantined rows", f"{int(runs['quarantined'].sum()):,}")
    for gap in data.calendar_gaps(version).iter_rows(named=True):
        st.warning(
            f"{gap['year']} 年没有法定节假日数据，按周一至周五计算工作日"
            f"（{gap['fallback_days']} 天）。"
            f" · No statutory holiday data for {gap['year']}: working days are counted as "
            f"Monday–Friday ({gap['fallback_days']} days). Add closures in [calendar] closed."
        )
    st.subheader("运行记录 · Run history")
    st.dataframe(runs, hide_index=True)
    st.subheader("隔离的行 · Quarantined rows")
    held = data.quarantine(version, zone)
    if held.height:
        st.dataframe(held, hide_index=True)
    else:
        st.success("没有隔离的行 · No quarantined rows")


show()
