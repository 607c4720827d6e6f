"""The webhook dispatcher loop: fan out the outbox and deliver, until stopped (inside `cdht serve` or
`cdht worker`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings
from service.webhooks.delivery import dispatch

log = logging.getLogger("cdht.webhooks")


def http_client() -> httpx.AsyncClient:
    # No redirects (a 3xx is a failed attempt), no proxies from the environment, a bounded pool.
    return httpx.AsyncClient(
        follow_redirects=False, trust_env=False, limits=httpx.Limits(max_connections=50, max_keepalive_connections=20)
    )


async def run_dispatcher(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    stop: asyncio.Event,
) -> None:
    """Dispatch while there is work; otherwise wait ``webhook_poll_seconds``."""
    async with http_client() as client:
        while not stop.is_set():
            busy = False
            try:
                report = await dispatch(sessions, settings, client, now=clock())
                busy = bool(report.dispatched or report.delivered or report.retrying or report.failed)
            except Exception:
                log.exception("webhook dispatch failed; retrying")
            if not busy:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=settings.webhook_poll_seconds)
                except TimeoutError:
                    pass
