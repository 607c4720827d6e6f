"""The guard registry and what a guard reads and returns: ``GuardContext`` in, ``Verdict`` out.

A guard is a named pure function ``(GuardContext) -> Verdict``, each refusal with a readable reason. All I/O happens
before a guard runs; the engine collects what the guards need into a frozen ``GuardContext``. A guard declares the
payload fields it reads (``reads``) so that loading a definition that uses it without declaring those fields fails,
and whether it reads the unit's recognitions on record (``history``).

This module owns the registry (``GUARDS``, the ``guard`` decorator) and running guards; the guards themselves live
in the sibling modules, which ``workflows.guards`` imports, so any import of this package registers all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from workflows.criteria import Assessment, IndicatorRecord, assess
from workflows.schema import Definition, Indicator


@dataclass(frozen=True)
class Verdict:
    ok: bool
    code: str = ""
    message: str = ""  # English
    message_vi: str | None = None  # Vietnamese, when the guard wrote it (else the code's registered meaning leads)


PASS = Verdict(True)


def fail(code: str, message: str, vi: str | None = None) -> Verdict:
    return Verdict(False, code, message, vi)


@dataclass(frozen=True)
class DeadlineView:
    key: str
    due_at: datetime
    status: str
    explanation: str = ""


@dataclass(frozen=True)
class PriorRecognition:
    """A recognition the case's unit (or a unit it continues) already holds under the same procedure."""

    case_id: str
    level: int
    decided_on: date
    valid_until: date | None = None
    unit_code: str = ""


@dataclass(frozen=True)
class GuardContext:
    definition: Definition
    trigger: str
    state: str
    kind: str
    cycle: int
    now: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    target_level: int | None = None
    requested_level: int | None = None
    disadvantaged: bool = False
    dossier: Mapping[str, Any] = field(default_factory=dict)  # payloads of earlier transitions, by trigger
    indicators: Mapping[str, IndicatorRecord] = field(default_factory=dict)
    indicator: IndicatorRecord | None = None
    deadlines: Mapping[str, DeadlineView] = field(default_factory=dict)
    prior_recognitions: tuple[PriorRecognition, ...] = ()
    subject: str = ""  # the organisation a case is about (TT24), "" for a unit's own case
    subject_kind: str | None = None  # its kind (TT24/2023 Điều 2 k1–4), whose traits decide which indicators apply
    # ``assess`` of this context's definition, indicators, disadvantaged and subject_kind, by one who keeps it (a
    # case file reuses one assessment across the contexts it builds while its records stay the same); None: here.
    assessor: Callable[[], Assessment] | None = field(default=None, compare=False, repr=False)

    @cached_property
    def assessment(self) -> Assessment:
        if self.assessor is not None:
            return self.assessor()
        return assess(
            self.definition, self.indicators, disadvantaged=self.disadvantaged, subject_kind=self.subject_kind
        )

    @property
    def indicators_in_scope(self) -> list[Indicator]:
        """The definition's indicators that apply to what the case is about (all of them but for a TT24 case)."""
        return self.definition.applicable_indicators(self.subject_kind)


@dataclass(frozen=True)
class Guard:
    name: str
    check: Callable[[GuardContext], Verdict]
    reads: tuple[str, ...]
    doc: str
    history: bool = False  # reads ctx.prior_recognitions: the case file must be read with the unit's recognitions
    shape: bool = False  # judges the payload's shape (what JSON Schema of one transition cannot say): a 422
    # Settings that must be on for the guard to pass, whatever the payload: a precondition on the case alone, which
    # a list may apply as a filter on the cases' pinned settings before running the guard on each (it refuses
    # every case where one of them is off).
    needs_settings: tuple[str, ...] = ()


GUARDS: dict[str, Guard] = {}


def guard(
    name: str,
    *,
    reads: tuple[str, ...] = (),
    history: bool = False,
    shape: bool = False,
    needs_settings: tuple[str, ...] = (),
) -> Callable[[Callable[[GuardContext], Verdict]], Callable]:
    """Register a guard. ``shape``: it judges whether the payload is well-formed (e.g. an indicator's figures,
    whose shape depends on the indicator), so its refusal is a malformed payload (422) judged with the payload's
    schema, before the guards that judge the case against the law (409). ``needs_settings``: the settings without
    which it refuses any case (declared beside the guard; tests hold every guard to its declaration)."""

    def register(fn: Callable[[GuardContext], Verdict]) -> Callable[[GuardContext], Verdict]:
        known = GUARDS.get(name)
        if known and (known.check.__module__, known.check.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"guard {name!r} registered twice ({GUARDS[name].check.__module__}, {fn.__module__})")
        if needs_settings and (reads or shape):  # judged without a payload, as a filter on the case alone is
            raise ValueError(f"guard {name!r}: needs_settings only for a guard that reads no payload")
        GUARDS[name] = Guard(name, fn, reads, (fn.__doc__ or "").strip(), history, shape, needs_settings)
        return fn

    return register


def settings_needed(names: Iterable[str]) -> tuple[str, ...]:
    """The settings these guards need on (``needs_settings``): off in a case's settings, one of them refuses it."""
    return tuple(sorted({setting for name in names if name in GUARDS for setting in GUARDS[name].needs_settings}))


def reads_history(names: Iterable[str]) -> bool:
    """Whether any of these guards reads the unit's recognitions on record (``ctx.prior_recognitions``)."""
    return any(GUARDS[name].history for name in names if name in GUARDS)


def is_shape_guard(name: str) -> bool:
    return name in GUARDS and GUARDS[name].shape


def run_guards(names: list[str], ctx: GuardContext) -> list[Verdict]:
    """Every failing verdict, in the definition's order (all are run, so a refusal lists every reason)."""
    return [verdict for verdict in (GUARDS[name].check(ctx) for name in names) if not verdict.ok]
