"""Guards of the district and province procedures (TT25/2023 Điều 10–19).

The district (``cdht_huyen``, Điều 14) and province (``cdht_tinh``, Điều 19) procedures reuse the commune guards
where the rule is the same (dossier, deadlines, appraisal, decision). The guards here are the rules that differ:
who chairs the review meeting and who attends it (Điều 14 k1 c, Điều 19 k1 c), the Ministry's appraisal council
(Điều 19 k2 b), and the day a province's dossier is received, from which the Minister's 20 working days run
(Điều 19 k2 e). Each message cites the clause of the transition it guards, read from the definition, so one guard
serves both tiers and names the right article.
"""

from __future__ import annotations

from datetime import date

from workflows.guards.common import (
    council_secretary_problems,
    is_blank,
    transition_source,
)
from workflows.guards.registry import PASS, GuardContext, Verdict, fail, guard

# The office that leads the self-assessment at each tier (Điều 14 k1 a, Điều 19 k1 a), and the positions of its
# leadership when a definition names none in its ``meeting_chair_positions`` setting.
OFFICES = {
    "district": ("Phòng Giáo dục và Đào tạo", "the district education office", ["truong_phong", "pho_truong_phong"]),
    "province": ("Sở Giáo dục và Đào tạo", "the provincial Department of Education", ["giam_doc", "pho_giam_doc"]),
}
# Who must attend the review meeting at district and province level (Điều 14 k1 c, Điều 19 k1 c).
MEETING_PARTICIPANTS = {
    "co_quan_chuyen_mon": {
        "district": "at least one specialised agency of the district People's Committee (cơ quan chuyên môn)",
        "province": "at least one department, board or agency of the province (sở, ban, ngành)",
    },
    "hoi_khuyen_hoc": {
        "district": "the district Study Promotion Association (Hội Khuyến học huyện)",
        "province": "the provincial Study Promotion Association (Hội Khuyến học tỉnh)",
    },
    "mat_tran": {
        "district": "the district Fatherland Front committee (Ủy ban MTTQ huyện)",
        "province": "the provincial Fatherland Front committee (Ủy ban MTTQ tỉnh)",
    },
    "chinh_tri_xa_hoi": {
        "district": "at least one socio-political organisation of the district (tổ chức chính trị - xã hội)",
        "province": "at least one socio-political organisation of the province (tổ chức chính trị - xã hội)",
    },
}


def _tier(ctx: GuardContext) -> str:
    level = ctx.definition.subject_level
    return level if level in OFFICES else "district"


@guard("is_chaired_by_education_office_leader", reads=("chair",))
def is_chaired_by_education_office_leader(ctx: GuardContext) -> Verdict:
    """The review meeting is chaired by a leader of the office leading the self-assessment: Phòng GDĐT for a
    district (Điều 14 k1 c), Sở GDĐT for a province (Điều 19 k1 c); the positions are the setting
    ``meeting_chair_positions``."""
    office, english, default = OFFICES[_tier(ctx)]
    allowed = list(ctx.settings.get("meeting_chair_positions", default))
    chair = ctx.payload.get("chair") or {}
    position = chair.get("position")
    if position not in allowed:
        return fail(
            "chair_not_office_leader",
            f"the meeting must be chaired by a leader of {office} ({english}; position one of "
            f"{', '.join(allowed)}), not {position!r} ({transition_source(ctx)}; setting meeting_chair_positions)",
        )
    if is_blank(chair.get("name")):
        return fail("chair_not_office_leader", f"the chair's name is blank ({transition_source(ctx)})")
    return PASS


@guard("has_required_tier_meeting_participants", reads=("participants",))
def has_required_tier_meeting_participants(ctx: GuardContext) -> Verdict:
    """Specialised agencies, Hội Khuyến học, Mặt trận and at least one socio-political organisation of the
    district (Điều 14 k1 c) or province (Điều 19 k1 c) attend the review meeting."""
    tier = _tier(ctx)
    present = {p.get("org_type") for p in ctx.payload.get("participants") or [] if not is_blank(p.get("name"))}
    missing = [labels[tier] for org_type, labels in MEETING_PARTICIPANTS.items() if org_type not in present]
    if missing:
        return fail(
            "meeting_participants_missing", "the meeting lacks " + "; ".join(missing) + f" ({transition_source(ctx)})"
        )
    return PASS


@guard("is_valid_ministry_council", reads=("members",))
def is_valid_ministry_council(ctx: GuardContext) -> Verdict:
    """The Ministry's council (Hội đồng đánh giá cấp Bộ) is made of representatives of units of the Ministry
    (Điều 19 k2 b; the payload admits no other org_type). The law fixes neither its size nor its officers, so both
    are settings [config]: ``ministry_council_min_members`` (no minimum by default) and
    ``ministry_council_positions``, the positions held exactly once (by default the secretary, named by account,
    who records the appraisal); any other position at most once."""
    members = ctx.payload.get("members") or []
    minimum = ctx.settings.get("ministry_council_min_members")
    required = list(ctx.settings.get("ministry_council_positions") or [])
    problems = []
    if minimum is not None and len(members) < int(minimum):
        problems.append(
            f"{len(members)} members: at least {int(minimum)} are required (setting ministry_council_min_members)"
        )
    for position, plural in (("chair", "chairs"), ("secretary", "secretaries")):
        count = sum(1 for m in members if m.get("position") == position)
        if position in required and count != 1:
            problems.append(
                f"{count} {plural}: exactly one {position} is required (setting ministry_council_positions)"
            )
        elif count > 1:
            problems.append(f"{count} {plural}: at most one {position}")
    unnamed = [str(index) for index, m in enumerate(members) if is_blank(m.get("name")) or is_blank(m.get("org"))]
    if unnamed:
        problems.append("members without a name or Ministry unit: " + ", ".join(unnamed))
    problems += council_secretary_problems(members)
    if problems:
        return fail("council_invalid", "; ".join(problems) + f" ({transition_source(ctx)})")
    return PASS


@guard("is_received_after_submission", reads=("received_on",))
def is_received_after_submission(ctx: GuardContext) -> Verdict:
    """A dossier is received no earlier than the date of the letter that sends it: the receipt date starts the
    Minister's 20 working days (Điều 19 k2 e), so it cannot be moved before the dossier existed."""
    received = ctx.payload.get("received_on")
    letter = ((ctx.dossier.get("submit_dossier") or {}).get("submission_letter") or {}).get("date")
    if not isinstance(received, str) or not isinstance(letter, str):
        return fail(
            "received_on_required", f"the day the complete dossier was received is required ({transition_source(ctx)})"
        )
    received_on, letter_on = date.fromisoformat(received), date.fromisoformat(letter)
    if received_on < letter_on:
        return fail(
            "received_before_submission",
            f"received on {received_on:%d/%m/%Y}, before the submission letter of {letter_on:%d/%m/%Y} "
            f"({transition_source(ctx)})",
        )
    return PASS
