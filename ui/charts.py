"""Altair charts on aggregated frames. Colours are the Okabe–Ito palette (safe for the common
colour-blindness types); red and yellow cards always carry a text label too."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, ParamSpec

import altair as alt
import polars as pl
import streamlit as st

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
Drawn = alt.Chart | alt.LayerChart


def _drawn(chart: object) -> Drawn:
    """Altair's builders are untyped; this narrows what they return."""
    assert isinstance(chart, alt.Chart | alt.LayerChart)
    return chart


P = ParamSpec("P")
Spec = dict[str, Any]


def spec(build: Callable[P, Drawn]) -> Callable[P, Spec]:
    """Makes a chart builder return its Vega-Lite spec, cached on its arguments (frames by
    content). Building and validating an Altair chart costs 30–50 ms; a page of charts on a
    cached rerun would spend most of its time there. Draw with st.vega_lite_chart(spec=…)."""

    @st.cache_data(show_spinner=False, max_entries=512)
    @functools.wraps(build)
    def cached(*args: P.args, **kwargs: P.kwargs) -> Spec:
        return build(*args, **kwargs).to_dict()

    return cached


RED = "#D55E00"  # vermilion: distinguishable from the yellow under deuteranopia
YELLOW = "#E69F00"


def note_title(note: str) -> alt.TitleParams:
    """A sentence above a chart that has no title of its own (Vega draws no subtitle
    without a title): small, plain, left-aligned."""
    return alt.TitleParams(note, fontSize=11, fontWeight="normal", anchor="start", color="#555")


def axis_format(measure: str) -> dict[str, Any]:
    """Axis and tooltip format for a measure: "rate" (a share, as %), "count" (whole
    numbers only: no 0.2 applications) or anything else (decimals, trailing zeros dropped)."""
    if measure == "rate":
        return {"format": ".1~%"}
    if measure == "count":
        return {"format": ",d", "tickMinStep": 1}
    return {"format": ",.1~f"}


def fitted(values: list[float], measure: str) -> list[float] | None:
    """A y domain fitted to `values` (the target among them) with some air, so a rate moving
    between 95 % and 98 % is not a flat line on a 0–100 % scale and a constant series still
    has height. Shares stay within 0–100 %, every measure here is never negative."""
    if not values:
        return None
    low, high = min(values), max(values)
    span = high - low
    pad = span * 0.15 if span > 0 else max(abs(high) * 0.1, 0.01 if measure == "rate" else 1.0)
    low, high = max(low - pad, 0.0), high + pad
    if measure == "rate":
        high = min(high, 1.0)
    if measure == "count":
        low, high = float(math.floor(low)), float(math.ceil(high))
    return [low, high]


@spec
def trend(
    frame: pl.DataFrame,
    x: str,
    y: str,
    title: str,
    x_title: str,
    y_title: str,
    target: float | None = None,
    measure: str = "decimal",
    target_title: str = "",
    partial_note: str = "",
) -> Drawn:
    """A monthly line with its target as a dashed rule (labelled). `frame` may carry a
    boolean `partial`: those months are drawn as hollow points, and `partial_note` says why
    under the title. The y scale is fitted to the data and the target."""
    axis = axis_format(measure)
    known = [float(v) for v in frame[y].drop_nulls().drop_nans().to_list()]
    domain = fitted(known + ([target] if target is not None else []), measure)
    y_scale = alt.Scale(domain=domain, zero=False) if domain else alt.Scale(zero=False)
    base = alt.Chart(frame).encode(
        x=alt.X(f"{x}:N", title=x_title, sort=None, axis=alt.Axis(labelAngle=0))
    )
    y_enc = alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(**axis), scale=y_scale)
    tooltip = [
        alt.Tooltip(f"{x}:N", title=x_title),
        alt.Tooltip(f"{y}:Q", title=y_title, format=axis["format"]),
    ]
    line = base.mark_line(color=OKABE_ITO[0]).encode(y=y_enc, tooltip=tooltip)
    filled = (
        alt.condition("datum.partial", alt.value("white"), alt.value(OKABE_ITO[0]))
        if "partial" in frame.columns
        else alt.value(OKABE_ITO[0])
    )
    points = base.mark_point(size=60, color=OKABE_ITO[0], filled=False, strokeWidth=2).encode(
        y=y_enc, fill=filled, tooltip=tooltip
    )
    layers: list[alt.Chart] = [line, points]
    if target is not None:
        rule = pl.DataFrame({"target": [target], "label": [target_title]})
        layers.append(
            alt.Chart(rule)
            .mark_rule(strokeDash=[6, 4], color=OKABE_ITO[3])
            .encode(
                y=alt.Y("target:Q", scale=y_scale),
                tooltip=[alt.Tooltip("target:Q", title=target_title, format=axis["format"])],
            )
        )
        layers.append(
            alt.Chart(rule)
            .mark_text(align="left", dx=4, dy=-6, color=OKABE_ITO[3])
            .encode(y=alt.Y("target:Q", scale=y_scale), x=alt.value(0), text="label:N")
        )
    heading = alt.TitleParams(title, subtitle=[partial_note]) if partial_note else title
    return _drawn(alt.layer(*layers).properties(title=heading, height=280))


