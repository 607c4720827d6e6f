"""What every console route shares: the route class that turns a domain refusal into a page (and a missing
sign-in into the sign-in page, and renews the session cookie), the signed-in person, the clock, and the CSRF
refusal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from service.console.render import error_page
from service.console.session import csrf_ok, load, save
from service.domain.actor import Actor
from service.domain.errors import DomainError, Forbidden, Reason

log = logging.getLogger("cdht.console")
PREFIX = "/console"


class InternalError(DomainError):
    status, title, type_slug = 500, "Internal error", "internal-error"

    def __init__(self) -> None:
        super().__init__(
            "something went wrong on our side; nothing was changed",
            reasons=[Reason("internal_error", "the error is logged with the request id")],
        )


class SignInNeeded(Exception):
    """Raised by a page when no one is signed in: the answer is the sign-in page."""


class ConsoleRoute(APIRoute):
    """A console route: a domain refusal becomes a page (its status, reasons and citations), a missing sign-in a
    redirect to the sign-in page, and every answer renews the session cookie."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInNeeded:
                response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
            except DomainError as error:
                response = error_page(request, error)
            except Exception:  # noqa: BLE001 - a page, never a blank screen; logged with the request id
                log.exception("console page failed: %s %s", request.method, request.url.path)
                response = error_page(request, InternalError())
            if "set-cookie" not in response.headers:
                save(request, response, load(request))
            return response

        return handle


def signed_in(request: Request) -> Actor:
    actor = load(request).actor
    if actor is None:
        raise SignInNeeded()
    return actor


def services_and_now(request: Request) -> tuple[Any, datetime]:
    svc = request.app.state.services
    return svc, svc.settings.clock()


def bad_form() -> Forbidden:
    return Forbidden(
        "the form is missing its CSRF token or it is not this session's; reload the page",
        reasons=[Reason("csrf_refused", "reload the page and send the form again")],
    )


async def checked_form(request: Request) -> dict[str, str]:
    """The form's text fields, once its CSRF token is this session's (else 403, nothing done)."""
    form = await request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    if not csrf_ok(load(request), values.get("csrf")):
        raise bad_form()
    return values
