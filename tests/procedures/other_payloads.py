"""Well-formed payloads for the TT44/2014 classification, the TT24/2023 learning-unit recognition (both tiers) and the
follow-up remediation (khắc phục), with keyword overrides, and the helpers that open and walk their cases."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text

from service.walkthrough import docref
from service.workers.deadlines import SweepReport, sweep
from tests.helpers import Api, Who

# --- xep_loai_cdht_xa (TT44/2014), cycle 2023, walked in December 2023 – February 2024 ----------------------------


def xl_issue_plan(**over: Any) -> dict[str, Any]:
    return {"plan": docref("12/KH-HKH", "2023-12-05", title="Kế hoạch đánh giá, xếp loại CĐHT năm 2023"), **over}


def xl_self_assessment(score: float = 85, **over: Any) -> dict[str, Any]:
    return {"score": score, "report": docref("15/BC-HKH", "2023-12-20"), **over}


def xl_submit(**over: Any) -> dict[str, Any]:
    return {"submission_letter": docref("88/TTr-UBND", "2023-12-26"), **over}


def xl_receive(received_on: str = "2023-12-27", **over: Any) -> dict[str, Any]:
    return {"received_on": received_on, **over}


def xl_assign(day: str = "2024-01-05", **over: Any) -> dict[str, Any]:
    return {"assignment": docref("05/UBND-VP", day), **over}


def xl_inspection(score: float = 82, inspected_on: str = "2024-02-06", **over: Any) -> dict[str, Any]:
    return {"inspected_on": inspected_on, "score": score, "report": docref("03/BC-HKH", inspected_on), **over}


def xl_decide(classification: str = "kha", day: str = "2024-02-19", **over: Any) -> dict[str, Any]:
    return {"classification": classification, "decision": docref("120/QĐ-UBND", day), **over}


# --- don_vi_hoc_tap, don_vi_hoc_tap_tinh (TT24/2023), cycle N walked in October N – February N+1 -----------------

ORG = "PHONG_VHTT_D1"  # the organisation a learning-unit case is about (its head's token carries it as `org`)


def dv_team(cycle: int, **over: Any) -> dict[str, Any]:
    """The head's decision forming the assessment team (Điều 10 k1 a)."""
    return {
        "decision": docref("01/QĐ-ĐV", f"{cycle}-10-01", title="Quyết định thành lập Tổ đánh giá"),
        "members": [{"name": "Trần Văn Bình", "position": "Tổ trưởng"}, {"name": "Lê Thị Cúc"}],
        **over,
    }


def dv_self_assessment(cycle: int, **over: Any) -> dict[str, Any]:
    return {
        "report": docref("02/BC-ĐV", f"{cycle + 1}-01-05"),
        "summary_table": docref("02a/BTH-ĐV", f"{cycle + 1}-01-05"),
        **over,
    }


def dv_submit(level: int = 1, day: str = "2025-01-10", **over: Any) -> dict[str, Any]:
    return {"requested_level": level, "channel": "online", "submission_letter": docref("03/TTr-ĐV", day), **over}


def dv_council(secretary_sub: str, *, members: int = 5, day: str = "2025-01-20", **over: Any) -> dict[str, Any]:
    """A council of the specialised agencies, the Hội Khuyến học and a socio-political organisation (Điều 10 k2 b)."""
    seats = [
        {"name": "Hoàng Văn Em", "position": "chair", "org": "Phòng GDĐT", "org_type": "co_quan_chuyen_mon"},
        {
            "sub": secretary_sub,
            "name": "Vũ Thị Gấm",
            "position": "secretary",
            "org": "Phòng GDĐT",
            "org_type": "co_quan_chuyen_mon",
        },
        {"name": "Đỗ Văn Hùng", "position": "member", "org": "Hội Khuyến học", "org_type": "hoi_khuyen_hoc"},
        {"name": "Lý Thị Nga", "position": "member", "org": "Đoàn Thanh niên", "org_type": "chinh_tri_xa_hoi"},
        {"name": "Ngô Văn Minh", "position": "member", "org": "Phòng Nội vụ", "org_type": "co_quan_chuyen_mon"},
        {"name": "Bùi Thị Lan", "position": "member", "org": "Ủy ban MTTQ", "org_type": "mat_tran"},
    ]
    return {"decision": docref("15/QĐ-GDĐT", day), "members": seats[:members], **over}


