"""Seals of cases' tables signed into a checkpoint, so that an incremental verify need not decode and re-encode the
tables of every case with nothing new since.

A checkpoint signs each chain's head (``checkpoints``). For a case's chain it may sign a third value, the case's
**seal**: SHA-256 of the case's document — its row, indicators, deadlines and evidence, every column the digest and
the head check cover — as PostgreSQL writes it as JSON text (``event_reader.case_document_sql``). A case is sealed
only when, in the statement that read that text, its row still records the head being signed and the decoded
document matches the digest its newest event recorded (``digest.rows_hold``, the comparison verify makes); else its
head is signed without a seal. So a seal says: when the checkpoint was signed, these tables were exactly this text,
and they were what the case's newest event says.

An incremental verify then has the server recompute the seal of each sealed case with nothing new since
(``seals_now``): the same text gives the same SHA-256, so the same values, which matched the digest. A case whose
seal differs (its tables changed, or the server writes the text otherwise) is compared with its digest as before.
SQLite keeps no seals: its checkpoints sign heads alone.

**Carried forward.** Sealing every case costs about what the head check of a full verify costs (the document
built, decoded and compared with the digest: 53 s at 10M events), so a checkpoint seals only what changed since the
previous one (``carry_seals``): a case whose head (seq, hash) is the one the previous checkpoint signed *with a
seal* keeps that seal, without reading its tables. That is as sound as sealing it again, provided the previous
checkpoint verifies with the service's key (``checkpoints.trusted_previous`` checks its signature before anything is
taken from it): a seal is only ever made by ``seal_heads`` after its comparison with the digest, and it is bound to
the head it was signed with, whose hash covers the digest the tables were compared with. A case whose tables were
changed since its seal was made keeps the seal of the tables as they were, so the incremental verify still finds
them different from the seal and compares them with their digest. Cases with new events, cases opened since, and
cases the previous checkpoint signed without a seal (their tables did not match, or it made no seals) are sealed
as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.canonical import case_chain
from service.domain.audit.digest import CASE_FIELDS, rows_hold
from service.domain.audit.event_reader import case_document_sql, driver_of

SEAL_BATCH = 200  # cases sealed or re-sealed per statement (its decoding holds the event loop meanwhile)
_SEAL = "encode(sha256(convert_to(d.document, 'UTF8')), 'hex')"


_SEAL_TEXT = re.compile(r"[0-9a-f]{64}")


def _is_seal(value: Any) -> bool:
    return isinstance(value, str) and _SEAL_TEXT.fullmatch(value) is not None


def carry_seals(heads: dict[str, list[Any]], previous: dict[str, Any]) -> list[str]:
    """Add to each case's head (``heads``: chain -> [seq, hash]) the seal that ``previous`` (the heads of a checkpoint
    whose signature the caller checked) signed with the same seq and hash, in place; the case chains left to seal."""
    left = []
    for chain, head in heads.items():
        if not chain.startswith("case:"):
            continue
        before = previous.get(chain)
        if isinstance(before, list) and len(before) == 3 and before[:2] == head[:2] and _is_seal(before[2]):
            head.append(before[2])
        else:
            left.append(chain)
    return left


async def seal_heads(
    session: AsyncSession,
    heads: dict[str, list[Any]],
    case_names: Sequence[str],
    children: Sequence[tuple[Any, Sequence[str]]],
) -> int:
    """Add its seal to the head of each case (``heads``: chain -> [seq, hash]) whose row records that head and whose
    document matches its newest event's digest, in place; how many were sealed. PostgreSQL only."""
    document = case_document_sql(case_names, children)
    sql = (
        f"SELECT c.id, c.event_seq, c.last_hash, e.state_digest, d.document, {_SEAL} "
        f"FROM cases AS c CROSS JOIN LATERAL (SELECT {document} AS document) AS d "
        "JOIN audit_event AS e ON e.chain = 'case:' || c.id AND e.seq = c.event_seq "
        "WHERE c.id = ANY($1::text[])"
    )
    driver = await driver_of(session)
    ids = [chain.removeprefix("case:") for chain in heads if chain.startswith("case:")]
    sealed = 0
    for start in range(0, len(ids), SEAL_BATCH):
        for case_id, seq, last_hash, recorded, text, seal in await driver.fetch(sql, ids[start : start + SEAL_BATCH]):
            head = heads[case_chain(case_id)]
            if [seq, last_hash] != head[:2] or not recorded:
                continue
            case, indicators, deadlines, evidence = json.loads(text)
            if rows_hold(recorded, dict(zip(CASE_FIELDS, case, strict=False)), indicators, deadlines, evidence):
                head.append(seal)
                sealed += 1
    return sealed


async def seals_now(
    session: AsyncSession,
    ids: list[str],
    case_names: Sequence[str],
    children: Sequence[tuple[Any, Sequence[str]]],
) -> dict[str, str]:
    """Each case's seal as its tables are now (cases whose row is gone are left out). PostgreSQL only."""
    document = case_document_sql(case_names, children)
    sql = (
        f"SELECT c.id, {_SEAL} FROM cases AS c CROSS JOIN LATERAL (SELECT {document} AS document) AS d "
        "WHERE c.id = ANY($1::text[])"
    )
    driver = await driver_of(session)
    found: dict[str, str] = {}
    for start in range(0, len(ids), SEAL_BATCH):
        found.update({case_id: seal for case_id, seal in await driver.fetch(sql, ids[start : start + SEAL_BATCH])})
    return found
