"""Audit exports (streamed, verifiable offline) and signed checkpoints of the chains' heads."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.api.audit import as_utc
from service.api.cases import ActorDep, NowDep, ServicesDep
from service.api.checkpoint_out import (
    SUMMARY_COLUMNS,
    CheckpointDocument,
    CheckpointOut,
    CheckpointPage,
    CheckpointProblem,
    CheckpointVerifyOut,
    summary_of,
)
from service.api.errors import problems
from service.api.params import Instant, aware_datetime, decode_cursor, encode_cursor, strict_str
from service.domain import authority
from service.domain.actor import Actor
from service.domain.audit import checkpoints
from service.domain.audit.canonical import case_chain, format_time
from service.domain.audit.offline import EXPORT_FIELDS
from service.domain.errors import Conflict, NotFound, Reason
from service.persistence import keys
from service.persistence.db import unit_of_work
from service.persistence.queries import unit_subtree
from service.persistence.tables import AuditCheckpoint, AuditEvent
from service.workers.verified_checkpoint import verify_and_sign

router = APIRouter(prefix="/v1", tags=["audit"])
access_log = logging.getLogger("cdht.audit.access")

EXPORT_BATCH = 1000  # rows per fetch from the server-side cursor, and per chunk sent
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


# --- export --------------------------------------------------------------------------------------------------


def export_query(
    actor: Actor,
    jurisdiction: authority.Jurisdiction,
    *,
    case: str | None,
    unit: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select:
    """The events an export holds, by chain then seq. Whole chains only, so that an export verifies offline: the
    chains without a case (``admin``, ``webhooks``) record the whole country and go to national callers exporting
    without ``case`` or ``unit``; everyone else gets the case chains of what they may read."""
    query = select(*(AuditEvent.__table__.c[name] for name in EXPORT_FIELDS))
    every_chain = authority.may(actor, authority.EXPORT_EVERY_CHAIN).allowed
    if not every_chain or case or unit:
        query = query.where(AuditEvent.chain.startswith("case:"))
    if not every_chain:
        query = query.where(authority.readable_events(jurisdiction))
    if case:
        query = query.where(AuditEvent.chain == case_chain(case))
    if unit:
        query = query.where(AuditEvent.unit_code.in_(unit_subtree(unit, name="requested_unit")))
    if since:
        query = query.where(AuditEvent.occurred_at >= as_utc(since))
    if until:
        query = query.where(AuditEvent.occurred_at < as_utc(until))
    return query.order_by(AuditEvent.chain, AuditEvent.seq)


def _record(row: Any) -> dict[str, Any]:
    """Every hashed field as it was hashed: the time as ``format_time`` wrote it, the payload's stored text."""
    record = dict(row._mapping)
    record["occurred_at"] = format_time(record["occurred_at"])
    return record


def _jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(_record(row), ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows).encode(
        "utf-8"
    )


def _csv_header() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(EXPORT_FIELDS)
    return buffer.getvalue().encode("utf-8")


