"""Who may act, read, list and administer: decided here and nowhere else, denied by default (DESIGN.md
contract 3).

* Acting on a case: a definition names bodies (``commune.leader``, ``reviewer.head`` …); the case's pinned
  jurisdiction profile says which role, at which unit relative to the case's unit, fills each body (PROCEDURES.md
  §3). An actor may act as a body only when a rule says so (``decide``).
* Reading a case: its unit or one above it, or a unit continuing one of them (``can_read``).
* Listing cases, deadlines, audit events and subscriptions: exactly what ``can_read`` allows, as one SQL clause
  (``Jurisdiction``, ``readable_cases``, ``readable_events``, ``within``).
* Acts on the service itself (audit export and checkpoints, case migrations, unit imports and additions, webhook
  subscriptions): a table of rules (``AdminAct``, ``may``, ``require``).

Every refusal names the rule that failed. ``NATIONAL_ROOT`` is the one spelling of the national unit.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

# NATIONAL_ROOT (the unit above every province) is declared beside the actor, the lower module; authority is where
# the rest of the service reads it.
from service.domain.actor import NATIONAL_ROOT, Actor
from service.domain.errors import NotAuthorised, OutsideJurisdiction
from service.domain.preconditions import in_step_states
from service.persistence.queries import continued_units, unit_subtree
from service.persistence.tables import AuditEvent, Case
from workflows.guards.registry import settings_needed
from workflows.registry import Registry
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


# Who takes over the office of a district that ceased without a successor (1/7/2025), for the cases it still has
# open (a cycle-2024 commune dossier not decided by then): the profile setting ``ceased_district_offices`` [config;
# no text says]. "province" (the default): the matching office of the province above it — the Department for
# Phòng GDĐT and its head, the provincial People's Committee for the district's, the provincial council and Hội
# Khuyến học for theirs; "district": the ceased district's own roles keep acting for its open cases.
PROVINCE_OFFICE_FOR = {
    "district_officer": "province_officer",
    "district_head": "province_director",
    "district_leader": "province_leader",
    "association_officer": "association_officer",
    "council_member": "council_member",
}


def _office(body: str, role: str, at: str, unit: str, ctx: AuthorityContext) -> tuple[str, str, str]:
    """The role and unit that fill ``body`` on the act's day, and a note when another office took it over."""
    ended = ctx.units.ceased_on.get(unit)
    if at != "district" or ctx.on is None or ended is None or ctx.on <= ended or ctx.units.successors.get(unit):
        return role, unit, ""
    setting = ctx.profile.settings.get("ceased_district_offices")
    province, successor = ctx.units.at("province"), PROVINCE_OFFICE_FOR.get(role)
    if setting is None or setting.default != "province" or province is None or successor is None:
        return role, unit, ""
    note = (
        f"district {unit} ceased on {ended:%d/%m/%Y} without a successor; its {role} is taken over by {successor} "
        f"at {province} (setting ceased_district_offices of profile {ctx.profile.name}): "
    )
    return successor, province, note


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
    role, unit, note = _office(body, rule.role, rule.at, unit, ctx)
    if not actor.has_role(role):
        return f"{body}: {note}needs role {role} at unit {unit}; you hold {', '.join(actor.roles) or 'no role'}"
    acting = ctx.units.acting_for(unit, ctx.on)
    if actor.unit not in acting:
        if acting != (unit,):
            return (
                f"{body}: unit {unit} ceased on {ctx.units.ceased_on[unit]:%d/%m/%Y}; role {role} at "
                f"{' or '.join(acting)}, which continues it, acts for it; your role is at unit {actor.unit}"
            )
        return f"{body}: {note}needs role {role} at unit {unit}; your role is at unit {actor.unit}"
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
            unit = ctx.units.at(rule.at) if rule else None
            role = _office(body, rule.role, rule.at, unit, ctx)[0] if rule and unit else SYSTEM_BODY
            return Decision(True, body, role)
        reasons.append(problem)
    return Decision(False, reasons=tuple(reasons) or ("no body may perform this action",))


# Roles that speak for one organisation inside a unit (TT24/2023 learning units), not for the unit: they read only
# the cases about their own organisation.
SUBJECT_ONLY_ROLES = frozenset({"learning_unit_head"})


def reads_only_own_subject(actor: Actor) -> bool:
    return bool(actor.roles) and set(actor.roles) <= SUBJECT_ONLY_ROLES


def covers(actor: Actor, units: UnitPath) -> bool:
    """Whether the actor's unit is the unit of ``units`` or one above it, or continues one of them."""
    return actor.is_system or units.contains(actor.unit)


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


def require_read(actor: Actor, units: UnitPath, subject: str | None = None, *, what: str = "this case") -> None:
    """``can_read`` or 403: outside the jurisdiction nothing about a case (or a campaign, a unit's history) is told,
    not even its state."""
    decision = can_read(actor, units, subject)
    if not decision.allowed:
        raise OutsideJurisdiction(f"{what} is outside your jurisdiction", why=decision.reasons)


