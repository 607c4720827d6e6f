"""Two API processes and two workers on one PostgreSQL database, under concurrent load on overlapping cases.

Two ``cdht serve --no-migrate --no-workers`` replicas and two ``cdht worker`` processes share one database, a
frozen clock (late February of N+1 for cycle N = 2025: submission and decision deadlines of cycle 2025 are past,
cycle 2026 is inside its 14-day submission reminder) and their secrets. Sixteen clients fire the next step of
random cases through a random replica, often the same step on the same case at once, sometimes retrying with an
Idempotency-Key already used; meanwhile both workers sweep the same due deadlines every half second and both
dispatchers deliver the outbox to a real webhook receiver. Afterwards every acknowledged change is in the
database exactly once with its audit event and outbox row, no transition or deadline action happened twice, the
chains and checkpoints verify, and every webhook arrived once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest

from tests.helpers import Api
from tests.reliability.procs import ProcessGroup, run_cli
from tests.support.consistency import consistency_problems, read_database
from tests.support.load import (
    TERMINAL,
    CaseSpec,
    Cast,
    PreparedCase,
    Sent,
    new_key,
    next_steps,
    prepare_cases,
    send,
    step_payload,
    utc,
    wait_until,
)
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.postgres

NOW = "2027-02-20T10:00:00+07:00"
CLIENTS = 16
WRITES = 300  # the load's budget of transition requests
SEED = 7
EVENTS = ["case.transitioned", "deadline.overdue", "deadline.approaching"]
SYSTEM = "system:deadlines"


def specs() -> list[CaseSpec]:
    """Cases of cycle 2025 in every state before a decision (their deadlines are due: lapse or the overdue flag),
    and of cycle 2026 before submission (the 14-day reminder is due). ``load`` cases get client traffic too;
    ``sweeper`` cases only the workers', so that each must end with exactly one lapse, flag or reminder."""
    layout = [
        (2025, "planning", 3, "load"),
        (2025, "collecting_evidence", 1, "load"),
        (2025, "review_meeting_held", 2, "load"),
        (2025, "submitted", 2, "load"),
        (2025, "under_review", 1, "load"),
        (2025, "council_formed", 1, "load"),
        (2025, "appraised", 1, "load"),
        (2026, "planning", 3, "load"),
        (2026, "review_meeting_held", 1, "load"),
        (2025, "planning", 10, "sweeper"),
        (2025, "submitted", 1, "sweeper"),
        (2026, "planning", 1, "sweeper"),
    ]
    units = iter(f"R{i:02d}" for i in range(1, 41))
    return [CaseSpec(next(units), cycle, state, role) for cycle, state, count, role in layout for _ in range(count)]


def sweeps(log: str) -> str:
    """What a worker's sweeps did, from its (JSON) log lines ``sweep at …: fired 3, flagged 1, …``."""
    totals: Counter[str] = Counter()
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        message = record.get("message", "") if isinstance(record, dict) else ""
        if record.get("logger") == "cdht.sweeper" and message.startswith("sweep at"):
            for part in message.rsplit(": ", 1)[-1].split(", "):
                what, _, count = part.partition(" ")
                totals[what] += int(count) if count.isdigit() else 0
    return ", ".join(f"{what} {n}" for what, n in totals.items() if n) or "nothing"


def settled(case: PreparedCase, state: str) -> bool:
    """Nothing more a client can make happen: an end state, or evidence that nobody collected."""
    if state in TERMINAL or not next_steps(state):
        return True
    uncollected = case.spec.state in ("planning", "plan_issued")
    return uncollected and state == "collecting_evidence"


