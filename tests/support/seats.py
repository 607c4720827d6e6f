"""Seats for the authority tests: the test unit tree, the two profile scenarios (``three_tier``: cycle 2024 on C1,
``two_tier``: cycle 2025 on C3), every role seated inside, outside, next door and at the other tiers of a case, and
the body a seat fills under the profile's rules (the expected outcome, derived, never listed by hand)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service import walkthrough as w
from service.domain.authority import SUBJECT_ONLY_ROLES
from service.domain.cases.opening import definition_bodies
from tests.helpers import DEFINITION, Api, Who
from tests.support.apps import UNITS
from tests.support.payloads import COUNCIL_SUBS
from workflows.registry import default_registry
from workflows.schema import ROLES, SYSTEM_BODY, Profile

REGISTRY = default_registry()
PROFILES: dict[str, Profile] = REGISTRY.profiles

# --- the unit tree ------------------------------------------------------------------------------------------

PARENT = {code: parent for code, _, _, parent, _ in UNITS}
LEVEL = {code: level for code, _, level, _, _ in UNITS} | {"VN": "national"}
ALL_UNITS = [*LEVEL]


def path_of(unit: str) -> list[str]:
    """The unit and every unit above it, nearest first, ending at VN."""
    codes = [unit]
    while codes[-1] in PARENT:
        codes.append(PARENT[codes[-1]])
    return codes


def province_of(unit: str) -> str:
    return next(code for code in path_of(unit) if LEVEL[code] == "province")


def unit_at(commune: str, at: str) -> str | None:
    """The unit a profile rule's ``at`` names for a case of ``commune`` (None when the tree has no such tier)."""
    if at == "case_unit":
        return commune
    return next((code for code in path_of(commune) if LEVEL[code] == at), None)


# --- scenarios and seats ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    profile: Profile
    cycle: int
    commune: str

    @property
    def path(self) -> list[str]:
        return path_of(self.commune)

    @property
    def settings(self) -> dict[str, Any]:
        return {**DEFINITION.default_settings(), **self.profile.default_settings()}


SCENARIOS = {
    "three_tier": Scenario(PROFILES["three_tier"], 2024, "C1"),
    "two_tier": Scenario(PROFILES["two_tier"], 2025, "C3"),
}
PROFILE_NAMES = sorted(SCENARIOS)
# Where a role lives when no body of the profile places it: by its prefix, auditors at the province, admins at VN.
ROLE_LEVEL_BY_PREFIX = {"commune": "case_unit", "district": "district", "province": "province"}
ROLE_LEVEL_OTHERWISE = {
    "auditor": "province",
    "admin": "national",
    "ministry_officer": "national",
    "minister": "national",
    "association_officer": "case_unit",
    "learning_unit_head": "district",
}
# Only the bodies this definition names place a role: other procedures' offices do not act on commune cases.
USED_BODIES = definition_bodies(DEFINITION)
# The subs the tests' appraisal council names, one per position (see ``council_payload``).


def reads(role: str, unit: str, scenario: Scenario) -> bool:
    """Who may read the scenario's commune case: its own units and those above, except roles that speak for an
    organisation inside a unit (a commune case is about no organisation)."""
    return unit in scenario.path and role not in SUBJECT_ONLY_ROLES


def home_level(role: str, profile: Profile) -> str:
    levels = {rule.at for body, rule in profile.bodies.items() if rule.role == role and body in USED_BODIES}
    assert len(levels) <= 1, f"{profile.name} places {role} at several levels: {levels}"
    if levels:
        return levels.pop()
    prefix = role.split("_")[0]
    return ROLE_LEVEL_BY_PREFIX.get(prefix) or ROLE_LEVEL_OTHERWISE[role]


def inside_unit(role: str, scenario: Scenario) -> str:
    level = home_level(role, scenario.profile)
    if level == "national":
        return "VN"
    found = unit_at(scenario.commune, level)
    if found is not None:
        return found
    # The case has no such tier (a two-tier case has no district): the role sits at that tier of the same province.
    province = province_of(scenario.commune)
    return next(code for code in ALL_UNITS if LEVEL[code] == level and province_of(code) == province)


