"""Signing in and out of the console, and the language switch.

In dev and test one chooses a demo identity (``service.demo.USERS``: the people ``cdht seed-demo`` walks its cases
as); in production that is refused and one signs in through OpenID Connect (``service.console.oidc``) with the
issuer the API trusts. Either way the session holds claims that pass the same checks as a token's.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from service.console.render import page
from service.console.routing import PREFIX, ConsoleRoute, bad_form
from service.console.session import ConsoleSession, csrf_ok, forget, load, save
from service.demo import USERS
from service.domain.errors import Forbidden, Reason

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def dev_refused() -> Forbidden:
    return Forbidden(
        "demo identities are refused in production; sign in through OpenID Connect",
        reasons=[Reason("dev_identity_refused", "production signs in through the organisation's identity provider")],
        detail_vi="Danh tính thử nghiệm bị từ chối trong môi trường vận hành; hãy đăng nhập qua OpenID Connect.",
    )


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    settings = request.app.state.services.settings
    return page(request, "signin.html", users=[] if settings.is_production else USERS)


@router.post("/sign-in")
async def sign_in(request: Request, sub: Annotated[str, Form()], csrf: Annotated[str, Form()] = "") -> Response:
    session = load(request)
    if not csrf_ok(session, csrf):
        raise bad_form()
    if request.app.state.services.settings.is_production:
        raise dev_refused()
    user = next((u for u in USERS if u.sub == sub), None)
    if user is None:
        raise Forbidden("no demo identity by that name", reasons=[Reason("not_authorised", f"unknown identity {sub}")])
    claims = {"sub": user.sub, "name": user.name, "roles": [user.role], "unit": user.unit}
    if user.org:
        claims["org"] = user.org
    fresh = ConsoleSession(claims=claims, lang=session.lang, via="dev")  # a new CSRF token with the new identity
    request.state.console_session = fresh
    return save(request, RedirectResponse(f"{PREFIX}/", status_code=303), fresh)


@router.post("/sign-out")
async def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    if not csrf_ok(load(request), csrf):
        raise bad_form()
    return forget(request, RedirectResponse(f"{PREFIX}/sign-in", status_code=303))


@router.get("/language/{lang}")
async def language(request: Request, lang: str) -> Response:
    session = load(request)
    session.lang = "en" if lang == "en" else "vi"
    back = request.headers.get("referer") or f"{PREFIX}/"
    parsed = urlparse(back)
    target = (parsed.path or f"{PREFIX}/") + (f"?{parsed.query}" if parsed.query else "")
    if not target.startswith(PREFIX):  # never an open redirect
        target = f"{PREFIX}/"
    return save(request, RedirectResponse(target, status_code=303), session)
