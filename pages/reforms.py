"""Reform effects (改革成效), for reform officers: did a reform change its matters more than
the untouched ones? For the chosen reform: the difference in differences of the main KPIs,
the monthly series of touched and control matters around the effective date, every KPI with
before, after, change, DiD and interval in plain words; and the registry's forms (design, edit,
delete, add). Method: docs/metrics.md, "Reforms"."""

from __future__ import annotations

import re
from datetime import date

import polars as pl
import streamlit as st
from pydantic import ValidationError
from streamlit.elements.metric import DeltaColor

from etl.run import LoadError
from metrics import wording
from metrics.reforms import MEASURE, Control, Design, with_design
from onewindow.config import Reform
from onewindow.roles import Perm
from ui import auth, charts, data, page, widgets
from ui import reform as registry
from ui.download import table
from ui.fmt import Lang, day, kind
from ui.i18n import kpi_name, tr
from ui.plain import md
from ui.view import matter_names
from warehouse import WarehouseError

CONTROLS = ("untouched", "departments", "listed")
# The verdict is always written out; the colour only repeats it.
COLOUR: dict[str, DeltaColor] = {"improved": "green", "worsened": "red"}
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


def pick(reforms: list[Reform], lang: Lang) -> Reform:
    """The reform of the URL's `reform` (or the one just saved), else the first."""
    state = st.session_state
    ids = [r.id for r in reforms]
    pending = state.pop("reform.pending", None)
    if pending in ids:
        state["reform"] = pending
    if state.get("reform") not in ids:
        state["reform"] = ids[0]
    if st.query_params.get("reform") != state["reform"]:
        st.query_params["reform"] = state["reform"]
    names = {r.id: r.name for r in reforms}
    chosen = st.selectbox(
        tr("reform.pick", lang),
        ids,
        key="reform",
        format_func=lambda i: f"{names[i]} · {i}",
        placeholder=tr("filters.choose", lang),
    )
    return next(r for r in reforms if r.id == chosen)


def control_text(control: Control, names: dict[str, str], lang: Lang) -> str:
    """The control as the design sentence names it: listed matters with code and name."""
    label = wording.control_label(control, lang)
    if not isinstance(control, tuple):
        return label
    if len(control) > 8:  # a long list buries the sentence: count them instead
        return (
            f"{label}（{len(control)} 个事项）"
            if lang == "zh"
            else f"{label} ({len(control)} matters)"
        )
    listed = ("、" if lang == "zh" else ", ").join(
        md(f"{c} {names.get(c, '')}".strip()) for c in control
    )
    return f"{label}（{listed}）" if lang == "zh" else f"{label} ({listed})"


def about(reform: Reform, design: Design, names: dict[str, str], lang: Lang) -> None:
    touched = ("、" if lang == "zh" else ", ").join(
        md(f"{c} {names.get(c, '')}") for c in reform.matters
    )
    st.markdown(tr("reform.about", lang, date=day(reform.effective, lang), matters=touched))
    if reform.description:
        st.text(reform.description)  # as written: never read as Markdown
    (b0, b1), (a0, a1) = design.windows(reform.effective)
    st.caption(
        tr(
            "reform.windows",
            lang,
            b0=day(b0, lang),
            b1=day(b1, lang),
            a0=day(a0, lang),
            a1=day(a1, lang),
            days=design.window_days,
            gap=design.gap_days,
            control=control_text(design.control, names, lang),
        )
    )


def headline(effects: pl.DataFrame, control: Control, lang: Lang) -> None:
    """The DiD of the main KPIs, each with its verdict in words and its reading."""
    st.subheader(tr("reform.headline", lang))
    rows = {r["kpi"]: r for r in effects.iter_rows(named=True)}
    per_row = 3
    cells = [
        cell for first in range(0, len(registry.HEADLINE), per_row) for cell in st.columns(per_row)
    ]
    for column, kpi in zip(cells, registry.HEADLINE, strict=False):
        r = rows[kpi]
        verdict = r["verdict"]
        column.metric(
            registry.did_label(kpi, lang),
            registry.did_text(kpi, r["did"], lang, unit=False),
            delta=tr(f"verdict.{verdict}", lang),
            delta_color=COLOUR.get(verdict, "gray"),
            delta_arrow="off",
            border=True,
        )
        column.caption(
            wording.reading(
                kpi, r["did"], r["did_ci_low"], r["did_ci_high"], verdict, lang, control
            )
        )


