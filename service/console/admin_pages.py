"""The admins' and auditors' service pages: administrative units with their successions (and adding one),
campaigns (the dry run first, its table, then the run), webhook subscriptions with their delivery log, redelivery
and replay, and the signed audit checkpoints with their signature check. Each calls the API's own function as the
signed-in person: who may do what is the API's (and so authority's) answer, shown as a page when it refuses."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from service.api import admin_units, audit_export, campaigns, webhooks
from service.api.schemas import AdminUnitIn
from service.console.render import page
from service.console.routing import PREFIX, ConsoleRoute, checked_form, services_and_now, signed_in
from service.domain.errors import InvalidPayload, Reason
from service.webhooks.subscriptions import EVENT_TYPES

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def model(cls: Any, values: dict[str, Any]) -> Any:
    """The API's own request model built from a form: its validation errors are the API's, as a refusal."""
    try:
        return cls(**values)
    except ValidationError as exc:
        raise InvalidPayload(
            "the form is not acceptable; nothing was changed",
            reasons=[
                Reason("request_invalid", f"{'/'.join(str(p) for p in e['loc'])}: {e['msg']}") for e in exc.errors()
            ],
        ) from None


@router.get("/admin")
async def admin(request: Request) -> Response:
    signed_in(request)
    return page(request, "admin.html")


@router.get("/units")
async def units(request: Request) -> Response:
    actor = signed_in(request)
    svc, _ = services_and_now(request)
    parent = request.query_params.get("parent") or None
    detail = await admin_units.get_unit(parent, actor, svc) if parent else None
    children = await admin_units.list_units(actor, svc, parent=parent)
    return page(request, "units.html", parent=parent, detail=detail, children=children)


@router.post("/units")
async def add_unit(request: Request) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    form = await checked_form(request)
    values = {k: form.get(k) or None for k in ("code", "name", "level", "parent", "source")}
    values["disadvantaged"] = form.get("disadvantaged") == "on"
    await admin_units.add_unit(model(AdminUnitIn, values), request, actor, svc, at)
    where = f"?{urlencode({'parent': values['parent']})}" if values.get("parent") else ""
    return RedirectResponse(f"{PREFIX}/units{where}", status_code=303)


@router.get("/campaigns")
async def campaigns_page(request: Request) -> Response:
    signed_in(request)
    return page(request, "campaigns.html", result=None, values={})


@router.post("/campaigns")
async def campaign(request: Request) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    form = await checked_form(request)
    values = {
        "procedure": form.get("procedure") or "cdht_xa",
        "unit": (form.get("unit") or "").strip(),
        "cycle": form.get("cycle"),
        "kind": form.get("kind") or "first",
        "dry_run": form.get("run") != "true",
    }
    answer = await campaigns.open_campaign(model(campaigns.CampaignIn, values), request, actor, svc, at)
    return page(request, "campaigns.html", result=json.loads(answer.body), values=values)


@router.get("/webhooks")
async def subscriptions(request: Request) -> Response:
    actor = signed_in(request)
    svc, _ = services_and_now(request)
    items = await webhooks.list_subscriptions(actor, svc)
    return page(request, "webhooks.html", items=items, event_types=EVENT_TYPES, created=None)


@router.post("/webhooks")
async def subscribe(request: Request) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    form = await request.form()
    fields = await checked_form(request)
    values = {
        "url": fields.get("url", ""),
        "events": [e for e in form.getlist("events") if isinstance(e, str)],
        "units": [u.strip() for u in (fields.get("units") or "").split(",") if u.strip()] or None,
        "description": fields.get("description") or None,
    }
    answer = await webhooks.create_subscription(model(webhooks.SubscriptionIn, values), actor, svc, at)
    items = await webhooks.list_subscriptions(actor, svc)
    created = json.loads(answer.body)
    return page(request, "webhooks.html", items=items, event_types=EVENT_TYPES, created=created)


async def _subscription_page(request: Request, subscription_id: str, **extra: Any) -> Response:
    actor = signed_in(request)
    svc, _ = services_and_now(request)
    subscription = await webhooks.get_subscription(subscription_id, actor, svc)
    q = request.query_params
    status = q.get("status") if q.get("status") in ("pending", "delivered", "failed", "cancelled") else None
    deliveries = await webhooks.list_deliveries(
        subscription_id, actor, svc, status=status, cursor=q.get("cursor") or None, limit=50
    )
    return page(
        request, "webhook.html", subscription=subscription, deliveries=deliveries, status_filter=status, **extra
    )


@router.get("/webhooks/{subscription_id}")
async def subscription(request: Request, subscription_id: str) -> Response:
    return await _subscription_page(request, subscription_id)


@router.post("/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(request: Request, subscription_id: str, delivery_id: str) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    await checked_form(request)
    answer = await webhooks.redeliver_delivery(subscription_id, delivery_id, actor, svc, at)
    return await _subscription_page(request, subscription_id, done=json.loads(answer.body))


@router.post("/webhooks/{subscription_id}/replay")
async def replay(request: Request, subscription_id: str) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    form = await checked_form(request)
    body = model(webhooks.ReplayIn, {"since": form.get("since")})
    answer = await webhooks.replay_deliveries(subscription_id, body, actor, svc, at)
    return await _subscription_page(request, subscription_id, done=json.loads(answer.body))


@router.get("/audit/checkpoints")
async def checkpoints(request: Request) -> Response:
    actor = signed_in(request)
    svc, _ = services_and_now(request)
    listed = await audit_export.list_checkpoints(actor, svc, cursor=request.query_params.get("cursor"), limit=50)
    report = None
    if request.query_params.get("verify"):
        report = await audit_export.verify_checkpoints(actor, svc)
    return page(request, "checkpoints.html", listed=listed, report=report, signed=None)


@router.post("/audit/checkpoints")
async def sign_checkpoint(request: Request) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    await checked_form(request)
    signed = await audit_export.create_checkpoint(actor, svc, at, Response())
    listed = await audit_export.list_checkpoints(actor, svc, limit=50)
    return page(request, "checkpoints.html", listed=listed, report=None, signed=signed)
