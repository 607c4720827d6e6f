"""A faster constructor for the rows the write tail creates by the thousand (a case, its deadlines, indicators and
evidence, audit events, outbox rows, reminders): what SQLModel's constructor does for a table model, without its
per-field detours.

SQLModel builds a table model field by field through its own ``__setattr__``, which asks for each field whether the
class is a table model and the attribute instrumented, sets it through SQLAlchemy, then again through pydantic's
``__setattr__`` (about 20 µs a field: a third of the CPU of a batched lapse or opening). ``fast_init`` does the
same in one pass: each field given, or its default (a ``default_factory`` called), set through SQLAlchemy's
attribute implementation (so the new row is pending-modified as before), then the pydantic bookkeeping
(``__pydantic_fields_set__``: the fields given; no extra, no private attributes). Values are not validated, as
SQLModel does not validate a table model either. It takes the place of SQLAlchemy's ``original_init`` for the
classes given (the constructor SQLAlchemy's instrumented ``__init__`` calls once it has made the instance's state),
and steps aside when SQLModel builds an instance for validation (``finish_init`` unset), as SQLModel's does.
The same classes set a column afterwards (a case's state, a deadline's status: ~18 a transition) in one step too
(``fast_setattr``: SQLAlchemy's set, then pydantic's bookkeeping, as SQLModel's ``__setattr__`` does them).
tests/domain/test_fast_init.py checks that both build exactly what SQLModel's own code builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import attributes
from sqlalchemy.orm.base import NO_VALUE
from sqlmodel import SQLModel
from sqlmodel._compat import finish_init

_MISSING = object()


_PLAIN = (str, int, float, bool, bytes)


def _fields(cls: type[SQLModel]) -> tuple[tuple[str, Any, Callable[[], Any] | None, bool], ...]:
    """Each field: name, its default when it is a plain value (None, a string, a number), else how to make one
    (pydantic's ``get_default``: a factory called, a mutable default copied), and whether it must be given."""
    out = []
    for name, field in cls.model_fields.items():
        required = field.is_required()
        plain = (
            not required
            and field.default_factory is None
            and (field.default is None or isinstance(field.default, _PLAIN))
        )
        make = None if required or plain else (lambda field=field: field.get_default(call_default_factory=True))
        out.append((name, field.default if plain else None, make, required))
    return tuple(out)


def install(*classes: type[SQLModel]) -> None:
    """Build instances of ``classes`` with ``fast_init``, and set their columns with ``fast_setattr``."""
    for cls in classes:
        manager = cls._sa_class_manager  # type: ignore[attr-defined]
        if getattr(manager.original_init, "_cdht_fast", False):
            continue
        manager.original_init = _constructor(cls, manager.original_init)
        setter = _setter(cls)
        if setter is not None:
            cls.__setattr__ = setter  # type: ignore[method-assign,assignment]


def _setter(cls: type[SQLModel]) -> Callable[[Any, str, Any], None] | None:
    """SQLModel's ``__setattr__`` for a column of ``cls`` in one step: the value set through SQLAlchemy (so the row
    is marked changed, as before), then pydantic's bookkeeping for a model field (the instance dict, the fields
    set: ``pydantic.main._model_field_setattr_handler``); without SQLModel's per-call questions (is the class a
    table, is the name instrumented) and pydantic's handler lookup. Anything else, a subclass's instance, or a class
    that validates assignments or is frozen: SQLModel's own."""
    sqlmodel_setattr = cls.__setattr__
    if cls.model_config.get("validate_assignment") or cls.model_config.get("frozen"):
        return None
    manager = cls._sa_class_manager  # type: ignore[attr-defined]
    relationships = cls.__sqlmodel_relationships__  # type: ignore[attr-defined]
    columns = frozenset(
        name for name in cls.model_fields if name not in relationships and manager.is_instrumented(name, search=True)
    )

    def fast_setattr(self: Any, name: str, value: Any) -> None:
        if name in columns and type(self) is cls:
            attributes.set_attribute(self, name, value)
            self.__dict__[name] = value
            self.__pydantic_fields_set__.add(name)
            return
        sqlmodel_setattr(self, name, value)

    return fast_setattr


def _constructor(cls: type[SQLModel], sqlmodel_init: Callable[..., None]) -> Callable[..., None]:
    fields = _fields(cls)
    manager = cls._sa_class_manager  # type: ignore[attr-defined]
    instrumented = {name: manager[name] for name, *_ in fields if name in manager}
    impls: dict[str, Any] = {}  # each column's attribute implementation, once the mappers are configured
    watched = [True]  # whether a listener watches a column (then every value goes through SQLAlchemy's set)
    if cls.__pydantic_post_init__ or cls.model_config.get("extra") == "allow" or cls.__sqlmodel_relationships__:
        return sqlmodel_init  # what this constructor leaves out matters to such a class: SQLModel's own

    def fast_init(self: Any, **data: Any) -> None:
        if not finish_init.get():
            return
        if not impls:
            found = {name: attribute.impl for name, attribute in instrumented.items()}
            if any(impl is None for impl in found.values()):  # not configured yet: SQLModel's way this time
                sqlmodel_init(self, **data)
                return
            impls.update(found)
            # A column with active history (a primary key's, which SQLAlchemy watches) asks for its previous value
            # before a set; a row being constructed has none to load (it is transient), so its previous value is
            # the one the direct path keeps: what the row's dict holds, else NO_VALUE.
            quiet = all(impl.send_modified_events and not impl.dispatch.set for impl in found.values())
            watched[:] = [not quiet]
        quiet = not watched[0]
        state = attributes.instance_state(self)
        dict_ = self.__dict__
        committed = state.committed_state
        # The first column through SQLAlchemy (the state marked modified); the others the same way without the call
        # when no listener watches them: the value stored, its previous value (none) kept as the committed one.
        direct = quiet and state._last_known_values is None and state.modified
        given = set()
        for name, default, factory, required in fields:
            value = data.get(name, _MISSING)
            if value is _MISSING:
                if required:
                    continue
                value = factory() if factory is not None else default
            else:
                given.add(name)
            impl = impls.get(name)
            if impl is None:
                dict_[name] = value
            elif direct:
                if name not in committed:
                    committed[name] = dict_.get(name, NO_VALUE)
                dict_[name] = value
            else:
                impl.set(state, dict_, value, None)
                direct = quiet and state._last_known_values is None and state.modified
        object.__setattr__(self, "__pydantic_fields_set__", given)
        object.__setattr__(self, "__pydantic_extra__", None)
        object.__setattr__(self, "__pydantic_private__", None)

    fast_init._cdht_fast = True  # type: ignore[attr-defined]
    return fast_init
