"""Everything known about a case at one moment, loaded before any decision is taken.

The engine reads the database here, once, then decides on frozen values (DESIGN.md contract 2): the guard
context and the authority context are built from a ``CaseFile`` without further I/O. A write reads the case row
first (locked), resolves its trigger once in the pinned definition (``transition_of``), and reads the rest of the
file with the unit's recognitions only when that trigger, or what may follow it, has a guard that reads them.
"""

from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.digest import case_state_digest, recorded_digest_holds
from service.domain.authority import AuthorityContext, UnitPath
from service.domain.cases.file_rows import EvidenceRow, IndicatorRow, read_file_rows
from service.domain.errors import Conflict, NotFound, Reason, UnknownCase
from service.domain.units.recognitions import carriers, held_by, inheritance, lines_at
from service.domain.units.tree_cache import TREE_VERSION, unit_path_at
from service.persistence.loaded import LoadedValues
from service.persistence.tables import AdminUnit, Case, CaseIndicator, Deadline, Evidence
from workflows.criteria import Assessment, IndicatorRecord, assess
from workflows.guards.registry import DeadlineView, GuardContext, PriorRecognition, reads_history
from workflows.registry import Procedure, Registry
from workflows.schema import Definition, Profile, Transition

# An indicator's values its record holds, of a plain row or an ORM object (its loaded values).
_RECORDED = LoadedValues("state", "assignee_org", "rating", "figures")
# The case's values the guards judge.
_JUDGED = LoadedValues("state", "kind", "cycle", "target_level", "requested_level", "dossier", "subject")


