"""The reform page's pieces that are not drawing: the registry's writes (each an ETL run, so
both warehouse copies change and the page's cache follows the new published copy), a failed
validation as one plain sentence, and a DiD as a card shows it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pydantic import ValidationError

from etl.reforms import delete_reform, save_reform
from metrics.reforms import Control
from metrics.wording import PHRASES
from onewindow.config import Reform
from onewindow.roles import Perm
from ui import auth, data
from ui.fmt import DASH, Lang, missing
from ui.i18n import kpi_name, tr
from ui.plain import md

# The KPIs whose DiD heads the page: what "最多跑一次"-type reforms aim at — faster, online,
# at most one trip or none, fewer trips and materials.
HEADLINE = (
    "processing_workdays_mean",
    "online_rate",
    "at_most_once_rate",
    "zero_trip_rate",
    "trips_mean",
    "materials_mean",
)

# The form's field for each Reform field, to name it in a message.
FIELDS = {
    "id": "reform.id",
    "name": "reform.name",
    "effective": "reform.effective",
    "matters": "reform.matters",
    "control": "reform.control_matters",
    "window_days": "reform.window_days",
    "gap_days": "reform.gap_days",
    "description": "reform.description",
}


def draft(
    reform_id: str,
    name: str,
    effective: date | None,
    matters: Sequence[str],
    description: str,
    design: Reform | None = None,
) -> Reform:
    """The reform a form describes; `design` (the reform being edited) lends its window, gap
    and control. Raises pydantic's ValidationError."""
    fields: dict[str, object] = design.model_dump() if design is not None else {}
    fields.update(
        id=reform_id.strip(),
        name=name.strip(),
        effective=effective,
        matters=list(matters),
        description=description.strip() or None,
    )
    return Reform.model_validate(fields)


def control_of(choice: str, matters: Sequence[str]) -> Control:
    """The design form's control: "untouched", "departments", or the listed matters."""
    if choice in ("untouched", "departments"):
        return "untouched" if choice == "untouched" else "departments"
    return tuple(matters)


def save(reform: Reform) -> int:
    """Stores the reform (replacing one of the same id); returns the run id. Checked and
    audited: only a reform officer may."""
    auth.require(Perm.REFORMS_EDIT, "reform.save")
    run = save_reform(data.warehouse(), reform, data.calendar(), data.config().etl.lock_timeout_s)
    auth.audit("reform.save", reform.id, run=run, matters=reform.matters)
    return run


def delete(reform_id: str) -> int:
    auth.require(Perm.REFORMS_EDIT, "reform.delete")
    run = delete_reform(
        data.warehouse(), reform_id, data.calendar(), data.config().etl.lock_timeout_s
    )
    auth.audit("reform.delete", reform_id, run=run)
    return run


def problem(
    exc: ValidationError, lang: Lang, matters: Sequence[str] = (), control: Control = "untouched"
) -> str:
    """Every validation failure in one sentence in `lang`. `matters` and `control` are what
    the form asked for, to name the matters a whole-reform rule objects to."""
    reasons: list[str] = []
    for error in exc.errors():
        loc = error["loc"]
        key = FIELDS.get(str(loc[0])) if loc else None
        field = tr(key, lang) if key else ""
        kind = error["type"]
        ctx = error.get("ctx") or {}
        if kind in ("missing", "string_too_short", "too_short", "date_type", "none_required"):
            reasons.append(tr("invalid.empty", lang, field=field))
        elif kind == "greater_than":
            reasons.append(tr("invalid.gt", lang, field=field, n=ctx.get("gt")))
        elif kind == "greater_than_equal":
            reasons.append(tr("invalid.ge", lang, field=field, n=ctx.get("ge")))
        elif not loc and isinstance(control, tuple):  # Reform's rule on its control list
            both = sorted(set(control) & set(matters))
            reasons.append(
                tr("invalid.overlap", lang, codes=", ".join(md(c) for c in both))
                if both
                else tr("invalid.no_control", lang)
            )
        else:
            reasons.append(tr("invalid.other", lang, field=field or "—", reason=md(error["msg"])))
    joined = "；".join(reasons) if lang == "zh" else "; ".join(reasons)
    return tr("reform.invalid", lang, problems=joined)


def did_text(kpi: str, did: float | None, lang: Lang, unit: bool = True) -> str:
    """A DiD with its sign (and unit), in the units of the reform table (rates in percentage
    points), e.g. "−1.12 working days" or "+12.3 个百分点"."""
    if did is None or missing(did):
        return DASH
    phrase = PHRASES[kpi]
    size = did * phrase.scale
    sign = "+" if size > 0 else "−" if size < 0 else ""
    text = f"{sign}{abs(size):.{phrase.decimals}f}"
    return text + (did_unit(kpi, lang) if unit else "")


def did_unit(kpi: str, lang: Lang) -> str:
    phrase = PHRASES[kpi]
    return phrase.unit_zh if lang == "zh" else phrase.unit_en


def did_label(kpi: str, lang: Lang) -> str:
    """A headline card's label: the KPI and the unit of its DiD, so the value fits the card."""
    unit = did_unit(kpi, lang).strip()
    if unit.removeprefix("个") in kpi_name(kpi, lang):  # the name already gives it
        return kpi_name(kpi, lang)
    return f"{kpi_name(kpi, lang)}（{unit}）" if lang == "zh" else f"{kpi_name(kpi, lang)} ({unit})"
