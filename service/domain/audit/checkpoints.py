"""Signed checkpoints of the audit chains: what a per-chain hash cannot prove alone.

A chain proves its own events consistent, but whoever can write the database can rewrite a chain's newest events
and its head together (or remove a whole case with its chain) and the chain still verifies. A checkpoint records
every chain's head (``{chain: [seq, hash]}``), hashes it (``digest``: SHA-256 of ``canonical_json(heads)``) and signs
the digest's 32 bytes with an Ed25519 key kept outside the database (``service.persistence.keys``). Later, each
checkpointed event must still carry the hash the checkpoint recorded; an operator who keeps the public key and
copies of the checkpoints elsewhere can check that without trusting the database
(``cdht audit verify EXPORT --checkpoints --public-key``). The periodic worker that makes them is
``service.workers.checkpoints``.

**Versions of a head.** A head is ``[seq, hash]``; on PostgreSQL, a case's head whose tables matched its newest
event's digest when it was signed is ``[seq, hash, seal]`` (``table_seals``), which an incremental verify uses to
skip re-encoding that case's tables while they are unchanged. The signature covers the heads as they are, so both
kinds are signed and verified the same way, and checkpoints signed before seals existed verify as they were.
A checkpoint carries forward the seals of the newest checkpoint for the cases whose head has not moved since, once
that checkpoint's signature verifies with the service's key (``trusted_previous``, ``table_seals.carry_seals``), and
seals only the others: signing costs what changed since, not every case's tables.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings
from service.domain.actor import Actor
from service.domain.audit.canonical import canonical_json, case_chain, format_time
from service.domain.audit.table_seals import carry_seals, seal_heads
from service.domain.audit.verify import CASE_COLUMNS, CASE_TABLES
from service.domain.audit.verify import verify as verify_chains
from service.persistence.keys import key_id, signing_key
from service.persistence.tables import AuditCheckpoint, AuditEvent, Case, ChainHead

log = logging.getLogger("cdht.audit.checkpoints")

ALGORITHM = (
    "Ed25519 over the 32 bytes of digest = sha256(canonical_json({id, created_at, key_id, heads})), "
    "or with verified: {id, created_at, key_id, heads, verified}"
)
LOOKUP_BATCH = 500
MAX_PROBLEMS = 100


# --- digest and signature (shared with the offline verifier) --------------------------------------------------


SIGNED_FIELDS = ("id", "created_at", "key_id", "heads")
VERIFIED = "verified"  # signed too when present: what the full verify that passed over these heads covered


def checkpoint_digest(document: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of what a checkpoint asserts: its id, when, with which key, and the heads —
    so neither the time nor the identity of a checkpoint can be changed without breaking its signature — and,
    when it has one, its record of the full verify that passed over those heads (``verified``): a checkpoint
    without one signs exactly what it signed before the field existed, and one given afterwards (or taken away)
    breaks the signature."""
    signed = {k: document.get(k) for k in SIGNED_FIELDS}
    if document.get(VERIFIED) is not None:
        signed[VERIFIED] = document[VERIFIED]
    # The time is signed in one spelling, whatever spelling a copy of the document uses (…Z, +00:00, no µs).
    created = signed["created_at"]
    if isinstance(created, str):
        try:
            signed["created_at"] = format_time(datetime.fromisoformat(created))
        except ValueError:
            pass
    elif isinstance(created, datetime):
        signed["created_at"] = format_time(created)
    return hashlib.sha256(canonical_json(signed).encode("utf-8")).hexdigest()


def signature_problem(document: dict[str, Any], key: Ed25519PublicKey) -> str | None:
    """Why a checkpoint document (``heads``, ``digest``, ``signature``, ``key_id``) does not verify, or None."""
    expected_id = key_id(key)
    if document.get("key_id") != expected_id:
        return f"signed with key {document.get('key_id')}, not with the given key {expected_id}"
    heads = document.get("heads")
    if not isinstance(heads, dict):
        return "has no heads"
    if checkpoint_digest(document) != document.get("digest"):
        return (
            "its id, time, key or heads (or its record of a full verify) do not match its digest: "
            "the checkpoint was changed"
        )
    try:
        key.verify(base64.b64decode(str(document.get("signature")), validate=True), bytes.fromhex(document["digest"]))
    except (InvalidSignature, ValueError):
        return "its signature does not verify with the public key"
    return None


