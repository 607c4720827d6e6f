"""Adding a unit to the administrative tree: who may (service.domain.authority), and the checks that keep the
tree sound (codes unique, a parent of the level above, validity in order); each addition is an ``admin`` chain
audit event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.domain import authority
from service.domain.actor import Actor
from service.domain.audit.unit_tree import unit_tree_digest
from service.domain.audit.writer import EventFacts, append_chain_event
from service.domain.errors import Conflict, InvalidPayload, OutsideJurisdiction, Reason
from service.domain.units.paths import unit_path
from service.persistence.tables import AdminUnit

PARENT_LEVELS = {"province": {"national"}, "district": {"province"}, "commune": {"district", "province"}}


async def create_unit(
    session: AsyncSession,
    *,
    actor: Actor,
    data: dict[str, Any],
    now: datetime,
    request_id: str | None = None,
    source_default: str | None = None,
) -> AdminUnit:
    authority.require(actor, authority.ADD_UNIT)
    if await session.get(AdminUnit, data["code"]) is not None:
        raise Conflict(f"unit {data['code']} exists", reasons=[Reason("unit_exists", "codes are unique")])
    parent_code = data.get("parent")
    if parent_code is None and data["level"] != "province":
        raise InvalidPayload(
            f"a {data['level']} needs a parent unit", reasons=[Reason("parent_required", "pass the parent's code")]
        )
    if parent_code is None:
        authority.require(actor, authority.ADD_TOP_LEVEL_UNIT)
        root = authority.NATIONAL_ROOT
        parent_code = root if data["level"] == "province" and await session.get(AdminUnit, root) else None
    if parent_code is not None:
        parent, path = await unit_path(session, parent_code)
        if parent.level not in PARENT_LEVELS[data["level"]]:
            raise InvalidPayload(
                f"a {data['level']} cannot sit under a {parent.level}",
                reasons=[Reason("parent_level", f"{parent_code} is a {parent.level}")],
            )
        if not authority.covers(actor, path):
            raise OutsideJurisdiction(
                f"{parent_code} is outside your unit {actor.unit}", why="admins add units within their own unit"
            )
    if data.get("valid_from") and data.get("valid_to") and data["valid_to"] < data["valid_from"]:
        raise InvalidPayload("valid_to is before valid_from", reasons=[Reason("validity", "check the dates")])
    unit = AdminUnit(
        code=data["code"],
        name=data["name"],
        level=data["level"],
        parent_code=parent_code,
        disadvantaged=bool(data.get("disadvantaged")),
        valid_from=data.get("valid_from"),
        valid_to=data.get("valid_to"),
        source=data.get("source") or source_default,
    )
    session.add(unit)
    await append_chain_event(
        session,
        chain="admin",
        actor=actor,
        actor_role="admin",
        now=now,
        unit_code=unit.code,
        request_id=request_id,
        digest=unit_tree_digest,
        facts=EventFacts(
            kind="admin_unit_added", trigger="add_admin_unit", payload={k: v for k, v in data.items() if v is not None}
        ),
    )
    await session.flush()
    return unit
