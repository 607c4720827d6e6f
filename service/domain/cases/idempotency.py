"""Idempotency keys: the same key and body returns the stored response without acting twice; the same key
with another body is refused (409). Keys are scoped to the caller (``sub``).

One layer handles them: the API's writes (``service/api/transitions.py``) ask ``find`` first, in the unit of work
the write then runs in, and ``remember`` the answer in it; the engine only records the key in the audit event."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.errors import IdempotencyKeyReused, InvalidPayload, Reason
from service.persistence.tables import IdempotencyRecord

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class IdempotencyRequest:
    key: str
    scope: str  # method and path: a key reused on another endpoint is another body
    request_hash: str


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any


def request_fingerprint(scope: str, body: Any) -> str:
    canonical = json.dumps({"scope": scope, "body": body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def idempotency_request(key: str | None, scope: str, body: Any) -> IdempotencyRequest | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise InvalidPayload(
            "Idempotency-Key must be 1 to 200 characters",
            reasons=[Reason("idempotency_key_invalid", "use a random key of at most 200 characters")],
        )
    return IdempotencyRequest(key, scope, request_fingerprint(scope, body))


async def find(session: AsyncSession, actor: Actor, request: IdempotencyRequest) -> StoredResponse | None:
    if session.get_bind().dialect.name == "postgresql":
        # Requests of one caller with one key wait for each other until the first commits, so a retry sent while
        # the first is still in flight (e.g. through another replica) gets the stored response, not a 409 from the
        # unique case constraint. SQLite's write lock (BEGIN IMMEDIATE) already serialises writers.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"idempotency\x1f{actor.sub}\x1f{request.key}"},
        )
    record = await session.get(IdempotencyRecord, (actor.sub, request.key), populate_existing=True)
    if record is None:
        return None
    if record.scope != request.scope:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used on another endpoint",
            reasons=[
                Reason(
                    "idempotency_key_reused",
                    f"the key was first used for {record.scope}, not {request.scope}; use a new key per request",
                    f"khóa đã dùng cho {record.scope}, không phải {request.scope}; mỗi yêu cầu dùng một khóa mới",
                )
            ],
            detail_vi="Idempotency-Key này đã được dùng cho một thao tác khác",
        )
    if record.request_hash != request.request_hash:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with another request",
            reasons=[
                Reason(
                    "idempotency_key_reused",
                    f"the key was first used for {record.scope} with a different body; use a new key per request",
                    f"khóa đã dùng cho {record.scope} với nội dung khác; mỗi yêu cầu dùng một khóa mới",
                )
            ],
            detail_vi="Idempotency-Key này đã được dùng cho một yêu cầu có nội dung khác",
        )
    return StoredResponse(record.status_code, json.loads(record.response_body))


def remember(
    session: AsyncSession, actor: Actor, request: IdempotencyRequest, *, status_code: int, body: Any, now: datetime
) -> None:
    """Stored in the same transaction as the change it answers for, so both commit or neither does."""
    session.add(
        IdempotencyRecord(
            actor_sub=actor.sub,
            key=request.key,
            scope=request.scope,
            request_hash=request.request_hash,
            status_code=status_code,
            response_body=json.dumps(body, ensure_ascii=False, default=str),
            created_at=now,
        )
    )
