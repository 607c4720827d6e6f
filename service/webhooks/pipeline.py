"""A dispatcher's deliveries in flight: claimed, posted and recorded in overlapping batches.

A ``Pipeline`` holds at most ``webhook_concurrency`` deliveries between their claim and the record of their attempt,
and posts at most ``webhook_subscription_concurrency`` at once to one subscription, so a slow subscriber fills its
own share and the others' deliveries keep going beside it. A fixed set of poster tasks (one per place in flight,
started with the pipeline and living as long as it does) takes the claimed deliveries from a queue and posts them,
each on its own. The driver (``drain``, or ``service.workers.webhooks``) claims the next due deliveries whenever a
quarter of the places is free and some subscription has a quarter of its share free (``delivery.claim``: ``FOR
UPDATE SKIP LOCKED`` and a lease, committed before posting); a recorder task records every attempt that has come
back, a round per transaction (``delivery.record``), on a connection of its own, while the driver claims and the
posters post. So no claim waits for a record, no record for a claim, and nothing for the slowest post of a round.

One exception keeps a rule of ``delivery.record``: a failure that ends its cycle may disable the subscription unless
something reached the subscriber since the cycle began, so it is recorded only once no other attempt to the same
subscription is still out and no claim (which may be taking some) is under way (their successes are recorded with
it, first), and meanwhile that subscription gets no new claims. ``dispatch`` is one pass (fan out, then claim until
nothing is due, then wait for every attempt); ``service.workers.webhooks`` keeps one pipeline running across passes.
A pipeline is used as ``async with``: leaving it stops its posters and its recorder (an attempt cut short is not
recorded; its lease brings the delivery back).
"""

from __future__ import annotations

