"""Guards of the commune procedure (TT25/2023 Điều 9) up to the dossier: assignment, self-assessment, review
meeting, the level applied for, the case's kind against the unit's recognitions, and the submission deadline.
The district and province procedures reuse them where the rule is the same (``cite`` names their own clause)."""

from __future__ import annotations

from datetime import date

from workflows.calendar import describe, local_date
from workflows.guards.common import cite, is_blank, subject_noun
from workflows.guards.registry import PASS, GuardContext, PriorRecognition, Verdict, fail, guard
from workflows.workdays import load_calendar

# --- commune procedure (TT25/2023 Điều 9) ------------------------------------------------------------------


@guard("has_assignee_for_every_indicator", reads=("assignments",))
def has_assignee_for_every_indicator(ctx: GuardContext) -> Verdict:
    """Every indicator of the target level is assigned to an organisation, once (Điều 24 k2)."""
    known = [ind.code for ind in ctx.indicators_in_scope]
    seen: dict[str, int] = {}
    problems: list[str] = []
    for item in ctx.payload.get("assignments") or []:
        code = item.get("indicator")
        seen[code] = seen.get(code, 0) + 1
        if code not in known:
            problems.append(f"{code} is not an indicator of {ctx.definition.key}")
        if is_blank(item.get("org")):
            problems.append(f"{code} has no organisation")
    missing = [code for code in known if code not in seen]
    twice = [code for code, n in seen.items() if n > 1]
    if missing:
        problems.append("not assigned: " + ", ".join(missing))
    if twice:
        problems.append("assigned more than once: " + ", ".join(twice))
    return fail("assignments_incomplete", "; ".join(problems) + f" ({cite(ctx, 'Điều 24 k2')})") if problems else PASS


@guard("is_every_indicator_accepted")
def is_every_indicator_accepted(ctx: GuardContext) -> Verdict:
    """The self-assessment covers every indicator, each accepted by the commune leader (Điều 9 k1 a–b)."""
    pending = [
        f"{ind.code} ({ctx.indicators[ind.code].state if ind.code in ctx.indicators else 'not assigned'})"
        for ind in ctx.indicators_in_scope
        if ind.code not in ctx.indicators or ctx.indicators[ind.code].state != "accepted"
    ]
    if pending:
        return fail(
            "indicators_not_accepted", "not yet accepted: " + ", ".join(pending) + f" ({cite(ctx, 'Điều 9 k1 a–b')})"
        )
    return PASS


@guard("is_after_cycle_end")
def is_after_cycle_end(ctx: GuardContext) -> Verdict:
    """The figures cover 01/01–31/12 of the evaluation year, so the report closes after it (Điều 9 k1 b)."""
    if not ctx.settings.get("self_assessment_after_cycle_end", True):
        return PASS
    if local_date(ctx.now) < date(ctx.cycle + 1, 1, 1):
        return fail(
            "cycle_not_ended",
            f"the self-assessment of cycle {ctx.cycle} covers 01/01–31/12/{ctx.cycle}; it can be completed "
            f"from 01/01/{ctx.cycle + 1} ({cite(ctx, 'Điều 9 k1 b')}; setting self_assessment_after_cycle_end)",
        )
    return PASS


@guard("is_chaired_by_commune_leader", reads=("chair",))
def is_chaired_by_commune_leader(ctx: GuardContext) -> Verdict:
    """The review meeting is chaired by a leader of the commune People's Committee (Điều 9 k1 c)."""
    allowed = list(ctx.settings.get("meeting_chair_positions", ["chu_tich", "pho_chu_tich"]))
    position = (ctx.payload.get("chair") or {}).get("position")
    if position not in allowed:
        return fail(
            "chair_not_commune_leader",
            f"the meeting must be chaired by a leader of the commune People's Committee "
            f"(position one of {', '.join(allowed)}), not {position!r} (Điều 9 k1 c)",
        )
    return PASS


@guard("has_required_meeting_participants", reads=("participants",))
def has_required_meeting_participants(ctx: GuardContext) -> Verdict:
    """Hội Khuyến học, Mặt trận and at least one socio-political organisation attend (Điều 9 k1 c)."""
    present = {p.get("org_type") for p in ctx.payload.get("participants") or []}
    required = {
        "hoi_khuyen_hoc": "the commune Study Promotion Association (Hội Khuyến học xã)",
        "mat_tran": "the Fatherland Front committee (Ủy ban MTTQ)",
        "chinh_tri_xa_hoi": "at least one socio-political organisation (tổ chức chính trị - xã hội)",
    }
    missing = [label for org_type, label in required.items() if org_type not in present]
    if missing:
        return fail("meeting_participants_missing", "the meeting lacks " + "; ".join(missing) + " (Điều 9 k1 c)")
    return PASS


