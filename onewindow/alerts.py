"""Electronic supervision alerts (电子监察): a warning reaches the person who can act before the
limit passes.

After every ETL run and at the configured times on the center's working days, each subscribed
user — a director or a supervisor, whose account gives the scope — is told of the applications
of their scope that newly turned yellow or red since their last alert; each morning digest lists
all open cards of their scope. Docs: docs/alerts.md.

Delivery is at most once per recipient, channel, application and card state, across restarts
and overlapping runs: a run first *claims* what it is about to send (a row keyed on exactly
that, in `alerts.sqlite` beside the warehouse), under a file lock that makes overlapping runs
take turns; a claim that already exists is never sent again. A failed delivery is tried
`attempts` times with doubling waits, recorded, shown on the Data health page, and tried again
by later runs for `retry_hours` while its card is still open. Nothing is sent in quiet hours:
what would have been is claimed by the first run after them.

Messages name the application, matter, window, staff member, due time and working days left
or overdue, with a link to the application page; never anything about the applicant."""

from __future__ import annotations

import contextlib
import fcntl
import html
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from metrics import catalog, kpis
from metrics.calendar import WorkCalendar
from metrics.filters import Filters, Scope
from onewindow.auth import Accounts, AuthError
from onewindow.channels import DeliveryError, Message, send_email, send_webhook
from onewindow.config import Config, Subscription, Webhook
from onewindow.roles import Perm
from onewindow.store import connect, store_path
from warehouse import Warehouse

log = logging.getLogger("onewindow.alerts")

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_settings (
    username TEXT PRIMARY KEY,
    email TEXT,
    webhook TEXT,
    new_cards INTEGER NOT NULL,
    digest INTEGER NOT NULL,
    lang TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    username TEXT NOT NULL,
    kind TEXT NOT NULL,            -- 'card' or 'digest'
    subject TEXT NOT NULL,         -- card: application id and card; digest: its day
    channel TEXT NOT NULL,         -- 'email' or 'webhook:NAME'
    application_id TEXT,
    card TEXT,
    claimed_at REAL NOT NULL,
    status TEXT NOT NULL,          -- pending, sent, failed
    attempts INTEGER NOT NULL DEFAULT 0,
    last_try REAL,
    last_error TEXT,
    sent_at REAL,
    PRIMARY KEY (username, kind, subject, channel)
);
"""

Sender = Callable[[str, Message], None]  # (channel, message): raises DeliveryError


def alerts_path(wh: Warehouse) -> Path:
    return wh.home / "alerts.sqlite"


@dataclass(frozen=True)
class Recipient:
    username: str
    scope: Scope
    subscription: Subscription
    roles: frozenset[str] = frozenset()

    @property
    def channels(self) -> list[str]:
        """'email:ADDRESS' and 'webhook:NAME', as deliveries are keyed."""
        sub = self.subscription
        return [f"email:{sub.email}"] * bool(sub.email) + [f"webhook:{sub.webhook}"] * bool(
            sub.webhook
        )


@dataclass
class Outcome:
    sent: list[tuple[str, str, int]] = field(default_factory=list)  # user, channel, cards
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # user, channel, reason
    skipped: str | None = None  # why nothing was sent at all


# ----- settings ---------------------------------------------------------------------------------


def settings(wh: Warehouse, config: Config) -> dict[str, Subscription]:
    """Every user's subscription: the config's, replaced by what users set themselves."""
    found = {s.user: s for s in config.alerts.subscriptions}
    with connect(alerts_path(wh), SCHEMA) as con:
        for user, email, webhook, new_cards, digest, lang in con.execute(
            "SELECT username, email, webhook, new_cards, digest, lang FROM alert_settings"
        ):
            found[user] = Subscription(
                user=user,
                email=email,
                webhook=webhook,
                new_cards=bool(new_cards),
                digest=bool(digest),
                lang=lang,
            )
    return found


def save_settings(wh: Warehouse, config: Config, subscription: Subscription) -> None:
    """A user's own alert settings (the settings page); a webhook must be a configured one."""
    names = {w.name for w in config.alerts.webhooks}
    if subscription.webhook is not None and subscription.webhook not in names:
        raise ValueError(f"no webhook named {subscription.webhook!r} is configured")
    with connect(alerts_path(wh), SCHEMA) as con:
        con.execute(
            "INSERT OR REPLACE INTO alert_settings VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                subscription.user,
                subscription.email,
                subscription.webhook,
                int(subscription.new_cards),
                int(subscription.digest),
                subscription.lang,
                time.time(),
            ],
        )


