"""Forms generated from a transition's payload JSON Schema (``workflows.schema.payload_json_schema``), and the
form's fields turned back into the payload the engine checks.

The form decides nothing: it only shapes text into JSON by the schema's types (a date input, a number, a choice
of the schema's enum, a fieldset for an object of plain fields, a JSON text area for a list of objects, one line
per item for a list of strings). Whether the payload is acceptable is the engine's payload check and guards, so
what the console refuses is exactly what the API refuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SCALARS = ("string", "integer", "number", "boolean")


@dataclass
class Field:
    name: str  # the form field's name: "plan.number" for a property of an object
    label: str
    kind: str  # text, date, datetime-local, number, checkbox, select, lines, json, fieldset
    required: bool = False
    options: list[str] = field(default_factory=list)
    description: str = ""
    children: list[Field] = field(default_factory=list)
    example: str = ""
    step: str = ""


def _kind(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "select"
    kind = schema.get("type")
    if kind == "string":
        return {"date": "date", "date-time": "datetime-local"}.get(schema.get("format", ""), "text")
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "checkbox"
    if kind == "array":
        items = schema.get("items") or {}
        return "lines" if items.get("type") in SCALARS and "enum" not in items else "json"
    properties = schema.get("properties") or {}
    if kind == "object" and properties and all(p.get("type") in SCALARS for p in properties.values()):
        return "fieldset"
    return "json"


def _example(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {name: _example(p) for name, p in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_example(schema.get("items") or {})]
    if schema.get("format") == "date":
        return "2026-01-15"
    return {"integer": 1, "number": 1.0, "boolean": True}.get(kind or "", "")


def fields_of(schema: dict[str, Any], prefix: str = "") -> list[Field]:
    """One form field per property of the payload schema, in its order."""
    required = set(schema.get("required") or [])
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        kind = _kind(prop)
        item = Field(
            name=prefix + name,
            label=name,
            kind=kind,
            required=name in required,
            options=[str(o) for o in prop.get("enum", [])],
            description=prop.get("description", ""),
            step="1" if prop.get("type") == "integer" else "any",
        )
        if kind == "fieldset":
            item.children = fields_of(prop, prefix=f"{prefix}{name}.")
        if kind == "json":
            item.example = json.dumps(_example(prop), ensure_ascii=False)
        found.append(item)
    return found


class FormProblem(ValueError):
    """A field whose text cannot be read as its schema's type (e.g. a JSON list that is not JSON)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field_name, self.message = field_name, message


def _value(schema: dict[str, Any], text: str, name: str) -> Any:
    kind = schema.get("type")
    if kind == "integer" or (kind is None and "enum" in schema and all(isinstance(o, int) for o in schema["enum"])):
        try:
            return int(text)
        except ValueError:
            raise FormProblem(name, "not a whole number") from None
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise FormProblem(name, "not a number") from None
    if kind == "boolean":
        return text in ("on", "true", "1")
    if kind == "array" and _kind(schema) == "lines":
        items = schema.get("items") or {}
        return [_value(items, line.strip(), name) for line in text.splitlines() if line.strip()]
    if kind in ("array", "object"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise FormProblem(name, f"not valid JSON ({exc})") from None
    return text


def payload_from_form(schema: dict[str, Any], form: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """The payload the form's fields say; an empty optional field is left out (the engine decides what is
    missing)."""
    payload: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        key = prefix + name
        if _kind(prop) == "fieldset":
            inner = payload_from_form(prop, form, prefix=f"{key}.")
            if inner:
                payload[name] = inner
            continue
        text = form.get(key)
        if prop.get("type") == "boolean":
            if text is not None:
                payload[name] = _value(prop, text, key)
            continue
        if text is None or not str(text).strip():
            continue
        payload[name] = _value(prop, str(text).strip(), key)
    return payload
