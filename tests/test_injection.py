"""Values never become SQL: filter values and data that look like SQL are matched exactly.

A catalog and logs whose matter codes, department, window and staff names hold quotes,
`(SELECT unnest(?))`, `;`, `--` and `' OR 1=1` are loaded; every `onewindow report` filtered
by such a value gives exactly the figures of that value's own row in the report cut by its
dimension (an exact match), never an error nor other data. Read connections cannot reach
files. And a scan of metrics/ and etl/ fails when a SQL string formats anything but a
reviewed SQL fragment or code constant.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import duckdb
import pytest

from metrics.reports import REPORTS
from tests.conftest import TEST_SECRET, demo_app, run_cli
from tests.fixtures import (
    APPLICATION_HEADER,
    MATTER_HEADER,
    STEP_HEADER,
    center_rows,
    matter_rows,
    write_csv,
    write_profile,
)
from warehouse import Warehouse

MATTER_A = "M1(SELECT unnest(?))"
MATTER_B = "O'Brien' OR 1=1 --"
DEPARTMENT = "', (SELECT 42), '"
WINDOW = "3号窗口'; DROP TABLE events; --"
STAFF = "$f_matters' OR '1'='1"
UNKNOWN = ["' OR 1=1 --", "(SELECT unnest(?))", "x'; --", "?"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("injection")
    matters = matter_rows()
    matters[1][0], matters[2][0] = MATTER_A, MATTER_B
    for row in matters[:3]:
        row[2] = DEPARTMENT
    codes = {f"M-{i:03d}": row[0] for i, row in enumerate(matters)}
    apps, steps = center_rows(60)
    for app in apps:
        app[1] = codes[app[1]]
    for i, step in enumerate(steps):
        if i % 3 == 0:
            step[5] = WINDOW
        if i % 4 == 0:
            step[6] = STAFF
    files = [
        write_csv(folder / "matters.csv", MATTER_HEADER, matters, encoding="utf-8"),
        write_csv(folder / "applications.csv", APPLICATION_HEADER, apps, encoding="utf-8"),
        write_csv(folder / "steps.csv", STEP_HEADER, steps, encoding="utf-8"),
    ]
    db = folder / "w.duckdb"
    with pytest.MonkeyPatch.context() as patched:  # a module's fixture: before the autouse one
        patched.setenv("ONEWINDOW_SECRET", TEST_SECRET)
        ran = run_cli("load", *files, "--profile", write_profile(folder), "--db", db)
    assert ran.code == 0, ran.err
    return db


def _report(db: Path, *args: str) -> list[dict[str, object]]:
    ran = run_cli("report", *args, "--db", db, "--format", "json")
    assert ran.code == 0 and "Traceback" not in ran.err, ran.err
    rows: list[dict[str, object]] = json.loads(ran.out)
    return rows


@pytest.mark.parametrize(
    "flag,dimension,value",
    [
        ("--matter", "matter", MATTER_A),
        ("--matter", "matter", MATTER_B),
        ("--department", "department", DEPARTMENT),
        ("--window", "window", WINDOW),
        ("--staff", "staff", STAFF),
    ],
)
def test_a_filter_value_that_looks_like_sql_matches_exactly(
    db: Path, flag: str, dimension: str, value: str
) -> None:
    cut = {r["kpi"]: r["value"] for r in _report(db, "kpis", flag, value)}
    by = [r for r in _report(db, "kpis", "--by", dimension) if r[dimension] == value]
    assert by, f"the data holds {value!r}"
    assert cut == {r["kpi"]: r["value"] for r in by}
    assert cut["submitted"]  # figures of real applications, not an empty or widened cut


def test_cases_keep_exactly_the_matter_named(db: Path) -> None:
    every = _report(db, "cases")
    for code in (MATTER_A, MATTER_B):
        cut = _report(db, "cases", "--matter", code)
        assert cut == [r for r in every if r["matter_code"] == code] and cut


@pytest.mark.parametrize("value", UNKNOWN)
@pytest.mark.parametrize("flag", ["--matter", "--department", "--channel", "--window", "--staff"])
def test_every_report_answers_an_unknown_hostile_value_without_error(
    db: Path, flag: str, value: str
) -> None:
    for name, report in REPORTS.items():
        if not report.app_cuts:
            continue
        ran = run_cli("report", name, flag, value, "--db", db, "--format", "json")
        assert "Traceback" not in ran.err and "Error" not in ran.err, (name, ran.err)
        if ran.code == 2:  # refused as an unknown value, in one sentence
            assert len(ran.err.strip().splitlines()) == 1, ran.err
            continue
        assert ran.code == 0, (name, ran.err)
        rows = json.loads(ran.out)
        if name == "kpis":
            counts = {r["kpi"]: r["value"] for r in rows}
            assert not counts.get("submitted") and not counts.get("completed"), (name, rows)
        elif name not in ("queue", "reforms"):  # tickets and reforms name no application cut
            assert rows == [], (name, rows)


def test_a_read_connection_cannot_reach_files(db: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("a,b\n1,2\n", encoding="utf-8")
    with Warehouse(db).read() as con:
        for statement in (
            "SELECT * FROM read_csv($path)",
            "COPY (SELECT 1) TO $path",
            "ATTACH $path AS other",
        ):
            with pytest.raises(duckdb.Error, match=r"disabled by configuration|Permission"):
                con.execute(statement, {"path": str(outside)})


# ----- no value formatted into SQL text -------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ", "ATTACH ", " WHERE ", " FROM ")

# What an f-string of SQL in metrics/ and etl/ may interpolate: SQL text the code writes
# (fragments, table and column names from code constants), never a value from data, a
# filter, a file or the config. A name not listed here fails the test: bind the value as a
# named parameter (warehouse/sql.py), or, if it is SQL text the code writes, add it here.
FRAGMENTS = {
    # SQL fragments returned by builders (each binds its own values as parameters)
    "sql",
    "query",
    "facts",
    "ev",
    "steps",
    "where",
    "cut",
    "period",
    "per_step",
    "unpivot",
    "text",
    "open_cards",
    "cards",
    "select",
    "group",
    "partition",
    "order",
    "applications",
    "values",
    "local",
    "rated",
    "fixed",
    "rated_local",
    "due_local",
    "end_local",
    "tod",
    "desks",
    "department",
    "day",
    "clash",
    "fill",
    "gaps",
    "firsts",
    "differs",
    "assign",
    "match",
    "on",
    "orphan",
    "known",
    "extra",
    "target",
    "processed",
    "cols",
    "columns",
    "select_cols",
    "key",
    "parts",
    "unsplit",
    "sub_date",
    "rated_from",
    "ticket_key",
    # facts_sql's per-application CTEs and their names (per_application_sql)
    "ctes",
    "suspended",
    "per_app",
    "desk_parts",
    "_only",
    "_accepted_by",
    "facts_sql",
    "start_local",
    "lower",
    "first",
    "joins",
    # health.flagged: column names and reasons from its code constants (_ORDER_RULES)
    "late",
    "early",
    "reason",
    "within",
    "saved",
    "p",
    "ORDER",
    "DESKS",
    # identifiers: tables, columns, aliases and relation names the code names
    "table",
    "name",
    "column",
    "alias",
    "cal",
    "c",
    "n",
    "k",
    "m",
    "only",
    "VIEW",
    # the calendar's working spans: integers parsed from HH:MM by the config's validator
    "start",
    "end",
}


def _sql_fstrings(path: Path) -> list[tuple[int, str]]:
    """(line, interpolated expression) for each f-string of SQL in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.JoinedStr):
            continue
        literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        if not any(word in literal.upper() for word in SQL_WORDS) and "AT TIME ZONE" not in literal:
            continue
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                found.append((value.lineno, ast.unparse(value.value)))
    return found


