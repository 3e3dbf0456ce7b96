"""The monthly report: its PDF (read back with pdftotext) and its workbook (read back with
fastexcel) hold the same figures as `onewindow report kpis` for that month and scope."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import fastexcel
import pytest

from metrics.monthly import REPORTED
from onewindow.audit import AuditTrail
from onewindow.store import store_path
from tests.conftest import run_cli
from ui.fmt import Lang, kpi_value
from ui.i18n import kpi_name, tr
from warehouse import Warehouse

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "monthly"
MONTH, FIRST, LAST = "2026-10", "2026-10-01", "2026-10-31"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("monthly")
    db = folder / "w.duckdb"
    ran = run_cli(
        "demo",
        "--applications",
        "6000",
        "--months",
        "14",
        "--end",
        "2026-11-30",
        "--out",
        folder / "demo",
        "--db",
        db,
    )
    assert ran.code == 0, ran.err
    return db


def _kpis(db: Path, *scope: str) -> dict[str, float | None]:
    ran = run_cli(
        "report", "kpis", "--from", FIRST, "--to", LAST, *scope, "--db", db, "--format", "json"
    )
    assert ran.code == 0, ran.err
    return {r["kpi"]: r["value"] for r in json.loads(ran.out)}


def _write(db: Path, out: Path, lang: Lang, *scope: str) -> tuple[Path, Path]:
    ran = run_cli("monthly", "--month", MONTH, "--lang", lang, *scope, "--out", out, "--db", db)
    assert ran.code == 0, ran.err
    pdf, xlsx = (Path(line) for line in ran.out.split())
    assert pdf.suffix == ".pdf" and xlsx.suffix == ".xlsx"
    last = AuditTrail(store_path(Warehouse(db).home)).records()[-1]
    assert (last.event, last.target) == ("export", f"monthly {MONTH}")  # every export audited
    return pdf, xlsx


def _pdf_lines(pdf: Path) -> list[str]:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is missing: bash scripts/install --dev brings poppler-utils")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return [" ".join(line.split()) for line in text.splitlines()]


def _department(db: Path) -> str:
    ran = run_cli("report", "kpis", "--by", "department", "--db", db, "--format", "json")
    return sorted({r["department"] for r in json.loads(ran.out) if r["department"]})[0]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("scoped", [False, True])
def test_pdf_and_workbook_hold_the_reports_figures(
    db: Path, tmp_path: Path, lang: Lang, scoped: bool
) -> None:
    scope = ("--department", _department(db)) if scoped else ()
    expected = _kpis(db, *scope)
    pdf, xlsx = _write(db, tmp_path, lang, *scope)
    assert MONTH in pdf.name and (scope[1] in pdf.name if scoped else True)

    lines = _pdf_lines(pdf)
    for kpi in REPORTED:
        name, shown = kpi_name(kpi, lang), kpi_value(kpi, expected.get(kpi), lang)
        rows = [line for line in lines if line.startswith(name + " ")]
        assert rows, f"{kpi} ({name}) is not in the PDF"
        assert rows[0][len(name) + 1 :].startswith(shown), (kpi, rows[0], shown)

    book = fastexcel.read_excel(str(xlsx))
    sheet = book.load_sheet(tr("monthly.sheet.kpis", lang)).to_polars()
    stored = dict(zip(sheet["kpi"], sheet["value"], strict=True))
    for kpi in REPORTED:
        if expected.get(kpi) is None:
            assert stored.get(kpi) is None, kpi
        else:
            assert stored[kpi] == pytest.approx(expected[kpi], rel=1e-12, abs=1e-12), kpi
    cover = book.load_sheet(tr("monthly.sheet.cover", lang), header_row=None).to_polars()
    assert MONTH[:4] in " ".join(str(v) for v in cover.row(1))  # the month is named

    if lang == "zh" and not scoped and shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                "1",
                "-l",
                "1",
                str(pdf),
                str(ARTIFACTS / "page"),
            ],
            check=True,
        )
        assert (ARTIFACTS / "page-1.png").stat().st_size > 10_000


def test_comparisons_are_the_month_before_and_a_year_earlier(db: Path, tmp_path: Path) -> None:
    _, xlsx = _write(db, tmp_path, "en")
    sheet = fastexcel.read_excel(str(xlsx)).load_sheet("KPIs").to_polars()
    row = {r["kpi"]: r for r in sheet.iter_rows(named=True)}
    previous = _kpis_between(db, "2026-09-01", "2026-09-30")
    year_ago = _kpis_between(db, "2025-10-01", "2025-10-31")
    for kpi in ("submitted", "on_time_rate", "online_rate"):
        assert row[kpi]["previous"] == pytest.approx(previous[kpi])
        assert row[kpi]["year_ago"] == pytest.approx(year_ago[kpi])


def _kpis_between(db: Path, first: str, last: str) -> dict[str, float]:
    ran = run_cli("report", "kpis", "--from", first, "--to", last, "--db", db, "--format", "json")
    return {r["kpi"]: r["value"] for r in json.loads(ran.out)}


def test_an_unknown_department_or_month_is_refused(db: Path, tmp_path: Path) -> None:
    ran = run_cli(
        "monthly", "--month", MONTH, "--department", "不存在局", "--out", tmp_path, "--db", db
    )
    assert (
        ran.code == 2
        and ran.err.strip() == "onewindow: no department named '不存在局' in the warehouse"
    )
    ran = run_cli("monthly", "--month", "2026-13", "--out", tmp_path, "--db", db)
    assert ran.code == 2 and "'2026-13' is not a month like 2026-11" in ran.err
    assert not list(tmp_path.iterdir())
