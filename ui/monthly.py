"""The monthly report (月报) as files: an Excel workbook with every table, and an A4 PDF a
director sends to superiors. Both are written from metrics.monthly.Monthly; values are
formatted by ui.fmt exactly as the dashboard shows them, and the charts are the dashboard's
own Altair specifications (ui.charts) rendered without a browser by vl-convert.

Text from data (names of departments and matters) is written as plain text: a PDF has no
markup to interpret, and the workbook writes every string as a string, never as a formula
or a link (ui.download.neutralise)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import xlsxwriter

from metrics import wording
from metrics.kpis import KPIS
from metrics.monthly import CHARTED, Monthly
from ui import charts
from ui.download import neutralise
from ui.fmt import DASH, Lang, count, decimal, kind, kpi_change, kpi_value, month, pct
from ui.i18n import axis_title, column, kpi_name, tr

# Debian's fonts-wqy-microhei: a TrueType collection with the CJK glyphs the report needs.
DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
# A list longer than this shows its first rows in the PDF and says how many more the
# workbook holds.
PDF_ROWS = 15


class ReportError(Exception):
    """The report cannot be written; one sentence a user can act on."""


@dataclass(frozen=True)
class Written:
    pdf: Path
    xlsx: Path


def scope_label(m: Monthly, lang: Lang) -> str:
    return "、".join(m.departments) if m.departments else tr("monthly.whole_center", lang)


def file_stem(m: Monthly, lang: Lang) -> str:
    """'中心名_2026-10_全中心': center, month and scope, safe as a file name anywhere."""
    parts = [m.center, f"{m.month:%Y-%m}", scope_label(m, lang)]
    return "_".join(re.sub(r'[\\/:*?"<>|\s]+', "-", p).strip("-") for p in parts)[:150]


def write(m: Monthly, out: Path, lang: Lang, font: Path = DEFAULT_FONT) -> Written:
    """Writes NAME.pdf and NAME.xlsx into `out` (created, owner-only)."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = file_stem(m, lang)
    pdf, xlsx = out / f"{stem}.pdf", out / f"{stem}.xlsx"
    pdf.write_bytes(to_pdf(m, lang, font))
    xlsx.write_bytes(to_xlsx(m, lang))
    for path in (pdf, xlsx):
        path.chmod(0o600)
    return Written(pdf, xlsx)


# ----- the tables, as both files show them ------------------------------------------------------


def kpi_rows(m: Monthly, lang: Lang) -> list[list[str]]:
    """One row per KPI: name, this month, target, met, last month and change (环比), the same
    month a year earlier and change (同比)."""
    rows = []
    for r in m.kpis.iter_rows(named=True):
        k = r["kpi"]
        met = r["meets_target"]
        rows.append(
            [
                kpi_name(k, lang),
                kpi_value(k, r["value"], lang),
                DASH if r["target"] is None else kpi_value(k, r["target"], lang),
                DASH if met is None else tr("monthly.met" if met else "monthly.missed", lang),
                kpi_value(k, r["previous"], lang),
                kpi_change(k, r["value"], r["previous"], lang) or DASH,
                kpi_value(k, r["year_ago"], lang),
                kpi_change(k, r["value"], r["year_ago"], lang) or DASH,
            ]
        )
    return rows


def _kpi_header(lang: Lang) -> list[str]:
    return [
        tr(f"monthly.col.{c}", lang)
        for c in ("kpi", "value", "target", "met", "previous", "mom", "year_ago", "yoy")
    ]


def _formatted(frame: pl.DataFrame, lang: Lang) -> tuple[list[str], list[list[str]]]:
    """A frame's columns in the reader's words and its values as the dashboard formats them."""
    header = [column(c, lang) for c in frame.columns]
    rows = []
    for r in frame.iter_rows(named=True):
        rows.append([_cell(c, v, lang) for c, v in r.items()])
    return header, rows


def _cell(name: str, value: object, lang: Lang) -> str:
    if value is None:
        return DASH
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, float | int):
        return str(value)
    if name in KPIS:
        return kpi_value(name, float(value), lang)
    if name.endswith("_rate") or name in ("share", "points_lost"):
        return pct(float(value))
    return count(value) if isinstance(value, int) else decimal(value, 2)


def _reform_rows(m: Monthly, lang: Lang) -> list[list[str]]:
    rows = []
    for r in m.reforms.iter_rows(named=True):
        if r["kpi"] not in wording.PHRASES:
            continue
        rows.append(
            [
                str(r["reform_id"]),
                kpi_name(r["kpi"], lang),
                wording.reading(
                    r["kpi"], r["did"], r["did_ci_low"], r["did_ci_high"], r["verdict"], lang
                ),
            ]
        )
    return rows


# ----- Excel ----------------------------------------------------------------------------------


