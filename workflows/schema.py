"""Typed models of a procedure definition and a jurisdiction profile.

A definition is data (YAML under ``definitions/<key>/<version>.yaml``); these models give it types and refuse
unknown keys. Cross-references (states, bodies, guards, effects, payload fields) are checked by
``workflows.registry`` when the files are loaded, so that an error names the file and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Roles a token may carry (PROCEDURES.md §3). `system` is the service's own timers, never a token.
ROLES = frozenset(
    {
        "commune_leader",  # lãnh đạo UBND cấp xã
        "commune_officer",  # công chức UBND cấp xã
        "commune_member",  # member of a commune organisation assigned an indicator (claim org)
        "district_leader",  # lãnh đạo UBND cấp huyện
        "district_officer",  # chuyên viên Phòng GDĐT
        "district_head",  # Trưởng phòng GDĐT
        "province_leader",  # lãnh đạo UBND cấp tỉnh
        "province_officer",  # chuyên viên Sở GDĐT
        "province_director",  # Giám đốc Sở GDĐT
        "ministry_officer",  # Vụ Giáo dục thường xuyên, Bộ GDĐT (unit VN)
        "minister",  # Bộ trưởng Bộ GDĐT (unit VN)
        "association_officer",  # Hội Khuyến học at the role's unit (TT44/2014 inspection and planning)
        "learning_unit_head",  # head of an agency or unit assessed as a "Đơn vị học tập" (TT24/2023; claim org)
        "council_member",
        "auditor",
        "admin",
    }
)
SYSTEM_BODY = "system"
UNIT_LEVELS = ("national", "province", "district", "commune")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(Strict):
    ref: str
    basis: Literal["law", "practice", "config"]
    # A setting of the case (definition or profile) whose value, when set, is the source instead of ``ref``: e.g.
    # the annual report cites the duty of the office that reports under the case's profile (TT25/2023 Điều 23 k2
    # for the district office, Điều 21 for the provincial Department).
    setting: str | None = None

    def source(self, settings: Mapping[str, Any]) -> str:
        """The source this citation names for a case with ``settings``."""
        value = settings.get(self.setting) if self.setting else None
        return value if isinstance(value, str) and value.strip() else self.ref


class Setting(Strict):
    default: Any
    doc: str


class State(Strict):
    vi: str
    en: str
    initial: bool = False
    final: bool = False


FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime", "docref", "array", "object"]


class FieldSpec(Strict):
    """One payload field. Compiled to JSON Schema for validation and for the OpenAPI document."""

    type: FieldType
    required: bool = False
    enum: list[Any] | None = None
    items: FieldSpec | None = None
    properties: dict[str, FieldSpec] | None = None
    description: str | None = None


class Measure(Strict):
    """How an indicator's result is found (TT25/2023 Điều 8 k2): a rating, a standing recognition, or shares."""

    kind: Literal["rating", "recognition_level", "shares", "recognised_share", "change"]
    required: dict[int, int] | None = None  # recognition_level: minimum NĐ 20/2014 level per CĐHT level
    max_level: int | None = None  # recognition_level: the highest level the NĐ 20/2014 standard has
    figures: list[str] | None = None  # shares: figure names
    minimum: dict[int, dict[str, float]] | None = None
    minimum_disadvantaged: dict[int, dict[str, float]] | None = None
    not_above: dict[str, str] | None = None  # shares: a figure that is a part of another ("trong đó")
    # recognised_share: computed by the service, never sent: the share of the case unit's subordinate units
    # (``of``: procedure and unit level, first source with units wins; a source with ``setting`` is used only where
    # that setting is true) recognised for the evaluation year at the level sought (the setting ``tc41_counts``);
    # ``minimum`` gives the share per level, e.g. {1: {share: 90}} (TT25/2023 Điều 11 k4 a).
    of: list[dict[str, str]] | None = None
    # change: figures ``previous`` and ``current``; passes when current moved in ``direction`` (Điều 11 k4 b).
    direction: Literal["increase", "decrease"] | None = None
    # shares: more figures and minimums for an organisation with a trait, e.g. the learners of an education
    # institution (TT24/2023 Điều 6 k3 a: "tối thiểu 95% Người học đạt danh hiệu Công dân học tập").
    extra: list[TraitMinimum] | None = None


