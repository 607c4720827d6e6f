"""Table-driven tests of the named guards used by the commune definition (TT25/2023 Điều 9).

Each guard gets at least one scenario in which it refuses (exact code, readable message, the clause where the rule
comes from the law) and one in which it passes. A completeness check ties the failing table to the guards the
definition actually uses, so a new guard without a failing scenario fails the suite.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from service import walkthrough as w
from workflows.calendar import fixed_date_due, validity_end_due
from workflows.criteria import IndicatorRecord
from workflows.guards.registry import (
    GUARDS,
    PASS,
    DeadlineView,
    GuardContext,
    PriorRecognition,
    Verdict,
    guard,
    run_guards,
)
from workflows.registry import default_registry

D = default_registry().get("cdht_xa", "tt25-2023").definition
CYCLE = 2025
NOW = datetime(2026, 1, 15, 3, 0, tzinfo=timezone.utc)  # 15/01/2026 10:00 local: after the cycle, before 28/02
SECONDS = timedelta(seconds=1)

_SUBMISSION = fixed_date_due(D.deadlines["submission"], cycle=CYCLE, inclusive=True)
SUBMISSION = DeadlineView("submission", _SUBMISSION.at, "open", _SUBMISSION.explanation)  # 28/02/2026 23:59:59 local
_VALIDITY = validity_end_due(D.deadlines["validity"], decided_on=date(2026, 3, 20), years_after=3)
VALIDITY = DeadlineView("validity", _VALIDITY.at, "open", _VALIDITY.explanation)  # 31/12/2029 23:59:59 local

LEVEL1_DECIDED = date(2025, 2, 10)
FIGURES_INVALID = ("figures_invalid", "Điều 6 k4–5")  # code and clause


# --- factories ---------------------------------------------------------------------------------------------


def record(code: str, *, level: int = 2, **changes: Any) -> IndicatorRecord:
    """An accepted, passing indicator with figures that reach ``level``."""
    base = IndicatorRecord(code, "accepted", w.org_for(code), "pass", w.figures_for(D, code, level=level), 1)
    return dataclasses.replace(base, **changes)


def records(
    *, level: int = 2, changes: dict[str, dict[str, Any]] | None = None, drop: tuple[str, ...] = ()
) -> dict[str, IndicatorRecord]:
    """All 15 indicators accepted and passing at ``level``, with per-code changes and omissions."""
    changes = changes or {}
    return {
        ind.code: record(ind.code, level=level, **changes.get(ind.code, {}))
        for ind in D.indicators
        if ind.code not in drop
    }


def _trigger_of(name: str) -> str:
    process = D.indicator_process.transitions if D.indicator_process else []
    return next(t.trigger for t in [*D.transitions, *process] if name in t.guards)


def context(**overrides: Any) -> GuardContext:
    """A sane context: a first case of cycle 2025 at level 2, all indicators accepted; ``settings`` merge."""
    settings = {**D.default_settings(), "supplement_requests_allowed": False, **overrides.pop("settings", {})}
    values: dict[str, Any] = {
        "definition": D,
        "trigger": "submit_dossier",
        "state": "review_meeting_held",
        "kind": "first",
        "cycle": CYCLE,
        "now": NOW,
        "payload": {},
        "settings": settings,
        "target_level": 2,
        "requested_level": None,
        "disadvantaged": False,
        "dossier": {"complete_self_assessment": w.complete_self_assessment(CYCLE)},
        "indicators": records(),
        "indicator": None,
        "deadlines": {"submission": SUBMISSION},
        "prior_recognitions": (),
    }
    values.update(overrides)
    return GuardContext(**values)


def check(name: str, **overrides: Any) -> Verdict:
    overrides.setdefault("trigger", _trigger_of(name))
    return GUARDS[name].check(context(**overrides))


def evidence(code: str, **over: Any) -> dict[str, Any]:
    return {"indicator": record(code, state="assigned"), "payload": w.submit_evidence(D, code, level=2, **over)}


def council(
    *, drop: tuple[str, ...] = (), add: tuple[dict[str, Any], ...] = (), change: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The walkthrough's five-member council, members picked by name to drop or change."""
    change = change or {}
    members = [
        {k: v for k, v in {**m, **change.get(m["name"], {})}.items() if v is not None}
        for m in w.form_council(CYCLE, secretary_sub="secretary-1")["members"]
        if m["name"] not in drop
    ]
    return w.form_council(CYCLE, secretary_sub="secretary-1", members=[*members, *add])


def meeting(*, without: str | None = None, chair: str = "chu_tich") -> dict[str, Any]:
    base = w.record_review_meeting(CYCLE)
    return w.record_review_meeting(
        CYCLE,
        chair={**base["chair"], "position": chair},
        participants=[p for p in base["participants"] if p["org_type"] != without],
    )


def appraisal(*, failed: tuple[str, ...] = (), **over: Any) -> dict[str, Any]:
    return w.record_appraisal(D, CYCLE, failed=failed, **over)


def results_with(*, drop: str | None = None, extra: tuple[str, ...] = ()) -> list[dict[str, str]]:
    rows = [r for r in appraisal()["results"] if r["indicator"] != drop]
    return [*rows, *({"indicator": code, "result": "pass"} for code in extra)]


def assignments_with(*, drop: str | None = None, extra: tuple[dict[str, str], ...] = ()) -> dict[str, Any]:
    rows = [a for a in w.assign_indicators(D)["assignments"] if a["indicator"] != drop]
    return {"assignments": [*rows, *extra]}


TC51_AT_70 = records(changes={"TC5.1": {"figures": {"share": 70}}})  # assessment reaches level 1
SIXTH = {"name": "Lý Văn Nam", "position": "member", "org": "Hội LHPN tỉnh", "org_type": "chinh_tri_xa_hoi"}
SEVENTH = {"name": "Mai Thị Oanh", "position": "member", "org": "Sở VHTTDL", "org_type": "khac"}
NO_SUB = "the secretary must be named by account (sub) to record the appraisal"
UPGRADE = {"kind": "upgrade", "payload": w.submit_dossier(CYCLE, 2)}
LEVEL1 = (PriorRecognition("case-2024", 1, LEVEL1_DECIDED),)
HELD_L1 = PriorRecognition("held", 1, date(2025, 3, 20), date(2028, 12, 31), "C1")  # in force through 2028


