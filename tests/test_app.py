"""The dashboard runs on real warehouses built by the tests (Streamlit AppTest): every page in
both languages shows the same figures the metrics functions give for the same filters, a
filter in the query string is applied, and an empty warehouse shows how to load data."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from etl.profile import Profile
from etl.run import load_files
from metrics import followup, health, kpis, lists, process, reforms, wording
from metrics.calendar import WorkCalendar
from metrics.dashboard import period_range, previous_range, wide
from metrics.filters import Filters
from metrics.reforms import Design
from onewindow.config import Config, Reform
from tests.conftest import run_cli
from tests.fixtures import APPLICATION_HEADER, CALENDAR, center_rows, write_csv
from ui import fmt, widgets
from ui import reform as reform_ui
from ui.fmt import Lang
from ui.i18n import column, kpi_name, tr
from ui.nav import PAGES
from ui.plain import md
from warehouse import Warehouse

APP = str(Path(__file__).resolve().parents[1] / "app.py")
END = date(2025, 6, 30)  # the demo's last day
FROM, TO = date(2025, 4, 1), date(2025, 6, 30)  # the custom period most tests show
CONFIG = Config()
CAL = WorkCalendar.from_config(CONFIG)
LANGS: tuple[Lang, ...] = ("zh", "en")
# The cards each page must show (issue 5).
OVERVIEW_CARDS = (
    "submitted",
    "online_rate",
    "fully_online_rate",
    "on_time_rate",
    "processing_workdays_median",
    "at_most_once_rate",
    "good_review_rate",
    "open_red_cards",
)
MATTER_CARDS = ("submitted", "on_time_rate", "processing_workdays_median")
QUEUE_CARDS = ("tickets", "wait_p90_min", "wait_within_target_rate", "no_show_rate")
SATISFACTION_CARDS = ("ratings", "good_review_rate", "bad_reviews", "rectification_rate")


@pytest.fixture(autouse=True)
def every_page_role(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app as the demo mode serves it (ui/auth.py), signed in with the roles that see every
    page and form of these tests: director, reform officer, data steward. Roles and scopes
    themselves are tested in tests/test_access.py."""
    monkeypatch.setenv("ONEWINDOW_AUTH", "demo")
    monkeypatch.setenv("ONEWINDOW_DEMO_ROLES", "director,reform_officer,data_steward")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo center: 3,000 applications over 14 months up to END."""
    folder = tmp_path_factory.mktemp("demo-ui")
    db = folder / "w.duckdb"
    ran = run_cli("demo", "--out", folder / "exports", "--db", db, "--applications", "3000",
                  "--months", "14", "--end", END.isoformat())  # fmt: skip
    assert ran.code == 0, ran.err
    return db


def _open(
    db: Path, monkeypatch: pytest.MonkeyPatch, slug: str = "overview", **params: str | list[str]
) -> AppTest:
    """The app at `slug` with the URL's query parameters; fails on any exception or error."""
    import ui.data

    monkeypatch.setenv("ONEWINDOW_DB", str(db))
    monkeypatch.delenv("ONEWINDOW_CONFIG_FILE", raising=False)
    ui.data.config.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if slug != PAGES[0].slug:
        page = next(p for p in PAGES if p.slug == slug)
        at.switch_page(page.file).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _frame_with(at: AppTest, header: str) -> pl.DataFrame:
    """The page's first table with a column `header`."""
    return next(pl.from_pandas(d.value) for d in at.dataframe if header in list(d.value.columns))


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _custom(lang: Lang) -> dict[str, str]:
    return {"lang": lang, "period": "custom", "from": FROM.isoformat(), "to": TO.isoformat()}


def _read(db: Path) -> Warehouse:
    return Warehouse(db)


def _kpi_table(db: Path, filters: Filters, by: str = "none") -> pl.DataFrame:
    with _read(db).read() as con:
        return kpis.kpis(con, CAL, filters, CONFIG, by)


def _expect_cards(
    shown: dict[str, str], db: Path, cards: tuple[str, ...], filters: Filters, lang: Lang
) -> None:
    """Each card shows the metrics value, formatted as the page formats it."""
    table = _kpi_table(db, filters)
    values = widgets.values(table)
    for kpi in cards:
        label = widgets.card_label(kpi, table, lang)
        assert shown[label] == fmt.kpi_value(kpi, values[kpi], lang), (kpi, lang)