@spec
def bars(
    frame: pl.DataFrame,
    category: str,
    value: str,
    category_title: str,
    value_title: str,
    percent: bool = False,
    color: str | None = None,
    label: str | None = None,
    whole: bool = False,
) -> Drawn:
    """Horizontal bars, largest on top; `label` names a text column drawn at each bar;
    `whole`: the values are counts (integer ticks)."""
    axis = axis_format("rate" if percent else "count" if whole else "decimal")
    fmt = axis["format"]
    base = alt.Chart(frame).encode(
        # labelOverlap off: Vega-Lite would drop every other bar's name to avoid crowding.
        y=alt.Y(
            f"{category}:N", title=category_title, sort="-x", axis=alt.Axis(labelOverlap=False)
        ),
        x=alt.X(f"{value}:Q", title=value_title, axis=alt.Axis(**axis)),
        tooltip=[
            alt.Tooltip(f"{category}:N", title=category_title),
            alt.Tooltip(f"{value}:Q", title=value_title, format=fmt),
        ],
    )
    if color is not None:
        chart = base.mark_bar().encode(
            color=alt.Color(f"{color}:N", scale=alt.Scale(range=list(OKABE_ITO)), title=None)
        )
    else:
        chart = base.mark_bar(color=OKABE_ITO[0])
    if label is not None:
        text = base.mark_text(align="left", dx=3).encode(text=f"{label}:N")
        return _drawn((chart + text).properties(height=alt.Step(24)))
    return _drawn(chart.properties(height=alt.Step(24)))


@spec
def cards(
    frame: pl.DataFrame,
    category: str,
    category_title: str,
    count_title: str,
    red_label: str,
    yellow_label: str,
) -> Drawn:
    """Red and yellow card counts per category, stacked, each segment labelled in text."""
    long = (
        frame.unpivot(index=category, on=["red", "yellow"], variable_name="card", value_name="n")
        .filter(pl.col("n") > 0)
        .with_columns(
            pl.col("card").replace_strict({"red": red_label, "yellow": yellow_label}).alias("card")
        )
    )
    base = alt.Chart(long).encode(
        # labelOverlap off: Vega-Lite would drop every other bar's name to avoid crowding.
        y=alt.Y(
            f"{category}:N", title=category_title, sort="-x", axis=alt.Axis(labelOverlap=False)
        ),
        x=alt.X("n:Q", title=count_title, stack="zero", axis=alt.Axis(**axis_format("count"))),
        tooltip=[
            alt.Tooltip(f"{category}:N", title=category_title),
            alt.Tooltip("card:N", title=""),
            alt.Tooltip("n:Q", title=count_title),
        ],
    )
    chart = base.mark_bar().encode(
        color=alt.Color(
            "card:N",
            scale=alt.Scale(domain=[red_label, yellow_label], range=[RED, YELLOW]),
            title=None,
        )
    )
    text = (
        base.mark_text(dx=-4, align="right", color="white")
        .encode(text=alt.Text("label:N"))
        .transform_calculate(label="datum.card + ' ' + datum.n")
    )
    return _drawn((chart + text).properties(height=alt.Step(26)))