# --- the tables --------------------------------------------------------------------------------------------

# (guard, context overrides, expected code, clause the message cites or None)
FAILING = [
    # generic
    pytest.param("has_reason", {"payload": {"reason": "   "}}, "reason_required", None, id="has_reason-blank"),
    pytest.param("has_reason", {"payload": {}}, "reason_required", None, id="has_reason-missing"),
    pytest.param(
        "has_reasons",
        {"payload": w.refuse(CYCLE, reasons=[])},
        "reasons_required",
        "Điều 9 k2 d",
        id="has_reasons-empty",
    ),
    pytest.param(
        "has_reasons",
        {"payload": w.refuse(CYCLE, reasons=["Chỉ tiêu 5.1 chưa đạt", " "])},
        "reasons_required",
        "Điều 9 k2 d",
        id="has_reasons-one-blank",
    ),
    # indicator sub-process
    pytest.param(
        "has_evidence_file",
        {"indicator": record("TC1.1", state="assigned", evidence_count=0)},
        "evidence_missing",
        "Điều 9 k1 b",
        id="has_evidence_file-none-uploaded",
    ),
    pytest.param(
        "has_evidence_file", {"indicator": None}, "evidence_missing", "Điều 9 k1 b", id="has_evidence_file-no-indicator"
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC5.1", figures={"share": 101}),
        *FIGURES_INVALID,
        id="has_figures_for_measure-tc5-101",
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC5.1", figures={"share": -1}),
        *FIGURES_INVALID,
        id="has_figures_for_measure-tc5-negative",
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC5.1", figures={"share": "80"}),
        *FIGURES_INVALID,
        id="has_figures_for_measure-tc5-string",
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC5.1", figures={"share": True}),
        *FIGURES_INVALID,
        id="has_figures_for_measure-tc5-boolean",
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC5.1", figures=None),
        *FIGURES_INVALID,
        id="has_figures_for_measure-tc5-no-figures",
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC5.2", figures={"trained_share": 60}),
        *FIGURES_INVALID,
        id="has_figures_for_measure-tc5-2-one-figure-missing",
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC4.2", figures={"level_reached": 3}),
        *FIGURES_INVALID,
        id="has_figures_for_measure-tc4-without-recognition",
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC4.2", figures={"level_reached": 3, "recognition": {"number": "88/QĐ-UBND"}}),
        *FIGURES_INVALID,
        id="has_figures_for_measure-tc4-recognition-without-date",
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC4.2", figures={**w.figures_for(D, "TC4.2", level=2), "level_reached": "3"}),
        *FIGURES_INVALID,
        id="has_figures_for_measure-tc4-level-string",
    ),
    pytest.param(
        "has_figures_for_measure",
        evidence("TC1.1", figures={"share": 80}),
        "figures_unexpected",
        "Điều 8 k2 c",
        id="has_figures_for_measure-rated-with-figures",
    ),
    pytest.param(
        "has_figures_for_measure",
        {"indicator": None, "payload": w.submit_evidence(D, "TC5.1")},
        "indicator_missing",
        None,
        id="has_figures_for_measure-no-indicator",
    ),
    pytest.param(
        "has_figures_for_measure",
        {"indicator": IndicatorRecord("TC9.9", "assigned"), "payload": {}},
        "indicator_unknown",
        None,
        id="has_figures_for_measure-unknown-indicator",
    ),
    # commune procedure
    pytest.param(
        "has_assignee_for_every_indicator",
        {"payload": assignments_with(drop="TC5.2")},
        "assignments_incomplete",
        "Điều 24 k2",
        id="has_assignee-one-missing",
    ),
    pytest.param(
        "has_assignee_for_every_indicator",
        {"payload": assignments_with(extra=({"indicator": "TC1.1", "org": "hoi_khuyen_hoc"},))},
        "assignments_incomplete",
        "Điều 24 k2",
        id="has_assignee-assigned-twice",
    ),
    pytest.param(
        "has_assignee_for_every_indicator",
        {"payload": assignments_with(extra=({"indicator": "TC6.1", "org": "ubnd_xa"},))},
        "assignments_incomplete",
        "Điều 24 k2",
        id="has_assignee-unknown-indicator",
    ),
    pytest.param(
        "has_assignee_for_every_indicator",
        {"payload": assignments_with(drop="TC3.1", extra=({"indicator": "TC3.1", "org": " "},))},
        "assignments_incomplete",
        "Điều 24 k2",
        id="has_assignee-blank-org",
    ),
    pytest.param(
        "is_every_indicator_accepted",
        {"indicators": records(changes={"TC3.2": {"state": "submitted"}})},
        "indicators_not_accepted",
        "Điều 9 k1 a–b",
        id="is_every_indicator_accepted-one-submitted",
    ),
    pytest.param(
        "is_every_indicator_accepted",
        {"indicators": records(drop=("TC4.1",))},
        "indicators_not_accepted",
        "Điều 9 k1 a–b",
        id="is_every_indicator_accepted-one-missing",
    ),
    pytest.param(
        "is_after_cycle_end",
        {"now": datetime(2025, 12, 31, 16, 59, 59, tzinfo=timezone.utc)},
        "cycle_not_ended",
        "Điều 9 k1 b",
        id="is_after_cycle_end-last-local-second-of-cycle",
    ),
    pytest.param(
        "is_after_cycle_end",
        {"now": datetime(2025, 6, 30, 3, 0, tzinfo=timezone.utc)},
        "cycle_not_ended",
        "Điều 9 k1 b",
        id="is_after_cycle_end-mid-cycle",
    ),
    pytest.param(
        "is_chaired_by_commune_leader",
        {"payload": meeting(chair="can_bo")},
        "chair_not_commune_leader",
        "Điều 9 k1 c",
        id="is_chaired-by-can-bo",
    ),
    pytest.param(
        "is_chaired_by_commune_leader",
        {"payload": {"participants": []}},
        "chair_not_commune_leader",
        "Điều 9 k1 c",
        id="is_chaired-no-chair",
    ),
    pytest.param(
        "has_required_meeting_participants",
        {"payload": meeting(without="chinh_tri_xa_hoi")},
        "meeting_participants_missing",
        "Điều 9 k1 c",
        id="has_participants-no-chinh-tri-xa-hoi",
    ),
    pytest.param(
        "has_required_meeting_participants",
        {"payload": meeting(without="mat_tran")},
        "meeting_participants_missing",
        "Điều 9 k1 c",
        id="has_participants-no-mat-tran",
    ),
    pytest.param(
        "has_required_meeting_participants",
        {"payload": meeting(without="hoi_khuyen_hoc")},
        "meeting_participants_missing",
        "Điều 9 k1 c",
        id="has_participants-no-hoi-khuyen-hoc",
    ),
    pytest.param(
        "is_requested_level_assessed",
        {"payload": w.submit_dossier(CYCLE, 2), "indicators": TC51_AT_70},
        "requested_level_not_assessed",
        "Điều 9 k1 d",
        id="is_requested_level-2-when-assessed-1",
    ),
    pytest.param(
        "is_requested_level_assessed",
        {"payload": w.submit_dossier(CYCLE, 1), "indicators": records(changes={"TC1.2": {"rating": "fail"}})},
        "requested_level_not_assessed",
        "Điều 9 k1 d",
        id="is_requested_level-1-when-assessed-none",
    ),
    pytest.param(
        "is_requested_level_assessed",
        {"payload": w.submit_dossier(CYCLE, 1)},
        "requested_level_not_assessed",
        "Điều 9 k1 d",
        id="is_requested_level-1-when-assessed-2",
    ),
    pytest.param(
        "is_dossier_complete",
        {"payload": w.submit_dossier(CYCLE, 2, submission_letter=None)},
        "dossier_incomplete",
        "Điều 9 k1 d",
        id="is_dossier_complete-no-letter",
    ),
    pytest.param(
        "is_dossier_complete",
        {"payload": w.submit_dossier(CYCLE, 2), "dossier": {}},
        "dossier_incomplete",
        "Điều 9 k1 d",
        id="is_dossier_complete-no-report",
    ),
    pytest.param(
        "is_dossier_complete",
        {"payload": w.submit_dossier(CYCLE, 2), "indicators": records(drop=("TC5.2",))},
        "dossier_incomplete",
        "Điều 9 k1 d",
        id="is_dossier_complete-summary-row-missing",
    ),
    pytest.param(
        "is_kind_consistent_with_history",
        {"kind": "first", "prior_recognitions": (HELD_L1,)},
        "already_recognised",
        None,
        id="is_kind-first-but-recognised",
    ),
    pytest.param(
        "is_kind_consistent_with_history",
        {"kind": "re_recognition"},
        "no_recognition_to_renew",
        None,
        id="is_kind-re-recognition-without-history",
    ),
    pytest.param(
        "is_kind_consistent_with_history",
        {"kind": "re_recognition", "prior_recognitions": (HELD_L1,)},
        "recognition_still_valid",
        "Điều 5 k4",
        id="is_kind-re-recognition-while-valid",
    ),
    pytest.param(
        "is_kind_consistent_with_history",
        {"kind": "upgrade", "prior_recognitions": (PriorRecognition("old", 1, date(2020, 3, 1), date(2023, 12, 31)),)},
        "no_level1_recognition",
        None,
        id="is_kind-upgrade-from-expired-level-1",
    ),
    pytest.param(
        "is_kind_consistent_with_history",
        {
            "kind": "upgrade",
            "prior_recognitions": (HELD_L1, PriorRecognition("l2", 2, date(2025, 5, 1), date(2028, 12, 31))),
        },
        "already_level_2",
        None,
        id="is_kind-upgrade-beyond-level-2",
    ),
    pytest.param(
        "is_upgrade_interval_met",
        {**UPGRADE, "prior_recognitions": LEVEL1, "now": datetime(2026, 1, 10, 3, 0, tzinfo=timezone.utc)},
        "upgrade_too_early",
        None,
        id="is_upgrade_interval-11-months",
    ),
    pytest.param(
        "is_upgrade_interval_met",
        {**UPGRADE, "prior_recognitions": ()},
        "no_level1_recognition",
        None,
        id="is_upgrade_interval-no-level-1",
    ),
    pytest.param(
        "is_upgrade_interval_met",
        {**UPGRADE, "prior_recognitions": (PriorRecognition("case-2023", 2, date(2024, 3, 1)),)},
        "no_level1_recognition",
        None,
        id="is_upgrade_interval-only-level-2-on-record",
    ),
    pytest.param(
        "is_upgrade_interval_met",
        {**UPGRADE, "payload": w.submit_dossier(CYCLE, 1), "prior_recognitions": LEVEL1},
        "upgrade_requires_level_2",
        None,
        id="is_upgrade_interval-requests-level-1",
    ),
    pytest.param(
        "is_before_submission_deadline",
        {"now": SUBMISSION.due_at + SECONDS},
        "submission_deadline_passed",
        "Điều 9 k1 d",
        id="is_before_submission_deadline-one-second-late",
    ),
    pytest.param(
        "is_submission_deadline_passed",
        {"now": SUBMISSION.due_at},
        "submission_deadline_not_passed",
        "Điều 9 k1 d",
        id="is_submission_deadline_passed-at-due",
    ),
    pytest.param(
        "is_submission_deadline_passed",
        {"deadlines": {}},
        "submission_deadline_not_passed",
        None,
        id="is_submission_deadline_passed-no-deadline",
    ),
    pytest.param("is_extension_allowed", {}, "extension_not_allowed", None, id="is_extension_allowed-default"),
    pytest.param(
        "has_extension_basis",
        {"payload": {"until": "2026-03-01", "reason": "Bão lũ", "legal_basis": "  "}},
        "extension_basis_required",
        None,
        id="has_extension_basis-blank",
    ),
    pytest.param(
        "is_extension_date_later",
        {"payload": {"until": "2026-02-28", "reason": "Bão lũ"}},
        "extension_not_later",
        None,
        id="is_extension_date_later-same-day",
    ),
    pytest.param(
        "is_extension_date_later",
        {"payload": {"until": "2026-02-15", "reason": "Bão lũ"}},
        "extension_not_later",
        None,
        id="is_extension_date_later-earlier",
    ),
    pytest.param(
        "is_extension_date_later",
        {"payload": {"until": "2026-03-15", "reason": "Bão lũ"}, "deadlines": {}},
        "no_deadline",
        None,
        id="is_extension_date_later-no-deadline",
    ),
    pytest.param(
        "is_extension_date_later",
        {"payload": {"until": "2026-03-31", "reason": "Bão lũ"}},
        "extension_too_late",
        "Điều 9 k3",
        id="is_extension_date_later-on-the-decision-date",
    ),
    pytest.param(
        "is_extension_date_later",
        {"payload": {"until": "2026-03-01", "reason": "Bão lũ"}, "now": datetime(2026, 3, 5, tzinfo=timezone.utc)},
        "extension_not_later",
        None,
        id="is_extension_date_later-in-the-past",
    ),
    # dates of documents and of the appraisal
    pytest.param(
        "has_no_future_dates",
        {"trigger": "issue_plan", "payload": w.issue_plan(CYCLE, plan=w.docref("1/KH", "2026-01-16"))},
        "future_date",
        None,
        id="has_no_future_dates-plan-tomorrow",
    ),
    pytest.param(
        "has_no_future_dates",
        {"trigger": "record_review_meeting", "payload": w.record_review_meeting(CYCLE, held_on="2030-01-01")},
        "future_date",
        None,
        id="has_no_future_dates-meeting-in-2030",
    ),
    pytest.param(
        "is_decided_after_appraisal",
        {
            "trigger": "recognize",
            "payload": w.recognize(CYCLE, decision=w.docref("35/QĐ", "2026-03-09")),
            "dossier": {"record_appraisal": appraisal()},
        },
        "decided_before_appraisal",
        "Điều 9 k2 d–đ",
        id="is_decided_after_appraisal-before-report",
    ),
    pytest.param(
        "is_decided_after_appraisal",
        {"trigger": "refuse", "payload": w.refuse(CYCLE), "dossier": {}},
        "appraisal_missing",
        "Điều 9 k2 c",
        id="is_decided_after_appraisal-no-appraisal",
    ),
    pytest.param(
        "is_appraised_at_requested_level",
        {"trigger": "record_appraisal", "requested_level": 1, "payload": appraisal(level=2)},
        "appraisal_level_mismatch",
        "Điều 9 k2 c",
        id="is_appraised_at_requested_level-other-level",
    ),
    pytest.param("is_supplement_allowed", {}, "supplement_not_allowed", None, id="is_supplement_allowed-off"),
    pytest.param(
        "has_missing_items", {"payload": {"missing": []}}, "missing_items_required", None, id="has_missing_items-empty"
    ),
    pytest.param(
        "has_missing_items",
        {"payload": {"missing": ["Biên bản họp", ""]}},
        "missing_items_required",
        None,
        id="has_missing_items-one-blank",
    ),
    pytest.param(
        "is_first_supplement_request",
        {"dossier": {"request_supplement": {"missing": ["Biên bản họp"]}}},
        "supplement_already_requested",
        None,
        id="is_first_supplement_request-second",
    ),
    pytest.param(
        "is_valid_council",
        {"payload": council(drop=("Ngô Văn Minh",))},
        "council_invalid",
        "Điều 9 k2 b",
        id="is_valid_council-4-members",
    ),
    pytest.param(
        "is_valid_council",
        {"payload": council(change={"Bùi Thị Lan": {"org_type": "khac"}})},
        "council_invalid",
        "Điều 9 k2 b",
        id="is_valid_council-no-mat-tran",
    ),
    pytest.param(
        "is_valid_council",
        {"payload": council(change={"Vũ Thị Gấm": {"sub": None}})},
        "council_invalid",
        "Điều 9 k2 b",
        id="is_valid_council-secretary-without-sub",
    ),
    pytest.param(
        "has_result_for_every_indicator",
        {"payload": appraisal(results=results_with(drop="TC4.3"))},
        "appraisal_results_incomplete",
        "Điều 9 k2 c",
        id="has_result-missing",
    ),
    pytest.param(
        "has_result_for_every_indicator",
        {"payload": appraisal(results=results_with(extra=("TC2.2",)))},
        "appraisal_results_incomplete",
        "Điều 9 k2 c",
        id="has_result-duplicated",
    ),
    pytest.param(
        "has_result_for_every_indicator",
        {"payload": appraisal(results=results_with(extra=("TC6.1",)))},
        "appraisal_results_incomplete",
        "Điều 9 k2 c",
        id="has_result-unknown",
    ),
    pytest.param(
        "is_conclusion_consistent",
        {"payload": appraisal(failed=("TC5.1",), conclusion="eligible")},
        "conclusion_inconsistent",
        "Điều 8 k1",
        id="is_conclusion_consistent-eligible-with-fail",
    ),
    pytest.param(
        "is_conclusion_consistent",
        {"payload": appraisal(conclusion="not_eligible")},
        "conclusion_inconsistent",
        "Điều 8 k1",
        id="is_conclusion_consistent-not-eligible-all-pass",
    ),
    pytest.param(
        "is_appraisal_eligible",
        {"dossier": {"record_appraisal": appraisal(failed=("TC5.1",))}},
        "appraisal_not_eligible",
        "Điều 9 k2 đ",
        id="is_appraisal_eligible-concluded-not-eligible",
    ),
    pytest.param(
        "is_appraisal_eligible",
        {"dossier": {}},
        "appraisal_not_eligible",
        "Điều 9 k2 đ",
        id="is_appraisal_eligible-no-appraisal",
    ),
    pytest.param(
        "is_appraisal_not_eligible",
        {"dossier": {"record_appraisal": appraisal()}},
        "appraisal_eligible",
        "Điều 9 k2 d",
        id="is_appraisal_not_eligible-concluded-eligible",
    ),
    pytest.param(
        "is_validity_ended",
        {"deadlines": {"validity": VALIDITY}, "now": VALIDITY.due_at},
        "validity_not_ended",
        "Điều 5 k4",
        id="is_validity_ended-at-due",
    ),
    pytest.param(
        "is_validity_ended", {"deadlines": {}}, "validity_not_ended", None, id="is_validity_ended-no-validity"
    ),
]

