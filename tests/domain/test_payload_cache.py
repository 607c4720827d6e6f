"""The engine judges an empty payload (the sweeper's lapse and expire) once per transition
(``checks._payload_errors``): its answer is the schema's own, for every transition of every definition shipped, and
a payload that is not empty is judged afresh every time."""

from __future__ import annotations

from service.domain.cases.checks import _payload_errors
from workflows.payloads import payload_errors
from workflows.registry import default_registry


def test_an_empty_payload_is_judged_as_the_schema_judges_it() -> None:
    transitions = [t for procedure in default_registry().procedures.values() for t in procedure.definition.transitions]
    assert transitions
    for transition in transitions:
        expected = payload_errors(transition, {})
        assert _payload_errors(transition, {}) == expected
        assert _payload_errors(transition, {}) == expected  # from the cache the second time
    refused = [t for t in transitions if payload_errors(t, {})]
    assert refused, "some transition requires a field: an empty payload is refused"


def test_a_payload_that_is_not_empty_is_judged_every_time() -> None:
    transition = next(
        t
        for procedure in default_registry().procedures.values()
        for t in procedure.definition.transitions
        if payload_errors(t, {})
    )
    wrong = {"unexpected": object()}
    assert _payload_errors(transition, wrong) == payload_errors(transition, wrong)
    assert _payload_errors(transition, wrong) != []