def dv_appraisal(
    codes: list[str], level: int = 1, failed: tuple[str, ...] = (), day: str = "2025-02-05", **over: Any
) -> dict[str, Any]:
    return {
        "method": "meeting",
        "level": level,
        "results": [{"indicator": c, "result": "fail" if c in failed else "pass"} for c in codes],
        "conclusion": "not_eligible" if failed else "eligible",
        "report": docref("01/BC-HĐĐG", day),
        **over,
    }


def dv_propose(day: str = "2025-02-10", **over: Any) -> dict[str, Any]:
    return {"proposal": docref("20/TTr-GDĐT", day), "draft_decision": docref("dự thảo", day), **over}


def dv_recognize(day: str = "2025-02-14", **over: Any) -> dict[str, Any]:
    return {"decision": docref("250/QĐ-UBND", day), **over}


def dv_refuse(day: str = "2025-02-10", **over: Any) -> dict[str, Any]:
    return {
        "reasons": ["Chỉ tiêu TC2.1 chưa đạt: 85% thành viên tuân thủ kỷ luật lao động (cần tối thiểu 90%)"],
        "reply_letter": docref("21/GDĐT-GDTX", day),
        **over,
    }


# --- khac_phuc (the Bắc Kạn city letter on Báo cáo 71/BC-SGDĐT, after the 2023 classification) -----------------


def kp_recommendations(evaluated_case: str, day: str, **over: Any) -> dict[str, Any]:
    return {
        "evaluated_case": evaluated_case,
        "letter": docref("85/UBND-VX", day),
        "recommendations": [
            {"criterion": "Thư viện", "finding": "Thư viện xã chưa số hóa tài liệu", "kind": "weak"},
            {"criterion": "Công dân học tập", "finding": "Tỷ lệ sát ngưỡng", "kind": "not_sustainable"},
        ],
        **over,
    }


def kp_plan(day: str, **over: Any) -> dict[str, Any]:
    return {
        "plan": docref("05/KH-HKH", day),
        "actions": [
            {
                "criterion": "Thư viện",
                "action": "Số hóa 500 đầu sách",
                "responsible": "Văn hóa xã",
                "due_date": "2024-09-30",
            },
            {"criterion": "Công dân học tập", "action": "Vận động hộ gia đình đăng ký", "due_date": "2024-12-31"},
        ],
        **over,
    }


def kp_follow_up(day: str, **over: Any) -> dict[str, Any]:
    return {
        "report": docref("31/BC-PGDĐT", day),
        "progress": [
            {"criterion": "Thư viện", "status": "done"},
            {"criterion": "Công dân học tập", "status": "in_progress", "note": "Đạt 64%"},
        ],
        **over,
    }


def kp_close(day: str, **over: Any) -> dict[str, Any]:
    return {"conclusion": docref("55/PGDĐT", day), **over}


# --- opening ------------------------------------------------------------------------------------------------


async def open_case(api: Api, who: Who, procedure: str, unit: str, cycle: int, **extra: Any) -> Any:
    """POST /v1/cases for another procedure than the commune one (the response, not yet checked)."""
    return await api.client.post(
        "/v1/cases",
        headers=who.headers,
        json={"procedure": procedure, "unit": unit, "cycle": cycle, **extra},
    )


def codes(response: Any) -> list[str]:
    return [reason["code"] for reason in response.json()["reasons"]]


async def run_sweep(api: Api, at: str) -> SweepReport:
    """Run the deadline sweeper once at ``at`` (ISO 8601 with offset), as the worker does."""
    services = api.app.state.services
    return await sweep(services.sessions, services.registry, now=datetime.fromisoformat(at))


async def outbox_types(api: Api, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The outbox rows of a case: (type, data)."""
    async with api.app.state.services.sessions() as session:
        rows = (
            await session.execute(text("SELECT type, body FROM outbox WHERE case_id = :c ORDER BY seq"), {"c": case_id})
        ).all()
    return [(r.type, (r.body if isinstance(r.body, dict) else json.loads(r.body))["data"]) for r in rows]