# (guard, context overrides)
PASSING = [
    pytest.param("is_kind_consistent_with_history", {"kind": "first"}, id="is_kind-first"),
    pytest.param(
        "is_kind_consistent_with_history",
        {
            "kind": "re_recognition",
            "prior_recognitions": (PriorRecognition("old", 1, date(2022, 3, 1), date(2025, 12, 31)),),
        },
        id="is_kind-re-recognition-in-the-year-it-expires",
    ),
    pytest.param(
        "is_kind_consistent_with_history", {"kind": "upgrade", "prior_recognitions": (HELD_L1,)}, id="is_kind-upgrade"
    ),
    pytest.param("has_reason", {"payload": {"reason": "Thiếu minh chứng cho chỉ tiêu 3.2"}}, id="has_reason"),
    pytest.param("has_reasons", {"payload": w.refuse(CYCLE)}, id="has_reasons"),
    pytest.param(
        "has_evidence_file", {"indicator": record("TC1.1", state="assigned", evidence_count=1)}, id="has_evidence_file"
    ),
    pytest.param("has_figures_for_measure", evidence("TC5.1"), id="has_figures_for_measure-tc5"),
    pytest.param("has_figures_for_measure", evidence("TC5.1", figures={"share": 0}), id="has_figures_for_measure-0"),
    pytest.param(
        "has_figures_for_measure", evidence("TC5.1", figures={"share": 100}), id="has_figures_for_measure-100"
    ),
    pytest.param("has_figures_for_measure", evidence("TC5.2"), id="has_figures_for_measure-tc5-2"),
    pytest.param("has_figures_for_measure", evidence("TC4.2"), id="has_figures_for_measure-tc4"),
    pytest.param("has_figures_for_measure", evidence("TC1.1"), id="has_figures_for_measure-rated-without-figures"),
    pytest.param("has_assignee_for_every_indicator", {"payload": w.assign_indicators(D)}, id="has_assignee"),
    pytest.param("is_every_indicator_accepted", {}, id="is_every_indicator_accepted"),
    pytest.param(
        "is_after_cycle_end",
        {"now": datetime(2025, 12, 31, 17, 0, tzinfo=timezone.utc)},
        id="is_after_cycle_end-first-local-second-after",
    ),
    pytest.param(
        "is_after_cycle_end",
        {
            "now": datetime(2025, 12, 31, 16, 59, 59, tzinfo=timezone.utc),
            "settings": {"self_assessment_after_cycle_end": False},
        },
        id="is_after_cycle_end-setting-off",
    ),
    pytest.param("is_chaired_by_commune_leader", {"payload": meeting(chair="chu_tich")}, id="is_chaired-chu-tich"),
    pytest.param(
        "is_chaired_by_commune_leader", {"payload": meeting(chair="pho_chu_tich")}, id="is_chaired-pho-chu-tich"
    ),
    pytest.param("has_required_meeting_participants", {"payload": meeting()}, id="has_participants"),
    pytest.param("is_requested_level_assessed", {"payload": w.submit_dossier(CYCLE, 2)}, id="is_requested_level-2"),
    pytest.param(
        "is_requested_level_assessed",
        {"payload": w.submit_dossier(CYCLE, 1), "indicators": TC51_AT_70},
        id="is_requested_level-1",
    ),
    pytest.param("is_dossier_complete", {"payload": w.submit_dossier(CYCLE, 2)}, id="is_dossier_complete"),
    pytest.param("is_upgrade_interval_met", {"payload": w.submit_dossier(CYCLE, 1)}, id="is_upgrade_interval-first"),
    pytest.param(
        "is_upgrade_interval_met",
        {**UPGRADE, "prior_recognitions": LEVEL1, "now": datetime(2026, 2, 10, 3, 0, tzinfo=timezone.utc)},
        id="is_upgrade_interval-12-months",
    ),
    pytest.param("is_before_submission_deadline", {"now": SUBMISSION.due_at}, id="is_before_submission_deadline"),
    pytest.param(
        "is_submission_deadline_passed", {"now": SUBMISSION.due_at + SECONDS}, id="is_submission_deadline_passed"
    ),
    pytest.param(
        "is_extension_date_later",
        {"payload": {"until": "2026-03-01", "reason": "Bão lũ"}},
        id="is_extension_date_later",
    ),
    pytest.param("is_extension_allowed", {"settings": {"extensions_allowed": True}}, id="is_extension_allowed-on"),
    pytest.param(
        "has_extension_basis",
        {"payload": {"until": "2026-03-01", "reason": "Bão lũ", "legal_basis": "QĐ 45/QĐ-UBND"}},
        id="has_extension_basis",
    ),
    pytest.param(
        "has_no_future_dates",
        {"trigger": "issue_plan", "payload": w.issue_plan(CYCLE, plan=w.docref("1/KH", "2026-01-15"))},
        id="has_no_future_dates-today",
    ),
    pytest.param(
        "is_decided_after_appraisal",
        {
            "trigger": "recognize",
            "payload": w.recognize(CYCLE, decision=w.docref("35/QĐ", "2026-03-10")),
            "dossier": {"record_appraisal": appraisal()},
        },
        id="is_decided_after_appraisal-same-day",
    ),
    pytest.param(
        "is_appraised_at_requested_level",
        {"trigger": "record_appraisal", "requested_level": 2, "payload": appraisal(level=2)},
        id="is_appraised_at_requested_level",
    ),
    pytest.param(
        "is_supplement_allowed", {"settings": {"supplement_requests_allowed": True}}, id="is_supplement_allowed"
    ),
    pytest.param(
        "has_missing_items",
        {"payload": {"missing": ["Biên bản họp xem xét kết quả tự đánh giá"]}},
        id="has_missing_items",
    ),
    pytest.param("is_first_supplement_request", {}, id="is_first_supplement_request"),
    pytest.param("is_valid_council", {"payload": council()}, id="is_valid_council-5"),
    pytest.param("is_valid_council", {"payload": council(add=(SIXTH, SEVENTH))}, id="is_valid_council-7"),
    pytest.param("has_result_for_every_indicator", {"payload": appraisal()}, id="has_result"),
    pytest.param("is_conclusion_consistent", {"payload": appraisal()}, id="is_conclusion_consistent-eligible"),
    pytest.param(
        "is_conclusion_consistent",
        {"payload": appraisal(failed=("TC5.1",))},
        id="is_conclusion_consistent-not-eligible",
    ),
    pytest.param("is_appraisal_eligible", {"dossier": {"record_appraisal": appraisal()}}, id="is_appraisal_eligible"),
    pytest.param(
        "is_appraisal_not_eligible",
        {"dossier": {"record_appraisal": appraisal(failed=("TC5.1",))}},
        id="is_appraisal_not_eligible",
    ),
    pytest.param(
        "is_validity_ended",
        {"deadlines": {"validity": VALIDITY}, "now": VALIDITY.due_at + SECONDS},
        id="is_validity_ended",
    ),
]