def series(monthly: pl.DataFrame, reform: Reform, design: Design, lang: Lang, version: str) -> None:
    """The monthly series of one KPI, touched against control, around the effective date."""
    st.subheader(tr("reform.series", lang))
    # The headline's KPIs first, so the chart opens on the headline's first measure (the
    # mean processing time, not the median).
    kpi = st.selectbox(
        tr("chart.kpi", lang),
        [*registry.HEADLINE, *(k for k in MEASURE if k not in registry.HEADLINE)],
        key="reform.kpi",
        format_func=lambda k: kpi_name(k, lang),
        placeholder=tr("filters.choose", lang),
    )
    touched = wording.LABELS["touched"][lang]
    control = wording.LABELS["control"][lang]
    frame = monthly.filter(pl.col("kpi") == kpi).select(
        pl.col("month").dt.strftime("%Y-%m-%d"),
        pl.col("group").replace_strict({"touched": touched, "control": control}),
        "value",
        "applications",
    )
    (b0, b1), (a0, a1) = design.windows(reform.effective)
    st.vega_lite_chart(
        spec=charts.reform_series(
            frame,
            (touched, control),
            (
                reform.effective.isoformat(),
                tr("reform.effective_on", lang, date=day(reform.effective, lang)),
            ),
            (
                (b0.isoformat(), b1.isoformat(), tr("reform.window_before", lang)),
                (a0.isoformat(), a1.isoformat(), tr("reform.window_after", lang)),
            ),
            tr("chart.month", lang),
            kpi_name(kpi, lang),
            tr("reform.group", lang),
            percent=kind(kpi) == "rate",
            partial=widgets.data_partial_month(version, lang),
        ),
        width="stretch",
    )
    st.caption(tr("reform.series_note", lang))


def store(reform: Reform, lang: Lang) -> None:
    """Saves and shows the page again on the new published copy, the reform selected."""
    try:
        run = registry.save(reform)
    except (LoadError, WarehouseError, OSError) as exc:
        st.error(tr("reform.save_failed", lang, reason=md(str(exc).splitlines()[0])))
        return
    state = st.session_state
    state["reform.flash"] = tr("reform.saved", lang, name=md(reform.name), run=run)
    state["reform.pending"] = reform.id
    state.setdefault("reform.trials", {}).pop(reform.id, None)
    st.rerun()


def design_form(
    reform: Reform, design: Design, codes: list[str], names: dict[str, str], lang: Lang
) -> None:
    """Window, gap and control: tried in this view, or saved with the reform."""
    others = [c for c in codes if c not in reform.matters]
    listed = list(design.control) if isinstance(design.control, tuple) else []
    current = "listed" if listed else str(design.control)
    key = f"design-{reform.id}"
    with st.expander(tr("reform.design", lang)), st.form(key):
        window = st.number_input(
            tr("reform.window_days", lang), 1, 3650, design.window_days, key=f"{key}-window"
        )
        gap = st.number_input(
            tr("reform.gap_days", lang), 0, 3650, design.gap_days, key=f"{key}-gap"
        )
        choice = st.radio(
            tr("reform.control", lang),
            CONTROLS,
            CONTROLS.index(current),
            key=f"{key}-control",
            format_func=lambda c: tr(f"control.{c}", lang),
            horizontal=True,
        )
        matters = st.multiselect(
            tr("reform.control_matters", lang),
            others,
            [c for c in listed if c in others],
            key=f"{key}-matters",
            format_func=lambda c: f"{c} {names.get(c, '')}".strip(),
            help=tr("reform.control_matters_note", lang),
            placeholder=tr("filters.choose", lang),
        )
        left, right = st.columns(2)
        tried = left.form_submit_button(tr("reform.apply", lang), key=f"{key}-apply")
        saved = right.form_submit_button(tr("reform.save_design", lang), key=f"{key}-save")
    if not (tried or saved):
        return
    control = registry.control_of(str(choice), matters)
    wanted = Design(int(window), int(gap), control)
    try:
        changed = with_design(reform, wanted)
    except ValidationError as exc:
        st.error(registry.problem(exc, lang, reform.matters, control))
        return
    if saved:
        store(changed, lang)
        return
    st.session_state.setdefault("reform.trials", {})[reform.id] = wanted
    st.rerun()


