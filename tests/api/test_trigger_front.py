"""The trigger front (service/api/trigger_front.py): a trigger's request goes straight to the route the router would
have chosen; anything else still goes through the router."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Match

from service import walkthrough as w
from service.api.trigger_front import TriggerFront
from tests.helpers import Api


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "path_params": {}, "headers": []}


def _first_full_match(app: Any, scope: dict[str, Any]) -> Any:
    """The route the router takes for ``scope``: the first that matches it fully, in the app's order."""
    for context in iter_route_contexts(app.routes):
        match, _ = context.matches(dict(scope))
        if match is Match.FULL:
            return context.original_route
    return None


def _front(api: Api) -> TriggerFront:
    front = api.app.router.middleware_stack
    assert isinstance(front, TriggerFront)
    return front


async def test_the_front_takes_the_route_the_router_would_take_for_every_trigger_path(api: Api) -> None:
    routes = _front(api).routes
    paths = [f"/v1/cases/c-1/transitions/{trigger}" for trigger in [*routes.named[False], "teleport", "lapse"]]
    paths += [f"/v1/cases/c-1/indicators/1.1/transitions/{trigger}" for trigger in [*routes.named[True], "teleport"]]
    assert len(paths) > 30
    for path in paths:
        chosen = routes.route_for(path)
        assert chosen is not None, path
        assert chosen.matches(_scope("POST", path))[0] is Match.FULL, path
        assert _first_full_match(api.app, _scope("POST", path)) is chosen, path
    assert routes.route_for("/v1/cases/c-1") is None
    assert routes.route_for("/v1/cases/c-1/transitions/a/b") is None


async def test_triggers_are_answered_by_the_front_and_the_rest_by_the_router(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    front = _front(api)
    router_saw: list[str] = []
    router = front.app

    async def counting_router(scope: Any, receive: Any, send: Any) -> None:
        router_saw.append(f"{scope['method']} {scope['path']}")
        await router(scope, receive, send)

    monkeypatch.setattr(front, "app", counting_router)
    fired = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025))
    assert fired.status_code == 200, fired.text
    unknown = await api.client.post(
        f"/v1/cases/{case_id}/transitions/teleport", json={"data": {}}, headers=leader.headers
    )
    assert unknown.status_code == 404
    assert unknown.json()["reasons"][0]["code"] == "trigger_unknown"
    assert router_saw == []
    # Another method on a trigger's path is the router's: 405 naming POST, as before.
    wrong_method = await api.client.get(f"/v1/cases/{case_id}/transitions/issue_plan", headers=leader.headers)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    read = await api.get(leader, f"/v1/cases/{case_id}")
    assert read.status_code == 200
    assert router_saw == [f"GET /v1/cases/{case_id}/transitions/issue_plan", f"GET /v1/cases/{case_id}"]