def guards_used(definition: Any) -> set[str]:
    process = definition.indicator_process.transitions if definition.indicator_process else []
    return {name for t in [*definition.transitions, *process] for name in t.guards}


def _names(table: list[Any]) -> set[str]:
    return {param.values[0] for param in table}


# --- table tests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "overrides", "code", "clause"), FAILING)
def test_guard_in_failing_scenario_refuses_with_code(
    name: str, overrides: dict[str, Any], code: str, clause: str | None
) -> None:
    verdict = check(name, **overrides)
    assert not verdict.ok
    assert verdict.code == code
    assert verdict.message.strip()
    if clause is not None:
        assert clause in verdict.message


@pytest.mark.parametrize(("name", "overrides"), PASSING)
def test_guard_in_passing_scenario_passes(name: str, overrides: dict[str, Any]) -> None:
    verdict = check(name, **overrides)
    assert verdict == Verdict(True), verdict.message


def test_definition_guards_all_have_failing_scenario() -> None:
    assert guards_used(D) == _names(FAILING)


def test_definition_guards_all_have_passing_scenario() -> None:
    assert guards_used(D) == _names(PASSING)


def test_definition_guards_all_registered() -> None:
    assert guards_used(D) <= set(GUARDS)
    assert len(guards_used(D)) >= 20  # the derivation really walks both transition lists


