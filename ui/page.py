"""What every page starts with (its title, the period it shows, the empty-warehouse guidance)
and the plain messages that replace a traceback when the warehouse cannot be read."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import duckdb
import streamlit as st

from ui import data, view
from ui.fmt import Lang
from ui.i18n import tr
from ui.nav import PAGES
from ui.plain import md
from ui.session import Denied
from warehouse import (
    CopyUnusable,
    WarehouseBusy,
    WarehouseDamaged,
    WarehouseMissing,
    WarehouseTooNew,
)
from warehouse.errors import plain

log = logging.getLogger("onewindow.ui")


# Served with the page itself (no file, no CDN). Print (A4): only the page's own content —
# no navigation, sidebar, filters, forms or download buttons — and every table whole: the
# on-screen grid draws only the rows in view, so each table also carries a plain HTML copy
# (ui/download.py) that only print shows. The upload box words itself through its label
# (the reader's language) instead of Streamlit's fixed English "Upload · 200MB per file".
STYLE = """<style>
.stElementContainer:has(> .stHtml .print-only) { display: none; }
[data-testid="stFileUploaderDropzone"] button,
[data-testid="stFileUploaderDropzoneInstructions"] { display: none; }
[data-testid="stFileUploaderDropzone"]::before { content: attr(aria-label); padding: 0.5rem 0; }
@media print {
  @page { size: A4; margin: 12mm; }
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
  [data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"],
  [data-testid="stStatusWidget"], [data-testid="stSidebarNav"], [data-testid="stDataFrame"],
  [data-testid="stDownloadButton"], [data-testid="stForm"], [data-testid="stExpander"],
  [data-testid="stTextInput"], [data-testid="stSelectbox"], [data-testid="stMultiSelect"],
  [data-testid="stFileUploader"], [data-testid="stButton"], [data-testid="stTabs"] [role="tablist"],
  .stElementContainer:has([data-testid="stDownloadButton"]) { display: none !important; }
  .stElementContainer:has(> .stHtml .print-only) { display: block !important; }
  [data-testid="stMain"], [data-testid="stAppViewContainer"] { margin: 0 !important; }
  [data-testid="stMainBlockContainer"] { max-width: none !important; padding: 0 !important; }
  [data-testid="stTabs"] [role="tabpanel"] { display: block !important; }
  .print-only table { border-collapse: collapse; width: 100%; font-size: 8pt; }
  .print-only th, .print-only td { border: 1px solid #999; padding: 1px 4px; text-align: left; }
  .print-only thead { display: table-header-group; }
  .print-only tr, [data-testid="stMetric"], [data-testid="stVegaLiteChart"] {
    break-inside: avoid;
  }
}
</style>"""


def style() -> None:
    """The page's own style sheet (print, upload box); called once per run by app.py."""
    st.html(STYLE)


def empty_guidance(lang: Lang) -> None:
    st.info(f"**{tr('empty.title', lang)}**\n\n{tr('empty.body', lang)}")


def begin(slug: str, period: bool = True) -> tuple[view.View, str] | None:
    """The page's title and (when its figures follow the filter bar) period; None, after
    showing how to load data, when the warehouse is empty."""
    version = data.version()
    current = view.current(version)
    spec = next(p for p in PAGES if p.slug == slug)
    st.title(spec.title(current.lang))
    if version is None or data.fresh(version).applications == 0:
        empty_guidance(current.lang)
        return None
    if period:
        if current.problems:  # never widened to the whole center, never narrowed to nothing
            st.error(current.problem_text())
            return None
        st.caption(current.caption())
    return current, version


def no_data(lang: Lang) -> None:
    st.info(tr("state.no_data_in_period", lang))


class Outcome:
    ok = True


@contextlib.contextmanager
def guard() -> Iterator[Outcome]:
    """Known failures become one plain message in the reader's language; the outcome tells
    the caller whether one was shown."""
    outcome = Outcome()
    try:
        yield outcome
        return
    except Denied as exc:  # audited where it was raised
        st.error(tr("auth.denied", view.lang(), action=exc.action))
    except WarehouseMissing:
        empty_guidance(view.lang())
    except WarehouseTooNew:
        st.error(tr("state.too_new", view.lang()))
    except WarehouseBusy:
        st.warning(tr("state.busy", view.lang()))
    except WarehouseDamaged:
        st.error(tr("state.damaged", view.lang()))
    except CopyUnusable:
        st.warning(tr("state.copy_damaged", view.lang()))
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            st.warning(tr("state.busy", view.lang()))
        else:
            _failed(exc)
    except Exception as exc:  # never a traceback in front of a director
        _failed(exc)
    outcome.ok = False


def _failed(exc: Exception) -> None:
    log.exception("page failed")
    st.error(tr("state.failed", view.lang(), reason=md(plain(exc))))  # no server paths
