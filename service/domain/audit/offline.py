"""Verify a JSONL audit export without the database (``cdht audit verify FILE``).

Each line of ``GET /v1/audit/export?format=jsonl`` carries every hashed field exactly as it was hashed, with
``hash`` and ``prev_hash``; the export is ordered by chain, then sequence. Reading line by line (memory bounded by
the number of chains, not of events), this recomputes each event's hash with ``canonical.event_hash`` (the one
implementation of the canonical encoding) and walks each chain with the ``chain_walk`` the online verify uses: it
starts at seq 1 on the genesis hash, every seq follows the one before, every ``prev_hash`` is the previous line's
``hash``. Nothing here reads the database; ``cdht audit verify FILE`` prints what it finds.

An export alone cannot show that a chain's newest events, or whole chains, were removed before it was taken.
Signed checkpoints can: with ``--checkpoints FILE --public-key KEY.pem`` each checkpoint's signature is checked
with the operator's public key, and every head it recorded must be in the export with the same hash (a head
beyond the export is checked only if the checkpoint is older than the export's newest event).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from service.domain.audit.canonical import HASHED_FIELDS, event_hash, format_time
from service.domain.audit.chain_walk import ChainWalk
from service.domain.audit.checkpoints import signature_problem
from service.persistence.keys import key_id, load_public_key

EXPORT_FIELDS = (*HASHED_FIELDS, "hash")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # what format_time writes


class Bad(Exception):
    """The first problem found; ``line`` is None for one that no line of the export shows."""

    def __init__(self, problem: str, *, line: int | None = None, chain: str | None = None, seq: Any = None) -> None:
        super().__init__(problem)
        self.problem, self.line, self.chain, self.seq = problem, line, chain, seq


@dataclass
class OfflineReport:
    ok: bool
    lines: int = 0
    events: int = 0
    chains: int = 0
    partial_chains: int = 0
    checkpoints: int = 0
    heads_matched: int = 0
    heads_after_export: int = 0
    heads_not_in_export: int = 0
    key_id: str | None = None
    bad: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        if not self.ok and self.bad is not None:
            where = [f"line {self.bad['line']}"] if self.bad.get("line") is not None else []
            if self.bad.get("chain") is not None:
                where.append(f"chain {self.bad['chain']}")
            if self.bad.get("seq") is not None:
                where.append(f"seq {self.bad['seq']}")
            return f"FAILED: {', '.join(where) + ': ' if where else ''}{self.bad['problem']}"
        summary = f"OK: {self.events} events in {self.chains} chains verified ({self.lines} lines)"
        if self.partial_chains:
            summary += f"; {self.partial_chains} chains start after seq 1 (partial export)"
        if self.checkpoints:
            summary += f"; {self.checkpoints} checkpoints signed by key {self.key_id}: {self.heads_matched} heads match"
            if self.heads_after_export:
                summary += f", {self.heads_after_export} heads are newer than the export"
            if self.heads_not_in_export:
                summary += f", {self.heads_not_in_export} heads are outside this partial export"
        return "\n".join([summary, *self.notes])


def _event(record: Any, line: int) -> SimpleNamespace:
    """The line as the event it was hashed from; anything a database row could not hold is refused."""
    if not isinstance(record, dict):
        raise Bad("not a JSON object", line=line)
    chain, seq = record.get("chain"), record.get("seq")
    missing = [name for name in EXPORT_FIELDS if name not in record]
    if missing:
        raise Bad(f"missing field(s) {', '.join(missing)}", line=line, chain=chain, seq=seq)
    for name in EXPORT_FIELDS:
        value = record[name]
        if name == "seq":
            if not isinstance(value, int) or isinstance(value, bool):
                raise Bad("seq is not an integer", line=line, chain=chain, seq=seq)
        elif name in ("uid", "chain", "kind", "actor_sub", "actor_name", "occurred_at", "payload", "prev_hash", "hash"):
            if not isinstance(value, str):
                raise Bad(f"{name} is not a string", line=line, chain=chain, seq=seq)
        elif value is not None and not isinstance(value, str):
            raise Bad(f"{name} is neither a string nor null", line=line, chain=chain, seq=seq)
    try:
        moment = datetime.strptime(record["occurred_at"], TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        moment = None
    if moment is None or format_time(moment) != record["occurred_at"]:
        raise Bad("occurred_at is not written as the audit log hashes it", line=line, chain=chain, seq=seq)
    return SimpleNamespace(**{name: record[name] for name in EXPORT_FIELDS} | {"occurred_at": moment})


def load_checkpoints(text: str) -> list[dict[str, Any]]:
    """Checkpoint documents from a JSON array, one object, ``{"items": [...]}``, or one object per line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        data = data["items"] if isinstance(data.get("items"), list) else [data]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError("expected checkpoint objects (as GET /v1/audit/checkpoints/{id} returns them)")
    return data


def _checkpoint_claims(
    checkpoints: list[dict[str, Any]], public_key: Any, report: OfflineReport
) -> dict[tuple[str, int], tuple[str, str, datetime]]:
    """(chain, seq) -> (hash, id and time of the oldest checkpoint that recorded it), once every signature holds."""
    report.key_id = key_id(public_key)
    claims: dict[tuple[str, int], tuple[str, str, datetime]] = {}
    for document in sorted(checkpoints, key=lambda d: str(d.get("created_at"))):
        name = document.get("id", "?")
        problem = signature_problem(document, public_key)
        if problem is not None:
            raise Bad(f"checkpoint {name} {problem}")
        try:
            created = datetime.fromisoformat(str(document["created_at"]))
        except (KeyError, ValueError):
            raise Bad(f"checkpoint {name} has no valid created_at") from None
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        for chain, head in document["heads"].items():
            seq, head_hash = head[0], head[1]  # a case's head may carry its tables' seal third, not in an export
            earlier = claims.setdefault((chain, seq), (head_hash, name, created))
            if earlier[0] != head_hash:
                raise Bad(f"checkpoints {earlier[1]} and {name} record different hashes", chain=chain, seq=seq)
        report.checkpoints += 1
    return claims


