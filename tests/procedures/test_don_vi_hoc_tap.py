"""Recognition of a learning unit ("Đơn vị học tập", TT24/2023) through HTTP: a case about an organisation."""

from __future__ import annotations

from tests.helpers import Api
from tests.procedures import other_payloads as p
from tests.procedures.other_payloads import ORG
from tests.support.walks import LEARNING_UNIT, LearningUnitActors, open_learning_unit_case, walk_learning_unit


async def test_learning_unit_walked_by_each_body_recognised_at_level_2(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="recognize", level=2)
    case = await api.ok(await api.get(actors.chairman, f"/v1/cases/{case_id}"))
    assert case["state"] == "recognized"
    assert (case["unit"], case["subject"], case["profile"]) == ("D1", ORG, "three_tier")
    assert (case["requested_level"], case["level"], case["decided_on"]) == (2, 2, "2025-02-15")
    assert {d["key"]: d["status"] for d in case["deadlines"]} == {"submission": "met"}
    history = await api.ok(await api.get(actors.chairman, f"/v1/cases/{case_id}/history"))
    transitions = [(e["trigger"], e["actor"]["role"]) for e in history if e["kind"] == "transition"]
    assert transitions == [
        ("submit_dossier", "learning_unit_head"),
        ("receive_dossier", "district_officer"),
        ("form_council", "district_head"),
        ("record_appraisal", "council_member"),
        ("recognize", "district_leader"),
    ]
    assert history[0]["payload"]["subject"] == ORG
    verify = await api.ok(await api.get(actors.chairman, "/v1/audit/verify", case=case_id))
    assert verify["ok"] is True


async def test_submission_due_on_15_january_of_the_next_year(api: Api) -> None:
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    case = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}"))
    (deadline,) = case["deadlines"]
    assert deadline["key"] == "submission"
    assert deadline["due_at"] == "2025-01-15T16:59:59.999999Z"  # 23:59:59.999999 on 15/01/2025, local time
    assert deadline["inputs"]["named_date"] == "2025-01-15"


async def test_dossier_after_15_january_refused_submission_deadline_passed(api: Api) -> None:
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    api.clock.set("2025-01-15T17:00:00")  # 00:00 on 16/01/2025 local
    refused = await api.fire(actors.head, case_id, "submit_dossier", p.dv_submit(day="2025-01-15"))
    assert refused.status_code == 409, refused.text
    assert p.codes(refused) == ["submission_deadline_passed"]
    assert "15/01/2025" in refused.json()["reasons"][0]["message"]


async def test_opening_without_subject_refused_subject_required(api: Api) -> None:
    api.clock.set("2024-10-01T02:00:00")
    refused = await p.open_case(api, api.who("learning_unit_head", "D1", org=ORG), LEARNING_UNIT, "D1", 2024)
    assert refused.status_code == 422, refused.text
    assert p.codes(refused) == ["subject_required"]


async def test_head_of_another_organisation_cannot_open_forbidden(api: Api) -> None:
    api.clock.set("2024-10-01T02:00:00")
    other = api.who("learning_unit_head", "D1", org="TRUNG_TAM_Y_TE_D1")
    refused = await p.open_case(api, other, LEARNING_UNIT, "D1", 2024, subject=ORG)
    assert refused.status_code == 403, refused.text
    assert p.codes(refused) == ["not_authorised", "not_authorised"]
    assert any(ORG in r["message"] and "TRUNG_TAM_Y_TE_D1" in r["message"] for r in refused.json()["reasons"])


async def test_head_of_another_organisation_cannot_submit_forbidden(api: Api) -> None:
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    api.clock.set("2025-01-10T02:00:00")
    other = api.who("learning_unit_head", "D1", org="TRUNG_TAM_Y_TE_D1")
    refused = await api.fire(other, case_id, "submit_dossier", p.dv_submit())
    assert refused.status_code == 403
    # Another organisation's head may not even read the case (it speaks for its own organisation only).
    assert p.codes(refused) == ["outside_jurisdiction"]
    assert (await api.get(other, f"/v1/cases/{case_id}")).status_code == 403
    own = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}"))
    assert own["subject"] == ORG


async def test_education_office_head_may_open_for_a_unit_it_guides(api: Api) -> None:
    api.clock.set("2024-10-01T02:00:00")
    body = await api.ok(
        await p.open_case(api, api.who("district_head", "D1"), LEARNING_UNIT, "D1", 2024, subject=ORG), 201
    )
    assert body["subject"] == ORG and body["state"] == "self_assessing"


