"""The webhook dispatcher loop: fan out the outbox and deliver, until stopped (inside `cdht serve` or
`cdht worker`). One ``Pipeline`` runs across passes, so deliveries stay in flight while the next are claimed and
the last recorded."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings
from service.webhooks.fanout import fan_out
from service.webhooks.pipeline import Pipeline
from service.webhooks.transport import KeptAliveTransport

log = logging.getLogger("cdht.webhooks")
FAN_OUT_EVERY = 0.25  # seconds between fan-outs while the last found nothing and deliveries are in flight


def http_transport(settings: Settings | None = None) -> KeptAliveTransport:
    """One transport for the dispatcher's life, handed each request directly (no client: a delivery needs none of
    its cookies, auth, redirects or merged defaults): connections kept alive between deliveries, per address
    (``transport.KeptAliveTransport``; the pipeline bounds how many are in use, ``webhook_concurrency``). Redirects
    are never followed (a 3xx is a failed attempt); no proxies from the environment."""
    return KeptAliveTransport(max_idle=settings.webhook_concurrency if settings is not None else 64)


async def run_dispatcher(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    stop: asyncio.Event,
) -> None:
    """Fan out and keep the pipeline full while there is work; otherwise wait ``webhook_poll_seconds``. On stop,
    the attempts in flight are waited for and recorded."""
    async with http_transport(settings) as transport, Pipeline(sessions, settings, transport, clock) as pipeline:
        fanned, last_fan_out = 0, float("-inf")
        while not stop.is_set():
            try:
                if fanned or not pipeline.busy or time.monotonic() - last_fan_out >= FAN_OUT_EVERY:
                    fanned, last_fan_out = await fan_out(sessions, now=clock()), time.monotonic()
                    pipeline.news()  # new events, or retries come due with time
                claimed = 0
                if not pipeline.exhausted and pipeline.wants_claim():
                    claimed = await pipeline.fill()
                if pipeline.busy:
                    await pipeline.settle(timeout=FAN_OUT_EVERY)
                    continue
                busy = bool(fanned or claimed)
            except Exception:
                log.exception("webhook dispatch failed; retrying")
                busy = False
            if not busy:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=settings.webhook_poll_seconds)
                except TimeoutError:
                    pass
        try:
            while pipeline.busy:
                await pipeline.settle()
        except Exception:
            log.exception("recording the last webhook attempts failed; their leases will bring them back")