def _csv(rows: list[Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        record = _record(row)
        writer.writerow(["" if record[name] is None else record[name] for name in EXPORT_FIELDS])
    return buffer.getvalue().encode("utf-8")


async def stream_export(
    sessions: async_sessionmaker[AsyncSession],
    query: Select,
    encode: Callable[[list[Any]], bytes],
    *,
    header: bytes = b"",
    on_done: Callable[[int, bool], None],
) -> AsyncIterator[bytes]:
    """One server-side cursor (one consistent snapshot), fetched ``EXPORT_BATCH`` rows at a time; memory holds
    one batch whatever the size of the export."""
    count, complete = 0, False
    try:
        if header:
            yield header
        async with sessions() as session:
            result = await session.stream(query.execution_options(yield_per=EXPORT_BATCH))
            async for rows in result.partitions():
                count += len(rows)
                yield encode(rows)
        complete = True
    finally:
        on_done(count, complete)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The events, by chain then seq, streamed",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **problems(401, 403, 422),
    },
    summary="Stream the audit events of the caller's jurisdiction as JSONL or CSV, verifiable offline",
    description="Each JSONL line holds every hashed field exactly as hashed (`occurred_at` as "
    "`YYYY-MM-DDTHH:MM:SS.ffffffZ`, `payload` the stored canonical JSON text), `prev_hash` and `hash`, so "
    "`cdht audit verify FILE` recomputes every hash without the database; CSV has the same columns (empty for "
    "null). Whole chains, ordered by chain then seq: an auditor below national level gets the case chains of "
    "the cases they may read (their unit and below, and the units it continues since a reform); a national "
    "auditor or admin without `case`/`unit` also gets the chains without a case (`admin`, `webhooks`). "
    "`since`/`until` cut chains (verify with `--partial`). Each export is logged.",
)
async def export_audit(
    actor: ActorDep,
    svc: ServicesDep,
    export_format: Annotated[Literal["jsonl", "csv"], Query(alias="format")] = "jsonl",
    case: str | None = None,
    unit: Annotated[str | None, Query(description="A unit and all below it")] = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> StreamingResponse:
    authority.require(actor, authority.EXPORT_AUDIT)
    async with svc.sessions() as session:
        jurisdiction = await authority.jurisdiction(session, actor)
    query = export_query(actor, jurisdiction, case=case, unit=unit, since=since, until=until)
    filters = {"format": export_format, "case": case, "unit": unit, "since": since, "until": until}
    started = svc.settings.clock()

    def on_done(count: int, complete: bool) -> None:
        access_log.info(
            "audit export by %s (%s at %s): %s; %d events%s",
            actor.sub,
            ",".join(actor.roles),
            actor.unit,
            " ".join(f"{k}={v.isoformat() if isinstance(v, datetime) else v}" for k, v in filters.items() if v),
            count,
            "" if complete else " (interrupted)",
            extra={
                "actor": actor.sub,
                "roles": list(actor.roles),
                "unit": actor.unit,
                "filters": {k: v for k, v in filters.items() if v},
                "events": count,
                "complete": complete,
            },
        )

    # The first JSONL line says when the export was taken and whether it holds every chain, so an offline verify
    # can require every checkpoint made before it to be found in it.
    whole = authority.may(actor, authority.EXPORT_EVERY_CHAIN).allowed and not any((case, unit, since, until))
    preamble = (
        json.dumps(
            {
                "export": {
                    "format": "cdht-audit-jsonl/1",
                    "taken_at": format_time(started),
                    "complete": whole,
                    "filters": {
                        k: (v.isoformat() if isinstance(v, datetime) else v)
                        for k, v in filters.items()
                        if v and k != "format"
                    },
                }
            },
            sort_keys=True,
            ensure_ascii=False,
        ).encode("utf-8")
        + b"\n"
    )
    scope = _safe(f"case-{case}" if case else f"unit-{unit}" if unit else actor.unit)
    filename = f"cdht-audit-{scope}-{started.strftime('%Y%m%dT%H%M%SZ')}.{export_format}"
    body = stream_export(
        svc.sessions,
        query,
        _jsonl if export_format == "jsonl" else _csv,
        header=_csv_header() if export_format == "csv" else preamble,
        on_done=on_done,
    )
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[export_format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


# --- checkpoints -------------------------------------------------------------------------------------------------


@router.get(
    "/audit/checkpoints",
    response_model=CheckpointPage,
    responses=problems(401, 403, 422),
    summary="Signed checkpoints of the chains' heads, newest first",
)
async def list_checkpoints(
    actor: ActorDep,
    svc: ServicesDep,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> CheckpointPage:
    authority.require(actor, authority.READ_CHECKPOINTS)
    size = limit or svc.settings.page_size_default
    query = select(*SUMMARY_COLUMNS)
    if cursor:
        moment, after_id = decode_cursor(cursor, (aware_datetime, strict_str))
        query = query.where(
            or_(
                AuditCheckpoint.created_at < moment,
                and_(AuditCheckpoint.created_at == moment, AuditCheckpoint.id < after_id),
            )
        )
    query = query.order_by(AuditCheckpoint.created_at.desc(), AuditCheckpoint.id.desc()).limit(size + 1)
    async with svc.sessions() as session:
        rows = (await session.execute(query)).all()
    next_cursor = None
    if len(rows) > size:
        last = rows[size - 1]
        next_cursor = encode_cursor([last.created_at.isoformat(), last.id])
    return CheckpointPage(items=[summary_of(row) for row in rows[:size]], next_cursor=next_cursor)


@router.post(
    "/audit/checkpoints",
    response_model=CheckpointOut,
    status_code=201,
    responses=problems(401, 403, 409),
    summary="Sign the heads of every chain now (a national auditor or admin)",
    description="With `verify=true` the service first verifies every chain in full (as `GET /v1/audit/verify` "
    "does), and signs only if that finds nothing: the heads of the verify's own snapshot, with `verified` (what the "
    "verify covered) signed beside them; the incremental verify starts from the newest checkpoint so marked. A "
    "verify that finds something signs nothing: 409 `audit_not_verified`, naming the first bad event.",
)
async def create_checkpoint(
    actor: ActorDep,
    svc: ServicesDep,
    now: NowDep,
    response: Response,
    verify: Annotated[bool, Query(description="Sign only after a full verify of these very heads passes")] = False,
) -> CheckpointOut:
    authority.require(actor, authority.SIGN_CHECKPOINT)
    if verify:
        authority.require(actor, authority.VERIFY_EVERY_CHAIN)
        report, signed = await verify_and_sign(svc.sessions, svc.settings, actor=actor, now=now)
        if signed is None:
            bad = report.first_bad_event or {}
            raise Conflict(
                f"the full verify found a problem, so no checkpoint was signed: {bad.get('problem')}",
                detail_vi="Kiểm tra toàn bộ nhật ký phát hiện sai lệch nên không ký điểm kiểm tra",
                reasons=[Reason("audit_not_verified", "see first_bad_event; GET /v1/audit/verify says the same")],
                extra={"first_bad_event": report.first_bad_event},
            )
        checkpoint = signed
    else:
        async with unit_of_work(svc.sessions) as session:
            checkpoint = await checkpoints.create_checkpoint(session, settings=svc.settings, actor=actor, now=now)
    response.headers["Location"] = f"/v1/audit/checkpoints/{checkpoint.id}"
    return summary_of(checkpoint)


@router.get(
    "/audit/checkpoints/public-key",
    response_class=PlainTextResponse,
    responses={
        200: {"description": "The Ed25519 public key (PEM)", "content": {"application/x-pem-file": {}}},
        **problems(401, 403),
    },
    summary="The public key the checkpoints are signed with, for operators to keep outside the database",
)
async def get_checkpoint_public_key(actor: ActorDep, svc: ServicesDep) -> PlainTextResponse:
    authority.require(actor, authority.READ_CHECKPOINT_KEY)
    return PlainTextResponse(keys.public_key_pem(svc.settings), media_type="application/x-pem-file")


@router.get(
    "/audit/checkpoints/verify",
    response_model=CheckpointVerifyOut,
    responses=problems(401, 403, 404),
    summary="Check every checkpoint's signature, and that every event it recorded still has its hash",
    description="A national auditor or admin. `checkpoint` checks one. A problem names the oldest checkpoint that "
    "recorded the event: `event changed after checkpoint <id>`, `chain removed after checkpoint <id>`.",
)
async def verify_checkpoints(actor: ActorDep, svc: ServicesDep, checkpoint: str | None = None) -> CheckpointVerifyOut:
    authority.require(actor, authority.VERIFY_CHECKPOINTS)
    async with svc.sessions() as session:
        report = await checkpoints.verify_checkpoints(session, settings=svc.settings, checkpoint_id=checkpoint)
    if checkpoint is not None and report.checkpoints_checked == 0:
        raise NotFound(f"no checkpoint {checkpoint}", reasons=[Reason("checkpoint_unknown", "check the id")])
    return CheckpointVerifyOut(
        ok=report.ok,
        key_id=report.key_id,
        checkpoints_checked=report.checkpoints_checked,
        heads_checked=report.heads_checked,
        problems_total=report.problems_total,
        problems=[CheckpointProblem(**problem) for problem in report.problems],
    )


@router.get(
    "/audit/checkpoints/{checkpoint_id}",
    response_model=CheckpointDocument,
    responses=problems(401, 403, 404),
    summary="One checkpoint with every head it recorded, as `cdht audit verify --checkpoints` reads it",
)
async def get_checkpoint(actor: ActorDep, svc: ServicesDep, checkpoint_id: str) -> dict[str, Any]:
    authority.require(actor, authority.READ_CHECKPOINT_HEADS)
    async with svc.sessions() as session:
        row = await session.get(AuditCheckpoint, checkpoint_id)
    if row is None:
        raise NotFound(f"no checkpoint {checkpoint_id}", reasons=[Reason("checkpoint_unknown", "check the id")])
    return checkpoints.document_of(row)
