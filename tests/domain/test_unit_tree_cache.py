"""What a process keeps of the unit tree (``service.domain.units.tree_cache``) is never used once the tree changed,
whoever changed it: the triggers of migration 0006 bump ``unit_tree_version`` on any change to ``admin_unit`` or
``unit_succession``, and a write reads the version with its case row. A change made through another engine (another
API process, the import, SQL by hand) is seen by the very next request of this one."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from service import walkthrough as w
from service.domain.units.paths import unit_path
from service.domain.units.tree_cache import _tree, unit_path_at
from service.persistence.tables import AdminUnit, UnitSuccession, UnitTreeVersion
from tests.helpers import Api


async def _version(api: Api) -> int:
    async with api.app.state.services.sessions() as session:
        return (await session.execute(select(UnitTreeVersion.version))).scalar_one()


def _c3_continues_c2() -> UnitSuccession:
    return UnitSuccession(
        predecessor_code="C2", successor_code="C3", effective_on=date(2025, 7, 1), basis="resolution", source="t"
    )


async def test_every_change_to_the_tree_bumps_its_version(api: Api) -> None:
    sessions = api.app.state.services.sessions
    seen = [await _version(api)]
    changes = [
        update(AdminUnit).where(AdminUnit.code == "C3").values(name="Xã đổi tên"),
        update(AdminUnit).where(AdminUnit.code == "C3").values(disadvantaged=True),
    ]
    for change in changes:
        async with sessions() as session, session.begin():
            await session.execute(change)
        seen.append(await _version(api))
    async with sessions() as session, session.begin():
        session.add(_c3_continues_c2())
    seen.append(await _version(api))
    async with sessions() as session, session.begin():
        await session.execute(delete(UnitSuccession).where(UnitSuccession.successor_code == "C3"))
    seen.append(await _version(api))
    assert seen == sorted(set(seen)), f"each change must bump the version: {seen}"


async def test_a_unit_renamed_by_another_process_is_seen_by_the_next_write(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    first = await api.ok(await api.get(leader, f"/v1/cases/{case_id}"))  # the unit path is now kept
    assert first["unit_name"] != "Xã Mới Đổi Tên"
    # Another process (an engine of its own on the same database) renames the unit.
    other = create_async_engine(api.app.state.services.settings.resolved_database_url)
    try:
        async with other.begin() as connection:
            await connection.execute(update(AdminUnit).where(AdminUnit.code == "C3").values(name="Xã Mới Đổi Tên"))
    finally:
        await other.dispose()
    api.clock.set("2025-01-21T02:00:00")
    plan = w.issue_plan(2025, plan=w.docref("1/KH", "2025-01-21"))
    fired = await api.ok(await api.fire(leader, case_id, "issue_plan", plan))
    assert fired["case"]["unit_name"] == "Xã Mới Đổi Tên"
    again = await api.ok(await api.get(leader, f"/v1/cases/{case_id}"))
    assert again["unit_name"] == "Xã Mới Đổi Tên"


async def test_the_tree_as_kept_gives_every_unit_and_path_the_database_gives(api: Api) -> None:
    """Each unit is kept as a compact tuple whose repeated values are shared; what is handed out is what the
    database's own reading gives, field by field, a ceased unit and its successor included."""
    sessions = api.app.state.services.sessions
    async with sessions() as session, session.begin():
        await session.execute(update(AdminUnit).where(AdminUnit.code == "C2").values(valid_to=date(2025, 6, 30)))
        session.add(_c3_continues_c2())
    version = await _version(api)
    async with sessions() as session:
        codes = (await session.execute(select(AdminUnit.code).order_by(AdminUnit.code))).scalars().all()
        assert len(codes) > 5
        for code in codes:
            kept, kept_path = await unit_path_at(session, code, version)
            read, read_path = await unit_path(session, code)
            assert kept.model_dump() == read.model_dump()
            assert kept_path == read_path
        units = (await _tree(session, version)).units
    assert units["C2"].valid_to == date(2025, 6, 30)
    assert units["C3"].parent_code is units[units["C3"].parent_code].code  # one string for a code and its mentions
    assert len({id(unit.level) for unit in units.values() if unit.level == "commune"}) == 1
