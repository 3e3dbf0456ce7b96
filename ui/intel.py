"""Dashboard sections for process intelligence (docs/metrics.md: `variants`, `conformance`,
`risk`): the paths a matter's applications take (Matters page), and on the Supervision page
the open applications likely to run late before any card shows, and the applications that
left their procedure. Cached like ui/data.py: keyed on the published copy, and guarded like
it: the session's permission is checked and its scope cut into the filters first."""

from __future__ import annotations

import polars as pl
import streamlit as st

from metrics import conformance as conformance_metrics
from metrics import risk as risk_metrics
from metrics import variants as variants_metrics
from metrics.filters import Filters
from onewindow.roles import Perm
from ui import data
from ui.download import table
from ui.fmt import Lang, count, pct
from ui.processmap import _quote
from ui.view import View, matter_names

TOP = 6  # variants drawn as chains; the rest are summed in one line

TEXT: dict[str, tuple[str, str]] = {
    "variants.title": ("办理路径（变体）", "Paths taken (variants)"),
    "variants.note": (
        "每条路径是办件依次经过的环节；相同路径的办件归为一类。",
        "Each path is the steps an application went through, in order; applications with "
        "the same steps share a path.",
    ),
    "variants.other": (
        "其余 {variants} 条路径：{applications} 件（{share}）",
        "Other {variants} paths: {applications} applications ({share})",
    ),
    "variants.none": ("没有办件。", "No applications."),
    "risk.title": ("超期预警（黄牌之前）", "At risk (before the yellow card)"),
    "risk.note": (
        "模型根据同类已办结办件估计的超期概率（≥ {threshold}）；尚未亮牌的在办件，最可能超期在前。",
        "Open applications without a card whose estimated probability of finishing late is "
        "{threshold} or more, from similar completed applications; most likely first.",
    ),
    "risk.none": ("没有需要预警的在办件。", "No open application is at risk."),
    "risk.model": (
        "模型评估（按时间切分）：AUC {auc}，预警精确率 {precision}，召回率 {recall}。",
        "Model check (time split): AUC {auc}, precision {precision}, recall {recall}.",
    ),
    "conformance.title": ("程序合规（程序违规）", "Procedure conformance"),
    "conformance.note": (
        "与事项办理流程（配置 [[procedures]]，未配置时按受理→办结的环节顺序）"
        "不符的办件，受理时间最近的在前。",
        "Applications that left their matter's procedure (the config's [[procedures]], else "
        "the stage order accept → complete), latest accepted first.",
    ),
    "conformance.count": ("偏离流程的办件", "Applications off procedure"),
    "conformance.share": ("占受理办件", "Share of accepted"),
    "conformance.none": ("所有办件都符合流程。", "Every application followed its procedure."),
    "conformance.by_staff": ("按经办人", "By staff member"),
    "missing_required": ("缺少必经环节", "Required step missing"),
    "out_of_order": ("环节顺序错误", "Steps out of order"),
    "unexpected_step": ("非流程环节", "Unexpected step"),
    "after_completion": ("办结后仍有操作", "Activity after completion"),
    "variant": ("路径", "Path"),
    "rank": ("序号", "Rank"),
    "events": ("环节数", "Steps"),
    "share": ("占比", "Share"),
    "rework_steps": ("重复环节", "Repeated steps"),
    "p_late": ("超期概率", "Probability late"),
    "expected_total_workdays": ("预计办理时长（工作日）", "Expected working days"),
    "reason": ("原因", "Why"),
    "deviations": ("偏离数", "Deviations"),
    "detail": ("说明", "Detail"),
    "deviation_share": ("偏离比例", "Share off procedure"),
    "deviating": ("偏离办件", "Off procedure"),
}


def t(key: str, lang: Lang, **values: object) -> str:
    zh, en = TEXT[key]
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text


def _headers(frame: pl.DataFrame, lang: Lang) -> pl.DataFrame:
    """This module's column names in the reader's language (others are left to ui.i18n)."""
    return frame.rename({c: t(c, lang) for c in frame.columns if c in TEXT})


@data.guarded(Perm.FIGURES)
@st.cache_data(show_spinner=False)
def variants(version: str, filters: Filters) -> pl.DataFrame:
    return data._read(lambda con: variants_metrics.variants(con, data.calendar(), filters))


@data.guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def deviations(version: str, filters: Filters, by: str) -> pl.DataFrame:
    return data._read(
        lambda con: conformance_metrics.conformance(
            con, data.calendar(), filters, data.config(), by
        )
    )


@data.guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def risk(version: str, filters: Filters) -> pl.DataFrame:
    return data._read(lambda con: risk_metrics.risk(con, data.calendar(), filters, data.config()))


@data.guarded(Perm.APPLICATIONS)
@st.cache_data(show_spinner=False)
def model_check(version: str) -> dict[str, object] | None:
    return data._read(risk_metrics.evaluation)


