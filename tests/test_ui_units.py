"""The dashboard's words, number formats, downloads and process map, without a browser."""

from __future__ import annotations

import io
import re
import string
from datetime import date

import polars as pl
import pytest

from metrics.kpis import KPIS
from ui import fmt
from ui.download import neutralise, to_csv, to_xlsx
from ui.i18n import COLUMNS, TEXT, column, tr
from ui.nav import PAGES
from ui.processmap import dot


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("table", [TEXT, COLUMNS], ids=["text", "columns"])
def test_every_entry_has_both_languages(table: dict[str, tuple[str, str]]) -> None:
    for key, (zh, en) in table.items():
        assert zh.strip() and en.strip(), key
        assert _fields(zh) == _fields(en), key  # the same placeholders in both
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{key}: the Chinese text has no Chinese"


def test_every_kpi_page_and_group_has_both_languages() -> None:
    for kpi in KPIS.values():
        assert kpi.zh and kpi.en
    for page in PAGES:
        assert page.title_zh and page.title_en
        assert f"group.{page.group}" in TEXT


def test_translation_picks_the_language() -> None:
    assert tr("card.left", "zh", days="1.5") == "剩余 1.5 个工作日"
    assert tr("card.left", "en", days="1.5") == "1.5 working days left"
    assert column("on_time_rate", "zh") == "按时办结率"
    assert column("median_work_h", "en") == "Median working h"
    assert column("unknown_column", "en") == "unknown_column"


def test_formats_per_language() -> None:
    assert fmt.kpi_value("on_time_rate", 0.98765, "zh") == "98.8%"
    assert fmt.kpi_value("submitted", 12345.0, "en") == "12,345"
    assert fmt.kpi_value("processing_workdays_median", 3.0, "zh") == "3.0 天"
    assert fmt.kpi_value("processing_workdays_median", 3.0, "en") == "3.0 days"
    assert fmt.kpi_value("on_time_rate", None, "en") == "—"
    assert fmt.kpi_change("on_time_rate", 0.95, 0.97, "zh") == "-2.0 个百分点"
    assert fmt.kpi_change("on_time_rate", 0.97, 0.95, "en") == "+2.0 pp"
    assert fmt.kpi_change("submitted", 120.0, 100.0, "en") == "+20"
    assert fmt.kpi_change("submitted", 120.0, None, "en") is None
    assert fmt.day(date(2025, 3, 5), "zh") == "2025年3月5日"
    assert fmt.day(date(2025, 3, 5), "en") == "5 Mar 2025"
    assert fmt.month("2025-03", "zh") == "2025年3月" and fmt.month("2025-03", "en") == "Mar 2025"


HOSTILE = pl.DataFrame(
    {
        "text": ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "plain", "a=b", None],
        "number": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    }
)


def test_formula_cells_are_neutralised() -> None:
    safe = neutralise(HOSTILE)
    assert safe["text"].to_list() == [
        "'=1+1", "'+cmd", "'-2+3", "'@SUM(A1)", "'\tx", "plain", "a=b", None,
    ]  # fmt: skip
    assert safe["number"].to_list() == HOSTILE["number"].to_list()  # numbers stay numbers


def test_csv_download_is_neutralised_and_opens_in_excel() -> None:
    data = to_csv(HOSTILE)
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the UTF-8 Chinese right
    back = pl.read_csv(io.BytesIO(data[3:]))
    assert back["text"][0] == "'=1+1" and back["number"][0] == -1.5


def test_excel_download_is_neutralised_and_has_no_formula() -> None:
    data = to_xlsx(HOSTILE.rename({"text": "文本"}), "表")
    back = pl.read_excel(io.BytesIO(data))
    assert back["文本"].to_list()[:4] == ["'=1+1", "'+cmd", "'-2+3", "'@SUM(A1)"]
    assert back["number"][0] == -1.5
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no cell is a formula


def test_process_map() -> None:
    moves = pl.DataFrame(
        {
            "from_step": ["受理", "审查", 'say "hi"'],
            "to_step": ["审查", "办结", "办结"],
            "count": [10, 5, 1],
            "median_work_h": [1.0, 9.0, 5.0],
        }
    )
    text = dot(moves, "h")
    assert text.startswith("digraph process {") and text.endswith("}")
    # width grows with count (10 -> 8, 5 -> 4.5); colour darkens with hours (1 h lightest,
    # 9 h darkest); quotes in step names are escaped
    assert '"受理" -> "审查" [penwidth=8.0, color="#c6dbef", label="10 · 1.0 h"];' in text
    assert '"审查" -> "办结" [penwidth=4.5, color="#08306b", label="5 · 9.0 h"];' in text
    assert '"say \\"hi\\"";' in text
    assert dot(moves.clear(), "h").count("->") == 0