# --- lists: what can_read allows, as one SQL clause ------------------------------------------------------------


@dataclass(frozen=True)
class Jurisdiction:
    """What an actor may list, said so that a query can filter on it: ``can_read`` read the other way round.

    ``can_read`` lets an actor read a case when its unit is on the case's unit path (the case's unit or above it),
    or continues (``unit_succession``) a unit of that path that ceased. Turned around: the cases in the subtree of
    the actor's unit and in the subtree of every ceased unit it continues (``roots``); for a subject-only role,
    only those about its organisation (``subject``). The service's own timers read everything (``roots`` None)."""

    roots: tuple[str, ...] | None
    subject: str | None = None  # only the cases about this organisation ("" matches none), else any

    @property
    def everything(self) -> bool:
        return self.roots is None


def jurisdiction_of(actor: Actor, continued: Sequence[str]) -> Jurisdiction:
    """The jurisdiction of ``actor`` whose unit continues the ceased units ``continued`` (facts read by
    ``queries.continued_units``)."""
    if actor.is_system:
        return Jurisdiction(None)
    subject = (actor.org or "") if reads_only_own_subject(actor) else None
    return Jurisdiction((actor.unit, *dict.fromkeys(continued)), subject)


async def jurisdiction(session: AsyncSession, actor: Actor) -> Jurisdiction:
    """``jurisdiction_of`` with its facts read (one query; none for the service's own timers)."""
    return jurisdiction_of(actor, () if actor.is_system else await continued_units(session, actor.unit))


def within(column: InstrumentedAttribute[Any], scope: Jurisdiction) -> ColumnElement[bool]:
    """``column`` (a unit code) is inside the jurisdiction's units: the subtrees of its roots."""
    if scope.roots is None:
        return true()
    return column.in_(unit_subtree(*scope.roots, name="jurisdiction"))


def own_subject_cases(scope: Jurisdiction) -> ColumnElement[bool]:
    """The subject rule of a subject-only role over the case table (true for everyone else)."""
    if scope.subject is None:
        return true()
    return and_(Case.subject == scope.subject, Case.subject != "")


def readable_cases(scope: Jurisdiction) -> ColumnElement[bool]:
    """Exactly the cases ``can_read`` lets the actor read, as one clause over the case table (the property test in
    tests/domain/test_authority_lists.py holds the two together)."""
    return and_(within(Case.unit_code, scope), own_subject_cases(scope))


def own_subject_events(scope: Jurisdiction) -> ColumnElement[bool]:
    """The subject rule over the audit events: a subject-only role sees the events of its organisation's cases."""
    if scope.subject is None:
        return true()
    return AuditEvent.case_id.in_(select(Case.id).where(own_subject_cases(scope)))


def readable_events(scope: Jurisdiction) -> ColumnElement[bool]:
    """The audit events of what the actor may read: a case's events carry the case's unit, so they are listed
    exactly when the case is; an event of no case (units, campaigns, webhooks) when its unit is inside."""
    return and_(within(AuditEvent.unit_code, scope), own_subject_events(scope))


# --- who may act next: the states where one of the actor's roles fills a body -----------------------------------


def roles_filling(profile: Profile, body: str) -> frozenset[str]:
    """Every role that can fill ``body`` under ``profile`` on some day: the body's own role, and the office that
    takes over a ceased district's (``_office``). A necessary condition of ``decide``, never a sufficient one."""
    rule = profile.bodies.get(body)
    if rule is None:
        return frozenset()
    heir = PROVINCE_OFFICE_FOR.get(rule.role) if rule.at == "district" else None
    return frozenset({rule.role} | ({heir} if heir else set()))


def may_fill_any(actor: Actor, profile: Profile, bodies: Sequence[str]) -> bool:
    """Whether the actor holds a role that fills one of ``bodies`` under ``profile`` somewhere (units, organisation
    and council seat are left to ``decide``)."""
    if actor.is_system:
        return True
    return any(actor.has_role(role) for body in bodies if body != SYSTEM_BODY for role in roles_filling(profile, body))


def acting_states(actor: Actor, registry: Registry) -> ColumnElement[bool]:
    """The cases whose state opens a step (a transition, an indicator's step or its evidence) one of the actor's
    roles can take under the case's pinned definition and profile, no guard of it refusing for a setting the case
    has off (``preconditions``): the lists' first narrowing of "what may this person do now", before ``decide``
    and the guards run on each case. Built once per registry and roles (building costs more than the query)."""
    key = (id(registry), frozenset(actor.roles), actor.is_system)
    if key not in _ACTING:  # forgotten with the registry (a dataclass, not hashable itself)
        _ACTING[key] = _acting_states(actor, registry)
        weakref.finalize(registry, _ACTING.pop, key, None)
    return _ACTING[key]


_ACTING: dict[tuple[int, frozenset[str], bool], ColumnElement[bool]] = {}  # what acting_states built


