"""Case kinds against a unit's recognition history (PROCEDURES.md §7; TT25/2023 Điều 5 k4, Điều 9 k4).

``first`` for a unit never recognised; ``re_recognition`` for the cycle in which the last recognition expires or
later; ``upgrade`` from a level-1 recognition in force, submitted no earlier than 12 months after it. The history
follows a commune across the two-tier reform through ``unit_succession``.
"""

from __future__ import annotations

from datetime import date

from service import walkthrough as w
from service.persistence.tables import UnitSuccession
from tests.helpers import Api


def codes(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [reason["code"] for reason in response.json()["reasons"]]


async def recognised(api: Api, unit: str, cycle: int, level: int = 1) -> str:
    case_id, leader = await api.new_case(unit, cycle)
    await api.walk(case_id, leader, cycle=cycle, until="recognized", level=level)
    return case_id


async def test_kinds_follow_the_recognition_and_its_validity(api: Api) -> None:
    await recognised(api, "C3", 2025)  # decided 20/03/2026: valid through 31/12/2029 (Điều 5 k4)
    leader = api.who("commune_leader", "C3")
    api.clock.set("2026-04-01T02:00:00")

    again = await api.open(leader, "C3", 2026)
    assert again.status_code == 409 and codes(again) == ["already_recognised"], again.text
    assert "valid until 31/12/2029" in again.json()["reasons"][0]["message"]
    early = await api.open(leader, "C3", 2026, kind="re_recognition")
    assert early.status_code == 409 and codes(early) == ["recognition_still_valid"], early.text
    assert "2029 at the earliest" in early.json()["reasons"][0]["message"]

    api.clock.set("2029-01-10T02:00:00")
    renewal = await api.ok(await api.open(leader, "C3", 2029, kind="re_recognition"), 201)
    assert renewal["kind"] == "re_recognition" and renewal["state"] == "planning"


async def test_kinds_that_need_a_history_are_refused_without_one(api: Api) -> None:
    leader = api.who("commune_leader", "C3")
    api.clock.set("2026-01-20T02:00:00")
    renewal = await api.open(leader, "C3", 2026, kind="re_recognition")
    assert renewal.status_code == 409 and codes(renewal) == ["no_recognition_to_renew"], renewal.text
    upgrade = await api.open(leader, "C3", 2026, kind="upgrade")
    assert upgrade.status_code == 409 and codes(upgrade) == ["no_level1_recognition"], upgrade.text
    listed = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/cases"))
    assert listed["items"] == [], "a refused opening leaves nothing behind"


async def test_upgrade_is_submitted_no_earlier_than_twelve_months_after_level_1(api: Api) -> None:
    await recognised(api, "C3", 2025)  # level 1 decided on 20/03/2026
    api.clock.set("2026-04-01T02:00:00")
    leader = api.who("commune_leader", "C3")
    upgrade = await api.ok(await api.open(leader, "C3", 2026, kind="upgrade"), 201)
    assert upgrade["target_level"] == 2
    await api.walk(upgrade["id"], leader, cycle=2026, until="review_meeting_held", level=2)
    api.clock.set("2027-02-10T02:00:00")
    early = await api.fire(leader, upgrade["id"], "submit_dossier", w.submit_dossier(2026, 2))
    assert early.status_code == 409 and "upgrade_too_early" in codes(early), early.text
    assert "allows an upgrade from 20/03/2027" in early.text

    # The next cycle's upgrade is submitted in February 2028, more than 12 months after the level-1 decision.
    api.clock.set("2027-04-01T02:00:00")
    later = await api.ok(await api.open(leader, "C3", 2027, kind="upgrade"), 201)
    await api.walk(later["id"], leader, cycle=2027, until="recognized", level=2)
    case = await api.ok(await api.get(leader, f"/v1/cases/{later['id']}"))
    assert case["state"] == "recognized" and case["level"] == 2
    api.clock.set("2028-04-01T02:00:00")
    beyond = await api.open(leader, "C3", 2028, kind="upgrade")
    assert beyond.status_code == 409 and codes(beyond) == ["already_level_2"], beyond.text


async def test_history_follows_a_commune_across_the_reform_and_each_profile_decides_by_its_roles(api: Api) -> None:
    # Cycle 2024 runs under three_tier: the district head decides C1's case.
    old = await recognised(api, "C1", 2024)
    history = await api.ok(await api.get(api.who("auditor", "VN"), f"/v1/cases/{old}/history"))
    decision = next(event for event in history if event["trigger"] == "recognize")
    assert decision["actor"]["role"] == "district_head" and decision["actor"]["unit"] == "D1"

    # From 1 July 2025 C1 is continued by X1, directly under the province.
    await api.add_units(("X1", "Xã Một Mới", "commune", "P1"), valid_from=date(2025, 7, 1))
    async with api.app.state.services.sessions() as session, session.begin():
        session.add(
            UnitSuccession(
                predecessor_code="C1",
                successor_code="X1",
                effective_on=date(2025, 7, 1),
                basis="resolution",
                source="Nghị quyết sắp xếp đơn vị hành chính cấp xã (test)",
            )
        )
    leader = api.who("commune_leader", "X1")
    api.clock.set("2025-08-01T02:00:00")
    first = await api.open(leader, "X1", 2025)
    assert first.status_code == 409 and codes(first) == ["already_recognised"], first.text
    assert "by C1" in first.json()["reasons"][0]["message"]
    before_reform = await api.open(leader, "X1", 2024)
    assert before_reform.status_code == 422 and "unit_not_valid" in codes(before_reform), before_reform.text

    # X1's upgrade for cycle 2026 (submitted in 2027, a year after the level-1 decision of 20/03/2025) runs under
    # two_tier: the provincial director decides.
    api.clock.set("2026-01-20T02:00:00")
    upgrade = await api.ok(await api.open(leader, "X1", 2026, kind="upgrade"), 201)
    assert upgrade["profile"] == "two_tier"
    await api.walk(upgrade["id"], leader, cycle=2026, until="recognized", level=2)
    history = await api.ok(await api.get(api.who("auditor", "VN"), f"/v1/cases/{upgrade['id']}/history"))
    decision = next(event for event in history if event["trigger"] == "recognize")
    assert decision["actor"]["role"] == "province_director" and decision["actor"]["unit"] == "P1"
    district_head = api.who("district_head", "D1")
    refused = await api.open(district_head, "X1", 2027, kind="re_recognition")
    assert refused.status_code == 403, refused.text
