"""Cases of the other procedures walked to a state, for tests beyond their own procedure's module: a learning
unit's case (TT24/2023), a district's case (cdht_huyen) and Xã Lũng Cú's cycle-2024 case under its historical
code (recognised by the old district of Đồng Văn)."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from tests.helpers import Api, Reviewers, Who
from tests.procedures import other_payloads as p
from tests.procedures import tiers_payloads as t
from tests.procedures.other_payloads import ORG
from tests.units.support import LUNG_CU_OLD
from workflows.registry import default_registry
from workflows.schema import Definition

# --- a learning unit (don_vi_hoc_tap: district tier; don_vi_hoc_tap_tinh: province tier) -------------------------

LEARNING_UNIT = "don_vi_hoc_tap"
LEARNING_UNIT_PROVINCE = "don_vi_hoc_tap_tinh"
LEARNING_UNIT_STEPS = [
    "form_assessment_team",
    "collect",
    "complete_self_assessment",
    "submit_dossier",
    "receive_dossier",
    "form_council",
    "record_appraisal",
    "propose_recognition",
    "recognize",
]


class LearningUnitActors:
    """Who acts on a TT24 case: the district's offices for the district tier before the reform (unit D1), the
    province's for the province tier and, under two_tier's default, for the district tier after it (unit P1)."""

    def __init__(self, api: Api, org: str = ORG, *, procedure: str = LEARNING_UNIT, cycle: int = 2024) -> None:
        district = procedure == LEARNING_UNIT and cycle <= 2024
        self.unit = unit = "D1" if district else "P1"
        self.procedure, self.cycle, self.org = procedure, cycle, org
        self.head = api.who("learning_unit_head", unit, org=org)  # the organisation's head
        roles = (
            ("district_officer", "district_head", "district_leader")
            if district
            else ("province_officer", "province_director", "province_leader")
        )
        self.office = api.who(roles[0], unit)  # Phòng GDĐT / Sở GDĐT
        self.office_head = api.who(roles[1], unit)  # Trưởng phòng / Giám đốc Sở
        self.secretary = api.who("council_member", unit)  # council secretary, named in form_council
        self.chairman = api.who(roles[2], unit)  # Chủ tịch UBND huyện / tỉnh

    def definition(self) -> Definition:
        return tt24_definition(self.procedure)


@cache
def tt24_definition(procedure: str) -> Definition:
    return default_registry().current(procedure).definition


async def open_learning_unit_case(
    api: Api, actors: LearningUnitActors, org: str | None = None, *, kind: str = "co_quan_nha_nuoc"
) -> str:
    api.clock.set(f"{actors.cycle}-10-01T02:00:00")
    body = await p.open_case(
        api, actors.head, actors.procedure, actors.unit, actors.cycle, subject=org or actors.org, subject_kind=kind
    )
    return (await api.ok(body, 201))["id"]


def tt24_figures(definition: Definition, code: str, kind: str, level: int) -> dict[str, float] | None:
    """Figures that just reach ``level`` for a share indicator of TT24 (with the learners' share where the kind of
    organisation has learners); None for a rated indicator."""
    measure = definition.indicator(code).measure
    if measure.kind != "shares":
        return None
    figures = {name: float(value) for name, value in measure.minimum[level].items()}
    traits = definition.traits(kind)
    for more in measure.extra or []:
        if more.trait in traits:
            figures.update({name: float(value) for name, value in more.minimum[level].items()})
    return figures


async def collect_learning_unit(
    api: Api,
    actors: LearningUnitActors,
    case_id: str,
    kind: str,
    *,
    level: int = 1,
    figures: dict[str, dict[str, float]] | None = None,
    unevidenced: tuple[str, ...] = (),
) -> list[str]:
    """The assessment team's evidence and ratings for every indicator that applies, each accepted by the head;
    ``figures`` overrides an indicator's, ``unevidenced`` gets no file. Returns the codes."""
    definition = actors.definition()
    codes = [ind.code for ind in definition.applicable_indicators(kind)]
    for code in codes:
        if code not in unevidenced:
            await api.ok(await api.upload(actors.head, case_id, code), 201)
        data: dict[str, Any] = {"rating": "pass"}
        shares = (figures or {}).get(code) or tt24_figures(definition, code, kind, level)
        if shares is not None:
            data["figures"] = shares
        await api.ok(await api.fire_indicator(actors.head, case_id, code, "submit_evidence", data))
        await api.ok(await api.fire_indicator(actors.head, case_id, code, "accept"))
    return codes


async def walk_learning_unit(
    api: Api,
    *,
    until: str,
    level: int = 1,
    failed: tuple[str, ...] = (),
    procedure: str = LEARNING_UNIT,
    cycle: int = 2024,
    kind: str = "co_quan_nha_nuoc",
    org: str = ORG,
) -> tuple[str, LearningUnitActors]:
    """Open cycle ``cycle`` of the learning unit ``org`` and fire its steps, each by its body, up to ``until``
    (``refuse``: the council finds ``failed`` not met and the head of the office replies)."""
    actors = LearningUnitActors(api, org, procedure=procedure, cycle=cycle)
    case_id = await open_learning_unit_case(api, actors, kind=kind)
    n = cycle + 1
    codes = [ind.code for ind in actors.definition().applicable_indicators(kind)]
    steps: list[tuple[str, Who, str, dict[str, Any]]] = [
        (f"{cycle}-10-01", actors.head, "form_assessment_team", p.dv_team(cycle)),
        (f"{cycle}-11-01", actors.head, "collect", {}),
        (f"{n}-01-05", actors.head, "complete_self_assessment", p.dv_self_assessment(cycle)),
        (f"{n}-01-10", actors.head, "submit_dossier", p.dv_submit(level, f"{n}-01-10")),
        (f"{n}-01-13", actors.office, "receive_dossier", {"received_on": f"{n}-01-13"}),
        (f"{n}-01-20", actors.office_head, "form_council", p.dv_council(actors.secretary.sub, day=f"{n}-01-20")),
        (f"{n}-02-05", actors.secretary, "record_appraisal", p.dv_appraisal(codes, level, failed, f"{n}-02-05")),
        (f"{n}-02-10", actors.office_head, "propose_recognition", p.dv_propose(f"{n}-02-10")),
        (f"{n}-02-14", actors.chairman, "recognize", p.dv_recognize(f"{n}-02-14")),
    ]
    last = LEARNING_UNIT_STEPS.index("record_appraisal" if until == "refuse" else until)
    for day, who, trigger, data in steps[: last + 1]:
        api.clock.set(f"{day}T02:00:00")
        if trigger == "collect":
            await collect_learning_unit(api, actors, case_id, kind, level=level)
        else:
            await api.ok(await api.fire(who, case_id, trigger, data))
    if until == "refuse":
        api.clock.set(f"{n}-02-10T02:00:00")
        await api.ok(await api.fire(actors.office_head, case_id, "refuse", p.dv_refuse(f"{n}-02-10")))
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
