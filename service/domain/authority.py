"""Who may act: decided here and nowhere else, denied by default (DESIGN.md contract 3).

A definition names bodies (``commune.leader``, ``reviewer.head`` …); the case's pinned jurisdiction profile says
which role, at which unit relative to the case's unit, fills each body (PROCEDURES.md §3). An actor may act as a
body only when a rule says so; every refusal names the rule that failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.domain.actor import Actor
from workflows.schema import SYSTEM_BODY, Profile


@dataclass(frozen=True)
class UnitPath:
    """The case's unit and its ancestors, nearest first (commune, [district], province, VN)."""

    codes: tuple[str, ...]
    levels: tuple[str, ...]

    @property
    def unit(self) -> str:
        return self.codes[0]

    def at(self, where: str) -> str | None:
        if where == "case_unit":
            return self.unit
        return next((code for code, level in zip(self.codes, self.levels, strict=True) if level == where), None)

    def contains(self, unit_code: str) -> bool:
        """True when ``unit_code`` is the case's unit or one above it (its jurisdiction covers the case)."""
        return unit_code in self.codes


@dataclass(frozen=True)
class AuthorityContext:
    profile: Profile
    units: UnitPath
    indicator_org: str | None = None
    council: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    subject: str | None = None  # the organisation a case is about (TT24 learning unit), else None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    body: str | None = None
    role: str | None = None
    reasons: tuple[str, ...] = ()


def _check_body(actor: Actor, body: str, ctx: AuthorityContext) -> str | None:
    """None when the actor fills ``body`` for this case; otherwise why not."""
    if body == SYSTEM_BODY:
        return None if actor.is_system else f"{body}: only the service's own timers act as {body}"
    rule = ctx.profile.bodies.get(body)
    if rule is None:
        return f"{body}: profile {ctx.profile.name} names no one for this body"
    unit = ctx.units.at(rule.at)
    if unit is None:
        return f"{body}: the case's unit {ctx.units.unit} has no {rule.at} under profile {ctx.profile.name}"
    if not actor.has_role(rule.role):
        return f"{body}: needs role {rule.role} at unit {unit}; you hold {', '.join(actor.roles) or 'no role'}"
    if actor.unit != unit:
        return f"{body}: needs role {rule.role} at unit {unit}; your role is at unit {actor.unit}"
    if rule.match_org and (ctx.indicator_org is None or actor.org != ctx.indicator_org):
        return (
            f"{body}: the indicator is assigned to {ctx.indicator_org or 'no organisation'}; "
            f"you belong to {actor.org or 'no organisation'}"
        )
    if rule.match_subject and (ctx.subject is None or actor.org != ctx.subject):
        return (
            f"{body}: the case is about {ctx.subject or 'no organisation'}; "
            f"you belong to {actor.org or 'no organisation'}"
        )
    if rule.council_position is not None:
        seat = next((m for m in ctx.council if m.get("sub") == actor.sub), None)
        if seat is None:
            return f"{body}: you are not named in this case's appraisal council"
        if seat.get("position") not in rule.council_position:
            return f"{body}: your council position is {seat.get('position')}, not {'/'.join(rule.council_position)}"
    return None


def decide(actor: Actor, bodies: Sequence[str], ctx: AuthorityContext) -> Decision:
    """Allowed when the actor fills any one of ``bodies``; otherwise every reason, one per body."""
    reasons = []
    for body in bodies:
        problem = _check_body(actor, body, ctx)
        if problem is None:
            rule = ctx.profile.bodies.get(body)
            return Decision(True, body, rule.role if rule else SYSTEM_BODY)
        reasons.append(problem)
    return Decision(False, reasons=tuple(reasons) or ("no body may perform this action",))


def can_read(actor: Actor, units: UnitPath) -> Decision:
    """Anyone whose unit is the case's unit or above it may read; everyone else may not know it exists."""
    if actor.is_system or units.contains(actor.unit):
        return Decision(True)
    return Decision(False, reasons=(f"your unit {actor.unit} does not cover unit {units.unit}",))
