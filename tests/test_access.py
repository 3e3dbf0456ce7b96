"""Who sees what, in the app (Streamlit AppTest, demo mode's sign-in): a supervisor's figures are
cut to their department below the pages, whatever the URL asks; pages and forms follow the
roles; the administrator sees no business figure and the auditor only the trail; a request
the roles do not allow is refused in one sentence and audited."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from metrics import kpis
from metrics.calendar import WorkCalendar
from metrics.catalog import Problem
from metrics.filters import Filters
from onewindow.audit import AuditTrail
from onewindow.config import Config
from onewindow.store import store_path
from tests.conftest import run_cli
from tests.fixtures import CALENDAR
from ui import fmt, widgets
from ui.view import problems_sentence
from warehouse import Warehouse

APP = str(Path(__file__).resolve().parents[1] / "app.py")
END = date(2025, 6, 30)
FROM, TO = date(2025, 4, 1), date(2025, 6, 30)
CONFIG = Config()
CAL = WorkCalendar.from_config(CONFIG)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("access")
    db = folder / "w.duckdb"
    ran = run_cli("demo", "--out", folder / "exports", "--db", db, "--applications", "2000",
                  "--months", "6", "--end", END.isoformat())  # fmt: skip
    assert ran.code == 0, ran.err
    return db


def _departments(db: Path) -> list[str]:
    with Warehouse(db).read() as con:
        rows = con.execute("SELECT DISTINCT department FROM matters ORDER BY 1").fetchall()
    return [r[0] for r in rows if r[0]]


def _app(
    db: Path, monkeypatch: pytest.MonkeyPatch, roles: str, departments: str = "", **params: str
) -> AppTest:
    import ui.data

    monkeypatch.setenv("ONEWINDOW_DB", str(db))
    monkeypatch.delenv("ONEWINDOW_CONFIG_FILE", raising=False)
    monkeypatch.setenv("ONEWINDOW_AUTH", "demo")
    monkeypatch.setenv("ONEWINDOW_DEMO_ROLES", roles)
    monkeypatch.setenv("ONEWINDOW_DEMO_DEPARTMENTS", departments)
    ui.data.config.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _handled(db: Path, column: str, department: str) -> set[str]:
    """The windows, staff or matters of one department's applications, read straight from the
    warehouse: on the application record, else on its first acceptance step."""
    value = {
        "matter_code": "a.matter_code",
        "window_id": "coalesce(a.window_id, (SELECT e.window_id FROM events e WHERE"
        " e.application_id = a.application_id AND e.stage = 'accept' ORDER BY e.ts LIMIT 1))",
        "staff": "coalesce(a.staff, (SELECT e.staff FROM events e WHERE"
        " e.application_id = a.application_id AND e.stage = 'accept' ORDER BY e.ts LIMIT 1))",
    }[column]
    with Warehouse(db).read() as con:
        rows = con.execute(
            f"SELECT DISTINCT {value} FROM applications a JOIN matters m USING (matter_code)"
            " WHERE m.department = ?",
            [department],
        ).fetchall()
    return {str(r[0]) for r in rows if r[0] is not None}


def _catalogued(db: Path, column: str, department: str) -> set[str]:
    """A department's matters in the catalog, applications or not."""
    if column != "matter_code":
        return set()
    with Warehouse(db).read() as con:
        rows = con.execute("SELECT matter_code FROM matters WHERE department = ?", [department])
        return {str(r[0]) for r in rows.fetchall()}


def _unknown(field: str, value: str) -> str:
    return problems_sentence((Problem("unknown", field, (value,)),), "en")


def _submitted(db: Path, filters: Filters) -> str:
    with Warehouse(db).read() as con:
        table = kpis.kpis(con, CAL, filters, CONFIG, "none")
    return fmt.kpi_value("submitted", widgets.values(table)["submitted"], "en")


def _shown_submitted(at: AppTest) -> str:
    values = {m.label: m.value for m in at.metric}
    found = [v for k, v in values.items() if k.startswith(("Applications", "Submitted"))]
    assert found, values
    return found[0]


def _period() -> dict[str, str]:
    return {"lang": "en", "period": "custom", "from": FROM.isoformat(), "to": TO.isoformat()}