def test_default_context_passes_submit_dossier_guards() -> None:
    ctx = context(payload=w.submit_dossier(CYCLE, 2, submission_letter=w.docref("07/TTr-UBND", "2026-01-14")))
    assert run_guards(D.transition("submit_dossier").guards, ctx) == []


def test_several_failing_guards_all_reported_in_definition_order() -> None:
    ctx = context(
        payload=w.submit_dossier(CYCLE, 2, submission_letter=None),
        now=SUBMISSION.due_at + SECONDS,
        indicators=TC51_AT_70,
    )
    verdicts = run_guards(D.transition("submit_dossier").guards, ctx)
    assert [v.code for v in verdicts] == [
        "requested_level_not_assessed",
        "dossier_incomplete",
        "submission_deadline_passed",
    ]


# --- council (Điều 9 k2 b) ---------------------------------------------------------------------------------


def _problems(verdict: Verdict) -> list[str]:
    return verdict.message.removesuffix(" (Điều 9 k2 b)").split("; ")


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        pytest.param(
            council(drop=("Ngô Văn Minh",), change={"Vũ Thị Gấm": {"org_type": "chinh_tri_xa_hoi"}}),
            "4 members: the council must be an odd number, at least 5",
            id="4-members",
        ),
        pytest.param(
            council(add=(SIXTH,)), "6 members: the council must be an odd number, at least 5", id="6-members-even"
        ),
        pytest.param(
            council(change={"Bùi Thị Lan": {"org_type": "khac"}}),
            "no representative of Ủy ban MTTQ",
            id="5-without-mat-tran",
        ),
        pytest.param(
            council(change={"Ngô Văn Minh": {"org_type": "khac"}}),
            "no representative of the socio-political organisations (tổ chức chính trị - xã hội)",
            id="5-without-socio-political-organisations",
        ),
        pytest.param(
            council(change={"Hoàng Văn Em": {"org_type": "khac"}, "Vũ Thị Gấm": {"org_type": "khac"}}),
            "no representative of the specialised agencies",
            id="5-without-specialised-agencies",
        ),
        pytest.param(
            council(change={"Đỗ Văn Hùng": {"org_type": "khac"}}),
            "no representative of Hội Khuyến học",
            id="5-without-hoi-khuyen-hoc",
        ),
        pytest.param(
            council(change={"Ngô Văn Minh": {"position": "chair"}}),
            "2 chairs: exactly one chair is required",
            id="two-chairs",
        ),
        pytest.param(council(change={"Vũ Thị Gấm": {"position": "member"}}), "0 secretar", id="no-secretary"),
        pytest.param(council(change={"Vũ Thị Gấm": {"sub": None}}), NO_SUB, id="secretary-without-sub"),
        pytest.param(council(change={"Vũ Thị Gấm": {"sub": "  "}}), NO_SUB, id="secretary-blank-sub"),
    ],
)
def test_council_with_single_fault_refused_naming_it(payload: dict[str, Any], problem: str) -> None:
    verdict = check("is_valid_council", payload=payload)
    assert verdict.code == "council_invalid"
    assert verdict.message.endswith("(Điều 9 k2 b)")
    problems = _problems(verdict)
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem)


