"""The province procedure end to end through HTTP (TT25/2023 Điều 15–19): the Ministry decides within 20 working
days of the complete dossier, and TC4.1 counts districts, or communes once the province has no districts and its
profile opts in."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Api
from tests.procedures import tiers_payloads as t
from tests.support.apps import build_api
from workflows.calendar import fixed_date_due
from workflows.guards.registry import DeadlineView, GuardContext, run_guards
from workflows.registry import ROOT, default_registry, load

T = t.PROVINCE_2025


# P1's own profile turns on the commune fallback of TC4.1 for cycles after the reform (off in two_tier).
P1_FALLBACK = """name: two_tier.p1
vi: Hồ sơ thẩm quyền riêng của tỉnh P1 (thử nghiệm)
en: P1's own profile (test)
extends: two_tier
provinces: ["P1"]
applies_from_cycle: 2025
source: "Quyết định số 1/QĐ-UBND (test)"
settings:
  tc41_commune_fallback:
    default: true
    doc: P1 counts its communes for TC4.1 once it has no districts (its decision, cited above).
"""


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app with P1's own profile, which opts in to counting communes for TC4.1 after the reform."""
    directory = tmp_path / "profiles"
    directory.mkdir()
    (directory / "p1.yaml").write_text(P1_FALLBACK, encoding="utf-8")
    async for value in build_api(database_url, tmp_path / "data", registry=load(ROOT, (directory,))):
        yield value


async def province_case(api: Api, *, until: str, tier: t.Tier = T) -> tuple[str, t.Offices]:
    """A cdht_tinh case on P1 walked to ``until``; for cycle 2025 C3, the only commune directly under P1, holds a
    level-1 recognition decided on 20/03/2026 (a setup row)."""
    if tier.cycle == 2025:
        await t.add_recognitions(api, "cdht_xa", ["C3"], cycle=2025, level=1, decided_on=date(2026, 3, 20))
    offices = t.province_offices(api)
    case_id = await t.open_case(api, tier, "P1", offices.leader)
    await t.prepare(api, tier, case_id, offices)
    await t.count_subordinates(api, tier, case_id, offices)
    if until != "collecting_evidence":
        await t.advance(api, tier, case_id, offices, until=until)
    return case_id, offices


def test_definition_loads_with_sixteen_indicators_each_labelled_and_cited() -> None:
    registry = default_registry()
    definition = registry.get("cdht_tinh", "tt25-2023").definition
    assert definition.subject_level == "province"
    assert {c.code: len(c.indicators) for c in definition.criteria} == {"TC1": 3, "TC2": 5, "TC3": 5, "TC4": 3}
    for criterion in definition.criteria:
        number = criterion.code[2:]
        assert criterion.citation.startswith(f"TT25/2023 Điều 16 k{number}; Điều 17 k{number}"), criterion.citation
        for indicator in criterion.indicators:
            assert indicator.vi.strip() and indicator.en.strip(), indicator.code
    tc4 = next(c for c in definition.criteria if c.code == "TC4")
    assert "TC4.1 after 1/7/2025" in tc4.citation and "basis config" in tc4.citation
    tc41 = definition.indicator("TC4.1").measure
    assert tc41.of == [
        {"procedure": "cdht_huyen", "unit_level": "district"},
        {"procedure": "cdht_xa", "unit_level": "commune", "setting": "tc41_commune_fallback"},
    ]
    assert registry.profiles["two_tier"].settings["tc41_commune_fallback"].default is False
    assert "[config]" in definition.indicator("TC4.1").en
    assert definition.indicator("TC4.2").measure.direction == "decrease"  # poverty falls
    assert definition.indicator("TC4.3").measure.direction == "increase"  # GRDP rises
    decision = definition.deadlines["decision"]
    assert (decision.rule.kind, decision.rule.days, decision.rule.start_field) == (
        "working_days_after",
        20,
        "received_on",
    )
    assert decision.opens_in == ["under_review"] and decision.citation == "TT25/2023 Điều 19 k2 e"
    assert definition.transition("receive_dossier").payload["received_on"].required is True
    assert definition.settings["ministry_council_min_members"].default is None  # Điều 19 k2 b sets no size
    assert definition.settings["ministry_council_positions"].default == ["secretary"]
    for transition in [*definition.transitions, *definition.indicator_process.transitions]:
        ref = transition.citation.ref
        assert ref.startswith(("TT25/2023 Điều 19", "TT25/2023 Điều 15")) or transition.citation.basis == "config", ref
    # Provinces exist under both profiles: every body the procedure names is filled by each.
    bodies = {b for tr in definition.transitions for b in tr.bodies} | set(definition.open.bodies)
    for profile in ("three_tier", "two_tier"):
        assert bodies - {"system"} <= set(registry.profiles[profile].bodies), profile


