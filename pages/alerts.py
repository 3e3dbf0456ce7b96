"""My alerts (我的提醒), for directors and supervisors: where their electronic-supervision
alerts go — an e-mail address and/or one of the configured group robots — and which they get
(new yellow and red cards, the morning digest), in which language. A user sets only their own;
the scope of what they are sent comes from their account, never from here (docs/alerts.md).
Saved in the alert store beside the warehouse, and audited."""

from __future__ import annotations

import streamlit as st
from pydantic import ValidationError

from onewindow import alerts
from onewindow.config import Subscription
from onewindow.roles import Perm
from ui import auth, data, view
from ui.i18n import tr


def show() -> None:
    lang = view.lang()
    st.title(tr("page.alerts", lang))
    auth.require(Perm.APPLICATIONS, "alerts.settings", lang)
    who = auth.principal()
    if who is None:
        return
    config = data.config()
    mine = alerts.settings(data.warehouse(), config).get(who.username)
    hooks = [w.name for w in config.alerts.webhooks]
    st.caption(tr("alerts.note", lang))
    with st.form("alerts-settings"):
        email = st.text_input(
            tr("alerts.email", lang), value=(mine.email if mine else "") or "", key="alerts-email"
        )
        none = tr("alerts.no_webhook", lang)
        webhook = st.selectbox(
            tr("alerts.webhook", lang),
            [none, *hooks],
            index=1 + hooks.index(mine.webhook) if mine and mine.webhook in hooks else 0,
            placeholder=tr("filters.choose", lang),
        )
        new_cards = st.checkbox(
            tr("alerts.new_cards", lang),
            value=mine.new_cards if mine else True,
            key="alerts-new-cards",
        )
        digest = st.checkbox(
            tr("alerts.digest", lang), value=mine.digest if mine else True, key="alerts-digest"
        )
        language = st.radio(
            tr("alerts.lang", lang),
            ["zh", "en"],
            index=0 if (mine.lang if mine else lang) == "zh" else 1,
            format_func=lambda code: "中文" if code == "zh" else "English",
            horizontal=True,
        )
        saved = st.form_submit_button(tr("alerts.save", lang), key="alerts-save")
    if not saved:
        return
    try:
        chosen = Subscription(
            user=who.username,
            email=email.strip() or None,
            webhook=None if webhook == none else webhook,
            new_cards=new_cards,
            digest=digest,
            lang=language,
        )
        alerts.save_settings(data.warehouse(), config, chosen)
    except (ValidationError, ValueError) as exc:
        auth.audit("alerts.settings", who.username, "refused", reason=str(exc)[:200])
        st.error(tr("alerts.invalid", lang))
        return
    auth.audit(
        "alerts.settings",
        who.username,
        email=bool(chosen.email),
        webhook=chosen.webhook,
        new_cards=new_cards,
        digest=digest,
    )
    st.success(tr("alerts.saved", lang))


show()
