"""A disabled subscription's pending deliveries are held out of every claim (``webhook_delivery.held``), kept in the
log, and resumed in their order when it is enabled again; what is queued for it while disabled is held too."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import select

from service.persistence.db import unit_of_work
from service.persistence.tables import WebhookDelivery, WebhookSubscription
from service.webhooks import subscriptions
from service.webhooks.delivery import DISPATCHER, Outcome, claim, record
from service.webhooks.fanout import fan_out
from service.webhooks.pipeline import DispatchReport, dispatch
from tests.helpers import Api, Who
from tests.webhooks.receiver import Receiver

T0 = datetime(2025, 1, 20, 2, 0, tzinfo=timezone.utc)
LATER = T0 + timedelta(hours=1)


async def subscribe(api: Api, admin: Who, url: str) -> str:
    body = {"url": url, "events": ["case.opened"]}
    return (await api.ok(await api.client.post("/v1/webhooks", headers=admin.headers, json=body), 201))["id"]


async def disable(api: Api, subscription_id: str) -> None:
    """As the dispatcher disables a subscription (410 Gone, or failing for the whole retry window)."""
    async with unit_of_work(api.app.state.services.sessions) as session:
        subscription = await session.get(WebhookSubscription, subscription_id, with_for_update=True)
        assert subscription is not None
        await subscriptions.disable(session, subscription=subscription, actor=DISPATCHER, reason="gone", now=T0)


async def enable(api: Api, admin: Who, subscription_id: str) -> None:
    await api.ok(await api.client.post(f"/v1/webhooks/{subscription_id}/enable", headers=admin.headers))


async def queue(api: Api, subscription_id: str) -> list[tuple[str, bool, datetime]]:
    """(status, held, next attempt) of the subscription's deliveries, in the order of their next attempt."""
    async with api.app.state.services.sessions() as session:
        rows = await session.execute(
            select(WebhookDelivery.status, WebhookDelivery.held, WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.subscription_id == subscription_id)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        )
        return [(status, held, when.replace(tzinfo=timezone.utc)) for status, held, when in rows]


async def claim_all(api: Api, now: datetime, batch: int = 50) -> list[tuple[str, str]]:
    """(subscription, case) of every delivery a claim at ``now`` takes, in the order it takes them."""
    services = api.app.state.services
    taken = await claim(services.sessions, services.settings, now=now, batch=batch)
    return [(item.subscription_id, json.loads(item.body)["data"]["case_id"]) for item in taken]


async def run_dispatch(api: Api, at: datetime) -> DispatchReport:
    services = api.app.state.services
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        return await dispatch(services.sessions, services.settings, client, now=at)


async def test_a_disabled_subscriptions_deliveries_are_never_claimed_nor_lost_and_resume_in_order(api: Api) -> None:
    admin = api.who("admin", "VN")
    services = api.app.state.services
    with Receiver() as gone, Receiver() as other:
        held_id, other_id = await subscribe(api, admin, gone.url), await subscribe(api, admin, other.url)
        cases = []
        for k, unit in enumerate(("C1", "C3", "C9")):  # fanned out one after the other: three next attempts in order
            cases.append((await api.new_case(unit, 2025))[0])
            await fan_out(services.sessions, now=T0 + timedelta(seconds=k))
        before = await queue(api, held_id)
        await disable(api, held_id)

        held = await queue(api, held_id)
        assert held == [(status, True, when) for status, _, when in before]
        assert {status for status, _, _ in held} == {"pending"}
        log = await api.ok(await api.get(admin, f"/v1/webhooks/{held_id}/deliveries"))
        assert [d["status"] for d in log["items"]] == ["pending"] * 3  # kept, and still pending to the API
        assert await claim_all(api, LATER) == [(other_id, case_id) for case_id in cases]
        assert await claim_all(api, LATER) == []
        assert [h for _, h, _ in await queue(api, other_id)] == [False] * 3

        await enable(api, admin, held_id)
        assert await queue(api, held_id) == before  # each as it was: pending, its next attempt, not held
        resumed = [await claim_all(api, LATER, batch=1) for _ in cases]
        assert resumed == [[(held_id, case_id)] for case_id in cases]  # in their order, one claim at a time

        lease = timedelta(seconds=services.settings.webhook_lease_seconds + 1)
        report = await run_dispatch(api, LATER + lease)
        assert report.delivered == 6
        await gone.wait_for(3)
    assert sorted(r.json()["data"]["case_id"] for r in gone.received) == sorted(cases)
    assert {status for status, _, _ in await queue(api, held_id)} == {"delivered"}


async def test_an_attempt_in_flight_when_disabled_is_recorded_and_its_retry_held(api: Api) -> None:
    admin = api.who("admin", "VN")
    services = api.app.state.services
    with Receiver() as gone:
        held_id = await subscribe(api, admin, gone.url)
        first, _ = await api.new_case("C1", 2025)
        second, _ = await api.new_case("C3", 2025)
        await fan_out(services.sessions, now=T0)
        taken = await claim(services.sessions, services.settings, now=T0, batch=2)
        assert len(taken) == 2
        await disable(api, held_id)  # both in flight
        outcomes = [(taken[0], Outcome(200, 5, None, None)), (taken[1], Outcome(503, 5, None, None))]
        assert await record(services.sessions, services.settings, outcomes, now=T0) == ["delivered", "retrying"]
        queued = await queue(api, held_id)
        assert sorted((status, held) for status, held, _ in queued) == [("delivered", True), ("pending", True)]
        assert await claim_all(api, LATER) == []

        await enable(api, admin, held_id)
        case_id = json.loads(taken[1].body)["data"]["case_id"]
        assert await claim_all(api, LATER) == [(held_id, case_id)]
    assert {first, second} == {json.loads(item.body)["data"]["case_id"] for item in taken}


async def test_redelivery_and_replay_to_a_disabled_subscription_wait_until_it_is_enabled(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        held_id = await subscribe(api, admin, receiver.url)
        case_id, _ = await api.new_case("C3", 2025)
        assert (await run_dispatch(api, T0)).delivered == 1
        await disable(api, held_id)
        (delivery,) = (await api.ok(await api.get(admin, f"/v1/webhooks/{held_id}/deliveries")))["items"]
        again = await api.client.post(
            f"/v1/webhooks/{held_id}/deliveries/{delivery['id']}/redeliver", headers=admin.headers
        )
        assert again.status_code == 202
        assert [(status, held) for status, held, _ in await queue(api, held_id)] == [("pending", True)]
        assert await claim_all(api, LATER) == []
        replayed = await api.client.post(
            f"/v1/webhooks/{held_id}/replay", headers=admin.headers, json={"since": "2025-01-01T00:00:00Z"}
        )
        assert replayed.status_code == 202
        assert [(status, held) for status, held, _ in await queue(api, held_id)] == [("pending", True)]
        assert await claim_all(api, LATER) == []

        await enable(api, admin, held_id)
        assert (await run_dispatch(api, LATER)).delivered == 1
        await receiver.wait_for(2)
    assert [r.json()["data"]["case_id"] for r in receiver.received] == [case_id] * 2


async def test_deleting_a_disabled_subscription_cancels_what_it_held(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        held_id = await subscribe(api, admin, receiver.url)
        await api.new_case("C3", 2025)
        await fan_out(api.app.state.services.sessions, now=T0)
        await disable(api, held_id)
        assert (await api.client.delete(f"/v1/webhooks/{held_id}", headers=admin.headers)).status_code == 204
    assert [(status, held) for status, held, _ in await queue(api, held_id)] == [("cancelled", True)]
