"""How the trigger operations are documented: one operation per trigger, its body a named schema per procedure and
version (``CdhtXaTt252023SubmitDossier`` with its ``…Data``), built from the payload each definition publishes
(``workflows.published``: the guards' rules that JSON Schema can say) with the definition's example, summary and
citation. The per-procedure document (``service.api.openapi_doc.for_procedure``) keeps one variant of each."""

from __future__ import annotations

import copy
import re
from typing import Any

from workflows.examples import example
from workflows.published import DOCREF, published_schema
from workflows.registry import Registry
from workflows.schema import SYSTEM_BODY, Definition, Transition

COMPONENTS = "#/components/schemas/"


def pascal(*words: str) -> str:
    return "".join(part[:1].upper() + part[1:] for word in words for part in re.split(r"[^A-Za-z0-9]+", word) if part)


def body_name(definition: Definition, trigger: str, *, indicator: bool) -> str:
    """The component name of a trigger's body for one procedure and version, stable as long as they are."""
    return pascal(definition.key, definition.version, "indicator" if indicator else "", trigger)


def as_component(schema: Any) -> Any:
    """A published schema inside the OpenAPI document: its DocRefs point at the shared component."""
    if isinstance(schema, list):
        return [as_component(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        k: (COMPONENTS + "DocRef" if k == "$ref" and v == DOCREF else as_component(v))
        for k, v in schema.items()
        if k != "$defs"
    }


Variant = tuple[Definition, Transition]


def indicator_steps(definition: Definition) -> list[Transition]:
    return definition.indicator_process.transitions if definition.indicator_process else []


def human_triggers(registry: Registry, *, indicator: bool) -> dict[str, list[Variant]]:
    """Triggers people fire, by name; system-only ones (lapse, expire) are fired by the deadline worker."""
    found: dict[str, list[Variant]] = {}
    for _, procedure in sorted(registry.procedures.items()):
        definition = procedure.definition
        for t in indicator_steps(definition) if indicator else definition.transitions:
            if t.bodies != [SYSTEM_BODY]:
                found.setdefault(t.trigger, []).append((definition, t))
    return found


def label(definition: Definition) -> str:
    return f"{definition.key}/{definition.version}"


def describe(variants: list[Variant], *, indicator: bool) -> str:
    lines = []
    for definition, t in variants:
        lines.append(
            f"**{label(definition)}** — {t.vi} / {t.en}. From {', '.join(t.source)} to "
            f"{'the same state' if t.dest == '=' else t.dest}. Bodies: {', '.join(t.bodies)}. "
            f"Guards: {', '.join(t.guards) or 'none'}. Source: {t.citation.ref} [{t.citation.basis}]. "
            f"Body: `{body_name(definition, t.trigger, indicator=indicator)}`."
        )
    return "\n\n".join(lines)


def body_components(registry: Registry) -> dict[str, dict[str, Any]]:
    """Every trigger body (``{data, comment?}``) and its data, per procedure and version."""
    components: dict[str, dict[str, Any]] = {}
    for indicator in (False, True):
        for variants in human_triggers(registry, indicator=indicator).values():
            for definition, t in variants:
                name = body_name(definition, t.trigger, indicator=indicator)
                data = as_component(published_schema(definition, t))
                components[name + "Data"] = data
                components[name] = {
                    "type": "object",
                    "description": f"The body of {t.trigger} in {label(definition)}: {t.en} ({t.citation.ref}).",
                    "properties": {
                        "data": {"$ref": COMPONENTS + name + "Data"},
                        "comment": {"type": "string", "description": "A note kept with the audit event"},
                    },
                    "required": ["data"] if data.get("required") else [],
                    "additionalProperties": False,
                }
                if t.example is not None:
                    components[name]["examples"] = [{"data": example(definition, t.trigger, indicator=indicator)}]
    return components


def request_body(variants: list[Variant], *, indicator: bool) -> dict[str, Any]:
    """The operation's body: the procedure's named schema, or any of them where several procedures share the
    trigger (anyOf, not oneOf: two procedures may share a payload, and a body valid for both is valid)."""
    refs = [{"$ref": COMPONENTS + body_name(d, t.trigger, indicator=indicator)} for d, t in variants]
    examples = {
        body_name(d, t.trigger, indicator=indicator): {
            "summary": f"{label(d)}: {t.en}",
            "value": {"data": example(d, t.trigger, indicator=indicator)},
        }
        for d, t in variants
        if t.example is not None
    }
    media: dict[str, Any] = {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}
    if examples:
        media["examples"] = examples
    return {"required": True, "content": {"application/json": media}}


def only(operation: dict[str, Any], definition: Definition, transition: Transition, *, indicator: bool) -> None:
    """``operation`` narrowed to one procedure's variant: its schema, example, summary and citation."""
    operation["summary"] = f"{transition.trigger}: {transition.en}"
    operation["description"] = describe([(definition, transition)], indicator=indicator)
    operation["requestBody"] = copy.deepcopy(request_body([(definition, transition)], indicator=indicator))


def header_parameter(name: str, description: str) -> dict[str, Any]:
    """An optional text header as FastAPI documents ``Annotated[str | None, Header(alias=name, description=…)]``:
    the trigger routes read If-Match and Idempotency-Key from the request themselves (two parameters fewer for
    FastAPI to resolve on every transition) and document them with this (tests/test_openapi.py compares it with
    what FastAPI writes for ``POST /v1/cases``)."""
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}], "description": description, "title": name}
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


def summary(trigger: str, variants: list[Variant]) -> str:
    """One procedure's step is named by it; a trigger several procedures share is named by what they share."""
    if len(variants) == 1:
        return f"{trigger}: {variants[0][1].en}"
    return f"{trigger} ({len(variants)} procedures: {', '.join(label(d) for d, _ in variants)})"
