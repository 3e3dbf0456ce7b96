"""Early-warning scores stored by the jobs (etl/scores.py, metrics/risk.py `stored`): the
report reads the same table from them as it computes live, only while they are current, and
without importing scikit-learn."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from etl import scores
from etl.demo import DEMO_SECRET, PROFILE
from etl.profile import load_profile
from etl.run import load_files
from etl.scheduler import Jobs
from metrics import risk
from metrics.calendar import WorkCalendar
from metrics.filters import Filters
from metrics.kpis import _last_instant, period_bounds
from onewindow.cli import render
from onewindow.config import Config
from tests.conftest import demo_app, demo_center, run_cli
from ui import intel
from ui.i18n import column
from ui.nav import PAGES
from warehouse import Warehouse, generation

ROOT = Path(__file__).resolve().parents[1]
CONFIG = Config()
CAL = WorkCalendar.from_config(CONFIG)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo center after its nightly job: the model trained and the scores stored."""
    db = demo_center(tmp_path_factory.mktemp("scoresdemo"), seed=3, applications=4000, months=8)
    Jobs(CONFIG, Warehouse(db)).maintenance()
    return db


def _copy(db: Path, tmp_path: Path) -> Warehouse:
    """A warehouse of its own (both copies, the model), for a test that changes it."""
    target = tmp_path / "center"
    shutil.copytree(db.parent, target, symlinks=True, ignore=shutil.ignore_patterns("exports"))
    return Warehouse(target / db.name)


def _live(wh: Warehouse, filters: Filters | None = None, **kw: object) -> pl.DataFrame:
    with wh.read() as con:
        return risk.risk(con, CAL, filters or Filters(), CONFIG, use_stored=False, **kw)  # type: ignore[arg-type]


def _report(wh: Warehouse, filters: Filters | None = None, **kw: object) -> pl.DataFrame:
    with wh.read() as con:
        return risk.risk(con, CAL, filters or Filters(), CONFIG, **kw)  # type: ignore[arg-type]


def _current(wh: Warehouse, filters: Filters | None = None) -> bool:
    """Whether the report would read the stored scores now."""
    filters = filters or Filters()
    with wh.read() as con:
        _, _, as_of = period_bounds(filters, CAL.zone, _last_instant(con))
        return risk.stored(con, CAL, filters, as_of) is not None


def test_the_nightly_job_stores_the_scores_in_both_copies_without_personal_columns(
    demo: Path,
) -> None:
    wh = Warehouse(demo)
    rows = []
    for copy in ("a", "b"):
        with duckdb.connect(str(wh.home / f"{copy}.duckdb"), read_only=True) as con:
            rows.append(
                con.execute(
                    """SELECT model_sha256, code_version, calendar, generation, as_of,
                        applications FROM risk_scoring"""
                ).fetchall()
            )
            columns = [r[0] for r in con.execute("DESCRIBE risk_scores").fetchall()]
            assert generation(con) == rows[-1][0][3]
    assert rows[0] == rows[1] and len(rows[0]) == 1
    assert rows[0][0][5] == _live(wh).height > 0  # every open application
    # Who handled it stays in the facts: the scores hold the model's figures only.
    assert columns == list(risk.SCORED)
    assert not {"staff", "department", "window_id", "applicant_id"} & set(columns)
    assert _current(wh)


def test_stored_scores_give_the_report_and_each_scope_exactly_the_live_table(
    demo: Path,
) -> None:
    wh = Warehouse(demo)
    live = _live(wh)
    assert live["p_late"].is_not_null().all() and live["reason_en"].str.len_chars().max()
    ran = run_cli("report", "risk", "--db", demo, "--format", "csv")
    assert ran.code == 0, ran.err
    assert ran.out == render(live, "csv")
    first = live.row(0, named=True)
    windowed = live.filter(pl.col("window_id").is_not_null()).row(0, named=True)
    scopes = [
        Filters(departments=(first["department"],)),
        Filters(staff=(first["staff"],)),
        Filters(matters=(windowed["matter_code"],), windows=(windowed["window_id"],)),
    ]
    for scope in scopes:  # a supervisor's scope cuts the stored scores as the live ones
        assert _current(wh, scope)
        stored, computed = _report(wh, scope), _live(wh, scope)
        assert 0 < stored.height < live.height
        assert stored.equals(computed), scope


def _add_step(exports: Path, target: Path, application_id: str, hhmm: str) -> Path:
    """A new export of one more step for an open application, later the same day."""
    with open(exports / "环节_20261124.csv", encoding="gb18030", newline="") as fh:
        rows = list(csv.reader(fh))
    last = [r for r in rows[1:] if r[0] == application_id][-1]
    step = [*last]
    step[2], step[3] = f"2026-11-24 {hhmm}:00", f"2026-11-24 {hhmm}:30"
    path = target / f"环节_20261124{hhmm.replace(':', '')}.csv"
    with open(path, "w", encoding="gb18030", newline="") as fh:
        csv.writer(fh).writerows([rows[0], step])
    return path


