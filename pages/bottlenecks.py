"""Bottlenecks (瓶颈), for supervisors: which transitions take the most time across matters,
where departments hand work to each other slowly, and which steps got slower lately."""

from __future__ import annotations

import polars as pl
import streamlit as st

from metrics.dashboard import trailing_year
from ui import charts, data, page
from ui.download import table
from ui.fmt import count, day, decimal, pct
from ui.i18n import column, tr
from ui.plain import md
from ui.widgets import month_labels, partial_note

TOP = 15
RECENT_MONTHS, BASELINE_MONTHS, MIN_COUNT = 3, 6, 5  # the defaults of slower_steps

# A transition's name on the charts: "from → to".
TRANSITION = (pl.col("from_step") + " → " + pl.col("to_step")).alias("transition")


def show() -> None:
    started = page.begin("bottlenecks")
    if started is None:
        return
    view, version = started
    lang = view.lang
    moves = data.transitions(version, view.filters)
    if moves.is_empty():
        page.no_data(lang)
        return
    assert view.filters.end is not None
    slower = data.slower(version, view.filters, view.filters.end)
    matrix = data.handovers(version, view.filters)
    top = moves.row(0, named=True)
    first, second, third = st.columns(3)
    first.metric(
        tr("bottlenecks.top", lang), md(f"{top['from_step']} → {top['to_step']}"), border=True
    )
    second.metric(tr("bottlenecks.top_share", lang), pct(top["share_of_time"]), border=True)
    third.metric(
        tr("bottlenecks.handovers", lang), count(int(moves["handovers"].sum())), border=True
    )

    st.subheader(tr("bottlenecks.ranked", lang))
    ranked = moves.with_columns(TRANSITION)
    st.vega_lite_chart(
        spec=charts.bars(
            ranked.head(TOP),
            "transition",
            "total_work_h",
            column("transition", lang),
            column("total_work_h", lang),
        ),
        width="stretch",
    )
    table(
        ranked.select(
            "rank",
            "from_step",
            "to_step",
            "count",
            "median_work_h",
            "p90_work_h",
            "total_work_h",
            "share_of_time",
            "handovers",
        ),
        "transitions",
        lang,
        percent=["share_of_time"],
    )

    st.subheader(tr("bottlenecks.matrix", lang))
    if matrix.is_empty():
        st.info(tr("bottlenecks.no_handovers", lang))
    else:
        st.vega_lite_chart(
            spec=charts.heatmap(
                matrix,
                "to_department",
                "from_department",
                "median_work_h",
                column("to_department", lang),
                column("from_department", lang),
                column("median_work_h", lang),
            ),
            width="stretch",
        )
        table(matrix, "handovers", lang)

    st.subheader(tr("bottlenecks.slower", lang))
    st.caption(
        tr(
            "bottlenecks.slower_note",
            lang,
            recent=RECENT_MONTHS,
            end=day(view.filters.end, lang),
            before=BASELINE_MONTHS,
            min=MIN_COUNT,
        )
    )
    if slower.is_empty():
        st.success(f"✓ {tr('bottlenecks.none_slower', lang)}")
        return
    worst = slower.row(0, named=True)
    st.metric(
        tr("bottlenecks.slowest_rise", lang),
        md(f"{worst['from_step']} → {worst['to_step']}"),
        delta=f"+{decimal(worst['change_work_h'])} {'工时' if lang == 'zh' else 'working h'}",
        delta_color="inverse",
        border=True,
    )
    trend = data.transitions(version, trailing_year(view.filters), "month")
    chosen = slower.head(5).select("from_step", "to_step")
    series = trend.join(chosen, on=["from_step", "to_step"]).sort("month")
    months = series["month"].unique().sort().to_list()
    series = series.with_columns(
        TRANSITION,
        pl.col("month").replace_strict(month_labels(months, view), return_dtype=pl.String),
    )
    st.markdown(f"**{tr('bottlenecks.trend', lang)}**")
    st.vega_lite_chart(
        spec=charts.lines(
            series,
            "month",
            "median_work_h",
            "transition",
            tr("chart.month", lang),
            column("median_work_h", lang),
            column("transition", lang),
            partial_note=partial_note(months, view),
        ),
        width="stretch",
    )
    table(slower, "slower_steps", lang)


show()
