"""What the service gathers into a payload before a trigger fires, instead of the caller: a definition's collector
(e.g. the annual report's snapshot) and an indicator's figures the law defines by other cases.

Collectors register here by name (``@collector("report_snapshot")`` in ``service/domain/reports.py``); this module
imports none of them, so the engine does not depend on what it collects (no cycle engine → reports → replay →
engine). The app registers them by importing the modules that define them (``service/api/reports.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.cases.casefile import CaseFile
from service.domain.errors import GuardFailed, InvalidPayload, Reason
from service.domain.units.recognitions import DEFAULT_TC41_RULE, count_recognised_subordinates, inheritance
from workflows.registry import Registry
from workflows.schema import Transition

Collector = Callable[[AsyncSession, Registry, CaseFile, datetime], Awaitable[dict[str, Any]]]
COLLECTORS: dict[str, Collector] = {}


def collector(name: str) -> Callable[[Collector], Collector]:
    """Register a collector: service code that gathers, before a transition fires, payload fields the caller
    does not supply (reads only; e.g. the annual report's snapshot)."""

    def register(fn: Collector) -> Collector:
        COLLECTORS[name] = fn
        return fn

    return register


async def _collect(
    session: AsyncSession,
    registry: Registry,
    cf: CaseFile,
    transition: Transition,
    payload: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    collect = COLLECTORS.get(transition.collector)
    if collect is None:  # a deployment error: the module defining it was not imported
        raise LookupError(f"{transition.trigger} needs the collector {transition.collector}, which is not registered")
    collected = await collect(session, registry, cf, now)
    clash = sorted(set(payload) & set(collected))
    if clash:
        raise InvalidPayload(
            f"{', '.join(clash)} are computed by the service, not sent",
            reasons=[Reason("payload_invalid", f"{name}: computed by the service") for name in clash],
        )
    return {**payload, **collected}


async def _computed_figures(
    session: AsyncSession, cf: CaseFile, indicator: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """An indicator the law defines by other cases (TT25/2023 Điều 11 k4 a: "ít nhất 90% số xã được công nhận")
    gets its figures from the database, never from the caller."""
    definition = cf.procedure.definition
    measure = definition.indicator(indicator).measure
    if measure.kind != "recognised_share":
        return payload
    if "figures" in payload:
        raise InvalidPayload(
            f"the figures of {indicator} are computed by the service, not sent",
            reasons=[Reason("payload_invalid", "figures: computed from the recognitions on record")],
        )
    settings = cf.settings
    # A source may be used only where a setting turns it on (the province's communes after the reform).
    sources = [s for s in measure.of or [] if not s.get("setting") or settings.get(s["setting"]) is True]
    off = [s["setting"] for s in measure.of or [] if s not in sources]
    count = await count_recognised_subordinates(
        session,
        unit_code=cf.case.unit_code,
        cycle=cf.case.cycle,
        sources=sources,
        levels=definition.levels,
        policy=inheritance(settings),
        rule=settings.get("tc41_counts") or DEFAULT_TC41_RULE,
    )
    if count is None:
        kinds = " or ".join(f"{source['unit_level']}s" for source in sources) or "units"
        unset = f"; not counted unless the profile turns on {', '.join(off)}" if off else ""
        raise GuardFailed(
            f"{indicator} cannot be computed: {cf.case.unit_code} has no {kinds} on record for cycle "
            f"{cf.case.cycle}{unset}",
            reasons=[
                Reason("no_subordinate_units", f"no {kinds} under {cf.case.unit_code} in cycle {cf.case.cycle}{unset}")
            ],
        )
    figures = {"units": count.units, "recognised": count.recognised, "source": count.source, "rule": count.rule}
    return {**payload, "figures": {**figures, "as_of": count.as_of.isoformat()}}


async def gather(
    session: AsyncSession,
    registry: Registry,
    cf: CaseFile,
    transition: Transition,
    payload: dict[str, Any],
    *,
    indicator: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The payload with what the service gathers for this transition (unchanged when it gathers nothing)."""
    if transition.collector is not None:
        payload = await _collect(session, registry, cf, transition, payload, now)
    if indicator is not None and "figures" in transition.payload:
        payload = await _computed_figures(session, cf, indicator, payload, now)
    return payload