def reform_form(
    prefix: str,
    current: Reform | None,
    known: set[str],
    codes: list[str],
    names: dict[str, str],
    lang: Lang,
) -> None:
    """Id, name, effective date, matters and description of a new reform (`current` None)
    or of the one being edited (its id and design kept)."""
    options = codes + [m for m in (current.matters if current else []) if m not in codes]
    with st.form(prefix):
        reform_id = st.text_input(
            tr("reform.id", lang),
            current.id if current else "",
            key=f"{prefix}-id",
            disabled=current is not None,
        )
        name = st.text_input(
            tr("reform.name", lang),
            current.name if current else "",
            key=f"{prefix}-name",
            help=tr("reform.name_help", lang),
        )
        effective = st.date_input(
            tr("reform.effective", lang),
            current.effective if current else None,
            FIRST_DAY,
            LAST_DAY,
            key=f"{prefix}-effective",
        )
        matters = st.multiselect(
            tr("reform.matters", lang),
            options,
            list(current.matters) if current else [],
            key=f"{prefix}-matters",
            format_func=lambda c: f"{c} {names.get(c, '')}".strip(),
            placeholder=tr("filters.choose", lang),
        )
        description = st.text_area(
            tr("reform.description", lang),
            (current.description or "") if current else "",
            key=f"{prefix}-description",
        )
        submitted = st.form_submit_button(tr("reform.save", lang), key=f"{prefix}-save")
    if not submitted:
        return
    if current is None and reform_id.strip() in known:
        st.error(tr("reform.id_taken", lang, id=md(reform_id.strip())))
        return
    chosen = effective if isinstance(effective, date) else None
    try:
        reform = registry.draft(reform_id, name, chosen, matters, description, current)
    except ValidationError as exc:
        control = Design.of(current).control if current else "untouched"
        st.error(registry.problem(exc, lang, matters, control))
        return
    store(reform, lang)


def delete_form(reform: Reform, lang: Lang) -> None:
    key = f"delete-{reform.id}"
    with st.form(key):
        sure = st.checkbox(
            tr("reform.confirm_delete", lang, name=md(reform.name)), key=f"{key}-sure"
        )
        go = st.form_submit_button(tr("reform.delete", lang), key=f"{key}-go")
    if not (go and sure):
        return
    try:
        run = registry.delete(reform.id)
    except (LoadError, WarehouseError, OSError) as exc:
        st.error(tr("reform.save_failed", lang, reason=md(str(exc).splitlines()[0])))
        return
    st.session_state["reform.flash"] = tr("reform.deleted", lang, name=md(reform.name), run=run)
    st.rerun()


def show() -> None:
    started = page.begin("reforms", period=False)  # the windows come from the reform
    if started is None:
        return
    view, version = started
    lang = view.lang
    flash = st.session_state.pop("reform.flash", None)
    if flash:
        st.success(f"✓ {flash}")
    catalog = data.matters(version)
    codes = catalog["matter_code"].to_list()
    names = matter_names(catalog, lang)
    reforms = data.reform_list(version)
    known = {r.id for r in reforms}
    edits = auth.allowed(Perm.REFORMS_EDIT)  # the forms, for reform officers only
    if not reforms:
        st.info(tr("reform.none", lang))
        if edits:
            with st.expander(tr("reform.add", lang), expanded=True):
                reform_form("new", None, known, codes, names, lang)
        return
    reform = pick(reforms, lang)
    trials: dict[str, Design] = st.session_state.get("reform.trials", {})
    design = trials.get(reform.id) or Design.of(reform)
    about(reform, design, names, lang)
    if reform.id in trials:
        st.warning(tr("reform.trial", lang))
    analysis = data.reform_analysis(version, reform.id, design)
    headline(analysis.effects, design.control, lang)
    series(analysis.monthly, reform, design, lang, version)
    st.subheader(tr("reform.table", lang))
    st.caption(tr("reform.table_note", lang))
    # The id names the downloaded files: only characters every file system takes.
    name = "reform_" + re.sub(r"[^\w.-]", "_", reform.id)
    table(wording.table(analysis.effects, lang, design.control), name, lang)
    if not edits:
        return
    design_form(reform, design, codes, names, lang)
    with st.expander(tr("reform.edit", lang)):
        reform_form(f"edit-{reform.id}", reform, known, codes, names, lang)
        delete_form(reform, lang)
    with st.expander(tr("reform.add", lang)):
        reform_form("new", None, known, codes, names, lang)


show()
