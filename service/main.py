"""The application: ``create_app(settings)`` wires routers, error handlers, middleware and the lifespan."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api import (
    admin_units,
    audit,
    audit_export,
    campaigns,
    case_migrations,
    cases,
    deadlines,
    dev,
    docs,
    health,
    indicators,
    procedures,
    reports,
    transitions,
    trigger_front,
    webhooks,
)
from service.api.deps import Services
from service.api.errors import install as install_errors
from service.api.limits import RequestLimits
from service.api.openapi_doc import TAGS, finish, operation_id
from service.auth import TokenVerifier
from service.config import Settings
from service.console import web as console
from service.heap import settle_heap
from service.persistence.db import make_engine, session_factory
from service.telemetry import context as log_context
from service.telemetry import logs, tracing
from service.workers.checkpoints import run_checkpointer
from service.workers.deadlines import run_sweeper
from service.workers.webhooks import run_dispatcher
from workflows.registry import Registry

log = logging.getLogger("cdht")
access_log = logging.getLogger("cdht.http")

# CORS (CDHT_CORS_ORIGINS): what a browser on an allowed origin may send, and which answer headers it may read.
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept-Language",
    "If-Match",
    "Idempotency-Key",
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = [
    "ETag",
    "Idempotent-Replayed",
    "Location",
    "Retry-After",
    "X-Request-ID",
    "Content-Language",
    "Content-Disposition",
    "WWW-Authenticate",
]
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REQUESTS = Counter("cdht_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("cdht_http_request_seconds", "HTTP request latency", ["method", "route"])

DESCRIPTION = """
Workflow service for the assessment and recognition of learning communities ("Cộng đồng học tập") under
Thông tư 25/2023/TT-BGDĐT. Every legal step is its own operation; each is checked for authority (role and
administrative unit), guards and deadlines, and recorded in a hash-chained audit log.

Errors are `application/problem+json` (RFC 9457) with `reasons` and, on refusals, `allowed_transitions`: `detail`
and each reason's `message` in the language of `Accept-Language` (Vietnamese by default, or English), with both
languages always beside them (`detail_vi`, `detail_en`, `message_vi`, `message_en`). A client branches on the
reason `code`.
"""


class RequestContext:
    """Each request's id (the caller's ``X-Request-ID`` when it is a plain token that fits the audit column, else
    ours), echoed in the response and bound to the request's log scope; the request counted, timed by route and
    logged in one line (``cdht.http``: method, route, status, ms). A pure ASGI middleware: an exception
    from inside passes through it as itself (counted as a 500), never wrapped in an ``ExceptionGroup``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get("x-request-id", "")
        request_id = offered if REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id
        log_scope = log_context.new_scope(request_id=request_id)
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            access_log.info(
                "%s %s %s",
                scope["method"],
                route,
                status,
                extra={"method": scope["method"], "route": route, "status": status, "ms": round(elapsed * 1000, 1)},
            )
            log_context.reset(log_scope)


def create_app(settings: Settings | None = None, *, registry: Registry | None = None) -> FastAPI:
    settings = settings or Settings()
    registry = registry or settings.registry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.check()
        services, stop, workers = app.state.services, asyncio.Event(), []
        if settings.workers_in_process:
            workers.append(
                asyncio.create_task(
                    run_sweeper(
                        services.sessions,
                        services.registry,
                        settings.clock,
                        interval=settings.sweep_interval_seconds,
                        stop=stop,
                    )
                )
            )
            workers.append(asyncio.create_task(run_dispatcher(services.sessions, settings, settings.clock, stop=stop)))
            workers.append(asyncio.create_task(run_checkpointer(services.sessions, settings, settings.clock, stop)))
        settle_heap()
        yield
        stop.set()
        await asyncio.gather(*workers)
        await services.engine.dispose()
        tracing.flush()

    app = FastAPI(
        title="cdht",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[{"name": name, "description": text} for name, text in TAGS],
        generate_unique_id_function=operation_id,
        docs_url=None,  # served from the package's own assets (service.api.docs), never a CDN
        redoc_url=None,
    )
    engine = make_engine(settings.resolved_database_url)
    app.state.services = Services(
        settings=settings,
        registry=registry,
        engine=engine,
        sessions=session_factory(engine),
        verifier=TokenVerifier(settings),
    )
    install_errors(app)
    tracer_provider = tracing.setup(settings.otlp_endpoint, settings.otel_service_name)
    if tracer_provider is not None:
        tracing.instrument_app(app, tracer_provider)
        tracing.instrument_engine(engine, tracer_provider)
    docs.install(app)

    app.add_middleware(RequestContext)
    app.add_middleware(  # the first to see a request but for CORS
        RequestLimits,
        max_body_bytes=settings.request_max_bytes,
        max_upload_bytes=settings.evidence_max_bytes,
        max_header_bytes=settings.request_max_header_bytes,
        max_headers=settings.request_max_headers,
    )
    if settings.cors_origins:  # added last: the outermost, so its headers are on every answer, refusals too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )

    for module in (
        health,
        procedures,
        admin_units,
        campaigns,
        case_migrations,
        transitions,
        cases,
        indicators,
        audit,
        audit_export,
        deadlines,
        webhooks,
        reports,
        dev,
    ):
        app.include_router(module.router)
    # The trigger routes are the app's own routes, after the others (the OpenAPI document's order), and are
    # matched first, with one lookup, by the front put before the app's router.
    trigger_front.install(app.router, transitions.add_trigger_routes(app.router, registry))
    console.install(app)  # the browser console under /console, and / sending there

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                ),
                app,
                registry,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_environment() -> FastAPI:
    """The app of each process of ``cdht serve --workers N`` (uvicorn imports it by name): its settings and logging
    from the environment ``cdht serve`` prepared."""
    settings = Settings()
    logs.configure(settings.log_format, settings.log_level)
    return create_app(settings)
