"""The payload schema a transition publishes: the definition's fields (``workflows.schema.payload_json_schema``) with
every rule of its guards that JSON Schema can say (enums from the definition's settings, counts, required entries,
conditional requirements, the shape of each indicator's figures), and, in its description, what only the guards
can check when the transition is fired (dates against today, the case's state and history, uniqueness by key).

Published to integrators (the OpenAPI document, ``GET /v1/procedures/{key}/{version}``) so that a form can be built
from it; the engine still decides with the guards, which give the reasons and citations of a refusal. The
schemas use the defaults of the definition's settings (a jurisdiction profile may pin others for a case).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from workflows.guards.decision import COUNCIL_SEATS
from workflows.guards.registry import GUARDS
from workflows.guards.tiers import MEETING_PARTICIPANTS
from workflows.schema import DOCREF_SCHEMA, Definition, Indicator, Transition, payload_json_schema

Schema = dict[str, Any]
DOCREF = "#/$defs/DocRef"  # one DocRef definition per schema (the OpenAPI document points at its component)
NON_BLANK = r"\S"  # at least one character that is not white space: what ``is_blank`` refuses


def _contains(field: str, value: str, **extra: Any) -> Schema:
    return {"contains": {"type": "object", "properties": {field: {"const": value}}, "required": [field]}, **extra}


def _property(schema: Schema, *path: str) -> Schema | None:
    """The sub-schema at ``path`` of properties (``[]`` steps into array items); None when the payload lacks it."""
    for step in path:
        if step == "[]":
            schema = schema.get("items") or {}
        else:
            schema = (schema.get("properties") or {}).get(step)
        if not schema:
            return None
    return schema


def _chair(schema: Schema, definition: Definition) -> None:
    allowed = definition.default_settings().get("meeting_chair_positions")
    if (position := _property(schema, "chair", "position")) and allowed:
        position["enum"] = list(allowed)
        position["description"] = "A leader of the office the law names to chair (setting meeting_chair_positions)"
    if name := _property(schema, "chair", "name"):
        name["pattern"] = NON_BLANK


def _participants(*required: str) -> Callable[[Schema, Definition], None]:
    def rule(schema: Schema, definition: Definition) -> None:
        if participants := _property(schema, "participants"):
            participants["minItems"] = len(required)
            participants["allOf"] = [_contains("org_type", org) for org in required]
            participants["description"] = "Among the participants, one at least of each org_type: " + ", ".join(
                required
            )

    return rule


def _council(setting: str, default: int | None, *, odd: bool, org_types: tuple[str, ...] = ()) -> Callable[..., None]:
    def rule(schema: Schema, definition: Definition) -> None:
        members = _property(schema, "members")
        if not members:
            return
        found = definition.default_settings().get(setting, default)
        minimum = 2 if found is None else int(found)  # a chair and a secretary at least
        members["minItems"] = minimum
        members["allOf"] = [
            _contains("position", "chair", maxContains=1),
            _contains("position", "secretary", maxContains=1),
            *(_contains("org_type", org) for org in org_types),
        ]
        members["description"] = (
            f"{'An odd number of' if odd else 'At least'} {minimum} members or more (setting {setting}"
            f"{'; the odd count is checked when fired' if odd else ''}): exactly one chair and one secretary, the "
            "secretary named by account (sub) since the secretary records the appraisal"
            + (f"; among them one at least of each org_type {', '.join(org_types)}" if org_types else "")
        )
        seat = members.get("items") or {}
        if "sub" in (seat.get("properties") or {}):
            seat["properties"]["sub"]["minLength"] = 1
            seat["if"] = {"properties": {"position": {"const": "secretary"}}, "required": ["position"]}
            seat["then"] = {"required": ["sub"]}

    return rule


def _score(schema: Schema, definition: Definition) -> None:
    if score := _property(schema, "score"):
        score["minimum"] = 0
        score["maximum"] = definition.default_settings().get("max_score", 100)


def _every_indicator(field: str) -> Callable[[Schema, Definition], None]:
    def rule(schema: Schema, definition: Definition) -> None:
        entries = _property(schema, field)
        code = _property(schema, field, "[]", "indicator")
        if not entries or not code or not definition.indicators:
            return
        codes = [i.code for i in definition.indicators]
        code["enum"] = codes
        entries["maxItems"] = len(codes)
        if any(i.applies is not None for i in definition.indicators):
            # TT24: which indicators apply depends on the kind of organisation, which the guard knows.
            entries["description"] = "One entry for each indicator that applies to the case's kind of organisation, "
            entries["description"] += "each once (which apply is checked when fired)"
        else:
            entries["minItems"] = len(codes)
            entries["description"] = "One entry for each indicator of the procedure, each once"

    return rule


def _non_blank(*fields: str) -> Callable[[Schema, Definition], None]:
    def rule(schema: Schema, definition: Definition) -> None:
        for field in fields:
            target = _property(schema, field)
            if not target:
                continue
            if target.get("type") == "array":
                target["minItems"] = 1
                target = target.get("items") or {}
            if target.get("type") == "string":
                target["pattern"] = NON_BLANK
                target["minLength"] = 1

    return rule


def _org_named(schema: Schema, definition: Definition) -> None:
    if org := _property(schema, "assignments", "[]", "org"):
        org["minLength"] = 1
        org["pattern"] = NON_BLANK
        org["description"] = "The organisation of the commune the indicator is assigned to; its members' tokens "
        org["description"] += "carry it as `org`"


# What each guard's rule looks like in JSON Schema, where it can be said at all.
RULES: dict[str, Callable[[Schema, Definition], None]] = {
    "is_chaired_by_commune_leader": _chair,
    "is_chaired_by_education_office_leader": _chair,
    "has_required_meeting_participants": _participants("hoi_khuyen_hoc", "mat_tran", "chinh_tri_xa_hoi"),
    "has_required_tier_meeting_participants": _participants(*MEETING_PARTICIPANTS),
    "is_valid_council": _council("council_min_members", 5, odd=True, org_types=tuple(o for o, _ in COUNCIL_SEATS)),
    "is_valid_unit_council": _council("council_min_members", 5, odd=True),
    "is_valid_ministry_council": _council("ministry_council_min_members", None, odd=False),
    "is_score_in_range": _score,
    "has_assignee_for_every_indicator": lambda s, d: (_every_indicator("assignments")(s, d), _org_named(s, d)),
    "has_result_for_every_indicator": _every_indicator("results"),
    "has_reason": _non_blank("reason"),
    "has_reasons": _non_blank("reasons"),
    "has_missing_items": _non_blank("missing"),
}


def figures_schema(indicator: Indicator) -> Schema | None:
    """The figures an indicator takes (TT25/2023 Điều 6–7 k4–5), or None when it takes none or the service computes
    them (``recognised_share``)."""
    measure = indicator.measure
    if measure.kind == "recognition_level":
        return {
            "type": "object",
            "properties": {
                "level_reached": {"type": "integer", "minimum": 0, "maximum": measure.max_level},
                "recognition": {"$ref": DOCREF},
            },
            "required": ["level_reached", "recognition"],
            "additionalProperties": False,
        }
    if measure.kind == "shares":
        names = list(measure.figures or [])
        return {
            "type": "object",
            "properties": {name: {"type": "number", "minimum": 0, "maximum": 100} for name in names},
            "required": names,
            "additionalProperties": False,
        }
    if measure.kind == "change":
        return {
            "type": "object",
            "properties": {"previous": {"type": "number"}, "current": {"type": "number"}},
            "required": ["previous", "current"],
            "additionalProperties": False,
        }
    return None


def _figures(schema: Schema, definition: Definition) -> None:
    figures = _property(schema, "figures")
    if figures is None:
        return
    shapes: dict[str, tuple[Schema, list[str]]] = {}
    lines, rated = [], []
    for indicator in definition.indicators:
        shape = figures_schema(indicator)
        if shape is None:
            if indicator.measure.kind == "rating":
                rated.append(indicator.code)
            else:
                lines.append(f"{indicator.code}: computed by the service, send none")
            continue
        key = repr(shape)
        shapes.setdefault(key, (shape, []))[1].append(indicator.code)
        parts = "".join(f"; {p} ≤ {w}" for p, w in (indicator.measure.not_above or {}).items())
        lines.append(f"{indicator.code}: {', '.join(shape['required'])}{parts}")
    if rated:
        lines.append(f"{', '.join(rated)}: rated pass/fail with evidence, no figures")
    if shapes:
        variants = []
        for shape, codes in shapes.values():
            variants.append({**shape, "description": "For " + ", ".join(codes)})
        figures.clear()
        figures.update(variants[0] if len(variants) == 1 else {"anyOf": variants})
    figures["description"] = "The indicator's figures, by indicator (the path's code): " + "; ".join(lines)


RULES["has_figures_for_measure"] = _figures


def _docrefs_referred(schema: Any) -> tuple[Any, bool]:
    """``schema`` with every inline DocRef replaced by a reference to one definition, and whether there was one."""
    if isinstance(schema, list):
        found = [_docrefs_referred(v) for v in schema]
        return [v for v, _ in found], any(f for _, f in found)
    if not isinstance(schema, dict):
        return schema, False
    if schema.get("title") == DOCREF_SCHEMA["title"] and schema.get("properties") == DOCREF_SCHEMA["properties"]:
        return {
            "$ref": DOCREF,
            **(
                {"description": schema["description"]}
                if "description" in schema and schema["description"] != DOCREF_SCHEMA["description"]
                else {}
            ),
        }, True
    found = {k: _docrefs_referred(v) for k, v in schema.items()}
    return {k: v for k, (v, _) in found.items()}, any(f for _, f in found.values()) or schema.get("$ref") == DOCREF


def published_schema(definition: Definition, transition: Transition) -> Schema:
    """The transition's payload schema with its guards' rules; what only a guard checks is in the description."""
    if transition.collector is not None:
        # The service gathers the whole payload (a report's snapshot) and refuses any of it sent by the caller.
        return {
            "type": "object",
            "properties": {},
            "additionalProperties": False,
            "description": f"{transition.en} ({transition.vi}). {transition.citation.ref} "
            f"[{transition.citation.basis}]. Send an empty object: the service computes "
            f"{', '.join(transition.payload)} ({transition.collector}) and refuses them when sent.",
        }
    schema = copy.deepcopy(payload_json_schema(transition.payload))
    for name in transition.guards:
        if rule := RULES.get(name):
            rule(schema, definition)
    schema, docrefs = _docrefs_referred(schema)
    if docrefs:
        schema["$defs"] = {"DocRef": copy.deepcopy(DOCREF_SCHEMA)}
    checks = [f"{name}: {' '.join(GUARDS[name].doc.split())}" for name in transition.guards if name in GUARDS]
    schema["description"] = (
        f"{transition.en} ({transition.vi}). {transition.citation.ref} [{transition.citation.basis}]."
        + (" Checked when fired: " + " | ".join(checks) if checks else "")
    )
    return schema