@dataclass
class CaseFile:
    case: Case
    procedure: Procedure
    profile: Profile
    unit: AdminUnit
    units: UnitPath
    indicator_rows: dict[str, CaseIndicator | IndicatorRow]  # ORM objects, or plain rows where none may change
    evidence: list[Evidence | EvidenceRow]  # as read (``EvidenceRow``), then any an upload added (``Evidence``)
    deadlines: dict[str, Deadline]
    prior: tuple[PriorRecognition, ...] | None  # None: not read (load_case_file, for a trigger that needs none)

    @property
    def evidence_counts(self) -> dict[str, int]:
        """Files per indicator; counted again only when the list of evidence grew (it is only ever appended to)."""
        evidence = self.evidence
        cached = self.__dict__.get("_counts")
        if cached is not None and cached[0] is evidence and cached[1] == len(evidence):
            return cached[2]
        counts = dict(Counter(row.indicator_code for row in evidence))
        self.__dict__["_counts"] = (evidence, len(evidence), counts)
        return counts

    def indicator_row(self, code: str) -> CaseIndicator | IndicatorRow:
        """The case's record of an indicator; 404 when the indicator is not assigned in this case."""
        row = self.indicator_rows.get(code)
        if row is not None:
            return row
        definition = self.procedure.definition
        if definition.indicator(code) is None:
            where = f"{definition.key}/{definition.version}"
            known = ", ".join(i.code for i in definition.indicators) or "none"
            raise NotFound(
                f"{code} is not an indicator of {where}",
                reasons=[
                    Reason(
                        "indicator_unknown",
                        f"{where} has no indicator {code}; its indicators: {known}",
                        f"quy trình {where} không có chỉ tiêu {code}; các chỉ tiêu: {known}",
                    )
                ],
                detail_vi=f"quy trình {where} không có chỉ tiêu {code}",
            )
        raise NotFound(
            f"indicator {code} is not assigned in case {self.case.id}",
            reasons=[
                Reason(
                    "indicator_unknown",
                    f"{code} has no record in this case (indicators are assigned by assign_indicators)",
                    f"chỉ tiêu {code} chưa được phân công trong hồ sơ này (bước assign_indicators)",
                )
            ],
            detail_vi=f"chỉ tiêu {code} chưa được phân công trong hồ sơ này",
        )

    def state_digest(self) -> str:
        return case_state_digest(self.case, self.indicator_rows.values(), self.deadlines.values(), self.evidence)

    def holds_recorded_digest(self, recorded: str | None) -> bool:
        """Whether this case file is what an event's recorded digest says, in that digest's version."""
        return recorded_digest_holds(
            recorded, self.case, self.indicator_rows.values(), self.deadlines.values(), self.evidence
        )

    @property
    def settings(self) -> dict[str, Any]:
        """The settings the case was opened under (pinned), else those in force now; built once per pinned value
        (a write reads them for the collectors, the guards, the deadlines and the citation: one dict, read-only)."""
        pinned = self.case.pinned
        cached = self.__dict__.get("_settings")
        if cached is not None and cached[0] is pinned:
            return cached[1]
        chosen = (pinned or {}).get("settings")
        if chosen is not None:
            settings = dict(chosen)
        else:
            settings = {**self.procedure.definition.default_settings(), **self.profile.default_settings()}
        self.__dict__["_settings"] = (pinned, settings)
        return settings

    @property
    def disadvantaged(self) -> bool:
        """Whether the unit counted as disadvantaged when the case was opened (TC5.2 thresholds)."""
        pinned = (self.case.pinned or {}).get("disadvantaged")
        return self.unit.disadvantaged if pinned is None else bool(pinned)

    @property
    def subject_kind(self) -> str | None:
        """The kind of organisation a TT24 case is about (TT24/2023 Điều 2 k1–4), pinned when it opened."""
        return (self.case.pinned or {}).get("subject_kind")

    @property
    def indicators(self) -> dict[str, IndicatorRecord]:
        """The indicators' records as they are now: the same dict as the last time asked while they are equal (so
        the contexts a write builds before and after its change share one assessment of them, ``assessment``).
        Plain rows (``IndicatorRow``) cannot change: while the same ones are held and the evidence counts are the
        same, the records are not built again."""
        counts = self.evidence_counts
        rows = tuple(self.indicator_rows.values())
        held = self.__dict__.get("_plain_records")
        if held is not None and held[1] is counts and len(held[0]) == len(rows):
            if all(map(operator.is_, held[0], rows)):
                return held[2]
        records = {}
        for code, row in self.indicator_rows.items():
            state, org, rating, figures = _RECORDED(row)
            records[code] = IndicatorRecord(code, state, org, rating, figures, counts.get(code, 0))
        last = self.__dict__.get("_records")
        if last is not None and last == records:
            records = last
        self.__dict__["_records"] = records
        if all(type(row) is IndicatorRow for row in rows):
            self.__dict__["_plain_records"] = (rows, counts, records)
        return records

    def assessment(
        self, records: dict[str, IndicatorRecord], definition: Definition, disadvantaged: bool, kind: str | None
    ) -> Assessment:
        """``criteria.assess`` of ``records`` (from ``indicators``), kept while the same records are asked about
        under the same definition, disadvantage and subject kind."""
        asked = (definition, disadvantaged, kind)
        last = self.__dict__.get("_assessed")
        if last is not None and last[0] is records and last[1] == asked:  # a tuple compares its items by identity first
            return last[2]
        found = assess(definition, records, disadvantaged=disadvantaged, subject_kind=kind)
        self.__dict__["_assessed"] = (records, asked, found)
        return found

    def assessed(self) -> Assessment:
        """The assessment of the indicators as they are now (``assessment``: one while they stay the same)."""
        return self.assessment(self.indicators, self.procedure.definition, self.disadvantaged, self.subject_kind)

    def guard_context(
        self, transition: Transition, *, payload: dict[str, Any], now: datetime, indicator: str | None = None
    ) -> GuardContext:
        """The frozen context the guards of ``transition`` read (and its effects, once it fires)."""
        records, definition = self.indicators, self.procedure.definition
        disadvantaged, kind = self.disadvantaged, self.subject_kind
        state, case_kind, cycle, target_level, requested_level, dossier, subject = _JUDGED(self.case)
        return GuardContext(
            definition=definition,
            trigger=transition.trigger,
            state=state,
            kind=case_kind,
            cycle=cycle,
            now=now,
            payload=payload,
            settings=self.settings,
            target_level=target_level,
            requested_level=requested_level,
            disadvantaged=disadvantaged,
            dossier=dossier or {},
            indicators=records,
            indicator=records.get(indicator) if indicator else None,
            deadlines={
                key: DeadlineView(key, row.due_at, row.status, row.explanation)
                for key, row in self.deadlines.items()
                if row.status == "open"
            },
            prior_recognitions=self._prior_for(transition),
            subject=subject or "",
            subject_kind=kind,
            assessor=lambda: self.assessment(records, definition, disadvantaged, kind),
        )

    def _prior_for(self, transition: Transition) -> tuple[PriorRecognition, ...]:
        if self.prior is not None:
            return self.prior
        if reads_history(transition.guards):
            # The file was read for a trigger that needs no recognitions; a guard that does must not see none.
            raise RuntimeError(f"{transition.trigger}: the case file was read without the unit's recognitions")
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
        raise UnknownCase(f"case {case_id} does not exist", why=f"no case has id {case_id}")
    return case


def transition_of(definition: Definition, trigger: str, indicator: str | None) -> Transition | None:
    """The transition ``trigger`` names in the definition (an indicator's when ``indicator`` is given); None when
    there is none. A write resolves its trigger here once and passes the transition on."""
    if indicator is None:
        return definition.transition(trigger)
    return definition.indicator_transition(trigger) if definition.indicator_process else None


