"""A dispatcher's deliveries in flight: claimed, posted and recorded in overlapping batches.

A ``Pipeline`` holds at most ``webhook_concurrency`` deliveries between their claim and the record of their attempt,
and posts at most ``webhook_subscription_concurrency`` at once to one subscription, so a slow subscriber fills its
own share and the others' deliveries keep going beside it. A fixed set of poster tasks (one per place in flight,
started with the pipeline and living as long as it does) takes the claimed deliveries from a queue and posts them,
each on its own; whenever room frees up, the next due deliveries are claimed (``delivery.claim``: ``FOR UPDATE SKIP
LOCKED`` and a lease, committed before posting), and every attempt that has come back is recorded in one
transaction (``delivery.record``) while the others are still being posted. Nothing waits for the slowest post of a
round, and no task is created per delivery.

One exception keeps a rule of ``delivery.record``: a failure that ends its cycle may disable the subscription unless
something reached the subscriber since the cycle began, so it is recorded only once no other attempt to the same
subscription is still out (their successes are recorded with it, first), and meanwhile that subscription gets no
new claims. ``dispatch`` is one pass (fan out, then claim until nothing is due, then wait for every attempt);
``service.workers.webhooks`` keeps one pipeline running across passes. A pipeline is used as ``async with``: leaving
it stops its posters (an attempt cut short is not recorded; its lease brings the delivery back).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.config import Settings
from service.telemetry import metrics
from service.webhooks.delivery import Claimed, Outcome, claim, ends_cycle, post, record
from service.webhooks.fanout import fan_out

log = logging.getLogger("cdht.webhooks")


@dataclass
class DispatchReport:
    dispatched: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


class Pipeline:
    """Deliveries from their claim to the record of their attempt, bounded in all and per subscription."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        sender: httpx.AsyncClient | httpx.AsyncBaseTransport,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions, self.settings, self.sender, self.clock = sessions, settings, sender, clock
        self.limit = settings.webhook_concurrency
        self.share = min(settings.webhook_subscription_concurrency, self.limit)
        self.claimed: dict[str, Claimed] = {}  # delivery id -> claimed and not yet recorded
        self.posting: Counter[str] = Counter()  # subscription id -> claimed and not yet answered
        self.returned: list[tuple[Claimed, Outcome]] = []  # posted, waiting to be recorded
        self.queue: asyncio.Queue[Claimed] = asyncio.Queue()  # claimed, for the posters
        self.posters: list[asyncio.Task[None]] = []
        self.reached_at: dict[str, datetime] = {}  # subscription id -> when this pipeline last wrote its last success
        self.report = DispatchReport()
        self.exhausted = False  # the last claim found nothing due for any subscription it could take
        self._returned = asyncio.Event()

    async def __aenter__(self) -> Pipeline:
        # As many posters as places in flight: a claimed delivery never waits for one.
        self.posters = [asyncio.create_task(self._poster()) for _ in range(self.limit)]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for task in self.posters:
            task.cancel()
        await asyncio.gather(*self.posters, return_exceptions=True)
        self.posters = []

    @property
    def busy(self) -> bool:
        return bool(self.claimed)

    def room(self) -> int:
        return self.limit - len(self.claimed)

    def _held(self) -> set[str]:
        """Subscriptions with a cycle-ending failure waiting for their other attempts to come back."""
        return {
            item.subscription_id
            for item, outcome in self.returned
            if self.posting[item.subscription_id] and ends_cycle(self.settings, item, outcome)
        }

    async def fill(self, most: int | None = None) -> int:
        """Claim up to the room left (and ``most``), leaving out subscriptions at their share; queue each for a
        poster at once."""
        wanted = self.room() if most is None else min(self.room(), most)
        if wanted <= 0:
            return 0
        full = {sid for sid, n in self.posting.items() if n >= self.share} | self._held()
        items = await claim(
            self.sessions,
            self.settings,
            now=self.clock(),
            batch=wanted,
            room=lambda sid: self.share - self.posting[sid],
            skip=full,
        )
        self.exhausted = not items and not full
        for item in items:
            self.claimed[item.delivery_id] = item
            self.posting[item.subscription_id] += 1
            self.queue.put_nowait(item)
        return len(items)

    async def _poster(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                outcome = await post(self.sender, self.settings, item)
            except Exception as exc:  # never lose the slot: an unexpected error is a failed attempt like any other
                log.exception("webhook post of delivery %s failed", item.delivery_id)
                outcome = Outcome(None, 0, f"{type(exc).__name__}: {exc}"[:500], None)
            self.posting[item.subscription_id] -= 1
            if not self.posting[item.subscription_id]:
                del self.posting[item.subscription_id]
            self.returned.append((item, outcome))
            self._returned.set()

    async def settle(self, timeout: float | None = None) -> int:
        """Wait for attempts to come back (up to ``timeout``), then record all that may be recorded in one
        transaction; returns how many were recorded."""
        held = self._held()
        ready = [(item, outcome) for item, outcome in self.returned if item.subscription_id not in held]
        if not ready:
            self._returned.clear()
            try:
                await asyncio.wait_for(self._returned.wait(), timeout)
            except TimeoutError:
                return 0
            held = self._held()
            ready = [(item, outcome) for item, outcome in self.returned if item.subscription_id not in held]
            if not ready:
                return 0
        results = await record(self.sessions, self.settings, ready, now=self.clock(), reached_at=self.reached_at)
        recorded = {item.delivery_id for item, _ in ready}
        self.returned = [(item, outcome) for item, outcome in self.returned if item.delivery_id not in recorded]
        for (item, outcome), result in zip(ready, results, strict=True):
            del self.claimed[item.delivery_id]
            metrics.WEBHOOK_ATTEMPTS.labels(result, metrics.status_class(outcome.status_code)).inc()
            metrics.WEBHOOK_SECONDS.observe(outcome.latency_ms / 1000)
            if result in ("delivered", "retrying", "failed"):
                setattr(self.report, result, getattr(self.report, result) + 1)
        return len(ready)

    async def drain(self, budget: int | None = None) -> None:
        """Claim until nothing more is due (or ``budget`` deliveries were claimed) and record every attempt."""
        claimed = 0
        while True:
            most = None if budget is None else budget - claimed
            # Claim in batches (a quarter of the room at least), not one delivery per returned post.
            if (
                not self.exhausted
                and (most is None or most > 0)
                and (not self.claimed or self.room() * 4 >= self.limit)
            ):
                claimed += await self.fill(most)
            if not self.claimed:
                return
            await self.settle()


async def dispatch(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    sender: httpx.AsyncClient | httpx.AsyncBaseTransport,
    *,
    now: datetime,
    rounds: int = 5,
) -> DispatchReport:
    """One pass at ``now``: fan out, then deliver up to ``rounds × webhook_concurrency`` through a pipeline and wait
    for every attempt to be recorded."""
    dispatched = await fan_out(sessions, now=now)
    async with Pipeline(sessions, settings, sender, lambda: now) as pipeline:
        await pipeline.drain(rounds * settings.webhook_concurrency)
    pipeline.report.dispatched = dispatched
    return pipeline.report