async def test_province_case_of_2025_walks_to_recognized_by_the_minister(api: Api) -> None:
    offices = t.province_offices(api)
    case_id = await t.open_case(api, T, "P1", offices.leader)
    await t.prepare(api, T, case_id, offices)
    # C3, the one commune directly under P1 (D1 and its communes ceased on 30/06/2025), is recognised at level 1
    # through the commune procedure of cycle 2025 on 20/03/2026.
    commune_case, commune_leader = await api.new_case("C3", 2025)
    await api.walk(commune_case, commune_leader, cycle=2025, until="recognized")
    counted = await t.count_subordinates(api, T, case_id, offices)
    # No district of P1 existed on 31/12/2025, so the second source counts: P1's communes. C1 and C2 are still
    # recorded under D1 and are not P1's direct communes, so only C3 is counted.
    assert counted["event"]["payload"]["data"]["figures"] == {
        "units": 1,
        "recognised": {"1": 1, "2": 0},
        "source": "communes of P1 (cdht_xa)",
        "as_of": "2025-12-31",
        "rule": "in_force_at_cycle_end_or_decided_for_cycle",
    }
    case = await api.ok(await api.get(offices.head, f"/v1/cases/{case_id}"))
    assert case["profile"] == "two_tier.p1"
    await t.advance(api, T, case_id, offices, until="under_review")
    case = await api.ok(await api.get(offices.decider, f"/v1/cases/{case_id}"))
    decision = next(d for d in case["deadlines"] if d["key"] == "decision")
    # 20 working days after Monday 20/04/2026, the day the complete dossier arrived (recorded on 22/04): 21–24/04
    # (4), Hùng Kings' day 26/04 falls on a Sunday so Monday 27/04 is off, 28–29/04 (6), 30/04 and 01/05 are
    # holidays, 04–08/05 (11), 11–15/05 (16), 18–21/05 (20): Thursday 21/05/2026, 23:59:59 in Hanoi.
    assert decision["due_at"] == "2026-05-21T16:59:59.999999Z"
    assert decision["status"] == "open"
    assert "20 working days after 20/04/2026" in decision["explanation"]
    assert "TT25/2023 Điều 19 k2 e" in decision["explanation"]
    await t.advance(api, T, case_id, offices, until="recognized")

    case = await api.ok(await api.get(offices.decider, f"/v1/cases/{case_id}"))
    assert (case["state"], case["level"], case["profile"], case["decided_on"]) == (
        "recognized",
        1,
        "two_tier.p1",
        "2026-05-15",
    )
    deadlines = {d["key"]: (d["status"], d["due_at"]) for d in case["deadlines"]}
    assert deadlines == {
        "submission": ("met", "2026-07-31T16:59:59.999999Z"),  # 31/07/2026 (Điều 19 k1 d)
        "decision": ("met", "2026-05-21T16:59:59.999999Z"),
        "validity": ("open", "2029-12-31T16:59:59.999999Z"),  # 2026 + 3 years (Điều 15 k4)
    }
    history = await api.ok(await api.get(offices.decider, f"/v1/cases/{case_id}/history"))
    acts = [(e["trigger"], e["actor"]["role"], e["actor"]["unit"]) for e in history if e["kind"] == "transition"]
    assert acts == [
        ("issue_plan", "province_leader", "P1"),
        ("assign_indicators", "province_director", "P1"),
        ("complete_self_assessment", "province_director", "P1"),
        ("record_review_meeting", "province_director", "P1"),
        ("submit_dossier", "province_leader", "P1"),
        ("receive_dossier", "ministry_officer", "VN"),
        ("form_council", "minister", "VN"),
        ("record_appraisal", "council_member", "VN"),
        ("recognize", "minister", "VN"),
    ]
    indicator_acts = {(e["trigger"], e["actor"]["role"]) for e in history if e["kind"] == "indicator_transition"}
    assert indicator_acts == {("submit_evidence", "province_officer"), ("accept", "province_director")}
    assert (await api.ok(await api.get(offices.decider, "/v1/audit/verify", case=case_id)))["ok"] is True
    # Rebuilt from the audit events as of the day after the receipt, the deadline runs from received_on again.
    then = await api.ok(await api.get(offices.decider, f"/v1/cases/{case_id}", as_of="2026-04-23T00:00:00Z"))
    assert then["state"] == "under_review"
    assert {d["key"]: d["due_at"] for d in then["deadlines"]}["decision"] == "2026-05-21T16:59:59.999999Z"


