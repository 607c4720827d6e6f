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

from workflows.calendar import local_date
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


def verified_bands(settings: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The score bands a profile states as verified, with their source (setting ``tt44_score_bands``:
    ``{bands: {class: minimum}, source: "…"}``), or None: bands nobody has checked are not enforced."""
    stated = settings.get("tt44_score_bands")
    if not isinstance(stated, Mapping):
        return None
    bands, source = stated.get("bands"), stated.get("source")
    if not isinstance(bands, Mapping) or not bands or not isinstance(source, str) or not source.strip():
        return None
    return dict(bands), source.strip()


def score_bands(settings: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The verified bands as (class, minimum score), highest first; none when no profile states them."""
    stated = verified_bands(settings)
    bands = stated[0] if stated else {}
    return sorted(((str(name), float(minimum)) for name, minimum in bands.items()), key=lambda b: -b[1])


def class_for_score(score: float, settings: Mapping[str, Any]) -> str:
    """The class whose minimum the score reaches (the highest such band), else the ``below_bands_class``."""
    for name, minimum in score_bands(settings):
        if score >= minimum:
            return name
    return str(settings.get("below_bands_class", "chua_dat"))


@guard("is_open_under_repealed_instrument")
def is_open_under_repealed_instrument(ctx: GuardContext) -> Verdict:
    """An open case of a repealed instrument (TT44/2014, repealed from 12/02/2024 by TT25/2023 Điều 25 k1, which
    has no transitional clause) is decided after the repeal only where the profile's setting
    ``tt44_decide_after_repeal`` says so [config]; the refusal says which."""
    repealed = ctx.definition.repealed_on
    if repealed is None or local_date(ctx.now) < repealed or ctx.settings.get("tt44_decide_after_repeal") is True:
        return PASS
    return fail(
        "decided_after_repeal",
        f"{ctx.definition.instrument} was repealed from {repealed:%d/%m/%Y} ({ctx.definition.repealed_by}, which "
        "has no transitional clause for open cases); this profile does not let an open case be decided after the "
        "repeal (setting tt44_decide_after_repeal, off by default)",
    )


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
    """Where a profile states TT44/2014's score bands as verified, with their source (setting
    ``tt44_score_bands``), the class decided is the one the inspected score falls in. Bands nobody has checked
    against the text are not enforced (PROCEDURES §10 q6): the decision stands on the inspection."""
    stated = verified_bands(ctx.settings)
    if stated is None:
        return PASS
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
            f"(setting tt44_score_bands: {bands}, source {stated[1]}; below them "
            f"{ctx.settings.get('below_bands_class', 'chua_dat')}; {transition_source(ctx)})",
        )
    return PASS


# --- follow-up after the 2023 classification (khac_phuc: the Bắc Kạn city letter on Báo cáo 71/BC-SGDĐT) -------


@guard("is_classification_cycle")
def is_classification_cycle(ctx: GuardContext) -> Verdict:
    """A follow-up is opened for the classification the letter follows up (setting ``classification_cycle``)."""
    expected = ctx.settings.get("classification_cycle")
    if expected is not None and ctx.cycle != int(expected):
        return fail(
            "cycle_not_followed_up",
            f"the follow-up is for the {expected} classification, not cycle {ctx.cycle} (setting "
            f"classification_cycle; {ctx.definition.open.citation.ref})",
        )
    return PASS


@guard("has_evaluated_case", reads=("evaluated_case",))
def has_evaluated_case(ctx: GuardContext) -> Verdict:
    """The recommendations name the classification they follow (the case id, kept as a recorded reference)."""
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
    """A follow-up record is dated on or after the plan and the previous follow-up."""
    day = _docref_day(ctx.payload.get("report"))
    plan = _docref_day(_earlier_step(ctx, "adopt_plan").get("plan"))
    previous = _docref_day(_earlier_step(ctx, ctx.trigger).get("report"))
    verdict = _not_before(ctx, day, plan, what="the follow-up", floor_what="the remediation plan")
    if not verdict.ok:
        return verdict
    return _not_before(ctx, day, previous, what="the follow-up", floor_what="the previous follow-up")


@guard("is_closed_after_last_report", reads=("conclusion",))
def is_closed_after_last_report(ctx: GuardContext) -> Verdict:
    """The follow-up is concluded on its latest record, so not before it."""
    last = _docref_day(_earlier_step(ctx, "follow_up").get("report"))
    if last is None:
        return fail("progress_report_missing", f"no follow-up is on record ({transition_source(ctx)})")
    return _not_before(
        ctx,
        _docref_day(ctx.payload.get("conclusion")),
        last,
        what="the conclusion",
        floor_what="the latest follow-up",
    )
