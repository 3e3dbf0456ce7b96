"""How a message reaches people: e-mail over SMTP (SSL, STARTTLS or plain, with login), the
group robots of WeCom (企业微信), DingTalk (钉钉, signed) and Feishu (飞书, signed), and a
generic JSON webhook. Every robot is addressed by a full URL from the config, so a private
instance on the government network (政务微信, 浙政钉 …) is one setting.

Robots get the `text` message type, never markdown: names from the data are shown, not
interpreted. A delivery either returns or raises DeliveryError with a reason that never
quotes an address's key or token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from onewindow.config import Smtp, Webhook


class DeliveryError(Exception):
    """One delivery failed; the reason is safe to record and show."""


@dataclass(frozen=True)
class Message:
    subject: str  # Chinese subject lines are fine: encoded as RFC 2047
    text: str
    html: str
    data: dict[str, object]  # the same content as structured data, for JSON receivers
    # Files for e-mail (name, content, MIME type): the monthly report's PDF and workbook.
    attachments: tuple[tuple[str, bytes, str], ...] = ()


def send_email(smtp: Smtp, to: str, message: Message) -> None:
    if smtp.host is None:
        raise DeliveryError("no mail server is configured ([alerts.smtp] host)")
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = formataddr(("OneWindow", smtp.sender))
    mail["To"] = to
    mail["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or "localhost")
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    for name, content, mime in message.attachments:
        main, _, sub = mime.partition("/")
        mail.add_attachment(content, maintype=main, subtype=sub, filename=name)
    password = os.environ.get(smtp.password_env) if smtp.username else None
    try:
        server: smtplib.SMTP
        if smtp.security == "ssl":
            server = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout_s, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        with server:
            if smtp.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if smtp.username:
                if password is None:
                    raise DeliveryError(
                        f"the SMTP password is not set (environment variable {smtp.password_env})"
                    )
                server.login(smtp.username, password)
            server.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"mail server {smtp.host}:{smtp.port}: {_reason(exc)}") from None


def send_webhook(hook: Webhook, message: Message, now: float | None = None) -> None:
    url = hook.url or os.environ.get(hook.url_env or "", "")
    if not url:
        raise DeliveryError(f"webhook {hook.name!r}: environment variable {hook.url_env} is empty")
    secret = os.environ.get(hook.secret_env) if hook.secret_env else None
    if hook.secret_env and not secret:
        raise DeliveryError(f"webhook {hook.name!r}: secret {hook.secret_env} is not set")
    stamp = int((now if now is not None else time.time()) * 1000)
    body: dict[str, object]
    if hook.kind == "wecom":
        body = {"msgtype": "text", "text": {"content": message.text}}
    elif hook.kind == "dingtalk":
        body = {"msgtype": "text", "text": {"content": message.text}}
        if secret:
            url = _with_query(url, timestamp=str(stamp), sign=dingtalk_sign(secret, stamp))
    elif hook.kind == "feishu":
        body = {"msg_type": "text", "content": {"text": message.text}}
        if secret:
            seconds = stamp // 1000
            body |= {"timestamp": str(seconds), "sign": feishu_sign(secret, seconds)}
    else:
        body = {"subject": message.subject, "text": message.text, **message.data}
    _post(hook, url, body)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64 of HMAC-SHA256 over 'timestamp\\nsecret', keyed with
    the secret (sent URL-encoded as `sign`, with `timestamp` in milliseconds)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's bot signature: base64 of HMAC-SHA256 keyed with 'timestamp\\nsecret' over
    nothing (with `timestamp` in seconds)."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _with_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _post(hook: Webhook, url: str, body: dict[str, object]) -> None:
    where = f"webhook {hook.name!r} ({urllib.parse.urlsplit(url).netloc})"
    request = urllib.request.Request(
        url,
        data=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=hook.timeout_s) as response:
            raw = response.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{where} answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"{where}: {_reason(exc)}") from None
    if hook.kind == "json":
        return
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        raise DeliveryError(f"{where} answered something that is not JSON") from None
    # WeCom and DingTalk answer errcode 0; Feishu answers code 0 (StatusCode in older ones).
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code not in (0, "0"):
        text = str(answer.get("errmsg", answer.get("msg", "")))[:200]
        raise DeliveryError(f"{where} refused the message: {code} {text}".rstrip())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | urllib.error.URLError) and "timed out" in str(exc):
        return "no answer (timed out)"
    return f"{type(exc).__name__}: {exc}"[:300]