import asyncio
import logging
import time
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
# How long the subscriptions that are not full may wait behind those that are: a claim that leaves the full ones out
# reads past all their due deliveries (thousands for one subscriber behind), so it is not repeated while they stay
# full, but once in this many seconds, for deliveries of others that a claim's batch did not reach.
LOOK_AGAIN_SECONDS = 0.25


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
        # A subscription takes part in a claim once a quarter of its share is free: a claim's transaction costs
        # about as much as posting a few deliveries, so one claim per answer would cost more than the posts.
        self.step = max(1, self.share // 4)
        self.claimed: dict[str, Claimed] = {}  # delivery id -> claimed and not yet recorded
        self.posting: Counter[str] = Counter()  # subscription id -> claimed and not yet answered
        self.returned: list[tuple[Claimed, Outcome]] = []  # posted, waiting to be recorded
        self.queue: asyncio.Queue[Claimed] = asyncio.Queue()  # claimed, for the posters
        self.posters: list[asyncio.Task[None]] = []
        self.reached_at: dict[str, datetime] = {}  # subscription id -> when this pipeline last wrote its last success
        self.report = DispatchReport()
        self.exhausted = False  # the last claim found nothing due for any subscription it could take
        self.waiting_on: frozenset[str] | None = None  # the last claim left what was due to these (at their share)
        self.waiting_since = 0.0  # when (time.monotonic())
        self.claiming = False  # a claim is in flight (its rows are not yet in ``posting``)
        self.recording: asyncio.Task[None] | None = None  # recording what came back, round after round
        self._changed = asyncio.Event()  # an answer came back or a round was recorded since the driver last looked

    async def __aenter__(self) -> Pipeline:
        # As many posters as places in flight: a claimed delivery never waits for one.
        self.posters = [asyncio.create_task(self._poster()) for _ in range(self.limit)]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        tasks = [*self.posters, *([self.recording] if self.recording is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.posters, self.recording = [], None

    @property
    def busy(self) -> bool:
        return bool(self.claimed)

    def room(self) -> int:
        return self.limit - len(self.claimed)

    def _held(self) -> set[str]:
        """Subscriptions with a cycle-ending failure waiting for their other attempts to come back (a claim in
        flight may be taking some)."""
        return {
            item.subscription_id
            for item, outcome in self.returned
            if (self.claiming or self.posting[item.subscription_id]) and ends_cycle(self.settings, item, outcome)
        }

    def _full(self) -> set[str]:
        """Subscriptions a claim leaves out now: less than a step of their share free, or held."""
        return {sid for sid, n in self.posting.items() if self.share - n < self.step} | self._held()

    def wants_claim(self) -> bool:
        """Whether a claim now may take something: nothing in flight; or a quarter of the places free, and the last
        claim did not leave what was due to subscriptions that are still full (claimed for again once one of them
        has a step free, or after LOOK_AGAIN_SECONDS)."""
        if not self.claimed:
            return True
        if self.room() * 4 < self.limit:
            return False
        return (
            self.waiting_on is None
            or not self.waiting_on <= self._full()
            or time.monotonic() - self.waiting_since >= LOOK_AGAIN_SECONDS
        )

    def news(self) -> None:
        """Something may have become due (a fan-out, time): the next claim looks again at every subscription."""
        self.waiting_on = None
        self.exhausted = False

    async def fill(self, most: int | None = None) -> int:
        """Claim up to the room left (and ``most``), leaving out subscriptions with less than a step of their
        share free; queue each for a poster at once. Attempts keep being recorded meanwhile."""
        wanted = self.room() if most is None else min(self.room(), most)
        if wanted <= 0:
            return 0
        full = self._full()
        self.claiming = True
        try:
            items = await claim(
                self.sessions,
                self.settings,
                now=self.clock(),
                batch=wanted,
                room=lambda sid: self.share - self.posting[sid],
                skip=full,
            )
            for item in items:
                self.claimed[item.delivery_id] = item
                self.posting[item.subscription_id] += 1
                self.queue.put_nowait(item)
        finally:
            self.claiming = False
            self._record_soon()  # a held failure may be recordable now
        self.exhausted = not items and not full
        # What is still due is taken to belong to the subscriptions left out or filled up just now: no claim again
        # before one of them has a step free, ``news`` or LOOK_AGAIN_SECONDS.
        filled = {item.subscription_id for item in items if self.share - self.posting[item.subscription_id] < self.step}
        self.waiting_on, self.waiting_since = frozenset(full | filled) or None, time.monotonic()
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
            self._changed.set()
            self._record_soon()

    def _ready(self) -> list[tuple[Claimed, Outcome]]:
        held = self._held()
        return [(item, outcome) for item, outcome in self.returned if item.subscription_id not in held]

    def _record_soon(self) -> None:
        """Start recording what came back, unless a recording is under way (it takes the rest when its round is
        done) or ended in an error the driver has not seen yet."""
        if self.recording is None and self._ready():
            self.recording = asyncio.create_task(self._record_rounds())

    async def _record_rounds(self) -> None:
        """Record every attempt that may be recorded, a round (one transaction) at a time, while claims and posts
        go on; what comes back during a round is recorded by the next."""
        while ready := self._ready():
            results = await record(self.sessions, self.settings, ready, now=self.clock(), reached_at=self.reached_at)
            recorded = {item.delivery_id for item, _ in ready}
            self.returned = [(item, outcome) for item, outcome in self.returned if item.delivery_id not in recorded]
            for (item, outcome), result in zip(ready, results, strict=True):
                del self.claimed[item.delivery_id]
                metrics.WEBHOOK_ATTEMPTS.labels(result, metrics.status_class(outcome.status_code)).inc()
                metrics.WEBHOOK_SECONDS.observe(outcome.latency_ms / 1000)
                if result in ("delivered", "retrying", "failed"):
                    setattr(self.report, result, getattr(self.report, result) + 1)
            self._changed.set()
        self.recording = None  # on an error it stays, done, until ``settle`` hands the error to the driver

    async def settle(self, timeout: float | None = None) -> None:
        """Wait (up to ``timeout``) until an answer came back or a round was recorded since the last call, unless
        one did already; raise the error of a recording that failed (its attempts stay, for the next round)."""
        self._record_soon()
        if not self._changed.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
            except TimeoutError:
                pass
        self._changed.clear()
        if self.recording is not None and self.recording.done():
            failed, self.recording = self.recording, None
            self._changed.set()  # look again at once: what failed is recorded again by the next round
            failed.result()

    async def drain(self, budget: int | None = None) -> None:
        """Claim until nothing more is due (or ``budget`` deliveries were claimed) and record every attempt."""
        claimed = 0
        while True:
            most = None if budget is None else budget - claimed
            if not self.exhausted and (most is None or most > 0) and self.wants_claim():
                claimed += await self.fill(most)
            if not self.claimed:
                return
            await self.settle(LOOK_AGAIN_SECONDS if self.waiting_on else None)


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