def to_xlsx(m: Monthly, lang: Lang) -> bytes:
    """The workbook: a cover sheet naming center, month, scope and filters, then one sheet
    per table with raw numbers (rates as fractions, formatted as percentages)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.0%"})
    cover = book.add_worksheet(tr("monthly.sheet.cover", lang))
    cover.set_column(0, 0, 22)
    cover.set_column(1, 1, 60)
    for r, (label, value) in enumerate(_cover(m, lang)):
        cover.write_string(r, 0, label, bold)
        cover.write_string(r, 1, value)
    kpis = m.kpis.with_columns(
        pl.col("kpi").replace_strict({k: kpi_name(k, lang) for k in m.kpis["kpi"]}).alias("name")
    ).select("kpi", "name", "value", "target", "meets_target", "previous", "year_ago")
    sheets: Sequence[tuple[str, pl.DataFrame]] = (
        ("kpis", kpis),
        ("departments", m.departments_ranked),
        ("drag", m.drag),
        ("open_red", m.open_red),
        ("closed_late", m.closed_late),
        ("bad_reviews", m.bad_reviews.drop("reason", strict=False)),
        ("reforms", m.reforms),
        ("series", m.series),
    )
    for key, frame in sheets:
        sheet = book.add_worksheet(tr(f"monthly.sheet.{key}", lang)[:31])
        _write_frame(sheet, neutralise(_plain(frame)), bold, percent, kpis_sheet=key == "kpis")
    book.close()
    return buffer.getvalue()


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists (a reform's matter codes) as text; instants as local ISO text."""
    return frame.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(", ")
        for c, t in frame.schema.items()
        if isinstance(t, pl.List)
    )


def _write_frame(
    sheet: xlsxwriter.worksheet.Worksheet,
    frame: pl.DataFrame,
    bold: xlsxwriter.format.Format,
    percent: xlsxwriter.format.Format,
    kpis_sheet: bool,
) -> None:
    sheet.write_row(0, 0, frame.columns, bold)
    rates = {c for c in frame.columns if c.endswith("_rate") or c in ("share", "points_lost")}
    for r, row in enumerate(frame.iter_rows(named=True), start=1):
        is_rate = kpis_sheet and kind(str(row["kpi"])) == "rate"
        for c, (name, value) in enumerate(row.items()):
            if value is None:
                continue
            if isinstance(value, bool):
                sheet.write_boolean(r, c, value)
            elif isinstance(value, int | float):
                as_rate = name in rates or (is_rate and name != "meets_target")
                sheet.write_number(r, c, float(value), percent if as_rate else None)
            elif isinstance(value, datetime | date):
                sheet.write_string(r, c, value.isoformat())
            else:
                sheet.write_string(r, c, str(value))
    sheet.set_column(0, max(0, len(frame.columns) - 1), 16)


def _cover(m: Monthly, lang: Lang) -> list[tuple[str, str]]:
    return [
        (tr("monthly.cover.center", lang), m.center),
        (tr("monthly.cover.month", lang), month(f"{m.month:%Y-%m}", lang)),
        (tr("monthly.cover.period", lang), f"{m.month.isoformat()} – {m.last_day.isoformat()}"),
        (tr("monthly.cover.scope", lang), scope_label(m, lang)),
        (tr("monthly.cover.generated", lang), f"{m.generated_at:%Y-%m-%d %H:%M %Z}"),
        (tr("monthly.cover.note", lang), tr("monthly.note", lang)),
    ]


# ----- PDF ------------------------------------------------------------------------------------