async def drive_load(cases: list[PreparedCase], apis: list[tuple[str, httpx.AsyncClient]], cast: Cast) -> list[Sent]:
    """CLIENTS concurrent clients spend WRITES transition requests on ``cases``."""
    known = {case.id: case.spec.state for case in cases}
    keys: dict[tuple[str, str, str], list[str]] = defaultdict(list)  # (sub, case, trigger) -> keys used
    by_sub: dict[str, list[str]] = defaultdict(list)
    budget = [WRITES]
    sent: list[Sent] = []

    async def client(number: int) -> None:
        rng = random.Random(SEED * 1000 + number)
        while budget[0] > 0:
            live = [case for case in cases if not settled(case, known[case.id])]
            if not live:
                return
            case = rng.choice(live)
            name, http = rng.choice(apis)
            leader = cast.leader(case.unit)
            if rng.random() < 0.5:  # look first (the answer may be stale by the time we act on it)
                response = await http.get(f"/v1/cases/{case.id}", headers=leader.headers)
                assert response.status_code == 200, response.text
                known[case.id] = response.json()["state"]
                if settled(case, known[case.id]):
                    continue
            steps = next_steps(known[case.id])
            trigger, role, _ = rng.choices(steps, weights=[weight for *_, weight in steps])[0]
            who = cast.acting(role, case.unit)
            budget[0] -= 1
            used = keys[(who.sub, case.id, trigger)]
            reused, roll = False, rng.random()
            if used and roll < 0.3:  # a retry: the same key and the same body
                key, reused = rng.choice(used), True
            elif by_sub[who.sub] and roll > 0.97:  # a client bug: a key of another request
                key, reused = rng.choice(by_sub[who.sub]), True
            else:
                key = new_key()
                used.append(key)
                by_sub[who.sub].append(key)
            record = Sent(number, name, case.id, trigger, who.sub, key, reused)
            await send(
                http,
                record,
                f"/v1/cases/{case.id}/transitions/{trigger}",
                who,
                json_body={"data": step_payload(trigger, case.cycle)},
            )
            sent.append(record)
            if record.status == 200 and record.body:
                known[record.body["case"]["id"]] = record.body["case"]["state"]

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return sent


