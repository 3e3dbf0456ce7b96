"""How `onewindow serve` may start (onewindow/serve.py): demo mode only for a demo warehouse on
loopback, real warehouses only with an administrator, and Streamlit's hardened options."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from onewindow.auth import Accounts
from onewindow.config import Config
from onewindow.serve import ServeRefused, is_loopback, plan
from onewindow.store import store_path
from tests.conftest import run_cli
from warehouse import Warehouse


@pytest.fixture(scope="module")
def demo_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    tmp = tmp_path_factory.mktemp("serve")
    ran = run_cli("demo", "--applications", "600", "--months", "3", "--out", tmp / "x",
                  "--db", tmp / "w.duckdb")  # fmt: skip
    assert ran.code == 0, ran.err
    return Warehouse(tmp / "w.duckdb")


def test_the_demo_opens_in_demo_mode_on_loopback_with_hardened_options(
    demo_wh: Warehouse,
) -> None:
    chosen = plan(Config(), demo_wh, None, None)
    assert chosen.mode == "demo" and chosen.address == "127.0.0.1"
    options = dict(zip(chosen.options[::2], chosen.options[1::2], strict=True))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--client.showErrorDetails"] == "none"
    assert options["--server.enableXsrfProtection"] == "true"
    assert options["--server.maxUploadSize"] == "50"
    secret = demo_wh.home / "cookie_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert plan(Config(), demo_wh, None, None).cookie_secret == chosen.cookie_secret  # once
    with pytest.raises(ServeRefused, match="only listens on a loopback address"):
        plan(Config(), demo_wh, "10.0.0.5", None)


def test_a_real_warehouse_needs_an_administrator(tmp_path: Path) -> None:
    from tests.fixtures import center_exports, write_profile

    db = tmp_path / "w.duckdb"
    files = center_exports(tmp_path / "in", n=5)
    assert run_cli("load", *files, "--profile", write_profile(tmp_path), "--db", db).code == 0
    wh = Warehouse(db)
    with pytest.raises(ServeRefused, match="no administrator account: create one"):
        plan(Config(), wh, None, None)
    with pytest.raises(ServeRefused, match="only for a warehouse made by `onewindow demo`"):
        plan(Config(), wh, None, True)
    Accounts(store_path(wh.home), Config().security).add("setup", "admin", ["administrator"])
    chosen = plan(Config(), wh, "0.0.0.0", None)
    assert (chosen.mode, chosen.address) == ("accounts", "0.0.0.0")


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
