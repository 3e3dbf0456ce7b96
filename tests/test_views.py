"""The view a link describes (Streamlit AppTest on the demo center of tests/test_app.py):
the default period when "today" is the 1st of a month, both comparisons (环比, 同比), the
partial month's marking, filters the warehouse does not know and reversed dates reported in
one sentence (on the page and by `onewindow report`), and the window and staff cuts giving
the figures `onewindow report --window/--staff` gives."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, cast

import polars as pl
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from metrics.catalog import Problem, windows
from metrics.filters import Filters
from tests.conftest import run_cli
from tests.test_app import (  # noqa: F401  (demo, every_page_role: fixtures)
    _kpi_table,
    _metrics,
    _open,
    demo,
    every_page_role,
)
from ui import fmt, widgets
from ui.fmt import Lang
from ui.i18n import tr
from ui.plain import md
from ui.view import problems_sentence
from warehouse import Warehouse

LANGS: tuple[Lang, ...] = ("zh", "en")
FIRST = "2025-06-01"  # a Sunday: June has no working day of its own yet


def _charts(at: AppTest) -> list[tuple[dict[str, Any], pl.DataFrame]]:
    """The Vega-Lite specs the page drew, each with its data."""
    drawn = []
    for element in at.get("vega_lite_chart"):
        chart: Any = element.proto
        rows = pl.DataFrame()
        if chart.datasets:
            table = pa.ipc.open_stream(chart.datasets[0].data.data).read_all()
            rows = cast(pl.DataFrame, pl.from_arrow(table))
        drawn.append((json.loads(chart.spec), rows))
    return drawn


@pytest.mark.parametrize("lang", LANGS)
def test_on_the_first_of_a_month_the_default_is_last_month(
    demo: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    lang: Lang,
) -> None:
    """Pinned to 1 June 2025 (the demo runs to 30 June): the page opens on May, compared with
    April (环比) and with May 2024 (同比), and the link names the period."""
    monkeypatch.setenv("ONEWINDOW_TODAY", FIRST)
    at = _open(demo, monkeypatch, "overview", lang=lang)
    assert at.selectbox(key="period").value == "last_month"
    assert at.query_params["period"] == "last_month"
    may = Filters(date(2025, 5, 1), date(2025, 5, 31))
    april = Filters(date(2025, 4, 1), date(2025, 4, 30))
    may_2024 = Filters(date(2024, 5, 1), date(2024, 5, 31))
    now, before, year_ago = (widgets.values(_kpi_table(demo, f)) for f in (may, april, may_2024))
    table = _kpi_table(demo, may)
    shown = {m.label: (m.value, m.delta) for m in at.metric}
    captions = [c.value for c in at.caption]
    for kpi in ("submitted", "on_time_rate", "online_rate"):
        label = widgets.card_label(kpi, table, lang)
        change = fmt.kpi_change(kpi, now[kpi], before[kpi], lang)
        yoy = fmt.kpi_change(kpi, now[kpi], year_ago[kpi], lang)
        assert change is not None and yoy is not None
        assert shown[label] == (
            fmt.kpi_value(kpi, now[kpi], lang),
            widgets.compared(change, "previous", lang),
        )
        assert widgets.compared(yoy.replace("-", "−"), "year_ago", lang) in captions
    period = captions[0]
    for key, first, last in (
        ("filters.showing", date(2025, 5, 1), date(2025, 5, 31)),
        ("filters.previous", date(2025, 4, 1), date(2025, 4, 30)),
        ("filters.year_ago", date(2024, 5, 1), date(2024, 5, 31)),
    ):
        assert tr(key, lang, start=fmt.day(first, lang), end=fmt.day(last, lang)) in period
    assert tr("compare.previous", lang) in period and tr("compare.year_ago", lang) in period


def test_a_partial_month_is_marked_in_every_monthly_chart(
    demo: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """This month on 1 June: June holds one day, and each trend says so, draws it hollow and
    names it on its axis; no chart is a squeezed 0–100 % line."""
    monkeypatch.setenv("ONEWINDOW_TODAY", FIRST)
    at = _open(demo, monkeypatch, "overview", lang="zh", period="this_month")
    note = tr("chart.partial", "zh", month="2025年6月", end=fmt.day(date(2025, 6, 1), "zh"))
    mark = tr("chart.partial_mark", "zh", month="6月", day=1)
    trends = [(spec, rows) for spec, rows in _charts(at) if "layer" in spec]
    assert len(trends) == 4
    with_june = 0
    for spec, rows in trends:
        text = json.dumps(spec, ensure_ascii=False)
        y = spec["layer"][0]["encoding"]["y"]
        assert "数值" not in y["title"] and "（" in y["title"]  # the measure and its unit
        low, high = y["scale"]["domain"]
        values = rows["value"].drop_nulls().to_list()
        assert low <= min(values) and max(values) <= high
        assert high - low < 1.0 or y["axis"]["format"] != ".1~%"  # a rate is not 0–100 %
        if "partial" not in rows.columns or not rows["partial"].any():
            continue
        with_june += 1
        assert rows.filter(pl.col("partial"))["month"].to_list() == [mark]
        assert note in text  # said under the title
        assert '"datum.partial"' in text  # and drawn hollow
    assert with_june >= 3  # the on-time rate may have no June completion yet


@pytest.mark.parametrize("lang", LANGS)
def test_unknown_filter_values_are_one_sentence_not_the_whole_center(
    demo: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    lang: Lang,
) -> None:
    at = _open_failing(
        demo, monkeypatch, "overview", lang=lang, department="不存在局", matter="M-XX-999"
    )
    problems = [
        Problem("unknown", "department", ("不存在局",)),
        Problem("unknown", "matter", ("M-XX-999",)),
    ]
    assert [e.value for e in at.error] == [problems_sentence(problems, lang)]
    assert at.metric.len == 0  # no figure of the whole center
    assert at.query_params["department"] == "不存在局"  # the link keeps what it asked


def _open_failing(db: Path, monkeypatch: pytest.MonkeyPatch, slug: str, **params: str) -> AppTest:
    """Like _open, for a view whose one error is expected."""
    import ui.data
    from ui.nav import PAGES

    monkeypatch.setenv("ONEWINDOW_DB", str(db))
    ui.data.config.clear()
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if slug != PAGES[0].slug:
        at.switch_page(next(p for p in PAGES if p.slug == slug).file).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("slug", ["overview", "supervision", "bottlenecks"])
def test_reversed_dates_are_one_sentence_never_swapped(
    demo: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    lang: Lang,
    slug: str,
) -> None:
    at = _open_failing(
        demo,
        monkeypatch,
        slug,
        lang=lang,
        period="custom",
        **{"from": "2025-06-30", "to": "2025-04-01"},
    )
    problem = Problem("reversed", "period", ("2025-06-30", "2025-04-01"))
    assert [e.value for e in at.error] == [problems_sentence([problem], lang)]
    assert at.metric.len == 0


def test_a_markdown_value_in_the_link_is_shown_as_text(
    demo: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostile = "![x](http://10.0.0.9/p.png) :red[警告]"
    at = _open_failing(demo, monkeypatch, "overview", lang="en", department=hostile)
    [error] = [e.value for e in at.error]
    assert md(hostile) in error and hostile not in error


def test_the_command_line_reports_the_same_problems_with_exit_2(demo: Path) -> None:  # noqa: F811
    unknown = run_cli(
        "report", "kpis", "--db", demo, "--department", "不存在局", "--matter", "M-XX-999"
    )
    assert unknown.code == 2 and unknown.out == ""
    assert unknown.err.strip() == (
        "onewindow: no department '不存在局' in the data; no matter 'M-XX-999' in the data"
    )
    backwards = run_cli(
        "report", "kpis", "--db", demo, "--from", "2025-06-30", "--to", "2025-04-01"
    )
    assert backwards.code == 2 and backwards.out == ""
    assert "starts on 2025-06-30, after it ends on 2025-04-01" in backwards.err
    window = run_cli("report", "cards", "--db", demo, "--window", "99号窗口")
    assert window.code == 2 and "no window '99号窗口'" in window.err


def _report(db: Path, *args: str) -> dict[str, float | None]:
    ran = run_cli("report", "kpis", "--db", db, "--format", "json", *args)
    assert ran.code == 0, ran.err
    return {r["kpi"]: r["value"] for r in json.loads(ran.out)}


@pytest.mark.parametrize("lang", LANGS)
def test_window_and_staff_cut_as_the_command_line_does(
    demo: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    lang: Lang,
) -> None:
    ran = run_cli("report", "workload", "--db", demo, "--format", "json")
    busiest = json.loads(ran.out)[0]["staff"]
    with Warehouse(demo).read() as con:
        window = windows(con)[0]
    period = {"period": "custom", "from": "2025-04-01", "to": "2025-06-30"}
    dates = ("--from", "2025-04-01", "--to", "2025-06-30")
    for key, value in (("window", window), ("staff", busiest)):
        at = _open(demo, monkeypatch, "overview", lang=lang, **period, **{key: value})
        expected = _report(demo, *dates, f"--{key}", value)
        everything = _report(demo, *dates)
        table = _kpi_table(demo, Filters(date(2025, 4, 1), date(2025, 6, 30)))
        shown = _metrics(at)
        for kpi in ("submitted", "on_time_rate", "online_rate", "processing_workdays_median"):
            label = widgets.card_label(kpi, table, lang)
            assert shown[label] == fmt.kpi_value(kpi, expected[kpi], lang), (key, kpi)
        assert expected["submitted"] != everything["submitted"]  # the cut mattered
        assert at.multiselect(key=key).value == [value]
        assert at.query_params[key] == value
