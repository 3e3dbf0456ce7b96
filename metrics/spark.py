"""The province's derived tables on Apache Spark: `onewindow spark derive --lake PATH`.

For every center of the lake, the per-application facts, transitions and steps of
metrics/facts.py — the same SQL DuckDB runs in the center, transpiled by sqlglot
(metrics/dialect.py) — over the center's events, applications and matters, with the working-day
calendar the center exported (LAKE/calendar) and its time zone (LAKE/centers). The results are
written back into the lake as Parquet (LAKE/d_facts|d_transitions|d_steps/center=…/month=…/),
each partition swapped in whole (warehouse/lake.py). A center whose export did not change since
its last derive is skipped (unless `full`).

PySpark is the optional extra `onewindow[spark]`; this module imports it only when it runs.
"""

from __future__ import annotations

import shutil
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics import derived
from metrics.calendar import WorkCalendar
from metrics.dialect import to_spark
from metrics.filters import Filters
from warehouse import lake as lk

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SOURCES = ("events", "applications", "matters")


class SparkMissing(lk.LakeError):
    """PySpark (or Java) is not installed."""


@dataclass(frozen=True)
class Derived:
    center: str
    status: str  # derived / unchanged
    facts: int
    transitions: int
    steps: int


def session(
    master: str = "local[2]", shuffle_partitions: int = 8, app: str = "onewindow-derive"
) -> SparkSession:
    """A Spark session as the derive needs it: UTC session time (instants stay instants),
    Parquet timestamps as microseconds that DuckDB reads as TIMESTAMPTZ, no UI port."""
    # PySpark warns about pandas 3 on import; the derive never converts to pandas.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - the extra is part of the test install
        raise SparkMissing(
            "PySpark is not installed: install the extra onewindow[spark] and a Java runtime"
        ) from exc
    builder: Any = SparkSession.builder
    spark: SparkSession = (
        builder.master(master)
        .appName(app)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def spark_session(master: str = "local[2]", shuffle_partitions: int = 8) -> Iterator[SparkSession]:
    spark = session(master, shuffle_partitions)
    try:
        yield spark
    finally:
        spark.stop()


def _read(spark: SparkSession, lake: Path, table: str, center: str) -> DataFrame:
    from pyspark.sql import functions as F

    frame: DataFrame = (
        spark.read.option("basePath", str(lake / table))
        .parquet(str(lake / table / f"center={center}"))
        .where(F.col("center") == F.lit(center))
    )
    return frame.drop("center", "month")


def derive(
    spark: SparkSession, lake: Path, centers: list[str] | None = None, full: bool = False
) -> list[Derived]:
    """Derives every center of the lake (or those named); returns what each got."""
    known = lk.centers(lake)
    if not known:
        raise lk.LakeError(f"{lake}: no center in this lake (run `onewindow lake export`)")
    chosen = centers or known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise lk.LakeError(f"{lake}: no center {unknown[0]!r}; the lake holds {', '.join(known)}")
    return [_derive_center(spark, lake, center, full) for center in chosen]


def _derive_center(spark: SparkSession, lake: Path, center: str, full: bool) -> Derived:
    from pyspark.sql import functions as F

    with lk.center_lock(lake, center):
        done = lk.read_state(lake, f"{center}.derived")
        wanted = lk.derive_input(lake, center)
        if not full and done.get("input") == wanted:
            counts = {t: int(n) for t, n in done.get("rows", {}).items()}
            return Derived(
                center,
                "unchanged",
                counts.get("d_facts", 0),
                counts.get("d_transitions", 0),
                counts.get("d_steps", 0),
            )
        centers = _read(spark, lake, "centers", center).collect()
        cal = WorkCalendar.from_json(centers[0]["calendar"])
        for table in SOURCES:
            _read(spark, lake, table, center).createOrReplaceTempView(table)
        _read(spark, lake, "calendar", center).createOrReplaceTempView("ow_calendar")
        tmp = lake / lk.STATE / f".derive-{uuid.uuid4().hex}"
        rows: dict[str, str] = {}
        try:
            for table, build in derived.TABLES.items():
                text, params = build(cal, Filters(), None)
                frame = spark.sql(to_spark(text), args=dict(params))
                day = F.col(lk.DERIVED_MONTH[table])
                month = F.coalesce(F.date_format(day, "yyyy-MM"), F.lit(lk.NONE))
                out = frame.withColumn("month", month)
                target = tmp / table
                out.write.partitionBy("month").parquet(str(target))
                rows[table] = str(spark.read.parquet(str(target)).count())
                _publish_center(lake, table, center, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        lk.write_state(
            lake,
            f"{center}.derived",
            {"input": wanted, "rows": rows, "calendar": {"json": cal.to_json()}},
        )
        return Derived(
            center,
            "derived",
            int(rows["d_facts"]),
            int(rows["d_transitions"]),
            int(rows["d_steps"]),
        )


def _publish_center(lake: Path, table: str, center: str, written: Path) -> None:
    """Swaps in every month Spark wrote for the center; removes months it no longer has."""
    months = {p.name for p in written.iterdir() if p.name.startswith("month=")}
    for name in sorted(months):
        final = lake / table / f"center={center}" / name
        staged = lk.staging(final)
        shutil.move(str(written / name), staged)
        lk.publish(staged, final)
    home = lake / table / f"center={center}"
    for stale in sorted(p for p in home.iterdir() if p.name.startswith("month=")):
        if stale.name not in months:
            lk.remove(stale)
