"""Payloads and walks for the district (``cdht_huyen``, TT25/2023 Điều 14) and province (``cdht_tinh``, Điều 19)
procedures, and setup rows (units, recognitions) written straight into the database.

Both procedures have the same steps with different offices, so one ``Tier`` describes each (its definition, who
chairs the review meeting, its council and the day of each step) and one walk drives either.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from service import walkthrough as w
from service.persistence.tables import AdminUnit, Case
from service.workers.deadlines import SweepReport, sweep
from tests.helpers import HAPPY_PATH, Api, Who  # noqa: F401  (district and province walks follow the same states)
from workflows.registry import default_registry
from workflows.schema import Definition

DISTRICT = default_registry().get("cdht_huyen", "tt25-2023").definition
PROVINCE = default_registry().get("cdht_tinh", "tt25-2023").definition

# A passing move for the "change" indicators (Điều 11 k4 b–c, Điều 16 k4 b–c): per-capita income (million đồng),
# employed share (%), multidimensional poverty rate (%), GRDP (billion đồng).
CHANGE_FIGURES = {
    ("cdht_huyen", "TC4.2"): {"previous": 52.4, "current": 58.1},
    ("cdht_huyen", "TC4.3"): {"previous": 67.2, "current": 68.0},
    ("cdht_tinh", "TC4.2"): {"previous": 4.8, "current": 3.9},
    ("cdht_tinh", "TC4.3"): {"previous": 98500.0, "current": 106200.0},
}
ORGS = {
    "cdht_huyen": {
        "TC1": "phong_gddt",
        "TC2": "phong_tai_chinh_ke_hoach",
        "TC3": "phong_van_hoa_thong_tin",
        "TC4": "chi_cuc_thong_ke",
    },
    "cdht_tinh": {"TC1": "so_gddt", "TC2": "so_tai_chinh", "TC3": "so_van_hoa_the_thao_du_lich", "TC4": "cuc_thong_ke"},
}


def docref(number: str, day: str, **extra: Any) -> dict[str, Any]:
    return w.docref(number, day, **extra)


# --- payloads ------------------------------------------------------------------------------------------------


def issue_plan(day: str, **over: Any) -> dict[str, Any]:
    return {"plan": docref("25/KH-UBND", day, title="Kế hoạch tự đánh giá CĐHT, giao Phòng/Sở GDĐT chủ trì"), **over}


def assign_indicators(definition: Definition, **over: Any) -> dict[str, Any]:
    orgs = ORGS[definition.key]
    return {
        "assignments": [{"indicator": i.code, "org": orgs[i.code.split(".")[0]]} for i in definition.indicators],
        **over,
    }


def submit_evidence(definition: Definition, code: str, *, rating: str = "pass", **over: Any) -> dict[str, Any]:
    """A self-rating with the figures the indicator needs; TC4.1 (recognised_share) takes none: it is computed."""
    payload: dict[str, Any] = {"rating": rating, "note": f"Minh chứng cho chỉ tiêu {code}"}
    if definition.indicator(code).measure.kind == "change":
        payload["figures"] = dict(CHANGE_FIGURES[(definition.key, code)])
    payload.update(over)
    return payload


def complete_self_assessment(day: str, **over: Any) -> dict[str, Any]:
    return {"report": docref("41/BC-GDĐT", day, title="Báo cáo tự đánh giá CĐHT"), **over}


def record_review_meeting(day: str, *, chair_position: str, **over: Any) -> dict[str, Any]:
    return {
        "held_on": day,
        "chair": {"name": "Nguyễn Văn Bình", "position": chair_position},
        "participants": [
            {"name": "Trần Thị Cúc", "org_type": "co_quan_chuyen_mon"},
            {"name": "Lê Văn Dũng", "org_type": "hoi_khuyen_hoc"},
            {"name": "Phạm Thị Hoa", "org_type": "mat_tran"},
            {"name": "Đặng Văn Khoa", "org_type": "chinh_tri_xa_hoi"},
        ],
        "minutes": docref("07/BB-GDĐT", day),
        **over,
    }


def submit_dossier(day: str, level: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "requested_level": level,
        "channel": "online",
        "submission_letter": docref("52/TTr-UBND", day),
        **over,
    }


def province_council(day: str, *, secretary_sub: str, **over: Any) -> dict[str, Any]:
    """Hội đồng đánh giá cấp tỉnh (Điều 14 k2 b): odd, ≥ 5; sở ban ngành, Hội Khuyến học, Mặt trận, CT-XH — the
    walkthrough's provincial council, decided on ``day``."""
    return w.form_council(0, secretary_sub=secretary_sub, **{"decision": docref("310/QĐ-SGDĐT", day), **over})


