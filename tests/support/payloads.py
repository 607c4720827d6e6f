"""Well-formed payloads for every human trigger of the commune procedure, and the council they name (one sub
per position), for tests that fire any trigger from any state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from service import walkthrough as w
from tests.helpers import DEFINITION

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
    "decline_submission": lambda cycle, case: {"reason": "Chưa đạt tiêu chí 5; tiếp tục xây dựng"},
    "submit_dossier": lambda cycle, case: w.submit_dossier(cycle, 1),
    "grant_extension": lambda cycle, case: {
        "until": (submission_due(case) + timedelta(days=30)).isoformat(),
        "reason": "Thiên tai ảnh hưởng việc hoàn thiện hồ sơ",
        "legal_basis": "Quyết định 45/QĐ-UBND ngày 20/02 của UBND tỉnh",
    },
    "withdraw": lambda cycle, case: {"reason": "Xã rút hồ sơ để hoàn thiện thêm"},
    "receive_dossier": lambda cycle, case: {"received_on": f"{cycle + 1}-02-12"},
    "request_supplement": lambda cycle, case: {"missing": ["Biên bản họp xem xét kết quả tự đánh giá"]},
    "resubmit": lambda cycle, case: {"note": "Đã bổ sung biên bản họp"},
    "form_council": lambda cycle, case: council_payload(cycle),
    "record_appraisal": lambda cycle, case: w.record_appraisal(DEFINITION, cycle),
    "recognize": lambda cycle, case: w.recognize(cycle),
    "refuse": lambda cycle, case: w.refuse(cycle),
}
INDICATOR_PAYLOADS: dict[str, Callable[[str], dict[str, Any]]] = {
    "submit_evidence": lambda code: w.submit_evidence(DEFINITION, code),
    "accept": lambda code: {},
    "return": lambda code: {"reason": "Minh chứng chưa có chữ ký, đóng dấu"},
    "reopen": lambda code: {"reason": "Cần cập nhật số liệu cuối năm"},
}


# The annual report's approval the report tests sign with.
REPORT_APPROVAL = {
    "document": {"number": "125/BC-SGDĐT", "date": "2026-05-15"},
    "place": "Tỉnh Một",
    "signer_title": "GIÁM ĐỐC",
    "signer_name": "Nguyễn Văn Ánh",
    "recipients": ["Bộ GDĐT (để b/c)", "UBND tỉnh (để b/c)", "Lưu: VT, GDTX"],
}