async def test_undecided_province_case_is_flagged_overdue_after_20_working_days(api: Api) -> None:
    case_id, offices = await province_case(api, until="submitted")
    T.at(api, "receive_dossier")
    early = await api.fire(offices.receiver, case_id, "receive_dossier", {"received_on": "2026-04-09"})
    assert early.status_code == 409, early.text
    assert [r["code"] for r in early.json()["reasons"]] == ["received_before_submission"]
    await api.ok(await api.fire(offices.receiver, case_id, "receive_dossier", {"received_on": "2026-04-20"}))
    assert (await t.run_sweep(api, "2026-05-21T23:59:59+07:00")).flagged == []
    report = await t.run_sweep(api, "2026-05-22T00:00:00+07:00")
    assert report.flagged == [(case_id, "decision")]
    assert (await t.run_sweep(api, "2026-05-25T00:00:00+07:00")).flagged == []  # once
    api.clock.set("2026-05-22T09:00:00+07:00")
    listed = await api.ok(await api.get(offices.decider, "/v1/cases", overdue="true"))
    assert [c["id"] for c in listed["items"]] == [case_id]
    case = await api.ok(await api.get(offices.decider, f"/v1/cases/{case_id}"))
    assert {d["key"]: d["status"] for d in case["deadlines"]} == {"submission": "met", "decision": "breached"}
    history = await api.ok(await api.get(offices.decider, f"/v1/cases/{case_id}/history"))
    breach = [e for e in history if e["kind"] == "deadline_breached"]
    assert len(breach) == 1 and breach[0]["actor"]["sub"] == "system:deadlines"
    assert case["state"] == "under_review"  # nothing is decided for the Minister


async def test_tc41_counts_the_districts_while_the_province_has_them(api: Api) -> None:
    # Cycle 2024 (three_tier): D1 existed on 31/12/2024, so the districts are counted and C3, a commune directly
    # under P1, is not; D1's district recognition is a setup row decided on 20/05/2025.
    await t.add_recognitions(api, "cdht_huyen", ["D1"], cycle=2024, level=1, decided_on=date(2025, 5, 20))
    days = {**T.days, "open": "2024-03-01", "issue_plan": "2024-03-01", "assign_indicators": "2024-03-05"}
    days.update(evidence="2025-05-12", tc41="2025-06-02")
    tier = dataclasses.replace(T, cycle=2024, days=days)
    offices = t.province_offices(api)
    case_id = await t.open_case(api, tier, "P1", offices.leader)
    await t.prepare(api, tier, case_id, offices)
    counted = await t.count_subordinates(api, tier, case_id, offices)
    assert counted["event"]["payload"]["data"]["figures"] == {
        "units": 1,
        "recognised": {"1": 1, "2": 0},
        "source": "districts of P1 (cdht_huyen)",
        "as_of": "2024-12-31",
        "rule": "in_force_at_cycle_end_or_decided_for_cycle",
    }
    case = await api.ok(await api.get(offices.head, f"/v1/cases/{case_id}"))
    assert case["profile"] == "three_tier"