def verify_lines(
    lines: Iterable[bytes | str],
    *,
    checkpoints: list[dict[str, Any]] | None = None,
    public_key: Any = None,
    partial: bool = False,
) -> OfflineReport:
    """Verify an export given line by line; the report names the first bad line, if any."""
    report = OfflineReport(ok=True)
    try:
        _verify(lines, report, checkpoints=checkpoints, public_key=public_key, partial=partial)
    except Bad as bad:
        report.ok = False
        report.bad = {"line": bad.line, "chain": bad.chain, "seq": bad.seq, "problem": bad.problem}
    return report


@dataclass
class _ExportFacts:
    """What the walk over the lines learns besides the chains: the export's own first line and its newest event."""

    taken_at: datetime | None = None  # from the export's first line: checkpoints made before it must be in it
    complete: bool = False  # the export holds every chain: a chain a checkpoint recorded may not be missing
    newest: datetime | None = None


def _verify(
    lines: Iterable[bytes | str],
    report: OfflineReport,
    *,
    checkpoints: list[dict[str, Any]] | None,
    public_key: Any,
    partial: bool,
) -> None:
    claims = _checkpoint_claims(checkpoints, public_key, report) if checkpoints is not None else {}
    ended: dict[str, int] = {}  # chain -> its last seq in the export
    walk = ChainWalk(partial=partial, on_chain_end=ended.__setitem__)
    facts = _ExportFacts()
    try:
        _walk_lines(lines, report, walk, ended, claims, facts)
    finally:
        walk.end_chain()
        report.events, report.chains, report.partial_chains = walk.events, walk.chains, walk.partial_chains
    for (claim_chain, seq), (_, checkpoint_id, created) in sorted(claims.items()):
        last = ended.get(claim_chain)
        if last is not None and seq <= last:
            continue  # matched on its line
        # Without the export's first line nothing says the export is filtered: every recorded chain must be there.
        covered = last is not None or facts.complete or facts.taken_at is None
        if facts.taken_at is not None:
            before_export = created <= facts.taken_at
        else:
            before_export = facts.newest is not None and created <= facts.newest
        if partial or not covered:
            report.heads_not_in_export += 1
        elif before_export:
            what = "the chain is missing from the export" if last is None else f"the export ends the chain at {last}"
            raise Bad(
                f"checkpoint {checkpoint_id} recorded this event but {what}: events were removed after it",
                chain=claim_chain,
                seq=seq,
            )
        else:
            report.heads_after_export += 1
    if checkpoints is None:
        report.notes.append(
            "note: without --checkpoints, events removed from the end of a chain (or whole chains) cannot be seen"
        )


def _walk_lines(
    lines: Iterable[bytes | str],
    report: OfflineReport,
    walk: ChainWalk,
    ended: dict[str, int],
    claims: dict[tuple[str, int], tuple[str, str, datetime]],
    facts: _ExportFacts,
) -> None:
    """Each line in turn: parsed, walked along its chain, matched with what the checkpoints recorded."""
    for number, raw in enumerate(lines, start=1):
        report.lines = number
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise Bad("not valid UTF-8", line=number) from None
        if not text.strip():
            continue
        if number == 1 and text.lstrip("\ufeff").startswith("uid,"):
            raise Bad("this is a CSV export; verify the JSONL export (format=jsonl)", line=number)
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Bad(f"not valid JSON ({exc.msg})", line=number) from None
        if number == 1 and isinstance(record, dict) and "export" in record:
            preamble = record["export"]
            try:
                facts.taken_at = datetime.fromisoformat(str(preamble["taken_at"]))
            except (KeyError, ValueError):
                raise Bad("the export's first line has no valid taken_at", line=number) from None
            facts.complete = bool(preamble.get("complete"))
            continue
        event = _event(record, number)
        where = {"line": number, "chain": event.chain, "seq": event.seq}
        if event.chain != walk.chain and event.chain in ended:
            raise Bad("the chain appears again: the export is not ordered by chain, then seq", **where)
        problem = walk.check(event.chain, event.seq, event.prev_hash, event.hash, event_hash(event))  # type: ignore[arg-type]
        if problem is not None:
            raise Bad(problem, **where)
        claim = claims.get((event.chain, event.seq))
        if claim is not None:
            if claim[0] != event.hash:
                raise Bad(
                    f"the event differs from checkpoint {claim[1]}: it was changed after that checkpoint", **where
                )
            report.heads_matched += 1
        walk.accept(event.hash)
        if facts.newest is None or event.occurred_at > facts.newest:
            facts.newest = event.occurred_at


def verify_file(
    path: Path | str,
    *,
    checkpoints_path: Path | str | None = None,
    public_key_path: Path | str | None = None,
    partial: bool = False,
) -> OfflineReport:
    checkpoints, public_key = None, None
    if (checkpoints_path is None) != (public_key_path is None):
        raise ValueError("--checkpoints and --public-key go together")
    if checkpoints_path is not None and public_key_path is not None:
        checkpoints = load_checkpoints(Path(checkpoints_path).read_text(encoding="utf-8"))
        public_key = load_public_key(Path(public_key_path).read_bytes())
    with open(path, "rb") as handle:
        return verify_lines(handle, checkpoints=checkpoints, public_key=public_key, partial=partial)