def test_council_minimum_from_setting_refuses_five() -> None:
    verdict = check("is_valid_council", payload=council(), settings={"council_min_members": 7})
    assert verdict.code == "council_invalid"
    assert "5 members" in verdict.message


# --- review meeting (Điều 9 k1 c) --------------------------------------------------------------------------


def test_meeting_chaired_by_can_bo_refused() -> None:
    verdict = check("is_chaired_by_commune_leader", payload=meeting(chair="can_bo"))
    assert verdict.code == "chair_not_commune_leader"
    assert "'can_bo'" in verdict.message and "chu_tich, pho_chu_tich" in verdict.message


def test_meeting_chair_positions_setting_narrows_accepted() -> None:
    verdict = check(
        "is_chaired_by_commune_leader",
        payload=meeting(chair="pho_chu_tich"),
        settings={"meeting_chair_positions": ["chu_tich"]},
    )
    assert verdict.code == "chair_not_commune_leader"


def test_meeting_without_chinh_tri_xa_hoi_refused_naming_it() -> None:
    verdict = check("has_required_meeting_participants", payload=meeting(without="chinh_tri_xa_hoi"))
    assert verdict.code == "meeting_participants_missing"
    assert "socio-political organisation" in verdict.message
    assert "Hội Khuyến học" not in verdict.message and "MTTQ" not in verdict.message


