"""Cases of the other procedures walked to a state, for tests beyond their own procedure's module: a learning
unit's case (TT24/2023), a district's case (cdht_huyen) and Xã Lũng Cú's cycle-2024 case under its historical
code (recognised by the old district of Đồng Văn)."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.helpers import Api, Reviewers, Who
from tests.procedures import other_payloads as p
from tests.procedures import tiers_payloads as t
from tests.procedures.other_payloads import ORG
from tests.units.support import LUNG_CU_OLD

# --- a learning unit (don_vi_hoc_tap) -------------------------------------------------------------------------

LEARNING_UNIT = "don_vi_hoc_tap"
LEARNING_UNIT_STEPS = ["submit_dossier", "receive_dossier", "form_council", "record_appraisal", "recognize"]


class LearningUnitActors:
    def __init__(self, api: Api, org: str = ORG) -> None:
        self.head = api.who("learning_unit_head", "D1", org=org)  # the organisation's head
        self.office = api.who("district_officer", "D1")  # Phòng GDĐT
        self.office_head = api.who("district_head", "D1")  # Trưởng phòng GDĐT
        self.secretary = api.who("council_member", "D1")  # council secretary, named in form_council
        self.chairman = api.who("district_leader", "D1")  # Chủ tịch UBND huyện


async def open_learning_unit_case(api: Api, actors: LearningUnitActors, org: str = ORG) -> str:
    api.clock.set("2024-10-01T02:00:00")
    case = await api.ok(await p.open_case(api, actors.head, LEARNING_UNIT, "D1", 2024, subject=org), 201)
    return case["id"]


async def walk_learning_unit(
    api: Api, *, until: str, level: int = 1, failed: tuple[str, ...] = ()
) -> tuple[str, LearningUnitActors]:
    """Open cycle 2024 of the learning unit ORG in D1 and fire its steps, each by its body, up to ``until``."""
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    steps: list[tuple[str, Who, str, dict[str, Any]]] = [
        ("2025-01-10", actors.head, "submit_dossier", p.dv_submit(level)),
        ("2025-01-13", actors.office, "receive_dossier", {"received_on": "2025-01-13"}),
        ("2025-01-20", actors.office_head, "form_council", p.dv_council(actors.secretary.sub)),
        ("2025-02-05", actors.secretary, "record_appraisal", p.dv_appraisal(level, failed)),
        ("2025-02-15", actors.chairman, "recognize", p.dv_recognize()),
    ]
    for day, who, trigger, data in steps[: LEARNING_UNIT_STEPS.index(until) + 1]:
        api.clock.set(f"{day}T02:00:00")
        await api.ok(await api.fire(who, case_id, trigger, data))
    return case_id, actors


# --- a district (cdht_huyen) ----------------------------------------------------------------------------------


async def district_case(
    api: Api, *, until: str, district: str = "D1", recognised: tuple[str, ...] = ("C1", "C2")
) -> tuple[str, t.Offices]:
    """A cdht_huyen case of cycle 2024 on ``district`` walked to ``until``; the communes in ``recognised`` hold a
    level-1 recognition decided on 20/03/2025 (setup rows)."""
    if recognised:
        await t.add_recognitions(api, "cdht_xa", list(recognised), cycle=2024, level=1, decided_on=date(2025, 3, 20))
    offices = t.district_offices(api, district)
    case_id = await t.open_case(api, t.DISTRICT_2024, district, offices.leader)
    if until == "planning":
        return case_id, offices
    await t.prepare(api, t.DISTRICT_2024, case_id, offices)
    await t.count_subordinates(api, t.DISTRICT_2024, case_id, offices)
    if until != "collecting_evidence":
        await t.advance(api, t.DISTRICT_2024, case_id, offices, until=until)
    return case_id, offices


# --- Xã Lũng Cú before the reform -----------------------------------------------------------------------------

DONG_VAN = "H026"  # the old district that reviewed the commune's cycle-2024 dossier


async def recognise_lung_cu_for_2024(api: Api) -> str:
    """Walk the cycle-2024 case of H00715 to recognition (decided 20/03/2025 by the district's head); the official
    lists must be imported first (``tests.units.support.run_import``)."""
    case_id, leader = await api.new_case(LUNG_CU_OLD, 2024)
    reviewers = Reviewers(
        api.who("district_officer", DONG_VAN), api.who("district_head", DONG_VAN), api.who("council_member", DONG_VAN)
    )
    await api.walk(case_id, leader, cycle=2024, until="recognized", reviewers=reviewers)
    return case_id
