"""Validation of a transition's payload against the JSON Schema compiled from its definition."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

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


_VALIDATORS: dict[int, tuple[Transition, Draft202012Validator]] = {}


def _validator(transition: Transition) -> Draft202012Validator:
    # Keyed by identity: definitions are loaded once and live as long as the process.
    cached = _VALIDATORS.get(id(transition))
    if cached is None or cached[0] is not transition:
        cached = (transition, _Validator(payload_json_schema(transition.payload), format_checker=_FORMATS))
        _VALIDATORS[id(transition)] = cached
    return cached[1]


FORMAT_HINTS = {
    "date": "write the date as YYYY-MM-DD, e.g. 2026-01-15",
    "date-time": "write the time in ISO 8601 with its offset, e.g. 2026-01-15T09:00:00+07:00",
}


def _message(error: Any) -> str:
    hint = FORMAT_HINTS.get(error.validator_value) if error.validator == "format" else None
    return f"{error.message}; {hint}" if hint else error.message


def payload_errors(transition: Transition, payload: Any) -> list[tuple[str, str]]:
    """(path, message) for every way the payload breaks the schema, a malformed date with the format it needs;
    empty when it is valid."""
    errors = sorted(_validator(transition).iter_errors(payload), key=lambda e: list(e.absolute_path))
    return [("/".join(str(p) for p in error.absolute_path) or "(payload)", _message(error)) for error in errors]
