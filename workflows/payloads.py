"""Validation of a transition's payload against the JSON Schema compiled from its definition.

Two validators of one schema: jsonschema-rs (compiled, in Rust) says whether a payload is valid, and only when it
is not does ``jsonschema`` (Python) say every way it is not, with the messages and paths the refusals have always
quoted. The compiled one may only be stricter, never more lenient: where the two libraries read a payload
differently it is told what the Python one does (a float is no integer, a tuple no array, the two date formats
are checked by the same functions), anything it cannot read (a lone surrogate, a type JSON has not) sends the
payload to the Python validator, and a schema with a keyword outside the few the definitions write gets no
compiled validator at all (``tests/workflows/test_payloads.py`` holds every shipped schema to having one and the
two to the same verdicts)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker, validators

from workflows.schema import Transition, payload_json_schema

_FORMATS = FormatChecker(formats=())


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    """A calendar date written YYYY-MM-DD (no week or ordinal dates, no compact forms)."""
    return not isinstance(value, str) or (bool(_DATE.fullmatch(value)) and bool(date.fromisoformat(value)))


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


# JSON Schema counts 1.0 as an integer; a level or a count sent as a float is refused instead of stored as one.
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_Validator = validators.extend(Draft202012Validator, type_checker=_TYPES)


def _format(check: Any) -> Any:
    def checked(value: str) -> bool:
        try:
            return bool(check(value))
        except ValueError:
            return False

    return checked


class _PythonType:
    """A keyword the compiled validator runs beside ``type`` where jsonschema-rs reads a Python value more
    leniently than ``_Validator`` does: 1.0 is an integer to it, a tuple an array."""

    def __init__(self, _parent_schema: Any, value: str, _schema_path: Any) -> None:
        self.integer = value == "integer"

    def validate(self, instance: Any) -> None:
        if self.integer and (not isinstance(instance, int) or isinstance(instance, bool)):
            raise ValueError("not an integer")
        if not self.integer and not isinstance(instance, list):
            raise ValueError("not an array")


_PYTHON_TYPE = "x-python-type"
# What the definitions' schemas write (``workflows.schema.field_json_schema``); any other keyword: no fast path.
_WALKED = {"type", "properties", "required", "additionalProperties", "items", "enum", "format", "description"}
_WALKED_PLUS = _WALKED | {"title", "minLength"}


def _compiled_schema(schema: Any) -> dict[str, Any] | None:
    """``schema`` with ``x-python-type`` beside every integer or array type, or None when it has a keyword (or a
    shape) this does not walk."""
    if not isinstance(schema, dict) or set(schema) - _WALKED_PLUS:
        return None
    out = dict(schema)
    kind = schema.get("type")
    if kind is not None and not isinstance(kind, str):
        return None
    if kind in ("integer", "array"):
        out[_PYTHON_TYPE] = kind
    if not isinstance(schema.get("additionalProperties", False), bool):
        return None
    if "properties" in schema:
        if not isinstance(schema["properties"], dict):
            return None
        out["properties"] = {}
        for name, sub in schema["properties"].items():
            if (compiled := _compiled_schema(sub)) is None:
                return None
            out["properties"][name] = compiled
    if "items" in schema:
        if (compiled := _compiled_schema(schema["items"])) is None:
            return None
        out["items"] = compiled
    return out


def compiled_validator(schema: dict[str, Any]) -> Any:
    """The jsonschema-rs validator of a payload schema (stricter or equal to ``_Validator``), or None."""
    compiled = _compiled_schema(schema)
    if compiled is None:
        return None
    return jsonschema_rs.Draft202012Validator(
        compiled,
        formats={"date": _format(_is_date), "date-time": _format(_is_datetime)},
        validate_formats=True,
        keywords={_PYTHON_TYPE: _PythonType},
    )


_VALIDATORS: dict[int, tuple[Transition, Draft202012Validator, Any]] = {}


def _validators(transition: Transition) -> tuple[Transition, Draft202012Validator, Any]:
    # Keyed by identity: definitions are loaded once and live as long as the process.
    cached = _VALIDATORS.get(id(transition))
    if cached is None or cached[0] is not transition:
        schema = payload_json_schema(transition.payload)
        cached = (transition, _Validator(schema, format_checker=_FORMATS), compiled_validator(schema))
        _VALIDATORS[id(transition)] = cached
    return cached


FORMAT_HINTS = {
    "date": "write the date as YYYY-MM-DD, e.g. 2026-01-15",
    "date-time": "write the time in ISO 8601 with its offset, e.g. 2026-01-15T09:00:00+07:00",
}


def _message(error: Any) -> str:
    hint = FORMAT_HINTS.get(error.validator_value) if error.validator == "format" else None
    return f"{error.message}; {hint}" if hint else error.message


def _valid(compiled: Any, payload: Any) -> bool:
    """The compiled validator's verdict; False (the Python validator then decides) when it cannot read the
    payload."""
    if compiled is None:
        return False
    try:
        return compiled.is_valid(payload)
    except (ValueError, TypeError, OverflowError):  # UnicodeEncodeError is a ValueError
        return False


def payload_errors(transition: Transition, payload: Any) -> list[tuple[str, str]]:
    """(path, message) for every way the payload breaks the schema, a malformed date with the format it needs;
    empty when it is valid."""
    _, validator, compiled = _validators(transition)
    if _valid(compiled, payload):
        return []
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    return [("/".join(str(p) for p in error.absolute_path) or "(payload)", _message(error)) for error in errors]
