"""The district procedure end to end through HTTP (TT25/2023 Điều 10–14), with TC4.1 counted from commune cases."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from service import walkthrough as w
from tests.helpers import Api
from tests.procedures import tiers_payloads as t
from tests.support.walks import district_case
from workflows.guards.registry import GuardContext, run_guards
from workflows.registry import default_registry

T = t.DISTRICT_2024


def test_definition_loads_with_thirteen_indicators_each_labelled_and_cited() -> None:
    definition = default_registry().get("cdht_huyen", "tt25-2023").definition
    assert definition.subject_level == "district"
    assert definition.levels == [1, 2]
    assert definition.kinds == ["first", "re_recognition", "upgrade"]
    assert definition.effective_from == date(2024, 2, 12)
    assert {c.code: len(c.indicators) for c in definition.criteria} == {"TC1": 3, "TC2": 4, "TC3": 3, "TC4": 3}
    for criterion in definition.criteria:
        number = criterion.code[2:]
        assert criterion.citation == f"TT25/2023 Điều 11 k{number}; Điều 12 k{number}"
        for indicator in criterion.indicators:
            assert indicator.vi.strip() and indicator.en.strip(), indicator.code
    tc41 = definition.indicator("TC4.1").measure
    assert tc41.kind == "recognised_share"
    assert tc41.of == [{"procedure": "cdht_xa", "unit_level": "commune"}]
    assert tc41.minimum == {1: {"share": 90.0}, 2: {"share": 90.0}}
    assert [
        (definition.indicator(c).measure.kind, definition.indicator(c).measure.direction) for c in ("TC4.2", "TC4.3")
    ] == [
        ("change", "increase"),
        ("change", "increase"),
    ]
    assert definition.indicator("TC4.2").vi == "Thu nhập bình quân đầu người của huyện tăng so với năm trước liền kề"
    assert all(s.doc.strip() for s in definition.settings.values())
    for transition in [*definition.transitions, *definition.indicator_process.transitions]:
        ref = transition.citation.ref
        assert ref.startswith(("TT25/2023 Điều 14", "TT25/2023 Điều 10")) or transition.citation.basis == "config", ref
    deadlines = {key: (d.rule.kind, d.rule.month, d.rule.day, d.on_breach) for key, d in definition.deadlines.items()}
    assert deadlines == {
        "submission": ("fixed_date", 4, 30, "refuse_and_fire"),
        "decision": ("fixed_date", 5, 31, "flag"),
        "validity": ("validity_end", None, None, "fire"),
    }


async def test_district_case_of_2024_walks_to_recognized_at_level_1_on_its_communes_recognitions(api: Api) -> None:
    offices = t.district_offices(api)
    case_id = await t.open_case(api, T, "D1", offices.leader)
    await t.prepare(api, T, case_id, offices)
    # C1 and C2, the communes of D1, go through the commune procedure of cycle 2024 and are recognised at level 1
    # on 20/03/2025, before the district counts them.
    for commune in ("C1", "C2"):
        commune_case, commune_leader = await api.new_case(commune, 2024)
        await api.walk(commune_case, commune_leader, cycle=2024, until="recognized")
    counted = await t.count_subordinates(api, T, case_id, offices)
    assert counted["event"]["payload"]["data"]["figures"] == {
        "units": 2,
        "recognised": {"1": 2, "2": 0},
        "source": "communes of D1 (cdht_xa)",
        "as_of": "2024-12-31",
        "rule": "in_force_at_cycle_end_or_decided_for_cycle",
    }
    await t.advance(api, T, case_id, offices, until="recognized")

    case = await api.ok(await api.get(offices.decider, f"/v1/cases/{case_id}"))
    assert (case["state"], case["level"], case["profile"]) == ("recognized", 1, "three_tier")
    assert (case["assessed_level"], case["requested_level"], case["decided_on"]) == (1, 1, "2025-05-20")
    deadlines = {d["key"]: (d["status"], d["due_at"]) for d in case["deadlines"]}
    assert deadlines == {
        "submission": ("met", "2025-04-30T16:59:59.999999Z"),  # 30/04/2025 23:59:59 Hanoi (Điều 14 k1 d)
        "decision": ("met", "2025-05-31T16:59:59.999999Z"),  # 31/05/2025 (Điều 14 k3)
        "validity": ("open", "2028-12-31T16:59:59.999999Z"),  # 2025 + 3 years (Điều 10 k4)
    }
    history = await api.ok(await api.get(offices.decider, f"/v1/cases/{case_id}/history"))
    acts = [(e["trigger"], e["actor"]["role"], e["citation"]) for e in history if e["kind"] == "transition"]
    assert acts == [
        ("issue_plan", "district_leader", "TT25/2023 Điều 14 k1 a"),
        ("assign_indicators", "district_head", "TT25/2023 Điều 14 k1 a"),
        ("complete_self_assessment", "district_head", "TT25/2023 Điều 14 k1 b"),
        ("record_review_meeting", "district_head", "TT25/2023 Điều 14 k1 c"),
        ("submit_dossier", "district_leader", "TT25/2023 Điều 14 k1 d; Điều 14 k4"),
        ("receive_dossier", "province_officer", "TT25/2023 Điều 14 k2 a"),
        ("form_council", "province_director", "TT25/2023 Điều 14 k2 b"),
        ("record_appraisal", "council_member", "TT25/2023 Điều 14 k2 c"),
        ("recognize", "province_director", "TT25/2023 Điều 14 k2 đ"),
    ]
    indicator_acts = {(e["trigger"], e["actor"]["role"]) for e in history if e["kind"] == "indicator_transition"}
    assert indicator_acts == {("submit_evidence", "district_officer"), ("accept", "district_head")}
    verify = await api.ok(await api.get(offices.decider, "/v1/audit/verify", case=case_id))
    assert verify["ok"] is True


@pytest.mark.parametrize(("recognised", "passes"), [(89, False), (90, True)])
async def test_tc41_counts_the_recognised_communes_of_the_district_against_90_percent(
    api: Api, recognised: int, passes: bool
) -> None:
    communes = [f"DX-C{n:03d}" for n in range(1, 101)]
    await t.add_units(api, [("DX", "district", "P1", date(2025, 6, 30))])
    await t.add_units(api, [(code, "commune", "DX", None) for code in communes])
    case_id, offices = await district_case(api, until="planning", district="DX", recognised=())
    await t.prepare(api, T, case_id, offices)
    await t.add_recognitions(api, "cdht_xa", communes[:recognised], cycle=2024, level=1, decided_on=date(2025, 3, 20))
    T.at(api, "tc41")
    await api.ok(await api.upload(offices.office, case_id, "TC4.1"), 201)
    sent = t.submit_evidence(T.definition, "TC4.1", figures={"units": 100, "recognised": {"1": 100, "2": 0}})
    refused = await api.fire_indicator(offices.office, case_id, "TC4.1", "submit_evidence", sent)
    assert refused.status_code == 422, refused.text
    assert [r["code"] for r in refused.json()["reasons"]] == ["payload_invalid"]
    assert "computed" in refused.json()["reasons"][0]["message"]
    await api.ok(
        await api.fire_indicator(
            offices.office, case_id, "TC4.1", "submit_evidence", t.submit_evidence(T.definition, "TC4.1")
        )
    )
    listing = await api.ok(await api.get(offices.head, f"/v1/cases/{case_id}/indicators"))
    tc41 = next(i for i in listing["indicators"] if i["code"] == "TC4.1")
    assert tc41["figures"] == {
        "units": 100,
        "recognised": {"1": recognised, "2": 0},
        "source": "communes of DX (cdht_xa)",
        "as_of": "2024-12-31",
        "rule": "in_force_at_cycle_end_or_decided_for_cycle",
    }
    assert tc41["result"] == {"1": passes, "2": False}
    assert f"level 1: {recognised} of 100 = {recognised:.1f}% (needs ≥ 90%)" in tc41["explanation"]
    assert tc41["disagrees_at"] == ([2] if passes else [1, 2])  # the self-rating said pass
    assert listing["criteria"]["TC4"] == {"1": passes, "2": False}
    assert listing["assessed_level"] == (1 if passes else 0)


async def test_tc41_gives_the_same_figure_whatever_day_it_is_entered(api: Api) -> None:
    """The data year is 01/01–31/12/2024 (Điều 14 k1 b): a commune counts when it holds a recognition in force on
    31/12/2024 or one decided for cycle 2024 (setting tc41_counts), so the figure is the same on 25/03 and 28/04."""
    communes = [f"DY-C{n}" for n in range(1, 6)]
    await t.add_units(api, [("DY", "district", "P1", date(2025, 6, 30))])
    await t.add_units(api, [(code, "commune", "DY", None) for code in communes])
    # C1: cycle 2024, decided 20/03/2025 (counts). C2: decided 20/03/2020, valid to 31/12/2023 = 31/12 of N−1
    # (does not). C3: decided 10/03/2021, valid to 31/12/2024 (in force on 31/12/2024: counts, though ended by the
    # day of the count). C4: decided 15/03/2023, valid to 31/12/2026 (counts). C5: never recognised.
    await t.add_recognitions(api, "cdht_xa", ["DY-C1"], cycle=2024, level=1, decided_on=date(2025, 3, 20))
    await t.add_recognitions(api, "cdht_xa", ["DY-C2"], cycle=2019, level=1, decided_on=date(2020, 3, 20))
    await t.add_recognitions(api, "cdht_xa", ["DY-C3"], cycle=2020, level=1, decided_on=date(2021, 3, 10))
    await t.add_recognitions(api, "cdht_xa", ["DY-C4"], cycle=2022, level=2, decided_on=date(2023, 3, 15))
    case_id, offices = await district_case(api, until="planning", district="DY", recognised=())
    await t.prepare(api, T, case_id, offices)
    first = await t.count_subordinates(api, T, case_id, offices, accept=False)  # 25/03/2025
    expected = {
        "units": 5,
        "recognised": {"1": 3, "2": 1},
        "source": "communes of DY (cdht_xa)",
        "as_of": "2024-12-31",
        "rule": "in_force_at_cycle_end_or_decided_for_cycle",
    }
    assert first["event"]["payload"]["data"]["figures"] == expected
    api.clock.set("2025-04-28T09:00:00+07:00")
    await api.ok(await api.fire_indicator(offices.head, case_id, "TC4.1", "return", {"reason": "Đếm lại"}))
    again = await api.fire_indicator(
        offices.office, case_id, "TC4.1", "submit_evidence", t.submit_evidence(T.definition, "TC4.1")
    )
    assert (await api.ok(again))["event"]["payload"]["data"]["figures"] == expected


async def test_level_1_dossier_is_refused_when_tc41_fails(api: Api) -> None:
    case_id, offices = await district_case(api, until="review_meeting_held", recognised=("C1",))  # 1 of 2: 50%
    T.at(api, "submit_dossier")
    refused = await api.fire(offices.leader, case_id, "submit_dossier", t.submit_dossier(T.days["submit_dossier"]))
    assert refused.status_code == 409, refused.text
    reason = refused.json()["reasons"][0]
    assert reason["code"] == "requested_level_not_assessed"
    assert "reaches no level" in reason["message"] and "TC4 (L1, L2)" in reason["message"]
    listing = await api.ok(await api.get(offices.head, f"/v1/cases/{case_id}/indicators"))
    assert next(i for i in listing["indicators"] if i["code"] == "TC4.1")["result"] == {"1": False, "2": False}
    body = await api.ok(await api.fire(offices.leader, case_id, "decline_submission", {"reason": "TC4.1 chưa đạt"}))
    assert body["case"]["state"] == "not_submitted"


async def test_dossier_sent_by_anyone_but_the_district_peoples_committee_is_forbidden(api: Api) -> None:
    case_id, offices = await district_case(api, until="review_meeting_held")
    T.at(api, "submit_dossier")
    payload = t.submit_dossier(T.days["submit_dossier"])
    # A commune's leader sits below the district: the case is outside its jurisdiction, not even readable.
    below = await api.fire(api.who("commune_leader", "C1"), case_id, "submit_dossier", payload)
    assert below.status_code == 403, below.text
    assert [r["code"] for r in below.json()["reasons"]] == ["outside_jurisdiction"]
    for who in (offices.office, offices.head, offices.decider):
        refused = await api.fire(who, case_id, "submit_dossier", payload)
        assert refused.status_code == 403, (who.role, refused.text)
        reasons = refused.json()["reasons"]
        assert [r["code"] for r in reasons] == ["not_authorised"]
        assert f"district.leader: needs role district_leader at unit D1; you hold {who.role}" in reasons[0]["message"]
    body = await api.ok(await api.fire(offices.leader, case_id, "submit_dossier", payload))
    assert body["case"]["state"] == "submitted"


async def test_district_case_after_the_reform_is_refused_for_want_of_a_district_tier(api: Api) -> None:
    # A district the unit list still carries through 2025 (DX): the two_tier profile names no district office.
    await t.add_units(api, [("DX", "district", "P1", None)])
    api.clock.set("2025-08-01T09:00:00+07:00")
    body = {"procedure": "cdht_huyen", "unit": "DX", "cycle": 2025}
    refused = await api.client.post("/v1/cases", headers=api.who("district_leader", "DX").headers, json=body)
    assert refused.status_code == 409, refused.text
    reasons = refused.json()["reasons"]
    assert {r["code"] for r in reasons} == {"no_tier"}
    messages = [r["message"] for r in reasons]
    assert (
        "district.leader: profile two_tier names no one for it (there is no district tier in this profile)" in messages
    )
    assert any(m.startswith("district.office: profile two_tier") for m in messages)
    # D1 itself ceased on 30/06/2025: a cycle-2025 case on it is refused before the profile is looked at.
    gone = await api.client.post(
        "/v1/cases", headers=api.who("district_leader", "D1").headers, json={**body, "unit": "D1"}
    )
    assert gone.status_code == 422, gone.text
    assert [r["code"] for r in gone.json()["reasons"]] == ["unit_not_valid"]


async def test_review_meeting_needs_an_education_office_chair_and_the_required_participants(api: Api) -> None:
    case_id, offices = await district_case(api, until="self_assessed")
    day = T.at(api, "record_review_meeting")
    short = t.record_review_meeting(
        day,
        chair_position="chu_tich",
        participants=[{"name": "Lê Văn Dũng", "org_type": "hoi_khuyen_hoc"}],
    )
    refused = await api.fire(offices.head, case_id, "record_review_meeting", short)
    assert refused.status_code == 409, refused.text
    reasons = {r["code"]: r["message"] for r in refused.json()["reasons"]}
    assert set(reasons) == {"chair_not_office_leader", "meeting_participants_missing"}
    assert "Phòng Giáo dục và Đào tạo" in reasons["chair_not_office_leader"]
    assert "truong_phong, pho_truong_phong" in reasons["chair_not_office_leader"]
    missing = reasons["meeting_participants_missing"]
    assert "specialised agency" in missing and "Ủy ban MTTQ huyện" in missing and "socio-political" in missing
    assert "Hội Khuyến học" not in missing  # present
    assert missing.endswith("(TT25/2023 Điều 14 k1 c)")
    deputy = t.record_review_meeting(day, chair_position="pho_truong_phong")
    body = await api.ok(await api.fire(offices.head, case_id, "record_review_meeting", deputy))
    assert body["case"]["state"] == "review_meeting_held"


async def test_provincial_council_of_four_is_refused(api: Api) -> None:
    case_id, offices = await district_case(api, until="under_review")
    day = T.at(api, "form_council")
    council = t.province_council(day, secretary_sub=offices.secretary.sub)
    four = {**council, "members": council["members"][:4]}
    refused = await api.fire(offices.decider, case_id, "form_council", four)
    assert refused.status_code == 409, refused.text
    reasons = refused.json()["reasons"]
    assert [r["code"] for r in reasons] == ["council_invalid"]
    assert "4 members: the council must be an odd number, at least 5" in reasons[0]["message"]
    body = await api.ok(await api.fire(offices.decider, case_id, "form_council", council))
    assert body["case"]["state"] == "council_formed"


async def test_district_case_without_a_dossier_lapses_after_30_april(api: Api) -> None:
    case_id, offices = await district_case(api, until="planning", recognised=())
    assert (await t.run_sweep(api, "2025-04-30T23:59:59+07:00")).fired == []
    report = await t.run_sweep(api, "2025-05-01T00:00:00+07:00")
    assert report.fired == [(case_id, "lapse")]
    case = await api.ok(await api.get(offices.decider, f"/v1/cases/{case_id}"))
    assert case["state"] == "lapsed"
    assert {d["key"]: d["status"] for d in case["deadlines"]} == {"submission": "breached"}


def test_review_meeting_guards_name_the_district_office_and_clause() -> None:
    definition = T.definition
    ctx = GuardContext(
        definition=definition,
        trigger="record_review_meeting",
        state="self_assessed",
        kind="first",
        cycle=2024,
        now=datetime(2025, 4, 2, 2, tzinfo=timezone.utc),
        payload=w.record_review_meeting(2024),  # the commune's meeting: a commune chairman and no agency
        settings=definition.default_settings(),
    )
    failures = run_guards(["is_chaired_by_education_office_leader", "has_required_tier_meeting_participants"], ctx)
    assert [v.code for v in failures] == ["chair_not_office_leader", "meeting_participants_missing"]
    assert "not 'chu_tich'" in failures[0].message and "(TT25/2023 Điều 14 k1 c;" in failures[0].message
    assert "at least one specialised agency of the district People's Committee" in failures[1].message


async def test_re_recognition_of_a_district_never_recognised_is_refused_at_opening(api: Api) -> None:
    T.at(api, "open")
    body = {"procedure": "cdht_huyen", "unit": "D1", "cycle": 2024, "kind": "re_recognition"}
    refused = await api.client.post("/v1/cases", headers=api.who("province_director", "P1").headers, json=body)
    assert refused.status_code == 409, refused.text
    assert [r["code"] for r in refused.json()["reasons"]] == ["no_recognition_to_renew"]
    opened = await api.client.post(
        "/v1/cases", headers=api.who("province_director", "P1").headers, json={**body, "kind": "first"}
    )
    assert (await api.ok(opened, 201))["state"] == "planning"
