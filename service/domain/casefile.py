"""Everything known about a case at one moment, loaded before any decision is taken.

The engine reads the database here, once, then decides on frozen values (DESIGN.md contract 2): the guard
context and the authority context are built from a ``CaseFile`` without further I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.digest import case_state_digest, recorded_digest_holds
from service.domain.authority import AuthorityContext, UnitPath
from service.domain.errors import Conflict, NotFound, Reason
from service.domain.recognitions import inheritance, prior_recognitions
from service.domain.unit_paths import unit_paths
from service.persistence.tables import AdminUnit, Case, CaseIndicator, Deadline, Evidence
from workflows.criteria import IndicatorRecord
from workflows.guards.registry import DeadlineView, GuardContext, PriorRecognition, reads_history
from workflows.registry import Procedure, Registry
from workflows.schema import Definition, Profile


@dataclass
class CaseFile:
    case: Case
    procedure: Procedure
    profile: Profile
    unit: AdminUnit
    units: UnitPath
    indicator_rows: dict[str, CaseIndicator]
    evidence: list[Evidence]
    deadlines: dict[str, Deadline]
    prior: tuple[PriorRecognition, ...] | None  # None: not read (load_case_file, for a trigger that needs none)

    @property
    def evidence_counts(self) -> dict[str, int]:
        return dict(Counter(row.indicator_code for row in self.evidence))

    def indicator_row(self, code: str) -> CaseIndicator:
        """The case's record of an indicator; 404 when the indicator is not assigned in this case."""
        row = self.indicator_rows.get(code)
        if row is None:
            raise NotFound(
                f"indicator {code} is not assigned in case {self.case.id}",
                reasons=[Reason("indicator_unknown", f"{code} has no record in this case")],
            )
        return row

    def state_digest(self) -> str:
        return case_state_digest(self.case, self.indicator_rows.values(), self.deadlines.values(), self.evidence)

    def holds_recorded_digest(self, recorded: str | None) -> bool:
        """Whether this case file is what an event's recorded digest says, in that digest's version."""
        return recorded_digest_holds(
            recorded, self.case, self.indicator_rows.values(), self.deadlines.values(), self.evidence
        )

    @property
    def settings(self) -> dict[str, Any]:
        """The settings the case was opened under (pinned), else those in force now."""
        pinned = (self.case.pinned or {}).get("settings")
        if pinned is not None:
            return dict(pinned)
        return {**self.procedure.definition.default_settings(), **self.profile.default_settings()}

    @property
    def disadvantaged(self) -> bool:
        """Whether the unit counted as disadvantaged when the case was opened (TC5.2 thresholds)."""
        pinned = (self.case.pinned or {}).get("disadvantaged")
        return self.unit.disadvantaged if pinned is None else bool(pinned)

    @property
    def indicators(self) -> dict[str, IndicatorRecord]:
        counts = self.evidence_counts
        return {
            code: IndicatorRecord(code, row.state, row.assignee_org, row.rating, row.figures, counts.get(code, 0))
            for code, row in self.indicator_rows.items()
        }

    def guard_context(
        self, *, trigger: str, payload: dict[str, Any], now: datetime, indicator: str | None = None
    ) -> GuardContext:
        records = self.indicators
        return GuardContext(
            definition=self.procedure.definition,
            trigger=trigger,
            state=self.case.state,
            kind=self.case.kind,
            cycle=self.case.cycle,
            now=now,
            payload=payload,
            settings=self.settings,
            target_level=self.case.target_level,
            requested_level=self.case.requested_level,
            disadvantaged=self.disadvantaged,
            dossier=self.case.dossier or {},
            indicators=records,
            indicator=records.get(indicator) if indicator else None,
            deadlines={
                key: DeadlineView(key, row.due_at, row.status, row.explanation)
                for key, row in self.deadlines.items()
                if row.status == "open"
            },
            prior_recognitions=self._prior_for(trigger, indicator),
        )

    def _prior_for(self, trigger: str, indicator: str | None) -> tuple[PriorRecognition, ...]:
        if self.prior is not None:
            return self.prior
        definition = self.procedure.definition
        transition = definition.indicator_transition(trigger) if indicator else definition.transition(trigger)
        if transition is not None and reads_history(transition.guards):
            # load_case_file decided this trigger needs no recognitions; a guard that does must not see none.
            raise RuntimeError(f"{trigger}: the case file was read without the unit's recognitions")
        return ()

    def authority_context(self, indicator: str | None = None, on: date | None = None) -> AuthorityContext:
        row = self.indicator_rows.get(indicator) if indicator else None
        council = ((self.case.dossier or {}).get("form_council") or {}).get("members") or ()
        return AuthorityContext(
            self.profile, self.units, row.assignee_org if row else None, tuple(council), self.case.subject or None, on
        )


