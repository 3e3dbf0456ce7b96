"""A reform's effects in plain words, in Chinese and English: what the reform page shows and
downloads. Pure functions of the `reforms` figures (metrics/reforms.py).

The rule (docs/metrics.md, `reforms`): an effect is stated only when its 95 % interval of the
difference in differences leaves out zero — "processing time fell by 2.1 working days (95 % CI
1.8–2.4) more than in untouched matters"; otherwise it reads "no clear effect", whatever the
size of the point estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import polars as pl

from metrics.reforms import MIN_CELL, Control
from metrics.registry import KPIS, MEASURED, Kpi

Lang = Literal["zh", "en"]
Kind = Literal["time", "count", "rate"]


@dataclass(frozen=True)
class Phrase:
    en: str
    zh: str
    kind: Kind
    unit_en: str = " percentage points"
    unit_zh: str = " 个百分点"
    scale: float = 100.0  # rates are read in percentage points
    decimals: int = 1


_PHRASE_KIND: dict[str, Kind] = {"workdays": "time", "rate": "rate"}


def _phrase(kpi: Kpi) -> Phrase:
    """A KPI's wording from the registry (metrics/registry.py); rates in percentage points."""
    w = kpi.wording
    assert w is not None
    kind = _PHRASE_KIND.get(kpi.kind, "count")
    scale = 100.0 if kind == "rate" else 1.0
    return Phrase(w.en, w.zh, kind, w.unit_en, w.unit_zh, scale, w.decimals)


PHRASES: dict[str, Phrase] = {k.name: _phrase(k) for k in MEASURED}

_ZH_VERBS: dict[Kind, tuple[str, str]] = {  # (fell, rose)
    "time": ("缩短", "延长"),
    "count": ("减少", "增加"),
    "rate": ("降低", "提高"),
}

LABELS: dict[str, dict[Lang, str]] = {
    "touched": {"zh": "改革事项", "en": "touched matters"},
    "control": {"zh": "对照事项", "en": "control matters"},
    "effective": {"zh": "实施日期", "en": "effective date"},
    "kpi": {"zh": "指标", "en": "KPI"},
    "before": {"zh": "改革前", "en": "before"},
    "after": {"zh": "改革后", "en": "after"},
    "change": {"zh": "变化", "en": "change"},
    "control_before": {"zh": "对照组改革前", "en": "control before"},
    "control_after": {"zh": "对照组改革后", "en": "control after"},
    "control_change": {"zh": "对照组变化", "en": "control change"},
    "did": {"zh": "双重差分", "en": "difference in differences"},
    "did_ci": {"zh": "95% 置信区间", "en": "95 % CI"},
    "applications": {
        "zh": "件数（前/后，对照前/后）",
        "en": "applications (before/after, control)",
    },
    "reading": {"zh": "结论", "en": "reading"},
}

TABLE_COLUMNS = tuple(c for c in LABELS if c not in ("touched", "control", "effective"))


def control_label(control: Control, lang: Lang) -> str:
    """What the touched matters are compared with, as the sentence names it."""
    if control == "untouched":
        return {"zh": "未改革事项", "en": "untouched matters"}[lang]
    if control == "departments":
        return {"zh": "同部门未改革事项", "en": "untouched matters of the same departments"}[lang]
    return {"zh": "对照事项", "en": "the control matters"}[lang]


def _number(value: float, phrase: Phrase) -> str:
    """The value in the phrase's unit and decimals; a value that rounds to zero has no sign
    (never "−0.0")."""
    text = f"{value * phrase.scale:.{phrase.decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", "−")


def reading(
    kpi: str,
    did: float | None,
    ci_low: float | None,
    ci_high: float | None,
    verdict: str,
    lang: Lang,
    control: Control = "untouched",
) -> str:
    """One sentence: the DiD with its interval when the interval leaves out zero, else "no
    clear effect" (with the estimate, so nobody has to guess it), or "not enough data"."""
    phrase = PHRASES[kpi]
    against = control_label(control, lang)
    if verdict == "not_enough_data" or did is None or ci_low is None or ci_high is None:
        return {
            "zh": f"数据不足（改革或对照事项在改革前或后少于 {MIN_CELL} 件）",
            "en": f"not enough data (fewer than {MIN_CELL} applications in a group and period)",
        }[lang]
    unit = phrase.unit_zh if lang == "zh" else phrase.unit_en
    if verdict == "no_clear_effect":
        low, high, est = (_number(v, phrase) for v in (ci_low, ci_high, did))
        sign = "+" if did > 0 else ""
        if lang == "zh":
            return (
                f"无明显效果（{phrase.zh}相对{against}变化 {sign}{est}{unit}，"
                f"95% 置信区间 {low} 至 {high}）"
            )
        return (
            f"no clear effect ({phrase.en} changed by {sign}{est}{unit} against {against}, "
            f"95 % CI {low} to {high})"
        )
    fell = did < 0
    size, low, high = (
        (_number(abs(did), phrase), _number(-ci_high, phrase), _number(-ci_low, phrase))
        if fell
        else (_number(did, phrase), _number(ci_low, phrase), _number(ci_high, phrase))
    )
    if lang == "zh":
        verb = _ZH_VERBS[phrase.kind][0 if fell else 1]
        return f"{phrase.zh}比{against}多{verb} {size}{unit}（95% 置信区间 {low}–{high}）"
    verb = "fell" if fell else "rose"
    return f"{phrase.en} {verb} by {size}{unit} (95 % CI {low}–{high}) more than in {against}"


def table(effects: pl.DataFrame, lang: Lang, control: Control = "untouched") -> pl.DataFrame:
    """The reform page's table (and its download): one row per KPI in display units (rates in
    %, their changes in percentage points), localized headers, and the reading."""
    rows = []
    for r in effects.iter_rows(named=True):
        phrase = PHRASES[r["kpi"]]

        def show(value: float | None, phrase: Phrase = phrase) -> str:
            if value is None or math.isnan(value):
                return "–"
            return _number(value, phrase) + ("%" if phrase.kind == "rate" else "")

        def delta(value: float | None, phrase: Phrase = phrase) -> str:
            return "–" if value is None else _number(value, phrase)

        ci = (
            "–"
            if r["did_ci_low"] is None
            else f"{delta(r['did_ci_low'])} – {delta(r['did_ci_high'])}"
        )
        rows.append(
            {
                "kpi": KPIS[r["kpi"]].zh if lang == "zh" else KPIS[r["kpi"]].en,
                "before": show(r["before"]),
                "after": show(r["after"]),
                "change": delta(r["change"]),
                "control_before": show(r["control_before"]),
                "control_after": show(r["control_after"]),
                "control_change": delta(r["control_change"]),
                "did": delta(r["did"]),
                "did_ci": ci,
                "applications": f"{r['n_before']}/{r['n_after']}, "
                f"{r['n_control_before']}/{r['n_control_after']}",
                "reading": reading(
                    r["kpi"],
                    r["did"],
                    r["did_ci_low"],
                    r["did_ci_high"],
                    r["verdict"],
                    lang,
                    control,
                ),
            }
        )
    frame = pl.DataFrame(rows, schema={c: pl.String for c in TABLE_COLUMNS})
    return frame.rename({c: LABELS[c][lang] for c in TABLE_COLUMNS})
