"""A matter's process map as Graphviz DOT: steps as nodes, transitions as edges whose width
grows with their count and whose colour darkens with their median working hours (one blue
hue, readable with any colour vision). st.graphviz_chart draws it in the browser."""

from __future__ import annotations

import polars as pl

# Light to dark blue (ColorBrewer "Blues"), one step per fifth of the hours' range.
SHADES = ("#c6dbef", "#6baed6", "#3182bd", "#08519c", "#08306b")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(transitions: pl.DataFrame, hours_label: str) -> str:
    """DOT for a transitions frame (from_step, to_step, count, median_work_h)."""
    lines = [
        "digraph process {",
        '  rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#f0f0f0",'
        ' fontname="sans-serif"]; edge [fontname="sans-serif", fontsize=10];',
    ]
    if transitions.is_empty():
        return "\n".join([*lines, "}"])
    top_count = max(int(transitions["count"].max() or 1), 1)  # type: ignore[arg-type]
    hours = transitions["median_work_h"].fill_null(0.0)
    low, high = float(hours.min() or 0.0), float(hours.max() or 0.0)  # type: ignore[arg-type]
    steps = dict.fromkeys(transitions["from_step"].to_list() + transitions["to_step"].to_list())
    for step in steps:
        lines.append(f"  {_quote(step)};")
    for row in transitions.iter_rows(named=True):
        median = float(row["median_work_h"] or 0.0)
        shade = 0 if high == low else min(4, int(5 * (median - low) / (high - low)))
        width = 1 + 7 * row["count"] / top_count
        label = f"{row['count']:,} · {median:.1f} {hours_label}"
        lines.append(
            f"  {_quote(row['from_step'])} -> {_quote(row['to_step'])} "
            f'[penwidth={width:.1f}, color="{SHADES[shade]}", label={_quote(label)}];'
        )
    return "\n".join([*lines, "}"])