def ministry_council(day: str, *, secretary_sub: str, **over: Any) -> dict[str, Any]:
    """Hội đồng đánh giá cấp Bộ (Điều 19 k2 b): representatives of the Ministry's units."""
    units = ["Vụ Giáo dục thường xuyên", "Vụ Kế hoạch - Tài chính", "Cục Công nghệ thông tin", "Văn phòng Bộ"]
    members = [
        {"name": "Trịnh Văn Nam", "position": "chair", "org": units[0], "org_type": "don_vi_thuoc_bo"},
        {
            "sub": secretary_sub,
            "name": "Lý Thị Oanh",
            "position": "secretary",
            "org": units[0],
            "org_type": "don_vi_thuoc_bo",
        },
        *(
            {"name": f"Thành viên {index}", "position": "member", "org": unit, "org_type": "don_vi_thuoc_bo"}
            for index, unit in enumerate(units[1:], start=1)
        ),
    ]
    return {"decision": docref("1520/QĐ-BGDĐT", day), "members": members, **over}


def record_appraisal(
    definition: Definition, day: str, *, level: int = 1, failed: tuple[str, ...] = (), **over: Any
) -> dict[str, Any]:
    return {
        "method": "meeting",
        "level": level,
        "results": [
            {"indicator": i.code, "result": "fail" if i.code in failed else "pass"} for i in definition.indicators
        ],
        "conclusion": "not_eligible" if failed else "eligible",
        "report": docref("05/BC-HĐĐG", day),
        **over,
    }


def recognize(day: str, **over: Any) -> dict[str, Any]:
    return {"decision": docref("412/QĐ-CN", day), **over}


def refuse(day: str, **over: Any) -> dict[str, Any]:
    return {
        "reasons": ["Chỉ tiêu 3.4 chưa đạt: bảo tàng tỉnh mới triển khai 02 chương trình giáo dục trong năm"],
        "reply_letter": docref("413/BGDĐT-GDTX", day),
        **over,
    }


# --- the offices and the walk ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offices:
    """Who acts in a case of one tier."""

    leader: Who  # UBND huyện / tỉnh: plan, submission, decline, withdraw
    office: Who  # Phòng GDĐT / Sở GDĐT officer: evidence
    head: Who  # Trưởng phòng / Giám đốc Sở: assignments, acceptance, self-assessment, review meeting
    receiver: Who  # Sở GDĐT officer / Ministry officer: receives the dossier
    decider: Who  # Giám đốc Sở / Bộ trưởng: council, extension, decision
    secretary: Who  # the council's secretary


def district_offices(api: Api, district: str = "D1", province: str = "P1") -> Offices:
    return Offices(
        leader=api.who("district_leader", district),
        office=api.who("district_officer", district),
        head=api.who("district_head", district),
        receiver=api.who("province_officer", province),
        decider=api.who("province_director", province),
        secretary=api.who("council_member", province),
    )


def province_offices(api: Api, province: str = "P1") -> Offices:
    return Offices(
        leader=api.who("province_leader", province),
        office=api.who("province_officer", province),
        head=api.who("province_director", province),
        receiver=api.who("ministry_officer", "VN"),
        decider=api.who("minister", "VN"),
        secretary=api.who("council_member", "VN"),
    )