def _roots(node: ast.expr) -> set[str]:
    """The names an interpolated expression's text comes from: the name of a variable, or
    of the builder it calls (a `*_sql` builder writes SQL); code literals
    give none."""
    if isinstance(node, ast.Constant | ast.List | ast.Tuple):
        return set()
    if isinstance(node, ast.IfExp):
        return _roots(node.body) | _roots(node.orelse)
    if isinstance(node, ast.BinOp):
        return _roots(node.left) | _roots(node.right)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "join":  # "sep".join(parts)
            return _roots(func.value) | set().union(*(_roots(a) for a in node.args))
        if isinstance(func, ast.Name) and func.id.endswith("_sql"):
            return set()
        if isinstance(func, ast.Attribute) and func.attr.endswith("_sql"):
            return set()
        return _roots(func)
    if isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        return _roots(node.value)
    if isinstance(node, ast.Name):
        return set() if node.id.isupper() else {node.id}
    if isinstance(node, ast.GeneratorExp | ast.ListComp):
        return _roots(node.elt)
    return {type(node).__name__}


def test_sql_text_formats_only_fragments_and_constants() -> None:
    offending = []
    for folder in ("metrics", "etl"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, expression in _sql_fstrings(path):
                unknown = _roots(ast.parse(expression, mode="eval").body) - FRAGMENTS
                if unknown:
                    offending.append(f"{path.relative_to(ROOT)}:{line}: {{{expression}}}")
    assert not offending, "values formatted into SQL text:\n" + "\n".join(offending)


def test_the_scan_catches_a_formatted_value(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(code):\n    return f\"SELECT * FROM matters WHERE matter_code = '{code}'\"\n",
        encoding="utf-8",
    )
    found = [_roots(ast.parse(e, mode="eval").body) for _, e in _sql_fstrings(sample)]
    assert found == [{"code"}]


@pytest.mark.parametrize(
    "param,value,dimension",
    [
        ("matter", MATTER_A, "matter"),
        ("matter", MATTER_B, "matter"),
        ("department", DEPARTMENT, "department"),
        ("window", WINDOW, "window"),
        ("staff", STAFF, "staff"),
    ],
)
def test_the_dashboards_query_string_matches_exactly(
    db: Path, monkeypatch: pytest.MonkeyPatch, param: str, value: str, dimension: str
) -> None:
    """The same values through the dashboard's address: the Overview shows that value's own
    figures, never an error nor the whole center."""
    from ui import fmt

    at = demo_app(db, monkeypatch, "director")
    for key, given in {
        "lang": "en",
        "period": "custom",
        "from": "2025-01-01",
        "to": "2025-12-31",
        param: value,
    }.items():
        at.query_params[key] = given
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    shown = {m.label: m.value for m in at.metric}
    submitted = next(v for k, v in shown.items() if k.startswith("Submitted"))
    expected = [
        r["value"]
        for r in _report(
            db, "kpis", "--from", "2025-01-01", "--to", "2025-12-31", "--by", dimension
        )
        if r[dimension] == value and r["kpi"] == "submitted"
    ]
    assert submitted == fmt.kpi_value("submitted", expected[0], "en")
