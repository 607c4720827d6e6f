"""The operators' metrics (issue 15 point 6) as deadlines, sweeps and webhook deliveries happen, read from the
API's ``/metrics`` like Prometheus reads them, on both databases; the exposition passes ``promtool check metrics``.

Counters are the process's (several tests share them), so their changes are asserted; the state gauges are read
from this test's own database, so their values are."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from pydantic import SecretStr

from service.domain.actor import system_actor
from service.domain.audit.checkpoints import create_checkpoint
from service.persistence.db import unit_of_work
from service.webhooks.pipeline import dispatch
from service.workers.deadlines import sweep
from tests.helpers import Api
from tests.telemetry.prom import has_family, promtool_check, value
from tests.webhooks.receiver import Receiver

XA = {"procedure": "cdht_xa", "deadline": "submission"}


async def scrape(api: Api) -> str:
    response = await api.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def run_sweep(api: Api, at: str) -> None:
    services = api.app.state.services
    await sweep(services.sessions, services.registry, now=datetime.fromisoformat(at))


async def run_dispatch(api: Api, at: datetime) -> None:
    services = api.app.state.services
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        await dispatch(services.sessions, services.settings, client, now=at)


async def test_deadline_and_sweep_metrics_follow_the_cases(api: Api) -> None:
    before = await scrape(api)
    assert value(before, "cdht_deadlines", status="open", **XA) == 0
    await api.new_case("C3", 2025)
    opened = await scrape(api)
    assert value(opened, "cdht_deadlines", status="open", **XA) == 1
    assert value(opened, "cdht_deadlines_past_due", **XA) == 0
    assert value(opened, "cdht_outbox_pending") == 1  # case.opened, not fanned out yet

    await run_sweep(api, "2026-02-15T09:00:00+07:00")  # 13 days before the 28/02/2026 cut-off: the 14-day reminder
    reminded = await scrape(api)
    assert (
        value(reminded, "cdht_deadline_reminders_total", **XA) - value(before, "cdht_deadline_reminders_total", **XA)
        == 1
    )
    assert (
        value(reminded, "cdht_sweep_cases_total", outcome="reminded")
        - value(before, "cdht_sweep_cases_total", outcome="reminded")
        == 1
    )

    api.clock.set("2026-03-01T09:00:00+07:00")
    late = await scrape(api)
    assert value(late, "cdht_deadlines_past_due", **XA) == 1  # past due, the sweeper has not been by yet
    await run_sweep(api, "2026-03-01T09:00:00+07:00")
    swept = await scrape(api)
    breaches = "cdht_deadline_breaches_total"
    assert value(swept, breaches, action="fire", **XA) - value(before, breaches, action="fire", **XA) == 1
    assert (
        value(swept, "cdht_sweep_cases_total", outcome="fired")
        - value(before, "cdht_sweep_cases_total", outcome="fired")
        == 1
    )
    assert value(swept, "cdht_sweep_duration_seconds_count") - value(before, "cdht_sweep_duration_seconds_count") == 2
    assert value(swept, "cdht_deadlines", status="open", **XA) == 0
    assert value(swept, "cdht_deadlines", status="breached", **XA) == 1
    assert value(swept, "cdht_deadlines_past_due", **XA) == 0


async def test_delivery_metrics_follow_attempts_queue_and_disabled_subscriptions(api: Api) -> None:
    admin = api.who("admin", "VN")
    with Receiver() as flaky, Receiver() as gone:
        flaky.respond_with(500)  # then 200
        gone.respond_with(410)
        for receiver in (flaky, gone):
            body = {"url": receiver.url, "events": ["case.opened"]}
            await api.ok(await api.client.post("/v1/webhooks", headers=admin.headers, json=body), 201)
        before = await scrape(api)
        await api.new_case("C3", 2025)
        start = api.settings.clock()
        api.clock.set(start + timedelta(seconds=30))
        queued = await scrape(api)
        assert value(queued, "cdht_outbox_pending") == 1
        assert value(queued, "cdht_outbox_lag_seconds") == 30

        await run_dispatch(api, start + timedelta(seconds=30))
        first = await scrape(api)
        attempts = "cdht_webhook_attempts_total"

        def added(text: str, **labels: str) -> float:
            return value(text, attempts, **labels) - value(before, attempts, **labels)

        assert added(first, result="retrying", status_class="5xx") == 1
        assert added(first, result="failed", status_class="4xx") == 1
        # case.opened fanned out; the webhook.disabled event written just now waits for the next pass
        assert value(first, "cdht_outbox_pending") == 1 and value(first, "cdht_outbox_lag_seconds") == 0
        assert value(first, "cdht_webhook_queue_depth") == 1  # the flaky one's retry
        assert value(first, "cdht_webhook_subscriptions", status="disabled") == 1  # 410 Gone
        assert value(first, "cdht_webhook_subscriptions", status="active") == 1

        await run_dispatch(api, start + timedelta(seconds=400))
        second = await scrape(api)
        assert added(second, result="delivered", status_class="2xx") == 1
        assert value(second, "cdht_webhook_queue_depth") == 0
        latency = "cdht_webhook_attempt_duration_seconds_count"
        assert value(second, latency) - value(before, latency) == 3


async def test_checkpoint_age_and_the_exposition_passes_promtool(api: Api) -> None:
    assert (
        not has_family(await scrape(api), "cdht_audit_checkpoint_age_seconds")
        or value(await scrape(api), "cdht_audit_checkpoint_age_seconds") == 0
    )
    await api.new_case("C3", 2025)
    services = api.app.state.services
    async with unit_of_work(services.sessions) as session:
        await create_checkpoint(
            session, settings=services.settings, actor=system_actor("checkpoints"), now=api.settings.clock()
        )
    api.clock.set(api.settings.clock() + timedelta(hours=2))
    text = await scrape(api)
    assert value(text, "cdht_audit_checkpoint_age_seconds") == 7200
    assert value(text, "cdht_http_requests_total", method="POST", route="/v1/cases", status="201") >= 1
    assert promtool_check(text) == ""


async def test_metrics_token_when_set(api: Api) -> None:
    api.settings.metrics_token = SecretStr("scrape-me")
    refused = await api.client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["reasons"][0]["code"] == "missing_token"
    wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["reasons"][0]["code"] == "invalid_token"
    right = await api.client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert right.status_code == 200 and "cdht_deadlines" in right.text