def test_a_load_without_rescoring_makes_the_scores_stale_and_a_load_rescores(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = _copy(demo, tmp_path)
    before = _report(wh)
    opened = before.filter(pl.col("step") != "")["application_id"][0]
    profile = load_profile(PROFILE)
    new = _add_step(demo.parent / "exports", tmp_path, opened, "17:20")

    monkeypatch.setattr(scores, "after_run", lambda writer, calendar: None)
    result = load_files(wh, [(new, profile)], calendar=CAL, secret=DEMO_SECRET)
    assert result.complete and result.files[0].loaded == 1
    assert not _current(wh)  # another generation, and a later 'as of'
    after = _report(wh)
    assert after.equals(_live(wh)) and not after.equals(before)
    monkeypatch.undo()

    # A run that changes nothing still changes the generation: without rescoring, stale.
    with monkeypatch.context() as m:
        m.setattr(scores, "after_run", lambda writer, calendar: None)
        load_files(wh, [], calendar=CAL)
    assert not _current(wh)
    # The next load stores the scores of what it published.
    load_files(
        wh,
        [(_add_step(demo.parent / "exports", tmp_path, opened, "17:40"), profile)],
        calendar=CAL,
        secret=DEMO_SECRET,
    )
    assert _current(wh)
    assert _report(wh).equals(_live(wh))


def test_a_new_model_a_later_moment_or_another_calendar_is_scored_live(
    demo: Path, tmp_path: Path
) -> None:
    wh = _copy(demo, tmp_path)
    with wh.read() as con:
        model = risk.load(risk.model_dir(con), CAL, con)
        last = _last_instant(con)
    assert model is not None and last is not None and _current(wh)

    # The next working day (an explicit 'as of', or a period ending before the data's end).
    for later in (last + timedelta(days=1), last + timedelta(days=3)):
        with wh.read() as con:
            assert risk.stored(con, CAL, Filters(), later) is None
        assert _report(wh, as_of=later).equals(_live(wh, as_of=later))
    earlier = Filters(end=(last - timedelta(days=2)).date())
    assert not _current(wh, earlier)
    assert _report(wh, earlier).equals(_live(wh, earlier))

    # Another calendar (a day declared closed): other working days, other figures.
    closed = Config.model_validate({"calendar": {"closed": [str(last.date())]}})
    with wh.read() as con:
        other = WorkCalendar.from_config(closed)
        _, _, as_of = period_bounds(Filters(), other.zone, last)
        assert risk.stored(con, other, Filters(), as_of) is None

    # A new model (another file): stale until the retrain's scoring stores its scores.
    model.evaluation = {**model.evaluation, "trained_at": "a later night"}
    with wh.read() as con:
        risk.store(model, risk.model_dir(con))  # type: ignore[arg-type]
    assert not _current(wh)
    assert _report(wh).equals(_live(wh))
    scores.after_retrain(wh, CAL)
    assert _current(wh)
    assert _report(wh).equals(_live(wh))


def _report_in_new_process(db: Path, *args: str) -> dict[str, object]:
    code = (
        "import contextlib, io, json, sys\n"
        "from onewindow.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main(['report', 'risk', '--db', {str(db)!r}, '--format', 'csv', *{args!r}])\n"
        "print(json.dumps({'code': code, 'out': out.getvalue(),\n"
        "    'sklearn': sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn')}))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(ran.stdout.splitlines()[-1])
    return result


def test_a_cold_report_on_current_scores_does_not_import_scikit_learn(demo: Path) -> None:
    stored = _report_in_new_process(demo)
    assert stored["code"] == 0 and stored["sklearn"] == []
    assert stored["out"] == render(_live(Warehouse(demo)), "csv")
    # The same command on a period the scores were not computed for reads the model back.
    with Warehouse(demo).read() as con:
        last = _last_instant(con)
    assert last is not None
    end = str((last - timedelta(days=2)).date())
    live = _report_in_new_process(demo, "--to", end)
    assert live["code"] == 0 and live["sklearn"]


def _at_risk_on_page(demo: Path, monkeypatch: pytest.MonkeyPatch, department: str) -> list[str]:
    """The application numbers of the Supervision page's 'at risk' list, as a supervisor of
    `department` sees it."""
    at = demo_app(demo, monkeypatch, "supervisor", department)
    at.run()
    at.switch_page(next(p for p in PAGES if p.slug == "supervision").file).run()
    assert not at.exception, at.exception
    assert intel.t("risk.title", "zh") in [h.value for h in at.subheader]
    headers = {intel.t("p_late", "zh"), intel.t("p_late", "en")}
    numbers = {column("application_id", "zh"), column("application_id", "en")}
    listed = [pl.from_pandas(d.value) for d in at.dataframe if headers & set(d.value.columns)]
    if not listed:
        return []
    (frame,) = listed
    return [str(n) for n in frame[next(c for c in frame.columns if c in numbers)]]


def test_the_supervision_page_lists_the_stored_scores_within_a_supervisors_scope(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's 'at risk' list on current scores, without scoring (scoring fails here), is
    the live list of the supervisor's department, and only of theirs."""
    wh = Warehouse(demo)
    warned = pl.col("card").is_null() & (pl.col("p_late") >= risk.THRESHOLD)
    live = _live(wh)
    mine = live.filter(warned)["department"][0]
    other = live.filter(pl.col("department") != mine)["department"][0]
    expected = {
        d: _live(wh, Filters(departments=(d,))).filter(warned)["application_id"].to_list()
        for d in (mine, other)
    }
    assert expected[mine] and _current(wh, Filters(departments=(mine,)))

    def no_scoring(*args: object) -> pl.DataFrame:
        raise AssertionError("scored live although the stored scores are current")

    monkeypatch.setattr(risk, "score", no_scoring)
    for department in (mine, other):
        assert _at_risk_on_page(demo, monkeypatch, department) == expected[department]