@guard("is_requested_level_assessed", reads=("requested_level",))
def is_requested_level_assessed(ctx: GuardContext) -> Verdict:
    """The commune applies at the level its self-assessment reached, no other (Điều 9 k1 d)."""
    requested = ctx.payload.get("requested_level")
    reached = ctx.assessment.level
    if requested == reached:
        return PASS
    failing = [
        f"{code} ({', '.join(f'L{lv}' for lv, ok in passes.items() if not ok)})"
        for code, passes in ctx.assessment.criteria.items()
        if not all(passes.values())
    ]
    detail = f"; criteria not met: {', '.join(failing)}" if failing else ""
    return fail(
        "requested_level_not_assessed",
        f"requested level {requested} but the self-assessment reaches "
        f"{'no level' if reached == 0 else f'level {reached}'}{detail} ({cite(ctx, 'Điều 9 k1 d')})",
    )


@guard("is_dossier_complete", reads=("submission_letter",))
def is_dossier_complete(ctx: GuardContext) -> Verdict:
    """Letter, self-assessment report and summary table (generated) make the dossier (Điều 9 k1 d)."""
    missing = []
    if not ctx.payload.get("submission_letter"):
        missing.append("submission letter (tờ trình)")
    if not (ctx.dossier.get("complete_self_assessment") or {}).get("report"):
        missing.append("self-assessment report (báo cáo tự đánh giá)")
    unrated = [ind.code for ind in ctx.indicators_in_scope if ind.code not in ctx.indicators]
    if unrated:
        missing.append("summary table rows for " + ", ".join(unrated))
    if missing:
        return fail("dossier_incomplete", "the dossier lacks " + "; ".join(missing) + f" ({cite(ctx, 'Điều 9 k1 d')})")
    return PASS


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise ValueError(day)


@guard("is_upgrade_interval_met", reads=("requested_level",), history=True)
def is_upgrade_interval_met(ctx: GuardContext) -> Verdict:
    """An upgrade asks for level 2 no earlier than 12 months after the level-1 decision [practice]."""
    if ctx.kind != "upgrade":
        return PASS
    months = int(ctx.settings.get("upgrade_min_months_after_level1", 12))
    if ctx.payload.get("requested_level") != 2:
        return fail("upgrade_requires_level_2", "an upgrade case applies for level 2")
    level1 = [r for r in ctx.prior_recognitions if r.level == 1]
    if not level1:
        return fail(
            "no_level1_recognition", f"no level-1 recognition of this {subject_noun(ctx)} is on record to upgrade"
        )
    latest = max(r.decided_on for r in level1)
    earliest = _add_months(latest, months)
    if local_date(ctx.now) < earliest:
        return fail(
            "upgrade_too_early",
            f"the level-1 decision of {latest:%d/%m/%Y} allows an upgrade from {earliest:%d/%m/%Y} "
            f"(setting upgrade_min_months_after_level1 = {months})",
        )
    return PASS


@guard("is_kind_consistent_with_history", history=True)
def is_kind_consistent_with_history(ctx: GuardContext) -> Verdict:
    """At opening: a ``first`` case for a unit never recognised; ``re_recognition`` once the last recognition's
    validity ends within the cycle assessed or earlier (Điều 5 k4, Điều 9 k4); ``upgrade`` from a level-1
    recognition still in force, never past level 2 [practice]."""
    history = sorted(ctx.prior_recognitions, key=lambda r: (r.decided_on, r.case_id))
    latest = history[-1] if history else None
    today, cycle_end = local_date(ctx.now), date(ctx.cycle, 12, 31)

    def held(r: PriorRecognition) -> str:
        where = f" by {r.unit_code}" if r.unit_code else ""
        until = f", valid until {r.valid_until:%d/%m/%Y}" if r.valid_until else ""
        return f"level {r.level} decided on {r.decided_on:%d/%m/%Y}{where} (case {r.case_id}{until})"

    if ctx.kind == "first" and latest is not None:
        return fail(
            "already_recognised",
            f"the unit already holds a recognition: {held(latest)}; open a re_recognition or upgrade case instead",
        )
    if ctx.kind == "re_recognition":
        if latest is None:
            return fail(
                "no_recognition_to_renew", "no earlier recognition of this unit is on record; open a first case"
            )
        if latest.valid_until is not None and latest.valid_until > cycle_end:
            return fail(
                "recognition_still_valid",
                f"{held(latest)}; re-recognition assesses the cycle in which it expires, "
                f"{latest.valid_until.year} at the earliest ({cite(ctx, 'Điều 5 k4')})",
            )
    if ctx.kind == "upgrade":
        in_force = [r for r in history if r.valid_until is None or r.valid_until >= today]
        if any(r.level >= 2 for r in in_force):
            top = max((r for r in in_force if r.level >= 2), key=lambda r: r.decided_on)
            return fail("already_level_2", f"the unit already holds level 2: {held(top)}")
        if not any(r.level == 1 for r in in_force):
            return fail("no_level1_recognition", "an upgrade starts from a level-1 recognition in force; none is")
    return PASS


