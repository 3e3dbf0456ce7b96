"""Windows & staff (窗口与人员), for supervisors: who and which windows carry the load and
who is slow (outliers marked), how long people queue by weekday and hour against the wait
target, and how many tickets are no-shows."""

from __future__ import annotations

import polars as pl
import streamlit as st

from metrics.dashboard import outliers
from ui import charts, data, page, widgets
from ui.download import table
from ui.fmt import decimal
from ui.i18n import column, tr

QUEUE_CARDS = ("tickets", "wait_p90_min", "wait_within_target_rate", "no_show_rate")


def show() -> None:
    started = page.begin("windows")
    if started is None:
        return
    view, version = started
    lang = view.lang
    staff = data.workload(version, view.filters)
    windows = data.window_workload(version, view.filters)
    now = data.kpi_table(version, view.filters, only=QUEUE_CARDS)
    has_tickets = bool(widgets.values(now).get("tickets"))
    if staff.is_empty() and windows.is_empty() and not has_tickets:
        page.no_data(lang)
        return
    if has_tickets:
        before = data.kpi_table(version, view.previous, only=QUEUE_CARDS)
        year_ago = data.kpi_table(version, view.year_ago, only=QUEUE_CARDS)
        widgets.kpi_cards(QUEUE_CARDS, now, before, None, lang, year_ago=year_ago)
        target = data.config().queue.wait_target_min
        st.caption(tr("windows.wait_target", lang, minutes=decimal(target, 0)))
        heat = data.queue(version, view.filters).with_columns(
            pl.col("weekday_no")
            .map_elements(lambda d: tr(f"weekday.{d}", lang), return_dtype=pl.String)
            .alias("weekday")
        )
        st.subheader(tr("windows.heat", lang))
        st.vega_lite_chart(
            spec=charts.heatmap(
                heat,
                "hour",
                "weekday",
                "mean_wait_min",
                column("hour", lang),
                column("weekday", lang),
                column("mean_wait_min", lang),
                y_sort=[tr(f"weekday.{d}", lang) for d in range(1, 8)],
            ),
            width="stretch",
        )
    else:
        st.info(tr("windows.no_tickets", lang))

    st.subheader(tr("windows.staff", lang))
    st.caption(tr("windows.outlier_note", lang))
    marked = outliers(staff, "median_step_min").with_columns(
        pl.when(pl.col("outlier"))
        .then(pl.lit(tr("windows.outlier", lang)))
        .otherwise(pl.lit(tr("windows.normal", lang)))
        .alias("flag")
    )
    if not marked.is_empty():
        st.vega_lite_chart(
            spec=charts.bars(
                marked.head(25),
                "staff",
                "median_step_min",
                column("staff", lang),
                column("median_step_min", lang),
                color="flag",
                label="flag",
            ),
            width="stretch",
        )
    table(
        marked.select(
            "staff",
            "department",
            "steps",
            "applications",
            "days_active",
            "steps_per_day",
            "median_step_min",
            "outlier",
        ),
        "staff",
        lang,
    )
    st.subheader(tr("windows.windows", lang))
    table(outliers(windows, "median_step_min"), "windows", lang)


show()
