"""Guards of the TT44/2014 and follow-up (khắc phục) procedures (TT24/2023's are in ``learning_units``).

Pure, like every guard: they read the frozen ``GuardContext`` only. A refusal names the source it rests on; where
the guard serves one transition, that is the transition's own citation in the definition (``transition_source``),
so the message never cites an instrument the case does not run under.

No effects are registered here: these procedures reuse the effects of ``workflows.effects`` or keep their results
in the case's dossier.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from workflows.guards.common import (
    is_blank,
    transition_source,
)
from workflows.guards.registry import PASS, GuardContext, Verdict, fail, guard


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _docref_day(value: Any) -> date | None:
    return _day(value.get("date")) if isinstance(value, Mapping) else None


def _earlier_step(ctx: GuardContext, trigger: str) -> Mapping[str, Any]:
    return ctx.dossier.get(trigger) or {}


def _not_before(ctx: GuardContext, day: date | None, floor: date | None, *, what: str, floor_what: str) -> Verdict:
    """``day`` is on or after ``floor`` (a later act cannot be dated before the act it follows)."""
    if day is None or floor is None or day >= floor:
        return PASS
    return fail(
        "dated_before_previous_step",
        f"{what} ({day:%d/%m/%Y}) is dated before {floor_what} ({floor:%d/%m/%Y}) ({transition_source(ctx)})",
    )


# --- TT44/2014: annual classification of commune learning communities (xep_loai_cdht_xa) ----------------------


def score_bands(settings: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The ``score_bands`` setting as (class, minimum score), highest first."""
    bands = settings.get("score_bands") or {}
    return sorted(((str(name), float(minimum)) for name, minimum in bands.items()), key=lambda b: -b[1])


def class_for_score(score: float, settings: Mapping[str, Any]) -> str:
    """The class whose minimum the score reaches (the highest such band), else the ``below_bands_class``."""
    for name, minimum in score_bands(settings):
        if score >= minimum:
            return name
    return str(settings.get("below_bands_class", "chua_dat"))


@guard("is_score_in_range", reads=("score",))
def is_score_in_range(ctx: GuardContext) -> Verdict:
    """A total score lies between 0 and the scale's maximum (setting ``max_score``; TT44/2014 scores the
    criteria, the scale is a setting because the text is not held here)."""
    score = _number(ctx.payload.get("score"))
    top = float(ctx.settings.get("max_score", 100))
    if score is None or not 0 <= score <= top:
        return fail(
            "score_out_of_range",
            f"the total score must be a number from 0 to {top:g}, not {ctx.payload.get('score')!r} "
            f"(setting max_score; {transition_source(ctx)})",
        )
    return PASS


@guard("is_inspected_after_assignment", reads=("inspected_on",))
def is_inspected_after_assignment(ctx: GuardContext) -> Verdict:
    """The district association inspects after the district chairman assigned it to."""
    assigned = _docref_day(_earlier_step(ctx, "assign_inspection").get("assignment"))
    return _not_before(
        ctx,
        _day(ctx.payload.get("inspected_on")),
        assigned,
        what="inspected_on",
        floor_what="the assignment to inspect",
    )


@guard("is_decided_after_inspection", reads=("decision",))
def is_decided_after_inspection(ctx: GuardContext) -> Verdict:
    """The class is decided on the inspection's result, so not before the inspection."""
    inspected = _day(_earlier_step(ctx, "record_inspection").get("inspected_on"))
    if inspected is None:
        return fail("inspection_missing", f"no inspection result is on record ({transition_source(ctx)})")
    return _not_before(
        ctx,
        _docref_day(ctx.payload.get("decision")),
        inspected,
        what="the decision",
        floor_what="the inspection",
    )


@guard("is_class_matching_score_bands", reads=("classification",))
def is_class_matching_score_bands(ctx: GuardContext) -> Verdict:
    """The class decided is the one the inspected score falls in (setting ``score_bands``, PROCEDURES §10 q6)."""
    score = _number(_earlier_step(ctx, "record_inspection").get("score"))
    if score is None:
        return fail("inspection_missing", f"no inspected score is on record ({transition_source(ctx)})")
    expected = class_for_score(score, ctx.settings)
    declared = ctx.payload.get("classification")
    if declared != expected:
        bands = ", ".join(f"{name} ≥ {minimum:g}" for name, minimum in score_bands(ctx.settings))
        return fail(
            "class_not_matching_bands",
            f"the inspected score {score:g} falls in class {expected!r}, not {declared!r} "
            f"(setting score_bands: {bands}; below them {ctx.settings.get('below_bands_class', 'chua_dat')}; "
            f"{transition_source(ctx)})",
        )
    return PASS


