"""Liveness, readiness (database reachable, migrations at head) and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from service.api.errors import problems
from service.auth import bearer_token, not_the_expected_token
from service.persistence import migrate
from service.telemetry import metrics as exposition
from service.workers import state_metrics

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is at the migrations' head",
    responses={503: {"description": "Not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    svc = request.app.state.services
    try:
        async with svc.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        current = await migrate.current_revision(svc.settings.resolved_database_url)
    except Exception as exc:  # readiness reports any failure to reach the database as not ready
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
    head = migrate.head_revision()
    if current != head:
        return JSONResponse({"status": "migrating", "current": current, "head": head}, status_code=503)
    return JSONResponse({"status": "ready", "revision": current})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="The text exposition: counters of this process (of every worker process in multiprocess mode) and "
    "the state of the database read now. Open unless `CDHT_METRICS_TOKEN` is set; then it asks for that token as "
    "a bearer token.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **problems(401)},
)
async def metrics(request: Request) -> Response:
    svc = request.app.state.services
    token = svc.settings.metrics_token
    if token is not None:
        given = bearer_token(request.headers.get("authorization"))  # 401 when missing or not Bearer
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            raise not_the_expected_token("the token is not the one set in CDHT_METRICS_TOKEN")
    state = await state_metrics.sample(svc.sessions, svc.settings.clock())
    return Response(exposition.exposition([state]), media_type=exposition.CONTENT_TYPE)
