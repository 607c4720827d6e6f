"""kill -9 of the API process under load, then a restart on the same database (PostgreSQL).

One ``cdht serve`` (migrating first and running its workers in-process, as a single-process deployment does)
takes the writes of ten clients, each walking a commune case of its own from the opening through the plan, the
assignment and, indicator by indicator, the evidence upload, its submission and its acceptance: a steady stream
of opens, case transitions, indicator transitions and uploads, each with an Idempotency-Key where the API takes
one. Once 60 writes have been acknowledged the process is killed with SIGKILL, whatever it is doing; the clients'
requests in flight are cut off. It is started again on the same port, and each client sends the request that got
no answer again, with the same key, then goes on for a few more steps.

Afterwards: every write a client was told succeeded is in the database with its audit event and its outbox row;
a request that was cut off was applied at most once (its retry is answered as a replay when it had committed, and
applied afresh when it had not; never refused as if someone else had acted); nothing is half-applied (the state
of every case and indicator is the one its events end with, every event has its outbox row, the chains and the
checkpoints verify); and the restarted service is ready and takes new cases.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from service import walkthrough as w
from tests.helpers import DEFINITION, Api, Who
from tests.reliability.procs import ProcessGroup, ServiceProcess
from tests.support.consistency import Snapshot, consistency_problems, read_database
from tests.support.load import Cast, Sent, new_key, send, step_payload, wait_until

pytestmark = pytest.mark.postgres

NOW = "2025-02-10T10:00:00+07:00"  # cycle 2025 has begun: plans, assignments and evidence are all possible
CYCLE = 2025
CLIENTS = 10
KILL_AFTER = 60  # acknowledged writes before the kill
KILL_LATEST = 150
STEPS_AFTER_RESTART = 6  # steps each client still takes once the service answers again
READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class Step:
    trigger: str  # open, issue_plan, assign_indicators, upload, submit_evidence, accept
    indicator: str | None = None


def walk(rng: random.Random) -> list[Step]:
    """Open, plan, assign; then the three steps of every indicator, the indicators interleaved at random (each
    client its own order), so that the kill finds the clients at different kinds of step."""
    steps = [Step("open"), Step("issue_plan"), Step("assign_indicators")]
    pending = {i.code: ["upload", "submit_evidence", "accept"] for i in DEFINITION.indicators}
    while pending:
        started = sorted(code for code, left in pending.items() if len(left) < 3)
        code = rng.choice(started if started and rng.random() < 0.7 else sorted(pending))
        steps.append(Step(pending[code].pop(0), code))
        if not pending[code]:
            del pending[code]
    return steps


class Load:
    """The clients' shared record: what each sent and got, and when the service was killed."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.acknowledged = 0
        self.killed = asyncio.Event()
        self.after_restart = 0  # acknowledged writes sent after the kill
        self.in_flight: Counter[str] = Counter()  # triggers of the requests sent and not answered yet