async def test_two_tier_cycle_refused_no_tier(api: Api) -> None:
    # A district that exists through 2025 (D1 ceased on 30/06/2025): cycle 2025 runs under two_tier.
    await api.add_units(("D2", "Huyện Hai", "district", "P1"))
    api.clock.set("2025-09-01T02:00:00")
    head = api.who("learning_unit_head", "D2", org=ORG)
    refused = await p.open_case(api, head, LEARNING_UNIT, "D2", 2025, subject=ORG)
    assert refused.status_code == 409, refused.text
    assert set(p.codes(refused)) == {"no_tier"}
    bodies = {r["message"].split(":")[0] for r in refused.json()["reasons"]}
    assert bodies == {"district.head", "district.leader", "district.office", "learning_unit.head"}


async def test_even_sized_council_refused_council_invalid(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="receive_dossier")
    api.clock.set("2025-01-20T02:00:00")
    refused = await api.fire(actors.office_head, case_id, "form_council", p.dv_council(actors.secretary.sub, members=4))
    assert refused.status_code == 409, refused.text
    assert p.codes(refused) == ["council_invalid"]
    message = refused.json()["reasons"][0]["message"]
    assert "4 members" in message and "TT24/2023" in message
    three = await api.fire(actors.office_head, case_id, "form_council", p.dv_council(actors.secretary.sub, members=3))
    assert "3 members: the council must be an odd number, at least 5" in three.json()["reasons"][0]["message"]
    body = await api.ok(await api.fire(actors.office_head, case_id, "form_council", p.dv_council(actors.secretary.sub)))
    assert body["case"]["state"] == "council_formed"


async def test_council_member_not_named_cannot_record_appraisal(api: Api) -> None:
    case_id, _ = await walk_learning_unit(api, until="form_council")
    api.clock.set("2025-02-05T02:00:00")
    refused = await api.fire(api.who("council_member", "D1"), case_id, "record_appraisal", p.dv_appraisal())
    assert refused.status_code == 403
    assert p.codes(refused) == ["not_authorised"]


async def test_appraisal_missing_a_group_or_contradicting_its_results_refused(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="form_council")
    api.clock.set("2025-02-05T02:00:00")
    partial = p.dv_appraisal()
    partial["results"] = partial["results"][:2]
    refused = await api.fire(actors.secretary, case_id, "record_appraisal", partial)
    assert p.codes(refused) == ["appraisal_results_incomplete"]
    assert "no result for DV3" in refused.json()["reasons"][0]["message"]
    contradicting = p.dv_appraisal(failed=("DV2",), conclusion="eligible")
    refused = await api.fire(actors.secretary, case_id, "record_appraisal", contradicting)
    assert p.codes(refused) == ["conclusion_inconsistent"]
    other_level = await api.fire(actors.secretary, case_id, "record_appraisal", p.dv_appraisal(level=2))
    assert p.codes(other_level) == ["appraisal_level_mismatch"]


async def test_not_eligible_unit_refused_with_reasons(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="record_appraisal", failed=("DV2",))
    api.clock.set("2025-02-15T02:00:00")
    refused = await api.fire(actors.chairman, case_id, "recognize", p.dv_recognize())
    assert refused.status_code == 409
    assert p.codes(refused) == ["appraisal_not_eligible"]
    assert refused.json()["allowed_transitions"] == ["refuse"]
    blank = await api.fire(actors.chairman, case_id, "refuse", p.dv_refuse(reasons=[" "]))
    assert p.codes(blank) == ["reasons_required"]
    body = await api.ok(await api.fire(actors.chairman, case_id, "refuse", p.dv_refuse()))
    assert body["case"]["state"] == "refused"
    assert body["case"]["level"] is None


async def test_recognised_organisation_cannot_open_another_first_case(api: Api) -> None:
    await walk_learning_unit(api, until="recognize")
    api.clock.set("2025-03-01T02:00:00")
    refused = await p.open_case(
        api, api.who("learning_unit_head", "D1", org=ORG), LEARNING_UNIT, "D1", 2024, subject=ORG
    )
    assert refused.status_code == 409
    assert p.codes(refused) == ["already_recognised"]
    # Another organisation of the same district is a case of its own.
    other = api.who("learning_unit_head", "D1", org="TRUNG_TAM_Y_TE_D1")
    body = await api.ok(await p.open_case(api, other, LEARNING_UNIT, "D1", 2024, subject="TRUNG_TAM_Y_TE_D1"), 201)
    assert body["subject"] == "TRUNG_TAM_Y_TE_D1"


async def test_sweeper_lapses_a_unit_that_did_not_submit_by_15_january(api: Api) -> None:
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    assert (await p.run_sweep(api, "2025-01-15T23:59:59+07:00")).fired == []
    report = await p.run_sweep(api, "2025-01-16T00:00:00+07:00")
    assert report.fired == [(case_id, "lapse")]
    case = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}"))
    assert case["state"] == "lapsed"
    assert {d["key"]: d["status"] for d in case["deadlines"]} == {"submission": "breached"}
