"""A small but real OpenID Connect provider for the single sign-on test, run as its own process
(`python -m tests.oidc_provider --port P --client-id … --client-secret … --users users.json`):
discovery, an authorization endpoint with a sign-in form, the authorization-code grant with
PKCE (S256) and client authentication, RS256-signed ID tokens with nonce, the JWKS and userinfo.
Users and their claims come from a JSON file: {"name": {"password": …, "groups": [...]}}.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route


def build(issuer: str, client_id: str, client_secret: str, users: dict[str, Any]) -> Starlette:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
    codes: dict[str, dict[str, Any]] = {}
    tokens: dict[str, dict[str, Any]] = {}

    def claims_of(user: str) -> dict[str, Any]:
        extra = {k: v for k, v in users[user].items() if k != "password"}
        return {"sub": user, "preferred_username": user, "email": f"{user}@center.test", **extra}

    async def discovery(request: Request) -> Response:
        return JSONResponse({
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
        })  # fmt: skip

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [key.as_dict(private=False)]})

    async def authorize(request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params)
            if params.get("client_id") != client_id or params.get("response_type") != "code":
                return Response("invalid_request", status_code=400)
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in params.items()
            )
            return HTMLResponse(
                f'<form method="post">{hidden}<input id="user" name="user">'
                '<input id="password" name="password" type="password">'
                '<button id="go" type="submit">Sign in</button></form>'
            )
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        user = form.get("user", "")
        if user not in users or users[user]["password"] != form.get("password"):
            return Response("access_denied", status_code=401)
        code = secrets.token_urlsafe(24)
        codes[code] = {
            "user": user, "nonce": form.get("nonce"), "redirect_uri": form["redirect_uri"],
            "challenge": form.get("code_challenge"), "at": time.time(),
        }  # fmt: skip
        query = urlencode({"code": code, "state": form.get("state", "")})
        return RedirectResponse(f"{form['redirect_uri']}?{query}", status_code=302)

    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        given_id, given_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            given_id, _, given_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if (given_id, given_secret) != (client_id, client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if grant["challenge"]:
            verifier = form.get("code_verifier", "").encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if digest.decode() != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {**claims_of(grant["user"]), "iss": issuer, "aud": client_id, "iat": now,
                  "exp": now + 300, "nonce": grant["nonce"]}  # fmt: skip
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        access = secrets.token_urlsafe(24)
        tokens[access] = claims_of(grant["user"])
        return JSONResponse({"access_token": access, "token_type": "Bearer",
                             "expires_in": 300, "id_token": id_token})  # fmt: skip

    async def userinfo(request: Request) -> Response:
        found = tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        return JSONResponse(found) if found else Response(status_code=401)

    return Starlette(routes=[
        Route("/.well-known/openid-configuration", discovery),
        Route("/jwks", jwks),
        Route("/authorize", authorize, methods=["GET", "POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/userinfo", userinfo),
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--users", type=Path, required=True)
    args = parser.parse_args()
    users = json.loads(args.users.read_text(encoding="utf-8"))
    issuer = f"http://localhost:{args.port}"
    app = build(issuer, args.client_id, args.client_secret, users)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