def outside_unit(role: str, scenario: Scenario) -> str:
    other = next(code for code in ALL_UNITS if LEVEL[code] == "province" and code != province_of(scenario.commune))
    if home_level(role, scenario.profile) == "case_unit":
        return next(code for code in ALL_UNITS if LEVEL[code] == "commune" and province_of(code) == other)
    return other


def neighbour_unit(scenario: Scenario) -> str:
    province = province_of(scenario.commune)
    return next(
        code
        for code in ALL_UNITS
        if LEVEL[code] == "commune" and code != scenario.commune and province_of(code) == province
    )


@dataclass(frozen=True)
class Seat:
    """A token holder: one role at one unit, with the org and sub the body rules may look at."""

    role: str
    where: str
    unit: str
    org: str | None = None
    sub: str | None = None

    @property
    def label(self) -> str:
        return f"{self.role}@{self.unit} ({self.where})"


def seats_for(bodies: list[str], scenario: Scenario, *, indicator_org: str | None = None) -> list[Seat]:
    """Every role inside, outside and (commune roles) next door, and each placed role at the case's other tiers;
    plus the near misses of the bodies' extra rules (organisation, council seat)."""
    rules = [scenario.profile.bodies[b] for b in bodies if b != SYSTEM_BODY]
    seats = []
    for role in sorted(ROLES):
        org = indicator_org if any(r.role == role and r.match_org for r in rules) else None
        sub = COUNCIL_SUBS["secretary"] if any(r.role == role and r.council_position for r in rules) else None
        home = inside_unit(role, scenario)
        where = "inside" if home in scenario.path else f"inside: no {LEVEL[home]} over {scenario.commune}"
        seats.append(Seat(role, where, home, org, sub))
        seats.append(Seat(role, "outside", outside_unit(role, scenario), org, sub))
        if home_level(role, scenario.profile) == "case_unit":
            seats.append(Seat(role, "neighbour", neighbour_unit(scenario), org, sub))
        if any(rule.role == role for rule in scenario.profile.bodies.values()):
            # A role the profile places is honoured at exactly its unit: not above it, not below it.
            seats.extend(Seat(role, "inside, other tier", unit, org, sub) for unit in scenario.path if unit != home)
    for rule in rules:
        unit = inside_unit(rule.role, scenario)
        if rule.match_org:
            other = next(o for o in sorted(set(w.ORGS.values())) if o != indicator_org)
            seats.append(Seat(rule.role, "inside, other org", unit, other))
        if rule.council_position:
            seats.append(Seat(rule.role, "inside, not in the council", unit, sub="not-a-council-member"))
            for position in sorted(set(COUNCIL_SUBS) - set(rule.council_position)):
                seats.append(Seat(rule.role, f"inside, council {position}", unit, sub=COUNCIL_SUBS[position]))
    return list(dict.fromkeys(seats))


def body_filled(
    bodies: list[str],
    scenario: Scenario,
    seat: Seat,
    *,
    indicator_org: str | None = None,
    council: list[dict[str, Any]] | None = None,
) -> str | None:
    """The first body the seat fills under the scenario's profile, or None: the expected outcome."""
    for body in bodies:
        if body == SYSTEM_BODY:
            continue
        rule = scenario.profile.bodies[body]
        if rule.role != seat.role or unit_at(scenario.commune, rule.at) != seat.unit:
            continue
        if rule.match_org and (indicator_org is None or seat.org != indicator_org):
            continue
        if rule.council_position is not None:
            position = next((m.get("position") for m in council or [] if seat.sub and m.get("sub") == seat.sub), None)
            if position not in rule.council_position:
                continue
        return body
    return None


def who(api: Api, seat: Seat) -> Who:
    return api.who(seat.role, seat.unit, sub=seat.sub, org=seat.org)
