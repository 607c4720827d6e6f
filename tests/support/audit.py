"""What the incremental-verify and checkpoint-seal tests share: a statement run straight on the database (as an
intruder would), a checkpoint signed through the API (the clock a second on), the verify in either mode, a case
opened and planned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text

from service import walkthrough as w
from tests.helpers import Api


async def execute(api: Api, sql: str, **params: object) -> None:
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(text(sql), params)


async def sign(api: Api) -> dict[str, Any]:
    """A checkpoint signed a second after the previous one, so that the newest is the one signed last."""
    api.clock.set(api.settings.now + timedelta(seconds=1))
    response = await api.client.post("/v1/audit/checkpoints", headers=api.who("auditor", "VN").headers)
    return await api.ok(response, 201)


async def verify(api: Api, **params: str) -> dict[str, Any]:
    return await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify", **params))


async def incremental(api: Api, **params: str) -> dict[str, Any]:
    return await verify(api, mode="incremental", **params)


async def planned(api: Api, unit: str) -> tuple[str, Any]:
    case_id, leader = await api.new_case(unit, 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    return case_id, leader