def _acting_states(actor: Actor, registry: Registry) -> ColumnElement[bool]:
    clauses = []
    for (key, version), procedure in registry.procedures.items():
        definition = procedure.definition
        process = definition.indicator_process
        by_steps: dict[frozenset[Any], list[str]] = {}  # per profile: the settings steps need -> their states
        for name, profile in registry.profiles.items():
            defaults = {**definition.default_settings(), **profile.default_settings()}
            steps: dict[tuple[tuple[str, bool], ...], set[str]] = {}
            for t in definition.transitions:
                if may_fill_any(actor, profile, t.bodies):
                    needed = tuple((s, bool(defaults.get(s, False))) for s in settings_needed(t.guards))
                    steps.setdefault(needed, set()).update(t.source)
            if process is not None and (
                may_fill_any(actor, profile, process.evidence.bodies)
                or any(may_fill_any(actor, profile, t.bodies) for t in process.transitions)
            ):
                steps.setdefault((), set()).update(process.case_states)
            if steps:
                signature = frozenset((frozenset(states), needed) for needed, states in steps.items())
                by_steps.setdefault(signature, []).append(name)
        for signature, names in by_steps.items():
            on = (Case.procedure == key, Case.version == version, Case.profile.in_(sorted(names)))
            clauses.append(and_(*on, in_step_states(signature)))
    return or_(*clauses) if clauses else false()


# --- acts on the service itself --------------------------------------------------------------------------------

AUDITOR, ADMIN = "auditor", "admin"


@dataclass(frozen=True)
class AdminAct:
    """An act on the service rather than on one case, and who may do it: one of ``roles``, at the national root
    when ``national``; the service's own jobs (the CLI, importers) too when ``system``."""

    what: str  # how a refusal names the act
    roles: tuple[str, ...]
    national: bool = False
    system: bool = False
    hint: str | None = None  # what the refused caller may do instead

    @property
    def needs(self) -> str:
        return f"role {' or '.join(self.roles)}" + (f" at unit {NATIONAL_ROOT}" if self.national else "")


EXPORT_AUDIT = AdminAct("exporting the audit log", (AUDITOR, ADMIN))
READ_CHECKPOINTS = AdminAct("reading audit checkpoints", (AUDITOR, ADMIN))
READ_CHECKPOINT_KEY = AdminAct("reading the checkpoint public key", (AUDITOR, ADMIN))
SIGN_CHECKPOINT = AdminAct("creating an audit checkpoint", (AUDITOR, ADMIN), national=True)
VERIFY_CHECKPOINTS = AdminAct("verifying audit checkpoints", (AUDITOR, ADMIN), national=True)
READ_CHECKPOINT_HEADS = AdminAct("reading a checkpoint's heads", (AUDITOR, ADMIN), national=True)
VERIFY_EVERY_CHAIN = AdminAct(
    "verifying every chain", (AUDITOR, ADMIN), national=True, hint="pass case= to verify one case's chain"
)
# An export of whole chains: the chains of no case (``admin``, ``webhooks``) record the whole country.
EXPORT_EVERY_CHAIN = AdminAct("exporting the chains of no case", (AUDITOR, ADMIN), national=True)
RUN_CASE_MIGRATION = AdminAct("moving cases to another definition version", (ADMIN,), national=True)
READ_CASE_MIGRATION = AdminAct("reading a migration's progress", (ADMIN, AUDITOR), national=True)
IMPORT_UNITS = AdminAct("importing the official lists", (ADMIN,), national=True, system=True)
ADD_UNIT = AdminAct("adding administrative units", (ADMIN,), system=True)  # under a parent it covers
ADD_TOP_LEVEL_UNIT = AdminAct("adding a top-level unit", (ADMIN,), national=True, system=True)
MANAGE_WEBHOOKS = AdminAct("managing webhook subscriptions", (ADMIN,))  # those of units it covers
SUBSCRIBE_EVERY_UNIT = AdminAct("a subscription to every unit", (ADMIN,), national=True)
MOVE_DEV_CLOCK = AdminAct("moving the clock of a dev or demo deployment", (ADMIN,), national=True, system=True)


def may(actor: Actor, act: AdminAct) -> Decision:
    """Whether the actor may do ``act``, with the reason when not."""
    if actor.is_system:
        return Decision(act.system, reasons=() if act.system else (f"the service's own jobs do not do {act.what}",))
    if any(actor.has_role(role) for role in act.roles) and (not act.national or actor.unit == NATIONAL_ROOT):
        return Decision(True)
    held = f"you hold {', '.join(actor.roles) or 'no role'} at unit {actor.unit}"
    return Decision(False, reasons=(f"needs {act.needs}; {held}" + (f"; {act.hint}" if act.hint else ""),))


def require(actor: Actor, act: AdminAct) -> None:
    """``may`` or 403 ``not_authorised`` saying what the act needs and what the actor holds."""
    decision = may(actor, act)
    if not decision.allowed:
        raise NotAuthorised(f"{act.what} needs {act.needs}", why=decision.reasons)
