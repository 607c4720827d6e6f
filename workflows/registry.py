"""Loads and checks the definitions and profiles shipped under ``workflows/``.

Loading refuses anything the engine could not honour: an unknown key, state, body, role, guard, effect or payload
field. Each error names the file and the key path, e.g.
``definitions/cdht_xa/tt25-2023.yaml: transitions[5].guards[1]: unknown guard 'has_foo'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from workflows.effects import EFFECTS
from workflows.guards.registry import GUARDS
from workflows.kinds import organisation_kind_problems
from workflows.machine import StateMachine
from workflows.schema import ROLES, SYSTEM_BODY, Definition, Profile

ROOT = Path(__file__).resolve().parent
# The offices a definition may name (PROCEDURES.md §3). ``reviewer.*`` and ``council.*`` are whoever reviews
# commune dossiers under the profile (the district before the reform, the province after); the others name one
# office whatever the tier, and a profile without that tier leaves them unfilled (a case needing one is refused).
BODIES = frozenset(
    {
        "commune.leader",
        "commune.officer",
        "commune.member",
        "commune.association",
        "reviewer.officer",
        "reviewer.head",
        "council.secretary",
        "council.member",
        "report.officer",
        "report.head",
        "report.recipient",
        "report.co_recipient",
        "district.leader",
        "district.office",
        "district.head",
        "district.association",
        "province.leader",
        "province.office",
        "province.head",
        "province_council.secretary",
        "province_council.member",
        "ministry.office",
        "ministry.head",
        "ministry_council.secretary",
        "ministry_council.member",
        "learning_unit.head",
        # TT24/2023's district tier (Điều 10): Phòng GDĐT, its head, the district chairman and the council, which
        # a profile seats after the reform too (two_tier: the province's offices, a setting with its reason).
        "tt24_district.office",
        "tt24_district.head",
        "tt24_district.leader",
        "tt24_district_council.secretary",
        "tt24_district_council.member",
        "tt24_report.recipient",  # who receives Phòng GDĐT's yearly report (Điều 20 k3: the Sở)
    }
)


class DefinitionError(ValueError):
    """A definition or profile file cannot be used; the message names the file and the key."""


def _where(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{_where(path)}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise DefinitionError(f"{_where(path)}: expected a mapping at the top level")
    return data


def _parse(model: type, path: Path) -> Any:
    try:
        return model.model_validate(_read(path))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise DefinitionError(f"{_where(path)}: {key}: {first['msg']}") from exc


def _check_definition(d: Definition, path: Path, profile_bodies: set[str]) -> None:
    where = _where(path)

    def error(key: str, message: str) -> DefinitionError:
        return DefinitionError(f"{where}: {key}: {message}")

    initial = [name for name, s in d.states.items() if s.initial]
    if len(initial) != 1:
        raise error("states", f"exactly one initial state is required, found {initial or 'none'}")
    known_bodies = BODIES | {SYSTEM_BODY}
    for i, body in enumerate(d.open.bodies):
        if body not in known_bodies:
            raise error(f"open.bodies[{i}]", f"unknown body {body!r}")
    for i, name in enumerate(d.open.guards):
        if name not in GUARDS:
            raise error(f"open.guards[{i}]", f"unknown guard {name!r}")
        if GUARDS[name].reads:
            raise error(f"open.guards[{i}]", f"guard {name!r} reads a payload; opening has none")
    codes = [ind.code for ind in d.indicators]
    if len(codes) != len(set(codes)):
        raise error("criteria", "indicator codes must be unique")
    for key, message in organisation_kind_problems(d, BODIES):
        raise error(key, message)

    def check_transitions(prefix: str, transitions: list, states: set[str]) -> None:
        triggers = [t.trigger for t in transitions]
        if len(triggers) != len(set(triggers)):
            raise error(prefix, "each trigger may appear once")
        for i, t in enumerate(transitions):
            key = f"{prefix}[{i}]"
            for j, source in enumerate(t.source):
                if source not in states:
                    raise error(f"{key}.source[{j}]", f"unknown state {source!r}")
            if t.dest != "=" and t.dest not in states:
                raise error(f"{key}.dest", f"unknown state {t.dest!r}")
            for j, body in enumerate(t.bodies):
                if body not in known_bodies:
                    raise error(
                        f"{key}.bodies[{j}]", f"unknown body {body!r} (known: {', '.join(sorted(known_bodies))})"
                    )
                if body != SYSTEM_BODY and body not in profile_bodies:
                    raise error(f"{key}.bodies[{j}]", f"body {body!r} is filled by no profile")
            for j, name in enumerate(t.guards):
                if name not in GUARDS:
                    raise error(f"{key}.guards[{j}]", f"unknown guard {name!r}")
                for needed in GUARDS[name].reads:
                    if needed not in t.payload:
                        raise error(
                            f"{key}.guards[{j}]",
                            f"guard {name!r} reads payload field {needed!r}, which {t.trigger} does not declare",
                        )
            for j, name in enumerate(t.effects):
                if name not in EFFECTS:
                    raise error(f"{key}.effects[{j}]", f"unknown effect {name!r}")

    check_transitions("transitions", d.transitions, set(d.states))
    process = d.indicator_process
    if process is not None:
        if process.initial not in process.states:
            raise error("indicator_process.initial", f"unknown state {process.initial!r}")
        for j, state in enumerate(process.case_states):
            if state not in d.states:
                raise error(f"indicator_process.case_states[{j}]", f"unknown state {state!r}")
        for j, state in enumerate(process.evidence.indicator_states):
            if state not in process.states:
                raise error(f"indicator_process.evidence.indicator_states[{j}]", f"unknown state {state!r}")
        check_transitions("indicator_process.transitions", process.transitions, set(process.states))
    triggers = {t.trigger for t in d.transitions}
    for name, deadline in d.deadlines.items():
        for j, state in enumerate(deadline.opens_in):
            if state not in d.states:
                raise error(f"deadlines.{name}.opens_in[{j}]", f"unknown state {state!r}")
        for j, trigger in enumerate(deadline.closes_on):
            if trigger not in triggers:
                raise error(f"deadlines.{name}.closes_on[{j}]", f"unknown trigger {trigger!r}")
        for j, trigger in enumerate(deadline.waives_on):
            if trigger not in triggers:
                raise error(f"deadlines.{name}.waives_on[{j}]", f"unknown trigger {trigger!r}")
        rule = deadline.rule
        if rule.kind == "fixed_date" and (rule.month is None or rule.day is None) and rule.date_setting is None:
            raise error(f"deadlines.{name}.rule", "a fixed_date rule needs month and day")
        if rule.kind.endswith("_days_after") and rule.days_setting is not None:
            if rule.days_setting not in d.settings:
                raise error(f"deadlines.{name}.rule.days_setting", f"unknown setting {rule.days_setting!r}")
        elif rule.kind.endswith("_days_after") and (rule.days is None or rule.days < 1):
            raise error(f"deadlines.{name}.rule.days", "a days_after rule needs days ≥ 1 (or a days_setting)")
        target = deadline.escalate_to
        if target is not None and target != "above_reviewer" and target.removeprefix("above:") not in BODIES:
            raise error(
                f"deadlines.{name}.escalate_to", f"{target!r}: expected above_reviewer or above:<body> (a known body)"
            )
        if deadline.on_breach != "flag" and deadline.fires is None:
            raise error(f"deadlines.{name}.fires", f"on_breach {deadline.on_breach} needs the trigger it fires")
        if deadline.fires is not None and deadline.fires not in triggers:
            raise error(f"deadlines.{name}.fires", f"unknown trigger {deadline.fires!r}")


def _check_profile(p: Profile, path: Path) -> None:
    if p.extends is None and p.provinces:
        raise DefinitionError(f"{_where(path)}: provinces: a province's profile extends a base profile")
    for body, rule in p.bodies.items():
        if body not in BODIES:
            raise DefinitionError(f"{_where(path)}: bodies.{body}: unknown body {body!r}")
        if rule.role not in ROLES:
            raise DefinitionError(f"{_where(path)}: bodies.{body}.role: unknown role {rule.role!r}")


@dataclass
class Procedure:
    """A loaded definition with its machines."""

    definition: Definition
    machine: StateMachine
    indicator_machine: StateMachine | None
    path: Path
    triggers_by_state: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Registry:
    procedures: dict[tuple[str, str], Procedure]
    profiles: dict[str, Profile]

    def get(self, key: str, version: str) -> Procedure | None:
        return self.procedures.get((key, version))

    def current(self, key: str, on: date | None = None) -> Procedure | None:
        """The version new cases pin: the newest in force ``on`` that day (every version when no day is given).
        A version shipped before its ``effective_from`` waits for it; before any version is in force, the first."""
        versions = [p for (k, _), p in self.procedures.items() if k == key]
        in_force = [p for p in versions if on is None or p.definition.effective_from <= on]
        if not in_force and versions:
            in_force = [min(versions, key=lambda p: p.definition.effective_from)]
        return max(in_force, key=lambda p: p.definition.effective_from, default=None)

    def profile_for_cycle(self, cycle: int, province: str | None = None) -> Profile:
        """The profile a new case of ``cycle`` in ``province`` runs under: the province's own profile when one
        covers the cycle, else the base by date (cycles ending before 2025-07-01 under ``three_tier``, later
        ones under ``two_tier``)."""
        base = self._base_for_cycle(cycle)
        if province is not None:
            for profile in self.profiles.values():
                if (
                    province in profile.provinces
                    and profile.extends == base.name
                    and (profile.applies_from_cycle is None or cycle >= profile.applies_from_cycle)
                    and (profile.applies_to_cycle is None or cycle <= profile.applies_to_cycle)
                ):
                    return profile
        return base

    def _base_for_cycle(self, cycle: int) -> Profile:
        cycle_end = date(cycle, 12, 31)
        bases = [p for p in self.profiles.values() if p.extends is None]
        dated = sorted(
            (p for p in bases if p.applies_to_cycles_ending_before), key=lambda p: p.applies_to_cycles_ending_before
        )
        for profile in dated:
            if cycle_end < profile.applies_to_cycles_ending_before:
                return profile
        return next(p for p in bases if p.applies_to_cycles_ending_before is None)


def load_profile(path: Path) -> Profile:
    profile = _parse(Profile, path)
    _check_profile(profile, path)
    return profile


def _check_citation_settings(d: Definition, path: Path, profiles: dict[str, Profile]) -> None:
    """A citation read from a setting names a setting the definition or a profile declares."""
    known = set(d.settings).union(*(set(p.settings) for p in profiles.values()))
    cited = [("open.citation", d.open.citation)] + [
        (f"transitions.{t.trigger}.citation", t.citation) for t in d.transitions
    ]
    for key, citation in cited:
        if citation.setting is not None and citation.setting not in known:
            raise DefinitionError(f"{_where(path)}: {key}.setting: unknown setting {citation.setting!r}")
    for indicator in d.indicators:
        for i, source in enumerate(indicator.measure.of or []):
            if source.get("setting") and source["setting"] not in known:
                raise DefinitionError(
                    f"{_where(path)}: {indicator.code}.measure.of[{i}].setting: unknown setting {source['setting']!r}"
                )


# The bodies a report is addressed to, and the offices that write it: bao_cao_ket_qua, and TT24's report of
# Phòng GDĐT to the Sở (bao_cao_don_vi_hoc_tap, Điều 20 k3).
REPORT_RECIPIENTS = ("report.recipient", "report.co_recipient", "tt24_report.recipient")
REPORT_AUTHORS = ("report.officer", "report.head")
AUTHORS_OF = {"tt24_report.recipient": ("tt24_district.office", "tt24_district.head")}


def _check_report_recipients(profile: Profile, path: Path) -> None:
    """The office that writes the annual report is never its recipient: a profile that fills a recipient body with
    the role and place of the author's is refused (TT25/2023 Điều 23 k2, Điều 21: a report goes to another body)."""
    for recipient in REPORT_RECIPIENTS:
        rule = profile.bodies.get(recipient)
        for author in AUTHORS_OF.get(recipient, REPORT_AUTHORS):
            other = profile.bodies.get(author)
            if rule is not None and other is not None and (rule.role, rule.at) == (other.role, other.at):
                raise DefinitionError(
                    f"{_where(path)}: bodies.{recipient}: {rule.role} at {rule.at} also fills {author}, the "
                    f"report's author; a report is addressed to another body, never acknowledged by its author"
                )