def known_case(case: Case | None, case_id: str) -> Case:
    """The case, or 404 naming the id asked for."""
    if case is None:
        raise NotFound(f"case {case_id} does not exist", reasons=[Reason("case_unknown", f"no case has id {case_id}")])
    return case


async def unit_path(session: AsyncSession, unit_code: str) -> tuple[AdminUnit, UnitPath]:
    """The unit and its ancestors, nearest first, in one query (``unit_paths``); 404 when the unit does not exist."""
    found = (await unit_paths(session, [unit_code])).get(unit_code)
    if found is None:
        raise NotFound(
            f"administrative unit {unit_code} does not exist",
            reasons=[Reason("unit_unknown", f"no administrative unit has code {unit_code}")],
        )
    return found


def history_needed(definition: Definition, trigger: str, indicator: str | None) -> bool:
    """Whether firing ``trigger``, or telling what may be fired after it, runs a guard that reads the unit's
    recognitions on record (unknown triggers: yes, the engine refuses them anyway)."""
    transition = definition.indicator_transition(trigger) if indicator else definition.transition(trigger)
    if transition is None:
        return True
    if indicator:
        after = set(definition.indicator_process.case_states)
    else:
        after = set(transition.source) if transition.dest == "=" else {transition.dest}
    following = (t.guards for t in definition.transitions if after & set(t.source))
    return reads_history(transition.guards) or any(reads_history(guards) for guards in following)


def resolve(registry: Registry, case: Case) -> tuple[Procedure, Profile]:
    procedure = registry.get(case.procedure, case.version)
    profile = registry.profiles.get(case.profile)
    if procedure is None or profile is None:
        # A case pins its definition and profile; losing either is a deployment error worth saying plainly.
        raise Conflict(
            f"case {case.id} is pinned to {case.procedure}/{case.version} with profile {case.profile}, "
            "which this deployment no longer ships",
            reasons=[Reason("definition_missing", "the pinned definition or profile is not loaded")],
        )
    return procedure, profile


async def load_case_file(
    session: AsyncSession,
    registry: Registry,
    case_id: str,
    *,
    lock: bool,
    trigger: str | None = None,
    indicator: str | None = None,
) -> CaseFile:
    """The case file. For a write of ``trigger`` (on ``indicator``), the unit's recognitions on record (a
    succession walk and a query) are read only when a guard of that trigger, or of what may follow it, reads them."""
    query = select(Case).where(Case.id == case_id)
    if lock:
        # SELECT … FOR UPDATE on PostgreSQL; SQLite holds the write lock since BEGIN IMMEDIATE.
        query = query.with_for_update().execution_options(populate_existing=True)
    case = known_case((await session.execute(query)).scalar_one_or_none(), case_id)
    procedure, profile = resolve(registry, case)
    unit, units = await unit_path(session, case.unit_code)
    rows = (await session.execute(select(CaseIndicator).where(CaseIndicator.case_id == case.id))).scalars().all()
    evidence = (await session.execute(select(Evidence).where(Evidence.case_id == case.id))).scalars().all()
    deadlines = (await session.execute(select(Deadline).where(Deadline.case_id == case.id))).scalars().all()
    prior = None
    if trigger is None or history_needed(procedure.definition, trigger, indicator):
        prior = await prior_recognitions(
            session,
            unit_code=case.unit_code,
            procedure=case.procedure,
            subject=case.subject,
            exclude_case=case.id,
            policy=inheritance((case.pinned or {}).get("settings")),
        )
    return CaseFile(
        case=case,
        procedure=procedure,
        profile=profile,
        unit=unit,
        units=units,
        indicator_rows={row.code: row for row in rows},
        evidence=list(evidence),
        deadlines={row.key: row for row in deadlines},
        prior=prior,
    )
