"""The walk of the chains as the online verify reads them: the shared ``chain_walk.ChainWalk`` over event rows (or
over runs of a case's events the server found sound, ``event_reader.PostgresEvents.runs``), keeping for each chain
what its head check (``verify.check_heads``) needs: its newest event and what a case's events recorded — the terms
it was opened under and each evidence upload. ``PartReport`` is what a walk over some chains found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.domain.audit.chain_walk import ChainWalk
from service.domain.audit.event_reader import (
    CASE_ID,
    CHAIN,
    COMPUTED,
    HASH,
    ID,
    KIND,
    PAYLOAD,
    PREV,
    RUN_CHAIN,
    RUN_EVENTS,
    RUN_FIRST_PREV,
    RUN_FIRST_SEQ,
    RUN_KINDS,
    RUN_PAYLOADS,
    RUN_SOUND,
    SEQ,
    STATE,
    UID,
    run_tail,
)
from service.domain.audit.unit_tree import is_tree_digest

# What an upload event records of its file.
UPLOAD_FACTS = ("sha256", "size", "media_type", "filename", "title")


@dataclass
class PartReport:
    """What verifying some chains found, kept apart so that parts verified separately merge (``merge_parts``) into
    the report one pass over every chain gives: the first bad event in chain order wins over any head problem,
    and among head problems the one of the first chain by name."""

    events_checked: int = 0
    chains_checked: int = 0
    event_problem: dict[str, Any] | None = None
    head_problem: tuple[str, dict[str, Any]] | None = None  # (chain, problem)

    def note_head_problem(self, chain: str, problem: dict[str, Any]) -> None:
        if self.head_problem is None or chain < self.head_problem[0]:
            self.head_problem = (chain, problem)


def problem_at(row: Any, problem: str, chain: str | None = None) -> dict[str, Any]:
    return {
        "id": row[ID] if row else None,
        "uid": row[UID] if row else None,
        "chain": row[CHAIN] if row else chain,
        "seq": row[SEQ] if row else None,
        "case_id": row[CASE_ID] if row else None,
        "problem": problem,
    }


@dataclass
class Finished:
    """A chain whose events all held, awaiting its head check."""

    chain: str
    tail: Any  # its newest event's row
    terms: tuple[dict[str, Any], str] | None  # (pinned, subject) as its events recorded them, for a case's chain
    # evidence id -> what its upload event recorded (UPLOAD_FACTS); None when its events were not read (a chain
    # an incremental verify did not walk: its evidence rows are covered by the case digest alone)
    uploads: dict[str, tuple[Any, ...]] | None
    tree: Any = None  # the newest event of a chain without a case that recorded the unit tree's digest


def _loaded(payload: str | dict[str, Any] | None) -> dict[str, Any]:
    return json.loads(payload) if isinstance(payload, str) else payload or {}


class CaseChainWalker:
    """The shared ``ChainWalk`` over event rows, keeping for each chain what its head check needs: its newest event
    and what a case's events recorded (the terms it was opened under, its uploads)."""

    def __init__(self, part: PartReport) -> None:
        self.part = part
        self.walk = ChainWalk()
        self.finished: list[Finished] = []
        self.tail: Any = None
        self.terms: dict[str, Any] | None = None
        self.recorded: tuple[dict[str, Any], str] | None = None
        self.uploads: dict[str, tuple[Any, ...]] = {}
        self.tree: Any = None

    def close_chain(self) -> None:
        if self.tail is not None:
            self.finished.append(Finished(self.tail[CHAIN], self.tail, self.recorded, self.uploads, self.tree))
        self.tail = None
        self.walk.end_chain()

    def check(self, row: Any) -> str | None:
        """What is wrong with the next event (its sequence, its link, its hash), or None."""
        if row[CHAIN] != self.walk.chain:
            self.close_chain()
            self.terms, self.recorded, self.uploads, self.tree = None, None, {}, None
        return self.walk.check(row[CHAIN], row[SEQ], row[PREV], row[HASH], row[COMPUTED])

    def accept(self, row: Any) -> None:
        self.walk.accept(row[HASH])
        self.part.events_checked, self.part.chains_checked = self.walk.events, self.walk.chains
        self.tail = row
        self._follow(row)

    def continues(self, run: Any) -> bool:
        """Whether a run of a case's events (``event_reader.PostgresEvents.runs``) that all held on the server
        follows on from what the walk holds of its chain: its first event's sequence number and link."""
        if not run[RUN_SOUND]:
            return False
        return (
            self.check(
                (None, None, run[RUN_CHAIN], run[RUN_FIRST_SEQ], None, None, None, run[RUN_FIRST_PREV], "", None, "")
            )
            is None
        )

    def accept_run(self, run: Any) -> None:
        """``accept`` of every event of a run that ``continues``: every event of it has a case."""
        tail = run_tail(run)
        self.walk.accept_run(run[RUN_EVENTS], tail[HASH])
        self.part.events_checked, self.part.chains_checked = self.walk.events, self.walk.chains
        self.tail = tail
        # The payloads come as one JSON array (each is the canonical JSON text it was hashed as): one decode.
        for kind, payload in zip(run[RUN_KINDS] or (), json.loads(run[RUN_PAYLOADS] or "[]"), strict=True):
            self._record(kind, payload)
        if self.terms is not None:
            self.recorded = (self.terms["pinned"], self.terms["subject"])

    def _follow(self, row: Any) -> None:
        """What a case's events say it was opened under (pinned settings and unit facts, subject), which the case
        row must still say since other cases' kinds and TC4.1 counts read it; and what each upload recorded."""
        if row[CASE_ID] is None and is_tree_digest(row[STATE]):
            self.tree = row
        self._record(row[KIND], row[PAYLOAD])
        if self.terms is not None and row[CASE_ID] is not None:
            # The values are replaced, never changed in place, so this pair keeps what they were here.
            self.recorded = (self.terms["pinned"], self.terms["subject"])

    def _record(self, kind: str, payload: str | dict[str, Any] | None) -> None:
        if kind == "case_opened":
            opened = _loaded(payload)
            self.terms = {"pinned": opened.get("pinned") or {}, "subject": opened.get("subject") or ""}
        elif kind == "case_migrated" and self.terms is not None:
            added = _loaded(payload).get("settings_added") or {}
            if "settings" in self.terms["pinned"]:
                pinned = self.terms["pinned"]
                self.terms["pinned"] = {**pinned, "settings": {**pinned["settings"], **added}}
        elif kind == "evidence_uploaded":
            uploaded = _loaded(payload)
            self.uploads[uploaded.get("evidence_id")] = tuple(map(uploaded.get, UPLOAD_FACTS))

    def resume(self, chain: str, start: Any) -> None:
        """Walk ``chain`` on after ``start``, its event at a signed checkpoint's head (taken as sound): what its
        earlier events recorded (opening terms, uploads) is then given to ``follow`` alone."""
        self.close_chain()
        self.terms, self.recorded, self.uploads, self.tree = None, None, {}, None
        self.walk.resume(chain, start[SEQ], start[HASH])
        self.tail = start

    def follow(self, row: Any) -> None:
        """An event before the chain's checkpointed head: not checked, only read for what it recorded."""
        self._follow(row)

    def take_finished(self) -> list[Finished]:
        finished, self.finished = self.finished, []
        return finished
