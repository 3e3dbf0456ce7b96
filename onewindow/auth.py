"""Local accounts, logins and sessions (等保 2.0 level 3, identification and authentication).

Passwords are stored only as Argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended setting); a new or reset account must change its password at first login; a run
of `security.max_failures` wrong passwords locks the account for `security.lockout_minutes`; a
session ends after `security.idle_minutes` without a request, at logout, or when the account is
disabled. Every step is written to the audit trail. The `onewindow users` commands and the
dashboard's login page are thin shells over these functions."""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import sqlite3
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from onewindow.audit import AuditTrail
from onewindow.config import Security
from onewindow.roles import Principal, check_roles
from onewindow.store import connect

_HASHER = PasswordHasher()  # Argon2id


@functools.cache
def _dummy() -> str:
    """A hash verified against when the user does not exist, so the answer takes as long
    either way. Made when accounts are first opened, not at import: an Argon2 hash costs
    0.2 s, which every command (a load too) would pay."""
    return _HASHER.hash(secrets.token_hex(16))


REFUSED = "wrong user name or password"
SESSION_COOKIE = "ow_session"  # a local session's token (HttpOnly: onewindow/server.py)
SSO_COOKIE = "_streamlit_user"  # st.login's signed cookie; its hash keys a single sign-on session


class AuthError(Exception):
    """A refused request; the message is one sentence a user may read."""


class PolicyError(AuthError):
    pass


@dataclass(frozen=True)
class Account:
    username: str
    display_name: str
    roles: tuple[str, ...]
    departments: tuple[str, ...]
    windows: tuple[str, ...]
    disabled: bool
    must_change: bool
    locked_until: float | None
    source: str

    def principal(self) -> Principal:
        return Principal(
            self.username,
            frozenset(self.roles),
            frozenset(self.departments),
            frozenset(self.windows),
        )


@dataclass(frozen=True)
class Login:
    token: str  # goes into the HttpOnly cookie (the store keeps its hash); "" until changed
    principal: Principal
    must_change: bool


def check_policy(password: str, policy: Security) -> None:
    classes = sum(
        any(c in group for c in password)
        for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    ) + any(not c.isalnum() for c in password)
    if len(password) < policy.password_min_length or classes < policy.password_classes:
        raise PolicyError(
            f"a password needs at least {policy.password_min_length} characters and "
            f"{policy.password_classes} of: lower case, upper case, digits, symbols"
        )


