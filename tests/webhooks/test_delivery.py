"""Webhooks end to end: a real HTTP receiver, Standard Webhooks signatures, retries, the delivery log, rotation,
unit filters, disabling, and two dispatchers on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service import walkthrough as w
from service.config import Settings
from service.domain.actor import Actor
from service.webhooks import subscriptions
from service.webhooks.delivery import Outcome, claim, record
from service.webhooks.fanout import fan_out
from service.webhooks.pipeline import DispatchReport, dispatch
from service.webhooks.safety import UnsafeTarget
from tests.helpers import Api, Who
from tests.webhooks.receiver import Receiver

T0 = datetime(2025, 1, 20, 2, 0, tzinfo=timezone.utc)


async def run_dispatch(api: Api, at: datetime) -> DispatchReport:
    services = api.app.state.services
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        return await dispatch(services.sessions, services.settings, client, now=at)


async def subscribe(api: Api, admin: Who, url: str, events: list[str], units: list[str] | None = None) -> dict:  # type: ignore[type-arg]
    body = {"url": url, "events": events, **({"units": units} if units is not None else {})}
    return await api.ok(await api.client.post("/v1/webhooks", headers=admin.headers, json=body), 201)


async def test_transition_reaches_a_real_receiver_signed_per_standard_webhooks(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        created = await subscribe(api, admin, receiver.url, ["case.transitioned"])
        assert created["secret"].startswith("whsec_")
        case_id, leader = await api.new_case("C3", 2025)
        await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
        report = await run_dispatch(api, datetime.now(timezone.utc))
        assert report.delivered == 1
        await receiver.wait_for(1)
        (body,) = receiver.verified(created["secret"])
        assert body["type"] == "case.transitioned"
        assert {k: body["data"][k] for k in ("case_id", "from", "to", "trigger", "unit", "seq")} == {
            "case_id": case_id,
            "from": "planning",
            "to": "plan_issued",
            "trigger": "issue_plan",
            "unit": "C3",
            "seq": 2,
        }
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43 + "=").verify(receiver.received[0].body, receiver.received[0].headers)
    listed = await api.ok(await api.get(admin, "/v1/webhooks"))
    assert "secret" not in listed[0] and listed[0]["id"] == created["id"]


async def test_units_and_event_types_filter_what_a_subscriber_hears(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        created = await subscribe(api, admin, receiver.url, ["case.opened"], units=["D1"])
        in_district, _ = await api.new_case("C1", 2025)
        await api.new_case("C3", 2025)  # P1, outside D1
        await api.new_case("C9", 2025)  # another province
        await run_dispatch(api, datetime.now(timezone.utc))
        await receiver.wait_for(1)
        await asyncio.sleep(0.2)
        bodies = receiver.verified(created["secret"])
    assert [b["data"]["case_id"] for b in bodies] == [in_district]


async def test_two_failures_then_success_gives_three_attempts_with_growing_waits_and_one_webhook_id(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        receiver.respond_with(500, 500)
        created = await subscribe(api, admin, receiver.url, ["case.opened"])
        await api.new_case("C3", 2025)
        first = await run_dispatch(api, T0)
        assert (first.delivered, first.retrying) == (0, 1)
        assert (await run_dispatch(api, T0 + timedelta(seconds=2))).retrying == 0  # not due yet (~5 s)
        second = await run_dispatch(api, T0 + timedelta(seconds=6))
        assert second.retrying == 1
        assert (await run_dispatch(api, T0 + timedelta(seconds=60))).retrying == 0  # next wait ~300 s
        third = await run_dispatch(api, T0 + timedelta(seconds=400))
        assert third.delivered == 1
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert [r.status for r in receiver.received] == [500, 500, 200]
    assert len(ids) == 1
    log = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}/deliveries"))
    (delivery,) = log["items"]
    assert (delivery["status"], delivery["attempts"], delivery["msg_id"]) == ("delivered", 3, ids.pop())
    detail = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}/deliveries/{delivery['id']}"))
    attempts = detail["attempt_log"]
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    starts = [datetime.fromisoformat(a["started_at"]) for a in attempts]
    assert starts[2] - starts[1] > starts[1] - starts[0]


async def test_410_gone_disables_the_subscription_at_once_and_announces_it(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as gone, Receiver() as monitor:
        gone.respond_with(410)
        created = await subscribe(api, admin, gone.url, ["case.opened"])
        watcher = await subscribe(api, admin, monitor.url, ["webhook.disabled"])
        await api.new_case("C3", 2025)
        report = await run_dispatch(api, T0)
        assert report.failed == 1
        await run_dispatch(api, T0 + timedelta(seconds=1))  # the webhook.disabled event goes out
        await monitor.wait_for(1)
        (notice,) = monitor.verified(watcher["secret"])
    assert notice["type"] == "webhook.disabled"
    assert notice["data"]["subscription_id"] == created["id"]
    state = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}"))
    assert (state["status"], state["disabled_reason"]) == ("disabled", "the receiver answered 410 Gone")
    events = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/events", trigger="webhook_disabled"))
    assert [e["payload"]["id"] for e in events["items"]] == [created["id"]]


async def test_failing_for_the_whole_window_disables_and_replay_redelivers_after_the_fix(api: Api) -> None:
    api.settings.webhook_retry_schedule_seconds = [10, 20]
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        receiver.respond_with(503, 503, 503)
        created = await subscribe(api, admin, receiver.url, ["case.opened"])
        case_id, _ = await api.new_case("C3", 2025)
        for seconds in (0, 11, 35):
            await run_dispatch(api, T0 + timedelta(seconds=seconds))
        state = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}"))
        assert state["status"] == "disabled"
        assert "whole retry window" in state["disabled_reason"]
        await api.ok(await api.client.post(f"/v1/webhooks/{created['id']}/enable", headers=admin.headers))
        replay = await api.ok(
            await api.client.post(
                f"/v1/webhooks/{created['id']}/replay", headers=admin.headers, json={"since": "2025-01-01T00:00:00Z"}
            ),
            202,
        )
        assert replay == {"created": 0, "requeued": 1}
        report = await run_dispatch(api, T0 + timedelta(seconds=60))
        assert report.delivered == 1
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
        assert receiver.received[-1].json()["data"]["case_id"] == case_id


async def test_redeliver_sends_the_same_event_again_with_the_same_id(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        created = await subscribe(api, admin, receiver.url, ["case.opened"])
        await api.new_case("C3", 2025)
        await run_dispatch(api, T0)
        (delivery,) = (await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}/deliveries")))["items"]
        again = await api.client.post(
            f"/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/redeliver", headers=admin.headers
        )
        assert again.status_code == 202
        await run_dispatch(api, T0 + timedelta(seconds=1))
        assert [r.headers["webhook-id"] for r in receiver.received] == [delivery["msg_id"]] * 2


async def test_rotation_signs_with_both_secrets_during_the_overlap_then_only_the_new(api: Api) -> None:
    admin = api.who("admin", "VN")
    api.clock.set(T0)  # the rotation happens at T0; the overlap lasts 24 hours
    with Receiver() as receiver:
        created = await subscribe(api, admin, receiver.url, ["case.opened"])
        old = created["secret"]
        rotated = await api.ok(
            await api.client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=admin.headers)
        )
        new = rotated["secret"]
        assert new != old
        await api.new_case("C3", 2025)
        await run_dispatch(api, T0 + timedelta(hours=1))  # within the 24 h overlap
        during = receiver.received[-1]
        Webhook(old).verify(during.body, during.headers)
        Webhook(new).verify(during.body, during.headers)
        await api.new_case("C1", 2025)
        await run_dispatch(api, T0 + timedelta(hours=30))  # after it
        after = receiver.received[-1]
        Webhook(new).verify(after.body, after.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(after.body, after.headers)


async def test_subscriptions_are_for_admins_within_their_unit(api: Api) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "events": ["case.opened"]}
    refused = await api.client.post("/v1/webhooks", headers=api.who("province_director", "P1").headers, json=body)
    assert refused.status_code == 403
    outside = await api.client.post(
        "/v1/webhooks", headers=api.who("admin", "P1").headers, json={**body, "units": ["C9"]}
    )
    assert outside.status_code == 403
    mine = await api.ok(await api.client.post("/v1/webhooks", headers=api.who("admin", "P1").headers, json=body), 201)
    assert mine["units"] == ["P1"]  # an admin below VN hears its own unit unless it names units within it
    unknown = await api.client.post(
        "/v1/webhooks", headers=api.who("admin", "VN").headers, json={**body, "events": ["case.exploded"]}
    )
    assert unknown.status_code == 422
    other = await api.get(api.who("admin", "P2"), f"/v1/webhooks/{mine['id']}")
    assert other.status_code == 403


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/hook", "https://169.254.169.254/latest", "https://10.0.0.1/x", "https://localhost/hook"]
)
async def test_production_refuses_private_targets_at_subscription(api: Api, url: str) -> None:
    production = Settings(
        env="production",
        webhook_key=api.settings.sealing_key(),
        auth_issuer="i",
        auth_audience="a",
        auth_jwks_url="https://id.example/jwks",
    )
    async with api.app.state.services.sessions() as session:
        with pytest.raises(UnsafeTarget):
            await subscriptions.create(
                session,
                settings=production,
                actor=Actor("admin-1", "Admin", ("admin",), "VN"),
                url=url,
                events=["case.opened"],
                units=None,
                description=None,
                now=T0,
            )


@pytest.mark.postgres
async def test_two_dispatchers_never_post_the_same_attempt(pg_api: Api) -> None:
    api = pg_api
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        await subscribe(api, admin, receiver.url, ["case.opened", "case.transitioned"])
        await api.add_units(*((f"C3{i}", f"Xã Ba {i}", "commune", "P1") for i in range(6)))
        for unit in ("C1", "C2", "C3", *(f"C3{i}" for i in range(6))):
            case_id, leader = await api.new_case(unit, 2025)
            await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
        now = datetime.now(timezone.utc)
        await asyncio.gather(run_dispatch(api, now), run_dispatch(api, now))
        await asyncio.gather(run_dispatch(api, now), run_dispatch(api, now))
        await receiver.wait_for(18)
        ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == 18
    assert len(set(ids)) == 18  # each event posted once: no attempt was made twice


async def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as receiver, Receiver() as elsewhere:
        receiver.respond_with(302, redirect_to=elsewhere.url)
        created = await subscribe(api, admin, receiver.url, ["case.opened"])
        await api.new_case("C3", 2025)
        report = await run_dispatch(api, T0)
        assert report.retrying == 1
        assert elsewhere.received == []
    (delivery,) = (await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}/deliveries")))["items"]
    assert delivery["last_status_code"] == 302
    assert "redirect" in delivery["last_error"] and "refused" in delivery["last_error"]


async def test_a_replay_during_a_backlog_does_not_block_the_fan_out(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as first, Receiver() as second:
        one = await subscribe(api, admin, first.url, ["case.opened"])
        await subscribe(api, admin, second.url, ["case.opened"])
        await api.new_case("C3", 2025)  # not fanned out yet
        replay = await api.ok(
            await api.client.post(
                f"/v1/webhooks/{one['id']}/replay", headers=admin.headers, json={"since": "2025-01-01T00:00:00Z"}
            ),
            202,
        )
        assert replay == {"created": 0, "requeued": 0}  # the backlog reaches it through the fan-out
        report = await run_dispatch(api, T0)
        assert (report.dispatched, report.delivered) == (1, 2)
        assert len(first.received) == len(second.received) == 1


async def test_a_redelivered_failure_starts_a_new_cycle_and_does_not_disable(api: Api) -> None:
    api.settings.webhook_retry_schedule_seconds = [10]
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        receiver.respond_with(200, 400, 200, 400, 400)  # the second event is refused for good; others go through
        created = await subscribe(api, admin, receiver.url, ["case.opened"])
        await api.new_case("C3", 2025)
        await run_dispatch(api, T0)
        await api.new_case("C1", 2025)
        await run_dispatch(api, T0 + timedelta(seconds=1))
        await api.new_case("C2", 2025)
        await run_dispatch(api, T0 + timedelta(seconds=2))
        await run_dispatch(api, T0 + timedelta(seconds=20))
        state = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}"))
        assert state["status"] == "active"  # the subscriber is up; one event it refuses does not disable it
        log = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}/deliveries", status="failed"))
        (failed,) = log["items"]
        await api.ok(
            await api.client.post(
                f"/v1/webhooks/{created['id']}/deliveries/{failed['id']}/redeliver", headers=admin.headers
            ),
            202,
        )
        await run_dispatch(api, T0 + timedelta(seconds=30))
        again = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}/deliveries/{failed['id']}"))
        assert (again["status"], again["attempts"]) == ("pending", 3)  # a new cycle: it retries
        assert (await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}")))["status"] == "active"


async def test_deleting_a_subscription_cancels_its_queue(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        created = await subscribe(api, admin, receiver.url, ["case.opened"])
        await api.new_case("C3", 2025)
        services = api.app.state.services

        await fan_out(services.sessions, now=T0)
        deleted = await api.client.delete(f"/v1/webhooks/{created['id']}", headers=admin.headers)
        assert deleted.status_code == 204
        await run_dispatch(api, T0)
        assert receiver.received == []
    log = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}/deliveries"))
    assert [d["status"] for d in log["items"]] == ["cancelled"]
    refused = await api.client.post(
        f"/v1/webhooks/{created['id']}/replay", headers=admin.headers, json={"since": "2025-01-01T00:00:00Z"}
    )
    assert refused.status_code == 409


async def test_one_round_is_recorded_together_and_a_success_in_it_keeps_the_subscription_active(api: Api) -> None:
    """A round's attempts are recorded in one transaction, successes first: an event refused for good in the same
    round as one the subscriber took does not disable it (it was reached), whatever order the posts came back in."""
    api.settings.webhook_retry_schedule_seconds = []  # the first refusal is final
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        receiver.respond_with(400, 200)  # whichever post arrives first is refused for good, the other is taken
        created = await subscribe(api, admin, receiver.url, ["case.opened"])
        await api.new_case("C3", 2025)
        await api.new_case("C1", 2025)
        report = await run_dispatch(api, T0)
        assert (report.dispatched, report.delivered, report.failed) == (2, 1, 1)
        state = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}"))
        assert state["status"] == "active"
        log = await api.ok(await api.get(admin, f"/v1/webhooks/{created['id']}/deliveries"))
        assert sorted(item["status"] for item in log["items"]) == ["delivered", "failed"]


async def test_a_late_answer_to_a_delivery_taken_over_is_logged_and_changes_nothing(api: Api) -> None:
    """Dispatcher A's lease ran out before its post came back and B claimed the delivery again: A's success is
    recorded as an attempt, the delivery stays B's (pending, B's attempt number), and B's own answer then counts."""
    admin = api.who("admin", "VN")
    created = await subscribe(api, admin, "http://127.0.0.1:9/hook", ["case.opened"])
    await api.new_case("C3", 2025)
    services = api.app.state.services
    sessions, settings = services.sessions, services.settings
    await fan_out(sessions, now=T0)
    (first,) = await claim(sessions, settings, now=T0)
    later = T0 + timedelta(seconds=settings.webhook_lease_seconds + 1)
    (second,) = await claim(sessions, settings, now=later)
    assert (first.delivery_id, first.number, second.number) == (second.delivery_id, 1, 2)
    answer = Outcome(204, 3, None, None)
    assert await record(sessions, settings, [(first, answer)], now=later) == ["pending"]
    path = f"/v1/webhooks/{created['id']}/deliveries/{first.delivery_id}"
    delivery = await api.ok(await api.get(admin, path))
    assert (delivery["status"], delivery["attempts"]) == ("pending", 2)
    assert await record(sessions, settings, [(second, answer)], now=later) == ["delivered"]
    delivery = await api.ok(await api.get(admin, path))
    assert delivery["status"] == "delivered"
    assert [a["number"] for a in delivery["attempt_log"]] == [1, 2]