PERIOD = Filters(FROM, TO)


@pytest.mark.parametrize("lang", LANGS)
def test_overview(demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang) -> None:
    at = _open(demo, monkeypatch, "overview", **_custom(lang))
    shown = _metrics(at)
    _expect_cards(shown, demo, OVERVIEW_CARDS, PERIOD, lang)
    # the change against the previous period (April–June: January–March, 环比) and against
    # the same months a year earlier (同比)
    assert previous_range("custom", FROM, TO) == (date(2025, 1, 1), date(2025, 3, 31))
    before = widgets.values(_kpi_table(demo, Filters(date(2025, 1, 1), date(2025, 3, 31))))
    year_ago = widgets.values(_kpi_table(demo, Filters(date(2024, 4, 1), date(2024, 6, 30))))
    now = widgets.values(_kpi_table(demo, PERIOD))
    deltas = {m.label: m.delta for m in at.metric}
    table = _kpi_table(demo, PERIOD)
    label = widgets.card_label("on_time_rate", table, lang)
    change = fmt.kpi_change("on_time_rate", now["on_time_rate"], before["on_time_rate"], lang)
    assert change is not None
    assert deltas[label] == widgets.compared(change, "previous", lang)
    yoy = fmt.kpi_change("on_time_rate", now["on_time_rate"], year_ago["on_time_rate"], lang)
    assert yoy is not None
    assert widgets.compared(yoy.replace("-", "−"), "year_ago", lang) in [
        c.value for c in at.caption
    ]
    league = _frame_with(at, kpi_name("online_rate", lang))
    by_department = wide(_kpi_table(demo, PERIOD, "department"), "department")
    assert len(league) == by_department.height


@pytest.mark.parametrize("lang", LANGS)
def test_matters(demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang) -> None:
    by_matter = wide(_kpi_table(demo, PERIOD, "matter"), "matter")
    code = by_matter.sort("submitted", descending=True)["matter"][0]
    at = _open(demo, monkeypatch, "matters", focus=code, **_custom(lang))
    assert len(at.dataframe[0].value) == by_matter.height  # every matter, one row each
    _expect_cards(_metrics(at), demo, MATTER_CARDS, Filters(FROM, TO, (code,)), lang)
    with _read(demo).read() as con:
        moves = process.transitions(con, CAL, Filters(FROM, TO, (code,)))
    assert _frame_with(at, column("from_step", lang)).height == moves.height


@pytest.mark.parametrize("lang", LANGS)
def test_bottlenecks(demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang) -> None:
    at = _open(demo, monkeypatch, "bottlenecks", **_custom(lang))
    with _read(demo).read() as con:
        moves = process.transitions(con, CAL, PERIOD)
    top = moves.row(0, named=True)
    shown = _metrics(at)
    assert shown[tr("bottlenecks.top", lang)] == f"{top['from_step']} → {top['to_step']}"
    assert shown[tr("bottlenecks.top_share", lang)] == fmt.pct(top["share_of_time"])


@pytest.mark.parametrize("lang", LANGS)
def test_supervision(demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang) -> None:
    at = _open(demo, monkeypatch, "supervision", **_custom(lang))
    with _read(demo).read() as con:
        cards = kpis.cards(con, CAL, PERIOD, CONFIG)
    shown = _metrics(at)
    reds = cards.filter(pl.col("card") == "red").height
    assert shown[tr("supervision.red", lang)] == fmt.count(reds)
    yellows = cards.filter(pl.col("card") == "yellow").height
    assert shown[tr("supervision.yellow", lang)] == fmt.count(yellows)


def _linked(at: AppTest, lang: Lang) -> list[list[str]]:
    """The application numbers of each list on the page, read from their links."""
    number = column("application_id", lang)
    frames = [pl.from_pandas(d.value) for d in at.dataframe]
    return [
        [unquote(re.search(r"[?&]app=([^&]*)", url)[1]) for url in f[number]]  # type: ignore[index]
        for f in frames
        if number in f.columns
    ]


