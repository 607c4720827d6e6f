"""The OpenAPI document as integrators get it, finished from what FastAPI generates: shared components (``Problem``,
``DocRef``, each trigger's body per procedure and version), the bearer security scheme (public operations say
``security: []``), short stable operation ids (the route functions' names), every tag described, and the
per-procedure document (``for_procedure``) whose trigger operations carry one procedure's schemas, summaries and
citations only."""

from __future__ import annotations

import copy
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from service.api import trigger_docs
from service.api.deps import current_actor
from service.api.errors import PROBLEM_SCHEMA, document_problems, problems
from service.domain.errors import UnknownProcedure
from workflows.registry import Registry
from workflows.schema import DOCREF_SCHEMA

TAGS = [
    (
        "procedures",
        "The procedures this service runs, as data: states, transitions and their payload schemas, "
        "bodies, deadlines, citations; diagrams; one OpenAPI document per procedure",
    ),
    ("cases", "Cases: opening one, reading and listing them, their history and what the caller may do next"),
    ("transitions", "One operation per legal step of a case; the body is the procedure's named schema"),
    ("indicators", "The indicators of a case: assignment, evidence files and the per-indicator steps"),
    ("deadlines", "Legal deadlines of the cases in the caller's jurisdiction"),
    ("admin-units", "Administrative units over time: the tree, successions and each unit's recognitions"),
    ("campaigns", "A cycle's cases opened for every unit under a province or district"),
    ("case-migrations", "Open cases moved to another definition version"),
    ("audit", "The hash-chained audit log: search, verify, export and signed checkpoints"),
    ("webhooks", "Subscriptions to events (Standard Webhooks), the delivery log, replays and secret rotation"),
    ("reports", "The annual results report (TT25/2023 Điều 23 k2) and its exports"),
    ("health", "Liveness, readiness and Prometheus metrics"),
    ("dev", "Dev and demo deployments: the dev clock that lets a demo reach the days the law waits for"),
]
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A JWT with the claims sub, name, roles, unit and, for some roles, org, verified as RFC8725 "
    "advises: the algorithms are the service's own list (production: asymmetric only, keys from the configured "
    "issuer's JWKS; development: HS256 with the local secret, from `cdht token` or `cdht seed-demo`), never the "
    "token's choice, and issuer, audience and expiry are checked",
}
INT64 = {"format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1}  # the service refuses any other integer


def _bounded_integers(schema: Any) -> None:
    """Every integer of the document is 64 bits (``service.api.limits`` refuses others): said for clients."""
    if isinstance(schema, list):
        for value in schema:
            _bounded_integers(value)
    elif isinstance(schema, dict):
        if schema.get("type") == "integer":
            for keyword, value in INT64.items():
                schema.setdefault(keyword, value)
        for value in schema.values():
            _bounded_integers(value)


def operation_id(route: APIRoute) -> str:
    """The route function's name (e.g. ``open_case``): short, and stable as long as the code is."""
    return route.name


def _calls(dependant: Dependant) -> set[Any]:
    return {dependant.call} | {c for sub in dependant.dependencies for c in _calls(sub)}


def _public(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of the operations that need no token."""
    # FastAPI >= 0.16x keeps an included router as one entry of app.routes; iter_route_contexts walks into them.
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    public = set()
    for context in iterate(app.routes) if iterate else app.routes:
        route = getattr(context, "original_route", context)
        if isinstance(route, APIRoute) and route.include_in_schema and current_actor not in _calls(route.dependant):
            public |= {(context.path, m.lower()) for m in context.methods}
    return public


def finish(document: dict[str, Any], app: FastAPI, registry: Registry) -> dict[str, Any]:
    document = document_problems(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    schemas["DocRef"] = {k: v for k, v in DOCREF_SCHEMA.items() if k != "title"}
    schemas.update(trigger_docs.body_components(registry))
    components["securitySchemes"] = {"bearer": BEARER}
    document["security"] = [{"bearer": []}]
    document["tags"] = [{"name": name, "description": text} for name, text in TAGS]
    document["servers"] = [
        {
            "url": "/",
            "description": "This deployment: development, test or production, as its CDHT_ENV says",
            "x-internal": True,  # a government service on the province's network, not a public API
        }
    ]
    _bounded_integers(document)
    public = _public(app)
    ids: dict[str, str] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if (path, method) in public:
                operation["security"] = []
            else:
                responses.setdefault("401", problems(401)[401])
            responses.setdefault("500", problems(500)[500])
            if not operation.get("description"):
                operation["description"] = operation.get("summary", "")
            seen = ids.setdefault(operation["operationId"], f"{method.upper()} {path}")
            if seen != f"{method.upper()} {path}":
                raise ValueError(f"operationId {operation['operationId']} of {method} {path} is also {seen}'s")
    return document


def for_procedure(document: dict[str, Any], registry: Registry, key: str, version: str) -> dict[str, Any]:
    """The document for integrators of one procedure: its trigger operations only, each with that procedure's
    body schema, example, summary and citation; every other operation as in the whole document."""
    procedure = registry.get(key, version)
    if procedure is None:
        raise UnknownProcedure(
            f"no procedure {key}/{version}", why=f"known: {', '.join(f'{k}/{v}' for k, v in registry.procedures)}"
        )
    definition = procedure.definition
    narrowed = copy.deepcopy(document)
    narrowed["info"]["title"] = f"cdht — {key}/{version}"
    narrowed["info"]["description"] = (
        f"{definition.title.get('vi', '')} / {definition.title.get('en', '')} ({definition.instrument}). "
        "The operations of the whole service, with the trigger operations of this procedure only.\n"
        + document["info"].get("description", "")
    )
    prefixes = {
        False: ("/v1/cases/{case_id}/transitions/", definition.transition),
        True: ("/v1/cases/{case_id}/indicators/{code}/transitions/", definition.indicator_transition),
    }
    for path in list(narrowed["paths"]):
        for indicator, (prefix, find) in prefixes.items():
            if not path.startswith(prefix):
                continue
            transition = find(path.removeprefix(prefix))
            if transition is None:
                del narrowed["paths"][path]
            else:
                trigger_docs.only(narrowed["paths"][path]["post"], definition, transition, indicator=indicator)
    own = {
        trigger_docs.body_name(definition, t.trigger, indicator=indicator) + suffix
        for indicator, transitions in (
            (False, definition.transitions),
            (True, trigger_docs.indicator_steps(definition)),
        )
        for t in transitions
        for suffix in ("", "Data")
    }
    schemas = narrowed["components"]["schemas"]
    for name in set(trigger_docs.body_components(registry)) - own:
        schemas.pop(name, None)
    return narrowed