async def test_refused_province_ends_refused_and_only_the_minister_decides(api: Api) -> None:
    case_id, offices = await province_case(api, until="collecting_evidence")
    await t.advance(api, T, case_id, offices, until="appraised", failed=("TC3.4",))
    day = T.at(api, "recognize")
    officer = await api.fire(offices.office, case_id, "recognize", t.recognize(day))
    assert officer.status_code == 403, officer.text
    reasons = officer.json()["reasons"]
    assert [r["code"] for r in reasons] == ["not_authorised"]
    assert "ministry.head: needs role minister at unit VN; you hold province_officer" in reasons[0]["message"]
    director = await api.fire(offices.head, case_id, "refuse", t.refuse(day))
    assert director.status_code == 403, director.text
    not_eligible = await api.fire(offices.decider, case_id, "recognize", t.recognize(day))
    assert not_eligible.status_code == 409
    assert [r["code"] for r in not_eligible.json()["reasons"]] == ["appraisal_not_eligible"]
    no_reason = await api.fire(offices.decider, case_id, "refuse", t.refuse(day, reasons=[" "]))
    assert no_reason.status_code == 409
    assert [r["code"] for r in no_reason.json()["reasons"]] == ["reasons_required"]
    body = await api.ok(await api.fire(offices.decider, case_id, "refuse", t.refuse(day)))
    assert (body["case"]["state"], body["case"]["level"]) == ("refused", None)
    assert body["event"]["payload"]["data"]["reasons"] == t.refuse(day)["reasons"]
    assert body["event"]["citation"] == "TT25/2023 Điều 19 k2 d"
    assert {d["key"]: d["status"] for d in body["case"]["deadlines"]} == {"submission": "met", "decision": "met"}


async def test_ministry_council_has_no_minimum_by_default_but_admits_only_ministry_units(api: Api) -> None:
    case_id, offices = await province_case(api, until="under_review")
    day = T.at(api, "form_council")
    council = t.ministry_council(day, secretary_sub=offices.secretary.sub)
    outsider = {**council, "members": [*council["members"], {**council["members"][-1], "org_type": "mat_tran"}]}
    assert (await api.fire(offices.decider, case_id, "form_council", outsider)).status_code == 422
    # Two members (a chair and the secretary): the law fixes no size, so the default sets no minimum.
    small = {**council, "members": council["members"][:2]}
    body = await api.ok(await api.fire(offices.decider, case_id, "form_council", small))
    assert body["case"]["state"] == "council_formed"


def _context(trigger: str, state: str, day: date, payload: dict[str, Any], **over: Any) -> GuardContext:
    """A guard context of a cycle-2025 province case, at 09:00 on ``day``, with the default settings and ``over``'s."""
    settings = {**T.definition.default_settings(), **over.pop("settings", {})}
    now = datetime(day.year, day.month, day.day, 2, tzinfo=timezone.utc)
    return GuardContext(T.definition, trigger, state, "first", 2025, now, payload, settings, **over)


def _ministry_verdicts(members: list[dict[str, Any]], **settings: Any) -> list[str]:
    ctx = _context("form_council", "under_review", date(2026, 4, 28), {"members": members}, settings=settings)
    return [v.message for v in run_guards(["is_valid_ministry_council"], ctx)]