# --- follow-up remediation after an evaluation (khac_phuc, Bắc Kạn directive [practice]) ------------------------


@guard("has_evaluated_case", reads=("evaluated_case",))
def has_evaluated_case(ctx: GuardContext) -> Verdict:
    """The recommendations name the evaluation they follow (the case id, kept as a recorded reference)."""
    if is_blank(ctx.payload.get("evaluated_case")):
        return fail(
            "evaluated_case_required", f"name the evaluated case the recommendations follow ({transition_source(ctx)})"
        )
    return PASS


@guard("has_recommendations", reads=("recommendations",))
def has_recommendations(ctx: GuardContext) -> Verdict:
    """At least one recommendation; each names a criterion or indicator and a finding, a criterion once."""
    items = ctx.payload.get("recommendations") or []
    problems = []
    if not items:
        problems.append("at least one recommendation is required")
    for index, item in enumerate(items):
        if is_blank(item.get("criterion")):
            problems.append(f"recommendation {index + 1} names no criterion or indicator")
        if is_blank(item.get("finding")):
            problems.append(f"recommendation {index + 1} states no finding")
    codes = [str(item.get("criterion", "")).strip() for item in items]
    if twice := sorted({c for c in codes if c and codes.count(c) > 1}):
        problems.append("more than one recommendation on " + ", ".join(twice) + " (give one finding per criterion)")
    return fail("recommendations_invalid", "; ".join(problems) + f" ({transition_source(ctx)})") if problems else PASS


@guard("has_action_for_every_recommendation", reads=("actions", "plan"))
def has_action_for_every_recommendation(ctx: GuardContext) -> Verdict:
    """The plan answers every recommendation with at least one action, each with a due date not before the plan;
    it acts on nothing that was not recommended."""
    recommended = [
        str(item.get("criterion", "")).strip()
        for item in _earlier_step(ctx, "issue_recommendations").get("recommendations") or []
    ]
    actions = ctx.payload.get("actions") or []
    plan_day = _docref_day(ctx.payload.get("plan"))
    answered = {str(a.get("criterion", "")).strip() for a in actions}
    problems = []
    if missing := [c for c in recommended if c not in answered]:
        problems.append("no action for " + ", ".join(missing))
    if unknown := sorted(answered - set(recommended)):
        problems.append("actions on criteria not recommended: " + ", ".join(unknown))
    for index, action in enumerate(actions):
        if is_blank(action.get("action")):
            problems.append(f"action {index + 1} is blank")
        due = _day(action.get("due_date"))
        if plan_day is not None and due is not None and due < plan_day:
            problems.append(f"action {index + 1} is due {due:%d/%m/%Y}, before the plan of {plan_day:%d/%m/%Y}")
    return fail("plan_incomplete", "; ".join(problems) + f" ({transition_source(ctx)})") if problems else PASS


@guard("is_report_after_plan_and_previous", reads=("report",))
def is_report_after_plan_and_previous(ctx: GuardContext) -> Verdict:
    """A progress report is dated on or after the plan and the previous report."""
    day = _docref_day(ctx.payload.get("report"))
    plan = _docref_day(_earlier_step(ctx, "adopt_plan").get("plan"))
    previous = _docref_day(_earlier_step(ctx, "report_progress").get("report"))
    verdict = _not_before(ctx, day, plan, what="the progress report", floor_what="the remediation plan")
    if not verdict.ok:
        return verdict
    return _not_before(ctx, day, previous, what="the progress report", floor_what="the previous progress report")


@guard("is_closed_after_last_report", reads=("conclusion",))
def is_closed_after_last_report(ctx: GuardContext) -> Verdict:
    """The reviewer closes the follow-up on the commune's latest progress report, so not before it."""
    last = _docref_day(_earlier_step(ctx, "report_progress").get("report"))
    if last is None:
        return fail("progress_report_missing", f"no progress report is on record ({transition_source(ctx)})")
    return _not_before(
        ctx,
        _docref_day(ctx.payload.get("conclusion")),
        last,
        what="the closing letter",
        floor_what="the latest progress report",
    )