def recipients(wh: Warehouse, config: Config) -> list[Recipient]:
    """Subscribed users who may see applications, with a contact; scope from their account
    (a disabled or unknown account gets nothing)."""
    accounts = Accounts(store_path(wh.home), config.security)
    found = []
    for user, sub in sorted(settings(wh, config).items()):
        if not (sub.email or sub.webhook):
            continue
        try:
            account = accounts.get(user)
        except AuthError:
            log.warning("alert subscription of %s names no account; skipped", user)
            continue
        principal = account.principal()
        if account.disabled or not principal.can(Perm.APPLICATIONS):
            continue
        found.append(Recipient(user, principal.scope, sub, principal.roles))
    return found


# ----- the jobs -------------------------------------------------------------------------------


def run_new_cards(
    wh: Warehouse, config: Config, now: datetime | None = None, sender: Sender | None = None
) -> Outcome:
    """After an ETL run (and at the digest times): cards that newly turned yellow or red."""
    return _run(wh, config, "card", now, sender)


def run_digest(
    wh: Warehouse, config: Config, now: datetime | None = None, sender: Sender | None = None
) -> Outcome:
    """The morning digest of every open card, on working days only."""
    return _run(wh, config, "digest", now, sender)


def first_working_day(cal: WorkCalendar, day: date) -> bool:
    """Whether `day` is the first working day of its month (the center's calendar)."""
    if not cal.is_working_day(day):
        return False
    days = cal.days(day.replace(day=1), day)
    return int(days["is_working_day"].sum()) == 1


def run_monthly(
    wh: Warehouse, config: Config, now: datetime | None = None, sender: Sender | None = None
) -> Outcome:
    """On the first working day of a month: last month's report of the whole center, written
    into `alerts.monthly_folder` (owner-only) and e-mailed, PDF and workbook attached, to
    every director with an e-mail subscription; once per director and month."""
    from metrics import monthly
    from ui.monthly import file_stem, to_pdf, to_xlsx, write

    cal = WorkCalendar.from_config(config)
    zone = ZoneInfo(cal.zone)
    now = (now or datetime.now(zone)).astimezone(zone)
    if not first_working_day(cal, now.date()):
        return Outcome(skipped="not the month's first working day")
    if not wh.exists():
        return Outcome(skipped="no warehouse")
    last_month = (now.date().replace(day=1) - timedelta(days=1)).replace(day=1)
    send = sender or _sender(config)
    outcome = Outcome()
    with _lock(wh):
        with wh.read() as con:
            report = monthly.build(con, cal, config, last_month)
        write(report, config.alerts.monthly_folder, "zh", config.report.font)
        directors = [
            r for r in recipients(wh, config) if r.subscription.email and "director" in r.roles
        ]
        stem = file_stem(report, "zh")
        files: dict[str, tuple[tuple[str, bytes, str], ...]] = {}
        for r in directors:
            lang = r.subscription.lang
            channel = f"email:{r.subscription.email}"
            subject_key = f"{last_month:%Y-%m}"
            with connect(alerts_path(wh), SCHEMA) as c:
                claimed = c.execute(
                    "INSERT OR IGNORE INTO deliveries (username, kind, subject, channel,"
                    " claimed_at, status) VALUES (?, 'monthly', ?, ?, ?, 'pending')",
                    [r.username, subject_key, channel, now.timestamp()],
                ).rowcount
                pending = c.execute(
                    "SELECT 1 FROM deliveries WHERE username = ? AND kind = 'monthly'"
                    " AND subject = ? AND channel = ? AND status <> 'sent'",
                    [r.username, subject_key, channel],
                ).fetchone()
            if not (claimed or pending):
                continue
            if lang not in files:
                name = file_stem(report, lang) if lang != "zh" else stem
                files[lang] = (
                    (f"{name}.pdf", to_pdf(report, lang, config.report.font), "application/pdf"),
                    (
                        f"{name}.xlsx",
                        to_xlsx(report, lang),
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    ),
                )
            title = month_title(report.center, last_month, lang)
            message = Message(
                title, title, f"<p>{html.escape(title)}</p>", {"kind": "monthly"}, files[lang]
            )
            _deliver(
                wh, config, r.username, channel, "monthly", [subject_key], message, send, outcome
            )
    return outcome


