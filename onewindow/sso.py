"""Single sign-on: an OpenID Connect identity (st.login, `[auth]` in Streamlit's secrets) gets
roles and scope from the `[sso]` mapping of one ID-token claim. A user whose claim matches no
entry gets no access at all, not a default role."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onewindow.config import Sso
from onewindow.roles import Principal


def principal_from_claims(claims: Mapping[str, Any], sso: Sso) -> Principal | None:
    raw = claims.get(sso.claim)
    values = {raw} if isinstance(raw, str) else {str(v) for v in raw or ()}
    rules = [rule for rule in sso.map if rule.value in values]
    if not rules:
        return None
    who = claims.get("preferred_username") or claims.get("email") or claims.get("sub")
    return Principal(
        f"sso:{who}",
        frozenset(r for rule in rules for r in rule.roles),
        frozenset(d for rule in rules for d in rule.departments),
        frozenset(w for rule in rules for w in rule.windows),
    )