async def wait_answering(client: httpx.AsyncClient) -> None:
    """Until the (restarted) service answers /readyz with 200."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the service did not answer again within {READY_TIMEOUT:.0f} s")
        await asyncio.sleep(0.2)


async def one_client(number: int, unit: str, client: httpx.AsyncClient, cast: Cast, load: Load) -> None:
    leader, officer = cast.leader(unit), cast.officer(unit)
    rng = random.Random(number)
    case_id: str | None = None
    steps_after = 0
    await asyncio.sleep(rng.random())  # the clients do not move in step
    for step in walk(rng):
        if load.killed.is_set() and steps_after >= STEPS_AFTER_RESTART:
            return
        who: Who = officer if step.trigger in ("upload", "submit_evidence") else leader
        key = None if step.trigger == "upload" else new_key()  # uploads take no Idempotency-Key
        attempt = 0
        while True:
            attempt += 1
            record = Sent(number, "api", case_id, step.trigger, who.sub, key, reused_key=attempt > 1)
            record.indicator, record.attempt = step.indicator, attempt
            after_kill = load.killed.is_set()
            load.in_flight[step.trigger] += 1
            if step.trigger == "open":
                body = {"procedure": "cdht_xa", "unit": unit, "cycle": CYCLE}
                await send(client, record, "/v1/cases", who, json_body=body)
            elif step.trigger == "upload":
                files = {"file": ("minh-chung.pdf", w.MINIMAL_PDF, "application/pdf")}
                path = f"/v1/cases/{case_id}/indicators/{step.indicator}/evidence"
                await send(client, record, path, who, files=files, data={"title": "Minh chứng"})
            elif step.indicator is not None:
                data = w.submit_evidence(DEFINITION, step.indicator) if step.trigger == "submit_evidence" else {}
                path = f"/v1/cases/{case_id}/indicators/{step.indicator}/transitions/{step.trigger}"
                await send(client, record, path, who, json_body={"data": data})
            else:
                path = f"/v1/cases/{case_id}/transitions/{step.trigger}"
                await send(client, record, path, who, json_body={"data": step_payload(step.trigger, CYCLE)})
            load.in_flight[step.trigger] -= 1
            load.sent.append(record)
            if record.status is not None:
                break
            await wait_answering(client)  # cut off or refused a connection: the same request again, same key
        assert record.status in (200, 201), f"client {number} {step}: {record.status} {record.codes}"
        if step.trigger == "open":
            case_id = record.body["id"] if record.body else None
        load.acknowledged += 1
        if after_kill:
            load.after_restart += 1
            steps_after += 1
        elif load.killed.is_set():
            steps_after += 1


async def test_kill_9_of_the_api_under_load_loses_no_acknowledged_write_and_restarts_clean(
    rel_api: Api, cast: Cast, service_env: Any, service_processes: ProcessGroup
) -> None:
    api, group = rel_api, service_processes
    url = api.settings.resolved_database_url
    environment = service_env("api", now=NOW)
    process: ServiceProcess = await asyncio.to_thread(group.serve, environment, "api", migrate=True, workers=True)
    load = Load()
    units = [f"R{n:02d}" for n in range(1, CLIENTS + 1)]
    client = httpx.AsyncClient(
        base_url=process.url,
        timeout=httpx.Timeout(60.0, connect=5.0),
        limits=httpx.Limits(max_connections=CLIENTS + 2, max_keepalive_connections=CLIENTS + 2),
        trust_env=False,
    )
    try:
        clients = asyncio.gather(*(one_client(n, unit, client, cast, load) for n, unit in enumerate(units)))
        try:

            async def ready_to_kill() -> bool:
                if clients.done():  # a client failed, or the whole walk ended before the kill
                    clients.result()
                    raise AssertionError(f"the load ended after {load.acknowledged} writes, before the kill")
                if load.acknowledged < KILL_AFTER:
                    return False
                # Preferably while several keyed transitions are in flight (early in the walks most steps are
                # uploads, which take no key); after KILL_LATEST acknowledged writes, in any case.
                keyed = sum(n for trigger, n in load.in_flight.items() if trigger != "upload")
                return keyed >= 6 or load.acknowledged >= KILL_LATEST

            await wait_until(ready_to_kill, 120, f"{KILL_AFTER} writes acknowledged before the kill", interval=0.01)
            in_flight_at_kill = +load.in_flight
            killed_pid = process.pid
            process.kill()  # SIGKILL to the one uvicorn process serving the API (and running the workers)
            load.killed.set()
            acknowledged_at_kill = load.acknowledged
            restarted = await asyncio.to_thread(group.restart, process)
            assert restarted.pid != killed_pid and restarted.port == process.port
            await clients
        except BaseException:
            clients.cancel()
            raise
        # The restarted service is ready and takes new work.
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        leader = cast.leader("R40")
        opened = await client.post(
            "/v1/cases", headers=leader.headers, json={"procedure": "cdht_xa", "unit": "R40", "cycle": CYCLE}
        )
        assert opened.status_code == 201, opened.text
        planned = await client.post(
            f"/v1/cases/{opened.json()['id']}/transitions/issue_plan",
            headers=leader.headers,
            json={"data": step_payload("issue_plan", CYCLE)},
        )
        assert planned.status_code == 200, planned.text
        verify = await client.get("/v1/audit/verify", headers=cast.auditor.headers)
        assert verify.status_code == 200 and verify.json()["ok"] is True, verify.text
        checkpoints = await client.get("/v1/audit/checkpoints/verify", headers=cast.auditor.headers)
        assert checkpoints.status_code == 200 and checkpoints.json()["ok"] is True, checkpoints.text
        group.check_alive()
    finally:
        await client.aclose()
        group.stop_all()

    db = await read_database(url)
    cut_off = [s for s in load.sent if s.status is None]
    retried = [s for s in load.sent if s.attempt > 1 and s.status is not None]
    print(
        f"\nacknowledged {acknowledged_at_kill} writes before the kill, {load.after_restart} after; "
        f"in flight at the kill {dict(in_flight_at_kill)}; "
        f"cut off or refused while down {len(cut_off)} ({Counter(s.trigger for s in cut_off)}); "
        f"retries answered {Counter((s.status, s.replayed) for s in retried)}"
    )
    assert load.after_restart > 0, "no write was acknowledged after the restart"

    # Every acknowledged write is in the database, with its audit event and outbox row.
    for s in load.sent:
        if s.status in (200, 201):
            assert_durable(db, s)

    # Nothing half-applied, nothing applied twice.
    assert consistency_problems(db) == []

    # Each cut-off request was applied exactly once in the end: its retry, with the same key, was either the
    # stored answer (it had committed before the kill) or applied now (it had not); the case has one event of it.
    for s in retried:
        if s.trigger == "upload":
            continue  # no Idempotency-Key: a retried upload may add the file a second time, by design
        case_id = s.case_id or (s.body or {}).get("id")
        events = [
            e
            for e in db.events.get(case_id or "", [])
            if e.trigger == s.trigger and e.indicator == s.indicator and e.kind != "evidence_uploaded"
        ]
        assert len(events) == 1, f"{s.trigger} {s.indicator} on {case_id}: {len(events)} events after a retry"
        if s.key is not None:
            assert events[0].idempotency_key == s.key


def assert_durable(db: Snapshot, s: Sent) -> None:
    where = f"acknowledged {s.trigger} {s.indicator or ''} (attempt {s.attempt}, key {s.key})"
    body = s.body or {}
    if s.trigger == "open":
        case = db.cases.get(body.get("id", ""))
        assert case is not None, f"{where}: the case is not in the database"
        opened = db.events[case.id][0]
        assert opened.kind == "case_opened" and opened.idempotency_key == s.key, where
        event_uid = opened.uid
    elif s.trigger == "upload":
        evidence = db.evidence.get(body.get("id", ""))
        assert evidence is not None, f"{where}: the evidence row is missing"
        uploads = [e for e in db.events[evidence.case_id] if e.kind == "evidence_uploaded" and body["id"] in e.payload]
        assert len(uploads) == 1, f"{where}: {len(uploads)} upload events"
        event_uid = uploads[0].uid
    else:
        event = db.events_by_uid.get(s.event_id or "")
        assert event is not None, f"{where}: event {s.event_id} is missing"
        assert (event.case_id, event.trigger, event.indicator) == (s.case_id, s.trigger, s.indicator), where
        assert event.idempotency_key == s.key, where
        event_uid = event.uid
    assert [m.event_uid for m in db.outbox].count(event_uid) == 1, f"{where}: no outbox row for event {event_uid}"