@pytest.mark.parametrize("lang", LANGS)
def test_a_supervision_count_leads_to_its_list(
    demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang
) -> None:
    """The page opens on the yellow cards, then the red ones; each count is the length of
    its list, and each number links to the Application page."""
    at = _open(demo, monkeypatch, "supervision", **_custom(lang))
    with _read(demo).read() as con:
        yellow = lists.cards(con, CAL, PERIOD, CONFIG, "yellow")
        red = lists.cards(con, CAL, PERIOD, CONFIG, "red")
    assert red.height and yellow.height  # the demo plants overdue applications
    shown = _metrics(at)
    linked = _linked(at, lang)
    assert shown[tr("supervision.yellow", lang)] == fmt.count(len(linked[0]))
    assert linked[0] == yellow["application_id"].to_list()  # most urgent first
    assert shown[tr("supervision.red", lang)] == fmt.count(len(linked[1]))
    assert linked[1] == red["application_id"].to_list()
    assert tr("list.yellow", lang, n=fmt.count(yellow.height)) in [h.value for h in at.subheader]


@pytest.mark.parametrize("lang", LANGS)
def test_windows(demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang) -> None:
    at = _open(demo, monkeypatch, "windows", **_custom(lang))
    _expect_cards(_metrics(at), demo, QUEUE_CARDS, PERIOD, lang)


@pytest.mark.parametrize("lang", LANGS)
def test_satisfaction(demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang) -> None:
    at = _open(demo, monkeypatch, "satisfaction", **_custom(lang))
    shown = _metrics(at)
    _expect_cards(shown, demo, SATISFACTION_CARDS, PERIOD, lang)
    with _read(demo).read() as con:
        last = con.sql("SELECT max(ts) FROM events").fetchall()[0][0]
        as_of = kpis.period_bounds(PERIOD, CAL.zone, last + timedelta(seconds=1))[2]
        bad = followup.bad_reviews(con, CAL, PERIOD, CONFIG, as_of)
    still_open = bad.filter(pl.col("status").is_in(["open", "overdue"])).height
    assert shown[tr("satisfaction.open_bad", lang)] == f"{still_open:,}"
    assert len(at.dataframe[-1].value) == bad.height


@pytest.mark.parametrize("lang", LANGS)
def test_data(demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang) -> None:
    at = _open(demo, monkeypatch, "data", **_custom(lang))
    with _read(demo).read() as con:
        runs = health.jobs(con, Filters(), CAL.zone)
    shown = _metrics(at)
    assert shown[tr("data.runs", lang)] == fmt.count(runs.height)
    assert shown[tr("data.quarantined", lang)] == "0"