@dataclass(frozen=True)
class Tier:
    definition: Definition
    cycle: int
    chair_position: str
    council: Callable[..., dict[str, Any]]
    days: dict[str, str]  # step -> local ISO day (each act is dated on its day; the clock is set to 09:00 local)

    def at(self, api: Api, step: str) -> str:
        day = self.days[step]
        api.clock.set(f"{day}T09:00:00+07:00")
        return day


# cdht_huyen, cycle 2024 (three_tier): the commune decisions are due by 31/03/2025 (Điều 9 k3), the district's
# dossier by 30/04/2025 (Điều 14 k1 d), the Department's decision by 31/05/2025 (Điều 14 k3).
DISTRICT_2024 = Tier(
    DISTRICT,
    2024,
    "truong_phong",
    province_council,
    {
        "open": "2025-01-10",
        "issue_plan": "2025-01-10",
        "assign_indicators": "2025-01-15",
        "evidence": "2025-02-10",
        "tc41": "2025-03-25",
        "complete_self_assessment": "2025-03-28",
        "record_review_meeting": "2025-04-02",
        "submit_dossier": "2025-04-10",
        "receive_dossier": "2025-04-14",
        "form_council": "2025-04-21",
        "record_appraisal": "2025-05-06",
        "recognize": "2025-05-20",
    },
)
# cdht_tinh, cycle 2025 (two_tier): the province's dossier by 31/07/2026 (Điều 19 k1 d); the Ministry records the
# receipt on 22/04 of a dossier received complete on 20/04/2026; the Minister decides within 20 working days.
PROVINCE_2025 = Tier(
    PROVINCE,
    2025,
    "giam_doc",
    ministry_council,
    {
        "open": "2025-02-03",
        "issue_plan": "2025-02-03",
        "assign_indicators": "2025-02-10",
        "evidence": "2026-01-15",
        "tc41": "2026-03-25",
        "complete_self_assessment": "2026-03-30",
        "record_review_meeting": "2026-04-03",
        "submit_dossier": "2026-04-10",
        "received_on": "2026-04-20",
        "receive_dossier": "2026-04-22",
        "form_council": "2026-04-28",
        "record_appraisal": "2026-05-08",
        "recognize": "2026-05-15",
    },
)


async def open_case(api: Api, tier: Tier, unit: str, opener: Who, **extra: Any) -> str:
    tier.at(api, "open")
    body = {"procedure": tier.definition.key, "unit": unit, "cycle": tier.cycle, **extra}
    response = await api.client.post("/v1/cases", headers=opener.headers, json=body)
    return (await api.ok(response, 201))["id"]


async def give_evidence(
    api: Api, tier: Tier, case_id: str, o: Offices, code: str, *, accept: bool = True, **over: Any
) -> dict[str, Any]:
    """Upload a file, submit the indicator and (by default) accept it; the submission's response body."""
    await api.ok(await api.upload(o.office, case_id, code), 201)
    payload = submit_evidence(tier.definition, code, **over)
    body = await api.ok(await api.fire_indicator(o.office, case_id, code, "submit_evidence", payload))
    if accept:
        await api.ok(await api.fire_indicator(o.head, case_id, code, "accept"))
    return body


async def prepare(api: Api, tier: Tier, case_id: str, o: Offices) -> None:
    """Plan, assignments, and every indicator but TC4.1 submitted and accepted (TC4.1 waits for the subordinate
    units' decisions)."""
    day = tier.at(api, "issue_plan")
    await api.ok(await api.fire(o.leader, case_id, "issue_plan", issue_plan(day)))
    tier.at(api, "assign_indicators")
    await api.ok(await api.fire(o.head, case_id, "assign_indicators", assign_indicators(tier.definition)))
    tier.at(api, "evidence")
    for indicator in tier.definition.indicators:
        if indicator.code != "TC4.1":
            await give_evidence(api, tier, case_id, o, indicator.code)


