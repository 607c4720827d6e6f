"""Production sign-in: OpenID Connect, authorization code with PKCE (S256), against the issuer the API trusts
(``CDHT_AUTH_ISSUER``; its discovery document, or ``CDHT_CONSOLE_OIDC_DISCOVERY_URL``).

The protocol pieces are Authlib's (the PKCE challenge, the authorization request, the random state, nonce and
verifier); the token request is one httpx POST and the ID token is verified with PyJWT against the issuer's JWKS
(signature, issuer, audience = the console's client id, expiry, nonce), as the API verifies its bearer tokens.
Authlib's own HTTP client integrations are not used: in Authlib 1.9 they warn that they are deprecated.

The ID token's claims become the session's identity through ``CDHT_CONSOLE_OIDC_CLAIMS`` (which claim gives sub,
name, roles, unit, org), and pass the same checks as a token's claims (``service.auth.actor_from_claims``): an
unknown role, a missing unit or the system role is refused, naming the claim.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from service.auth import actor_from_claims
from service.config import Settings
from service.console.routing import PREFIX, ConsoleRoute
from service.console.session import ConsoleSession, load, save
from service.domain.errors import Reason, Unauthenticated

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
TIMEOUT = httpx.Timeout(10.0)
_METADATA: dict[str, dict[str, Any]] = {}


def refused(message: str) -> Unauthenticated:
    return Unauthenticated(
        f"the OpenID Connect sign-in was refused: {message}", reasons=[Reason("oidc_refused", message)]
    )


def discovery_url(settings: Settings) -> str:
    if settings.console_oidc_discovery_url:
        return settings.console_oidc_discovery_url
    if not settings.auth_issuer:
        raise refused("no issuer is configured (CDHT_AUTH_ISSUER)")
    return settings.auth_issuer.rstrip("/") + "/.well-known/openid-configuration"


async def metadata(settings: Settings) -> dict[str, Any]:
    """The issuer's discovery document (read once per process), which must name the issuer the API trusts."""
    url = discovery_url(settings)
    if url not in _METADATA:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.get(url)
                response.raise_for_status()
                found = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise refused(f"the issuer's discovery document cannot be read ({type(exc).__name__})") from None
        if found.get("issuer") != settings.auth_issuer:
            raise refused(f"the discovery document names issuer {found.get('issuer')!r}, not the one the API trusts")
        _METADATA[url] = found
    return _METADATA[url]


def callback_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + f"{PREFIX}/oidc/callback"


def client_id(settings: Settings) -> str:
    if not settings.console_oidc_client_id:
        raise refused("the console has no client id (CDHT_CONSOLE_OIDC_CLIENT_ID)")
    return settings.console_oidc_client_id


@router.get("/oidc/login")
async def login(request: Request) -> Response:
    settings: Settings = request.app.state.services.settings
    found = await metadata(settings)
    pending = {"state": generate_token(32), "nonce": generate_token(32), "verifier": generate_token(64)}
    url = prepare_grant_uri(
        found["authorization_endpoint"],
        client_id(settings),
        "code",
        redirect_uri=callback_url(request),
        scope="openid profile",
        state=pending["state"],
        code_challenge=create_s256_code_challenge(pending["verifier"]),
        code_challenge_method="S256",
        nonce=pending["nonce"],
    )
    session = load(request)
    session.pending = pending
    return save(request, RedirectResponse(url, status_code=303), session)


def mapped_claims(settings: Settings, claims: dict[str, Any]) -> dict[str, Any]:
    """The session's identity from the ID token's claims, by ``CDHT_CONSOLE_OIDC_CLAIMS``."""
    mapped = {name: claims[source] for name, source in settings.console_oidc_claims.items() if source in claims}
    if isinstance(mapped.get("roles"), str):
        mapped["roles"] = mapped["roles"].split()
    return mapped


async def _id_token_claims(settings: Settings, found: dict[str, Any], id_token: str, nonce: str) -> dict[str, Any]:
    try:
        key = await asyncio.to_thread(jwt.PyJWKClient(found["jwks_uri"]).get_signing_key_from_jwt, id_token)
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=settings.auth_algorithms,
            audience=client_id(settings),
            issuer=settings.auth_issuer,
            leeway=settings.auth_leeway_seconds,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise refused(f"the ID token does not verify ({type(exc).__name__})") from None
    if claims.get("nonce") != nonce:
        raise refused("the ID token's nonce is not the one this sign-in sent")
    return claims


@router.get("/oidc/callback")
async def callback(request: Request) -> Response:
    settings: Settings = request.app.state.services.settings
    session = load(request)
    pending, query = session.pending or {}, request.query_params
    if query.get("error"):
        raise refused(f"the issuer answered {query.get('error')}")
    if not pending or query.get("state") != pending.get("state") or not query.get("code"):
        raise refused("this answer does not belong to a sign-in started here (state)")
    found = await metadata(settings)
    form = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": callback_url(request),
        "client_id": client_id(settings),
        "code_verifier": pending["verifier"],
    }
    secret = settings.console_oidc_client_secret
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            answer = await client.post(
                found["token_endpoint"], data=form, auth=(form["client_id"], secret) if secret else None
            )
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise refused(f"the token endpoint cannot be reached ({type(exc).__name__})") from None
    if answer.status_code != 200 or not isinstance(body.get("id_token"), str):
        raise refused(f"the token endpoint refused the code ({answer.status_code} {body.get('error', '')})")
    claims = mapped_claims(settings, await _id_token_claims(settings, found, body["id_token"], pending["nonce"]))
    actor_from_claims(claims)  # the same checks as a bearer token's claims (401 with the reason)
    fresh = ConsoleSession(claims=claims, lang=session.lang, via="oidc")
    request.state.console_session = fresh
    return save(request, RedirectResponse(f"{PREFIX}/", status_code=303), fresh)