def to_pdf(m: Monthly, lang: Lang, font: Path = DEFAULT_FONT) -> bytes:
    """The A4 report: title, the KPI table with 环比 and 同比, the trend charts, departments
    ranked, the matters that pull the on-time rate down, red cards, satisfaction, reforms."""
    from fpdf import FPDF

    if not font.exists():
        raise ReportError(
            f"the report's CJK font {font} is missing: install Debian's fonts-wqy-microhei "
            "(apt-get install fonts-wqy-microhei) or set [report] font in the config"
        )
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_creation_date(m.generated_at.astimezone(ZoneInfo("UTC")))
    pdf.set_title(f"{m.center} {m.month:%Y-%m}")
    pdf.add_font("cjk", "", str(font), collection_font_number=0)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 15, 15)
    pdf.add_page()
    pdf.set_font("cjk", size=16)
    pdf.multi_cell(
        0, 9, tr("monthly.title", lang, center=m.center), align="C", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 7, month(f"{m.month:%Y-%m}", lang), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.multi_cell(
        0,
        5,
        tr(
            "monthly.subtitle",
            lang,
            scope=scope_label(m, lang),
            start=m.month.isoformat(),
            end=m.last_day.isoformat(),
            generated=f"{m.generated_at:%Y-%m-%d %H:%M}",
        ),
        align="C",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    _section(pdf, tr("monthly.section.kpis", lang))
    _table(pdf, _kpi_header(lang), kpi_rows(m, lang), widths=(52, 19, 16, 13, 19, 22, 18, 21))
    _charts(pdf, m, lang)
    _section(pdf, tr("monthly.section.departments", lang))
    _frame_table(pdf, m.departments_ranked, lang)
    _section(pdf, tr("monthly.section.drag", lang))
    name = "name_zh" if lang == "zh" else "name_en"
    drag = m.drag.with_columns(pl.coalesce(name, "name_zh", "matter").alias("matter_name")).select(
        "matter", "matter_name", "completed", "overdue", "on_time_rate", "points_lost"
    )
    _frame_table(pdf, drag, lang, empty=tr("monthly.none_late", lang))
    _section(pdf, tr("monthly.section.cards", lang))
    _paragraph(
        pdf,
        tr("monthly.cards_summary", lang, open=m.open_red.height, closed=m.closed_late.height),
    )
    open_red = m.open_red.select(
        "application_id", "matter_code", "department", "window_id", "staff", "workdays_left"
    )
    _frame_table(pdf, open_red, lang, empty=tr("monthly.none_open_red", lang))
    late = m.closed_late.select(
        "application_id", "matter_code", "department", "processing_workdays", "promised_limit_days"
    )
    _frame_table(pdf, late, lang, empty=tr("monthly.none_closed_late", lang))
    _section(pdf, tr("monthly.section.satisfaction", lang))
    reviews = m.bad_reviews.select(
        "application_id", "matter_code", "department", "rating", "status", "age_workdays"
    )
    _frame_table(pdf, reviews, lang, empty=tr("monthly.none_bad_reviews", lang))
    _section(pdf, tr("monthly.section.reforms", lang))
    reform_rows = _reform_rows(m, lang)
    if reform_rows:
        header = [tr("monthly.col.reform", lang), tr("monthly.col.kpi", lang), ""]
        _table(pdf, header, reform_rows, widths=(40, 34, 106))
    else:
        _paragraph(pdf, tr("monthly.none_reforms", lang))
    return bytes(pdf.output())


def _section(pdf: object, title: str) -> None:
    from fpdf import FPDF

    assert isinstance(pdf, FPDF)
    if pdf.get_y() > pdf.h - 45:  # a title needs a few rows of its table below it
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)


def _paragraph(pdf: object, text: str) -> None:
    from fpdf import FPDF

    assert isinstance(pdf, FPDF)
    pdf.set_font("cjk", size=9)
    pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)


def _table(
    pdf: object, header: list[str], rows: list[list[str]], widths: Sequence[float] | None = None
) -> None:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    assert isinstance(pdf, FPDF)
    pdf.set_font("cjk", size=8)
    with pdf.table(
        col_widths=tuple(widths) if widths else None,
        headings_style=FontFace(fill_color=(225, 232, 240)),
        line_height=5,
        text_align="LEFT",
        markdown=False,
    ) as table:
        table.row(header)
        for row in rows:
            table.row(row)


def _frame_table(pdf: object, frame: pl.DataFrame, lang: Lang, empty: str = "") -> None:
    if frame.is_empty():
        _paragraph(pdf, empty or tr("monthly.empty", lang))
        return
    header, rows = _formatted(frame.head(PDF_ROWS), lang)
    _table(pdf, header, rows)
    if frame.height > PDF_ROWS:
        _paragraph(pdf, tr("monthly.more_rows", lang, n=frame.height - PDF_ROWS))


def chart_specs(m: Monthly, lang: Lang) -> list[dict[str, object]]:
    """The dashboard's trend charts (ui.charts.trend) of the twelve months up to this one."""
    targets = dict(zip(m.kpis["kpi"], m.kpis["target"], strict=True))
    specs = []
    for k in CHARTED[:2]:
        series = (
            m.series.filter(pl.col("kpi") == k)
            .sort("month")
            .with_columns(
                pl.col("month").map_elements(lambda v: month(v, lang), return_dtype=pl.String)
            )
        )
        goal = targets.get(k)
        specs.append(
            charts.trend(
                series,
                "month",
                "value",
                kpi_name(k, lang),
                tr("chart.month", lang),
                axis_title(k, lang),
                target=goal,
                measure=kind(k) if kind(k) in ("rate", "count") else "decimal",
                target_title=""
                if goal is None
                else f"{tr('target.line', lang)} {kpi_value(k, goal, lang)}",
            )
        )
    return specs


def _charts(pdf: object, m: Monthly, lang: Lang) -> None:
    import vl_convert as vlc
    from fpdf import FPDF

    assert isinstance(pdf, FPDF)
    vlc.register_font_directory(str(DEFAULT_FONT.parent))
    width = (pdf.w - pdf.l_margin - pdf.r_margin - 6) / 2
    y = pdf.get_y() + 3
    tallest = 0.0
    for i, spec in enumerate(chart_specs(m, lang)):
        sized = {
            **spec,
            "width": 260,
            "config": {"font": "WenQuanYi Micro Hei", "axisX": {"labelAngle": -45}},
        }
        png = vlc.vegalite_to_png(vl_spec=sized, scale=2)
        x = pdf.l_margin + i * (width + 6)
        info = pdf.image(io.BytesIO(png), x=x, y=y, w=width)
        tallest = max(tallest, float(info.rendered_height))
    pdf.set_y(y + tallest + 2)