def temporary_password(policy: Security) -> str:
    """A random password that meets the policy (all four classes), shown once."""
    alphabet = string.ascii_letters + string.digits + "-_.!"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(max(16, policy.password_min_length)))
        try:
            check_policy(pw, Security(password_classes=4))
            return pw
        except PolicyError:
            continue


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, store: Path, policy: Security) -> None:
        self.store = store
        self.policy = policy
        self.audit = AuditTrail(store)
        _dummy()  # before any login: the first unknown user's answer takes no longer

    # -- administration (each audited as the acting user) ---------------------------------

    def add(
        self,
        actor: str,
        username: str,
        roles: Sequence[str],
        departments: Sequence[str] = (),
        windows: Sequence[str] = (),
        display_name: str = "",
        source: str = "local",
    ) -> str:
        """Creates the account; returns its temporary password (to change at first login)."""
        check_roles(roles)
        username = username.strip()
        if not username or any(c.isspace() for c in username):
            raise AuthError("a user name must be one word")
        password = temporary_password(self.policy)
        with connect(self.store) as con:
            if con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
                raise AuthError(f"user {username} already exists")
            con.execute(
                "INSERT INTO users (username, display_name, password_hash, departments, windows,"
                " source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    username,
                    display_name,
                    _HASHER.hash(password),
                    json.dumps(list(departments)),
                    json.dumps(list(windows)),
                    source,
                    time.time(),
                ],
            )
            con.executemany(
                "INSERT INTO user_roles VALUES (?, ?)", [(username, r) for r in sorted(roles)]
            )
        self.audit.record(
            actor,
            "user.add",
            username,
            roles=sorted(roles),
            departments=list(departments),
            windows=list(windows),
        )
        return password

    def all(self) -> list[Account]:
        with connect(self.store) as con:
            rows = con.execute(
                "SELECT username, display_name, departments, windows, disabled, must_change,"
                " locked_until, source FROM users ORDER BY username"
            ).fetchall()
            roles: dict[str, list[str]] = {}
            for user, role in con.execute("SELECT username, role FROM user_roles ORDER BY role"):
                roles.setdefault(user, []).append(role)
        return [
            Account(
                r[0],
                r[1],
                tuple(roles.get(r[0], [])),
                tuple(json.loads(r[2])),
                tuple(json.loads(r[3])),
                bool(r[4]),
                bool(r[5]),
                r[6],
                r[7],
            )
            for r in rows
        ]

    def get(self, username: str) -> Account:
        for account in self.all():
            if account.username == username:
                return account
        raise AuthError(f"no user {username}")

    def set_disabled(self, actor: str, username: str, disabled: bool) -> None:
        self.get(username)
        with connect(self.store) as con:
            con.execute(
                "UPDATE users SET disabled = ?, failures = 0, locked_until = NULL"
                " WHERE username = ?",
                [int(disabled), username],
            )
            if disabled:
                self._end_user_sessions(con, username, "disabled")
        self.audit.record(actor, "user.disable" if disabled else "user.enable", username)

    def reset_password(self, actor: str, username: str) -> str:
        self.get(username)
        password = temporary_password(self.policy)
        with connect(self.store) as con:
            con.execute(
                "UPDATE users SET password_hash = ?, must_change = 1, failures = 0,"
                " locked_until = NULL WHERE username = ?",
                [_HASHER.hash(password), username],
            )
            self._end_user_sessions(con, username, "password reset")
        self.audit.record(actor, "user.reset_password", username)
        return password

    def set_roles(
        self,
        actor: str,
        username: str,
        roles: Sequence[str],
        departments: list[str] | None = None,
        windows: list[str] | None = None,
    ) -> None:
        """Replaces the user's roles (and, when given, departments and windows). The user's
        open sessions end: the next request signs in with the new rights."""
        check_roles(roles)
        before = self.get(username)
        deps = list(before.departments) if departments is None else departments
        wins = list(before.windows) if windows is None else windows
        with connect(self.store) as con:
            con.execute("DELETE FROM user_roles WHERE username = ?", [username])
            con.executemany(
                "INSERT INTO user_roles VALUES (?, ?)", [(username, r) for r in sorted(roles)]
            )
            con.execute(
                "UPDATE users SET departments = ?, windows = ? WHERE username = ?",
                [json.dumps(deps), json.dumps(wins), username],
            )
            self._end_user_sessions(con, username, "roles changed")
        self.audit.record(
            actor,
            "user.set_role",
            username,
            before=sorted(before.roles),
            roles=sorted(roles),
            departments=deps,
            windows=wins,
        )

    def has_administrator(self) -> bool:
        return any(
            "administrator" in a.roles and not a.disabled and a.source == "local"
            for a in self.all()
        )

    # -- login, sessions ------------------------------------------------------------------

    def login(self, username: str, password: str, now: float | None = None) -> Login:
        """Checks the password; raises AuthError with one sentence when refused."""
        now = time.time() if now is None else now
        username = username.strip()
        with connect(self.store) as con:
            row = con.execute(
                "SELECT password_hash, disabled, failures, locked_until, must_change FROM users"
                " WHERE username = ? AND source = 'local'",
                [username],
            ).fetchone()
            if row is None:
                _verify(_dummy(), password)
                refusal = ("login.failed", "unknown user", REFUSED)
            elif row[3] is not None and row[3] > now:
                refusal = ("login.failed", "locked", _locked_message(row[3], now))
            elif not _verify(row[0], password):
                failures = int(row[2]) + 1
                locks = failures >= self.policy.max_failures
                until = now + self.policy.lockout_minutes * 60 if locks else None
                con.execute(
                    "UPDATE users SET failures = ?, locked_until = ? WHERE username = ?",
                    [0 if locks else failures, until, username],
                )
                refusal = (
                    ("login.locked", f"failure {failures}", _locked_message(until, now))
                    if until
                    else ("login.failed", f"wrong password (failure {failures})", REFUSED)
                )
            elif row[1]:
                refusal = ("login.failed", "disabled", "this account is disabled")
            else:
                refusal = None
                con.execute(
                    "UPDATE users SET failures = 0, locked_until = NULL WHERE username = ?",
                    [username],
                )
        if refusal is not None:
            event, reason, message = refusal
            self.audit.record(username or "?", event, username, "refused", reason=reason)
            raise AuthError(message)
        account = self.get(username)
        must_change = bool(row[4])
        # A one-time password opens no session: only the change of password does.
        token = "" if must_change else self.start_session(account.principal(), now)
        self.audit.record(username, "login", username, must_change=must_change)
        return Login(token, account.principal(), must_change)

    def change_password(self, username: str, old: str, new: str) -> None:
        with connect(self.store) as con:
            row = con.execute(
                "SELECT password_hash FROM users WHERE username = ?", [username]
            ).fetchone()
        if row is None or not _verify(row[0], old):
            self.audit.record(username, "password.change", username, "refused")
            raise AuthError("the current password is wrong")
        if new == old:
            raise PolicyError("the new password must differ from the current one")
        check_policy(new, self.policy)
        with connect(self.store) as con:
            con.execute(
                "UPDATE users SET password_hash = ?, must_change = 0 WHERE username = ?",
                [_HASHER.hash(new), username],
            )
            self._end_user_sessions(con, username, "password changed")  # sign in anew
        self.audit.record(username, "password.change", username)

    def must_change(self, username: str) -> bool:
        return self.get(username).must_change

    def start_session(self, principal: Principal, now: float | None = None) -> str:
        token = secrets.token_urlsafe(32)
        self._insert_session(token, principal, time.time() if now is None else now)
        return token

    def _insert_session(self, token: str, principal: Principal, now: float) -> bool:
        """Stores a session under the token's hash; False when one is stored already."""
        with connect(self.store) as con:
            added = con.execute(
                "INSERT OR IGNORE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                [
                    _token_hash(token),
                    principal.username,
                    json.dumps(sorted(principal.roles)),
                    json.dumps(sorted(principal.departments)),
                    json.dumps(sorted(principal.windows)),
                    now,
                    now,
                ],
            ).rowcount
        return added == 1

    def sso_session(
        self, cookie: str, principal: Principal, now: float | None = None
    ) -> Principal | None:
        """A single sign-on session, keyed on st.login's signed cookie (the store keeps only its
        hash). The first run after the identity platform signed the user in starts it (the
        login, audited once); from then on it ends as a local session does: after
        `security.idle_minutes` without a request (audited), at logout, when it is cut off.
        None once it ended: the same cookie opens nothing again."""
        now = time.time() if now is None else now
        if self._insert_session(cookie, principal, now):
            self.audit.record(
                principal.username,
                "login",
                principal.username,
                via="oidc",
                roles=sorted(principal.roles),
                departments=sorted(principal.departments),
            )
            return principal
        return self.session(cookie, now)

    def sso_live(self, cookie: str, now: float | None = None) -> bool:
        """Whether a request bearing st.login's cookie may pass the server's gate: yes before
        its first run starts the session (the app then checks the ID token's claims), yes
        while the session lives (touching its idle clock), no once it ended."""
        with connect(self.store) as con:
            known = con.execute(
                "SELECT 1 FROM sessions WHERE token_hash = ?", [_token_hash(cookie)]
            ).fetchone()
        return known is None or self.session(cookie, now) is not None

    def session(self, token: str | None, now: float | None = None) -> Principal | None:
        """The session's principal, touching its idle clock; None when there is none, or it
        ended (logout, timeout, a disabled account). A timeout is audited once."""
        if not token:
            return None
        now = time.time() if now is None else now
        timed_out = None
        with connect(self.store) as con:
            row = con.execute(
                "SELECT username, roles, departments, windows, last_seen, ended_at FROM sessions"
                " WHERE token_hash = ?",
                [_token_hash(token)],
            ).fetchone()
            if row is None or row[5] is not None:
                return None
            if now - row[4] > self.policy.idle_minutes * 60:
                con.execute(
                    "UPDATE sessions SET ended_at = ?, end_reason = 'timeout' WHERE token_hash = ?",
                    [now, _token_hash(token)],
                )
                timed_out = row[0]
            else:
                con.execute(
                    "UPDATE sessions SET last_seen = ? WHERE token_hash = ?",
                    [now, _token_hash(token)],
                )
        if timed_out is not None:
            self.audit.record(timed_out, "session.timeout", timed_out, "ok")
            return None
        return Principal(
            row[0],
            frozenset(json.loads(row[1])),
            frozenset(json.loads(row[2])),
            frozenset(json.loads(row[3])),
        )

    def logout(self, token: str) -> str | None:
        """Ends every session of the token's user (every tab and browser); returns the user."""
        with connect(self.store) as con:
            row = con.execute(
                "SELECT username FROM sessions WHERE token_hash = ? AND ended_at IS NULL",
                [_token_hash(token)],
            ).fetchone()
            if row is None:
                return None
            self._end_user_sessions(con, row[0], "logout")
        self.audit.record(row[0], "logout", row[0])
        return str(row[0])

    @staticmethod
    def _end_user_sessions(con: sqlite3.Connection, username: str, reason: str) -> None:
        con.execute(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE username = ?"
            " AND ended_at IS NULL",
            [time.time(), reason, username],
        )


def _verify(hashed: str | None, password: str) -> bool:
    try:
        return bool(hashed) and _HASHER.verify(hashed or "", password)
    except (VerificationError, InvalidHashError):
        return False


def _locked_message(until: float | None, now: float) -> str:
    minutes = max(1, round(((until or now) - now) / 60))
    return f"this account is locked after too many failed logins; try again in {minutes} min"
