"""The early-warning model: its features use nothing from after the prediction moment, the
nightly job retrains and stores it owner-only with its evaluation, and `report risk` lists
every open application with a probability and a reason."""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from etl.profile import load_profile
from etl.run import load_files
from etl.scheduler import Jobs
from metrics import derived, risk
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from onewindow.config import Config
from tests.conftest import demo_center, run_cli
from warehouse import Warehouse, sql

PROFILE = """
name = "hand-built"
timezone = "Asia/Shanghai"
[stages]
"受理" = "accept"
"办结" = "complete"
"特别程序" = "suspend"
"特别程序结束" = "resume"
[tables.matters]
files = "matters*"
[tables.matters.columns]
matter_code = "code"
name_zh = "name"
department = "dept"
promised_limit_days = "promised"
[tables.applications]
files = "apps*"
[tables.applications.columns]
application_id = "id"
matter_code = "matter"
submitted_at = "submitted"
[tables.events]
files = "steps*"
[tables.events.columns]
application_id = "id"
step = "step"
timestamp = "at"
staff = "staff"
window_id = "window"
"""

MATTERS = "code,name,dept,promised\nM1,事项一,局一,5\nM2,事项二,局二,2\n"
APPS = """id,matter,submitted
A,M1,2025-03-03 09:00
B,M1,2025-03-03 09:30
C,M2,2025-03-04 09:00
D,M2,2025-03-05 09:00
E,M1,2025-03-10 09:00
"""
# The cut-off is Thu 2025-03-06 12:00 (+08:00). Before it: A at 审查 (a repeat), B suspended,
# C at 决定, D just accepted.
BEFORE = """id,step,at,staff,window
A,受理,2025-03-03 10:00,S1,W1
A,审查,2025-03-04 10:00,S2,
A,审查,2025-03-05 10:00,S2,
B,受理,2025-03-03 10:00,S1,W1
B,特别程序,2025-03-04 15:00,S2,
C,受理,2025-03-04 10:00,S1,W2
C,审查,2025-03-05 11:00,S3,
C,决定,2025-03-06 11:59,S3,
D,受理,2025-03-05 10:00,S1,W2
"""
# After it: more steps, completions, a resumption, and a new application E accepted later.
AFTER = """id,step,at,staff,window
A,决定,2025-03-06 14:00,S2,
A,办结,2025-03-07 10:00,S2,
B,特别程序结束,2025-03-06 12:00,S2,
B,办结,2025-03-12 10:00,S2,
C,办结,2025-03-06 12:30,S3,
D,审查,2025-03-07 10:00,S3,
E,受理,2025-03-10 10:00,S1,W1
"""
CUT = datetime(2025, 3, 6, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
CAL = WorkCalendar.from_config(Config())


def _load(folder: Path, wh: Warehouse, names: list[str]) -> None:
    profile = load_profile(folder / "p.toml")
    result = load_files(wh, [(folder / n, profile) for n in names], calendar=CAL)
    assert all(f.quarantined == 0 for f in result.files), result


def _features(wh: Warehouse, many_cuts: bool = False) -> pl.DataFrame:
    with wh.read() as con:
        CAL.register(con)
        if not many_cuts:
            frame = risk.snapshot_frame(con, CAL, Filters(), CUT)
        else:
            facts, params = derived.source(con, CAL, "d_facts", Filters())
            frame = sql.frame(
                con,
                f"""WITH f AS ({facts}), snaps AS (
                    SELECT application_id, $as_of::TIMESTAMPTZ AS cut_ts,
                        ($as_of::TIMESTAMPTZ AT TIME ZONE $zone)::DATE AS cut_day
                    FROM f WHERE accepted_at < $as_of
                        AND (completed_at IS NULL OR completed_at >= $as_of)),
                {risk.features_sql(CAL, many_cuts=True)}
                SELECT * FROM feat ORDER BY application_id""",
                sql.merge(params, risk._calendar_params(CAL), {"as_of": CUT}),
            )
        return frame.select("application_id", *risk.FEATURES)


def test_no_feature_uses_what_happened_after_the_cut_off(tmp_path: Path) -> None:
    for name, text in (
        ("p.toml", PROFILE),
        ("matters.csv", MATTERS),
        ("apps.csv", APPS),
        ("steps_1.csv", BEFORE),
        ("steps_2.csv", AFTER),
    ):
        (tmp_path / name).write_text(text, encoding="utf-8")
    wh = Warehouse(tmp_path / "w.duckdb")
    _load(tmp_path, wh, ["matters.csv", "apps.csv", "steps_1.csv"])
    before = _features(wh)
    _load(tmp_path, wh, ["steps_2.csv"])
    after = _features(wh)
    assert before["application_id"].to_list() == ["A", "B", "C", "D"]
    assert after.equals(before)
    # What the features say at the cut-off, worked out by hand (7 working hours a day).
    rows = {r["application_id"]: r for r in before.to_dicts()}
    assert (rows["A"]["step"], rows["A"]["repeats"], rows["A"]["events"]) == ("审查", 1, 3)
    assert rows["A"]["elapsed_workdays"] == 3  # Tue, Wed, Thu after Mon 3 March
    # Due at the end of Mon 10 March (5 working days): Thu afternoon, Fri, Mon = 18 h.
    assert rows["A"]["left_workdays"] == pytest.approx(18 / 7)
    assert rows["B"]["suspended"] == 1
    assert rows["C"]["step"] == "决定" and rows["C"]["step_hours"] == pytest.approx(1 / 60)
    assert rows["D"]["left_workdays"] == pytest.approx(11 / 7)  # accepted Wed, due Fri
    # Window W2 holds C and D, staff S1 accepted all four: the workload as of the cut-off.
    assert rows["C"]["window_open"] == 2 and rows["A"]["window_open"] == 2
    assert rows["A"]["day_part"] == pytest.approx(3 / 7)  # 09:00-12:00 of 7 working hours
    assert rows["A"]["month"] == 3
    # Training computes the workload at each snapshot's own cut-off from running counts;
    # the report counts at its one 'as of' instant: the same figures.
    assert _features(wh, many_cuts=True).equals(after)
    # The features against the training applications read only these and the model's
    # fixed figures: the same before and after too. A at 审查 of M1 (its matter and step
    # known), C at 决定 (only the step known: M2 had too few), D at 受理 (neither).
    similar = {
        "M1|审查": {"more": 2.0, "median_hours": 6.0, "p90_hours": 20.0},
        "|决定": {"more": 0.5, "median_hours": 1.0, "p90_hours": 3.0},
    }
    typical = risk.typical(before, similar).with_columns(before["application_id"])
    assert typical.equals(risk.typical(after, similar).with_columns(after["application_id"]))
    rows = {r["application_id"]: r for r in typical.to_dicts()}
    # A has been at 审查 since Wed 10:00: 2 + 4 working hours on Wed, 3 on Thu morning.
    assert rows["A"]["typical_more"] == 2.0
    assert rows["A"]["slack"] == pytest.approx(18 / 7 - 2.0)
    assert rows["A"]["step_ratio"] == pytest.approx(9 / (6.0 + 1))
    # C (M2, 2 working days from Tue) is due at the end of Thu: 4 working hours left.
    assert (rows["C"]["typical_more"], rows["C"]["slack"]) == (0.5, pytest.approx(4 / 7 - 0.5))
    assert rows["C"]["step_ratio"] == pytest.approx((1 / 60) / 2.0)
    assert rows["D"]["typical_more"] is None and rows["D"]["step_ratio"] is None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_center(tmp_path_factory.mktemp("riskdemo"), seed=3, applications=4000, months=8)


def test_the_nightly_job_retrains_and_stores_the_model_owner_only(demo: Path) -> None:
    wh = Warehouse(demo)
    Jobs(Config(), wh).maintenance()
    folder = wh.home / "risk"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("model.joblib", "evaluation.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["test_snapshots"] > 0 and 0.5 < evaluation["auc"] <= 1.0
    with wh.read() as con:
        assert risk.load(folder, CAL, con) is not None
    # A model whose bytes do not match its recorded hash is not loaded.
    (folder / "model.joblib").write_bytes(b"not a model")
    with wh.read() as con:
        assert risk.load(folder, CAL, con) is None


def test_report_risk_lists_every_open_application(demo: Path) -> None:
    ran = run_cli("report", "risk", "--db", demo, "--format", "json")
    assert ran.code == 0, ran.err
    rows = json.loads(ran.out)
    cards = json.loads(run_cli("report", "cards", "--db", demo, "--format", "json").out)
    kpis = json.loads(run_cli("report", "kpis", "--db", demo, "--format", "json").out)
    open_count = next(r["value"] for r in kpis if r["kpi"] == "open")
    assert len(rows) == open_count > 0
    assert all(0.0 <= r["p_late"] <= 1.0 for r in rows)
    assert [r["p_late"] for r in rows] == sorted((r["p_late"] for r in rows), reverse=True)
    carded = {r["application_id"]: r["card"] for r in rows if r["card"]}
    assert carded == {r["application_id"]: r["card"] for r in cards}
    explained = [r for r in rows if r["reason_en"]]
    assert explained and all(r["reason_zh"] for r in explained)
    assert any("more working days" in r["reason_en"] for r in explained)


def test_training_reads_the_latest_completed_applications_up_to_its_budget(demo: Path) -> None:
    with Warehouse(demo).read() as con:
        CAL.register(con)
        every = risk.training_frame(con, CAL)
        some = risk.training_frame(con, CAL, max_snapshots=2000)
        completed = dict(
            con.execute(
                "SELECT application_id, completed_at FROM d_facts WHERE completed"
            ).fetchall()
        )
    assert 1000 < some.height <= 2000 < every.height
    kept = set(some["application_id"])
    left_out = set(every["application_id"]) - kept
    assert min(completed[a] for a in kept) >= max(completed[a] for a in left_out)
    # An application kept keeps every snapshot, with the same features.
    assert some.equals(every.filter(pl.col("application_id").is_in(kept)))
