"""Named pure effects of a transition: what it changes besides the state, computed from the frozen context.

The engine applies an ``Effect``; effects never touch the database themselves. Every accepted payload is also
kept in the case's dossier under its trigger, so later guards (and auditors) can read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from workflows.guards.registry import GuardContext


@dataclass(frozen=True)
class Effect:
    case_fields: dict[str, Any] = field(default_factory=dict)
    indicator_fields: dict[str, Any] = field(default_factory=dict)
    create_indicators: tuple[tuple[str, str], ...] = ()  # (indicator code, assignee org)
    # (deadline key, new local date, reason, legal basis or None for extensions recorded before it was required)
    extend_deadline: tuple[str, date, str, str | None] | None = None


EFFECTS: dict[str, Callable[[GuardContext], Effect]] = {}


def effect(name: str) -> Callable[[Callable[[GuardContext], Effect]], Callable[[GuardContext], Effect]]:
    def register(fn: Callable[[GuardContext], Effect]) -> Callable[[GuardContext], Effect]:
        EFFECTS[name] = fn
        return fn

    return register


def combine(names: list[str], ctx: GuardContext) -> Effect:
    fields: dict[str, Any] = {}
    indicator_fields: dict[str, Any] = {}
    indicators: list[tuple[str, str]] = []
    extension = None
    for name in names:
        result = EFFECTS[name](ctx)
        fields.update(result.case_fields)
        indicator_fields.update(result.indicator_fields)
        indicators.extend(result.create_indicators)
        extension = result.extend_deadline or extension
    return Effect(fields, indicator_fields, tuple(indicators), extension)


@effect("create_indicators")
def create_indicators(ctx: GuardContext) -> Effect:
    """Each indicator assigned to its organisation starts its sub-process (Điều 24 k2)."""
    return Effect(create_indicators=tuple((a["indicator"], a["org"].strip()) for a in ctx.payload["assignments"]))


@effect("assign_to_assessment_team")
def assign_to_assessment_team(ctx: GuardContext) -> Effect:
    """Every indicator that applies to the kind of organisation goes to its assessment team, which assesses the
    organisation (``subject``) itself (TT24/2023 Điều 10 k1 a–b, Điều 16 k1 a–b)."""
    return Effect(create_indicators=tuple((ind.code, ctx.subject) for ind in ctx.indicators_in_scope))


@effect("record_indicator_rating")
def record_indicator_rating(ctx: GuardContext) -> Effect:
    """The unit's self-rating, figures and note go on the indicator; its result is computed from them."""
    return Effect(
        indicator_fields={
            "rating": ctx.payload["rating"],
            "figures": ctx.payload.get("figures"),
            "note": ctx.payload.get("note"),
        }
    )


@effect("record_assessed_level")
def record_assessed_level(ctx: GuardContext) -> Effect:
    """The level the self-assessment reached, per Điều 8, fixed when the report is completed."""
    return Effect(case_fields={"assessed_level": ctx.assessment.level})


@effect("record_requested_level")
def record_requested_level(ctx: GuardContext) -> Effect:
    return Effect(case_fields={"requested_level": ctx.payload["requested_level"]})


@effect("record_extension")
def record_extension(ctx: GuardContext) -> Effect:
    """The submission deadline moves to ``until``, its reason and legal basis shown in the deadline's explanation."""
    until = ctx.payload["until"]
    basis = ctx.payload.get("legal_basis")
    return Effect(
        extend_deadline=(
            "submission",
            date.fromisoformat(until) if isinstance(until, str) else until,
            ctx.payload["reason"].strip(),
            basis.strip() if isinstance(basis, str) and basis.strip() else None,
        )
    )


@effect("grant_level")
def grant_level(ctx: GuardContext) -> Effect:
    """The decision recognises the commune at the level it applied for (Điều 9 k2 đ)."""
    decision = ctx.payload["decision"]
    return Effect(case_fields={"level": ctx.requested_level, "decided_on": date.fromisoformat(decision["date"])})
