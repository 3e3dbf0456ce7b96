"""Variants and conformance on small hand-built logs whose answers were listed by hand, and
variants on the real receipt log against pm4py's `get_variants`."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from etl.profile import load_profile
from etl.run import load_files
from metrics import conformance, variants
from metrics.calendar import WorkCalendar
from metrics.conformance import Reference, deviations
from metrics.filters import Filters
from onewindow.config import Config, ConfigError, Procedure, load_config
from tests.conftest import run_cli
from tests.fixtures import PROFILES, RECEIPT
from warehouse import Warehouse

PROFILE = """
name = "hand-built"
timezone = "Asia/Shanghai"
[stages]
"受理" = "accept"
"办结" = "complete"
"补正" = "correction"
[tables.applications]
files = "apps*"
[tables.applications.columns]
application_id = "id"
matter_code = "matter"
submitted_at = "submitted"
completed_at = "completed"
result = "result"
[tables.applications.values.result]
"撤件" = "withdrawn"
"准予许可" = "approved"
[tables.events]
files = "steps*"
[tables.events.columns]
application_id = "id"
step = "step"
timestamp = "at"
staff = "staff"
"""

# Variants: V1 and V3 take 受理 → 审查 → 决定 → 办结 (审查 and 决定 share an instant; the file
# lists 审查 first); V2's file lists 决定 first at the same instant: another variant. V4's
# rows come out of time order in the file: time decides.
# Conformance (matter P, procedure 受理 → 审查 → 决定 → 办结, 补正 optional, 审查 and 补正
# may repeat, 送达 may follow the end):
#   C0 conforms (a 补正 loop, delivered after the end)
#   C1 missing_required 审查 (completed without review)
#   C2 out_of_order: 审查 after 决定
#   C3 unexpected_step 盖章
#   C4 after_completion 审查 (reviewed again after 办结)
#   C5 open, skipped 审查 (决定 reached): missing_required 审查; 办结 not yet due
#   C6 open, at 审查: nothing
#   C7 unexpected_step: 决定 repeated
#   C8 withdrawn after 受理: nothing missing
#   C9 missing_required 审查 and 决定, unexpected 盖章, after_completion 送达? no: 送达 may
#      follow; after_completion 补正
# Matter S has no procedure: the stage order (accept → complete; correction anywhere between).
#   D0 conforms; D1 after_completion 受理 (accepted again after completion)
#   D2 open: nothing; D3 completed (export column) without a 办结 step: missing complete
APPS = """id,matter,submitted,completed,result
V1,V,2025-03-03 09:00,2025-03-03 15:00,
V2,V,2025-03-03 09:00,2025-03-03 15:00,
V3,V,2025-03-04 09:00,2025-03-04 15:00,
V4,V,2025-03-04 09:00,2025-03-04 15:00,
C0,P,2025-03-03 09:00,,
C1,P,2025-03-03 09:00,,
C2,P,2025-03-03 09:00,,
C3,P,2025-03-03 09:00,,
C4,P,2025-03-03 09:00,,
C5,P,2025-03-03 09:00,,
C6,P,2025-03-03 09:00,,
C7,P,2025-03-03 09:00,,
C8,P,2025-03-03 09:00,2025-03-04 10:00,撤件
C9,P,2025-03-03 09:00,,
D0,S,2025-03-03 09:00,,
D1,S,2025-03-03 09:00,,
D2,S,2025-03-03 09:00,,
D3,S,2025-03-03 09:00,2025-03-05 10:00,准予许可
"""

STEPS = """id,step,at,staff
V1,受理,2025-03-03 10:00,S1
V1,审查,2025-03-03 11:00,S1
V1,决定,2025-03-03 11:00,S1
V2,受理,2025-03-03 10:00,S1
V2,决定,2025-03-03 11:00,S1
V2,审查,2025-03-03 11:00,S1
V3,受理,2025-03-04 10:00,S2
V1,办结,2025-03-03 15:00,S1
V2,办结,2025-03-03 15:00,S1
V3,审查,2025-03-04 11:00,S2
V3,决定,2025-03-04 11:00,S2
V3,办结,2025-03-04 15:00,S2
V4,办结,2025-03-04 15:00,S2
V4,决定,2025-03-04 11:30,S2
V4,受理,2025-03-04 10:00,S2
V4,审查,2025-03-04 11:00,S2
C0,受理,2025-03-03 10:00,S1
C0,审查,2025-03-04 10:00,S1
C0,补正,2025-03-05 10:00,
C0,审查,2025-03-06 10:00,S1
C0,决定,2025-03-07 10:00,S1
C0,办结,2025-03-07 11:00,S1
C0,送达,2025-03-10 10:00,S1
C1,受理,2025-03-03 10:00,S1
C1,决定,2025-03-04 10:00,S1
C1,办结,2025-03-04 11:00,S1
C2,受理,2025-03-03 10:00,S2
C2,决定,2025-03-04 10:00,S2
C2,审查,2025-03-05 10:00,S2
C2,办结,2025-03-05 11:00,S2
C3,受理,2025-03-03 10:00,S2
C3,审查,2025-03-04 10:00,S2
C3,盖章,2025-03-04 11:00,S2
C3,决定,2025-03-05 10:00,S2
C3,办结,2025-03-05 11:00,S2
C4,受理,2025-03-03 10:00,S1
C4,审查,2025-03-04 10:00,S1
C4,决定,2025-03-05 10:00,S1
C4,办结,2025-03-05 11:00,S1
C4,审查,2025-03-06 10:00,S1
C5,受理,2025-03-03 10:00,S1
C5,决定,2025-03-04 10:00,S1
C6,受理,2025-03-03 10:00,S1
C6,审查,2025-03-04 10:00,S1
C7,受理,2025-03-03 10:00,S2
C7,审查,2025-03-04 10:00,S2
C7,决定,2025-03-05 10:00,S2
C7,决定,2025-03-05 11:00,S2
C7,办结,2025-03-05 15:00,S2
C8,受理,2025-03-03 10:00,S2
C9,受理,2025-03-03 10:00,S2
C9,盖章,2025-03-04 10:00,S2
C9,办结,2025-03-05 10:00,S2
C9,送达,2025-03-05 11:00,S2
C9,补正,2025-03-06 10:00,
D0,受理,2025-03-03 10:00,S1
D0,审查,2025-03-04 10:00,S1
D0,补正,2025-03-04 11:00,
D0,办结,2025-03-05 10:00,S1
D1,受理,2025-03-03 10:00,S1
D1,办结,2025-03-04 10:00,S1
D1,受理,2025-03-05 10:00,S1
D2,受理,2025-03-03 10:00,S2
D3,受理,2025-03-03 10:00,S2
D3,审查,2025-03-04 10:00,S2
"""

PROCEDURE = Procedure(
    matters=["P"],
    required=["受理", "审查", "决定", "办结"],
    optional=["补正"],
    repeatable=["审查", "补正"],
    after_end=["送达"],
)
CONFIG = Config(procedures=[PROCEDURE])
CAL = WorkCalendar.from_config(CONFIG)

EXPECTED = {
    "C1": {"missing_required: 审查 missing"},
    "C2": {"out_of_order: 审查 after 决定"},
    "C3": {"unexpected_step: 盖章 is not in the procedure"},
    "C4": {"after_completion: 审查 after the end"},
    "C5": {"missing_required: 审查 missing"},
    "C7": {"unexpected_step: 决定 repeated"},
    "C9": {
        "unexpected_step: 盖章 is not in the procedure",
        "after_completion: 补正 after the end",
        "missing_required: 审查 missing",
        "missing_required: 决定 missing",
    },
    "D1": {"after_completion: 受理 after the end"},
    "D3": {"missing_required: complete missing"},
}


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    folder = tmp_path_factory.mktemp("intel")
    (folder / "p.toml").write_text(PROFILE, encoding="utf-8")
    files = []
    for name, text in (("apps.csv", APPS), ("steps.csv", STEPS)):
        (folder / name).write_text(text, encoding="utf-8")
        files.append(folder / name)
    profile = load_profile(folder / "p.toml")
    warehouse = Warehouse(folder / "w.duckdb")
    result = load_files(warehouse, [(f, profile) for f in files], calendar=CAL)
    assert all(f.quarantined == 0 for f in result.files), result
    return warehouse


def test_ties_at_the_same_instant_keep_their_file_order(wh: Warehouse) -> None:
    with wh.read() as con:
        got = variants.variants(con, CAL, Filters(matters=("V",)))
    assert {r["variant"]: r["applications"] for r in got.to_dicts()} == {
        "受理 → 审查 → 决定 → 办结": 3,  # V1, V3, V4 (V4 by time, whatever its file order)
        "受理 → 决定 → 审查 → 办结": 1,  # V2
    }
    assert got["rank"].to_list() == [1, 2]
    assert got["share"].to_list() == [0.75, 0.25]
    assert got["events"].to_list() == [4, 4]


def test_variants_by_matter_share_within_each_matter(wh: Warehouse) -> None:
    with wh.read() as con:
        got = variants.variants(con, CAL, Filters(), "matter")
    for _matter, rows in got.group_by("matter_code"):
        assert rows["share"].sum() == pytest.approx(1.0)
        assert rows["rank"].to_list() == list(range(1, rows.height + 1))
    c0 = got.filter(pl_variant("受理 → 审查 → 补正 → 审查 → 决定 → 办结 → 送达"))
    assert c0["rework_steps"].to_list() == [1]  # 审查 twice


def pl_variant(text: str) -> object:
    import polars as pl

    return pl.col("variant") == text


def test_the_rest_is_grouped_below_the_top_variants(wh: Warehouse) -> None:
    with wh.read() as con:
        got = variants.variants(con, CAL, Filters(matters=("P",)))
    head, other = variants.grouped(got, 3)
    assert head.height == 3
    assert other["variants"][0] == got.height - 3
    assert other["applications"][0] + head["applications"].sum() == 10
    assert variants.chain(head["variant"][0])[0] == "受理"


def test_each_deviation_kind_is_found_exactly(wh: Warehouse) -> None:
    with wh.read() as con:
        apps = conformance.per_application(con, CAL, Filters(), CONFIG)
    found = {
        r["application_id"]: set(r["detail"].split("; "))
        for r in apps.to_dicts()
        if r["deviations"]
    }
    assert found == EXPECTED
    procedure = dict(zip(apps["application_id"], apps["procedure"], strict=True))
    assert procedure["C0"] == "config" and procedure["D0"] == "stages"


def test_shares_by_staff_and_matter(wh: Warehouse) -> None:
    with wh.read() as con:
        by_matter = conformance.conformance(con, CAL, Filters(), CONFIG, "matter")
        listed = conformance.conformance(con, CAL, Filters(), CONFIG)
    rows = {r["matter"]: r for r in by_matter.to_dicts()}
    assert (rows["P"]["applications"], rows["P"]["deviating"]) == (10, 7)
    assert rows["P"]["missing_required"] == 3  # C1, C5, C9
    assert (rows["S"]["deviating"], rows["V"]["deviating"]) == (2, 0)
    assert by_matter["matter"].to_list() == ["P", "S", "V"]  # highest share first
    assert sorted(listed["application_id"]) == sorted(EXPECTED)


def test_a_procedure_must_be_consistent(tmp_path: Path) -> None:
    bad = tmp_path / "onewindow.toml"
    bad.write_text(
        '[[procedures]]\nmatters = ["P"]\nrequired = ["受理", "办结"]\nend = "盖章"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="end step"):
        load_config(bad)
    bad.write_text(
        '[[procedures]]\nmatters = ["P"]\nrequired = ["受理"]\n'
        '[[procedures]]\nmatters = ["P"]\nrequired = ["办结"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="more than one procedure"):
        load_config(bad)


def test_the_stage_reference_ignores_steps_without_a_stage() -> None:
    ref = Reference.stages(["accept", "complete", "correction"])
    steps = ["申请", "受理", "审查", "办结", "送达"]
    stages = ["", "accept", "", "complete", ""]
    assert deviations(steps, stages, ref, finished=True) == []


def test_variants_equal_pm4py_on_the_receipt_log(tmp_path: Path, receipt: Path) -> None:
    pm4py = pytest.importorskip("pm4py")
    logging.getLogger("pm4py").setLevel(logging.ERROR)
    db = tmp_path / "w.duckdb"
    assert run_cli("load", receipt, "--profile", PROFILES / "receipt.toml", "--db", db).code == 0
    frame = pd.read_csv(RECEIPT)
    frame["time:timestamp"] = pd.to_datetime(frame["time:timestamp"], utc=True, format="ISO8601")
    log = pm4py.format_dataframe(
        frame,
        case_id="case:concept:name",
        activity_key="concept:name",
        timestamp_key="time:timestamp",
    )
    expected = {tuple(k): v for k, v in pm4py.get_variants(log).items()}
    with Warehouse(db).read() as con:
        ours = variants.variants(con, CAL, Filters())
    got = {tuple(variants.chain(r["variant"])): r["applications"] for r in ours.to_dicts()}
    assert len(got) == len(expected) == ours.height
    assert got == expected