class TraitMinimum(Strict):
    """Figures an organisation with ``trait`` reports besides the measure's own, with their minimum per level."""

    trait: str
    figures: list[str]
    minimum: dict[int, dict[str, float]]


class Applicability(Strict):
    """Which organisations an indicator applies to (TT24/2023: "đối với đơn vị là cơ quan, đơn vị sự nghiệp công
    lập", "không bao gồm … tổ chức kinh tế", "Đơn vị … là cơ sở giáo dục phổ thông"). ``only``: the organisation
    has this trait; ``exclude``: it has not; ``levels``: the levels the restriction holds at (all when omitted).
    An indicator that does not apply counts as met for its criterion and is not assessed."""

    only: str | None = None
    exclude: str | None = None
    levels: list[int] | None = None

    def holds(self, traits: frozenset[str], level: int) -> bool:
        if self.levels is not None and level not in self.levels:
            return True
        if self.only is not None and self.only not in traits:
            return False
        return not (self.exclude is not None and self.exclude in traits)


class OrganisationKind(Strict):
    """A kind of organisation a case may be about (TT24/2023 Điều 2 k1–4), with the traits its criteria read."""

    vi: str
    en: str
    clause: str
    traits: list[str] = Field(default_factory=list)


class Indicator(Strict):
    code: str
    vi: str
    en: str
    measure: Measure
    applies: Applicability | None = None
    # The label per level where the text words a level differently (TT24 Điều 6–7, TT25 Điều 6–7), verbatim.
    levels_vi: dict[int, str] | None = None

    def label_vi(self, level: int | None) -> str:  # at ``level``; ``vi`` (the level-1 text) when it has none
        return (self.levels_vi or {}).get(level or 1, self.vi)


class Criterion(Strict):
    code: str
    vi: str
    en: str
    citation: str
    indicators: list[Indicator]


class Transition(Strict):
    trigger: str
    source: list[str]
    dest: str  # "=" stays in the same state
    bodies: list[str]
    guards: list[str] = Field(default_factory=list)
    effects: list[str] = Field(default_factory=list)
    payload: dict[str, FieldSpec] = Field(default_factory=dict)
    citation: Citation
    vi: str
    en: str
    collector: str | None = None  # the service gathers these payload fields before firing (e.g. a report snapshot)
    webhook_event: str | None = None  # the outbox event type instead of case.transitioned (e.g. report.submitted)
    # A well-formed payload, written for the definition's ``example_cycle``: the OpenAPI examples, the demo's walk
    # and the tests' payloads are taken from it (``workflows.examples``).
    example: dict[str, Any] | None = None


class EvidenceRule(Strict):
    bodies: list[str]
    indicator_states: list[str]
    citation: Citation


class IndicatorProcess(Strict):
    initial: str
    states: dict[str, State]
    case_states: list[str]
    evidence: EvidenceRule
    transitions: list[Transition]


class DeadlineRule(Strict):
    """When a deadline falls (PROCEDURES.md §6).

    ``fixed_date``: a day of the year ``cycle + year_offset`` (``month``, ``day``), subject to ``cutoff_inclusive``.
    ``working_days_after`` / ``calendar_days_after``: ``days`` after the day the deadline opens, or after the date
    in the opening payload's field ``start_field`` (e.g. the day a complete dossier was received).
    ``validity_end``: 31/12 of the decision year plus the ``validity_years_after_decision_year`` setting.
    """

    kind: Literal["fixed_date", "working_days_after", "calendar_days_after", "validity_end"]
    month: int | None = None
    day: int | None = None
    year_offset: int = 0
    days: int | None = None
    days_setting: str | None = None  # *_days_after: the number of days is this setting (where the law is silent)
    start_field: str | None = None
    date_setting: str | None = None  # fixed_date: a "MM-DD" setting (per jurisdiction) instead of month and day


