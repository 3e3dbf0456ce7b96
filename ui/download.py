"""Tables as the user sees them, with CSV and Excel downloads. A cell that starts with =, +, -
or @ (or a tab or carriage return) would run as a formula when a spreadsheet opens the file,
so such text cells get a leading apostrophe (OWASP's advice against CSV injection)."""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Sequence
from datetime import date, datetime

import polars as pl
import streamlit as st
import xlsxwriter

from ui.fmt import DASH, Lang, decimal, pct
from ui.i18n import column, tr

_FORMULA_START = r"^[=+\-@\t\r]"
# A link to an application shows its number: the `app` parameter of the link (ui/lists.py).
LINK_TEXT = r"[?&]app=([^&]*)"


def neutralise(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would read as a formula start with an apostrophe."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def to_csv(frame: pl.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens Chinese text correctly."""
    return b"\xef\xbb\xbf" + neutralise(frame).write_csv().encode("utf-8")


def to_xlsx(frame: pl.DataFrame, sheet: str = "data") -> bytes:
    """One sheet; text is written as text (never as a formula or a link)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    ws = book.add_worksheet(sheet[:31])
    ws.write_row(0, 0, frame.columns)
    for r, row in enumerate(neutralise(frame).iter_rows(), start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, bool):
                ws.write_boolean(r, c, value)
            elif isinstance(value, int | float):
                ws.write_number(r, c, float(value))
            elif isinstance(value, datetime | date):
                ws.write_string(r, c, value.isoformat())
            else:
                ws.write_string(r, c, str(value))
    book.close()
    return buffer.getvalue()


def _number_format(values: pl.Series) -> str:
    """Whole numbers without decimals, others with two (the downloads keep every digit)."""
    known = values.drop_nulls().drop_nans()
    whole = known.is_empty() or bool((known == known.round(0)).all())
    return "%d" if whole else "%.2f"


def localised(frame: pl.DataFrame, lang: Lang) -> pl.DataFrame:
    """Column headers in the reader's language (left as they are when two would clash)."""
    names = [column(c, lang) for c in frame.columns]
    if len(set(names)) < len(names):
        return frame
    return frame.rename(dict(zip(frame.columns, names, strict=True)))


PRINT_ROWS = 1000  # rows of a table's print copy; the downloads always hold every row


def on_screen(frame: pl.DataFrame, percent: Sequence[str] = ()) -> pl.DataFrame:
    """The frame as a table shows it: NaN is missing, and a float is rounded to the digits
    shown (two, four for shares) with the sign of a zero dropped, so nothing reads "−0.00"."""
    floats = [c for c, dtype in frame.schema.items() if dtype.is_float()]
    rounded = [pl.col(c).fill_nan(None).round(4 if c in percent else 2) for c in floats]
    return frame.with_columns(
        pl.when(r == 0).then(pl.lit(0.0)).otherwise(r).alias(c)
        for r, c in zip(rounded, floats, strict=True)
    )


def _cell(value: object, is_percent: bool, whole: bool) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, float):
        return pct(value) if is_percent else f"{value:,.0f}" if whole else decimal(value, 2)
    return str(value)


def print_copy(frame: pl.DataFrame, percent: Sequence[str], lang: Lang) -> str:
    """The table as plain HTML for print only (the page's style sheet hides it on screen):
    every cell escaped, so data is never read as markup."""
    shown = frame.head(PRINT_ROWS)
    whole = {c: _number_format(frame[c]) == "%d" for c, t in frame.schema.items() if t.is_float()}
    head = "".join(f"<th>{html.escape(column(c, lang))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_cell(v, c in percent, whole.get(c, False)))}</td>"
            for c, v in zip(frame.columns, row, strict=True)
        )
        + "</tr>"
        for row in shown.iter_rows()
    )
    cut = (
        f"<p>{html.escape(tr('table.print_cut', lang, n=f'{PRINT_ROWS:,}'))}</p>"
        if frame.height > PRINT_ROWS
        else ""
    )
    body = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{cut}"
    return f'<div class="print-only">{body}</div>'


def table(
    frame: pl.DataFrame,
    name: str,
    lang: Lang,
    percent: Sequence[str] = (),
    link: Callable[[str], str] | None = None,
) -> None:
    """The table with headers in `lang` (`percent` columns, shares, shown as percentages),
    and its CSV and Excel downloads under it; an empty table is one plain sentence. A missing
    value reads "—", never None or NaN. With `link`, each application number on screen links
    to `link(number)` (the downloads keep the plain number)."""
    if frame.is_empty():
        st.caption(tr("table.empty", lang))
        return
    rounded = on_screen(frame, percent)
    shown = localised(rounded, lang)
    config = {
        column(c, lang): st.column_config.NumberColumn(format=_number_format(rounded[c]))
        for c, dtype in frame.schema.items()
        if dtype.is_float() and c not in percent
    }
    config.update(
        {
            column(c, lang): st.column_config.NumberColumn(format="percent")
            for c in percent
            if c in frame.columns
        }
    )
    screen = shown
    number = column("application_id", lang)
    if link is not None and number in shown.columns:
        screen = shown.with_columns(
            pl.col(number).map_elements(link, return_dtype=pl.String, skip_nulls=True)
        )
        config[number] = st.column_config.LinkColumn(display_text=LINK_TEXT)
    st.dataframe(screen, hide_index=True, column_config=config, placeholder=DASH)
    st.html(print_copy(rounded, percent, lang))
    downloaded = localised(frame, lang)
    left, right = st.columns(2)
    left.download_button(
        tr("download.csv", lang),
        to_csv(downloaded),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"csv-{name}",
        on_click=_audited,
        args=(name, "csv", frame.height),
    )
    right.download_button(
        tr("download.xlsx", lang),
        to_xlsx(downloaded, name),
        file_name=f"{name}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"xlsx-{name}",
        on_click=_audited,
        args=(name, "xlsx", frame.height),
    )


def _audited(name: str, kind: str, rows: int) -> None:
    """Every download is in the audit trail: what, in which format, how many rows, and the
    filters (the URL's query string) it was cut by, beyond the session's scope."""
    from ui import auth

    auth.audit("download", f"{name}.{kind}", rows=rows, filters=st.query_params.to_dict())