def reads_recognitions(definition: Definition, transition: Transition | None, indicator: str | None) -> bool:
    """Whether firing ``transition``, or telling what may be fired after it, runs a guard that reads the unit's
    recognitions on record (an unknown trigger: yes, the engine refuses it anyway)."""
    if transition is None:
        return True
    if indicator:
        after = set(definition.indicator_process.case_states)
    else:
        after = set(transition.source) if transition.dest == "=" else {transition.dest}
    following = (t.guards for t in definition.transitions if after & set(t.source))
    return reads_history(transition.guards) or any(reads_history(guards) for guards in following)


def history_needed(definition: Definition, trigger: str, indicator: str | None) -> bool:
    """``reads_recognitions`` of a trigger named, not yet resolved."""
    return reads_recognitions(definition, transition_of(definition, trigger, indicator), indicator)


def pinned(registry: Registry, case: Case) -> tuple[Procedure, Profile]:
    """The definition version and profile the case is pinned to."""
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


# The case file's statements, built once (each call binds its case id): building a statement and its cache key
# costs more Python than PostgreSQL takes to run it.
# The case row comes with the unit tree's version (tree_cache), read in the same statement.
_CASE = select(Case, TREE_VERSION).where(Case.id == bindparam("case_id"))
_CASE_LOCKED = _CASE.with_for_update(of=Case).execution_options(populate_existing=True)


async def case_row(session: AsyncSession, case_id: str, *, lock: bool) -> Case:
    """The case row, or 404. With ``lock``, a write's lock on it: ``SELECT … FOR UPDATE`` on PostgreSQL (SQLite
    holds its write lock since ``BEGIN IMMEDIATE``), read fresh, so concurrent writes to one case serialise here."""
    return (await case_row_and_tree(session, case_id, lock=lock))[0]


async def case_row_and_tree(session: AsyncSession, case_id: str, *, lock: bool) -> tuple[Case, int | None]:
    """``case_row`` and the unit tree's version as that statement saw it (None: no version on record)."""
    query = _CASE_LOCKED if lock else _CASE
    found = (await session.execute(query, {"case_id": case_id})).one_or_none()
    return known_case(found[0] if found else None, case_id), found[1] if found else None


async def case_file_of(
    session: AsyncSession,
    case: Case,
    procedure: Procedure,
    profile: Profile,
    *,
    with_history: bool,
    tree_version: int | None = None,
    plain_indicators: bool = False,
) -> CaseFile:
    """The rest of the case file around its row: the unit path, indicators, evidence, deadlines and, when
    ``with_history``, the unit's recognitions on record (a succession walk), in one statement. With the unit tree's
    ``tree_version`` (read with the case row), the path and the walk come from what this process read at that
    version when it can (``units.tree_cache``). ``plain_indicators``: the indicators as read-only ``IndicatorRow``s
    (a write that changes none, ``file_rows``), else ORM objects."""
    unit, units = await unit_path_at(session, case.unit_code, tree_version)
    params: dict[str, Any] = {"case_id": case.id}
    carried_by: dict[str, list[str]] = {}
    if with_history:
        # The unit's recognitions on record come in the same statement (one round trip less).
        policy = inheritance((case.pinned or {}).get("settings"))
        lines = await lines_at(session, case.unit_code, policy, tree_version)
        carried_by = await carriers(session, [case.unit_code], subject=case.subject, policy=policy, lines=lines)
        params |= {"units": sorted(carried_by), "procedure": case.procedure, "subject": case.subject}
        params["exclude_case"] = case.id
    rows = await read_file_rows(session, params, with_held=with_history, plain_indicators=plain_indicators)
    prior = held_by(rows.held, carried_by, [case.unit_code])[case.unit_code] if with_history else None
    return CaseFile(
        case=case,
        procedure=procedure,
        profile=profile,
        unit=unit,
        units=units,
        indicator_rows={row.code: row for row in rows.indicators},
        evidence=rows.evidence,
        deadlines={row.key: row for row in rows.deadlines},
        prior=prior,
    )


async def load_case_file(
    session: AsyncSession, registry: Registry, case_id: str, *, lock: bool, with_history: bool = True
) -> CaseFile:
    """The case file; with the unit's recognitions unless ``with_history`` is False (a write that runs no guard)."""
    case, tree_version = await case_row_and_tree(session, case_id, lock=lock)
    procedure, profile = pinned(registry, case)
    return await case_file_of(session, case, procedure, profile, with_history=with_history, tree_version=tree_version)