# --- requested level (Điều 9 k1 d) -------------------------------------------------------------------------


def test_requested_level_2_when_assessment_reaches_1_refused_naming_criterion() -> None:
    verdict = check("is_requested_level_assessed", payload=w.submit_dossier(CYCLE, 2), indicators=TC51_AT_70)
    assert verdict.code == "requested_level_not_assessed"
    assert "level 1" in verdict.message
    assert "TC5 (L2)" in verdict.message
    assert "TC1" not in verdict.message and "TC4" not in verdict.message


def test_requested_level_1_when_no_level_reached_refused_naming_criterion() -> None:
    verdict = check(
        "is_requested_level_assessed",
        payload=w.submit_dossier(CYCLE, 1),
        indicators=records(changes={"TC1.2": {"rating": "fail"}}),
    )
    assert verdict.code == "requested_level_not_assessed"
    assert "no level" in verdict.message and "TC1 (L1, L2)" in verdict.message


def test_requested_level_2_disadvantaged_at_disadvantaged_thresholds_accepted() -> None:
    figures = w.figures_for(D, "TC5.2", level=2, disadvantaged=True)
    changes = {"TC5.2": {"figures": figures}}
    assert check(
        "is_requested_level_assessed",
        payload=w.submit_dossier(CYCLE, 2),
        disadvantaged=True,
        indicators=records(changes=changes),
    ).ok
    assert (
        check(
            "is_requested_level_assessed",
            payload=w.submit_dossier(CYCLE, 2),
            disadvantaged=False,
            indicators=records(changes=changes),
        ).code
        == "requested_level_not_assessed"
    )


# --- upgrade interval [practice] ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        pytest.param(datetime(2026, 1, 10, 3, 0, tzinfo=timezone.utc), False, id="11-months"),
        pytest.param(datetime(2026, 2, 9, 16, 59, 59, tzinfo=timezone.utc), False, id="last-local-second-before-12"),
        pytest.param(datetime(2026, 2, 9, 17, 0, tzinfo=timezone.utc), True, id="12-months-local-midnight"),
        pytest.param(datetime(2026, 2, 10, 3, 0, tzinfo=timezone.utc), True, id="12-months"),
    ],
)
def test_upgrade_interval_boundary_by_local_date(now: datetime, ok: bool) -> None:
    verdict = check("is_upgrade_interval_met", now=now, prior_recognitions=LEVEL1, **UPGRADE)
    assert verdict.ok is ok
    if not ok:
        assert verdict.code == "upgrade_too_early"
        assert "10/02/2025" in verdict.message and "10/02/2026" in verdict.message


def test_upgrade_interval_uses_latest_level1_decision() -> None:
    prior = (*LEVEL1, PriorRecognition("case-2021", 1, date(2021, 3, 1)))
    assert (
        check(
            "is_upgrade_interval_met",
            now=datetime(2026, 1, 10, 3, 0, tzinfo=timezone.utc),
            prior_recognitions=prior,
            **UPGRADE,
        ).code
        == "upgrade_too_early"
    )


def test_upgrade_without_level1_recognition_refused() -> None:
    verdict = check("is_upgrade_interval_met", prior_recognitions=(), **UPGRADE)
    assert verdict.code == "no_level1_recognition"


def test_upgrade_months_setting_shortens_interval_accepted() -> None:
    verdict = check(
        "is_upgrade_interval_met",
        now=datetime(2026, 1, 10, 3, 0, tzinfo=timezone.utc),
        prior_recognitions=LEVEL1,
        settings={"upgrade_min_months_after_level1": 11},
        **UPGRADE,
    )
    assert verdict.ok


