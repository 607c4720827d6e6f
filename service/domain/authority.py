"""Who may act: decided here and nowhere else, denied by default (DESIGN.md contract 3).

A definition names bodies (``commune.leader``, ``reviewer.head`` …); the case's pinned jurisdiction profile says
which role, at which unit relative to the case's unit, fills each body (PROCEDURES.md §3). An actor may act as a
body only when a rule says so; every refusal names the rule that failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from service.domain.actor import Actor
from workflows.schema import SYSTEM_BODY, Profile


@dataclass(frozen=True)
class UnitPath:
    """The case's unit and its ancestors, nearest first (commune, [district], province, VN)."""

    codes: tuple[str, ...]
    levels: tuple[str, ...]
    # Units of the path that ceased (e.g. districts and old communes on 30/06/2025), and the units continuing them.
    ceased_on: Mapping[str, date] = field(default_factory=dict)
    successors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return self.codes[0]

    def acting_for(self, unit: str, on: date | None) -> tuple[str, ...]:
        """Whose offices act for ``unit`` on ``on``: the unit itself while it exists; once it has ceased, the units
        continuing it, if any (their offices took over its functions), else still its own (so its open cases can
        be finished; a province's profile may say otherwise)."""
        ended = self.ceased_on.get(unit)
        if on is None or ended is None or on <= ended or not self.successors.get(unit):
            return (unit,)
        return self.successors[unit]

    def at(self, where: str) -> str | None:
        if where == "case_unit":
            return self.unit
        return next((code for code, level in zip(self.codes, self.levels, strict=True) if level == where), None)

    def contains(self, unit_code: str) -> bool:
        """True when ``unit_code`` is the case's unit or one above it, or continues one of them (its jurisdiction
        covers the case)."""
        return unit_code in self.codes or any(unit_code in units for units in self.successors.values())


@dataclass(frozen=True)
class AuthorityContext:
    profile: Profile
    units: UnitPath
    indicator_org: str | None = None
    council: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    subject: str | None = None  # the organisation a case is about (TT24 learning unit), else None
    on: date | None = None  # the local day the act happens (decides who acts for a unit that ceased)


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
    acting = ctx.units.acting_for(unit, ctx.on)
    if actor.unit not in acting:
        if acting != (unit,):
            return (
                f"{body}: unit {unit} ceased on {ctx.units.ceased_on[unit]:%d/%m/%Y}; role {rule.role} at "
                f"{' or '.join(acting)}, which continues it, acts for it; your role is at unit {actor.unit}"
            )
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


# Roles that speak for one organisation inside a unit (TT24/2023 learning units), not for the unit: they read only
# the cases about their own organisation.
SUBJECT_ONLY_ROLES = frozenset({"learning_unit_head"})


def reads_only_own_subject(actor: Actor) -> bool:
    return bool(actor.roles) and set(actor.roles) <= SUBJECT_ONLY_ROLES


def can_read(actor: Actor, units: UnitPath, subject: str | None = None) -> Decision:
    """Anyone whose unit is the case's unit or above it (or continues one of them) may read; a learning unit's
    head only its own organisation's cases; everyone else may not know the case exists."""
    if actor.is_system:
        return Decision(True)
    if not units.contains(actor.unit):
        return Decision(False, reasons=(f"your unit {actor.unit} does not cover unit {units.unit}",))
    if reads_only_own_subject(actor) and (not subject or actor.org != subject):
        return Decision(False, reasons=(f"you speak for {actor.org or 'no organisation'}; this case is not about it",))
    return Decision(True)