def test_ministry_council_size_and_officers_are_settings() -> None:
    council = t.ministry_council("2026-04-28", secretary_sub="minister-secretary")["members"]
    six = [
        *council,
        {"name": "Thành viên 4", "position": "member", "org": "Vụ Pháp chế", "org_type": "don_vi_thuoc_bo"},
    ]
    assert _ministry_verdicts(council) == [] and _ministry_verdicts(six) == []
    assert _ministry_verdicts(council[:2]) == []
    small = _ministry_verdicts(council[:4], ministry_council_min_members=5)
    assert "4 members: at least 5 are required (setting ministry_council_min_members)" in small[0]
    assert small[0].endswith("(TT25/2023 Điều 19 k2 b)")
    no_chair = [{**m, "position": "member"} if m["position"] == "chair" else m for m in council]
    assert _ministry_verdicts(no_chair) == []  # no chair is required by default
    assert (
        "0 chairs: exactly one chair is required (setting ministry_council_positions)"
        in (_ministry_verdicts(no_chair, ministry_council_positions=["chair", "secretary"])[0])
    )
    two_chairs = [{**m, "position": "chair"} if m["name"] == "Thành viên 1" else m for m in council]
    assert "2 chairs: at most one chair" in _ministry_verdicts(two_chairs)[0]
    unnamed_secretary = [{k: v for k, v in m.items() if k != "sub"} for m in council]
    assert "the secretary must be named by account" in _ministry_verdicts(unnamed_secretary)[0]


def test_review_meeting_guards_name_the_provincial_department_and_clause() -> None:
    meeting = t.record_review_meeting("2026-04-03", chair_position="truong_phong")
    meeting["participants"] = [p for p in meeting["participants"] if p["org_type"] != "hoi_khuyen_hoc"]
    ctx = _context("record_review_meeting", "self_assessed", date(2026, 4, 3), meeting)
    failures = run_guards(["is_chaired_by_education_office_leader", "has_required_tier_meeting_participants"], ctx)
    assert [v.code for v in failures] == ["chair_not_office_leader", "meeting_participants_missing"]
    assert "Sở Giáo dục và Đào tạo" in failures[0].message and "giam_doc, pho_giam_doc" in failures[0].message
    assert failures[1].message == (
        "the meeting lacks the provincial Study Promotion Association (Hội Khuyến học tỉnh) (TT25/2023 Điều 19 k1 c)"
    )


def test_a_province_extension_is_capped_so_the_ministers_20_working_days_end_within_n_plus_1() -> None:
    """The same cap as the other tiers (the decision still in time): here the Minister's 20 working days after
    the new date must end by 31/12 of N+1 [config]; extensions are allowed only where the profile says so."""
    definition = T.definition
    due = fixed_date_due(definition.deadlines["submission"], cycle=2025, inclusive=True)
    submission = DeadlineView("submission", due.at, "open", due.explanation)

    def verdict(until: str, **settings: Any) -> list[str]:
        payload = {"until": until, "reason": "Bão lũ", "legal_basis": "QĐ 45/QĐ-BGDĐT"}
        deadlines = {"submission": submission}
        day = date(2026, 7, 20)
        ctx = _context("grant_extension", "planning", day, payload, settings=settings, deadlines=deadlines)
        guards = definition.transition("grant_extension").guards
        return [v.code for v in run_guards(guards, ctx)]

    assert verdict("2026-11-20") == ["extension_not_allowed"]  # off by default
    assert verdict("2026-11-20", extensions_allowed=True) == []  # decided by 18/12/2026 at the latest
    assert verdict("2026-12-15", extensions_allowed=True) == ["extension_too_late"]  # 20 working days: 2027


async def test_without_the_provinces_opt_in_tc41_is_not_counted_from_communes(
    database_url: str, tmp_path: Path
) -> None:
    """The commune fallback is off in the shipped two_tier profile (Điều 16–17 speak of districts only)."""
    async for api in build_api(database_url, tmp_path / "data"):
        await t.add_recognitions(api, "cdht_xa", ["C3"], cycle=2025, level=1, decided_on=date(2026, 3, 20))
        offices = t.province_offices(api)
        case_id = await t.open_case(api, T, "P1", offices.leader)
        await t.prepare(api, T, case_id, offices)
        T.at(api, "tc41")
        await api.ok(await api.upload(offices.office, case_id, "TC4.1"), 201)
        refused = await api.fire_indicator(
            offices.office, case_id, "TC4.1", "submit_evidence", t.submit_evidence(T.definition, "TC4.1")
        )
        assert refused.status_code == 409, refused.text
        reason = refused.json()["reasons"][0]
        assert reason["code"] == "no_subordinate_units"
        assert "tc41_commune_fallback" in reason["message"]
