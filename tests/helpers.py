"""Test helpers: a frozen clock, role tokens, and an API client that can walk a case to any state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import fastapi.routing
import httpx

from service import walkthrough as w
from service.auth import issue_dev_token
from service.config import Settings
from service.domain.audit.canonical import HASHED_FIELDS, canonical_json, event_hash
from workflows.calendar import local_date
from workflows.registry import default_registry

DEFINITION = default_registry().get("cdht_xa", "tt25-2023").definition
HAPPY_PATH = [
    "planning",
    "plan_issued",
    "collecting_evidence",
    "self_assessed",
    "review_meeting_held",
    "submitted",
    "under_review",
    "council_formed",
    "appraised",
    "recognized",
]


def chained_event(
    *, chain: str, seq: int, prev: str, occurred_at: datetime, payload: Any, **fields: Any
) -> SimpleNamespace:
    """A valid audit event of a chain without a case, hashed as the engine hashes, for tests that build chains
    straight into the tables or into an export."""
    event = SimpleNamespace(**dict.fromkeys(HASHED_FIELDS), hash="")
    event.__dict__.update(
        uid=str(uuid.uuid4()),
        chain=chain,
        seq=seq,
        unit_code="VN",
        kind="test",
        actor_sub="system:test",
        actor_name="Kiểm thử",
        actor_unit="VN",
        occurred_at=occurred_at,
        payload=canonical_json(payload),
        prev_hash=prev,
    )
    event.__dict__.update(fields)
    event.hash = event_hash(event)  # type: ignore[arg-type]
    return event


def flat_routes(app: Any) -> list[tuple[str, set[str]]]:
    """``(path, methods)`` of every route of the app, included routers flattened.

    FastAPI ≥ 0.16x keeps included routers as one entry each in ``app.routes``; ``iter_route_contexts`` walks
    into them. Older versions list the routes themselves. Left out: the catch-alls that answer an unknown trigger
    (``…/transitions/{trigger}``, 404 ``trigger_unknown``), which are no operation (tests/api/test_languages.py).
    """
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = iterate(app.routes) if iterate else app.routes
    return [
        (route.path, set(route.methods))
        for route in routes
        if getattr(route, "path", None) and getattr(route, "methods", None) and not route.path.endswith("/{trigger}")
    ]


def dated(payload: Any, day: str) -> Any:
    """The payload with every document date (DocRef) and ``*_on`` date set to ``day``."""
    if isinstance(payload, list):
        return [dated(item, day) for item in payload]
    if not isinstance(payload, dict):
        return payload
    out = {key: dated(value, day) for key, value in payload.items()}
    if "number" in out and "date" in out:
        out["date"] = day
    for key in out:
        if key.endswith("_on") and isinstance(out[key], str):
            out[key] = day
    return out


class Clock:
    """The app clock (``Settings.now``), moved by the test."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def set(self, moment: str | datetime) -> datetime:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        self.settings.now = moment
        return moment

    def today(self) -> str:
        """The local date (Asia/Ho_Chi_Minh) on the frozen clock."""
        return local_date(self.settings.now).isoformat()


@dataclass(frozen=True)
class Who:
    sub: str
    role: str
    unit: str
    headers: dict[str, str]
    org: str | None = None


@dataclass
class Reviewers:
    officer: Who
    head: Who
    secretary: Who