@spec
def histogram(
    frame: pl.DataFrame, x: str, y: str, x_title: str, y_title: str, rules: list[tuple[float, str]]
) -> Drawn:
    """Counts per value with labelled vertical rules (e.g. the promised and statutory limit)."""
    bars_ = (
        alt.Chart(frame)
        .mark_bar(color=OKABE_ITO[0])
        .encode(
            x=alt.X(f"{x}:Q", title=x_title, bin=False, scale=alt.Scale(domainMin=0)),
            y=alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(**axis_format("count"))),
            tooltip=[alt.Tooltip(f"{x}:Q", title=x_title), alt.Tooltip(f"{y}:Q", title=y_title)],
        )
    )
    layers: list[alt.Chart] = [bars_]
    if rules:
        marks = pl.DataFrame({"at": [r[0] for r in rules], "label": [r[1] for r in rules]})
        colour = alt.Color(
            "label:N", scale=alt.Scale(range=[OKABE_ITO[3], OKABE_ITO[5]]), title=None
        )
        layers.append(
            alt.Chart(marks)
            .mark_rule(strokeDash=[6, 4], size=2)
            .encode(x="at:Q", color=colour, tooltip=["label:N", "at:Q"])
        )
        layers.append(
            alt.Chart(marks)
            .mark_text(angle=270, align="left", dx=4, dy=-4)
            .encode(x="at:Q", y=alt.value(0), text="label:N", color=colour)
        )
    return _drawn(alt.layer(*layers).properties(height=260))


@spec
def heatmap(
    frame: pl.DataFrame,
    x: str,
    y: str,
    value: str,
    x_title: str,
    y_title: str,
    value_title: str,
    y_sort: list[str] | None = None,
) -> Drawn:
    """A grid coloured by `value` (viridis, readable in grey too), the value written in."""
    base = alt.Chart(frame).encode(
        x=alt.X(f"{x}:O", title=x_title),
        y=alt.Y(f"{y}:N", title=y_title, sort=y_sort, axis=alt.Axis(labelOverlap=False)),
        tooltip=[
            alt.Tooltip(f"{y}:N", title=y_title),
            alt.Tooltip(f"{x}:O", title=x_title),
            alt.Tooltip(f"{value}:Q", title=value_title, format=",.1f"),
        ],
    )
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", title=value_title, scale=alt.Scale(scheme="viridis"))
    )
    # viridis runs dark to light: white text on the lower half, black on the upper.
    middle = float(frame[value].mean() or 0.0)  # type: ignore[arg-type]
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text(f"{value}:Q", format=".0f"),
        color=alt.condition(f"datum.{value} < {middle}", alt.value("white"), alt.value("black")),
    )
    return _drawn((cells + text).properties(height=max(160, 28 * frame[y].n_unique())))


@spec
def lines(
    frame: pl.DataFrame,
    x: str,
    y: str,
    series: str,
    x_title: str,
    y_title: str,
    series_title: str,
    partial_note: str = "",
) -> Drawn:
    """Several monthly lines, one colour each, on a y scale fitted to them; `partial_note`
    (under the chart) says which month is not whole."""
    known = [float(v) for v in frame[y].drop_nulls().drop_nans().to_list()]
    domain = fitted(known, "decimal")
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:N", title=x_title, sort=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y(
                f"{y}:Q",
                title=y_title,
                axis=alt.Axis(**axis_format("decimal")),
                scale=alt.Scale(domain=domain, zero=False) if domain else alt.Scale(zero=False),
            ),
            color=alt.Color(
                f"{series}:N", title=series_title, scale=alt.Scale(range=list(OKABE_ITO))
            ),
            tooltip=[
                alt.Tooltip(f"{series}:N", title=series_title),
                alt.Tooltip(f"{x}:N", title=x_title),
                alt.Tooltip(f"{y}:Q", title=y_title, format=",.1f"),
            ],
        )
        .properties(height=260)
    )
    if partial_note:
        chart = chart.properties(title=note_title(partial_note))
    return _drawn(chart)