class Deadline(Strict):
    """A legal deadline: the states it opens in, the triggers that meet or waive it, and what a breach does.

    ``on_breach``: ``refuse_and_fire`` (the guarded transition is refused after it, and the sweeper fires
    ``fires``), ``fire`` (the sweeper fires ``fires``), or ``flag`` (the case is flagged overdue and the breach is
    escalated to the office above the one that must act; nothing is decided for it).
    """

    rule: DeadlineRule
    opens_in: list[str]
    closes_on: list[str]
    waives_on: list[str] = Field(default_factory=list)
    on_breach: Literal["refuse_and_fire", "fire", "flag"]
    fires: str | None = None
    extendable: bool = False
    reminders: bool = True
    # Where a flagged breach is escalated: "above_reviewer", the unit above the profile's commune reviewer, or
    # "above:<body>", the unit above the one that fills <body> (e.g. above:province.head for a district's
    # decision, TT25/2023 Điều 14 k3).
    escalate_to: str | None = None
    citation: str
    vi: str
    en: str


class OpenRule(Strict):
    bodies: list[str]
    guards: list[str] = Field(default_factory=list)  # run at opening, e.g. what the case's kind requires
    citation: Citation
    # A case about an organisation inside the unit (a TT24 learning unit) names it; None: the case is the unit's.
    subject: Literal["organisation"] | None = None


class Definition(Strict):
    key: str
    version: str
    title: dict[str, str]
    instrument: str
    effective_from: date
    # A repealed instrument opens no new case from this date; cases opened before stay on it (e.g. TT44/2014,
    # repealed by TT25/2023 Điều 25 from 12/02/2024).
    repealed_on: date | None = None
    repealed_by: str | None = None
    # How the commune procedure's clauses, which shared guards cite, read in this procedure: e.g. the district
    # procedure repeats Điều 9 clause for clause as Điều 14, so {"Điều 9": "Điều 14"}.
    clauses: dict[str, str] = Field(default_factory=dict)
    # The evaluation year the transitions' examples are written for; ``workflows.examples`` moves their years.
    example_cycle: int | None = None
    # The kind of unit a case is about; "reviewing_office" is the unit whose office reviews communes under the
    # case's profile (the district in three_tier, the province in two_tier), e.g. for the annual report.
    subject_level: Literal["commune", "district", "province", "reviewing_office"]
    # The case is about the unit where this body sits under the case's profile (e.g. TT24's district tier: the
    # district before the reform, whatever unit the profile names after it); overrides subject_level.
    subject_level_body: str | None = None
    # The kinds of organisation a case about an organisation names (``subject_kind``), with their traits.
    organisation_kinds: dict[str, OrganisationKind] = Field(default_factory=dict)
    # An indicator without matching evidence fails (TT24/2023 Điều 9 k3): the clause, or None where no rule says so.
    unevidenced_fails: str | None = None
    levels: list[int] = Field(default_factory=list)
    kinds: list[str]
    settings: dict[str, Setting] = Field(default_factory=dict)
    states: dict[str, State]
    open: OpenRule
    criteria: list[Criterion] = Field(default_factory=list)
    indicator_process: IndicatorProcess | None = None
    transitions: list[Transition]
    deadlines: dict[str, Deadline] = Field(default_factory=dict)

    @property
    def initial_state(self) -> str:
        return next(name for name, state in self.states.items() if state.initial)

    def transition(self, trigger: str) -> Transition | None:
        return next((t for t in self.transitions if t.trigger == trigger), None)

    def indicator_transition(self, trigger: str) -> Transition | None:
        if self.indicator_process is None:
            return None
        return next((t for t in self.indicator_process.transitions if t.trigger == trigger), None)

    @property
    def indicators(self) -> list[Indicator]:
        return [indicator for criterion in self.criteria for indicator in criterion.indicators]

    def indicator(self, code: str) -> Indicator | None:
        return next((i for i in self.indicators if i.code == code), None)

    def default_settings(self) -> dict[str, Any]:
        return {name: setting.default for name, setting in self.settings.items()}

    def case_level(self, profile: Profile) -> str:
        """The level of the unit a case is about under ``profile`` (see ``subject_level``)."""
        if self.subject_level_body is not None and self.subject_level_body in profile.bodies:
            return profile.bodies[self.subject_level_body].at.replace("case_unit", self.subject_level)
        if self.subject_level == "reviewing_office":
            return profile.bodies["reviewer.head"].at
        return self.subject_level

    def traits(self, subject_kind: str | None) -> frozenset[str]:
        """The traits of the organisation kind a case names (empty for a case about a unit itself)."""
        kind = self.organisation_kinds.get(subject_kind or "")
        return frozenset(kind.traits) if kind else frozenset()

    def applicable_indicators(self, subject_kind: str | None) -> list[Indicator]:
        """The indicators that apply to the organisation at some level (all of them for a unit's own case)."""
        traits = self.traits(subject_kind)
        return [
            i for i in self.indicators if i.applies is None or any(i.applies.holds(traits, lv) for lv in self.levels)
        ]


