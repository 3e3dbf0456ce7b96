"""Alerts reach the supervisor who can act, once: a real SMTP server (aiosmtpd) and a real HTTP
receiver on loopback, started and stopped by these tests."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from etl.profile import Profile
from etl.run import load_files
from metrics.calendar import WorkCalendar
from onewindow import alerts
from onewindow.auth import Accounts
from onewindow.config import Config
from onewindow.store import store_path
from tests.conftest import demo_app
from tests.fixtures import APPLICATION_HEADER, MATTER_HEADER, STEP_HEADER, write_csv
from warehouse import Warehouse

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 3, 10, 10, 0, tzinfo=SHANGHAI)  # a Monday
PERSONAL = ("张伟", "440101199001011234", "13800138000")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----- a real SMTP server ---------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.mails.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


# ----- a real HTTP receiver -------------------------------------------------------------------


class Receiver:
    """Answers each POST with the next planned status (200 once the plan is used up), or never
    (`hang`); keeps what it was sent."""

    def __init__(self, plan: list[int] | None = None, hang: bool = False, secret: str = "") -> None:
        self.plan, self.hang, self.secret = list(plan or []), hang, secret
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.signed: list[bool] = []
        self.attempts = 0


@contextlib.contextmanager
def receiver(r: Receiver) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            r.attempts += 1
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if r.hang:
                time.sleep(2)
                return
            status = r.plan.pop(0) if r.plan else 200
            if status == 200:
                r.posts.append((self.path, body))
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                if "sign" in query:  # DingTalk: check the signature as DingTalk does
                    stamp = query["timestamp"]
                    expected = base64.b64encode(
                        hmac.new(
                            r.secret.encode(), f"{stamp}\n{r.secret}".encode(), hashlib.sha256
                        ).digest()
                    ).decode()
                    r.signed.append(hmac.compare_digest(query["sign"], expected))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errcode": 0, "errmsg": "ok"}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ----- a center with two departments ----------------------------------------------------------


def _config(**alerts_section: Any) -> Config:
    section = {"backoff_s": 0.05, "quiet_hours": "20:00-08:00", **alerts_section}
    return Config(alerts=section)


def _load(wh: Warehouse, folder: Path, profile: Profile, apps: list[list[str]], name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    matters = [
        ["M-A", "甲事项", "甲局", "20", "3", "承诺件"],
        ["M-B", "乙事项", "乙局", "20", "3", "承诺件"],
    ]
    steps = [[a[0], "受理", a[4], a[4], a[1][-1] + "局", "3号窗口", "staff-07"] for a in apps]
    files = [
        write_csv(folder / f"matters_{name}.csv", MATTER_HEADER, matters),
        write_csv(folder / f"applications_{name}.csv", APPLICATION_HEADER, apps),
        write_csv(folder / f"steps_{name}.csv", STEP_HEADER, steps),
    ]
    result = load_files(
        wh,
        [(f, profile) for f in files],
        secret=b"test-secret",
        calendar=WorkCalendar.from_config(Config()),
    )
    assert result.status == "ok", result


def _app(app_id: str, matter: str, accepted: str) -> list[str]:
    return [app_id, matter, "窗口", accepted, accepted, "", "1", *PERSONAL]


@pytest.fixture
def center(tmp_path: Path, center_profile: Profile) -> Warehouse:
    """B1 of 乙局 is not due yet; A1–A3 of 甲局 are loaded later by the test."""
    wh = Warehouse(tmp_path / "wh" / "w.duckdb")
    _load(wh, tmp_path / "in", center_profile, [_app("B1", "M-B", "2025-03-07 09:30:00")], "1")
    accounts = Accounts(store_path(wh.home), Config().security)
    accounts.add("admin", "sup_a", ["supervisor"], departments=["甲局"])
    accounts.add("admin", "sup_b", ["supervisor"], departments=["乙局"])
    accounts.add("admin", "steward", ["data_steward"])
    return wh


def _three_red(wh: Warehouse, tmp_path: Path, profile: Profile) -> None:
    """Accepted on Mon 3 March with a 3-working-day limit: due Thu 6 March, red on the 10th."""
    apps = [_app(f"A{i}", "M-A", "2025-03-03 09:30:00") for i in (1, 2, 3)]
    _load(wh, tmp_path / "in", profile, apps, "2")


def _subject(mail: Any) -> str:
    return str(make_header(decode_header(mail["Subject"])))


def test_a_load_that_turns_three_red_alerts_their_supervisor_once(
    center: Warehouse, tmp_path: Path, center_profile: Profile, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    config = _config(
        smtp={"host": "127.0.0.1", "port": port, "security": "none", "sender": "ow@center.gov"},
        subscriptions=[
            {"user": "sup_a", "email": "a@center.gov"},
            {"user": "sup_b", "email": "b@center.gov"},
            {"user": "steward", "email": "s@center.gov"},  # may not see applications
        ],
    )
    assert alerts.run_new_cards(center, config, now=NOW).sent == []  # nothing red yet
    _three_red(center, tmp_path, center_profile)
    outcome = alerts.run_new_cards(center, config, now=NOW)
    assert outcome.sent == [("sup_a", "email:a@center.gov", 3)] and outcome.failed == []
    assert [to for to, _ in inbox.mails] == [["a@center.gov"]]
    mail = inbox.mails[0][1]
    assert _subject(mail) == "【一窗通·电子监察】新增红牌 3 件"
    text = mail.get_body(("plain",)).get_content()
    for number in ("A1", "A2", "A3"):
        assert f"办件 {number}" in text and f"/application?app={number}" in text
    assert "甲事项" in text and "3号窗口" in text and "staff-07" in text
    # Due Thu 17:30 local; overdue by Friday's 7 working hours and Monday's 09:00–10:00: 8/7.
    assert "2025-03-06 17:30" in text and "已超期 1.1 个工作日" in text
    html_part = mail.get_body(("html",)).get_content()
    for personal in PERSONAL:
        assert personal not in text and personal not in html_part
    # Again, and after a restart (a new process reads the same store): nothing more.
    assert alerts.run_new_cards(center, config, now=NOW).sent == []
    assert len(inbox.mails) == 1


def test_a_card_that_turns_red_after_yellow_alerts_again(
    center: Warehouse, tmp_path: Path, center_profile: Profile, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    config = _config(
        smtp={"host": "127.0.0.1", "port": port, "security": "none"},
        subscriptions=[{"user": "sup_a", "email": "a@center.gov", "lang": "en"}],
    )
    _three_red(center, tmp_path, center_profile)
    yellow = datetime(2025, 3, 6, 10, 0, tzinfo=SHANGHAI)  # 0.5 + 7 h … due at 17:30
    assert alerts.run_new_cards(center, config, now=yellow).sent == [
        ("sup_a", "email:a@center.gov", 3)
    ]
    assert alerts.run_new_cards(center, config, now=yellow).sent == []
    assert alerts.run_new_cards(center, config, now=NOW).sent == [
        ("sup_a", "email:a@center.gov", 3)
    ]
    assert [_subject(m) for _, m in inbox.mails] == [
        "[OneWindow] New cards: 3 yellow",
        "[OneWindow] New cards: 3 red",
    ]


def test_dingtalk_robot_gets_a_signed_text_message(
    center: Warehouse, tmp_path: Path, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OW_DING_SECRET", "SECabc123")
    r = Receiver(secret="SECabc123")
    _three_red(center, tmp_path, center_profile)
    with receiver(r) as base:
        config = _config(
            webhooks=[
                {
                    "name": "甲局群",
                    "kind": "dingtalk",
                    "url": f"{base}/robot/send?access_token=tok",
                    "secret_env": "OW_DING_SECRET",
                }
            ],
            subscriptions=[{"user": "sup_a", "webhook": "甲局群"}],
        )
        outcome = alerts.run_new_cards(center, config, now=NOW)
    assert outcome.failed == [] and r.signed == [True]
    path, body = r.posts[0]
    assert path.startswith("/robot/send?access_token=tok&timestamp=")
    assert body["msgtype"] == "text" and "A1" in body["text"]["content"]


@pytest.mark.parametrize("kind", ["wecom", "feishu", "json"])
def test_other_robots_get_their_formats(
    center: Warehouse,
    tmp_path: Path,
    center_profile: Profile,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OW_FS_SECRET", "fs-secret")
    r = Receiver()
    _three_red(center, tmp_path, center_profile)
    with receiver(r) as base:
        hook: dict[str, object] = {"name": "群", "kind": kind, "url": f"{base}/hook"}
        if kind == "feishu":
            hook["secret_env"] = "OW_FS_SECRET"
        config = _config(webhooks=[hook], subscriptions=[{"user": "sup_a", "webhook": "群"}])
        assert alerts.run_new_cards(center, config, now=NOW).failed == []
    body = r.posts[0][1]
    if kind == "wecom":
        assert body["msgtype"] == "text" and "A3" in body["text"]["content"]
    elif kind == "feishu":
        stamp = int(body["timestamp"])
        digest = hmac.new(f"{stamp}\nfs-secret".encode(), b"", hashlib.sha256).digest()
        assert body["sign"] == base64.b64encode(digest).decode()
        assert body["msg_type"] == "text" and "A2" in body["content"]["text"]
    else:
        assert body["kind"] == "card" and [a["application_id"] for a in body["applications"]] == [
            "A1",
            "A2",
            "A3",
        ]
        assert body["applications"][0]["due_at"] == "2025-03-06 17:30"


def test_a_receiver_failing_twice_gets_the_alert_once(
    center: Warehouse, tmp_path: Path, center_profile: Profile
) -> None:
    r = Receiver(plan=[500, 500])
    _three_red(center, tmp_path, center_profile)
    with receiver(r) as base:
        config = _config(
            attempts=3,
            webhooks=[{"name": "群", "kind": "wecom", "url": f"{base}/send?key=k"}],
            subscriptions=[{"user": "sup_a", "webhook": "群"}],
        )
        outcome = alerts.run_new_cards(center, config, now=NOW)
        assert alerts.run_new_cards(center, config, now=NOW).sent == []
    assert outcome.sent == [("sup_a", "webhook:群", 3)] and outcome.failed == []
    assert r.attempts == 3 and len(r.posts) == 1
    assert alerts.failures(center).is_empty()


def test_a_receiver_that_never_answers_leaves_a_recorded_failure(
    center: Warehouse, tmp_path: Path, center_profile: Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Receiver(hang=True)
    _three_red(center, tmp_path, center_profile)
    with receiver(r) as base:
        config = _config(
            attempts=2,
            webhooks=[
                {"name": "群", "kind": "wecom", "url": f"{base}/send?key=k", "timeout_s": 0.3}
            ],
            subscriptions=[{"user": "sup_a", "webhook": "群"}],
        )
        outcome = alerts.run_new_cards(center, config, now=NOW)
    assert outcome.sent == [] and outcome.failed[0][:2] == ("sup_a", "webhook:群")
    assert "no answer (timed out)" in outcome.failed[0][2] and "key=k" not in outcome.failed[0][2]
    failures = alerts.failures(center)
    assert failures.select("username", "channel", "applications", "attempts").rows() == [
        ("sup_a", "webhook:群", 3, 2)
    ]
    # The Data health page shows it to the data steward.
    at = demo_app(center.path, monkeypatch, "data_steward")
    at.query_params["lang"] = "en"
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    assert "Alerts that could not be delivered" in [h.value for h in at.subheader]
    shown = next(d.value for d in at.dataframe if "Attempts" in d.value.columns)
    assert shown[["User", "Channel", "Attempts"]].values.tolist() == [["sup_a", "webhook:群", 2]]


def test_the_digest_skips_holidays_and_keeps_make_up_saturdays(
    center: Warehouse, tmp_path: Path, center_profile: Profile, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    config = _config(
        smtp={"host": "127.0.0.1", "port": port, "security": "none"},
        subscriptions=[{"user": "sup_a", "email": "a@center.gov", "new_cards": False}],
    )
    _three_red(center, tmp_path, center_profile)
    national_day = datetime(2026, 10, 1, 8, 30, tzinfo=SHANGHAI)
    assert alerts.run_digest(center, config, now=national_day).skipped == "not a working day"
    sunday = datetime(2026, 10, 11, 8, 30, tzinfo=SHANGHAI)
    assert alerts.run_digest(center, config, now=sunday).skipped == "not a working day"
    make_up = datetime(2026, 10, 10, 8, 30, tzinfo=SHANGHAI)  # a Saturday worked for the holiday
    assert alerts.run_digest(center, config, now=make_up).sent == [
        ("sup_a", "email:a@center.gov", 1)
    ]
    assert alerts.run_digest(center, config, now=make_up).sent == []  # once a day
    assert alerts.run_new_cards(center, config, now=make_up).sent == []  # not subscribed
    assert len(inbox.mails) == 1 and "今日在办红牌 3 件" in _subject(inbox.mails[0][1])


def test_quiet_hours_hold_alerts_until_they_end(
    center: Warehouse, tmp_path: Path, center_profile: Profile, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    config = _config(
        smtp={"host": "127.0.0.1", "port": port, "security": "none"},
        subscriptions=[{"user": "sup_a", "email": "a@center.gov"}],
    )
    _three_red(center, tmp_path, center_profile)
    night = datetime(2025, 3, 9, 22, 0, tzinfo=SHANGHAI)
    assert alerts.run_new_cards(center, config, now=night).skipped == "quiet hours"
    assert inbox.mails == []
    assert alerts.run_new_cards(center, config, now=NOW).sent == [
        ("sup_a", "email:a@center.gov", 3)
    ]


def test_overlapping_runs_send_once(
    center: Warehouse, tmp_path: Path, center_profile: Profile, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    config = _config(
        smtp={"host": "127.0.0.1", "port": port, "security": "none"},
        subscriptions=[{"user": "sup_a", "email": "a@center.gov"}],
    )
    _three_red(center, tmp_path, center_profile)
    runs = [
        threading.Thread(target=alerts.run_new_cards, args=(center, config), kwargs={"now": NOW})
        for _ in range(4)
    ]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    assert len(inbox.mails) == 1


def test_the_monthly_report_reaches_the_directors_on_the_first_working_day(
    center: Warehouse, tmp_path: Path, center_profile: Profile, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    Accounts(store_path(center.home), Config().security).add("admin", "chief", ["director"])
    config = _config(
        smtp={"host": "127.0.0.1", "port": port, "security": "none"},
        monthly_folder=str(tmp_path / "reports"),
        subscriptions=[
            {"user": "chief", "email": "chief@center.gov"},
            {"user": "sup_a", "email": "a@center.gov"},  # a supervisor: not sent the report
        ],
    )
    _three_red(center, tmp_path, center_profile)
    # 1 April 2025 is a Tuesday, the month's first working day.
    second = datetime(2025, 4, 2, 7, 30, tzinfo=SHANGHAI)
    assert alerts.run_monthly(center, config, now=second).skipped is not None
    first = datetime(2025, 4, 1, 7, 30, tzinfo=SHANGHAI)
    assert alerts.run_monthly(center, config, now=first).sent == [
        ("chief", "email:chief@center.gov", 1)
    ]
    assert alerts.run_monthly(center, config, now=first).sent == []  # once a month
    assert [to for to, _ in inbox.mails] == [["chief@center.gov"]]
    mail = inbox.mails[0][1]
    assert "2025年3月运行月报" in _subject(mail)
    names = sorted(part.get_filename() for part in mail.iter_attachments())
    assert names == ["政务服务中心_2025-03_全中心.pdf", "政务服务中心_2025-03_全中心.xlsx"]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == names


def test_a_supervisor_sets_their_own_alerts_on_the_dashboard(
    center: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The My alerts page saves the signed-in user's own settings (audited), refuses an
    address that is none, and the next run sends to what was saved."""
    from onewindow.audit import AuditTrail

    at = demo_app(center.path, monkeypatch, "supervisor", "甲局")
    at.query_params["lang"] = "en"
    at.run()
    at.switch_page("pages/alerts.py").run()
    assert not at.exception, at.exception
    at.text_input(key="alerts-email").set_value("not an address")
    at.button(key="alerts-save").click().run()
    assert [e.value for e in at.error] == ["Not saved: check the e-mail address."]
    at.text_input(key="alerts-email").set_value("me@center.gov")
    at.checkbox(key="alerts-digest").uncheck()  # no digest
    at.button(key="alerts-save").click().run()
    assert [s.value for s in at.success] == ["Saved."]
    saved = alerts.settings(center, Config())
    (user,) = saved
    assert saved[user].email == "me@center.gov" and not saved[user].digest
    events = [(r.event, r.result) for r in AuditTrail(store_path(center.home)).records()]
    assert ("alerts.settings", "refused") in events and ("alerts.settings", "ok") in events
