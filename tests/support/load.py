"""Driving a load against the service over HTTP: fixed identities (``Cast``), the commune procedure's next steps
and their payloads, many cases prepared to chosen states, each request sent and recorded (``Sent``), and polling.

``prepare_cases(api, cast, specs)``
    Open and walk many cases concurrently to the states ``specs`` name, phase by phase on the clock.
``next_steps(state)`` / ``step_payload(trigger, cycle)``
    What may be fired next from a state (with the identity that fires it) and a well-formed payload for it.
``Sent`` / ``send``
    One request of a load and what came back (status, event id, replayed), recorded by the load drivers.
``wait_until(predicate, timeout, what)``
    Poll an async predicate; fail with ``what`` after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from service import walkthrough as w
from service.auth import issue_dev_token
from tests.helpers import DEFINITION, HAPPY_PATH, Api, Who, dated

SECRETARY_SUB = "council-secretary-p1"
TERMINAL = {"lapsed", "not_submitted", "withdrawn", "recognized", "refused", "expired"}

# --- who acts -------------------------------------------------------------------------------------------------


class Cast:
    """Identities with fixed subs and long-lived tokens (expiry is checked against the real clock)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self._cache: dict[tuple[str, str, str], Who] = {}

    def _who(self, role: str, unit: str, sub: str) -> Who:
        key = (role, unit, sub)
        if key not in self._cache:
            token = issue_dev_token(
                self.api.settings, sub=sub, roles=[role], unit=unit, name=f"Test {role}", ttl_seconds=6 * 3600
            )
            self._cache[key] = Who(sub, role, unit, {"Authorization": f"Bearer {token}"})
        return self._cache[key]

    def leader(self, unit: str) -> Who:
        return self._who("commune_leader", unit, f"leader-{unit.lower()}")

    def officer(self, unit: str) -> Who:
        return self._who("commune_officer", unit, f"officer-{unit.lower()}")

    @property
    def reviewer(self) -> Who:
        return self._who("province_officer", "P1", "province-officer-p1")

    @property
    def head(self) -> Who:
        return self._who("province_director", "P1", "province-director-p1")

    @property
    def secretary(self) -> Who:
        return self._who("council_member", "P1", SECRETARY_SUB)

    @property
    def admin(self) -> Who:
        return self._who("admin", "VN", "admin-vn")

    @property
    def auditor(self) -> Who:
        return self._who("auditor", "VN", "auditor-vn")

    def acting(self, role: str, unit: str) -> Who:
        """The identity ``next_steps`` names: ``leader`` (of ``unit``), ``reviewer``, ``head`` or ``secretary``."""
        return self.leader(unit) if role == "leader" else getattr(self, role)


# --- steps of the commune procedure ---------------------------------------------------------------------------

# For each state, what a client may fire next: (trigger, who: leader | reviewer | head | secretary, weight).
STEPS: dict[str, list[tuple[str, str, int]]] = {
    "planning": [("issue_plan", "leader", 1)],
    "plan_issued": [("assign_indicators", "leader", 1)],
    "collecting_evidence": [("complete_self_assessment", "leader", 1)],
    "self_assessed": [("record_review_meeting", "leader", 1)],
    "review_meeting_held": [("submit_dossier", "leader", 2), ("decline_submission", "leader", 1)],
    "submitted": [("receive_dossier", "reviewer", 3), ("withdraw", "leader", 1)],
    "under_review": [("form_council", "head", 3), ("withdraw", "leader", 1)],
    "council_formed": [("record_appraisal", "secretary", 1)],
    "appraised": [("recognize", "head", 1)],
}


def next_steps(state: str) -> list[tuple[str, str, int]]:
    """The triggers a person may fire from ``state`` on the happy path and its two exits (decline, withdraw)."""
    return STEPS.get(state, [])


