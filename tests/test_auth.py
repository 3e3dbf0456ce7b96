"""Local accounts: Argon2id hashes, the password policy, a forced change at first login,
lockout after N failures, idle timeout, logout everywhere; roles and scopes; the `onewindow
users` commands (exit codes and texts). Each step lands in the audit trail."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from metrics.filters import NOTHING, Filters, Scope
from onewindow.audit import AuditTrail
from onewindow.auth import REFUSED, Accounts, AuthError, PolicyError, check_policy
from onewindow.config import Security
from onewindow.roles import ROLES, Perm, Principal
from onewindow.store import store_path
from tests.conftest import run_cli

POLICY = Security(max_failures=5, lockout_minutes=10, idle_minutes=30)
GOOD = "Service-Center-2026"


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    return Accounts(tmp_path / "security.sqlite", POLICY)


def _events(accounts: Accounts) -> list[tuple[str, str, str, str]]:
    return [(r.actor, r.event, r.target, r.result) for r in accounts.audit.records()]


def test_passwords_are_stored_as_argon2id_only(accounts: Accounts) -> None:
    password = accounts.add("root", "li", ["director"])
    raw = accounts.store.read_bytes()
    assert password.encode() not in raw
    assert b"$argon2id$" in raw
    assert stat.S_IMODE(accounts.store.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "password", ["short1A!", "alllowercaseletters", "ALLUPPER12345678", "1234567890123456"]
)
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(PolicyError, match="at least 12 characters and 3 of"):
        check_policy(password, POLICY)


def test_first_login_must_change_the_password(accounts: Accounts) -> None:
    first = accounts.add("root", "li", ["director"])
    login = accounts.login("li", first)
    assert login.must_change
    with pytest.raises(PolicyError):
        accounts.change_password("li", first, "weak")
    with pytest.raises(AuthError, match="current password is wrong"):
        accounts.change_password("li", "not it", GOOD)
    accounts.change_password("li", first, GOOD)
    assert not accounts.login("li", GOOD).must_change
    with pytest.raises(AuthError, match=REFUSED):
        accounts.login("li", first)


def test_the_fifth_failure_locks_the_account_for_the_configured_time(accounts: Accounts) -> None:
    password = accounts.add("root", "li", ["director"])
    now = time.time()
    for _ in range(4):
        with pytest.raises(AuthError, match=REFUSED):
            accounts.login("li", "wrong", now)
    with pytest.raises(AuthError, match=r"locked .* try again in 10 min"):
        accounts.login("li", "wrong", now)
    with pytest.raises(AuthError, match="locked"):  # even the right password, meanwhile
        accounts.login("li", password, now + 9 * 60)
    assert accounts.login("li", password, now + 11 * 60).principal.username == "li"
    events = [e[1] for e in _events(accounts)]
    assert events == ["user.add"] + ["login.failed"] * 4 + ["login.locked", "login.failed", "login"]


def test_an_unknown_user_gets_the_same_answer_and_is_audited(accounts: Accounts) -> None:
    with pytest.raises(AuthError, match=f"^{REFUSED}$"):
        accounts.login("nobody", "whatever")
    assert _events(accounts) == [("nobody", "login.failed", "nobody", "refused")]


def test_idle_sessions_end_and_logout_ends_every_session(accounts: Accounts) -> None:
    first = accounts.add("root", "li", ["director"])
    assert accounts.login("li", first).token == ""  # a one-time password opens no session
    accounts.change_password("li", first, GOOD)
    now = time.time()
    tab1 = accounts.login("li", GOOD, now).token
    tab2 = accounts.start_session(Principal("li", frozenset({"director"})), now)
    assert accounts.session(tab1, now + 29 * 60) is not None  # touched: the idle clock restarts
    assert accounts.session(tab1, now + 58 * 60) is not None
    assert accounts.session(tab2, now + 31 * 60) is None  # idle for 31 minutes
    assert accounts.logout(tab1) == "li"
    assert accounts.session(tab1, now + 59 * 60) is None
    assert [e[1] for e in _events(accounts)][-2:] == ["session.timeout", "logout"]
    # Logout ends every session of the user, in every tab and browser.
    a = accounts.start_session(Principal("li", frozenset({"director"})))
    b = accounts.start_session(Principal("li", frozenset({"director"})))
    accounts.logout(a)
    assert accounts.session(b) is None


def test_single_sign_on_sessions_end_after_the_same_idle_time(accounts: Accounts) -> None:
    """A session of st.login (keyed on its signed cookie) is kept like a local one: its first
    run starts it and audits the login once, a request touches its idle clock, 30 idle
    minutes end it (audited), and the same cookie opens nothing again, at the gate either."""
    li = Principal("sso:li", frozenset({"supervisor"}), frozenset({"市场监管局"}))
    cookie = "signed-cookie-value-of-st-login"
    now = time.time()
    assert accounts.sso_live(cookie, now)  # before its first run: the app checks the claims
    assert accounts.sso_session(cookie, li, now) == li
    assert accounts.sso_session(cookie, li, now + 10) == li  # a second tab: the same session
    assert accounts.sso_live(cookie, now + 29 * 60)  # touched
    assert accounts.sso_session(cookie, li, now + 58 * 60) == li
    assert not accounts.sso_live(cookie, now + 89 * 60)  # idle for 31 minutes
    assert accounts.sso_session(cookie, li, now + 90 * 60) is None
    assert not accounts.sso_live(cookie, now + 90 * 60)
    logins = [e for e in _events(accounts) if e[0] == "sso:li"]
    assert [e[1] for e in logins] == ["login", "session.timeout"]
    # A new sign-in brings a new cookie: a new session; logout ends it.
    again = accounts.sso_session("a-new-signed-cookie", li)
    assert again == li and accounts.logout("a-new-signed-cookie") == "sso:li"
    assert accounts.sso_session("a-new-signed-cookie", li) is None


def test_disabling_ends_sessions_and_refuses_login(accounts: Accounts) -> None:
    first = accounts.add("root", "li", ["director"])
    accounts.change_password("li", first, GOOD)
    password = GOOD
    token = accounts.login("li", password).token
    accounts.set_disabled("root", "li", True)
    assert accounts.session(token) is None
    with pytest.raises(AuthError, match="disabled"):
        accounts.login("li", password)
    accounts.set_disabled("root", "li", False)
    assert accounts.login("li", password)


def test_roles_are_a_table_of_permissions_with_separate_duties() -> None:
    assert ROLES["administrator"].perms == {Perm.USERS}
    assert ROLES["auditor"].perms == {Perm.AUDIT}
    business = {Perm.FIGURES, Perm.APPLICATIONS, Perm.REFORMS, Perm.DATA_HEALTH, Perm.UPLOAD}
    assert not ROLES["administrator"].perms & business
    assert not ROLES["auditor"].perms & (business | {Perm.USERS})
    assert Perm.UPLOAD not in ROLES["director"].perms
    assert Perm.REFORMS_EDIT not in ROLES["director"].perms
    both = Principal("x", frozenset({"data_steward", "reform_officer"}))
    assert both.can(Perm.UPLOAD) and both.can(Perm.REFORMS_EDIT) and not both.can(Perm.USERS)


def test_a_supervisor_scope_narrows_every_filter_and_never_widens() -> None:
    sup = Principal("s", frozenset({"supervisor"}), frozenset({"D1", "D2"}))
    scope = sup.scope
    assert Filters().within(scope).departments == ("D1", "D2")
    assert Filters(departments=("D2",)).within(scope).departments == ("D2",)
    assert Filters(departments=("D2", "D9")).within(scope).departments == ("D2",)
    assert Filters(departments=("D9",)).within(scope).departments == (NOTHING,)
    by_window = Principal("w", frozenset({"supervisor"}), windows=frozenset({"W3"})).scope
    assert by_window == Scope(departments=None, windows=frozenset({"W3"}))
    assert Filters(windows=("W1",)).within(by_window).windows == (NOTHING,)
    assert Principal("n", frozenset({"supervisor"})).scope.departments == frozenset()
    # A center-wide role beside it lifts the limit; roles without figures do not.
    assert not Principal("d", frozenset({"supervisor", "director"})).scope.limited
    assert Principal(
        "e", frozenset({"supervisor", "data_steward"}), frozenset({"D1"})
    ).scope.departments == {"D1"}
    unscoped = Filters(departments=("D9",))
    assert unscoped.within(Scope()) == unscoped


def test_users_commands(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    added = run_cli(
        "users",
        "add",
        "li",
        "--role",
        "supervisor",
        "--department",
        "市场监管局",
        "--name",
        "李四",
        "--db",
        db,
    )
    assert added.code == 0, added.err
    assert added.out.startswith("added li; one-time password (must be changed at first login): ")
    password = added.out.rsplit(": ", 1)[1].strip()
    listed = run_cli("users", "list", "--db", db)
    assert listed.code == 0
    assert "li    李四  supervisor  市场监管局" in listed.out and "to change" in listed.out
    assert run_cli("users", "add", "li", "--role", "director", "--db", db).err == (
        "onewindow: user li already exists\n"
    )
    bad = run_cli("users", "set-role", "li", "--role", "boss", "--db", db)
    assert bad.code == 1 and "unknown role boss; roles are director" in bad.err
    assert run_cli("users", "set-role", "li", "--role", "director", "--db", db).out == (
        "li: roles director\n"
    )
    assert run_cli("users", "disable", "li", "--db", db).out == "li: disabled\n"
    accounts = Accounts(store_path(Path(str(db) + ".d")), Security())
    with pytest.raises(AuthError, match="disabled"):
        accounts.login("li", password)
    assert run_cli("users", "enable", "li", "--db", db).out == "li: enabled\n"
    reset = run_cli("users", "reset-password", "li", "--db", db)
    assert reset.code == 0 and "one-time password" in reset.out
    assert run_cli("users", "disable", "nobody", "--db", db).err == "onewindow: no user nobody\n"
    assert run_cli("users", "add", "x", "--db", db).code == 2  # --role is required
    trail = AuditTrail(store_path(Path(str(db) + ".d")))
    events = [(r.event, r.target) for r in trail.records()]
    assert events == [
        ("user.add", "li"),
        ("user.set_role", "li"),
        ("user.disable", "li"),
        ("login.failed", "li"),
        ("user.enable", "li"),
        ("user.reset_password", "li"),
    ]
    assert all(r.actor.startswith("cli:") for r in trail.records() if r.event != "login.failed")
