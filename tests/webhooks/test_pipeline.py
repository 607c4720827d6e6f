"""The dispatcher's pipeline with real HTTP receivers: a slow subscriber fills its own share of the deliveries in
flight and the others' deliveries go through beside it (both databases)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import httpx

from service.webhooks.pipeline import dispatch
from tests.helpers import Api
from tests.webhooks.receiver import Receiver

SLOW = 4.0  # seconds the slow receiver takes to answer each post


async def test_a_slow_subscriber_does_not_hold_a_fast_one(api: Api) -> None:
    api.settings.webhook_concurrency = 4
    api.settings.webhook_subscription_concurrency = 2
    admin = api.who("admin", "VN")
    with Receiver() as slow, Receiver() as fast:
        slow.respond_with(then=200, delay=SLOW)
        for receiver in (slow, fast):
            body = {"url": receiver.url, "events": ["case.opened"]}
            await api.ok(await api.client.post("/v1/webhooks", headers=admin.headers, json=body), 201)
        await api.add_units(*((f"C3{i}", f"Xã Ba {i}", "commune", "P1") for i in range(5)))
        for unit in ("C1", "C2", "C3", *(f"C3{i}" for i in range(5))):
            await api.new_case(unit, 2025)
        services = api.app.state.services
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            passing = asyncio.create_task(
                dispatch(services.sessions, services.settings, client, now=datetime.now(timezone.utc))
            )
            # Every event reaches the fast receiver while the slow one still holds its first posts: no more than
            # its share (2 of the 4 in flight) went to it, and none of them has been answered yet.
            await fast.wait_for(8, timeout=SLOW - 1)
            assert len(slow.requests()) <= 2
            assert not passing.done()
            report = await passing
        assert (report.dispatched, report.delivered) == (8, 16)
        assert len(slow.requests()) == len(fast.requests()) == 8
        assert len({r.headers["webhook-id"] for r in fast.requests()}) == 8


async def test_a_failure_that_ends_its_cycle_waits_for_the_subscriptions_other_attempts(api: Api) -> None:
    """The first answer (a refusal, final at once) comes back long before the other post's success; recorded
    together, the success first, the subscription is seen as reached and stays active."""
    api.settings.webhook_retry_schedule_seconds = []
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        created = await api.ok(
            await api.client.post(
                "/v1/webhooks", headers=admin.headers, json={"url": receiver.url, "events": ["case.opened"]}
            ),
            201,
        )
        await api.new_case("C3", 2025)
        await api.new_case("C1", 2025)
        receiver.respond_with(400, then=200)
        services = api.app.state.services
        original = receiver._next_status

        def refuse_at_once_then_answer_late() -> tuple[int, str | None, float]:
            status, redirect_to, _ = original()
            return status, redirect_to, 0.0 if status == 400 else 1.5

        receiver._next_status = refuse_at_once_then_answer_late  # type: ignore[method-assign]
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            report = await dispatch(services.sessions, services.settings, client, now=datetime.now(timezone.utc))
        assert (report.delivered, report.failed) == (1, 1)
    state = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}"))
    assert state["status"] == "active"
