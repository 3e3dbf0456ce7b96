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
from ui.session import Denied
from warehouse import WarehouseBusy, WarehouseMissing, WarehouseTooNew

log = logging.getLogger("onewindow.ui")


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
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    st.error(tr("state.failed", view.lang(), reason=reason))
