"""Well-formed payloads for every step of the commune procedure, with keyword overrides.

Each is the definition's own example of the transition (``example:`` in ``workflows/definitions/cdht_xa``, moved
to the cycle by ``workflows.examples``), the same one the OpenAPI document shows; used by ``cdht seed-demo`` to
walk demo cases through the engine and by the tests as factories, so that all of them speak the definition's
payloads the same way.
"""

from __future__ import annotations

from typing import Any

from workflows.examples import example
from workflows.registry import default_registry
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


def commune() -> Definition:
    """The commune procedure whose examples these are (cdht_xa as shipped)."""
    return default_registry().current("cdht_xa").definition


def docref(number: str, date: str, **extra: Any) -> dict[str, Any]:
    return {"number": number, "date": date, **extra}


def org_for(indicator: str) -> str:
    return ORGS[indicator.split(".")[0]]


def issue_plan(cycle: int, **over: Any) -> dict[str, Any]:
    return {**example(commune(), "issue_plan", cycle), **over}


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
    payload: dict[str, Any] = {**example(commune(), "submit_evidence", indicator=True), "rating": rating}
    payload["note"] = f"Minh chứng cho chỉ tiêu {code}"
    figures = figures_for(definition, code, level=level)
    if figures is not None:
        payload["figures"] = figures
    payload.update(over)
    return payload


def complete_self_assessment(cycle: int, **over: Any) -> dict[str, Any]:
    return {**example(commune(), "complete_self_assessment", cycle), **over}


def record_review_meeting(cycle: int, **over: Any) -> dict[str, Any]:
    return {**example(commune(), "record_review_meeting", cycle), **over}


def submit_dossier(cycle: int, level: int = 1, **over: Any) -> dict[str, Any]:
    return {**example(commune(), "submit_dossier", cycle), "requested_level": level, **over}


def form_council(cycle: int, *, secretary_sub: str, **over: Any) -> dict[str, Any]:
    payload = example(commune(), "form_council", cycle)
    for seat in payload["members"]:
        if seat["position"] == "secretary":
            seat["sub"] = secretary_sub
    return {**payload, **over}


def record_appraisal(
    definition: Definition, cycle: int, *, level: int = 1, failed: tuple[str, ...] = (), **over: Any
) -> dict[str, Any]:
    return {
        **example(commune(), "record_appraisal", cycle),
        "level": level,
        "results": [
            {"indicator": i.code, "result": "fail" if i.code in failed else "pass"} for i in definition.indicators
        ],
        "conclusion": "not_eligible" if failed else "eligible",
        **over,
    }


def recognize(cycle: int, **over: Any) -> dict[str, Any]:
    return {**example(commune(), "recognize", cycle), **over}


def refuse(cycle: int, **over: Any) -> dict[str, Any]:
    return {**example(commune(), "refuse", cycle), **over}