def test_a_supervisor_sees_only_their_department_whatever_the_url_asks(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = _departments(demo)[:2]
    at = _app(demo, monkeypatch, "supervisor", mine, **_period())
    shown = _shown_submitted(at)
    assert shown == _submitted(demo, Filters(FROM, TO, departments=(mine,)))
    assert shown != _submitted(demo, Filters(FROM, TO))
    # The department filter offers only theirs, and every other choice list only what their
    # department's applications had: another department's windows, staff and matters are
    # not even offered.
    assert at.multiselect(key="department").options == [mine]
    for key, column in (("window", "window_id"), ("staff", "staff"), ("matter", "matter_code")):
        offered = [o.split(" ")[0] for o in at.multiselect(key=key).options]  # "code name"
        ours, theirs = _handled(demo, column, mine), _handled(demo, column, other)
        assert offered and set(offered) <= ours | _catalogued(demo, column, mine), key
        assert ours <= set(offered), key
        assert theirs - ours and not (theirs - ours) & set(offered), key
    # A hand-edited URL naming another department shows nothing of it.
    edited = _app(demo, monkeypatch, "supervisor", mine, **_period(), department=other)
    # Below the page, Filters.within turns a department outside the scope into nothing, and
    # the page says in one sentence that the filter names a department it does not know: the
    # same sentence as for a name nobody has, so a URL cannot probe which departments,
    # windows or staff members exist. Never the other department's figures.
    assert not [m for m in edited.metric if m.label.startswith(("Applications", "Submitted"))]
    assert [e.value for e in edited.error] == [_unknown("department", other)]
    nobody = _app(demo, monkeypatch, "supervisor", mine, **_period(), department="无此部门")
    assert [e.value for e in nobody.error] == [_unknown("department", "无此部门")]
    window = sorted(_handled(demo, "window_id", other) - _handled(demo, "window_id", mine))[0]
    by_window = _app(demo, monkeypatch, "supervisor", mine, **_period(), window=window)
    assert [e.value for e in by_window.error] == [_unknown("window", window)]
    assert not by_window.metric
    assert _submitted(demo, Filters(FROM, TO, departments=(other,))) != shown
    # A matter of the other department, asked by URL, shows nothing either.
    with Warehouse(demo).read() as con:
        theirs = con.execute(
            "SELECT matter_code FROM matters WHERE department = ? LIMIT 1", [other]
        ).fetchone()
    assert theirs is not None
    by_matter = _app(demo, monkeypatch, "supervisor", mine, **_period(), matter=theirs[0])
    # (a matter outside the scope: no figures, and never the other department's)
    assert not [m for m in by_matter.metric if m.label.startswith(("Applications", "Submitted"))]
    assert by_matter.info or by_matter.error


def test_a_director_sees_all(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo, monkeypatch, "director", **_period())
    assert _shown_submitted(at) == _submitted(demo, Filters(FROM, TO))
    assert any("演示模式 / Demo mode" in m.value for m in at.markdown)


def test_a_director_has_no_reform_forms_and_no_upload(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(demo, monkeypatch, "director", lang="en")
    at.switch_page("pages/reforms.py").run()
    assert not at.exception
    assert not [b for b in at.button if "save" in str(b.key) or "-go" in str(b.key)]
    fresh = _app(demo, monkeypatch, "director", lang="en")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        fresh.switch_page("pages/data.py")  # the Data page is not in their navigation at all


def test_the_administrator_sees_no_business_figure(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(demo, monkeypatch, "administrator", lang="en")
    assert [t.value for t in at.title] == ["Users & roles"]
    assert at.metric.len == 0
    for page in ("overview", "matters", "supervision", "reforms", "data", "audit"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"pages/{page}.py")


def test_the_auditor_sees_only_the_trail(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(demo, monkeypatch, "auditor", lang="en")
    assert [t.value for t in at.title] == ["Audit trail"]
    assert at.metric.len == 0
    assert next(s.value for s in at.success).startswith("The chain is intact")
    for page in ("overview", "users", "data"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"pages/{page}.py")


def _script_denied() -> None:
    import streamlit as st

    from metrics.filters import Filters
    from onewindow.roles import Principal
    from ui import data, reform, session

    who = st.session_state.get("who", "director")
    st.session_state[session.PRINCIPAL] = Principal("someone", frozenset({who}))
    for attempt in (
        lambda: reform.delete("one-thing-business-setup"),
        lambda: data.kpi_table(data.version() or "", Filters()),
        lambda: data.jobs(data.version() or ""),
    ):
        try:
            attempt()
            st.write("allowed")
        except session.Denied as exc:
            st.error(f"denied {exc.action}")


def test_requests_below_the_pages_are_checked_and_audited(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.data

    monkeypatch.setenv("ONEWINDOW_DB", str(demo))
    monkeypatch.delenv("ONEWINDOW_CONFIG_FILE", raising=False)
    ui.data.config.clear()
    outcomes = {}
    for role in ("director", "administrator", "auditor", "data_steward"):
        at = AppTest.from_function(_script_denied, default_timeout=120)
        at.session_state["who"] = role
        at.run()
        assert not at.exception, at.exception
        outcomes[role] = [e.value for e in at.error]
    assert outcomes["director"] == ["denied reform.delete", "denied jobs"]
    assert outcomes["administrator"] == ["denied reform.delete", "denied kpi_table",
                                         "denied jobs"]  # fmt: skip
    assert outcomes["auditor"] == outcomes["administrator"]
    assert outcomes["data_steward"] == ["denied reform.delete", "denied kpi_table"]
    trail = AuditTrail(store_path(Warehouse(demo).home)).records()
    denied = [(r.actor, r.event, r.target, r.result) for r in trail if r.event == "denied"]
    assert ("someone", "denied", "reform.delete", "refused") in denied
    assert ("someone", "denied", "kpi_table", "refused") in denied
    assert len(denied) == 2 + 3 + 3 + 2


def test_without_a_sign_in_mode_the_app_shows_nothing(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.data

    monkeypatch.setenv("ONEWINDOW_DB", str(demo))
    monkeypatch.delenv("ONEWINDOW_AUTH", raising=False)
    ui.data.config.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = "en"
    at.run()
    assert [e.value for e in at.error] == ["Start the dashboard with onewindow serve."]
    assert at.metric.len == 0


def _script_replayed() -> None:
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from onewindow.roles import Principal
    from ui import auth

    who = Principal("boss", frozenset({"director"}))
    ctx = get_script_run_ctx()
    assert ctx is not None
    # What a replayed "save" of the reform form brings: a widget this session never showed.
    ctx.session_state._state._new_widget_state.states["$$ID-0123abcd-new-save"] = True  # type: ignore[attr-defined]
    auth.refuse_replays(who, "en")
    st.write("not refused")


def test_a_replayed_form_request_is_refused_and_audited(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.data

    monkeypatch.setenv("ONEWINDOW_DB", str(demo))
    ui.data.config.clear()
    at = AppTest.from_function(_script_replayed, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["Your role does not allow this: new-save (recorded)."]
    assert not [m for m in at.markdown if m.value == "not refused"]
    last = AuditTrail(store_path(Warehouse(demo).home)).records()[-1]
    assert (last.actor, last.event, last.target, last.result) == (
        "boss",
        "denied",
        "new-save",
        "refused",
    )


def test_the_data_health_page_counts_masked_personal_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl.profile import load_profile
    from etl.run import load_files
    from tests.fixtures import write_profile
    from tests.test_pii import _planted

    files, _ = _planted(tmp_path / "in")
    wh = Warehouse(tmp_path / "w.duckdb")
    load_files(wh, [(f, load_profile(write_profile(tmp_path))) for f in files], calendar=CALENDAR)
    at = _app(wh.path, monkeypatch, "data_steward", lang="en")
    assert [t.value for t in at.title] == ["Data health"]
    assert "Personal numbers masked" in [s.value for s in at.subheader]
    shown = next(d.value for d in at.dataframe if "Kind" in d.value.columns)
    rows = {(r["File"], r["Column"], r["Kind"]): r["Cells"] for r in shown.to_dict("records")}
    assert rows[("steps.csv", "staff", "mobile")] == 6
