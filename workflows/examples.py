"""A transition's example payload for any cycle: the definition's ``example`` (written for its ``example_cycle``)
with every year in its text moved by the difference (``2025-01-15`` becomes ``2027-01-15`` for cycle 2027, and so
does "năm 2025" in a title). One source for the OpenAPI examples, the demo's walk and the tests' payloads."""

from __future__ import annotations

import copy
import re
from typing import Any

from workflows.schema import Definition, Transition

_YEAR = re.compile(r"(?<![0-9A-Za-z])(19|20)[0-9]{2}(?![0-9A-Za-z])")  # a year standing alone, not inside an id


def _moved(value: Any, years: int) -> Any:
    if isinstance(value, str):
        return _YEAR.sub(lambda m: str(int(m.group(0)) + years), value) if years else value
    if isinstance(value, dict):
        return {k: _moved(v, years) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, years) for v in value]
    return value


def transition_of(definition: Definition, trigger: str, *, indicator: bool = False) -> Transition:
    found = definition.indicator_transition(trigger) if indicator else definition.transition(trigger)
    if found is None:
        raise KeyError(f"{definition.key}/{definition.version} has no {'indicator ' if indicator else ''}{trigger}")
    return found


def example(definition: Definition, trigger: str, cycle: int | None = None, *, indicator: bool = False) -> dict:
    """The trigger's example payload, its years moved to ``cycle`` (the example's own cycle when None)."""
    transition = transition_of(definition, trigger, indicator=indicator)
    if transition.example is None:
        raise KeyError(f"{definition.key}/{definition.version}: {trigger} has no example")
    years = 0 if cycle is None or definition.example_cycle is None else cycle - definition.example_cycle
    return _moved(copy.deepcopy(transition.example), years)
