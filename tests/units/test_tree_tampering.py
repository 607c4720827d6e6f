"""Changes to the administrative tree made outside the service are caught by verify (issue 13, point 5): every
change through the service records the digest of the units and successions on the ``admin`` chain, and the online
verify compares the tables with the newest one."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from tests.helpers import Api
from tests.units.support import run_import

ADD = "/v1/admin-units"


async def _sql(api: Api, sql: str, **params: Any) -> None:
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(text(sql), params)


async def _verify(api: Api) -> dict[str, Any]:
    return await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify"))


async def _add_commune(api: Api, code: str, parent: str = "D1") -> None:
    body = {"code": code, "name": f"Xã {code}", "level": "commune", "parent": parent}
    await api.ok(await api.client.post(ADD, headers=api.who("admin", "VN").headers, json=body), 201)


async def test_a_commune_moved_to_another_province_in_the_database_fails_verify_until_moved_back(api: Api) -> None:
    await _add_commune(api, "C40")
    assert (await _verify(api))["ok"] is True

    # C1's cases would now be read and acted on by P2's offices, and P1's would lose them.
    await _sql(api, "UPDATE admin_unit SET parent_code = 'P2' WHERE code = 'C1'")
    report = await _verify(api)
    assert report["ok"] is False
    bad = report["first_bad_event"]
    assert bad["chain"] == "admin" and bad["seq"] == 1 and bad["case_id"] is None
    assert "administrative units or successions differ" in bad["problem"]
    assert "changed outside the service" in bad["problem"]

    await _sql(api, "UPDATE admin_unit SET parent_code = 'D1' WHERE code = 'C1'")
    assert (await _verify(api))["ok"] is True


async def test_a_succession_added_or_a_unit_renamed_in_the_database_fails_verify(api: Api) -> None:
    await _add_commune(api, "C40")
    await _sql(
        api,
        "INSERT INTO unit_succession (predecessor_code, successor_code, effective_on, basis, source) "
        "VALUES ('C1', 'C9', '2025-07-01', 'resolution', 'forged')",
    )
    assert (await _verify(api))["ok"] is False
    await _sql(api, "DELETE FROM unit_succession WHERE source = 'forged'")
    assert (await _verify(api))["ok"] is True

    await _sql(api, "UPDATE admin_unit SET name = 'Xã Khác' WHERE code = 'C40'")
    assert (await _verify(api))["ok"] is False


async def test_the_newest_change_through_the_service_records_the_tree_as_it_left_it(api: Api) -> None:
    await _add_commune(api, "C40")
    await run_import(api)  # thousands of units and successions, one event recording the whole tree
    await _add_commune(api, "C41")
    report = await _verify(api)
    assert report["ok"] is True, report
    async with api.app.state.services.sessions() as session:
        digests = (
            await session.execute(text("SELECT seq, state_digest FROM audit_event WHERE chain = 'admin' ORDER BY seq"))
        ).all()
    assert [seq for seq, _ in digests] == [1, 2, 3]
    assert all(digest.startswith("units:1:") and len(digest) == 64 for _, digest in digests)
    assert len({digest for _, digest in digests}) == 3

    await _sql(api, "UPDATE admin_unit SET parent_code = 'P2' WHERE code = 'C41'")
    assert (await _verify(api))["first_bad_event"]["seq"] == 3


async def test_concurrent_additions_each_record_the_tree_including_the_one_committed_before(pg_api: Api) -> None:
    """On PostgreSQL, two admins adding units at once: the digest is computed under the admin chain's lock, so the
    one committed second records the first one's unit too, and verify holds."""
    await _add_commune(pg_api, "C50")  # the admin chain's head exists: the others queue on its lock
    await asyncio.gather(*(_add_commune(pg_api, f"C5{n}") for n in range(1, 7)))
    assert (await _verify(pg_api))["ok"] is True


async def test_a_tree_never_changed_through_the_service_has_nothing_to_compare_with(api: Api) -> None:
    """The fixtures' units were put in place directly, as a fresh database's are: nothing recorded, nothing to fail."""
    await _sql(api, "UPDATE admin_unit SET name = 'Xã Khác' WHERE code = 'C1'")
    assert (await _verify(api))["ok"] is True
