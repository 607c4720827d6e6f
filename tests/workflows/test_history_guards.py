"""A case file is read with the unit's recognitions on record only for triggers whose guards (or those of what may
follow them) read them: every guard that reads them must say so, or it would be run on none."""

from __future__ import annotations

import dis
from datetime import date

import pytest

from service.domain.cases.casefile import history_needed
from workflows.guards.registry import GUARDS
from workflows.registry import default_registry


def _reads_prior(fn) -> bool:  # type: ignore[no-untyped-def]
    return any(
        instruction.argval == "prior_recognitions"
        for code in (fn.__code__, *(c for c in fn.__code__.co_consts if hasattr(c, "co_code")))
        for instruction in dis.get_instructions(code)
    )


@pytest.mark.parametrize("name", sorted(GUARDS))
def test_a_guard_that_reads_recognitions_is_marked_history(name: str) -> None:
    guard = GUARDS[name]
    assert guard.history == _reads_prior(guard.check), f"{name}: history={guard.history}"


def test_marked_guards_exist_so_the_check_above_can_fail() -> None:
    assert {name for name, guard in GUARDS.items() if guard.history} >= {
        "is_kind_consistent_with_history",
        "is_upgrade_interval_met",
    }


def test_commune_triggers_that_need_recognitions() -> None:
    definition = default_registry().current("cdht_xa", date(2026, 1, 1)).definition
    assert history_needed(definition, "submit_dossier", None)  # its own guard reads them
    assert not history_needed(definition, "lapse", None)  # the sweeper's lapse: a terminal state, no guard
    assert history_needed(definition, "no_such_trigger", None)
