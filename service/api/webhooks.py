"""Webhook subscriptions, their delivery log, redelivery, replay and secret rotation (admins of a unit)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select

from service.api.audit import as_utc
from service.api.cases import ActorDep, NowDep, ServicesDep
from service.api.errors import problems
from service.api.params import Instant, aware_datetime, decode_cursor, encode_cursor, strict_str
from service.api.schemas import Out
from service.domain.errors import NotFound, Reason
from service.persistence.db import unit_of_work
from service.persistence.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription
from service.webhooks import fanout, subscriptions
from service.webhooks.subscriptions import EVENT_TYPES

router = APIRouter(prefix="/v1", tags=["webhooks"])


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, description="https in production; never a private address")
    events: list[str] = Field(min_length=1, description=f"Event types: {', '.join(EVENT_TYPES)}")
    units: list[str] | None = Field(default=None, description="Units (each with everything below it); default: yours")
    description: str | None = Field(default=None, max_length=500)


class SubscriptionOut(Out):
    id: str
    url: str
    events: list[str]
    units: list[str] | None
    description: str | None
    status: Literal["active", "disabled", "deleted"]
    disabled_reason: str | None
    owner_unit: str
    previous_secret_valid_until: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="Shown this once: keep it to verify signatures")


class SecretOut(Out):
    id: str
    secret: str = Field(description="The new secret, shown this once")
    previous_secret_valid_until: datetime | None


class AttemptOut(Out):
    number: int
    started_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    response_excerpt: str | None


class DeliveryOut(Out):
    id: str
    msg_id: str = Field(description="The webhook-id header, the same on every attempt")
    event_type: str
    case_id: str | None
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut] | None = None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: Instant


class ReplayOut(Out):
    created: int
    requeued: int


def subscription_out(s: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.id,
        url=s.url,
        events=s.events,
        units=s.units,
        description=s.description,
        status=s.status,
        disabled_reason=s.disabled_reason,
        owner_unit=s.owner_unit,
        previous_secret_valid_until=s.previous_secret_until,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def delivery_out(d: WebhookDelivery, attempts: list[WebhookAttempt] | None = None) -> DeliveryOut:
    log = (
        None
        if attempts is None
        else [
            AttemptOut(
                number=a.number,
                started_at=a.started_at,
                status_code=a.status_code,
                latency_ms=a.latency_ms,
                error=a.error,
                response_excerpt=a.response_excerpt,
            )
            for a in attempts
        ]
    )
    return DeliveryOut(
        id=d.id,
        msg_id=d.msg_id,
        event_type=d.event_type,
        case_id=d.case_id,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        delivered_at=d.delivered_at,
        created_at=d.created_at,
        attempt_log=log,
    )


@router.post(
    "/webhooks",
    status_code=201,
    response_model=SubscriptionCreated,
    responses=problems(401, 403, 404, 422),
    summary="Subscribe a URL to events; the signing secret is returned this once",
)
async def create_subscription(body: SubscriptionIn, actor: ActorDep, svc: ServicesDep, at: NowDep) -> JSONResponse:
    async with unit_of_work(svc.sessions) as session:
        subscription, secret = await subscriptions.create(
            session,
            settings=svc.settings,
            actor=actor,
            url=body.url,
            events=body.events,
            units=body.units,
            description=body.description,
            now=at,
        )
        out = SubscriptionCreated(**subscription_out(subscription).model_dump(), secret=secret)
    return JSONResponse(out.model_dump(mode="json"), status_code=201)


@router.get(
    "/webhooks",
    response_model=list[SubscriptionOut],
    responses=problems(401, 403),
    summary="Subscriptions owned within the admin's unit (secrets are never shown)",
)
async def list_subscriptions(actor: ActorDep, svc: ServicesDep) -> list[SubscriptionOut]:
    async with svc.sessions() as session:
        return [subscription_out(s) for s in await subscriptions.list_owned(session, actor)]


@router.get("/webhooks/{subscription_id}", response_model=SubscriptionOut, responses=problems(401, 403, 404))
async def get_subscription(subscription_id: str, actor: ActorDep, svc: ServicesDep) -> SubscriptionOut:
    async with svc.sessions() as session:
        return subscription_out(await subscriptions.get_owned(session, actor, subscription_id))


@router.delete(
    "/webhooks/{subscription_id}",
    status_code=204,
    responses=problems(401, 403, 404),
    summary="Stop delivering to this subscription (kept, marked deleted, for the delivery log)",
)
async def delete_subscription(subscription_id: str, actor: ActorDep, svc: ServicesDep, at: NowDep) -> Response:
    async with unit_of_work(svc.sessions) as session:
        await subscriptions.delete(session, actor=actor, subscription_id=subscription_id, now=at)
    return Response(status_code=204)


@router.post(
    "/webhooks/{subscription_id}/rotate-secret",
    response_model=SecretOut,
    responses=problems(401, 403, 404, 409),
    summary="A new secret; the old one stays valid, and is signed with, for the overlap period",
)
async def rotate_secret(subscription_id: str, actor: ActorDep, svc: ServicesDep, at: NowDep) -> SecretOut:
    async with unit_of_work(svc.sessions) as session:
        subscription, secret = await subscriptions.rotate(
            session, settings=svc.settings, actor=actor, subscription_id=subscription_id, now=at
        )
        return SecretOut(
            id=subscription.id, secret=secret, previous_secret_valid_until=subscription.previous_secret_until
        )


@router.post(
    "/webhooks/{subscription_id}/enable",
    response_model=SubscriptionOut,
    responses=problems(401, 403, 404, 409, 422),
    summary="Re-enable a disabled subscription",
)
async def enable_subscription(subscription_id: str, actor: ActorDep, svc: ServicesDep, at: NowDep) -> SubscriptionOut:
    async with unit_of_work(svc.sessions) as session:
        return subscription_out(
            await subscriptions.enable(
                session, settings=svc.settings, actor=actor, subscription_id=subscription_id, now=at
            )
        )


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    response_model=DeliveryPage,
    responses=problems(401, 403, 404),
    summary="The delivery log, newest first",
)
async def list_deliveries(
    subscription_id: str,
    actor: ActorDep,
    svc: ServicesDep,
    status: Literal["pending", "delivered", "failed", "cancelled"] | None = None,
    since: Instant | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> DeliveryPage:
    size = limit or svc.settings.page_size_default
    async with svc.sessions() as session:
        await subscriptions.get_owned(session, actor, subscription_id)
        query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
        if status:
            query = query.where(WebhookDelivery.status == status)
        if since:
            query = query.where(WebhookDelivery.created_at >= as_utc(since))
        if cursor:
            created, after = decode_cursor(cursor, (aware_datetime, strict_str))
            query = query.where(
                or_(
                    WebhookDelivery.created_at < created,
                    and_(WebhookDelivery.created_at == created, WebhookDelivery.id < after),
                )
            )
        rows = (
            (
                await session.execute(
                    query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(size + 1)
                )
            )
            .scalars()
            .all()
        )
    last = rows[size - 1] if len(rows) > size else None
    return DeliveryPage(
        items=[delivery_out(d) for d in rows[:size]],
        next_cursor=encode_cursor([last.created_at.isoformat(), last.id]) if last else None,
    )


@router.get(
    "/webhooks/{subscription_id}/deliveries/{delivery_id}",
    response_model=DeliveryOut,
    responses=problems(401, 403, 404),
    summary="One delivery with every attempt",
)
async def get_delivery(subscription_id: str, delivery_id: str, actor: ActorDep, svc: ServicesDep) -> DeliveryOut:
    async with svc.sessions() as session:
        await subscriptions.get_owned(session, actor, subscription_id)
        found = await session.get(WebhookDelivery, delivery_id)
        if found is None or found.subscription_id != subscription_id:
            raise NotFound(f"no delivery {delivery_id}", reasons=[Reason("delivery_unknown", "check the ids")])
        attempts = (
            (
                await session.execute(
                    select(WebhookAttempt)
                    .where(WebhookAttempt.delivery_id == delivery_id)
                    .order_by(WebhookAttempt.number)
                )
            )
            .scalars()
            .all()
        )
    return delivery_out(found, list(attempts))


@router.post(
    "/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses=problems(401, 403, 404, 409),
    summary="Queue one delivery again (same webhook-id)",
)
async def redeliver_delivery(
    subscription_id: str, delivery_id: str, actor: ActorDep, svc: ServicesDep, at: NowDep
) -> JSONResponse:
    async with unit_of_work(svc.sessions) as session:
        subscription = await subscriptions.get_owned(session, actor, subscription_id)
        subscriptions.require_live(subscription)
        found = await fanout.redeliver(session, subscription=subscription, delivery_id=delivery_id, now=at)
        out = delivery_out(found).model_dump(mode="json")
    return JSONResponse(out, status_code=202)


@router.post(
    "/webhooks/{subscription_id}/replay",
    status_code=202,
    response_model=ReplayOut,
    responses=problems(401, 403, 404, 409, 422),
    summary="Deliver again every matching event since a time",
)
async def replay_deliveries(
    subscription_id: str, body: ReplayIn, actor: ActorDep, svc: ServicesDep, at: NowDep
) -> JSONResponse:
    async with unit_of_work(svc.sessions) as session:
        subscription = await subscriptions.get_owned(session, actor, subscription_id)
        subscriptions.require_live(subscription)
        created, requeued = await fanout.replay(session, subscription=subscription, since=as_utc(body.since), now=at)
    return JSONResponse(ReplayOut(created=created, requeued=requeued).model_dump(), status_code=202)
