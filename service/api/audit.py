"""Audit search and verification of the hash chains."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import ColumnElement, select

from service.api.cases import ActorDep, ServicesDep, readable_case
from service.api.errors import problems
from service.api.event_json import ROW_ID, event_page_json, out_columns
from service.api.params import Instant, decode_cursor, encode_cursor, strict_int
from service.api.schemas import EventPage, FilesVerifyOut, VerifiedFrom, VerifyOut
from service.domain import authority
from service.domain.audit.evidence_files import verify_evidence_files
from service.domain.audit.incremental import NoCheckpoint
from service.domain.audit.verify import verify as verify_chains
from service.domain.errors import NotFound, Reason
from service.persistence.queries import (
    first_ids_of_each,
    one_of,
    prefix_values,
    scope_codes,
)
from service.persistence.tables import AuditEvent
from service.workers.verify_processes import verify_every_chain, verify_since_checkpoint

router = APIRouter(prefix="/v1", tags=["audit"])
access_log = logging.getLogger("cdht.audit.access")


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@router.get(
    "/audit/events",
    response_model=EventPage,
    responses=problems(401, 422),
    summary="Search audit events in the caller's jurisdiction, oldest first, keyset-paginated",
    description="Filters combine (AND). `unit` includes every unit below it; `citation` matches the start of the "
    "legal reference (e.g. `TT25/2023 Điều 9 k2`); `breaches=true` keeps the recorded deadline breaches. Each "
    "search is logged with who asked and what.",
)
async def search_events(
    actor: ActorDep,
    svc: ServicesDep,
    case: str | None = None,
    procedure: str | None = None,
    actor_sub: Annotated[str | None, Query(alias="actor")] = None,
    role: Annotated[str | None, Query(description="The role the actor acted in")] = None,
    unit: Annotated[str | None, Query(description="A unit and all below it")] = None,
    trigger: str | None = None,
    kind: Annotated[str | None, Query(description="case_opened, transition, indicator_transition, …")] = None,
    citation: Annotated[str | None, Query(description="Legal reference prefix, e.g. TT25/2023 Điều 9")] = None,
    breaches: Annotated[bool | None, Query(description="Only recorded deadline breaches")] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> Response:
    size = limit or svc.settings.page_size_default
    conditions: list[ColumnElement[bool]] = []
    filters = {
        AuditEvent.case_id: case,
        AuditEvent.procedure: procedure,
        AuditEvent.actor_sub: actor_sub,
        AuditEvent.actor_role: role,
        AuditEvent.trigger: trigger,
        AuditEvent.kind: "deadline_breached" if breaches else kind,
    }
    for column, value in filters.items():
        if value is not None:
            conditions.append(column == value)
    if breaches is False:
        conditions.append(AuditEvent.kind != "deadline_breached")
    # A time without an offset is read as UTC, the zone of storage.
    if since:
        conditions.append(AuditEvent.occurred_at >= as_utc(since))
    if until:
        conditions.append(AuditEvent.occurred_at < as_utc(until))
    if cursor:
        (after,) = decode_cursor(cursor, (strict_int,))
        conditions.append(AuditEvent.id > after)
    async with svc.sessions() as session:
        dialect = session.get_bind().dialect.name
        postgres = dialect == "postgresql"
        # authority.readable_events, with the caller's jurisdiction and the requested unit read as lists of codes
        # first: a list of codes is an index condition on audit_event, where a join to the recursive subtree could
        # only filter a walk by id. On PostgreSQL a citation prefix is likewise read as the few citations that have
        # it (SQLite keeps LIKE).
        jurisdiction = await authority.jurisdiction(session, actor)
        conditions.append(authority.own_subject_events(jurisdiction))
        scope = await scope_codes(session, jurisdiction.roots, unit or None)
        citations = await prefix_values(session, AuditEvent.citation, citation) if citation and postgres else None
        if citation and not postgres:
            conditions.append(AuditEvent.citation.startswith(citation, autoescape=True))
        if scope is None:  # the whole tree: every event that belongs to a unit
            conditions.append(AuditEvent.unit_code.is_not(None))
        lists = {AuditEvent.unit_code: scope, AuditEvent.citation: citations}
        # Paging by id through a list of several values: PostgreSQL reads each value's first ids through its
        # (value, id) index and merges them, unless a single-valued filter with its own (value, id) index leads (a
        # case, an actor, a trigger), or a time range does (a province's week: the (unit, time) index).
        merged = None
        if postgres and case is None and actor_sub is None and trigger is None:
            if citations is not None and len(citations) > 1:
                merged = AuditEvent.citation
            elif scope is not None and len(scope) > 1 and since is None and until is None:
                merged = AuditEvent.unit_code
        for column, values in lists.items():
            if values is not None and column is not merged:
                conditions.append(one_of(column, values, dialect))
        # The page's ids first, then its rows by id: the ids can come from an index alone when it holds every
        # filtered column (the covering columns of migration 0005: a province's actor, trigger or week), where
        # reading the rows with the filter would fetch every row the walk passes.
        if any(values == [] for values in lists.values()):
            rows: Sequence[Any] = []
        else:
            if merged is None:
                first = select(AuditEvent.id).where(*conditions).order_by(AuditEvent.id).limit(size + 1)
            else:
                first = first_ids_of_each(merged, lists[merged] or [], conditions, size + 1)
            query = select(*out_columns()).where(AuditEvent.id.in_(first)).order_by(AuditEvent.id)
            rows = (await session.execute(query)).all()
    access_log.info(
        "audit search by=%s unit=%s roles=%s filters=%s results=%d",
        actor.sub,
        actor.unit,
        ",".join(actor.roles),
        {
            k: v
            for k, v in {
                "case": case,
                "procedure": procedure,
                "actor": actor_sub,
                "role": role,
                "unit": unit,
                "trigger": trigger,
                "kind": kind,
                "citation": citation,
                "breaches": breaches,
                "since": since,
                "until": until,
            }.items()
            if v is not None
        },
        min(len(rows), size),
    )
    next_cursor = encode_cursor([rows[size - 1][ROW_ID]]) if len(rows) > size else None
    # Written straight from the rows, each payload its stored text (event_json), as EventPage serialises them.
    return Response(event_page_json(rows[:size], next_cursor), media_type="application/json")


@router.get(
    "/audit/verify",
    response_model=VerifyOut,
    response_model_exclude_unset=True,  # ``files`` only when deep, ``checkpoint`` only when incremental
    responses=problems(401, 403, 404),
    summary="Recompute the hash chains and name the first bad event; `deep=true` also checks the evidence files",
    description="With `case`, that case's chain (anyone who may read the case); without it, every chain "
    "(a national auditor or admin). `mode=full` (the default) re-hashes every event. `mode=incremental` starts "
    "from a signed checkpoint (the newest marked verified — signed right after a full verify passed over its heads, "
    "`POST /v1/audit/checkpoints?verify=true` — or the newest of all when none is, or `checkpoint=<id>`; 404 "
    "`checkpoint_unknown` when there is none): it "
    "checks the checkpoint's signature with the service's key, that every event the checkpoint signed still carries "
    "the signed hash and that every chain is still numbered without a gap, then re-hashes only the events after the "
    "signed heads and compares every chain's head and case row; the answer names the checkpoint (`checkpoint`, with "
    "`verified`: its signed record of the full verify over its heads, or null) and the events taken on its word "
    "(`events_trusted`). An event before the checkpoint changed with its stored hash "
    "left as it was is found by the full verify only. With `deep=true` every evidence file on disk (or the "
    "case's) is hashed and compared with its recorded SHA-256 and size; `files` lists each record whose file is "
    "missing or changed.",
)
async def verify_audit(
    actor: ActorDep,
    svc: ServicesDep,
    case: str | None = None,
    deep: Annotated[bool, Query(description="Also hash every evidence file on disk")] = False,
    mode: Annotated[
        Literal["full", "incremental"],
        Query(description="full: every event re-hashed; incremental: only what came after a signed checkpoint"),
    ] = "full",
    checkpoint: Annotated[
        str | None, Query(description="With mode=incremental: the checkpoint to start from (default the newest)")
    ] = None,
) -> VerifyOut:
    async with svc.sessions() as session:
        if case is not None:
            await readable_case(session, svc.registry, case, actor)
        else:
            authority.require(actor, authority.VERIFY_EVERY_CHAIN)
        since = None
        if mode == "incremental":
            try:
                since = await verify_since_checkpoint(session, svc.settings, checkpoint_id=checkpoint, case_id=case)
            except NoCheckpoint as missing:
                sign_first = Reason("checkpoint_unknown", "sign a checkpoint first", "hãy ký một điểm kiểm tra trước")
                raise NotFound(str(missing), detail_vi=missing.vi, reasons=[sign_first]) from None
            report = since.report
        elif case is not None:
            report = await verify_chains(session, case_id=case)
        else:
            report = await verify_every_chain(session, svc.settings)
    out = VerifyOut(
        ok=report.ok,
        mode=mode,
        events_checked=report.events_checked,
        chains_checked=report.chains_checked,
        first_bad_event=report.first_bad_event,
    )
    if since is not None:
        out.checkpoint = VerifiedFrom(**since.checkpoint)
        out.events_trusted = since.events_trusted
    if deep:
        async with svc.sessions() as session:
            checked = await verify_evidence_files(session, svc.settings.data_dir, case_id=case)
        out.ok = report.ok and checked.ok
        out.files = FilesVerifyOut(
            ok=checked.ok,
            files_checked=checked.files_checked,
            records_checked=checked.records_checked,
            problems_total=checked.problems_total,
            problems=checked.problems,
        )
    return out
