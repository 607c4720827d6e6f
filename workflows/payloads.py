"""Validation of a transition's payload against the JSON Schema compiled from its definition."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from workflows.schema import Transition, payload_json_schema

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(date.fromisoformat(value)) and len(value) == 10


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


_VALIDATORS: dict[int, tuple[Transition, Draft202012Validator]] = {}


def _validator(transition: Transition) -> Draft202012Validator:
    # Keyed by identity: definitions are loaded once and live as long as the process.
    cached = _VALIDATORS.get(id(transition))
    if cached is None or cached[0] is not transition:
        cached = (transition, Draft202012Validator(payload_json_schema(transition.payload), format_checker=_FORMATS))
        _VALIDATORS[id(transition)] = cached
    return cached[1]


def payload_errors(transition: Transition, payload: Any) -> list[tuple[str, str]]:
    """(path, message) for every way the payload breaks the schema; empty when it is valid."""
    errors = sorted(_validator(transition).iter_errors(payload), key=lambda e: list(e.absolute_path))
    return [("/".join(str(p) for p in error.absolute_path) or "(payload)", error.message) for error in errors]
