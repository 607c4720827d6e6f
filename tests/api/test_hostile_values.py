"""Values no route can use are refused 4xx with a problem that says what is wrong, in English and Vietnamese — never a
500 (issue 13 point 6). Each hostile value is sent to every route that takes it:

* times before year 1 or after year 9999 once in UTC (``0001-01-01T00:00:00+07:00``, ``9999-12-31T23:59:59-12:00``)
  in ``since``/``until``/``due_before``/``as_of`` and a replay's ``since``: 422 ``time_out_of_range``;
* forged page cursors (``10**30``, such times, NUL, a lone surrogate, a 5,000-digit number): 422 ``cursor_invalid``;
* numbers in JSON bodies that are not finite (``1e309``, ``NaN``) or too large for 64 bits: 422
  ``number_out_of_range``, and nothing changes;
* an ``If-Match`` of ``"v"`` and 5,000 nines (over Python's 4,300-digit limit): 412 ``etag_malformed``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service import walkthrough as w
from tests.helpers import DEFINITION, Api

EXTREME_TIMES = ["0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00"]
PROBLEM = "application/problem+json"

# (role, unit, path, query parameter); {case} and {hook} are filled in by the fixture.
TIME_PARAMETERS = [
    ("auditor", "VN", "/v1/audit/events", "since"),
    ("auditor", "VN", "/v1/audit/events", "until"),
    ("auditor", "VN", "/v1/audit/export", "since"),
    ("auditor", "VN", "/v1/audit/export", "until"),
    ("province_director", "P1", "/v1/deadlines", "due_before"),
    ("auditor", "VN", "/v1/cases/{case}", "as_of"),
    ("admin", "VN", "/v1/webhooks/{hook}/deliveries", "since"),
]
# (role, unit, path, the kinds of the cursor's values as the route issues them)
CURSOR_ROUTES = [
    ("province_director", "P1", "/v1/cases", ("time", "text")),
    ("province_director", "P1", "/v1/deadlines", ("time", "int")),
    ("auditor", "VN", "/v1/audit/events", ("int",)),
    ("auditor", "VN", "/v1/audit/checkpoints", ("time", "text")),
    ("admin", "VN", "/v1/webhooks/{hook}/deliveries", ("time", "text")),
]
GOOD = {"time": "2025-01-10T09:00:00+07:00", "text": "00000000-0000-0000-0000-000000000000", "int": 1}
HOSTILE = {
    "time": ["0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-12:00", "2025-01-10T09:00:00", 10**30],
    "text": ["x\u0000y", "\ud800", 10**30, "a" * 5000],
    "int": [10**30, -(10**30), "1", 1.5, True],
}


def cursor_text(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def forged_cursors(kinds: tuple[str, ...]) -> list[str]:
    """Every hostile value in each position of an otherwise good cursor, and a few that do not even decode."""
    forged = []
    for position, kind in enumerate(kinds):
        for value in HOSTILE[kind]:
            values = [GOOD[k] for k in kinds]
            values[position] = value
            forged.append(cursor_text(values))
    huge = base64.urlsafe_b64encode(("[" + "9" * 5000 + "]").encode()).decode()  # over the 4,300-digit limit
    return [*forged, huge, "%%%", cursor_text([GOOD[k] for k in kinds] + [1]), cursor_text({"a": 1})]


def is_vietnamese(text: str) -> bool:
    return any(ch in text for ch in "ạảãàáâậầấẩẫăặằắẳẵđẹẻẽèéêệềếểễịỉĩìíọỏõòóôộồốổỗơợờớởỡụủũùúưựừứửữỵỷỹỳý")


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.url} -> {response.status_code} {response.text[:500]}"
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert code in [r["code"] for r in body["reasons"]], body
    assert body["detail"] and is_vietnamese(body["detail_vi"]), body
    return body


@pytest.fixture
async def hostile(api: Api) -> AsyncIterator[dict[str, Any]]:
    """A case collecting evidence (its officer, leader and an indicator to submit), a webhook subscription with a
    delivery, a checkpoint; and a client that turns an app exception into the 500 a server would send."""
    case_id, leader = await api.new_case("C1", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    admin = api.who("admin", "VN")
    hook = await api.ok(
        await api.client.post(
            "/v1/webhooks", headers=admin.headers, json={"url": "http://127.0.0.1:9/h", "events": ["case.opened"]}
        ),
        201,
    )
    auditor = api.who("auditor", "VN")
    await api.ok(await api.client.post("/v1/audit/checkpoints", headers=auditor.headers), 201)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://cdht.test") as client:
        yield {"case": case_id, "hook": hook["id"], "leader": leader, "client": client}


def filled(path: str, hostile: dict[str, Any]) -> str:
    return path.format(case=hostile["case"], hook=hostile["hook"])


@pytest.mark.parametrize("moment", EXTREME_TIMES[:2])
@pytest.mark.parametrize(("role", "unit", "path", "name"), TIME_PARAMETERS)
async def test_times_outside_the_calendar_are_422_on_every_route_that_takes_one(
    api: Api, hostile: dict[str, Any], role: str, unit: str, path: str, name: str, moment: str
) -> None:
    who = api.who(role, unit)
    response = await hostile["client"].get(filled(path, hostile), params={name: moment}, headers=who.headers)
    body = assert_problem(response, 422, "time_out_of_range")
    assert name in body["reasons"][0]["message"] and "0001-01-02" in body["reasons"][0]["message"]
    assert name in body["detail_vi"]
    inside = await hostile["client"].get(
        filled(path, hostile), params={name: "2025-06-01T00:00:00+07:00"}, headers=who.headers
    )
    assert inside.status_code == 200, inside.text


async def test_the_edges_of_the_range_are_accepted(api: Api, hostile: dict[str, Any]) -> None:
    auditor = api.who("auditor", "VN")
    for since, until in (("0001-01-02T00:00:00Z", "9999-12-30T23:59:59Z"), ("0001-01-02T06:59:59-07:00", None)):
        params = {"since": since, **({"until": until} if until else {})}
        response = await hostile["client"].get("/v1/audit/events", params=params, headers=auditor.headers)
        assert response.status_code == 200, response.text
        assert response.json()["items"], "the whole range holds every event"


@pytest.mark.parametrize("moment", EXTREME_TIMES)
async def test_a_replay_since_outside_the_calendar_is_422(api: Api, hostile: dict[str, Any], moment: str) -> None:
    admin = api.who("admin", "VN")
    response = await hostile["client"].post(
        f"/v1/webhooks/{hostile['hook']}/replay", json={"since": moment}, headers=admin.headers
    )
    assert_problem(response, 422, "time_out_of_range")  # naive is UTC: 0001-01-01T00:00:00Z is before the range


@pytest.mark.parametrize(("role", "unit", "path", "kinds"), CURSOR_ROUTES)
async def test_forged_cursors_are_422_on_every_paginated_route(
    api: Api, hostile: dict[str, Any], role: str, unit: str, path: str, kinds: tuple[str, ...]
) -> None:
    who = api.who(role, unit)
    for cursor in forged_cursors(kinds):
        response = await hostile["client"].get(filled(path, hostile), params={"cursor": cursor}, headers=who.headers)
        assert_problem(response, 422, "cursor_invalid")
    genuine = await hostile["client"].get(
        filled(path, hostile), params={"cursor": cursor_text([GOOD[k] for k in kinds])}, headers=who.headers
    )
    assert genuine.status_code == 200, genuine.text


NUMBERS = ["1e309", "-1e309", "NaN", "Infinity", "-Infinity", "1" + "0" * 30, "-" + "9" * 20, "9" * 5000]


@pytest.mark.parametrize("number", NUMBERS, ids=lambda n: n[:12])
async def test_numbers_no_field_can_hold_are_422_in_figures_and_change_nothing(
    api: Api, hostile: dict[str, Any], number: str
) -> None:
    officer = api.who("commune_officer", "C1")
    quantitative = next(i.code for i in DEFINITION.indicators if w.figures_for(DEFINITION, i.code))
    await api.ok(await api.upload(officer, hostile["case"], quantitative), 201)
    payload = w.submit_evidence(DEFINITION, quantitative)
    payload["figures"][next(iter(payload["figures"]))] = "NUMBER"
    text = json.dumps({"data": payload}).replace('"NUMBER"', number)
    before = await api.ok(await api.get(officer, f"/v1/cases/{hostile['case']}/indicators"))
    response = await hostile["client"].post(
        f"/v1/cases/{hostile['case']}/indicators/{quantitative}/transitions/submit_evidence",
        content=text.encode(),
        headers={**officer.headers, "Content-Type": "application/json"},
    )
    body = assert_problem(response, 422, "number_out_of_range")
    assert number[:12] in body["reasons"][0]["message"]
    assert await api.ok(await api.get(officer, f"/v1/cases/{hostile['case']}/indicators")) == before
    accepted = await hostile["client"].post(
        f"/v1/cases/{hostile['case']}/indicators/{quantitative}/transitions/submit_evidence",
        json={"data": w.submit_evidence(DEFINITION, quantitative)},
        headers=officer.headers,
    )
    assert accepted.status_code == 200, accepted.text


# (role, unit, method, path, body with NUMBER where the hostile number goes); the bodies are otherwise valid.
NUMBER_BODIES = [
    ("commune_leader", "C1", "/v1/cases", '{"procedure": "cdht_xa", "unit": "C2", "cycle": NUMBER}'),
    ("commune_leader", "C1", "/v1/cases/{case}/transitions/record_review_meeting", '{"data": {"x": NUMBER}}'),
    (
        "province_director",
        "P1",
        "/v1/campaigns",
        '{"procedure": "cdht_xa", "unit": "P1", "cycle": 2026, "plan": {"number": NUMBER}}',
    ),
    ("admin", "VN", "/v1/webhooks", '{"url": "http://127.0.0.1:9/h", "events": ["case.opened"], "units": [NUMBER]}'),
    ("province_officer", "P1", "/v1/reports", '{"unit": "P1", "cycle": NUMBER}'),
]


@pytest.mark.parametrize("number", ["1e309", "NaN", "1" + "0" * 30])
@pytest.mark.parametrize(("role", "unit", "path", "template"), NUMBER_BODIES)
async def test_numbers_no_field_can_hold_are_422_in_every_json_body(
    api: Api, hostile: dict[str, Any], role: str, unit: str, path: str, template: str, number: str
) -> None:
    who = api.who(role, unit)
    for content_type in ("application/json", "text/plain", None):  # the trigger routes read JSON whatever its type
        headers = {**who.headers, **({"Content-Type": content_type} if content_type else {})}
        response = await hostile["client"].post(
            filled(path, hostile), content=template.replace("NUMBER", number).encode(), headers=headers
        )
        assert_problem(response, 422, "number_out_of_range")


@pytest.mark.parametrize("etag", ['"v' + "9" * 5000 + '"', '"v' + "9" * 19 + '"', '"v' + "1" * 4301 + '"'])
async def test_if_match_with_a_huge_version_is_412(api: Api, hostile: dict[str, Any], etag: str) -> None:
    leader: Any = hostile["leader"]
    case_id = hostile["case"]
    response = await hostile["client"].post(
        f"/v1/cases/{case_id}/transitions/complete_self_assessment",
        json={"data": w.complete_self_assessment(2025)},
        headers={**leader.headers, "If-Match": etag},
    )
    assert_problem(response, 412, "etag_malformed")
    code = DEFINITION.indicators[0].code
    response = await hostile["client"].post(
        f"/v1/cases/{case_id}/indicators/{code}/transitions/submit_evidence",
        json={"data": w.submit_evidence(DEFINITION, code)},
        headers={**api.who("commune_officer", "C1").headers, "If-Match": etag},
    )
    assert_problem(response, 412, "etag_malformed")
