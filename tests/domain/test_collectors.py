"""Collectors register from the modules that define them (the engine imports none of them, so it does not depend on
what it collects); the app imports those modules, so every collector a shipped definition names is there."""

from __future__ import annotations

import service.main  # noqa: F401  (the app, as served: its routers import the modules that define collectors)
from service.domain.cases.collectors import COLLECTORS
from workflows.registry import default_registry


def test_every_collector_a_definition_names_is_registered_in_the_app() -> None:
    named = {
        transition.collector
        for procedure in default_registry().procedures.values()
        for transition in procedure.definition.transitions
        if transition.collector
    }
    assert named, "no shipped definition names a collector: this test checks nothing"
    assert named <= set(COLLECTORS), f"not registered: {sorted(named - set(COLLECTORS))}"