def test_filters_in_the_query_string_are_applied(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _read(demo).read() as con:
        department = con.sql("SELECT min(department) FROM matters").fetchall()[0][0]
    at = _open(demo, monkeypatch, "overview", **_custom("en"), channel=["online", "mobile"],
               department=department)  # fmt: skip
    cut = Filters(FROM, TO, departments=(department,), channels=("online", "mobile"))
    shown = _metrics(at)
    _expect_cards(shown, demo, ("submitted", "on_time_rate"), cut, "en")
    everything = widgets.values(_kpi_table(demo, PERIOD))["submitted"]
    assert shown[kpi_name("submitted", "en")] != fmt.count(everything)  # the cut mattered
    assert at.query_params["department"] == department  # the URL keeps the view


def test_default_period_is_this_month_of_the_data(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no period in the URL: this month, ending on the data's last day when that is
    earlier than today (a historical load), in Chinese when the browser says nothing."""
    at = _open(demo, monkeypatch)
    start, end = period_range("this_month", min(date.today(), END))
    _expect_cards(_metrics(at), demo, ("submitted",), Filters(start, end), "zh")
    assert at.title[0].value == PAGES[0].title_zh


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("slug", [p.slug for p in PAGES])
def test_empty_warehouse_shows_how_to_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slug: str, lang: Lang
) -> None:
    at = _open(tmp_path / "none.duckdb", monkeypatch, slug, lang=lang)
    assert tr("empty.body", lang) in at.info[0].value
    assert "onewindow demo" in at.info[0].value


def test_data_page_shows_quarantined_rows(
    tmp_path: Path, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps, _ = center_rows(4)
    apps[0][3] = "soon"
    wh = Warehouse(tmp_path / "w.duckdb")
    load_files(
        wh,
        [(write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps), center_profile)],
        calendar=CALENDAR,
    )
    at = _open(wh.path, monkeypatch, "data", lang="en")
    shown = _metrics(at)
    assert shown["Runs"] == "1" and shown["Quarantined rows"] == "1"
    held = at.dataframe[-1].value
    assert list(held["Reason"]) == ["unparseable timestamp 'soon'"]


def test_a_new_run_reaches_the_open_dashboard(
    tmp_path: Path, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cached figures are keyed on the published copy: the next view after a run shows it."""
    apps, _ = center_rows(6)
    wh = Warehouse(tmp_path / "w.duckdb")
    load_files(wh, [(write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps[:3]),
                     center_profile)], calendar=CALENDAR)  # fmt: skip
    at = _open(wh.path, monkeypatch, "data", lang="en")
    assert _metrics(at)["Runs"] == "1"
    load_files(wh, [(write_csv(tmp_path / "applications2.csv", APPLICATION_HEADER, apps[3:]),
                     center_profile)], calendar=CALENDAR)  # fmt: skip
    at.run()
    assert _metrics(at)["Runs"] == "2"


def test_an_upload_loads_through_the_normal_etl(tmp_path: Path) -> None:
    from tests.fixtures import write_profile
    from ui.upload import load_upload, profiles

    apps, _ = center_rows(5)
    content = write_csv(tmp_path / "x.csv", APPLICATION_HEADER, apps).read_bytes()
    profile = write_profile(tmp_path)
    config = Config(etl={"profiles": [profile]})
    assert profiles(config)[0] == profile  # the configured ones first, then profiles/
    wh = Warehouse(tmp_path / "w.duckdb")
    run_id, status, outcome = load_upload(wh, config, "applications.csv", content, profile)
    assert (run_id, status) == (1, "ok")
    assert outcome.select("table", "status", "loaded").rows() == [("applications", "loaded", 5)]
    with wh.read() as con:
        assert health.jobs(con, Filters(), CAL.zone)["job"].to_list() == ["upload"]


@pytest.mark.parametrize("lang", LANGS)
def test_a_warehouse_too_new_is_one_plain_message(
    tmp_path: Path, center_profile: Profile, monkeypatch: pytest.MonkeyPatch, lang: Lang
) -> None:
    import duckdb

    import ui.data

    apps, _ = center_rows(3)
    wh = Warehouse(tmp_path / "w.duckdb")
    load_files(wh, [(write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps),
                     center_profile)], calendar=CALENDAR)  # fmt: skip
    with duckdb.connect(str(wh.published())) as con:  # as a later OneWindow would leave it
        con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    monkeypatch.setenv("ONEWINDOW_DB", str(wh.path))
    ui.data.config.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [tr("state.too_new", lang)]


def _registered(db: Path) -> list[Reform]:
    with _read(db).read() as con:
        return reforms.stored(con)


def _effects(db: Path, reform: Reform, design: Design | None = None) -> reforms.Analysis:
    with _read(db).read() as con:
        per_app = reforms.units(con, CAL, CONFIG)
    return reforms.analyse(per_app, reform, design)


def _expect_reform(at: AppTest, db: Path, reform: Reform, design: Design, lang: Lang) -> None:
    """The headline cards and the KPI table show analyse()'s figures as the page words them."""
    analysis = _effects(db, reform, design)
    rows = {r["kpi"]: r for r in analysis.effects.iter_rows(named=True)}
    shown = {m.label: (m.value, m.delta) for m in at.metric}
    for kpi in reform_ui.HEADLINE:
        r = rows[kpi]
        assert shown[reform_ui.did_label(kpi, lang)] == (
            reform_ui.did_text(kpi, r["did"], lang, unit=False),
            tr(f"verdict.{r['verdict']}", lang),
        ), (kpi, lang)
        reading = wording.reading(
            kpi, r["did"], r["did_ci_low"], r["did_ci_high"], r["verdict"], lang, design.control
        )
        assert reading in [c.value for c in at.caption]
    expected = wording.table(analysis.effects, lang, design.control)
    table = pl.from_pandas(at.dataframe[0].value)
    assert table.columns == expected.columns
    assert table.rows() == expected.rows()


