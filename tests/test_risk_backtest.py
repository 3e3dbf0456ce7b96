"""The rolling-origin backtest's folds (benchmarks/risk_backtest.py): where its origins fall,
which application each fold scores, that none is scored twice, and that each fold trains only
on applications completed before its origin. Hand-built log, answers worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from benchmarks import risk_backtest as backtest
from metrics import risk
from tests.fixtures import hand_built
from tests.test_risk import CAL, MATTERS, PROFILE

ZONE = ZoneInfo("Asia/Shanghai")
# March 2025 has no holiday. A snapshot is taken on each working day an application is open,
# at a time drawn between 09:00 and 17:30: accepted at 08:30 and completed at 18:00, an
# application has one on every working day from its acceptance to its completion.
# (application, matter, staff and window, accepted on, completed at; F is still open)
LOG = [
    ("A", "M1", "S1,W1", "03", "05 18:00"),
    ("H", "M1", "S1,W1", "06", "10 08:45"),
    ("B", "M1", "S1,W1", "06", "11 18:00"),
    ("C", "M2", "S2,W2", "12", "19 18:00"),
    ("E", "M1", "S1,W1", "14", "14 18:00"),
    ("D", "M2", "S2,W2", "17", "18 18:00"),
    ("F", "M1", "S1,W1", "18", None),
]
APPS = "id,matter,submitted\n" + "".join(
    f"{a},{matter},2025-03-{day} 08:00\n" for a, matter, _, day, _ in LOG
)
STEPS = "id,step,at,staff,window\n" + "".join(
    f"{a},受理,2025-03-{day} 08:30,{who}\n"
    + (f"{a},办结,2025-03-{done},{who.split(',')[0]},\n" if done else "")
    for a, _, who, day, done in LOG
)
# Origins Mon 10 and Mon 17 March: fold 1 scores the applications first seen (from Mon 10 on)
# in 10–14 March, fold 2 those first seen from 17 March on.
ORIGINS = [datetime(2025, 3, 10, tzinfo=ZONE), datetime(2025, 3, 17, tzinfo=ZONE)]


def test_origins_cut_the_last_share_of_days_into_equal_windows() -> None:
    days = pl.Series([date(2025, 3, d) for d in (3, 4, 5, 6, 7, 10, 11, 12, 13, 14)])
    # 10 days, the last 40 %: from index int(10 × 0.6) = 6 (Tue 11), 4 days in 2 windows.
    assert backtest.origin_days(days, 2, 0.4) == [date(2025, 3, 11), date(2025, 3, 13)]
    assert backtest.origin_days(days, 1, 0.4) == [date(2025, 3, 11)]  # the single split
    # The last 60 % (6 days from Fri 7) in 3 windows of 2 days.
    assert backtest.origin_days(days, 3, 0.6) == [
        date(2025, 3, 7),
        date(2025, 3, 11),
        date(2025, 3, 13),
    ]
    with pytest.raises(ValueError, match="5 folds"):
        backtest.origin_days(days, 5, 0.4)  # 4 test days cannot make 5 windows


def test_each_application_is_scored_in_one_fold_trained_before_its_origin(
    tmp_path: Path,
) -> None:
    wh = hand_built(
        tmp_path, PROFILE, {"matters.csv": MATTERS, "apps.csv": APPS, "steps.csv": STEPS}
    )
    with wh.read() as con:
        CAL.register(con)
        every = risk.training_frame(con, CAL)
        folds = backtest.plan(con, CAL, every, ORIGINS)
    # F is still open: never scored. A completed before the first origin: training only.
    # H was open at the first origin but completed at 08:45 on it, before any snapshot that
    # day: no test snapshot, so scored nowhere.
    assigned = backtest.fold_of(every, ORIGINS)
    assert dict(assigned.iter_rows()) == {"B": 0, "C": 0, "E": 0, "D": 1}
    tested = [sorted(fold.test["application_id"].unique()) for fold in folds]
    assert tested == [["B", "C", "E"], ["D"]]
    # C (first seen Wed 12) is scored by fold 1 on every working day to its completion, also
    # past the second origin; fold 2 never sees it.
    c_days = folds[0].test.filter(pl.col("application_id") == "C")["cut_day"].to_list()
    assert c_days == [date(2025, 3, d) for d in (12, 13, 14, 17, 18, 19)]
    # B was open before the first origin: only its snapshots from the origin on are tested.
    b_days = folds[0].test.filter(pl.col("application_id") == "B")["cut_day"].to_list()
    assert b_days == [date(2025, 3, 10), date(2025, 3, 11)]
    # Training: the applications completed before each origin. H completed on the first
    # origin's day (08:45), so after its midnight: fold 2 only. C completed after the second.
    trained = [sorted(fold.train["application_id"].unique()) for fold in folds]
    assert trained == [["A"], ["A", "B", "E", "H"]]
    for fold in folds:
        assert not set(fold.train["application_id"]) & set(fold.test["application_id"])
        assert (fold.test["cut_ts"] >= fold.origin.astimezone(UTC)).all()
    assert (folds[0].end, folds[1].end) == (ORIGINS[1], None)
    # The late one: C (M2, 2 working days) completed on its 6th working day.
    assert backtest.outcomes(folds[0].test).sort("application_id").rows() == [
        ("B", False),
        ("C", True),
        ("E", False),
    ]
