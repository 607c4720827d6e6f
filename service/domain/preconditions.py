"""The guards' declared preconditions on a case alone (``needs_settings``, beside each guard in
``workflows.guards``) as SQL clauses on the case row, so a list narrows its candidates before the engine's checks
run on each. A clause never leaves out a case the guard would let through: a setting is read from the settings the
case was opened under (``Case.pinned``) and, where the case pinned none, from the defaults its definition and
profile give (``CaseFile.settings``); which guards apply and who may act stays with the engine and ``authority``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_

from service.persistence.tables import Case


def setting_on(name: str, default: Any) -> ColumnElement[bool]:
    """The case's setting ``name`` is on: pinned true, or not pinned and on by ``default``."""
    return func.coalesce(Case.pinned["settings"][name].as_boolean(), bool(default))


def in_step_states(steps: Iterable[tuple[Iterable[str], Iterable[tuple[str, bool]]]]) -> ColumnElement[bool]:
    """Cases in a state opening one of ``steps``, each given as its states and the settings its guards need on
    (with their defaults)."""
    return or_(
        *(
            and_(Case.state.in_(sorted(states)), *(setting_on(name, default) for name, default in needed))
            for states, needed in sorted(steps, key=repr)
        )
    )
