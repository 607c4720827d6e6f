"""Guards of TT24/2023, the recognition of learning units ("Đơn vị học tập" cấp huyện, tỉnh): the assessment team
the head of the unit forms (Điều 10 k1 a, Điều 16 k1 a) and the appraisal council the head of the receiving office
forms (Điều 10 k2 b, Điều 16 k2 b). The rest of the procedure reuses the shared guards, which cite TT24's clauses
through the definitions' ``clauses``.

Pure, like every guard. A refusal cites the transition's own citation in the definition (``transition_source``).
"""

from __future__ import annotations

from workflows.guards.common import council_officer_problems, council_secretary_problems, is_blank, transition_source
from workflows.guards.registry import PASS, GuardContext, Verdict, fail, guard

# Who must sit on the council (Điều 10 k2 b, Điều 16 k2 b): "đại diện cơ quan chuyên môn thuộc Ủy ban nhân dân
# cấp huyện (tỉnh); đại diện Hội khuyến học cấp huyện (tỉnh); đại diện tổ chức chính trị-xã hội cấp huyện (tỉnh)".
COUNCIL_SEATS = {
    "co_quan_chuyen_mon": "a specialised agency of the People's Committee (cơ quan chuyên môn thuộc Ủy ban nhân dân)",
    "hoi_khuyen_hoc": "the Study Promotion Association (Hội khuyến học)",
    "chinh_tri_xa_hoi": "a socio-political organisation (tổ chức chính trị-xã hội)",
}


@guard("is_valid_learning_unit_council", reads=("members",))
def is_valid_learning_unit_council(ctx: GuardContext) -> Verdict:
    """A chair, a secretary (named by account: the secretary records the appraisal) and members, an odd number and
    at least ``council_min_members`` (05), representing a specialised agency of the People's Committee, the Hội
    khuyến học and a socio-political organisation (TT24/2023 Điều 10 k2 b, Điều 16 k2 b)."""
    members = ctx.payload.get("members") or []
    minimum = int(ctx.settings.get("council_min_members", 5))
    problems = []
    if len(members) < minimum or len(members) % 2 == 0:
        problems.append(f"{len(members)} members: the council must be an odd number, at least {minimum}")
    problems += council_officer_problems(members) + council_secretary_problems(members)
    present = {m.get("org_type") for m in members}
    problems += [
        f"no representative of {label}" for org_type, label in COUNCIL_SEATS.items() if org_type not in present
    ]
    if problems:
        return fail("council_invalid", "; ".join(problems) + f" ({transition_source(ctx)})")
    return PASS


@guard("has_assessment_team", reads=("members",))
def has_assessment_team(ctx: GuardContext) -> Verdict:
    """The head's decision names the assessment team, at least one member, none blank (TT24/2023 Điều 10 k1 a,
    Điều 16 k1 a)."""
    members = ctx.payload.get("members") or []
    if not members or any(is_blank(m.get("name")) for m in members):
        return fail(
            "assessment_team_invalid",
            f"name every member of the assessment team (Tổ đánh giá), at least one ({transition_source(ctx)})",
        )
    return PASS
