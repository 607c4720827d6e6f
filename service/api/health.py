"""Liveness, readiness (database reachable, migrations at head) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.persistence import migrate

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


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
