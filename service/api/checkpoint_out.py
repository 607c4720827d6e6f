"""What the checkpoint routes answer (``service.api.audit_export``): a checkpoint's summary and document, with its
signed record of the full verify that passed over its heads (``verified``), and the check of every checkpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from service.persistence.tables import AuditCheckpoint


class VerifiedRecord(BaseModel):
    """Signed with a checkpoint's heads: a full verify passed over exactly them, in the snapshot they were read in."""

    mode: str = Field(description="`full`: every event re-hashed, every head and case compared")
    events_checked: int = Field(description="Events the full verify re-hashed: every event up to the heads")
    chains_checked: int = Field(description="Chains it walked: every chain the checkpoint signs")


VERIFIED_DESCRIPTION = (
    "Signed with the heads when the checkpoint was made right after a full verify passed over exactly them "
    "(`POST /v1/audit/checkpoints?verify=true`, `cdht audit checkpoint --verify`): what that verify covered. "
    "Null when no full verify is recorded over this checkpoint's events."
)


class CheckpointOut(BaseModel):
    id: str
    created_at: datetime
    created_by: str
    digest: str = Field(description="SHA-256 (hex) of the canonical JSON of the heads")
    signature: str = Field(description="Ed25519 signature (base64) of the digest's 32 bytes")
    key_id: str = Field(description="First 16 hex digits of SHA-256 over the raw public key")
    events_total: int = Field(description="Events the checkpoint covers (the sum of the heads' seq)")
    chains_total: int = Field(description="Number of chain heads recorded")
    verified: VerifiedRecord | None = Field(default=None, description=VERIFIED_DESCRIPTION)


class CheckpointPage(BaseModel):
    items: list[CheckpointOut]
    next_cursor: str | None = None


class CheckpointDocument(BaseModel):
    id: str
    created_at: datetime
    created_by: str
    algorithm: str
    key_id: str
    digest: str
    signature: str
    events_total: int
    chains_total: int
    verified: VerifiedRecord | None = Field(default=None, description=VERIFIED_DESCRIPTION)
    heads: dict[str, list[Any]] = Field(
        description="{chain: [seq, hash]}, or for a case whose tables matched its digest when signed (PostgreSQL) "
        "[seq, hash, seal]: the SHA-256 of its tables as the server wrote them, which the incremental verify compares "
        "(carried forward from the previous checkpoint while the case's head has not moved)"
    )


class CheckpointProblem(BaseModel):
    checkpoint_id: str | None = Field(description="The checkpoint concerned; none for the chain recomputation")
    chain: str | None = None
    seq: int | None = None
    problem: str


class CheckpointVerifyOut(BaseModel):
    ok: bool
    key_id: str
    checkpoints_checked: int
    heads_checked: int
    problems_total: int
    problems: list[CheckpointProblem] = Field(description="The first 100 problems")


def summary_of(row: Any) -> CheckpointOut:
    return CheckpointOut(
        id=row.id,
        created_at=row.created_at,
        created_by=row.created_by,
        digest=row.digest,
        signature=row.signature,
        key_id=row.key_id,
        events_total=row.events_total,
        chains_total=row.chains_total,
        verified=row.verified,
    )


SUMMARY_COLUMNS = (
    AuditCheckpoint.id,
    AuditCheckpoint.created_at,
    AuditCheckpoint.created_by,
    AuditCheckpoint.digest,
    AuditCheckpoint.signature,
    AuditCheckpoint.key_id,
    AuditCheckpoint.events_total,
    AuditCheckpoint.chains_total,
    AuditCheckpoint.verified,
)