class BodyRule(Strict):
    """Which real role, at which unit relative to the case's unit, fills a body of the definitions."""

    role: str
    at: Literal["case_unit", "district", "province", "national"]
    match_org: bool = False  # the actor's org claim equals the indicator's assignee
    match_subject: bool = False  # the actor's org claim equals the case's subject (e.g. a TT24 learning unit)
    council_position: list[Literal["chair", "secretary", "member"]] | None = None


class Profile(Strict):
    """Who fills each body, and the settings that vary by place and time (PROCEDURES.md §3).

    A province's own profile ``extends`` a base profile, names its ``provinces`` (unit codes) and the cycles it
    covers (``applies_from_cycle``), and replaces only the bodies and settings it lists.
    """

    name: str
    vi: str
    en: str
    applies_to_cycles_ending_before: date | None = None
    extends: str | None = None
    provinces: list[str] = Field(default_factory=list)
    applies_from_cycle: int | None = None
    applies_to_cycle: int | None = None
    source: str | None = None  # the decision or directive a province's profile encodes
    bodies: dict[str, BodyRule] = Field(default_factory=dict)
    settings: dict[str, Setting] = Field(default_factory=dict)

    def default_settings(self) -> dict[str, Any]:
        return {name: setting.default for name, setting in self.settings.items()}


DOCREF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "DocRef",
    "description": "A document reference: số/ký hiệu, ngày ban hành, người ký, trích yếu; optionally an uploaded file.",
    "properties": {
        "number": {"type": "string", "minLength": 1, "description": "Số/ký hiệu, e.g. 12/KH-UBND"},
        "date": {"type": "string", "format": "date"},
        "signer": {"type": "string"},
        "title": {"type": "string"},
        "evidence_id": {"type": "string"},
    },
    "required": ["number", "date"],
    "additionalProperties": False,
}


def field_json_schema(spec: FieldSpec) -> dict[str, Any]:
    """JSON Schema (2020-12) of one payload field."""
    if spec.type == "docref":
        schema: dict[str, Any] = dict(DOCREF_SCHEMA)
    elif spec.type in ("date", "datetime"):
        schema = {"type": "string", "format": "date" if spec.type == "date" else "date-time"}
    elif spec.type == "array":
        schema = {"type": "array", "items": field_json_schema(spec.items) if spec.items else {}}
    elif spec.type == "object" and spec.properties is not None:
        schema = payload_json_schema(spec.properties)
    else:
        schema = {"type": spec.type}
    if spec.enum is not None:
        schema["enum"] = list(spec.enum)
    if spec.description:
        schema["description"] = spec.description
    return schema


def payload_json_schema(fields: dict[str, FieldSpec]) -> dict[str, Any]:
    """JSON Schema of a transition's payload: an object with exactly the declared fields."""
    return {
        "type": "object",
        "properties": {name: field_json_schema(spec) for name, spec in fields.items()},
        "required": [name for name, spec in fields.items() if spec.required],
        "additionalProperties": False,
    }