async def test_two_apis_and_two_workers_under_load_apply_each_change_and_deadline_once(
    rel_api: Api, cast: Cast, service_env: Any, service_processes: ProcessGroup
) -> None:
    api, group = rel_api, service_processes
    started = time.monotonic()
    cases = await prepare_cases(api, cast, specs())
    prepared_at = time.monotonic()
    api.clock.set(NOW)
    url = api.settings.resolved_database_url
    load_cases = [case for case in cases if case.spec.role == "load"]

    with Receiver() as receiver:
        subscription = await api.client.post(
            "/v1/webhooks", headers=cast.admin.headers, json={"url": receiver.url, "events": EVENTS}
        )
        assert subscription.status_code == 201, subscription.text
        before = set((await read_database(url)).events_by_uid)

        # The database is migrated by the CLI (a no-op here: it is at head), then the processes start on it, the
        # workers first: they start sweeping about when the replicas become ready and the load begins.
        await asyncio.to_thread(run_cli, service_env("migrate"), "migrate")
        # The clock is frozen, so a failed webhook attempt would never come due again: generous timeouts.
        worker_env = {
            "now": NOW,
            "sweep_interval_seconds": 0.5,
            "webhook_poll_seconds": 0.2,
            "webhook_connect_timeout_seconds": 30,
            "webhook_read_timeout_seconds": 30,
            "webhook_attempt_timeout_seconds": 60,
            "webhook_lease_seconds": 120,
        }
        workers = [group.worker(service_env(f"worker-{n}", **worker_env), f"worker-{n}") for n in (1, 2)]
        apis = await asyncio.gather(  # both replicas at once, each waited for until /readyz answers
            *(asyncio.to_thread(group.serve, service_env(f"api-{n}", now=NOW), f"api-{n}") for n in (1, 2))
        )
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        clients = [httpx.AsyncClient(base_url=p.url, timeout=120.0, limits=limits, trust_env=False) for p in apis]
        try:
            sent = await drive_load(load_cases, [(p.name, c) for p, c in zip(apis, clients, strict=True)], cast)
            loaded_at = time.monotonic()
            group.check_alive()

            async def swept() -> bool:
                db = await read_database(url)
                now = utc(NOW)
                return not any(
                    row.status == "open" and row.closed_at is None and row.next_action_at and row.next_action_at <= now
                    for rows in db.deadlines.values()
                    for row in rows.values()
                )

            await wait_until(swept, 60, "the workers swept every due deadline")
            db = await read_database(url)
            expected = {f"msg_{m.event_uid}" for m in db.outbox if m.type in EVENTS}

            async def delivered() -> bool:
                return {r.headers["webhook-id"] for r in receiver.requests()} >= expected

            await wait_until(delivered, 60, f"{len(expected)} webhooks delivered")
            group.check_alive()
            for process, http in zip(apis, clients, strict=True):
                verify = await http.get("/v1/audit/verify", headers=cast.auditor.headers)
                assert verify.status_code == 200 and verify.json()["ok"] is True, (process.name, verify.text)
            checkpoints = await clients[0].get("/v1/audit/checkpoints/verify", headers=cast.auditor.headers)
            assert checkpoints.status_code == 200, checkpoints.text
        finally:
            for http in clients:
                await http.aclose()
            for worker in workers:
                worker.stop()
        received = [r.headers["webhook-id"] for r in receiver.requests()]
    group.stop_all()

    db = await read_database(url)
    summary = Counter((s.status, s.replayed) for s in sent)
    swept_load = Counter(
        e.trigger for c in load_cases for e in db.events[c.id] if e.uid not in before and e.actor_sub == SYSTEM
    )
    print(
        f"\nprepared {len(cases)} cases in {prepared_at - started:.1f} s; load {loaded_at - prepared_at:.1f} s; "
        f"responses {dict(summary)}; refusals {Counter(c for s in sent for c in s.codes).most_common(6)}; "
        f"sweeper on load cases {dict(swept_load)}; " + "; ".join(f"{w.name}: {sweeps(w.log_text())}" for w in workers)
    )

    # Every request was answered, and only with an acceptance or a refusal (no server error, no timeout).
    assert [s for s in sent if s.status is None] == []
    assert {s.status for s in sent} <= {200, 409}, Counter(s.status for s in sent)
    assert summary[(200, False)] > 0

    # Each 200 that acted has exactly one event, its own: the same case, trigger, caller and key.
    acted = [s for s in sent if s.status == 200 and not s.replayed]
    assert len({s.event_id for s in acted}) == len(acted), "two acknowledged requests share an event"
    for s in acted:
        event = db.events_by_uid.get(s.event_id or "")
        assert event is not None, f"acknowledged {s.trigger} on {s.case_id} has no event {s.event_id}"
        assert (event.case_id, event.trigger, event.actor_sub, event.idempotency_key) == (
            s.case_id,
            s.trigger,
            s.sub,
            s.key,
        )
    # A replayed 200 repeats the answer to the same request by the same caller; it never acts again.
    first = {(s.sub, s.key): s for s in acted}
    for s in sent:
        if s.status == 200 and s.replayed:
            original = first.get((s.sub, s.key))
            assert original is not None, f"replay of {s.key} answers a request nobody was answered for"
            assert (s.case_id, s.trigger, s.event_id) == (original.case_id, original.trigger, original.event_id)

    # The people's events of the load are exactly the acknowledged ones; the system's are the sweeper's.
    new = [e for uid, e in db.events_by_uid.items() if uid not in before]
    assert {e.uid for e in new if not e.actor_sub.startswith("system:")} == {s.event_id for s in acted}
    system = [e for e in new if e.actor_sub.startswith("system:")]
    assert {(e.actor_sub, e.kind) for e in system} <= {
        (SYSTEM, "transition"),
        (SYSTEM, "deadline_breached"),
        (SYSTEM, "deadline_reminder"),
    }
    assert {e.trigger for e in system if e.kind == "transition"} <= {"lapse"}

    # Nothing half-applied, nothing twice: state, events, indicators, deadlines, reminders, outbox, idempotency.
    assert consistency_problems(db) == []

    # The cases only the workers touched: exactly one lapse, one overdue flag, one reminder each.
    for case in cases:
        if case.spec.role != "sweeper":
            continue
        events = [e for e in db.events[case.id] if e.uid not in before]
        actions = Counter((e.kind, e.trigger) for e in events)
        if case.cycle == 2025 and case.spec.state == "planning":
            assert actions == {("transition", "lapse"): 1}, (case.spec, actions)
            assert db.cases[case.id].state == "lapsed"
            submission = db.deadlines[case.id]["submission"]
            assert (submission.status, submission.closed_at is not None) == ("breached", True)
        elif case.cycle == 2025:
            assert actions == {("deadline_breached", "deadline:decision"): 1}, (case.spec, actions)
            assert db.deadlines[case.id]["decision"].status == "breached"
        else:
            assert actions == {("deadline_reminder", "deadline:submission"): 1}, (case.spec, actions)
    # No case of cycle 2025 was left before submission: each lapsed or was declined.
    for case in cases:
        if case.cycle == 2025 and db.cases[case.id].state in ("planning", "collecting_evidence", "review_meeting_held"):
            pytest.fail(f"{case.spec} is still {db.cases[case.id].state} after the sweep")

    # Both dispatchers together delivered every subscribed event once: never the same attempt twice.
    assert set(received) == expected
    duplicates = [wid for wid, n in Counter(received).items() if n > 1]
    assert duplicates == [], f"{len(duplicates)} webhooks delivered more than once"

    # The signed checkpoints the two workers made while the load ran still verify.
    report = checkpoints.json()
    assert report["ok"] is True and report["checkpoints_checked"] >= 1, report
