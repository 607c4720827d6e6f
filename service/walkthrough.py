"""Well-formed payloads for every step of the commune procedure, with keyword overrides.

Used by ``cdht seed-demo`` to walk demo cases through the engine and by the tests as factories, so that both
speak the definition's payloads the same way.
"""

from __future__ import annotations

from typing import Any

from workflows.schema import Definition

ORGS = {
    "TC1": "ubnd_xa",
    "TC2": "hoi_khuyen_hoc",
    "TC3": "trung_tam_hoc_tap_cong_dong",
    "TC4": "truong_hoc",
    "TC5": "hoi_khuyen_hoc",
}
MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def docref(number: str, date: str, **extra: Any) -> dict[str, Any]:
    return {"number": number, "date": date, **extra}


def org_for(indicator: str) -> str:
    return ORGS[indicator.split(".")[0]]


def issue_plan(cycle: int, **over: Any) -> dict[str, Any]:
    return {"plan": docref("15/KH-UBND", f"{cycle}-01-15", title=f"Kế hoạch xây dựng CĐHT năm {cycle}"), **over}


def assign_indicators(definition: Definition, **over: Any) -> dict[str, Any]:
    return {"assignments": [{"indicator": i.code, "org": org_for(i.code)} for i in definition.indicators], **over}


def figures_for(
    definition: Definition, code: str, *, level: int = 1, disadvantaged: bool = False
) -> dict[str, Any] | None:
    """Figures that just reach ``level`` for a quantitative indicator; None for a rated one."""
    indicator = definition.indicator(code)
    measure = indicator.measure
    if measure.kind == "recognition_level":
        return {"level_reached": measure.required[level], "recognition": docref("88/QĐ-UBND", "2024-12-20")}
    if measure.kind == "shares":
        table = measure.minimum_disadvantaged if disadvantaged and measure.minimum_disadvantaged else measure.minimum
        return {name: float(value) for name, value in table[level].items()}
    return None


def submit_evidence(
    definition: Definition, code: str, *, level: int = 1, rating: str = "pass", **over: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {"rating": rating, "note": f"Minh chứng cho chỉ tiêu {code}"}
    figures = figures_for(definition, code, level=level)
    if figures is not None:
        payload["figures"] = figures
    payload.update(over)
    return payload


def complete_self_assessment(cycle: int, **over: Any) -> dict[str, Any]:
    return {"report": docref("03/BC-UBND", f"{cycle + 1}-01-10", title="Báo cáo tự đánh giá CĐHT"), **over}


def record_review_meeting(cycle: int, **over: Any) -> dict[str, Any]:
    return {
        "held_on": f"{cycle + 1}-01-20",
        "chair": {"name": "Nguyễn Văn An", "position": "chu_tich"},
        "participants": [
            {"name": "Trần Thị Bình", "org_type": "hoi_khuyen_hoc"},
            {"name": "Lê Văn Cường", "org_type": "mat_tran"},
            {"name": "Phạm Thị Dung", "org_type": "chinh_tri_xa_hoi"},
        ],
        "minutes": docref("05/BB-UBND", f"{cycle + 1}-01-20"),
        **over,
    }


def submit_dossier(cycle: int, level: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "requested_level": level,
        "channel": "online",
        "submission_letter": docref("07/TTr-UBND", f"{cycle + 1}-02-01"),
        **over,
    }


def form_council(cycle: int, *, secretary_sub: str, **over: Any) -> dict[str, Any]:
    return {
        "decision": docref("21/QĐ-SGDĐT", f"{cycle + 1}-03-01"),
        "members": [
            {"name": "Hoàng Văn Em", "position": "chair", "org": "Sở GDĐT", "org_type": "co_quan_chuyen_mon"},
            {
                "sub": secretary_sub,
                "name": "Vũ Thị Gấm",
                "position": "secretary",
                "org": "Sở GDĐT",
                "org_type": "co_quan_chuyen_mon",
            },
            {"name": "Đỗ Văn Hùng", "position": "member", "org": "Hội Khuyến học tỉnh", "org_type": "hoi_khuyen_hoc"},
            {"name": "Bùi Thị Lan", "position": "member", "org": "Ủy ban MTTQ tỉnh", "org_type": "mat_tran"},
            {"name": "Ngô Văn Minh", "position": "member", "org": "Tỉnh đoàn", "org_type": "chinh_tri_xa_hoi"},
        ],
        **over,
    }


def record_appraisal(
    definition: Definition, cycle: int, *, level: int = 1, failed: tuple[str, ...] = (), **over: Any
) -> dict[str, Any]:
    return {
        "method": "meeting",
        "level": level,
        "results": [
            {"indicator": i.code, "result": "fail" if i.code in failed else "pass"} for i in definition.indicators
        ],
        "conclusion": "not_eligible" if failed else "eligible",
        "report": docref("02/BC-HĐĐG", f"{cycle + 1}-03-10"),
        **over,
    }


def recognize(cycle: int, **over: Any) -> dict[str, Any]:
    return {"decision": docref("35/QĐ-SGDĐT", f"{cycle + 1}-03-20"), **over}


def refuse(cycle: int, **over: Any) -> dict[str, Any]:
    return {
        "reasons": ["Chỉ tiêu 5.1 chưa đạt: tỷ lệ Công dân học tập dưới 60%"],
        "reply_letter": docref("36/SGDĐT-GDTX", f"{cycle + 1}-03-20"),
        **over,
    }
