"""The repealed TT44/2014 classification of commune learning communities (xep_loai_cdht_xa) through HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, Who
from tests.procedures import other_payloads as p
from tests.support.apps import build_api
from tests.support.definitions import registry_with_settings
from workflows.guards.other import class_for_score, score_bands
from workflows.registry import default_registry

PROCEDURE = "xep_loai_cdht_xa"
# Bands a province states as verified, with their source (none is shipped: TT44's text is not held, §10 q6).
BANDS = {"bands": {"tot": 90, "kha": 70, "trung_binh": 50}, "source": "TT44/2014 (text checked by the province)"}
DEFINITION = default_registry().get(PROCEDURE, "tt44-2014").definition
STEPS = ["issue_plan", "record_self_assessment", "submit_dossier", "receive_dossier", "assign_inspection"]
STEPS += ["record_inspection", "decide_class"]


class Actors:
    def __init__(self, api: Api) -> None:
        self.association = api.who("association_officer", "C1")  # Hội Khuyến học xã
        self.leader = api.who("commune_leader", "C1")  # Chủ tịch UBND xã
        self.district_leader = api.who("district_leader", "D1")  # Chủ tịch UBND huyện
        self.district_association = api.who("association_officer", "D1")  # Hội Khuyến học huyện


async def walk(api: Api, *, until: str) -> tuple[str, Actors]:
    """Open a cycle-2023 case of C1 in December 2023 and fire its steps, each by its body, up to ``until``."""
    actors = Actors(api)
    api.clock.set("2023-12-04T02:00:00")
    case = await api.ok(await p.open_case(api, actors.association, PROCEDURE, "C1", 2023), 201)
    steps: list[tuple[str, Who, str, dict[str, Any]]] = [
        ("2023-12-05", actors.association, "issue_plan", p.xl_issue_plan()),
        ("2023-12-20", actors.association, "record_self_assessment", p.xl_self_assessment()),
        ("2023-12-26", actors.leader, "submit_dossier", p.xl_submit()),
        ("2023-12-27", actors.district_leader, "receive_dossier", p.xl_receive()),
        ("2024-01-05", actors.district_leader, "assign_inspection", p.xl_assign()),
        ("2024-02-06", actors.district_association, "record_inspection", p.xl_inspection()),
        ("2024-02-19", actors.district_leader, "decide_class", p.xl_decide()),
    ]
    for day, who, trigger, data in steps[: STEPS.index(until) + 1]:
        api.clock.set(f"{day}T02:00:00")
        await api.ok(await api.fire(who, case["id"], trigger, data))
    return case["id"], actors


@pytest.fixture
async def after_repeal(database_url: str, tmp_path):  # type: ignore[no-untyped-def]
    """A deployment whose profiles let an open TT44 case be decided after the repeal and state verified bands."""
    registry = registry_with_settings(tmp_path, tt44_decide_after_repeal=True, tt44_score_bands=BANDS)
    async for api in build_api(database_url, tmp_path / "data", registry=registry):
        yield api


async def test_an_open_tt44_case_is_not_decided_after_the_repeal_by_default(api: Api) -> None:
    case_id, actors = await walk(api, until="record_inspection")
    api.clock.set("2024-02-19T02:00:00")
    refused = await api.fire(actors.district_leader, case_id, "decide_class", p.xl_decide())
    assert refused.status_code == 409, refused.text
    assert p.codes(refused) == ["decided_after_repeal"]
    message = refused.json()["reasons"][0]["message"]
    assert "12/02/2024" in message and "TT25/2023 Điều 25" in message and "tt44_decide_after_repeal" in message


async def test_classification_walked_by_each_body_ends_classified_after_the_repeal(after_repeal: Api) -> None:
    api = after_repeal
    case_id, actors = await walk(api, until="decide_class")
    case = await api.ok(await api.get(actors.district_leader, f"/v1/cases/{case_id}"))
    assert case["state"] == "classified"
    assert (case["procedure"], case["version"], case["profile"]) == (PROCEDURE, "tt44-2014", "three_tier")
    # Decided on 19/02/2024, after TT25 repealed TT44 (12/02/2024): the profile lets an open case be decided.
    assert case["dossier"]["decide_class"]["classification"] == "kha"
    assert case["dossier"]["record_inspection"]["score"] == 82
    assert case["dossier"]["record_self_assessment"]["score"] == 85
    # A classification, not a recognition level: no levels, no criteria.
    assert (case["target_level"], case["level"], case["assessed_level"]) == (None, None, None)
    assert case["allowed_transitions"] == []
    deadlines = {d["key"]: d["status"] for d in case["deadlines"]}
    assert deadlines == {"inspection_assignment": "met", "classification": "met"}
    history = await api.ok(await api.get(actors.district_leader, f"/v1/cases/{case_id}/history"))
    transitions = [(e["trigger"], e["actor"]["role"], e["actor"]["unit"]) for e in history if e["kind"] == "transition"]
    assert transitions == [
        ("issue_plan", "association_officer", "C1"),
        ("record_self_assessment", "association_officer", "C1"),
        ("submit_dossier", "commune_leader", "C1"),
        ("receive_dossier", "district_leader", "D1"),
        ("assign_inspection", "district_leader", "D1"),
        ("record_inspection", "association_officer", "D1"),
        ("decide_class", "district_leader", "D1"),
    ]
    assert history[0]["payload"]["procedure"] == PROCEDURE
    verify = await api.ok(await api.get(actors.district_leader, "/v1/audit/verify", case=case_id))
    assert verify["ok"] is True and verify["events_checked"] == len(history)
    # Rebuilt from its events as it stood on 01/01/2024: received, the 10-working-day deadline running.
    then = await api.ok(await api.get(actors.district_leader, f"/v1/cases/{case_id}", as_of="2024-01-01T00:00:00Z"))
    assert then["state"] == "received"
    assert [(d["key"], d["status"], d["due_at"]) for d in then["deadlines"]] == [
        ("inspection_assignment", "open", "2024-01-11T16:59:59.999999Z")
    ]


async def test_opening_from_the_repeal_date_refused_instrument_repealed(api: Api) -> None:
    association = api.who("association_officer", "C1")
    api.clock.set("2024-02-11T16:59:59")  # 23:59:59 on 11/02/2024 in Asia/Ho_Chi_Minh: still in force
    await api.ok(await p.open_case(api, association, PROCEDURE, "C1", 2023), 201)
    api.clock.set("2024-02-11T17:00:00")  # 00:00 on 12/02/2024 local: TT25/2023 Điều 25 has repealed TT44
    refused = await p.open_case(api, api.who("association_officer", "C2"), PROCEDURE, "C2", 2023)
    assert refused.status_code == 422, refused.text
    assert p.codes(refused) == ["instrument_repealed"]
    message = refused.json()["reasons"][0]["message"]
    assert "12/02/2024" in message and "TT25/2023 Điều 25" in message


async def test_cycle_before_tt44_took_effect_refused(api: Api) -> None:
    api.clock.set("2023-12-04T02:00:00")
    refused = await p.open_case(api, api.who("commune_leader", "C1"), PROCEDURE, "C1", 2014)
    assert refused.status_code == 422
    assert p.codes(refused) == ["cycle_before_instrument"]


@pytest.mark.parametrize(
    ("until", "trigger", "role", "unit", "data"),
    [
        pytest.param("planning", "issue_plan", "commune_leader", "C1", p.xl_issue_plan(), id="plan-not-association"),
        pytest.param(
            "self_assessed", "submit_dossier", "association_officer", "C1", p.xl_submit(), id="send-not-chairman"
        ),
        pytest.param(
            "inspection_assigned", "record_inspection", "district_officer", "D1", p.xl_inspection(), id="inspect-phong"
        ),
        pytest.param("inspected", "decide_class", "district_head", "D1", p.xl_decide(), id="decide-truong-phong"),
    ],
)
async def test_step_fired_by_another_office_forbidden(
    api: Api, until: str, trigger: str, role: str, unit: str, data: dict[str, Any]
) -> None:
    if until == "planning":
        actors = Actors(api)
        api.clock.set("2023-12-04T02:00:00")
        case_id = (await api.ok(await p.open_case(api, actors.association, PROCEDURE, "C1", 2023), 201))["id"]
    else:
        state_to_step = {"self_assessed": "record_self_assessment", "inspection_assigned": "assign_inspection"}
        case_id, _ = await walk(api, until=state_to_step.get(until, "record_inspection"))
    api.clock.set("2024-02-19T02:00:00")
    refused = await api.fire(api.who(role, unit), case_id, trigger, data)
    assert refused.status_code == 403, refused.text
    assert p.codes(refused) == ["not_authorised"]


async def test_class_not_matching_verified_score_bands_refused(after_repeal: Api) -> None:
    api = after_repeal
    case_id, actors = await walk(api, until="record_inspection")
    api.clock.set("2024-02-19T02:00:00")
    refused = await api.fire(actors.district_leader, case_id, "decide_class", p.xl_decide("tot"))
    assert refused.status_code == 409, refused.text
    assert p.codes(refused) == ["class_not_matching_bands"]
    message = refused.json()["reasons"][0]["message"]
    assert "82" in message and "'kha'" in message and "tot ≥ 90" in message and BANDS["source"] in message
    body = await api.ok(await api.fire(actors.district_leader, case_id, "decide_class", p.xl_decide("kha")))
    assert body["case"]["state"] == "classified"


async def test_unverified_bands_do_not_refuse_a_class_decided_before_the_repeal(api: Api) -> None:
    # 41 points: "chưa đạt" under the bands once shipped, but no band is verified, so the decision stands.
    case_id, actors = await walk(api, until="assign_inspection")
    api.clock.set("2024-02-06T02:00:00")
    await api.ok(await api.fire(actors.district_association, case_id, "record_inspection", p.xl_inspection(41)))
    api.clock.set("2024-02-08T02:00:00")
    body = await api.ok(
        await api.fire(actors.district_leader, case_id, "decide_class", p.xl_decide("trung_binh", "2024-02-08"))
    )
    assert body["case"]["dossier"]["decide_class"]["classification"] == "trung_binh"


async def test_below_every_verified_band_only_chua_dat_accepted(after_repeal: Api) -> None:
    api = after_repeal
    case_id, actors = await walk(api, until="assign_inspection")
    api.clock.set("2024-02-06T02:00:00")
    await api.ok(await api.fire(actors.district_association, case_id, "record_inspection", p.xl_inspection(41)))
    api.clock.set("2024-02-08T02:00:00")
    refused = await api.fire(actors.district_leader, case_id, "decide_class", p.xl_decide("trung_binh", "2024-02-08"))
    assert p.codes(refused) == ["class_not_matching_bands"]
    body = await api.ok(
        await api.fire(actors.district_leader, case_id, "decide_class", p.xl_decide("chua_dat", "2024-02-08"))
    )
    assert body["case"]["dossier"]["decide_class"]["classification"] == "chua_dat"


@pytest.mark.parametrize(
    ("score", "expected"),
    [(100, "tot"), (90, "tot"), (89.5, "kha"), (70, "kha"), (50, "trung_binh"), (49.9, "chua_dat"), (0, "chua_dat")],
)
def test_score_on_a_band_minimum_falls_in_that_band(score: float, expected: str) -> None:
    assert class_for_score(score, {**DEFINITION.default_settings(), "tt44_score_bands": BANDS}) == expected


def test_score_bands_setting_changes_the_class() -> None:
    bands = {"bands": {"tot": 85, "kha": 65, "trung_binh": 45}, "source": "QĐ 1/QĐ-UBND (test)"}
    settings = {**DEFINITION.default_settings(), "tt44_score_bands": bands}
    assert class_for_score(86, settings) == "tot"
    assert class_for_score(46, settings) == "trung_binh"


async def test_self_assessed_score_above_the_scale_refused(api: Api) -> None:
    case_id, actors = await walk(api, until="issue_plan")
    api.clock.set("2023-12-20T02:00:00")
    refused = await api.fire(actors.association, case_id, "record_self_assessment", p.xl_self_assessment(120))
    assert refused.status_code == 409
    assert p.codes(refused) == ["score_out_of_range"]
    assert "from 0 to 100" in refused.json()["reasons"][0]["message"]


async def test_receipt_dated_before_the_submission_letter_refused(api: Api) -> None:
    case_id, actors = await walk(api, until="submit_dossier")
    api.clock.set("2023-12-27T02:00:00")
    refused = await api.fire(actors.district_leader, case_id, "receive_dossier", p.xl_receive("2023-12-25"))
    assert refused.status_code == 409
    assert p.codes(refused) == ["received_before_submission"]
    assert "TT44/2014" in refused.json()["reasons"][0]["message"]  # cites this procedure's step, not TT25


async def test_inspection_assignment_due_ten_working_days_after_receipt_skipping_new_year(api: Api) -> None:
    case_id, actors = await walk(api, until="receive_dossier")
    case = await api.ok(await api.get(actors.district_leader, f"/v1/cases/{case_id}"))
    due = next(d for d in case["deadlines"] if d["key"] == "inspection_assignment")
    # Counted by hand from Wed 27/12/2023 (not counted): Thu 28 (1), Fri 29 (2), weekend 30–31, Mon 01/01/2024
    # New Year holiday, Tue 02 (3), 03 (4), 04 (5), 05 (6), weekend 06–07, Mon 08 (7), 09 (8), 10 (9), Thu 11 (10).
    assert due["due_at"] == "2024-01-11T16:59:59.999999Z"  # 23:59:59.999999 on 11/01/2024 Asia/Ho_Chi_Minh
    assert due["rule"] == "working_days_after"
    assert due["inputs"] == {"start": "2023-12-27", "days": 10}
    assert due["status"] == "open" and due["overdue"] is False


async def test_classification_due_five_working_days_after_inspection_skipping_tet(api: Api) -> None:
    case_id, actors = await walk(api, until="record_inspection")
    case = await api.ok(await api.get(actors.district_leader, f"/v1/cases/{case_id}"))
    due = next(d for d in case["deadlines"] if d["key"] == "classification")
    # From Tue 06/02/2024: Wed 07 (1), Tết 08–14/02 off, Thu 15 (2), Fri 16 (3), weekend, Mon 19 (4), Tue 20 (5).
    assert due["due_at"] == "2024-02-20T16:59:59.999999Z"
    assert due["inputs"] == {"start": "2024-02-06", "days": 5}


async def test_late_assignment_flagged_breached_not_refused(api: Api) -> None:
    case_id, actors = await walk(api, until="receive_dossier")
    api.clock.set("2024-01-11T16:59:59")  # the last moment of the due day, local time
    on_time = await api.ok(await api.get(actors.district_leader, f"/v1/cases/{case_id}"))
    assert next(d for d in on_time["deadlines"] if d["key"] == "inspection_assignment")["overdue"] is False
    api.clock.set("2024-01-12T02:00:00")
    late = await api.ok(await api.get(actors.district_leader, f"/v1/cases/{case_id}"))
    assert next(d for d in late["deadlines"] if d["key"] == "inspection_assignment")["overdue"] is True
    body = await api.ok(await api.fire(actors.district_leader, case_id, "assign_inspection", p.xl_assign("2024-01-12")))
    deadline = next(d for d in body["case"]["deadlines"] if d["key"] == "inspection_assignment")
    assert body["case"]["state"] == "inspection_assigned"
    assert deadline["status"] == "breached"


async def test_sweeper_flags_the_missed_assignment_and_escalates_to_the_province(api: Api) -> None:
    case_id, actors = await walk(api, until="receive_dossier")
    assert (await p.run_sweep(api, "2024-01-11T23:59:59+07:00")).flagged == []
    report = await p.run_sweep(api, "2024-01-12T00:00:00+07:00")
    assert report.flagged == [(case_id, "inspection_assignment")]
    overdue = [data for kind, data in await p.outbox_types(api, case_id) if kind == "deadline.overdue"]
    assert [(d["deadline"], d["escalate_to"]) for d in overdue] == [("inspection_assignment", "P1")]
    case = await api.ok(await api.get(actors.district_leader, f"/v1/cases/{case_id}"))
    assert case["state"] == "received"  # flagged, never decided for the office


def test_bands_without_a_source_are_not_enforced() -> None:
    unsourced = {**DEFINITION.default_settings(), "tt44_score_bands": {"bands": BANDS["bands"], "source": " "}}
    assert score_bands(unsourced) == [] and class_for_score(95, unsourced) == "chua_dat"
    assert score_bands(DEFINITION.default_settings()) == []