@spec
def reform_series(
    frame: pl.DataFrame,
    groups: tuple[str, str],
    effective: tuple[str, str],
    windows: tuple[tuple[str, str, str], tuple[str, str, str]],
    month_title: str,
    value_title: str,
    group_title: str,
    percent: bool = False,
    partial: tuple[str, str] = ("", ""),
) -> Drawn:
    """Monthly lines of the touched and the control group (`frame`: month as an ISO date,
    group, value, applications), told apart by colour and dash, with the effective date as a
    labelled rule and the before and after windows shaded and named. `groups` are the two
    group labels (touched first), `effective` the date and its label, `windows` each window's
    first day, last day and label; `partial` a month the data covers in part (its first day,
    ISO) and the sentence that says so: its points are hollow, the sentence under the title.
    The y scale is fitted to the values."""
    fmt = ".1~%" if percent else ",.2~f"
    known = [float(v) for v in frame["value"].drop_nulls().drop_nans().to_list()]
    domain = fitted(known, "rate" if percent else "decimal")
    x = alt.X("month:T", title=month_title, axis=alt.Axis(format="%Y-%m"))
    shaded = pl.DataFrame(
        {
            "start": [w[0] for w in windows],
            "end": [w[1] for w in windows],
            "label": [w[2] for w in windows],
        }
    )
    bands = alt.Chart(shaded).mark_rect(opacity=0.12, color=OKABE_ITO[4])
    band_text = alt.Chart(shaded).mark_text(align="left", baseline="top", dx=4, dy=4)
    first_partial = partial[0] or "9999-12-31"
    y = alt.Y(
        "value:Q",
        title=value_title,
        axis=alt.Axis(format=fmt),
        scale=alt.Scale(domain=domain, zero=False) if domain else alt.Scale(zero=False),
    )
    points = (
        alt.Chart(frame)
        .transform_calculate(partial=f"toDate(datum.month) >= toDate('{first_partial}')")
        .mark_point(size=50, filled=False, strokeWidth=2)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "group:N",
                scale=alt.Scale(domain=list(groups), range=[OKABE_ITO[0], OKABE_ITO[1]]),
                legend=None,
            ),
            fill=alt.condition(
                "datum.partial",
                alt.value("white"),
                alt.Color(
                    "group:N",
                    scale=alt.Scale(domain=list(groups), range=[OKABE_ITO[0], OKABE_ITO[1]]),
                    legend=None,
                ),
            ),
        )
    )
    lines_ = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "group:N",
                title=group_title,
                scale=alt.Scale(domain=list(groups), range=[OKABE_ITO[0], OKABE_ITO[1]]),
            ),
            strokeDash=alt.StrokeDash(
                "group:N",
                title=group_title,
                scale=alt.Scale(domain=list(groups), range=[[1, 0], [6, 3]]),
            ),
            tooltip=[
                alt.Tooltip("group:N", title=group_title),
                alt.Tooltip("month:T", title=month_title, format="%Y-%m"),
                alt.Tooltip("value:Q", title=value_title, format=fmt),
                alt.Tooltip("applications:Q", title="n"),
            ],
        )
    )
    at = pl.DataFrame({"at": [effective[0]], "label": [effective[1]]})
    rule = alt.Chart(at).mark_rule(color=OKABE_ITO[3], size=2).encode(x="at:T")
    rule_text = (
        alt.Chart(at)
        .mark_text(align="left", dx=4, dy=-6, color=OKABE_ITO[3])
        .encode(x="at:T", y=alt.value(0), text="label:N")
    )
    chart = alt.layer(
        bands.encode(x=alt.X("start:T", title=month_title), x2="end:T"),
        band_text.encode(x="start:T", y=alt.value(14), text="label:N"),
        lines_,
        points,
        rule,
        rule_text,
    ).properties(height=300)
    return _drawn(chart.properties(title=note_title(partial[1])) if partial[1] else chart)
