"""Request-scoped dependencies: the app's services, the caller, the clock, the request id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.auth import TokenVerifier, bearer_token
from service.config import Settings
from service.domain.actor import Actor
from service.telemetry import context as log_context
from workflows.registry import Registry


@dataclass
class Services:
    settings: Settings
    registry: Registry
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    verifier: TokenVerifier


def services(request: Request) -> Services:
    return request.app.state.services


def current_actor(request: Request) -> Actor:
    """The verified caller; 401 with a reason when the token is missing or bad."""
    token = bearer_token(request.headers.get("authorization"))
    actor = services(request).verifier.verify(token)
    log_context.bind(actor=actor.sub, unit=actor.unit)
    return actor


def now(request: Request) -> datetime:
    return services(request).settings.clock()


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)