@guard("is_before_submission_deadline")
def is_before_submission_deadline(ctx: GuardContext) -> Verdict:
    """The dossier reaches the office before 28/02 of N+1, or before an extension on record (Điều 9 k1 d)."""
    due = ctx.deadlines.get("submission")
    if due is None or ctx.now <= due.due_at:
        return PASS
    return fail("submission_deadline_passed", f"the submission deadline has passed: {due.explanation}")


@guard("is_submission_deadline_passed")
def is_submission_deadline_passed(ctx: GuardContext) -> Verdict:
    """The case lapses only after the deadline (with any extension) has passed (Điều 9 k1 d)."""
    due = ctx.deadlines.get("submission")
    if due is not None and ctx.now > due.due_at:
        return PASS
    when = due.explanation if due else "no submission deadline is open"
    return fail("submission_deadline_not_passed", f"the submission deadline has not passed: {when}")


@guard("is_extension_allowed", needs_settings=("extensions_allowed",))
def is_extension_allowed(ctx: GuardContext) -> Verdict:
    """No article of TT25/2023 lets an office move a date the circular fixes: an extension is granted only where
    the jurisdiction's profile turns the setting ``extensions_allowed`` on [config]."""
    if ctx.settings.get("extensions_allowed", False):
        return PASS
    return fail(
        "extension_not_allowed",
        f"no article of {ctx.definition.instrument} lets an office move a date it fixes, and this jurisdiction's "
        "profile does not allow extensions (setting extensions_allowed)",
    )


@guard("has_extension_basis", reads=("legal_basis",))
def has_extension_basis(ctx: GuardContext) -> Verdict:
    """An extension names the text or decision it rests on (shown in the deadline's explanation)."""
    if is_blank(ctx.payload.get("legal_basis")):
        return fail("extension_basis_required", "name the legal basis of the extension (the text or decision)")
    return PASS


@guard("is_extension_date_later", reads=("until",))
def is_extension_date_later(ctx: GuardContext) -> Verdict:
    """An extension moves the submission deadline later, never earlier, and not past the date by which the
    office must decide (TT25/2023 Điều 9 k3, Điều 14 k3), since a dossier after it could not be decided in time
    [config]. Where the decision is due a number of working days after the dossier (the Minister's 20, Điều 19 k2
    e), the same cap reads: the decision that many working days after the new date still falls within the year
    after the evaluation year, as every other tier's does [config]."""
    due = ctx.deadlines.get("submission")
    until = ctx.payload.get("until")
    if due is None:
        return fail("no_deadline", "no submission deadline is open to extend")
    if isinstance(until, str):
        until = date.fromisoformat(until)
    if until is None or until <= local_date(due.due_at) or until < local_date(ctx.now):
        return fail(
            "extension_not_later",
            f"the new date must be after the current deadline ({describe(due.due_at)}) and not in the past",
        )
    decision = ctx.definition.deadlines.get("decision")
    if decision is not None and decision.rule.kind == "fixed_date":
        latest = date(ctx.cycle + decision.rule.year_offset, decision.rule.month, decision.rule.day)
        if until >= latest:
            return fail(
                "extension_too_late",
                f"the new date must be before {latest:%d/%m/%Y}, when the decision is due ({decision.citation})",
            )
    if decision is not None and decision.rule.kind == "working_days_after" and decision.rule.days:
        year_end = date(ctx.cycle + 1, 12, 31)
        decided_by = load_calendar().add_working_days(until, decision.rule.days)
        if decided_by > year_end:
            return fail(
                "extension_too_late",
                f"a dossier on {until:%d/%m/%Y} would be decided by {decided_by:%d/%m/%Y} ({decision.rule.days} "
                f"working days, {decision.citation}), after {year_end:%d/%m/%Y}, the end of the year after the "
                f"evaluation year",
            )
    return PASS