def load_definition(path: Path, profiles: dict[str, Profile]) -> Procedure:
    definition: Definition = _parse(Definition, path)
    profile_bodies = set().union(*(set(p.bodies) for p in profiles.values())) if profiles else set()
    _check_definition(definition, path, profile_bodies)
    _check_citation_settings(definition, path, profiles)
    expected = path.parent.name, path.stem
    if (definition.key, definition.version) != expected:
        raise DefinitionError(
            f"{_where(path)}: key/version {definition.key}/{definition.version} "
            f"do not match the path {expected[0]}/{expected[1]}"
        )
    machine = StateMachine(definition.key, list(definition.states), definition.initial_state, definition.transitions)
    process = definition.indicator_process
    indicator_machine = (
        StateMachine(f"{definition.key}:indicator", list(process.states), process.initial, process.transitions)
        if process
        else None
    )
    return Procedure(
        definition,
        machine,
        indicator_machine,
        path,
        {state: machine.triggers_from(state) for state in definition.states},
    )


def _resolve_extends(profiles: dict[str, Profile], paths: dict[str, Path]) -> dict[str, Profile]:
    """A province's profile is its base with the bodies and settings it names replaced."""
    resolved = {}
    for name, profile in profiles.items():
        if profile.extends is None:
            resolved[name] = profile
            continue
        base = profiles.get(profile.extends)
        if base is None or base.extends is not None:
            raise DefinitionError(
                f"{_where(paths[name])}: extends: {profile.extends!r} is not a base profile "
                f"(known: {', '.join(sorted(n for n, p in profiles.items() if p.extends is None))})"
            )
        unknown = sorted(set(profile.settings) - set(base.settings))
        if unknown:
            raise DefinitionError(
                f"{_where(paths[name])}: settings.{unknown[0]}: {base.name} has no such setting to override"
            )
        resolved[name] = profile.model_copy(
            update={
                "applies_to_cycles_ending_before": base.applies_to_cycles_ending_before,
                "bodies": {**base.bodies, **profile.bodies},
                "settings": {**base.settings, **profile.settings},
            }
        )
    return resolved


def load(root: Path = ROOT, extra_profile_dirs: tuple[Path, ...] = ()) -> Registry:
    paths = {}
    for directory in (root / "profiles", *extra_profile_dirs):
        for path in sorted(directory.glob("*.yaml")):
            profile = load_profile(path)
            if profile.name in paths:
                raise DefinitionError(
                    f"{_where(path)}: name: profile {profile.name!r} is also in {paths[profile.name]}"
                )
            paths[profile.name] = path
    profiles = _resolve_extends({name: load_profile(path) for name, path in paths.items()}, paths)
    for name, profile in profiles.items():
        _check_report_recipients(profile, paths[name])
    procedures = {}
    for path in sorted((root / "definitions").glob("*/*.yaml")):
        procedure = load_definition(path, profiles)
        procedures[(procedure.definition.key, procedure.definition.version)] = procedure
    return Registry(procedures, profiles)


@cache
def registry_with_profiles(extra_profile_dirs: tuple[Path, ...]) -> Registry:
    """Loaded once per set of profile directories (definitions are immutable once loaded)."""
    return load(ROOT, extra_profile_dirs)


def default_registry() -> Registry:
    return registry_with_profiles(())
