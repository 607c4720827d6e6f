"""The dev clock: a national admin of a dev or demo deployment moves the clock of every process of it without a
restart (``POST /v1/dev/clock``, ``cdht clock``), so a demo reaches 01/01 of N+1 when the self-assessment opens;
refused in production."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from service import walkthrough as w
from service.config import Settings
from tests.helpers import Api
from tests.support.cli import cdht


async def test_an_admin_moves_the_clock_and_the_self_assessment_opens(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.collect(case_id, leader, cycle=2025)
    api.clock.set("2025-12-30T02:00:00")
    refused = await api.fire(leader, case_id, "complete_self_assessment", w.complete_self_assessment(2025))
    assert refused.status_code == 409 and refused.json()["reasons"][0]["code"] == "cycle_not_ended"

    admin = api.who("admin", "VN")
    # a commune leader, or an admin below the national level, may not move it
    for who in (leader, api.who("admin", "P1")):
        response = await api.client.post("/v1/dev/clock", headers=who.headers, json={"days": 3})
        assert response.status_code == 403 and response.json()["reasons"][0]["code"] == "not_authorised"
    for body in ({}, {"days": 1, "reset": True}, {"to": "2026-01-01T00:00:00Z", "days": 1}):
        response = await api.client.post("/v1/dev/clock", headers=admin.headers, json=body)
        assert response.status_code == 422 and response.json()["reasons"][0]["code"] == "clock_change_invalid"
    for body in ({"days": 1e12}, {"to": "9999-01-01T00:00:00Z"}, {"days": "soon"}):
        response = await api.client.post("/v1/dev/clock", headers=admin.headers, json=body)
        assert response.status_code == 422, response.text

    moved = await api.ok(await api.client.post("/v1/dev/clock", headers=admin.headers, json={"days": 3}))
    assert moved["now"] == "2026-01-02T02:00:00Z" and moved["now_local"] == "2026-01-02T09:00:00+07:00"
    assert moved["offset_seconds"] == 3 * 86400 and moved["set_by"] == admin.sub and moved["frozen"] is True
    assert (await api.ok(await api.get(leader, "/v1/dev/clock")))["now"] == "2026-01-02T02:00:00Z"
    # the writes read it: the self-assessment is dated 10/01/2026 in the walkthrough, so go there
    await api.ok(
        await api.client.post("/v1/dev/clock", headers=admin.headers, json={"to": "2026-01-11T09:00:00+07:00"})
    )
    done = await api.ok(await api.fire(leader, case_id, "complete_self_assessment", w.complete_self_assessment(2025)))
    assert done["case"]["state"] == "self_assessed"
    assert done["event"]["occurred_at_local"] == "2026-01-11T09:00:00+07:00"

    # another process of the deployment (same data directory) reads the same clock, without a restart
    data = api.settings.data_dir
    env = {"CDHT_DATA_DIR": str(data), "CDHT_NOW": "2025-12-30T02:00:00+00:00", "CDHT_ENV": "test"}
    shown = cdht("clock", cwd=data, env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["now"] == "2026-01-11T02:00:00+00:00"
    other = Settings(env="test", data_dir=api.settings.data_dir, now=api.settings.now)
    assert other.clock() == datetime.fromisoformat("2026-01-11T02:00:00+00:00")
    # `cdht clock advance` moves it for the API too
    assert cdht("clock", "advance", "1.5", cwd=data, env=env).returncode == 0
    clock = await api.ok(await api.get(leader, "/v1/dev/clock"))
    assert clock["now"] == "2026-01-12T14:00:00Z" and clock["set_by"] == "cli"

    reset = await api.ok(await api.client.post("/v1/dev/clock", headers=admin.headers, json={"reset": True}))
    assert reset["offset_seconds"] == 0 and reset["now"] == "2025-12-30T02:00:00Z"
    assert api.settings.clock() == api.settings.real_clock()


async def test_the_dev_clock_is_refused_in_production(api: Api) -> None:
    admin = api.who("admin", "VN")
    await api.ok(await api.client.post("/v1/dev/clock", headers=admin.headers, json={"days": 10}))
    api.settings.env = "production"  # the clock file stays; production reads the real clock only
    try:
        response = await api.client.post("/v1/dev/clock", headers=admin.headers, json={"days": 1})
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert [r["code"] for r in response.json()["reasons"]] == ["dev_only"]
        # said before anything else is read: no token, no body
        assert (await api.client.post("/v1/dev/clock")).status_code == 403
        assert api.settings.clock() == api.settings.real_clock()
    finally:
        api.settings.env = "test"
    assert api.settings.clock() - api.settings.real_clock() == timedelta(days=10)
    env = {"CDHT_DATA_DIR": str(api.settings.data_dir), "CDHT_ENV": "production"}
    refused = cdht("clock", "advance", "1", cwd=api.settings.data_dir, env=env)
    assert refused.returncode == 2 and "refused in production" in refused.stderr
