"""service/persistence/fast_init.py builds exactly what SQLModel's own constructor builds: the same values (given and
defaulted, a default factory called per row), the same pydantic bookkeeping, the same pending changes for
SQLAlchemy; and a row built so is inserted and read back like any other (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlmodel import SQLModel

from service.persistence.tables import AdminUnit, AuditEvent, Case, Deadline, OutboxMessage
from tests.helpers import Api

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
ROWS: list[tuple[type[SQLModel], dict[str, Any]]] = [
    (
        Deadline,
        dict(
            case_id="c-1",
            key="submission",
            due_at=NOW,
            status="open",
            on_breach="fire",
            rule="fixed_date",
            calendar_version="vn-1",
            explanation="28/02",
            citation="TT25 Điều 5",
            opened_at=NOW,
        ),
    ),
    (
        Case,
        dict(
            id="c-1",
            procedure="cdht_xa",
            version="1",
            profile="p",
            unit_code="C1",
            cycle=2025,
            kind="first",
            state="planning",
            target_level=1,
            pinned={"settings": {"a": 1}},
            opened_by="x",
            created_at=NOW,
            updated_at=NOW,
        ),
    ),
    (
        AuditEvent,
        dict(
            uid="u-1",
            chain="case:c-1",
            seq=1,
            case_id="c-1",
            kind="transition",
            trigger="lapse",
            actor_sub="s",
            actor_name="n",
            occurred_at=NOW,
            payload="{}",
            prev_hash="0" * 64,
            hash="1" * 64,
        ),
    ),
    (
        OutboxMessage,
        dict(event_uid="u-1", case_id="c-1", seq=1, type="case.transitioned", body={"a": 1}, created_at=NOW),
    ),
    (AdminUnit, dict(code="C1", name="Xã Một", level="commune", parent_code="D1", valid_from=NOW.date())),
]


def _by_sqlmodel(cls: type[SQLModel], values: dict[str, Any]) -> Any:
    """The same row built by SQLModel's constructor (the state SQLAlchemy's __init__ would make, then SQLModel's)."""
    row = cls.__new__(cls)
    cls._sa_class_manager._new_state_if_none(row)  # type: ignore[attr-defined]
    SQLModel.__init__(row, **values)
    return row


@pytest.mark.parametrize(("cls", "values"), ROWS, ids=[cls.__name__ for cls, _ in ROWS])
def test_fast_init_builds_what_sqlmodel_builds(cls: type[SQLModel], values: dict[str, Any]) -> None:
    assert getattr(cls._sa_class_manager.original_init, "_cdht_fast", False)  # type: ignore[attr-defined]
    fast, slow = cls(**values), _by_sqlmodel(cls, values)
    assert {k: v for k, v in fast.__dict__.items() if k != "_sa_instance_state"} == {
        k: v for k, v in slow.__dict__.items() if k != "_sa_instance_state"
    }
    assert fast.__pydantic_fields_set__ == slow.__pydantic_fields_set__
    assert fast.model_dump() == slow.model_dump()
    assert fast.__pydantic_extra__ is None and fast.__pydantic_private__ is None
    fast_state, slow_state = inspect(fast), inspect(slow)
    assert set(fast_state.committed_state) == set(slow_state.committed_state)
    assert fast_state.committed_state == slow_state.committed_state  # the previous values: none, as SQLAlchemy's
    assert fast_state.modified == slow_state.modified and fast_state.transient


def test_default_factories_give_each_row_its_own_value() -> None:
    values = dict(ROWS[0][1])
    first, second = Deadline(**values), Deadline(**values)
    assert first.inputs == {} and first.inputs is not second.inputs


async def test_a_row_built_fast_is_stored_and_read_back(api: Api) -> None:
    case_id, _ = await api.new_case("C1", 2025)
    sessions = api.app.state.services.sessions
    values = {**ROWS[0][1], "case_id": case_id, "key": "extra"}
    async with sessions() as session:
        session.add(Deadline(**values))
        await session.commit()
    async with sessions() as session:
        row = (
            await session.execute(select(Deadline).where(Deadline.case_id == case_id, Deadline.key == "extra"))
        ).scalar_one()
        assert (row.due_at, row.inputs, row.status, row.closed_at) == (NOW, {}, "open", None)


# A column of each row set again, as the engine sets them (a state, a status, a time, a JSON value).
CHANGES: dict[type[SQLModel], dict[str, Any]] = {
    Deadline: {"status": "met", "closed_at": NOW, "inputs": {"b": 2}},
    Case: {"state": "submitted", "dossier": {"submit": {}}, "row_version": 2, "updated_at": NOW},
    AuditEvent: {"seq": 2},
    OutboxMessage: {"body": {"b": 2}},
    AdminUnit: {"name": "Xã Hai"},
}


@pytest.mark.parametrize(("cls", "values"), ROWS, ids=[cls.__name__ for cls, _ in ROWS])
def test_a_column_set_as_sqlmodel_sets_it(cls: type[SQLModel], values: dict[str, Any]) -> None:
    assert cls.__setattr__ is not SQLModel.__setattr__  # fast_init's setter installed
    fast, slow = cls(**values), cls(**values)
    for row in (fast, slow):
        inspect(row).committed_state.clear()  # as if read from the database: nothing pending
        inspect(row).modified = False
    for name, value in CHANGES.get(cls, {}).items():
        setattr(fast, name, value)
        SQLModel.__setattr__(slow, name, value)
    assert {k: v for k, v in fast.__dict__.items() if k != "_sa_instance_state"} == {
        k: v for k, v in slow.__dict__.items() if k != "_sa_instance_state"
    }
    assert fast.__pydantic_fields_set__ == slow.__pydantic_fields_set__
    fast_state, slow_state = inspect(fast), inspect(slow)
    assert fast_state.committed_state == slow_state.committed_state and set(fast_state.committed_state) == set(
        CHANGES.get(cls, {})
    )
    assert fast_state.modified == slow_state.modified


def test_a_name_that_is_not_a_column_goes_to_sqlmodel() -> None:
    row = Deadline(**ROWS[0][1])
    with pytest.raises(ValueError):  # pydantic: no such field
        row.not_a_column = 1
