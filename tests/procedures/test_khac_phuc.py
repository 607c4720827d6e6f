"""The follow-up after a commune's 2023 classification (khac_phuc): the Bắc Kạn city letter carrying out the
Department's recommendations of Báo cáo 71/BC-SGDĐT (09/01/2024), through HTTP. Three steps, as the letter gives
them: the city conveys the recommendations, the commune's Hội Khuyến học draws up the plan, Phòng GDĐT follows it
up."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers import Api, Who
from tests.procedures import other_payloads as p
from workflows.registry import default_registry

PROCEDURE = "khac_phuc"
DEFINITION = default_registry().get(PROCEDURE, "bac-kan").definition


class Offices:
    def __init__(self, api: Api) -> None:
        self.city = api.who("district_leader", "D1")  # UBND thành phố
        self.phong = api.who("district_officer", "D1")  # Phòng GDĐT thành phố
        self.association = api.who("association_officer", "C1")  # Hội Khuyến học xã


async def classification_2023(api: Api) -> str:
    """C1's 2023 classification under TT44/2014, decided on 06/02/2024 (before the repeal)."""
    association, leader = api.who("association_officer", "C1"), api.who("commune_leader", "C1")
    district, district_association = api.who("district_leader", "D1"), api.who("association_officer", "D1")
    api.clock.set("2023-12-04T02:00:00")
    case = await api.ok(await p.open_case(api, association, "xep_loai_cdht_xa", "C1", 2023), 201)
    steps: list[tuple[str, Who, str, dict[str, Any]]] = [
        ("2023-12-05", association, "issue_plan", p.xl_issue_plan()),
        ("2023-12-20", association, "record_self_assessment", p.xl_self_assessment()),
        ("2023-12-26", leader, "submit_dossier", p.xl_submit()),
        ("2023-12-27", district, "receive_dossier", p.xl_receive()),
        ("2024-01-05", district, "assign_inspection", p.xl_assign()),
        ("2024-01-08", district_association, "record_inspection", p.xl_inspection(inspected_on="2024-01-08")),
        ("2024-01-09", district, "decide_class", p.xl_decide("kha", "2024-01-09")),
    ]
    for day, who, trigger, data in steps:
        api.clock.set(f"{day}T02:00:00")
        await api.ok(await api.fire(who, case["id"], trigger, data))
    return case["id"]


async def open_follow_up(api: Api, *, evaluated: str | None = None) -> tuple[str, Offices]:
    """A follow-up of C1's 2023 classification, the recommendations conveyed on 20/01/2024."""
    offices = Offices(api)
    api.clock.set("2024-01-20T02:00:00")
    case = await api.ok(await p.open_case(api, offices.city, PROCEDURE, "C1", 2023), 201)
    letter = p.kp_recommendations(evaluated or str(uuid.uuid4()), "2024-01-20")
    await api.ok(await api.fire(offices.city, case["id"], "issue_recommendations", letter))
    return case["id"], offices


def test_definition_models_only_the_letters_steps_each_cited_to_it() -> None:
    assert "71/BC-SGDĐT" in DEFINITION.instrument and "thành phố Bắc Kạn" in DEFINITION.instrument
    assert [t.trigger for t in DEFINITION.transitions] == ["issue_recommendations", "adopt_plan", "follow_up", "close"]
    for transition in DEFINITION.transitions:
        assert "71/BC-SGDĐT ngày 09/01/2024" in transition.citation.ref, transition.trigger
    bodies = {t.trigger: t.bodies for t in DEFINITION.transitions}
    assert bodies == {
        "issue_recommendations": ["district.leader"],
        "adopt_plan": ["commune.association"],
        "follow_up": ["district.office"],
        "close": ["district.office"],
    }
    assert DEFINITION.deadlines == {}  # the letter sets no date
    assert DEFINITION.settings["classification_cycle"].default == 2023


