"""Whether and how `onewindow serve` may start: demo mode or sign-in with accounts, the
address, the cookie secret and Streamlit's hardened options.

- Demo mode (open as the director, a role and scope picker, no password) only for a warehouse
  that `onewindow demo` made, and only on a loopback address.
- Any other warehouse needs at least one administrator account first.
- The server listens on `security.address` (127.0.0.1) unless `--address` says otherwise,
  shows no error details, keeps Streamlit's XSRF protection and limits uploads; its cookie
  secret is generated once and kept readable by its owner only.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from dataclasses import dataclass

from onewindow.auth import Accounts
from onewindow.config import Config
from onewindow.private import write_private
from onewindow.store import store_path
from warehouse import Warehouse

NO_ADMIN = (
    "no administrator account: create one with `onewindow users add NAME --role administrator` "
    "(it prints a one-time password), then start the server again"
)


class ServeRefused(Exception):
    """The server must not start; the message says why and what to do."""


@dataclass(frozen=True)
class Plan:
    mode: str  # "demo" or "accounts"
    address: str
    cookie_secret: str
    options: list[str]  # Streamlit command-line options


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(address, None)
            )
        except OSError:
            return False


def is_demo_warehouse(wh: Warehouse) -> bool:
    """Made by `onewindow demo`: a demo run, and no run of real exports (load, inbox, upload)."""
    if not wh.exists():
        return False
    with wh.read() as con:
        jobs = {r[0] for r in con.execute("SELECT DISTINCT job FROM etl_runs").fetchall()}
    return "demo" in jobs and not jobs & {"load", "inbox", "upload"}


def plan(config: Config, wh: Warehouse, address: str | None, demo: bool | None) -> Plan:
    """Decides the mode; raises ServeRefused with the reason. `demo`: True asks for demo mode,
    False refuses it, None takes it when the warehouse is a demo's and no administrator
    exists yet."""
    address = address or config.security.address
    accounts = Accounts(store_path(wh.home), config.security)
    has_admin = accounts.has_administrator()
    demo_wh = is_demo_warehouse(wh)
    wants_demo = demo if demo is not None else (demo_wh and not has_admin)
    if wants_demo:
        if not demo_wh:
            raise ServeRefused(
                f"demo mode is only for a warehouse made by `onewindow demo`; {wh.path} holds "
                "real exports. " + NO_ADMIN.capitalize()
            )
        if not is_loopback(address):
            raise ServeRefused(
                f"demo mode signs everybody in without a password, so it only listens on a "
                f"loopback address (127.0.0.1), not {address}. To serve others, create an "
                "administrator account (`onewindow users add NAME --role administrator`)"
            )
        mode = "demo"
    elif not has_admin:
        raise ServeRefused(NO_ADMIN)
    else:
        mode = "accounts"
    options = [
        "--server.address", address,
        "--server.headless", "true",
        "--server.enableXsrfProtection", "true",
        "--server.enableCORS", "true",
        "--server.maxUploadSize", str(config.security.upload_max_mb),
        "--client.showErrorDetails", "none",
        "--client.toolbarMode", "minimal",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
    ]  # fmt: skip
    return Plan(mode, address, cookie_secret(wh), options)


def cookie_secret(wh: Warehouse) -> str:
    """Generated once, kept owner-only beside the security store (it signs Streamlit's XSRF
    token and st.login's cookie). Handed to the server in its environment, never on its
    command line (which every user of the machine can read)."""
    path = wh.home / "cookie_secret"
    if not path.exists():
        write_private(path, secrets.token_hex(32).encode())
    return path.read_text().strip()