@pytest.mark.parametrize("lang", LANGS)
def test_reforms(demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang) -> None:
    """The reform named in the URL is shown, with the figures of metrics.reforms."""
    registered = _registered(demo)
    assert len(registered) >= 2  # the demo's planted reforms
    second = registered[1]
    at = _open(demo, monkeypatch, "reforms", lang=lang, reform=second.id)
    assert at.selectbox(key="reform").value == second.id
    _expect_reform(at, demo, second, Design.of(second), lang)
    assert at.query_params["reform"] == second.id
    # The headline holds what "run at most once" reforms target; the chart follows its measure.
    assert {"at_most_once_rate", "zero_trip_rate"} <= set(reform_ui.HEADLINE)
    assert at.selectbox(key="reform.kpi").value == reform_ui.HEADLINE[0]


def test_reform_page_defaults_to_the_first_reform_and_tries_a_design(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _registered(demo)[0]
    at = _open(demo, monkeypatch, "reforms", lang="en", reform="no-such-reform")
    assert at.selectbox(key="reform").value == first.id
    _expect_reform(at, demo, first, Design.of(first), "en")
    # A design tried in the view changes the figures, not the registry.
    key = f"design-{first.id}"
    at.number_input(key=f"{key}-window").set_value(60)
    at.radio(key=f"{key}-control").set_value("departments")
    at.button(key=f"{key}-apply").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [w.value for w in at.warning] == [tr("reform.trial", "en")]
    _expect_reform(at, demo, first, Design(60, first.gap_days, "departments"), "en")
    assert _registered(demo)[0] == first


def _small_center(tmp_path: Path, center_profile: Profile) -> Warehouse:
    apps, _ = center_rows(60)
    wh = Warehouse(tmp_path / "w.duckdb")
    load_files(
        wh,
        [(write_csv(tmp_path / "applications.csv", APPLICATION_HEADER, apps), center_profile)],
        calendar=CALENDAR,
    )
    return wh


@pytest.mark.parametrize("lang", LANGS)
def test_reforms_are_added_edited_and_deleted_on_the_page(
    tmp_path: Path, center_profile: Profile, monkeypatch: pytest.MonkeyPatch, lang: Lang
) -> None:
    wh = _small_center(tmp_path, center_profile)
    at = _open(wh.path, monkeypatch, "reforms", lang=lang)
    assert [i.value for i in at.info] == [tr("reform.none", lang)]  # how to declare one
    # A name left empty: one plain message in the reader's language, nothing stored.
    at.text_input(key="new-id").input("one-window")
    at.date_input(key="new-effective").set_value(date(2025, 4, 1))
    at.multiselect(key="new-matters").set_value(["M-001", "M-002"])
    at.button(key="new-save").click().run()
    empty = tr("invalid.empty", lang, field=tr("reform.name", lang))
    assert [e.value for e in at.error] == [tr("reform.invalid", lang, problems=empty)]
    assert _registered(wh.path) == []

    at.text_input(key="new-name").input("一窗受理 / One window")
    at.text_area(key="new-description").input("merged windows")
    at.button(key="new-save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    added = Reform(
        id="one-window",
        name="一窗受理 / One window",
        effective=date(2025, 4, 1),
        matters=["M-001", "M-002"],
        description="merged windows",
    )
    assert _registered(wh.path) == [added]
    assert at.selectbox(key="reform").value == "one-window"  # the page shows it at once
    assert tr("reform.saved", lang, name=md(added.name), run=2) in at.success[0].value
    _expect_reform(at, wh.path, added, Design.of(added), lang)

    # The same id again is refused; editing keeps the id and the design.
    at.text_input(key="new-id").input("one-window")
    at.text_input(key="new-name").input("again")
    at.date_input(key="new-effective").set_value(date(2025, 4, 1))
    at.multiselect(key="new-matters").set_value(["M-003"])
    at.button(key="new-save").click().run()
    assert [e.value for e in at.error] == [tr("reform.id_taken", lang, id=md("one-window"))]
    at.multiselect(key="edit-one-window-matters").set_value(["M-001"])
    at.button(key="edit-one-window-save").click().run()
    assert _registered(wh.path) == [added.model_copy(update={"matters": ["M-001"]})]

    # A design saved with listed control matters; a later edit touching one of them is refused.
    key = "design-one-window"
    at.radio(key=f"{key}-control").set_value("listed")
    at.multiselect(key=f"{key}-matters").set_value(["M-004", "M-005"])
    at.number_input(key=f"{key}-gap").set_value(7)
    at.button(key=f"{key}-save").click().run()
    assert not at.error, [e.value for e in at.error]
    saved = _registered(wh.path)[0]
    assert (saved.control, saved.gap_days) == (["M-004", "M-005"], 7)
    at.multiselect(key="edit-one-window-matters").set_value(["M-001", "M-004"])
    at.button(key="edit-one-window-save").click().run()
    overlap = tr("invalid.overlap", lang, codes=md("M-004"))
    assert [e.value for e in at.error] == [tr("reform.invalid", lang, problems=overlap)]
    assert _registered(wh.path)[0] == saved

    at.checkbox(key="delete-one-window-sure").check()
    at.button(key="delete-one-window-go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _registered(wh.path) == []
    assert [i.value for i in at.info] == [tr("reform.none", lang)]


def test_a_design_that_breaks_a_rule_is_one_plain_message() -> None:
    from pydantic import ValidationError

    reform = Reform(id="r", name="R", effective=date(2025, 4, 1), matters=["M-001"])
    try:
        reforms.with_design(reform, Design(30, 0, ("M-001", "M-002")))
    except ValidationError as exc:
        message = reform_ui.problem(exc, "zh", reform.matters, ("M-001", "M-002"))
    assert message == tr(
        "reform.invalid", "zh", problems=tr("invalid.overlap", "zh", codes=md("M-001"))
    )
    try:
        reform_ui.draft("", "x", None, [], "", None)
    except ValidationError as exc:
        message = reform_ui.problem(exc, "en")
    field = {k: tr(f"reform.{k}", "en") for k in ("id", "effective", "matters")}
    reasons = [tr("invalid.empty", "en", field=f) for f in field.values()]
    assert message == tr("reform.invalid", "en", problems="; ".join(reasons))


def test_uploads_and_reform_edits_refresh_with_the_centers_calendar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A center with its own calendar: the dashboard's upload box and reform form leave the
    derived tables current for that calendar, never the default one."""
    import ui.data
    from metrics import derived
    from tests.fixtures import center_exports, write_profile
    from ui.upload import load_upload

    db = tmp_path / "w.duckdb"
    (tmp_path / "onewindow.toml").write_text(
        f"""db = "{db}"
[center]
timezone = "Europe/Amsterdam"
working_hours = ["08:00-12:00", "13:00-16:00"]
[calendar]
holidays = "none"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("ONEWINDOW_CONFIG_FILE", str(tmp_path / "onewindow.toml"))
    ui.data.config.clear()
    config = ui.data.config()
    center = WorkCalendar.from_config(config)
    assert center != CAL
    profile = write_profile(tmp_path)
    wh = Warehouse(db)
    for path in center_exports(tmp_path / "in", n=8):
        load_upload(wh, config, path.name, path.read_bytes(), profile)
        with wh.read() as con:
            assert derived.current(con, center) and not derived.current(con, CAL)
    reform_ui.save(Reform(id="r1", name="R1", effective=date(2025, 3, 10), matters=["M-001"]))
    with wh.read() as con:
        assert derived.current(con, center) and not derived.current(con, CAL)
    reform_ui.delete("r1")
    with wh.read() as con:
        assert derived.current(con, center) and not derived.current(con, CAL)
    ui.data.config.clear()


@pytest.mark.parametrize("lang", LANGS)
def test_the_on_time_rate_stands_beside_the_open_overdue(
    demo: Path, monkeypatch: pytest.MonkeyPatch, lang: Lang
) -> None:
    """The Overview says the on-time rate counts completed applications, names the open red
    cards of the same cut, and lists them and the late completions: as many as counted."""
    department = "自然资源局"  # the demo's overdue cluster (M-NR-003)
    at = _open(demo, monkeypatch, "overview", **_custom(lang), department=department)
    cut = Filters(FROM, TO, departments=(department,))
    values = widgets.values(_kpi_table(demo, cut))
    red, late = int(values["open_red_cards"] or 0), int(values["overdue"] or 0)
    assert red > 0 and late > 0
    assert tr("ontime.note", lang, red=fmt.count(red)) in [c.value for c in at.caption]
    red_list, late_list = _linked(at, lang)[:2]
    assert (len(red_list), len(late_list)) == (red, late)
    with _read(demo).read() as con:
        assert late_list == lists.overdue(con, CAL, cut)["application_id"].to_list()