def month_title(center: str, month: date, lang: str) -> str:
    if lang == "zh":
        return f"【一窗通】{center} {month.year}年{month.month}月运行月报"
    return f"[OneWindow] {center}: monthly report, {month:%Y-%m}"


def quiet(config: Config, now: datetime) -> bool:
    span = config.alerts.quiet_hours
    if span is None:
        return False
    start, _, end = span.partition("-")
    clock = now.strftime("%H:%M")
    return start <= clock < end if start < end else clock >= start or clock < end


def _run(
    wh: Warehouse, config: Config, kind: str, now: datetime | None, sender: Sender | None
) -> Outcome:
    cal = WorkCalendar.from_config(config)
    zone = ZoneInfo(cal.zone)
    now = (now or datetime.now(zone)).astimezone(zone)
    if quiet(config, now):
        return Outcome(skipped="quiet hours")
    if kind == "digest" and not cal.is_working_day(now.date()):
        return Outcome(skipped="not a working day")
    if not wh.exists():
        return Outcome(skipped="no warehouse")
    send = sender or _sender(config)
    outcome = Outcome()
    with _lock(wh):
        targets = recipients(wh, config)
        with wh.read() as con:
            names = _names(catalog.matters(con))
            open_cards = {
                r.username: kpis.cards(con, cal, Filters().within(r.scope), config, as_of=now)
                for r in targets
            }
        for r in targets:
            if not (r.subscription.new_cards if kind == "card" else r.subscription.digest):
                continue
            cards = open_cards[r.username]
            for channel in r.channels:
                due = _claim(wh, config, r, channel, kind, cards, now)
                if due.is_empty():
                    continue
                message = compose(r, kind, due, names, config, zone, now)
                subjects = (
                    [now.date().isoformat()]
                    if kind == "digest"
                    else [f"{a}|{c}" for a, c in due.select("application_id", "card").iter_rows()]
                )
                _deliver(wh, config, r.username, channel, kind, subjects, message, send, outcome)
    return outcome


def _sender(config: Config) -> Sender:
    hooks: dict[str, Webhook] = {w.name: w for w in config.alerts.webhooks}

    def deliver(channel: str, message: Message) -> None:
        kind, _, name = channel.partition(":")
        if kind == "webhook":
            send_webhook(hooks[name], message)
        else:
            send_email(config.alerts.smtp, name, message)

    return deliver


@contextlib.contextmanager
def _lock(wh: Warehouse) -> Iterator[None]:
    """Overlapping runs (the after-load job and a digest, two schedulers) take turns."""
    path = wh.home / "alerts.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _claim(
    wh: Warehouse,
    config: Config,
    r: Recipient,
    channel: str,
    kind: str,
    cards: pl.DataFrame,
    now: datetime,
) -> pl.DataFrame:
    """The cards this run sends on `channel`: for new-card alerts, those never claimed for this
    recipient, channel and card state, plus earlier ones still pending or failed within the
    retry time; for the digest, every open card, once a day."""
    stamp = now.timestamp()
    open_now = cards.filter(pl.col("card").is_not_null())
    address = channel
    with connect(alerts_path(wh), SCHEMA) as con:
        if kind == "digest":
            if open_now.is_empty():
                return open_now
            claimed = con.execute(
                "INSERT OR IGNORE INTO deliveries (username, kind, subject, channel, claimed_at,"
                " status) VALUES (?, 'digest', ?, ?, ?, 'pending')",
                [r.username, now.date().isoformat(), address, stamp],
            ).rowcount
            retry = con.execute(
                "SELECT 1 FROM deliveries WHERE username = ? AND kind = 'digest' AND subject = ?"
                " AND channel = ? AND status <> 'sent'",
                [r.username, now.date().isoformat(), address],
            ).fetchone()
            return open_now if claimed or retry else open_now.clear()
        for row in open_now.select("application_id", "card").iter_rows():
            con.execute(
                "INSERT OR IGNORE INTO deliveries (username, kind, subject, channel,"
                " application_id, card, claimed_at, status) VALUES (?, 'card', ?, ?, ?, ?, ?,"
                " 'pending')",
                [r.username, f"{row[0]}|{row[1]}", address, row[0], row[1], stamp],
            )
        waiting = con.execute(
            "SELECT application_id, card FROM deliveries WHERE username = ? AND kind = 'card'"
            " AND channel = ? AND status <> 'sent' AND claimed_at >= ?",
            [r.username, address, stamp - config.alerts.retry_hours * 3600],
        ).fetchall()
    wanted = pl.DataFrame(
        waiting, schema={"application_id": pl.String, "card": pl.String}, orient="row"
    )
    return open_now.join(wanted, on=["application_id", "card"], how="semi")