async def test_follow_up_of_the_2023_classification_walked_to_closed(api: Api) -> None:
    evaluated = await classification_2023(api)
    case_id, offices = await open_follow_up(api, evaluated=evaluated)
    case = await api.ok(await api.get(offices.city, f"/v1/cases/{case_id}"))
    assert (case["profile"], case["cycle"], case["deadlines"]) == ("three_tier", 2023, [])
    assert case["dossier"]["issue_recommendations"]["evaluated_case"] == evaluated
    leader = api.who("commune_leader", "C1")
    api.clock.set("2024-02-05T02:00:00")
    not_association = await api.fire(leader, case_id, "adopt_plan", p.kp_plan("2024-02-05"))
    assert not_association.status_code == 403 and p.codes(not_association) == ["not_authorised"]
    adopted = await api.ok(await api.fire(offices.association, case_id, "adopt_plan", p.kp_plan("2024-02-05")))
    assert adopted["case"]["state"] == "plan_adopted"
    for day in ("2024-06-30", "2024-09-30"):  # Phòng GDĐT follows up as often as needed
        api.clock.set(f"{day}T02:00:00")
        followed = await api.ok(await api.fire(offices.phong, case_id, "follow_up", p.kp_follow_up(day)))
        assert followed["case"]["state"] == "followed_up"
    api.clock.set("2024-10-05T02:00:00")
    early = await api.fire(offices.phong, case_id, "close", p.kp_close("2024-09-29"))
    assert p.codes(early) == ["dated_before_previous_step"]
    closed = await api.ok(await api.fire(offices.phong, case_id, "close", p.kp_close("2024-10-05")))
    assert closed["case"]["state"] == "closed" and closed["case"]["allowed_transitions"] == []
    history = await api.ok(await api.get(offices.city, f"/v1/cases/{case_id}/history"))
    acts = [(e["trigger"], e["actor"]["role"]) for e in history if e["kind"] == "transition"]
    assert acts == [
        ("issue_recommendations", "district_leader"),
        ("adopt_plan", "association_officer"),
        ("follow_up", "district_officer"),
        ("follow_up", "district_officer"),
        ("close", "district_officer"),
    ]
    assert all("71/BC-SGDĐT" in e["citation"] for e in history if e["kind"] in ("transition", "case_opened"))
    verify = await api.ok(await api.get(offices.city, "/v1/audit/verify", case=case_id))
    assert verify["ok"] is True


async def test_a_follow_up_is_opened_only_for_the_2023_classification(api: Api) -> None:
    api.clock.set("2025-04-01T02:00:00")
    refused = await p.open_case(api, api.who("district_leader", "D1"), PROCEDURE, "C1", 2024)
    assert refused.status_code == 409, refused.text
    assert p.codes(refused) == ["cycle_not_followed_up"]
    commune = await p.open_case(api, api.who("commune_leader", "C1"), PROCEDURE, "C1", 2023)
    assert commune.status_code == 403 and set(p.codes(commune)) == {"not_authorised"}


async def test_after_the_city_ceased_its_phong_gddt_is_acted_for_by_the_department(api: Api) -> None:
    case_id, offices = await open_follow_up(api)
    api.clock.set("2024-02-05T02:00:00")
    await api.ok(await api.fire(offices.association, case_id, "adopt_plan", p.kp_plan("2024-02-05")))
    api.clock.set("2025-07-15T02:00:00")  # D1 ceased on 30/06/2025 without a successor
    refused = await api.fire(offices.phong, case_id, "follow_up", p.kp_follow_up("2025-07-15"))
    assert refused.status_code == 403 and "setting ceased_district_offices" in refused.text
    department = api.who("province_officer", "P1")
    body = await api.ok(await api.fire(department, case_id, "follow_up", p.kp_follow_up("2025-07-15")))
    assert body["event"]["actor"]["role"] == "province_officer"


async def test_recommendations_without_evaluated_case_or_findings_refused(api: Api) -> None:
    offices = Offices(api)
    api.clock.set("2024-01-20T02:00:00")
    case = await api.ok(await p.open_case(api, offices.city, PROCEDURE, "C1", 2023), 201)
    payload = p.kp_recommendations(" ", "2024-01-20")
    payload["recommendations"].append({"criterion": "Thư viện", "finding": "", "kind": "weak"})
    refused = await api.fire(offices.city, case["id"], "issue_recommendations", payload)
    assert refused.status_code == 409
    assert p.codes(refused) == ["evaluated_case_required", "recommendations_invalid"]
    message = refused.json()["reasons"][1]["message"]
    assert "recommendation 3 states no finding" in message and "more than one recommendation on Thư viện" in message


async def test_plan_leaving_a_recommendation_unanswered_refused(api: Api) -> None:
    case_id, offices = await open_follow_up(api)
    api.clock.set("2024-02-05T02:00:00")
    plan = p.kp_plan("2024-02-05")
    plan["actions"] = [
        plan["actions"][0],
        {"criterion": "Kinh phí", "action": "Bổ sung kinh phí", "due_date": "2024-02-01"},
    ]
    refused = await api.fire(offices.association, case_id, "adopt_plan", plan)
    assert refused.status_code == 409
    assert p.codes(refused) == ["plan_incomplete"]
    message = refused.json()["reasons"][0]["message"]
    assert "no action for Công dân học tập" in message
    assert "actions on criteria not recommended: Kinh phí" in message
    assert "action 2 is due 01/02/2024, before the plan of 05/02/2024" in message


async def test_follow_up_dated_before_the_plan_refused(api: Api) -> None:
    case_id, offices = await open_follow_up(api)
    api.clock.set("2024-02-05T02:00:00")
    await api.ok(await api.fire(offices.association, case_id, "adopt_plan", p.kp_plan("2024-02-05")))
    refused = await api.fire(offices.phong, case_id, "follow_up", p.kp_follow_up("2024-02-04"))
    assert refused.status_code == 409
    assert p.codes(refused) == ["dated_before_previous_step"]