@dataclass
class Api:
    app: Any
    client: httpx.AsyncClient
    settings: Settings
    clock: Clock
    _counter: list[int] = field(default_factory=lambda: [0])

    def who(self, role: str, unit: str, *, sub: str | None = None, org: str | None = None) -> Who:
        self._counter[0] += 1
        sub = sub or f"{role}-{unit}-{self._counter[0]}".lower()
        token = issue_dev_token(self.settings, sub=sub, roles=[role], unit=unit, org=org, name=f"Test {role}")
        return Who(sub, role, unit, {"Authorization": f"Bearer {token}"}, org)

    def reviewers(self, cycle: int) -> Reviewers:
        """The reviewing office and council secretary the pinned profile names for the cycle's commune C1/C2."""
        if cycle <= 2024:
            return Reviewers(
                self.who("district_officer", "D1"), self.who("district_head", "D1"), self.who("council_member", "D1")
            )
        return Reviewers(
            self.who("province_officer", "P1"), self.who("province_director", "P1"), self.who("council_member", "P1")
        )

    async def get(self, who: Who, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, headers=who.headers, params=params or None)

    async def open(self, who: Who, unit: str, cycle: int, **extra: Any) -> httpx.Response:
        return await self.client.post(
            "/v1/cases", headers=who.headers, json={"procedure": "cdht_xa", "unit": unit, "cycle": cycle, **extra}
        )

    async def fire(
        self,
        who: Who,
        case_id: str,
        trigger: str,
        data: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        comment: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"data": data or {}}
        if comment:
            body["comment"] = comment
        return await self.client.post(
            f"/v1/cases/{case_id}/transitions/{trigger}", headers={**who.headers, **(headers or {})}, json=body
        )

    async def fire_indicator(
        self, who: Who, case_id: str, code: str, trigger: str, data: dict[str, Any] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/cases/{case_id}/indicators/{code}/transitions/{trigger}",
            headers=who.headers,
            json={"data": data or {}},
        )

    async def upload(
        self,
        who: Who,
        case_id: str,
        code: str,
        content: bytes = w.MINIMAL_PDF,
        filename: str = "minh-chung.pdf",
        media_type: str = "application/pdf",
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/cases/{case_id}/indicators/{code}/evidence",
            headers=who.headers,
            files={"file": (filename, content, media_type)},
            data={"title": "Minh chứng"},
        )

    async def add_units(self, *rows: tuple[str, str, str, str | None], **fields: Any) -> None:
        """Add administrative units ``(code, name, level, parent)`` straight into the table (test setup)."""
        from service.persistence.tables import AdminUnit

        async with self.app.state.services.sessions() as session, session.begin():
            for code, name, level, parent in rows:
                session.add(AdminUnit(code=code, name=name, level=level, parent_code=parent, **fields))

    async def ok(self, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        return response.json()

    async def new_case(self, unit: str = "C1", cycle: int = 2025, **extra: Any) -> tuple[str, Who]:
        leader = self.who("commune_leader", unit)
        self.clock.set(f"{cycle}-01-20T02:00:00")  # after the walkthrough's plan date (15/01)
        body = await self.ok(await self.open(leader, unit, cycle, **extra), 201)
        return body["id"], leader

    async def collect(
        self, case_id: str, leader: Who, *, cycle: int, level: int = 1, figures: dict[str, dict[str, Any]] | None = None
    ) -> None:
        """Plan, assign, and submit and accept evidence for every indicator."""
        unit = leader.unit
        plan_day = datetime(cycle, 1, 20, 2, tzinfo=timezone.utc)  # the walkthrough's plan is dated 15/01
        if self.settings.now is None or self.settings.now < plan_day:
            self.clock.set(plan_day)
        await self.ok(await self.fire(leader, case_id, "issue_plan", w.issue_plan(cycle)))
        await self.ok(await self.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
        officer = self.who("commune_officer", unit)
        for indicator in DEFINITION.indicators:
            await self.ok(await self.upload(officer, case_id, indicator.code), 201)
            payload = w.submit_evidence(DEFINITION, indicator.code, level=level)
            if figures and indicator.code in figures:
                payload["figures"] = figures[indicator.code]
            await self.ok(await self.fire_indicator(officer, case_id, indicator.code, "submit_evidence", payload))
            await self.ok(await self.fire_indicator(leader, case_id, indicator.code, "accept"))

    async def walk(
        self,
        case_id: str,
        leader: Who,
        *,
        cycle: int,
        until: str,
        level: int = 1,
        failed: tuple[str, ...] = (),
        reviewers: Reviewers | None = None,
        resume: bool = False,
    ) -> Reviewers:
        """Drive the case along the happy path as the right roles until it is in state ``until``; with
        ``resume``, from the state the case is in now."""
        stop = HAPPY_PATH.index(until)
        reviewers = reviewers or self.reviewers(cycle)
        start = 0
        if resume:
            case = await self.ok(await self.get(leader, f"/v1/cases/{case_id}"))
            start = HAPPY_PATH.index(case["state"])
        if stop >= 2 and start < 2:
            await self.collect(case_id, leader, cycle=cycle, level=level)
        steps = [
            (3, f"{cycle + 1}-01-10", leader, "complete_self_assessment", w.complete_self_assessment(cycle)),
            (4, f"{cycle + 1}-01-20", leader, "record_review_meeting", w.record_review_meeting(cycle)),
            (5, f"{cycle + 1}-02-10", leader, "submit_dossier", w.submit_dossier(cycle, level)),
            (6, f"{cycle + 1}-02-12", reviewers.officer, "receive_dossier", {"received_on": f"{cycle + 1}-02-12"}),
            (
                7,
                f"{cycle + 1}-03-01",
                reviewers.head,
                "form_council",
                w.form_council(cycle, secretary_sub=reviewers.secretary.sub),
            ),
            (
                8,
                f"{cycle + 1}-03-10",
                reviewers.secretary,
                "record_appraisal",
                w.record_appraisal(DEFINITION, cycle, level=level, failed=failed),
            ),
            (9, f"{cycle + 1}-03-20", reviewers.head, "recognize", w.recognize(cycle)),
        ]
        if stop == 1:
            self.clock.set(f"{cycle}-01-20T02:00:00")
            await self.ok(await self.fire(leader, case_id, "issue_plan", w.issue_plan(cycle)))
        for index, day, who, trigger, data in steps:
            if index <= start:
                continue
            if index > stop:
                break
            self.clock.set(f"{day}T02:00:00")
            await self.ok(await self.fire(who, case_id, trigger, data))
        return reviewers
