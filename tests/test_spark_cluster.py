"""`onewindow spark derive --master spark://…` on a real Spark standalone cluster: one master
and two workers on loopback, started from the PySpark package's own launch classes, stopped at
the end. The rows equal DuckDB's, as in local mode (tests/test_spark.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metrics.calendar import WorkCalendar
from onewindow.config import Config
from tests.conftest import run_cli
from tests.province import assert_same_rows, demo_province
from warehouse import Warehouse
from warehouse import lake as lk

pyspark = pytest.importorskip("pyspark")
SPARK_HOME = Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(log: Path, text: str, count: int = 1, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and log.read_text(errors="replace").count(text) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} in {log} after {timeout_s} s:\n{log.read_text()[-2000:]}")


def _java(main: str, *args: str, log: Path, work: Path) -> subprocess.Popen[bytes]:
    # A worker launches executors with Spark's launcher, which needs the Scala version where
    # a pip-installed Spark has no build folders to find it in.
    env = dict(
        os.environ,
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_SCALA_VERSION="2.13",
    )
    # No REST submission server: it would take the fixed port 6066.
    options = ["-Xmx512m", "-Dspark.master.rest.enabled=false"]
    command = ["java", *options, "-cp", f"{SPARK_HOME}/jars/*", main, *args]
    return subprocess.Popen(
        command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=work
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("spark-cluster")
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs = [
        _java(
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(_free_port()),
            log=work / "master.log",
            work=work,
        )
    ]
    try:
        _wait_for(work / "master.log", "I have been elected leader")
        for i in range(2):
            (work / f"worker{i}").mkdir()
            procs.append(
                _java(
                    "org.apache.spark.deploy.worker.Worker",
                    url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "1",
                    "--memory",
                    "1g",
                    "--webui-port",
                    str(_free_port()),
                    "--work-dir",
                    str(work / f"worker{i}"),
                    log=work / f"worker{i}.log",
                    work=work,
                )
            )
        _wait_for(work / "master.log", "Registering worker", count=2)
        yield url
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_derive_on_a_standalone_cluster_gives_duckdbs_rows(
    cluster: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("cluster-province")
    lake, out = demo_province(root, 1, 150, 2)
    ran = run_cli("spark", "derive", "--lake", lake, "--master", cluster)
    assert ran.code == 0, ran.err
    assert ran.out.count("derived") == 1
    cal = WorkCalendar.from_config(Config())
    for center in lk.centers(lake):
        assert_same_rows(lake, center, Warehouse(out / center / "warehouse.duckdb"), cal)
