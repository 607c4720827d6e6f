"""The trigger front (service/api/trigger_front.py): a trigger's request goes straight to the route the router would
have chosen; anything else still goes through the router. And the trigger's answer, written straight to JSON text,
is the text it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Match

from service import walkthrough as w
from service.api.schemas import TransitionOut
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


def _as_starlette_writes(values: Any) -> bytes:
    """JSON values as ``JSONResponse`` writes them (what the transition's answer was before it was written by
    pydantic straight from ``TransitionOut``)."""
    return json.dumps(values, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


async def test_a_transitions_answer_is_the_text_it_was_and_a_replay_means_the_same(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    comment = "Kế hoạch đã ban hành — “đúng hạn”"
    fired = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), comment=comment)
    assert fired.status_code == 200, fired.text
    assert fired.headers["content-type"] == "application/json"
    assert fired.headers["etag"] == fired.json()["case"]["etag"]
    answer = TransitionOut.model_validate(fired.json())
    assert fired.content == _as_starlette_writes(answer.model_dump(mode="json", by_alias=True))
    assert fired.json()["event"]["payload"]["comment"] == comment
    # The same step with an Idempotency-Key (answered from JSON values, which the record keeps) and its replay.
    other_case, other_leader = await api.new_case("C1", 2025)
    headers = {"Idempotency-Key": "plan-once"}
    keyed = await api.fire(other_leader, other_case, "issue_plan", w.issue_plan(2025), headers=headers, comment=comment)
    replay = await api.fire(
        other_leader, other_case, "issue_plan", w.issue_plan(2025), headers=headers, comment=comment
    )
    assert keyed.status_code == replay.status_code == 200
    assert keyed.headers["content-type"] == replay.headers["content-type"] == "application/json"
    assert replay.json() == keyed.json()
    assert replay.content == keyed.content
    keyed_values = keyed.json()
    assert keyed_values["event"]["idempotency_key"] == "plan-once"
    keyed_values["event"]["idempotency_key"] = None
    assert _shape(keyed_values) == _shape(fired.json())


def _shape(values: Any) -> Any:
    """Keys and value types, in order, for comparing two answers about different cases."""
    if isinstance(values, dict):
        return [(key, _shape(value)) for key, value in values.items()]
    if isinstance(values, list):
        return [_shape(value) for value in values]
    return type(values).__name__


async def test_a_named_trigger_is_answered_without_fastapis_request_handler_unless_a_dependency_is_overridden(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastapi.routing

    from service.api.deps import current_actor

    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counting_solve(*args: Any, **kwargs: Any) -> Any:
        if "/transitions/" in kwargs["request"].url.path:
            solved.append(kwargs["request"].url.path)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting_solve)
    case_id, leader = await api.new_case("C3", 2025)
    fired = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025))
    assert fired.status_code == 200, fired.text
    refused = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers={"Authorization": "Bearer x"})
    assert refused.status_code == 401
    assert refused.json()["reasons"][0]["code"] == "malformed_token"
    unknown = await api.client.post(
        f"/v1/cases/{case_id}/transitions/teleport", json={"data": {}}, headers=leader.headers
    )
    assert unknown.status_code == 404
    assert solved == [f"/v1/cases/{case_id}/transitions/teleport"]  # the catch-all is FastAPI's
    # An overridden dependency is honoured: FastAPI's handler answers while there is one.
    other_case, other_leader = await api.new_case("C1", 2025)
    someone_else = api.who("commune_leader", "C3")
    actor = await current_actor(_request(someone_else.headers["Authorization"], api))
    api.app.dependency_overrides[current_actor] = lambda: actor
    try:
        overridden = await api.fire(other_leader, other_case, "issue_plan", w.issue_plan(2025))
    finally:
        api.app.dependency_overrides.clear()
    assert overridden.status_code == 403, overridden.text  # C3's leader acting on C1's case
    assert solved[-1] == f"/v1/cases/{other_case}/transitions/issue_plan"


def _request(authorization: str, api: Api) -> Any:
    from starlette.requests import Request

    scope = {"type": "http", "headers": [(b"authorization", authorization.encode())], "app": api.app}
    return Request(scope)
