"""After the 2025 reform a unit that continues another lists what it reads by id (issue 13 point 1).

Province P1 and its commune C1 cease on 30/06/2025; NP continues P1 and NC continues C1 from 1/7/2025. The
auditor of NP, and a commune officer of NC, read the predecessors' cases by id (``authority.can_read`` follows the
succession); the lists — cases, deadlines, audit events and the audit export — hold exactly those cases, no more
(C9 of P2 stays out; NC does not continue C2), no fewer.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import update

from service.persistence.tables import AdminUnit, UnitSuccession
from tests.helpers import Api, Who

REFORM = date(2025, 7, 1)


async def _reform(api: Api) -> None:
    """P1 and C1 cease; NP continues P1 and NC (under NP) continues C1."""
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(
            update(AdminUnit).where(AdminUnit.code.in_(["P1", "C1"])).values(valid_to=date(2025, 6, 30))
        )
        session.add(AdminUnit(code="NP", name="Tỉnh mới", level="province", parent_code="VN", valid_from=REFORM))
    async with api.app.state.services.sessions() as session, session.begin():
        session.add(AdminUnit(code="NC", name="Xã mới", level="commune", parent_code="NP", valid_from=REFORM))
        for before, after in (("P1", "NP"), ("C1", "NC")):
            session.add(
                UnitSuccession(
                    predecessor_code=before, successor_code=after, effective_on=REFORM, basis="resolution", source="t"
                )
            )


async def _cases(api: Api) -> dict[str, str]:
    """A case of C1 with deadlines open and events on its chain, one of C2 (both cycle 2024), one of C9."""
    c1, leader = await api.new_case("C1", 2024)
    await api.walk(c1, leader, cycle=2024, until="plan_issued")
    c2, _ = await api.new_case("C2", 2024)
    c9, _ = await api.new_case("C9", 2025)
    return {"C1": c1, "C2": c2, "C9": c9}


async def _by_id(api: Api, who: Who, case_ids: list[str]) -> dict[str, Any]:
    """What ``who`` reads case by case: each readable case and its history (events by id)."""
    read = {}
    for case_id in case_ids:
        response = await api.get(who, f"/v1/cases/{case_id}")
        assert response.status_code in (200, 403), response.text
        if response.status_code == 200:
            history = await api.ok(await api.get(who, f"/v1/cases/{case_id}/history"))
            read[case_id] = {"case": response.json(), "events": [event["id"] for event in history]}
    return read


async def _listed(api: Api, who: Who, path: str, **params: Any) -> list[dict[str, Any]]:
    body = await api.ok(await api.get(who, path, limit=500, **params))
    assert body["next_cursor"] is None
    return body["items"]


async def _check_lists_match_reads(api: Api, who: Who, case_ids: list[str], expected: set[str]) -> None:
    read = await _by_id(api, who, case_ids)
    assert set(read) == expected, (who.role, who.unit, sorted(read))
    cases = await _listed(api, who, "/v1/cases")
    assert sorted(case["id"] for case in cases) == sorted(expected)
    deadlines = await _listed(api, who, "/v1/deadlines")
    by_id = {(case_id, d["key"]) for case_id, found in read.items() for d in found["case"]["deadlines"]}
    assert by_id, "the C1 case has deadlines to list"
    assert {(d["case_id"], d["key"]) for d in deadlines} == by_id
    for case_id, found in read.items():
        events = await _listed(api, who, "/v1/audit/events", case=case_id)
        assert [event["id"] for event in events] == found["events"]


async def test_successor_province_auditor_and_commune_officer_list_what_they_read(api: Api) -> None:
    ids = await _cases(api)
    await _reform(api)
    api.clock.set("2025-08-01T02:00:00")
    everyone = list(ids.values())
    province_auditor = api.who("auditor", "NP")
    await _check_lists_match_reads(api, province_auditor, everyone, {ids["C1"], ids["C2"]})
    commune_officer = api.who("commune_officer", "NC")
    await _check_lists_match_reads(api, commune_officer, everyone, {ids["C1"]})
    # The export of a predecessor's case holds its whole chain, as the history shows it.
    history = await api.ok(await api.get(province_auditor, f"/v1/cases/{ids['C1']}/history"))
    export = await api.get(province_auditor, "/v1/audit/export", case=ids["C1"])
    assert export.status_code == 200, export.text
    lines = export.text.splitlines()
    assert json.loads(lines[0])["export"]["complete"] is False
    assert [json.loads(line)["uid"] for line in lines[1:]] == [event["id"] for event in history]
    unit_wide = await api.get(province_auditor, "/v1/audit/export")
    exported_cases = {json.loads(line)["case_id"] for line in unit_wide.text.splitlines()[1:]}
    assert exported_cases == {ids["C1"], ids["C2"]}


async def test_a_unit_that_continues_none_lists_nothing_of_them(api: Api) -> None:
    ids = await _cases(api)
    await _reform(api)
    api.clock.set("2025-08-01T02:00:00")
    other_auditor = api.who("auditor", "P2")
    assert set(await _by_id(api, other_auditor, list(ids.values()))) == {ids["C9"]}
    assert [case["id"] for case in await _listed(api, other_auditor, "/v1/cases")] == [ids["C9"]]
    for case_id in (ids["C1"], ids["C2"]):
        assert await _listed(api, other_auditor, "/v1/audit/events", case=case_id) == []
        export = await api.get(other_auditor, "/v1/audit/export", case=case_id)
        assert export.text.splitlines()[1:] == []
