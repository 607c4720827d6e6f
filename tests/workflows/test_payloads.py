"""The payload check's two validators (``workflows.payloads``): every shipped schema has a compiled one
(jsonschema-rs), and it never accepts what the Python validator refuses; the answers (paths, messages) are the
Python validator's, payloads valid or not."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from workflows import payloads
from workflows.payloads import _FORMATS, _Validator, compiled_validator, payload_errors
from workflows.registry import default_registry
from workflows.schema import Transition, payload_json_schema


def _transitions() -> list[Transition]:
    found = []
    for procedure in default_registry().procedures.values():
        definition = procedure.definition
        found += definition.transitions
        if definition.indicator_process is not None:
            found += definition.indicator_process.transitions
    return found


TRANSITIONS = _transitions()
ODD_VALUES: list[Any] = [
    1,
    1.0,
    1.5,
    True,
    None,
    "x",
    "",
    "\ud800",
    [],
    [1.0],
    (),
    ("a",),
    {},
    {"number": "1", "date": "2026-01-01"},
    {"number": "1", "date": "2026-01-01", "extra": 1},
    "2026-01-01",
    "2026-1-01",
    "0000-01-01",
    "2026-02-30",
    "20260101",
    "2026-01-01T09:00:00",
    "2026-01-01T09:00:00+07:00",
    "2026-01-01 09:00+07:00",
    "2026-W01-1T09:00Z",
    2**70,
    float("nan"),
]


def _python_errors(transition: Transition, payload: Any) -> list[tuple[str, str]]:
    validator = _Validator(payload_json_schema(transition.payload), format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    return [("/".join(str(p) for p in e.absolute_path) or "(payload)", payloads._message(e)) for e in errors]


def _is_json(payload: Any) -> bool:
    try:
        json.dumps(payload, allow_nan=False)
    except ValueError:
        return False
    return True


def _variants(payload: dict[str, Any]) -> list[Any]:
    """The payload, then each of its fields (and each field of a nested object or the first item of a list) set
    to each odd value, dropped, and an unknown field beside them."""
    out: list[Any] = [payload, {**payload, "unexpected": 1}, {}]
    for name, value in payload.items():
        out.append({k: v for k, v in payload.items() if k != name})
        for odd in ODD_VALUES:
            out.append({**payload, name: odd})
            if isinstance(value, dict):
                for inner in value:
                    out.append({**payload, name: {**value, inner: odd}})
            if isinstance(value, list) and value:
                changed = copy.deepcopy(value)
                changed[0] = odd
                out.append({**payload, name: changed})
                if isinstance(value[0], dict):
                    for inner in value[0]:
                        changed = copy.deepcopy(value)
                        changed[0][inner] = odd
                        out.append({**payload, name: changed})
    return out


def test_every_shipped_schema_compiles() -> None:
    assert TRANSITIONS
    for transition in TRANSITIONS:
        schema = payload_json_schema(transition.payload)
        assert compiled_validator(schema) is not None, transition.trigger


@pytest.mark.parametrize("transition", TRANSITIONS, ids=lambda t: t.trigger)
def test_the_answer_is_the_python_validators(transition: Transition) -> None:
    compiled = compiled_validator(payload_json_schema(transition.payload))
    base = copy.deepcopy(transition.example) if isinstance(transition.example, dict) else {}
    for payload in _variants(base):
        expected = _python_errors(transition, payload)
        assert payload_errors(transition, payload) == expected, payload
        if payloads._valid(compiled, payload):
            assert expected == [], f"the compiled validator accepted what the Python one refuses: {payload!r}"
        elif _is_json(payload):  # the same verdict on what a body can carry (NaN: only the Python one accepts it)
            assert expected != [], f"the compiled validator refused a valid payload: {payload!r}"


def test_where_the_libraries_differ_the_compiled_one_is_told() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "a": {"type": "array", "items": {"type": "string"}},
            "d": {"type": "string", "format": "date"},
            "t": {"type": "string", "format": "date-time"},
        },
        "additionalProperties": False,
    }
    compiled = compiled_validator(schema)
    assert compiled.is_valid({"n": 1, "a": ["x"], "d": "2026-01-15", "t": "2026-01-15T09:00:00+07:00"})
    for refused in ({"n": 1.0}, {"n": True}, {"a": ("x",)}, {"d": "0000-01-01"}, {"t": "2026-01-15T09:00:00"}):
        assert not compiled.is_valid(refused), refused
    # jsonschema-rs reads the first two as valid; the Python validator refuses them
    assert compiled_validator({"type": "object", "allOf": [{}]}) is None  # a keyword not walked: Python only
    assert compiled_validator({"type": ["integer", "null"]}) is None