def _deliver(
    wh: Warehouse,
    config: Config,
    user: str,
    channel: str,
    kind: str,
    subjects: list[str],
    message: Message,
    send: Sender,
    outcome: Outcome,
) -> None:
    error = None
    for attempt in range(config.alerts.attempts):
        if attempt:
            time.sleep(config.alerts.backoff_s * 2 ** (attempt - 1))
        try:
            send(channel, message)
            error = None
            break
        except DeliveryError as exc:
            error = str(exc)
            log.warning("alert to %s over %s failed (try %d): %s", user, channel, attempt + 1, exc)
    status = "sent" if error is None else "failed"
    tried = time.time()
    with connect(alerts_path(wh), SCHEMA) as con:
        con.executemany(
            "UPDATE deliveries SET status = ?, attempts = attempts + ?, last_try = ?,"
            " last_error = ?, sent_at = CASE WHEN ? = 'sent' THEN ? END"
            " WHERE username = ? AND kind = ? AND subject = ? AND channel = ?",
            [
                (
                    status,
                    config.alerts.attempts if error else attempt + 1,
                    tried,
                    error,
                    status,
                    tried,
                    user,
                    kind,
                    subject,
                    channel,
                )
                for subject in subjects
            ],
        )
    if error is None:
        outcome.sent.append((user, channel, len(subjects)))
    else:
        outcome.failed.append((user, channel, error))


def failures(wh: Warehouse, since_hours: float = 168.0) -> pl.DataFrame:
    """Deliveries that failed in the last week, newest first (the Data health page)."""
    schema: dict[str, pl.DataType] = {
        "username": pl.String(),
        "channel": pl.String(),
        "kind": pl.String(),
        "applications": pl.Int64(),
        "attempts": pl.Int64(),
        "last_try": pl.Datetime("us", "UTC"),
        "last_error": pl.String(),
    }
    if not alerts_path(wh).exists():
        return pl.DataFrame(schema=schema)
    with connect(alerts_path(wh), SCHEMA) as con:
        rows = con.execute(
            "SELECT username, channel, kind, count(*), max(attempts), max(last_try),"
            " max(last_error) FROM deliveries WHERE status = 'failed' AND last_try >= ?"
            " GROUP BY username, channel, kind ORDER BY max(last_try) DESC",
            [time.time() - since_hours * 3600],
        ).fetchall()
    return pl.DataFrame(
        [
            (u, c, k, n, a, datetime.fromtimestamp(t, ZoneInfo("UTC")), e)
            for u, c, k, n, a, t, e in rows
        ],
        schema=schema,
        orient="row",
    )


# ----- messages -------------------------------------------------------------------------------

_WORDS = {
    "red": ("红牌", "red card"),
    "yellow": ("黄牌", "yellow card"),
    "application": ("办件", "Application"),
    "matter": ("事项", "matter"),
    "window": ("窗口", "window"),
    "staff": ("经办人", "staff"),
    "due": ("承诺时限", "due"),
    "left": ("剩余 {n} 个工作日", "{n} working days left"),
    "over": ("已超期 {n} 个工作日", "{n} working days overdue"),
    "more": ("另有 {n} 件，请在一窗通查看。", "{n} more: see OneWindow."),
}