def step_payload(trigger: str, cycle: int) -> dict[str, Any]:
    """A well-formed payload, the same for the same trigger and cycle (so a reused Idempotency-Key replays).

    Dates are the walkthrough's, except that the reviewing office's steps of cycle N are dated 14, 16 and
    18/02 of N+1 instead of March, so that a clock frozen in late February of N+1 can still run them."""
    if trigger == "issue_plan":
        return w.issue_plan(cycle)
    if trigger == "assign_indicators":
        return w.assign_indicators(DEFINITION)
    if trigger == "complete_self_assessment":
        return w.complete_self_assessment(cycle)
    if trigger == "record_review_meeting":
        return w.record_review_meeting(cycle)
    if trigger == "submit_dossier":
        return w.submit_dossier(cycle)
    if trigger == "decline_submission":
        return {"reason": "Chưa đạt tiêu chí 5; tiếp tục xây dựng"}
    if trigger == "withdraw":
        return {"reason": "Xã rút hồ sơ để hoàn thiện thêm"}
    if trigger == "receive_dossier":
        return {"received_on": f"{cycle + 1}-02-12"}
    if trigger == "form_council":
        return dated(w.form_council(cycle, secretary_sub=SECRETARY_SUB), f"{cycle + 1}-02-14")
    if trigger == "record_appraisal":
        return dated(w.record_appraisal(DEFINITION, cycle), f"{cycle + 1}-02-16")
    if trigger == "recognize":
        return dated(w.recognize(cycle), f"{cycle + 1}-02-18")
    raise ValueError(f"no payload for {trigger}")


# --- preparing cases ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSpec:
    unit: str
    cycle: int
    state: str  # a state of HAPPY_PATH, up to appraised
    role: str = "load"  # free text for the test: e.g. "load" (clients act on it) or "sweeper" (only the workers)


@dataclass
class PreparedCase:
    id: str
    spec: CaseSpec

    @property
    def unit(self) -> str:
        return self.spec.unit

    @property
    def cycle(self) -> int:
        return self.spec.cycle


# (step index in HAPPY_PATH reached, years after the cycle, month-day of the frozen clock, action)
_PREPARATION = [
    (0, 0, "01-20", "open"),
    (1, 0, "01-20", "issue_plan"),
    (2, 0, "01-20", "collect"),
    (3, 1, "01-10", "complete_self_assessment"),
    (4, 1, "01-20", "record_review_meeting"),
    (5, 1, "02-10", "submit_dossier"),
    (6, 1, "02-12", "receive_dossier"),
    (7, 1, "02-14", "form_council"),
    (8, 1, "02-16", "record_appraisal"),
]
_ACTOR = {"receive_dossier": "reviewer", "form_council": "head", "record_appraisal": "secretary"}


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


async def _collect(api: Api, cast: Cast, case: PreparedCase) -> None:
    """Assign the indicators, then upload, submit and accept evidence for each (the slow part: 46 requests)."""
    leader, officer = cast.leader(case.unit), cast.officer(case.unit)
    client = api.client
    await _ok(
        await client.post(
            f"/v1/cases/{case.id}/transitions/assign_indicators",
            headers=leader.headers,
            json={"data": step_payload("assign_indicators", case.cycle)},
        )
    )
    for indicator in DEFINITION.indicators:
        base = f"/v1/cases/{case.id}/indicators/{indicator.code}"
        await _ok(
            await client.post(
                f"{base}/evidence",
                headers=officer.headers,
                files={"file": ("minh-chung.pdf", w.MINIMAL_PDF, "application/pdf")},
                data={"title": "Minh chứng"},
            ),
            201,
        )
        payload = w.submit_evidence(DEFINITION, indicator.code)
        await _ok(
            await client.post(f"{base}/transitions/submit_evidence", headers=officer.headers, json={"data": payload})
        )
        await _ok(await client.post(f"{base}/transitions/accept", headers=leader.headers, json={"data": {}}))