def chains(head: pl.DataFrame, lang: Lang) -> str:
    """Graphviz DOT: each top variant as a chain of its steps, left to right, headed by its
    rank, share and number of applications."""
    lines = [
        "digraph variants {",
        '  rankdir=LR; nodesep=0.15; ranksep=0.25; node [shape=box, style="rounded,filled",'
        ' fillcolor="#deebf7", fontname="sans-serif", fontsize=11]; edge [arrowsize=0.6];',
    ]
    unit = "件" if lang == "zh" else "applications"
    for row in head.iter_rows(named=True):
        rank = row["rank"]
        label = f"#{rank}  {pct(row['share'])}\n{count(row['applications'])} {unit}"
        names = [f"v{rank}_head"] + [
            f"v{rank}_{i}" for i in range(len(variants_metrics.chain(row["variant"])))
        ]
        lines.append(f"  {names[0]} [label={_quote(label)}, shape=plaintext, fillcolor=none];")
        for node, step in zip(names[1:], variants_metrics.chain(row["variant"]), strict=True):
            lines.append(f"  {node} [label={_quote(step)}];")
        lines.append("  " + " -> ".join(names) + ";")
    return "\n".join([*lines, "}"])


def variants_section(view: View, version: str, cut: Filters, name: str) -> None:
    """The Matters page's section: the top paths of the matter in `cut` as chains, their
    figures, and the rest in one line."""
    lang = view.lang
    st.subheader(t("variants.title", lang))
    st.caption(t("variants.note", lang))
    frame = variants(version, cut)
    if frame.is_empty():
        st.info(t("variants.none", lang))
        return
    head, other = variants_metrics.grouped(frame, TOP)
    st.graphviz_chart(chains(head, lang))
    table(
        _headers(
            head.select(
                "rank",
                "variant",
                "applications",
                "share",
                "processing_workdays_median",
                "processing_workdays_p90",
                "on_time_rate",
                "rework_steps",
            ),
            lang,
        ),
        f"variants_{name}",
        lang,
        percent=[t("share", lang), "on_time_rate"],
    )
    if other["variants"][0]:
        st.caption(
            t(
                "variants.other",
                lang,
                variants=count(other["variants"][0]),
                applications=count(other["applications"][0]),
                share=pct(other["share"][0]),
            )
        )


def at_risk(view: View, version: str) -> None:
    """The Supervision page's early warning: open applications without a card yet whose
    probability of finishing late reaches the threshold, with the reason in words."""
    lang = view.lang
    st.subheader(t("risk.title", lang))
    st.caption(t("risk.note", lang, threshold=pct(risk_metrics.THRESHOLD)))
    with st.spinner():
        scored = risk(version, view.filters)
    warned = scored.filter(pl.col("card").is_null() & (pl.col("p_late") >= risk_metrics.THRESHOLD))
    if warned.is_empty():
        st.success(f"✓ {t('risk.none', lang)}")
    else:
        names = matter_names(data.matters(version), lang)
        listed = warned.select(
            "application_id",
            "matter_code",
            pl.col("matter_code")
            .replace_strict(names, default=pl.col("matter_code"))
            .alias("matter_name"),
            "staff",
            "step",
            "workdays_left",
            "p_late",
            "expected_total_workdays",
            pl.col("reason_zh" if lang == "zh" else "reason_en").alias("reason"),
        )
        table(_headers(listed, lang), "at_risk", lang, percent=[t("p_late", lang)])
    check = model_check(version)
    if check and check.get("auc") is not None:
        st.caption(
            t(
                "risk.model",
                lang,
                auc=f"{float(check['auc']):.2f}",  # type: ignore[arg-type]
                precision=_share(check.get("precision_at_threshold"), lang),
                recall=_share(check.get("recall_at_threshold"), lang),
            )
        )


def _share(value: object, lang: Lang) -> str:
    return pct(float(value)) if isinstance(value, int | float) else "—"


def deviations_section(view: View, version: str) -> None:
    """The Supervision page's list of applications off their procedure (accepted in the
    period, within the filters), with the staff members who handled them."""
    lang = view.lang
    st.subheader(t("conformance.title", lang))
    st.caption(t("conformance.note", lang))
    listed = deviations(version, view.filters, "none")
    by_staff = deviations(version, view.filters, "staff")
    accepted = int(by_staff["applications"].sum()) if by_staff.height else 0
    left, right = st.columns(2)
    left.metric(t("conformance.count", lang), count(listed.height), border=True)
    right.metric(
        t("conformance.share", lang),
        pct(listed.height / accepted) if accepted else "—",
        border=True,
    )
    if listed.is_empty():
        st.success(f"✓ {t('conformance.none', lang)}")
        return
    kinds = [t(kind, lang) for kind in conformance_metrics.KINDS]
    shown = listed.with_columns(
        pl.concat_str(
            [
                pl.when(pl.col(kind) > 0).then(pl.lit(label))
                for kind, label in zip(conformance_metrics.KINDS, kinds, strict=True)
            ],
            separator="、" if lang == "zh" else ", ",
            ignore_nulls=True,
        ).alias("kinds")
    ).select(
        "application_id",
        "matter_code",
        "staff",
        "window_id",
        "accepted_at",
        pl.col("kinds").alias(t("deviations", lang)),
        "detail",
    )
    table(_headers(shown, lang), "off_procedure", lang)
    st.markdown(f"**{t('conformance.by_staff', lang)}**")
    table(
        _headers(
            by_staff.filter(pl.col("deviating") > 0).select(
                "staff", "applications", "deviating", "deviation_share", *conformance_metrics.KINDS
            ),
            lang,
        ).rename(
            {kind: label for kind, label in zip(conformance_metrics.KINDS, kinds, strict=True)}
        ),
        "off_procedure_by_staff",
        lang,
        percent=[t("deviation_share", lang)],
    )