def _w(key: str, lang: str, **values: object) -> str:
    zh, en = _WORDS[key]
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text


def compose(
    r: Recipient,
    kind: str,
    cards: pl.DataFrame,
    names: dict[str, tuple[str, str]],
    config: Config,
    zone: ZoneInfo,
    now: datetime | None = None,
) -> Message:
    """One message for one recipient: subject, plain text, HTML (every value escaped) and the
    same as data. Most urgent first; at most `max_listed` applications listed."""
    lang = r.subscription.lang
    ordered = cards.sort(["workdays_left", "application_id"])
    red = int((ordered["card"] == "red").sum())
    yellow = int((ordered["card"] == "yellow").sum())
    day = (now or datetime.now(zone)).astimezone(zone).date().isoformat()
    if lang == "zh":
        what = "、".join(
            p for p in (f"红牌 {red} 件" if red else "", f"黄牌 {yellow} 件" if yellow else "") if p
        )
        subject = f"【一窗通·电子监察】{'今日在办' if kind == 'digest' else '新增'}{what}"
    else:
        what = ", ".join(
            p for p in (f"{red} red" if red else "", f"{yellow} yellow" if yellow else "") if p
        )
        subject = f"[OneWindow] {'Open cards today' if kind == 'digest' else 'New cards'}: {what}"
    items = []
    for row in ordered.iter_rows(named=True):
        matter = names.get(str(row["matter_code"]), (row["matter_code"], row["matter_code"]))
        left = row["workdays_left"]
        items.append(
            {
                "application_id": row["application_id"],
                "card": row["card"],
                "matter_code": row["matter_code"],
                "matter": matter[0] if lang == "zh" else matter[1],
                "department": row["department"],
                "window": row["window_id"],
                "staff": row["staff"],
                "due_at": row["due_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M")
                if row["due_at"] is not None
                else None,
                "workdays_left": None if left is None else round(float(left), 2),
                "link": _link(config, str(row["application_id"])),
            }
        )
    shown, rest = items[: config.alerts.max_listed], len(items) - config.alerts.max_listed
    lines, cells = [subject, ""], []
    for it in shown:
        left = it["workdays_left"]
        when = (
            ""
            if left is None
            else _w("over", lang, n=f"{-float(left):.1f}")
            if float(left) < 0
            else _w("left", lang, n=f"{float(left):.1f}")
        )
        fields = [
            f"[{_w(str(it['card']), lang)}] {_w('application', lang)} {it['application_id']}",
            f"{_w('matter', lang)} {it['matter']}",
            f"{_w('window', lang)} {it['window'] or '—'}",
            f"{_w('staff', lang)} {it['staff'] or '—'}",
            f"{_w('due', lang)} {it['due_at'] or '—'}",
            when,
        ]
        lines += [" · ".join(f for f in fields if f), f"  {it['link']}"]
        link, number = html.escape(str(it["link"])), html.escape(str(it["application_id"]))
        cells.append(
            "<tr>"
            + "".join(f"<td>{html.escape(str(f))}</td>" for f in fields if f)
            + f'<td><a href="{link}">{number}</a></td></tr>'
        )
    if rest > 0:
        lines.append(_w("more", lang, n=rest))
    text = "\n".join(lines)
    body = (
        f'<html><body><p>{html.escape(subject)}</p><table border="1" cellpadding="4">'
        + "".join(cells)
        + "</table>"
        + (f"<p>{html.escape(_w('more', lang, n=rest))}</p>" if rest > 0 else "")
        + "</body></html>"
    )
    data = {
        "kind": kind,
        "recipient": r.username,
        "day": day,
        "red": red,
        "yellow": yellow,
        "applications": items,
    }
    return Message(subject, text, body, data)


def _link(config: Config, application_id: str) -> str:
    return f"{config.alerts.link_base.rstrip('/')}/application?" + urllib.parse.urlencode(
        {"app": application_id}
    )


def _names(matters: pl.DataFrame) -> dict[str, tuple[str, str]]:
    return {
        str(code): (str(zh), str(en or zh))
        for code, zh, en in matters.select("matter_code", "name_zh", "name_en").iter_rows()
    }