async def prepare_cases(api: Api, cast: Cast, specs: list[CaseSpec], *, concurrency: int = 10) -> list[PreparedCase]:
    """Open every case and walk it to its state over the in-process API, all cases together phase by phase: the
    clock is set once per phase (forward only), and the cases of a phase run ``concurrency`` at a time."""
    for spec in specs:
        if spec.state not in HAPPY_PATH[:9]:
            raise ValueError(f"cannot prepare a case in {spec.state}")
    cases: list[PreparedCase | None] = [None] * len(specs)
    phases: dict[datetime, list[tuple[int, str]]] = defaultdict(list)
    for index, spec in enumerate(specs):
        target = HAPPY_PATH.index(spec.state)
        for reached, years, month_day, action in _PREPARATION:
            if reached <= target:
                moment = datetime.fromisoformat(f"{spec.cycle + years}-{month_day}T02:00:00+00:00")
                phases[moment].append((index, action))
    gate = asyncio.Semaphore(concurrency)

    async def act(index: int, action: str) -> None:
        spec = specs[index]
        async with gate:
            if action == "open":
                body = await _ok(
                    await api.client.post(
                        "/v1/cases",
                        headers=cast.leader(spec.unit).headers,
                        json={"procedure": "cdht_xa", "unit": spec.unit, "cycle": spec.cycle},
                    ),
                    201,
                )
                cases[index] = PreparedCase(body["id"], spec)
                return
            case = cases[index]
            assert case is not None
            if action == "collect":
                await _collect(api, cast, case)
                return
            who = cast.acting(_ACTOR.get(action, "leader"), spec.unit)
            await _ok(
                await api.client.post(
                    f"/v1/cases/{case.id}/transitions/{action}",
                    headers=who.headers,
                    json={"data": step_payload(action, spec.cycle)},
                )
            )

    for moment in sorted(phases):
        api.clock.set(moment)
        # Within one moment the actions of one case run in _PREPARATION's order: open, plan, then collect.
        for action in dict.fromkeys(action for _, action in phases[moment]):
            await asyncio.gather(*(act(i, a) for i, a in phases[moment] if a == action))
    prepared = [case for case in cases if case is not None]
    assert len(prepared) == len(specs)
    return prepared


# --- sending and recording requests ---------------------------------------------------------------------------


@dataclass
class Sent:
    """One write a load sent, and what came back; ``status`` None when no response came (cut off)."""

    client: int
    api: str
    case_id: str | None
    trigger: str
    sub: str
    key: str | None
    reused_key: bool = False
    status: int | None = None
    event_id: str | None = None
    to_state: str | None = None
    replayed: bool = False
    codes: list[str] = field(default_factory=list)
    error: str | None = None
    body: dict[str, Any] | None = None
    indicator: str | None = None
    seconds: float = 0.0  # from sending to the answer (or the error)
    attempt: int = 1  # 2, 3…: the same request sent again (with the same key) after no answer came


async def send(
    client: httpx.AsyncClient,
    record: Sent,
    path: str,
    who: Who,
    *,
    json_body: dict[str, Any] | None = None,
    files: Any = None,
    data: Any = None,
) -> Sent:
    """POST and fill ``record`` from the answer (or the transport error)."""
    headers = dict(who.headers)
    if record.key is not None:
        headers["Idempotency-Key"] = record.key
    started = time.monotonic()
    try:
        response = await client.post(path, headers=headers, json=json_body, files=files, data=data)
    except httpx.HTTPError as exc:
        record.error = f"{type(exc).__name__}: {exc}"
        return record
    finally:
        record.seconds = time.monotonic() - started
    record.status = response.status_code
    record.replayed = response.headers.get("Idempotent-Replayed") == "true"
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:500]}
    if response.status_code in (200, 201):
        record.body = body
        if isinstance(body.get("event"), dict):
            record.event_id = body["event"]["id"]
            record.to_state = body["event"]["to"]
        if isinstance(body.get("case"), dict):
            record.to_state = record.to_state or body["case"]["state"]
    else:
        record.codes = [r.get("code", "") for r in body.get("reasons", []) if isinstance(r, dict)]
        if not record.codes:
            record.codes = [str(body.get("detail") or body.get("text") or "")[:200]]
    return record


def new_key() -> str:
    return str(uuid.uuid4())


# --- waiting --------------------------------------------------------------------------------------------------


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.25
) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout`` seconds (no timing asserted)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(interval)


def utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(timezone.utc)
