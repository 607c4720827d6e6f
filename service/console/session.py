"""The console's session: a signed cookie holding who signed in (the claims an API token would carry), the CSRF
token of the session and the language chosen.

The cookie is signed (itsdangerous, HMAC-SHA256) with ``Settings.console_secret()``, expires after
``console_session_hours``, is ``HttpOnly``, ``SameSite=Lax`` and, in production, ``Secure``. It holds no secret of
the user's: a stolen cookie is a session, as with any cookie session, and signing out forgets it in the browser.
The identity in it becomes an `Actor` through the same claim checks as a token (``service.auth``), so a console
user can be no one an API caller could not be.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from service.auth import actor_from_claims
from service.config import Settings
from service.domain.actor import Actor
from service.domain.language import negotiate

COOKIE = "cdht_console"
LANGS = ("vi", "en")


@dataclass
class ConsoleSession:
    claims: dict[str, Any] | None = None  # sub, name, roles, unit, org?
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    lang: str = "vi"
    via: str = "dev"  # dev (a demo identity) or oidc
    pending: dict[str, str] | None = None  # an OpenID Connect sign-in under way: state, nonce, PKCE verifier

    @property
    def actor(self) -> Actor | None:
        return actor_from_claims(self.claims) if self.claims else None

    def as_dict(self) -> dict[str, Any]:
        return {"claims": self.claims, "csrf": self.csrf, "lang": self.lang, "via": self.via, "pending": self.pending}


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.console_secret(), salt="cdht-console-session")


def load(request: Request) -> ConsoleSession:
    """The request's session (a fresh anonymous one when there is no valid cookie); cached on the request."""
    cached = getattr(request.state, "console_session", None)
    if cached is not None:
        return cached
    settings: Settings = request.app.state.services.settings
    # No language chosen yet: the one the browser asks for, as the API chooses it (``language.negotiate``).
    asked = negotiate(request.headers.get("accept-language"))
    session = ConsoleSession(lang=asked)
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(settings).loads(raw, max_age=int(settings.console_session_hours * 3600))
            session = ConsoleSession(
                claims=data.get("claims"),
                csrf=str(data.get("csrf") or session.csrf),
                lang=data.get("lang") if data.get("lang") in LANGS else asked,
                via=str(data.get("via") or "dev"),
                pending=data.get("pending") if isinstance(data.get("pending"), dict) else None,
            )
        except (BadSignature, ValueError, TypeError, AttributeError):
            session = ConsoleSession(lang=asked)
    if request.query_params.get("lang") in LANGS:
        session.lang = request.query_params["lang"]
    request.state.console_session = session
    return session


def save(request: Request, response: Response, session: ConsoleSession) -> Response:
    settings: Settings = request.app.state.services.settings
    response.set_cookie(
        COOKIE,
        _serializer(settings).dumps(session.as_dict()),
        max_age=int(settings.console_session_hours * 3600),
        httponly=True,
        secure=settings.is_production,
        samesite="lax",
        path="/",
    )
    return response


def forget(request: Request, response: Response) -> Response:
    settings: Settings = request.app.state.services.settings
    response.delete_cookie(COOKIE, path="/", httponly=True, secure=settings.is_production, samesite="lax")
    return response


def csrf_ok(session: ConsoleSession, offered: str | None) -> bool:
    return bool(offered) and hmac.compare_digest(session.csrf, str(offered))
