"""Matching a trigger's request with one lookup (issue 17): what stands in front of the app's router.

FastAPI's router tries its routes one after the other, and each included router tries its own again when it
handles what it matched: a ``POST /v1/cases/{id}/transitions/{trigger}`` (the service's busiest write) met about 70
route patterns before its own, after the ~50 other operations and twice inside the trigger routes (5–6 % of a
transition's CPU). `TriggerFront` sits in front of the app's router: a path of the trigger shape (a case's or an
indicator's) is looked up by its trigger name among the trigger routes (the catch-all that answers 404
``trigger_unknown`` for any other name), and that one route decides, with its own pattern and methods, exactly as
the router would have let it. Anything it does not match fully (another path, another method: a 405 stays the
router's) goes to the router unchanged, as do all requests while FastAPI's own telemetry is recording routes.

What makes this the same as the router: the trigger routes are the app's own routes (``app.routes``, in the
OpenAPI document's order) and no route before them matches a trigger path fully (held by
``tests/api/test_trigger_front.py``); the front steps in only where the router has no middleware of its own.

A named trigger's route is then answered by its direct handler (``TriggerRoutes.direct``): its endpoint called
with the caller and its path parameters, as FastAPI's request handler would call it, without that handler's
dependency solver and exit stacks (~0.1 ms a request). A refusal raised there reaches the same exception handlers
(the app's ``ExceptionMiddleware`` instead of the route's copy of them). While the app overrides any dependency
(``app.dependency_overrides``, for tests) FastAPI's handler answers, as it does the unknown triggers' catch-all.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

Direct = Callable[[Request], Awaitable[Response]]
TRIGGER_PATH = re.compile(r"/v1/cases/[^/]+/(?:indicators/(?P<code>[^/]+)/)?transitions/(?P<trigger>[^/]+)")


class TriggerRoutes:
    """The trigger routes by name, a case's and an indicator's, and the catch-all of each (unknown triggers)."""

    def __init__(self) -> None:
        self.named: dict[bool, dict[str, APIRoute]] = {False: {}, True: {}}
        self.unknown: dict[bool, APIRoute] = {}
        # a route's handler without FastAPI's (see the module's docstring), by the route's id (a route is unhashable;
        # the app's routes live as long as it does)
        self.direct: dict[int, Direct] = {}

    def route_for(self, path: str) -> APIRoute | None:
        """The one trigger route that could take ``path``, or None for a path of another shape."""
        shape = TRIGGER_PATH.fullmatch(path)
        if shape is None:
            return None
        indicator = shape["code"] is not None
        return self.named[indicator].get(shape["trigger"]) or self.unknown.get(indicator)


class TriggerFront:
    """An ASGI layer around the app's router (``router.middleware_stack``): a trigger request goes straight to its
    route; everything else to the router."""

    def __init__(self, router: APIRouter, routes: TriggerRoutes) -> None:
        self.router, self.routes, self.app = router, routes, router.middleware_stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("fastapi.telemetry") is None:
            route = self.routes.route_for(get_route_path(scope))
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:  # what the router does with a route of its own that matches fully
                    scope.setdefault("router", self.router)
                    scope.update(child_scope)
                    direct = self.routes.direct.get(id(route))
                    if direct is None or self._overriding():
                        await route.handle(scope, receive, send)
                    else:
                        response = await direct(Request(scope, receive, send))
                        await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _overriding(self) -> bool:
        return bool(getattr(self.router.dependency_overrides_provider, "dependency_overrides", None))


def install(router: APIRouter, routes: TriggerRoutes) -> ASGIApp:
    """Put a `TriggerFront` in front of ``router``; only a router without middleware of its own (the front would
    otherwise pass it by)."""
    if router.middleware_stack != router.app:
        raise RuntimeError("the app's router has middleware of its own: the trigger front would bypass it")
    router.middleware_stack = TriggerFront(router, routes)
    return router.middleware_stack