async def count_subordinates(api: Api, tier: Tier, case_id: str, o: Offices, *, accept: bool = True) -> dict[str, Any]:
    """TC4.1 submitted without figures: the service counts the recognised subordinate units."""
    tier.at(api, "tc41")
    return await give_evidence(api, tier, case_id, o, "TC4.1", accept=accept)


async def advance(
    api: Api, tier: Tier, case_id: str, o: Offices, *, until: str, level: int = 1, failed: tuple[str, ...] = ()
) -> None:
    """From the case's state (collecting_evidence with every indicator accepted, or later) along the happy path to
    the state ``until``."""
    start = HAPPY_PATH.index((await api.ok(await api.get(o.decider, f"/v1/cases/{case_id}")))["state"])
    stop = HAPPY_PATH.index(until)
    received_on = tier.days.get("received_on", tier.days["receive_dossier"])
    steps = [
        ("self_assessed", o.head, "complete_self_assessment", lambda d: complete_self_assessment(d)),
        (
            "review_meeting_held",
            o.head,
            "record_review_meeting",
            lambda d: record_review_meeting(d, chair_position=tier.chair_position),
        ),
        ("submitted", o.leader, "submit_dossier", lambda d: submit_dossier(d, level)),
        ("under_review", o.receiver, "receive_dossier", lambda d: {"received_on": received_on}),
        ("council_formed", o.decider, "form_council", lambda d: tier.council(d, secretary_sub=o.secretary.sub)),
        (
            "appraised",
            o.secretary,
            "record_appraisal",
            lambda d: record_appraisal(tier.definition, d, level=level, failed=failed),
        ),
        ("recognized", o.decider, "recognize", lambda d: recognize(d)),
    ]
    for state, who, trigger, payload in steps:
        if HAPPY_PATH.index(state) <= start:
            continue
        if HAPPY_PATH.index(state) > stop:
            break
        day = tier.at(api, trigger)
        await api.ok(await api.fire(who, case_id, trigger, payload(day)))


# --- setup rows ------------------------------------------------------------------------------------------------


async def add_units(api: Api, rows: list[tuple[str, str, str | None, date | None]]) -> None:
    """Administrative units ``(code, level, parent, valid_to)`` written straight into the table."""
    async with api.app.state.services.sessions() as session, session.begin():
        for code, level, parent, valid_to in rows:
            session.add(AdminUnit(code=code, name=f"Đơn vị {code}", level=level, parent_code=parent, valid_to=valid_to))


async def add_recognitions(
    api: Api, procedure: str, units: list[str], *, cycle: int, level: int, decided_on: date
) -> None:
    """Recognised cases decided on ``decided_on``, as setup data: the count under test is the service's."""
    moment = datetime.combine(decided_on, datetime.min.time(), tzinfo=timezone.utc)
    async with api.app.state.services.sessions() as session, session.begin():
        for unit in units:
            session.add(
                Case(
                    id=str(uuid.uuid4()),
                    procedure=procedure,
                    version="tt25-2023",
                    profile="three_tier" if cycle <= 2024 else "two_tier",
                    unit_code=unit,
                    cycle=cycle,
                    kind="first",
                    state="recognized",
                    target_level=level,
                    pinned={"settings": {"validity_years_after_decision_year": 3}},
                    assessed_level=level,
                    requested_level=level,
                    level=level,
                    decided_on=decided_on,
                    dossier={},
                    opened_by="test-setup",
                    created_at=moment,
                    updated_at=moment,
                )
            )


async def run_sweep(api: Api, at: str) -> SweepReport:
    """One pass of the deadline sweeper at ``at`` (ISO time with offset)."""
    services = api.app.state.services
    return await sweep(services.sessions, services.registry, now=datetime.fromisoformat(at))
