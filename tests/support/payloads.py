"""Well-formed payloads for every human trigger of the commune procedure, and the council they name (one sub
per position), for tests that fire any trigger from any state: the definition's examples (``workflows.examples``)
through ``service.walkthrough``, a few fitted to the case (a later deadline, every indicator)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from service import walkthrough as w
from tests.helpers import DEFINITION
from workflows.examples import example

# The subs the tests' appraisal council names, one per position (see ``council_payload``).
COUNCIL_SUBS = {"chair": "council-chair", "secretary": "council-secretary", "member": "council-member"}


def council_payload(cycle: int) -> dict[str, Any]:
    """The walkthrough's council, with a sub for one seat of each position."""
    payload = w.form_council(cycle, secretary_sub=COUNCIL_SUBS["secretary"])
    for position, sub in COUNCIL_SUBS.items():
        seat = next(m for m in payload["members"] if m["position"] == position)
        seat["sub"] = sub
    return payload


def submission_due(case: dict[str, Any]) -> date:
    due = next(d for d in case["deadlines"] if d["key"] == "submission")
    return date.fromisoformat(due["due_at"][:10])


CasePayload = Callable[[int, dict[str, Any]], dict[str, Any]]
CASE_PAYLOADS: dict[str, CasePayload] = {
    "issue_plan": lambda cycle, case: w.issue_plan(cycle),
    "assign_indicators": lambda cycle, case: w.assign_indicators(DEFINITION),
    "complete_self_assessment": lambda cycle, case: w.complete_self_assessment(cycle),
    "record_review_meeting": lambda cycle, case: w.record_review_meeting(cycle),
    "decline_submission": lambda cycle, case: example(DEFINITION, "decline_submission", cycle),
    "submit_dossier": lambda cycle, case: w.submit_dossier(cycle, 1),
    "grant_extension": lambda cycle, case: {
        **example(DEFINITION, "grant_extension", cycle),
        "until": (submission_due(case) + timedelta(days=30)).isoformat(),
    },
    "withdraw": lambda cycle, case: example(DEFINITION, "withdraw", cycle),
    "receive_dossier": lambda cycle, case: example(DEFINITION, "receive_dossier", cycle),
    "request_supplement": lambda cycle, case: example(DEFINITION, "request_supplement", cycle),
    "resubmit": lambda cycle, case: example(DEFINITION, "resubmit", cycle),
    "form_council": lambda cycle, case: council_payload(cycle),
    "record_appraisal": lambda cycle, case: w.record_appraisal(DEFINITION, cycle),
    "recognize": lambda cycle, case: w.recognize(cycle),
    "refuse": lambda cycle, case: w.refuse(cycle),
}
INDICATOR_PAYLOADS: dict[str, Callable[[str], dict[str, Any]]] = {
    "submit_evidence": lambda code: w.submit_evidence(DEFINITION, code),
    "accept": lambda code: example(DEFINITION, "accept", indicator=True),
    "return": lambda code: example(DEFINITION, "return", indicator=True),
    "reopen": lambda code: example(DEFINITION, "reopen", indicator=True),
}


# The annual report's approval the report tests sign with.
REPORT_APPROVAL = {
    "document": {"number": "125/BC-SGDĐT", "date": "2026-05-15"},
    "place": "Tỉnh Một",
    "signer_title": "GIÁM ĐỐC",
    "signer_name": "Nguyễn Văn Ánh",
    "recipients": ["Bộ GDĐT (để b/c)", "UBND tỉnh (để b/c)", "Lưu: VT, GDTX"],
}
