"""Reform before / after on small hand-built data: the DiD arithmetic, windows, controls, the
bootstrap and the plain wording, each with answers computed by hand."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from metrics import bootstrap, reforms, wording
from metrics.reforms import Design
from onewindow.config import Reform

EFFECTIVE = date(2025, 7, 1)
REFORM = Reform(id="r1", name="Reform", effective=EFFECTIVE, matters=["T1", "T2"])


def _units(rows: list[tuple[int, str, str, float | None, float | None]]) -> pl.DataFrame:
    """(day offset from the effective date, matter, department, online, processing days)."""
    base = {
        "day": [EFFECTIVE + timedelta(days=r[0]) for r in rows],
        "matter_code": [r[1] for r in rows],
        "department": [r[2] for r in rows],
        "online_rate": [r[3] for r in rows],
        "processing_workdays_median": [r[4] for r in rows],
    }
    frame = pl.DataFrame(base, schema_overrides={"online_rate": pl.Float64})
    others = [m.kpi for m in reforms.MEASURES if m.kpi not in base]
    return frame.with_columns(
        pl.col("processing_workdays_median").cast(pl.Float64),
        *[pl.lit(None, pl.Float64).alias(k) for k in others],
    )


# Touched before: online 1,0,0,0 (0.25); after: 1,1,1,0 (0.75); change +0.5.
# Control (C1, dept A) before: 0,1 (0.5); after: 1,1,1,0 (0.75); change +0.25.
# Another department's matter (C2, dept B) before 0, after 0: only in the default control.
# DiD = 0.5 − 0.25 = 0.25 with C1 alone; with C1 and C2: control before 1/3, after 3/5,
# change 4/15, DiD 0.5 − 4/15 = 7/30.
ROWS = [
    (-1, "T1", "A", 1.0, 4.0),
    (-10, "T1", "A", 0.0, 6.0),
    (-30, "T2", "A", 0.0, 5.0),
    (-90, "T2", "A", 0.0, 9.0),  # first day of the 90-day before window
    (-91, "T1", "A", 1.0, 1.0),  # outside it
    (0, "T1", "A", 1.0, 2.0),
    (5, "T1", "A", 1.0, 3.0),
    (60, "T2", "A", 1.0, 2.0),
    (89, "T2", "A", 0.0, None),  # last day of the after window; not completed
    (90, "T2", "A", 0.0, 1.0),  # outside it
    (-2, "C1", "A", 0.0, 3.0),
    (-3, "C1", "A", 1.0, 3.0),
    (1, "C1", "A", 1.0, 3.0),
    (2, "C1", "A", 1.0, 2.0),
    (3, "C1", "A", 1.0, 2.0),
    (4, "C1", "A", 0.0, 2.0),
    (-5, "C2", "B", 0.0, 7.0),
    (6, "C2", "B", 0.0, 7.0),
]


def _row(frame: pl.DataFrame, kpi: str) -> dict[str, object]:
    row: dict[str, object] = frame.filter(pl.col("kpi") == kpi).row(0, named=True)
    return row


def test_the_did_is_the_change_of_touched_minus_the_change_of_control() -> None:
    units = _units(ROWS)
    by_department = reforms.analyse(units, REFORM, Design(control="departments"))
    r = _row(by_department.effects, "online_rate")
    assert (r["before"], r["after"], r["change"]) == (0.25, 0.75, 0.5)
    assert (r["control_before"], r["control_after"], r["control_change"]) == (0.5, 0.75, 0.25)
    assert r["did"] == 0.25
    assert (r["n_before"], r["n_after"], r["n_control_before"], r["n_control_after"]) == (
        4,
        4,
        2,
        4,
    )
    untouched = _row(reforms.analyse(units, REFORM).effects, "online_rate")
    assert untouched["control_before"] == pytest.approx(1 / 3)
    assert untouched["control_after"] == pytest.approx(3 / 5)
    assert untouched["did"] == pytest.approx(0.5 - 4 / 15)
    listed = _row(reforms.analyse(units, REFORM, Design(control=("C2",))).effects, "online_rate")
    assert (listed["control_before"], listed["control_after"], listed["did"]) == (0.0, 0.0, 0.5)


def test_medians_count_only_their_cohort_and_interpolate() -> None:
    r = _row(
        reforms.analyse(_units(ROWS), REFORM, Design(control="departments")).effects,
        "processing_workdays_median",
    )
    # Touched before 4, 6, 5, 9 → 5.5; after 2, 3, 2 (the open one has none) → 2.
    # Control before 3, 3 → 3; after 3, 2, 2, 2 → 2. DiD = (2 − 5.5) − (2 − 3) = −2.5.
    assert (r["before"], r["after"], r["change"]) == (5.5, 2.0, -3.5)
    assert (r["control_before"], r["control_after"], r["did"]) == (3.0, 2.0, -2.5)
    assert (r["n_before"], r["n_after"]) == (4, 3)


def test_the_gap_leaves_out_days_on_both_sides() -> None:
    design = Design(window_days=10, gap_days=1)
    assert design.windows(EFFECTIVE) == (
        (date(2025, 6, 20), date(2025, 6, 29)),
        (date(2025, 7, 2), date(2025, 7, 11)),
    )
    r = _row(reforms.analyse(_units(ROWS), REFORM, design).effects, "online_rate")
    # Day −1 and day 0 fall in the gap: touched before is day −10 only, after day 5 only.
    assert (r["before"], r["after"], r["n_before"], r["n_after"]) == (0.0, 1.0, 1, 1)
    assert r["verdict"] == "not_enough_data"


def test_the_monthly_series_has_both_groups() -> None:
    monthly = reforms.analyse(_units(ROWS), REFORM, Design(control=("C1",))).monthly
    june = monthly.filter((pl.col("kpi") == "online_rate") & (pl.col("month") == date(2025, 6, 1)))
    # June 2025: touched days −1, −10, −30 (1, 0, 0); control C1 days −2, −3 (0, 1).
    assert sorted(june.select("group", "value", "applications").rows()) == [
        ("control", 0.5, 2),
        ("touched", pytest.approx(1 / 3), 3),
    ]


def _many(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(400):
        matter = "T1" if i % 3 == 0 else "C1"
        day = -int(rng.integers(1, 90)) if i % 2 else int(rng.integers(0, 90))
        online = float(rng.random() < (0.8 if matter == "T1" and day >= 0 else 0.4))
        rows.append((day, matter, "A", online, float(rng.integers(1, 9))))
    return _units(rows)


def test_the_bootstrap_is_reproducible_for_a_seed_and_differs_for_another() -> None:
    units = _many(1)
    first = reforms.analyse(units, REFORM, resamples=1000, seed=5).effects
    again = reforms.analyse(units, REFORM, resamples=1000, seed=5).effects
    other = reforms.analyse(units, REFORM, resamples=1000, seed=6).effects
    assert first.equals(again)
    assert not first.equals(other)
    r = _row(first, "online_rate")
    assert r["did_ci_low"] < r["did"] < r["did_ci_high"]  # type: ignore[operator]
    assert r["verdict"] == "improved"
    # A KPI's figures do not depend on which other KPIs were asked for.
    alone = reforms.analyse(units, REFORM, kpis=["online_rate"], resamples=1000, seed=5)
    assert alone.effects.row(0) == first.filter(pl.col("kpi") == "online_rate").row(0)


def test_resampling_by_counts_is_resampling_values() -> None:
    """Each replicate equals the statistic of the sample its counts stand for."""
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    distinct = np.unique(values)
    counts = np.random.default_rng(0).multinomial(len(values), [2 / 8] + [1 / 8] * 6, size=50)
    for stat, fn in (("mean", np.mean), ("median", np.median)):
        got = bootstrap._apply(counts, distinct, len(values), stat)  # type: ignore[arg-type]
        want = [fn(np.repeat(distinct, row)) for row in counts]
        np.testing.assert_allclose(got, want)
    # Odd n: the middle value itself.
    odd = np.array([[1, 0, 2]])  # values 1, 3, 3 → median 3
    assert bootstrap._apply(odd, np.array([1.0, 2.0, 3.0]), 3, "median").tolist() == [3.0]


def test_replicates_spread_like_the_mean_they_resample() -> None:
    values = np.random.default_rng(3).normal(10, 2, 500)
    draws = bootstrap.replicates(values, "mean", 4000, np.random.default_rng(9))
    # The bootstrap standard error of a mean is about σ/√n = 2/√500 ≈ 0.089.
    assert draws.std() == pytest.approx(2 / np.sqrt(500), rel=0.1)
    assert draws.mean() == pytest.approx(values.mean(), abs=0.01)
    assert np.isnan(bootstrap.replicates(np.array([]), "mean", 10, np.random.default_rng(0))).all()


@pytest.mark.parametrize(
    "kpi,did,low,high,verdict,lang,control,text",
    [
        (
            "processing_workdays_median",
            -2.1,
            -2.4,
            -1.8,
            "improved",
            "en",
            "untouched",
            "median processing time fell by 2.1 working days (95 % CI 1.8–2.4) more than in "
            "untouched matters",
        ),
        (
            "processing_workdays_median",
            -2.1,
            -2.4,
            -1.8,
            "improved",
            "zh",
            "untouched",
            "办理时长中位数比未改革事项多缩短 2.1 个工作日（95% 置信区间 1.8–2.4）",
        ),
        (
            "online_rate",
            0.123,
            0.081,
            0.16,
            "improved",
            "zh",
            "departments",
            "网上办理率比同部门未改革事项多提高 12.3 个百分点（95% 置信区间 8.1–16.0）",
        ),
        (
            "trips_mean",
            0.3,
            0.05,
            0.55,
            "worsened",
            "en",
            ("M-1",),
            "mean trips rose by 0.30 trips (95 % CI 0.05–0.55) more than in the control matters",
        ),
        (
            "on_time_rate",
            -0.012,
            -0.05,
            0.02,
            "no_clear_effect",
            "en",
            "untouched",
            "no clear effect (the on-time rate changed by −1.2 percentage points against "
            "untouched matters, 95 % CI −5.0 to 2.0)",
        ),
        (
            "materials_mean",
            0.4,
            -0.1,
            0.9,
            "no_clear_effect",
            "zh",
            "untouched",
            "无明显效果（平均提交材料数相对未改革事项变化 +0.4 份，95% 置信区间 −0.1 至 0.9）",
        ),
        (
            "good_review_rate",
            None,
            None,
            None,
            "not_enough_data",
            "en",
            "untouched",
            "not enough data (fewer than 10 applications in a group and period)",
        ),
    ],
)
def test_the_wording(
    kpi: str,
    did: float | None,
    low: float | None,
    high: float | None,
    verdict: str,
    lang: wording.Lang,
    control: reforms.Control,
    text: str,
) -> None:
    assert wording.reading(kpi, did, low, high, verdict, lang, control) == text


def test_the_verdict_needs_an_interval_clear_of_zero_and_enough_applications() -> None:
    assert reforms.verdict("trips_mean", -0.5, (-0.7, -0.3), 50) == "improved"
    assert reforms.verdict("trips_mean", 0.5, (0.3, 0.7), 50) == "worsened"
    assert reforms.verdict("online_rate", 0.1, (0.05, 0.15), 50) == "improved"
    assert reforms.verdict("online_rate", 0.1, (-0.01, 0.2), 50) == "no_clear_effect"
    assert reforms.verdict("online_rate", 0.1, (0.05, 0.15), 9) == "not_enough_data"


def test_the_page_table_reads_in_both_languages() -> None:
    effects = reforms.analyse(_many(2), REFORM, resamples=1000).effects
    en = wording.table(effects, "en")
    zh = wording.table(effects, "zh")
    assert en.columns[0] == "KPI" and zh.columns[0] == "指标"
    assert en.height == zh.height == len(reforms.MEASURES)
    online = en.filter(pl.col("KPI") == "Online rate").row(0, named=True)
    assert online["reading"].startswith("the online rate rose by ")
    assert online["before"].endswith("%")


def test_a_design_saved_from_the_page_is_validated() -> None:
    saved = reforms.with_design(REFORM, Design(window_days=30, gap_days=2, control=("C1",)))
    assert (saved.window_days, saved.gap_days, saved.control) == (30, 2, ["C1"])
    assert Design.of(saved) == Design(30, 2, ("C1",))
    assert Design.of(reforms.with_design(REFORM, Design(control="departments"))).control == (
        "departments"
    )
    with pytest.raises(ValueError, match="control matters T1 are also touched"):
        reforms.with_design(REFORM, Design(control=("T1", "C1")))