def document_of(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The checkpoint as operators keep it outside the database (what ``cdht audit verify --checkpoints`` reads)."""
    return {
        "id": checkpoint.id,
        "created_at": format_time(checkpoint.created_at),
        "created_by": checkpoint.created_by,
        "algorithm": ALGORITHM,
        "key_id": checkpoint.key_id,
        "digest": checkpoint.digest,
        "signature": checkpoint.signature,
        "events_total": checkpoint.events_total,
        "chains_total": checkpoint.chains_total,
        "heads": checkpoint.heads,
        "verified": checkpoint.verified,
    }


# --- creating ----------------------------------------------------------------------------------------------------


class NotTheVerifiedHeads(RuntimeError):
    """The heads about to be signed are not the ones the full verify read (their events or chains differ in number):
    a checkpoint marked verified must be made in the verify's own snapshot."""

    def __init__(self, covered: tuple[int, int], verified: dict[str, Any]) -> None:
        super().__init__(
            f"the heads cover {covered[0]} events in {covered[1]} chains, the full verify checked "
            f"{verified['events_checked']} in {verified['chains_checked']}: not signed as verified"
        )


async def current_heads(session: AsyncSession) -> dict[str, list[Any]]:
    """Every chain's head: case chains from the case rows, the others from ``chain_head``."""
    heads: dict[str, list[Any]] = {}
    cases = select(Case.id, Case.event_seq, Case.last_hash).where(Case.event_seq > 0)
    for case_id, seq, last_hash in await session.execute(cases):
        heads[case_chain(case_id)] = [seq, last_hash]
    for chain, seq, head_hash in await session.execute(select(ChainHead.chain, ChainHead.seq, ChainHead.hash)):
        if seq > 0:
            heads[chain] = [seq, head_hash]
    return dict(sorted(heads.items()))


def newest_first() -> Any:
    """The checkpoints, newest first: at one instant (a frozen clock) the one covering more events is the later,
    since chains only grow."""
    return select(AuditCheckpoint).order_by(
        AuditCheckpoint.created_at.desc(), AuditCheckpoint.events_total.desc(), AuditCheckpoint.id.desc()
    )


async def trusted_previous(session: AsyncSession, public: Ed25519PublicKey) -> AuditCheckpoint | None:
    """The newest checkpoint, if its signature verifies with ``public`` (the service's key): what a new checkpoint
    may take seals from. None when there is none, or when it does not verify (then nothing is taken from it)."""
    newest = (await session.execute(newest_first().limit(1))).scalars().first()
    if newest is None:
        return None
    problem = signature_problem(document_of(newest), public)
    if problem is not None:
        log.warning("audit checkpoint %s %s: no seal is carried forward from it", newest.id, problem)
        return None
    return newest


async def _seal(
    session: AsyncSession, heads: dict[str, list[Any]], public: Ed25519PublicKey, *, reseal: bool
) -> tuple[int, int]:
    """Seal the case heads (PostgreSQL): carried forward from the trusted previous checkpoint where the head has
    not moved, sealed anew otherwise (every one with ``reseal``); (carried, sealed)."""
    previous = None if reseal else await trusted_previous(session, public)
    left = carry_seals(heads, previous.heads if previous is not None else {})
    carried = sum(1 for chain, head in heads.items() if chain.startswith("case:") and len(head) == 3)
    if previous is not None:
        session.expunge(previous)
    sealed = await seal_heads(session, {chain: heads[chain] for chain in left}, CASE_COLUMNS, CASE_TABLES)
    return carried, sealed


async def create_checkpoint(
    session: AsyncSession,
    *,
    settings: Settings,
    actor: Actor,
    now: datetime,
    reseal: bool = False,
    verified: dict[str, Any] | None = None,
) -> AuditCheckpoint:
    """Sign the heads of every chain and store the checkpoint (the caller commits). On PostgreSQL each case's seal
    is carried forward from the previous checkpoint where its head has not moved; ``reseal`` compares every case's
    tables with its digest again instead (after an upgrade that changes how the server writes them).

    ``verified`` is signed with the heads: what a full verify that passed in this very transaction's snapshot
    covered (``service.workers.verified_checkpoint``). Its counts must be those of the heads read here, or nothing
    is signed (``NotTheVerifiedHeads``)."""
    key = signing_key(settings)
    heads = await current_heads(session)
    if verified is not None:
        covered = (sum(head[0] for head in heads.values()), len(heads))
        if covered != (verified["events_checked"], verified["chains_checked"]):
            raise NotTheVerifiedHeads(covered, verified)
    carried = sealed = 0
    if session.get_bind().dialect.name == "postgresql":
        carried, sealed = await _seal(session, heads, key.public_key(), reseal=reseal)
    identity = {
        "id": str(uuid.uuid4()),
        "created_at": format_time(now),
        "key_id": key_id(key.public_key()),
        "heads": heads,
        VERIFIED: verified,
    }
    digest = checkpoint_digest(identity)
    checkpoint = AuditCheckpoint(
        id=identity["id"],
        created_at=now,
        created_by=actor.sub,
        heads=heads,
        digest=digest,
        signature=base64.b64encode(key.sign(bytes.fromhex(digest))).decode("ascii"),
        key_id=identity["key_id"],
        events_total=sum(head[0] for head in heads.values()),
        chains_total=len(heads),
        verified=verified,
    )
    session.add(checkpoint)
    await session.flush()
    log.info(
        "audit checkpoint %s by %s: %d chains (%d cases' seals carried forward, %d sealed anew), %d events, digest %s, "
        "key %s, full verify recorded: %s",
        checkpoint.id,
        actor.sub,
        checkpoint.chains_total,
        carried,
        sealed,
        checkpoint.events_total,
        digest,
        checkpoint.key_id,
        verified,
    )
    return checkpoint


# --- verifying ---------------------------------------------------------------------------------------------------


@dataclass
class CheckpointReport:
    ok: bool = True
    key_id: str = ""
    checkpoints_checked: int = 0
    heads_checked: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    problems_total: int = 0

    def add(self, checkpoint_id: str | None, problem: str, chain: str | None = None, seq: int | None = None) -> None:
        self.ok = False
        self.problems_total += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"checkpoint_id": checkpoint_id, "chain": chain, "seq": seq, "problem": problem})


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def verify_checkpoints(
    session: AsyncSession, *, settings: Settings, checkpoint_id: str | None = None
) -> CheckpointReport:
    """Check every stored checkpoint (or one): its signature with the configured key, and that each event it
    recorded still carries the recorded hash. Heads shared by several checkpoints are looked up once; a problem
    names the oldest checkpoint that recorded the head, after which the event was changed or removed."""
    public = signing_key(settings).public_key()
    report = CheckpointReport(key_id=key_id(public))
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.created_at, AuditCheckpoint.id)
    if checkpoint_id is not None:
        query = query.where(AuditCheckpoint.id == checkpoint_id)
    claims: dict[tuple[str, int], tuple[str, str]] = {}  # (chain, seq) -> (hash, oldest checkpoint recording it)
    async for checkpoint in await session.stream_scalars(query.execution_options(yield_per=10)):
        report.checkpoints_checked += 1
        problem = signature_problem(document_of(checkpoint), public)
        if problem is not None:
            report.add(checkpoint.id, f"checkpoint {checkpoint.id} {problem}")
            continue
        for chain, head in checkpoint.heads.items():
            seq, head_hash = head[0], head[1]  # a case's head may carry its tables' seal third (``table_seals``)
            earlier = claims.setdefault((chain, seq), (head_hash, checkpoint.id))
            if earlier[0] != head_hash:
                report.add(
                    checkpoint.id,
                    f"checkpoints {earlier[1]} and {checkpoint.id} record different hashes for seq {seq}",
                    chain,
                    seq,
                )
        session.expunge(checkpoint)
    keys = sorted(claims)
    found: dict[tuple[str, int], str] = {}
    for batch in _batches(keys, LOOKUP_BATCH):
        rows = await session.execute(
            select(AuditEvent.chain, AuditEvent.seq, AuditEvent.hash).where(
                tuple_(AuditEvent.chain, AuditEvent.seq).in_(batch)
            )
        )
        found.update({(chain, seq): event_hash for chain, seq, event_hash in rows})
    missing_chains = sorted({chain for chain, seq in keys if (chain, seq) not in found})
    present: set[str] = set()
    for batch in _batches(missing_chains, LOOKUP_BATCH):
        present.update(
            (await session.execute(select(AuditEvent.chain).where(AuditEvent.chain.in_(batch)).distinct())).scalars()
        )
    for chain, seq in keys:
        recorded, checkpoint_of = claims[(chain, seq)]
        report.heads_checked += 1
        actual = found.get((chain, seq))
        if actual is None and chain not in present:
            report.add(
                checkpoint_of, f"chain removed after checkpoint {checkpoint_of}: it has no events left", chain, seq
            )
        elif actual is None:
            report.add(checkpoint_of, f"event removed after checkpoint {checkpoint_of}: seq {seq} is gone", chain, seq)
        elif actual != recorded:
            report.add(checkpoint_of, f"event changed after checkpoint {checkpoint_of}", chain, seq)
    # The heads alone would not see an event changed in the middle of a chain with its hash recomputed; the
    # chains are therefore recomputed too, up to their heads.
    chains = await verify_chains(session)
    if not chains.ok and chains.first_bad_event:
        bad = chains.first_bad_event
        report.add(None, f"chain check: {bad['problem']}", chain=bad["chain"], seq=bad["seq"])
    return report


async def newest_checkpoint_time(session: AsyncSession) -> datetime | None:
    query = select(AuditCheckpoint.created_at).order_by(AuditCheckpoint.created_at.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()
