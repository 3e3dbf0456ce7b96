"""Unit tests of what the pages write: data as literal Markdown, numbers without a signed zero,
axis titles with units, fitted chart scales, table copies for print."""

from __future__ import annotations

import re
import string

import polars as pl
import pytest

from ui import charts, fmt
from ui.download import on_screen, print_copy
from ui.i18n import axis_title
from ui.plain import WORD_JOINER, md

HOSTILE = [
    "![x](http://10.0.0.1/p.png)",
    "[点我](https://evil.example.com/go)",
    ":red[加急] :smile: **粗** _斜_ `code`",
    "<img src=http://evil.example.com/i.png> &amp;",
    "# 标题\n- 列表\n1. 第一\n    缩进代码 > 引用",
    "www.evil.example.com a@b.cn $x^2$ | 表 | ~~删~~",
    "\\:red[x] \\\\ 反斜杠",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_data_in_markdown_reads_as_its_characters(text: str) -> None:
    """Every ASCII punctuation character of md(text) is backslash-escaped (CommonMark then
    takes it literally: no image, link, emphasis, code, heading, list, HTML or directive),
    no GFM autolink or emoji pattern is left, and undoing the escapes gives the text back
    (its whitespace as one space). The browser test checks Streamlit's own rendering."""
    out = md(text)
    unescaped = re.sub(r"\\([" + re.escape(string.punctuation) + "])", r"\1", out)
    assert unescaped.replace(WORD_JOINER, "") == " ".join(text.split())
    bare = re.sub(r"\\[" + re.escape(string.punctuation) + "]", "", out)
    assert not any(c in string.punctuation for c in bare), bare
    visible = unescaped
    assert not re.search(r"(?i)https?:|www\.|@\w|:\w+:", visible)
    assert "\n" not in out


def test_colons_autolinks_and_emails_are_broken_invisibly() -> None:
    out = md(":red[x] http://h www.h a@b")
    assert f"\\:{WORD_JOINER}red" in out
    assert f"http{WORD_JOINER}\\:" in out and f"www{WORD_JOINER}\\." in out
    assert f"\\@{WORD_JOINER}b" in out


def test_no_signed_zero() -> None:
    assert fmt.decimal(-0.0001) == "0.0"
    assert fmt.pct(-0.00001) == "0.0%"
    assert fmt.count(-0.2) == "0"
    assert fmt.kpi_change("on_time_rate", 0.95, 0.95000001, "zh") == "0.0 个百分点"
    assert fmt.kpi_change("on_time_rate", 0.90, 0.95, "en") == "-5.0 pp"
    assert fmt.kpi_change("submitted", 10, 7, "en") == "+3"
    rounded = on_screen(pl.DataFrame({"x": [-0.001, float("nan"), 1.234]}))
    assert rounded["x"].to_list() == [0.0, None, 1.23]
    assert str(rounded["x"][0]) == "0.0"


def test_axis_titles_name_the_measure_and_its_unit() -> None:
    assert axis_title("on_time_rate", "zh") == "按时办结率（%）"
    assert axis_title("submitted", "en") == "Submitted (applications)"
    assert axis_title("bad_reviews", "en").endswith("(ratings)")
    # a name that already says its unit is not repeated
    assert axis_title("processing_workdays_median", "zh").count("工作日") == 1


def test_scales_fit_the_data_and_the_target() -> None:
    low, high = charts.fitted([0.95, 0.98, 0.99], "rate") or [0, 0]
    assert 0.9 < low < 0.95 and 0.99 < high <= 1.0
    assert charts.fitted([5.0, 5.0], "decimal") == [4.0, 6.0]  # a flat line keeps its height
    assert charts.fitted([0.0, 0.0], "count") == [0.0, 1.0]
    assert charts.fitted([], "rate") is None


def test_a_print_copy_is_escaped_and_whole() -> None:
    frame = pl.DataFrame({"matter_name": ["<b>x</b>", None], "on_time_rate": [0.5, None]})
    copy = print_copy(frame, ["on_time_rate"], "zh")
    assert "&lt;b&gt;x&lt;/b&gt;" in copy and "<b>" not in copy
    assert copy.count("<tr>") == 3 and "50.0%" in copy and "None" not in copy
