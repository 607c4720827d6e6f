"""Request-scoped dependencies: the app's services, the caller, the clock, the request id.

They are ``async def`` so that FastAPI runs them on the event loop instead of handing each to its thread pool (a
thread hop per dependency per request); only a token whose check may fetch the identity provider's keys (production,
JWKS over the network) is verified in the thread pool, and a token the verifier accepted before and that has not
expired since is not checked again (``service.token_cache``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.concurrency import run_in_threadpool

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


async def services(request: Request) -> Services:
    return request.app.state.services


async def current_actor(request: Request) -> Actor:
    """The verified caller; 401 with a reason when the token is missing or bad."""
    token = bearer_token(request.headers.get("authorization"))
    verifier: TokenVerifier = request.app.state.services.verifier
    if (known := verifier.known(token)) is not None:  # accepted before and not expired: no check, no thread hop
        actor = known
    elif verifier.may_block:
        actor = await run_in_threadpool(verifier.verify, token)
    else:
        actor = verifier.verify(token)
    log_context.bind(actor=actor.sub, unit=actor.unit)
    return actor


async def now(request: Request) -> datetime:
    return request.app.state.services.settings.clock()


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)