# --- cycle end (Điều 9 k1 b) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "after_cycle_end", "ok"),
    [
        pytest.param(datetime(2025, 12, 31, 16, 59, 59, tzinfo=timezone.utc), True, False, id="23:59:59-local-31-12"),
        pytest.param(datetime(2025, 12, 31, 17, 0, 0, tzinfo=timezone.utc), True, True, id="00:00-local-1-1"),
        pytest.param(datetime(2025, 12, 31, 16, 59, 59, tzinfo=timezone.utc), False, True, id="setting-off"),
        pytest.param(datetime(2025, 3, 1, 3, 0, tzinfo=timezone.utc), False, True, id="setting-off-mid-cycle"),
    ],
)
def test_self_assessment_cycle_end_boundary_in_local_time(now: datetime, after_cycle_end: bool, ok: bool) -> None:
    verdict = check("is_after_cycle_end", now=now, settings={"self_assessment_after_cycle_end": after_cycle_end})
    assert verdict.ok is ok
    if not ok:
        assert verdict.code == "cycle_not_ended" and "01/01/2026" in verdict.message


# --- submission deadline (Điều 9 k1 d) ---------------------------------------------------------------------


def test_submission_deadline_is_end_of_28_february_local() -> None:
    assert SUBMISSION.due_at == datetime(2026, 2, 28, 16, 59, 59, 999999, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("now", "before_ok", "passed_ok"),
    [
        pytest.param(SUBMISSION.due_at - SECONDS, True, False, id="one-second-before"),
        pytest.param(SUBMISSION.due_at, True, False, id="at-due"),
        pytest.param(SUBMISSION.due_at + SECONDS, False, True, id="one-second-after"),
    ],
)
def test_submission_deadline_guards_are_complementary(now: datetime, before_ok: bool, passed_ok: bool) -> None:
    assert check("is_before_submission_deadline", now=now).ok is before_ok
    assert check("is_submission_deadline_passed", now=now).ok is passed_ok


def test_submission_after_extended_deadline_accepted() -> None:
    extended = DeadlineView(
        "submission",
        datetime(2026, 3, 15, 16, 59, 59, tzinfo=timezone.utc),
        "open",
        "15/03/2026, 23:59 Asia/Ho_Chi_Minh: extended (bão lũ)",
    )
    now = SUBMISSION.due_at + timedelta(days=5)
    assert check("is_before_submission_deadline", now=now, deadlines={"submission": extended}).ok
    assert check("is_submission_deadline_passed", now=now, deadlines={"submission": extended}).code == (
        "submission_deadline_not_passed"
    )


def test_extension_until_as_date_object_accepted() -> None:
    assert check("is_extension_date_later", payload={"until": date(2026, 3, 1), "reason": "Bão lũ"}).ok
    assert check("is_extension_date_later", payload={"until": date(2026, 2, 28), "reason": "Bão lũ"}).code == (
        "extension_not_later"
    )


# --- appraisal (Điều 9 k2 c, Điều 8 k1) --------------------------------------------------------------------


def test_appraisal_eligible_with_one_failed_result_refused_naming_it() -> None:
    verdict = check("is_conclusion_consistent", payload=appraisal(failed=("TC3.3",), conclusion="eligible"))
    assert verdict.code == "conclusion_inconsistent"
    assert "TC3.3" in verdict.message


@pytest.mark.parametrize(
    ("results", "fragment"),
    [
        pytest.param(results_with(drop="TC4.3"), "no result for TC4.3", id="missing"),
        pytest.param(results_with(extra=("TC2.2",)), "more than one result for TC2.2", id="duplicated"),
        pytest.param(results_with(extra=("TC6.1",)), "unknown indicators TC6.1", id="unknown-code"),
    ],
)
def test_appraisal_results_malformed_refused_naming_indicator(results: list[dict[str, str]], fragment: str) -> None:
    verdict = check("has_result_for_every_indicator", payload=appraisal(results=results))
    assert verdict.code == "appraisal_results_incomplete"
    assert verdict.message == f"{fragment} (Điều 9 k2 c)"


# --- indicator figures (Điều 6–7 k4–5) ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [101, -1, "80", None, True], ids=["101", "-1", "string", "none", "boolean"])
def test_tc5_figure_out_of_range_refused_naming_figure(value: Any) -> None:
    verdict = check("has_figures_for_measure", **evidence("TC5.1", figures={"share": value}))
    assert verdict.code == "figures_invalid"
    assert verdict.message == "TC5.1: figures.share must be a percentage between 0 and 100 (Điều 6 k4–5, Điều 7 k4–5)"


def test_tc4_figures_without_recognition_docref_refused() -> None:
    verdict = check("has_figures_for_measure", **evidence("TC4.2", figures={"level_reached": 3}))
    assert verdict.code == "figures_invalid"
    assert "TC4.2: figures.recognition" in verdict.message and "level_reached" not in verdict.message


def test_figures_for_rated_indicator_refused() -> None:
    verdict = check("has_figures_for_measure", **evidence("TC1.1", figures={"level_reached": 3}))
    assert verdict.code == "figures_unexpected"
    assert "TC1.1" in verdict.message


NEEDING_SETTINGS = [name for name, g in sorted(GUARDS.items()) if g.needs_settings]


def test_some_guards_declare_the_settings_they_need() -> None:
    assert {"is_extension_allowed", "is_supplement_allowed"} <= set(NEEDING_SETTINGS)


@pytest.mark.parametrize("name", NEEDING_SETTINGS)
def test_a_guard_refuses_whenever_a_setting_it_declares_needing_is_off(name: str) -> None:
    """``needs_settings`` is what lists filter on before running the guard: from the guard's passing scenario,
    any declared setting turned off (or absent) makes it refuse, whatever else the context holds."""
    (overrides,) = [param.values[1] for param in PASSING if param.values[0] == name][:1]
    assert check(name, **overrides).ok
    for setting in GUARDS[name].needs_settings:
        for off in (False, None):
            settings = {**overrides.get("settings", {}), setting: off}
            assert not check(name, **{**overrides, "settings": settings}).ok, (setting, off)


def test_a_guard_that_reads_the_payload_cannot_declare_settings_it_needs() -> None:
    with pytest.raises(ValueError, match="needs_settings only for a guard that reads no payload"):
        guard("reads_and_needs", reads=("until",), needs_settings=("extensions_allowed",))(lambda ctx: PASS)
