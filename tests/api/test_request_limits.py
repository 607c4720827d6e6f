"""The limits the app holds before anything parses a request (``service.api.limits``), sent to the app in-process
(issue 13 points 2 and 7; ``tests/test_serve_limits.py`` sends the same to a real ``cdht serve``):

* too many header fields, or too many bytes of them: 431 problem+json (English and Vietnamese), before the token is
  even looked at;
* a body sent with ``Transfer-Encoding: chunked`` and no ``Content-Length`` that grows past the limit — a JSON body
  to a pydantic route and to a trigger route, and a multipart upload — is a 413 problem+json, not a 500, and
  changes nothing; the same bodies under the limit are accepted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from service import walkthrough as w
from tests.helpers import DEFINITION, Api

PROBLEM = "application/problem+json"
CHUNK = 64 * 1024


def chunked(data: bytes) -> AsyncIterator[bytes]:
    """``data`` as a streamed body: httpx sends it chunked, without a Content-Length."""

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]

    return pieces()


async def endless(limit: int) -> AsyncIterator[bytes]:
    """JSON that never ends within ``limit`` bytes, streamed: ``[0,0,0,…``."""
    yield b"["
    for _ in range(limit // CHUNK + 2):
        yield b"0," * (CHUNK // 2)


def multipart(content: bytes, boundary: str = "cdht-test-boundary") -> tuple[bytes, str]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nMinh chứng\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="minh-chung.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert [r["code"] for r in body["reasons"]] == [code], body
    assert body["detail_vi"] and body["detail_vi"] != body["detail_en"]


@pytest.fixture
async def client(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client that shows an app exception as the 500 a server would send (the suite's client raises it)."""
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://cdht.test") as plain:
        yield plain


async def test_too_many_header_fields_are_431_before_the_token_is_read(api: Api, client: httpx.AsyncClient) -> None:
    leader = api.who("commune_leader", "C1")
    many = [(f"x-field-{i}", "1") for i in range(api.settings.request_max_headers)]
    response = await client.get("/v1/cases", headers=[*leader.headers.items(), *many])
    assert_problem(response, 431, "headers_too_many")
    anonymous = await client.get("/v1/cases", headers=many + [("x-one-more", "1")])
    assert_problem(anonymous, 431, "headers_too_many")  # not 401: the token was never looked at
    fewer = await client.get("/v1/cases", headers=[*leader.headers.items(), *many[:50]])
    assert fewer.status_code == 200, fewer.text


async def test_header_fields_over_the_size_limit_are_431(api: Api, client: httpx.AsyncClient) -> None:
    huge = "Bearer " + "A" * api.settings.request_max_header_bytes
    response = await client.get("/v1/cases", headers={"Authorization": huge})
    assert_problem(response, 431, "headers_too_large")
    assert str(api.settings.request_max_header_bytes) in response.json()["detail"]
    long_url = await client.get("/v1/cases", params={"unit": "C" * api.settings.request_max_header_bytes})
    assert_problem(long_url, 431, "headers_too_large")
    leader = api.who("commune_leader", "C1")
    padded = await client.get("/v1/cases", headers={**leader.headers, "X-Padding": "p" * 16 * 1024})
    assert padded.status_code == 200, padded.text


async def test_a_chunked_json_body_over_the_limit_is_413_on_a_pydantic_route(
    api: Api, client: httpx.AsyncClient
) -> None:
    leader = api.who("commune_leader", "C1")
    headers = {**leader.headers, "Content-Type": "application/json"}
    response = await client.post("/v1/cases", content=endless(api.settings.request_max_bytes), headers=headers)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "body_too_large")
    listed = await api.ok(await api.get(leader, "/v1/cases"))
    assert listed["items"] == []
    small = await client.post("/v1/cases", content=chunked(b'{"procedure":"cdht_xa","unit":"C1","cycle":2025}'),
                              headers=headers)  # fmt: skip
    assert small.status_code == 201, small.text


async def test_a_chunked_json_body_over_the_limit_is_413_on_a_trigger_route(
    api: Api, client: httpx.AsyncClient
) -> None:
    case_id, leader = await api.new_case("C1", 2025)
    path = f"/v1/cases/{case_id}/transitions/issue_plan"
    response = await client.post(path, content=endless(api.settings.request_max_bytes), headers=leader.headers)
    assert_problem(response, 413, "body_too_large")
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert [e["trigger"] for e in history] == ["open"]
    body = httpx.Request("POST", "/", json={"data": w.issue_plan(2025)}).content
    accepted = await client.post(path, content=chunked(body), headers=leader.headers)
    assert accepted.status_code == 200, accepted.text


async def test_a_chunked_upload_over_the_limit_is_413_and_stores_nothing(api: Api, client: httpx.AsyncClient) -> None:
    case_id, leader = await api.new_case("C1", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    officer = api.who("commune_officer", "C1")
    code = DEFINITION.indicators[0].code
    path = f"/v1/cases/{case_id}/indicators/{code}/evidence"
    oversized = w.MINIMAL_PDF + b"0" * (api.settings.evidence_max_bytes + 2 * 1024 * 1024)
    content, content_type = multipart(oversized)
    headers = {**officer.headers, "Content-Type": content_type}
    response = await client.post(path, content=chunked(content), headers=headers)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "body_too_large")
    indicators = await api.ok(await api.get(officer, f"/v1/cases/{case_id}/indicators"))
    assert all(item["evidence"] == [] for item in indicators["indicators"])
    assert not [p for p in (api.settings.data_dir / "evidence").rglob("*") if p.is_file()]
    content, content_type = multipart(w.MINIMAL_PDF)
    stored = await client.post(
        path, content=chunked(content), headers={**officer.headers, "Content-Type": content_type}
    )
    assert stored.status_code == 201, stored.text


async def test_request_ids_and_metrics_survive_the_pure_asgi_middleware(api: Api, client: httpx.AsyncClient) -> None:
    leader = api.who("commune_leader", "C1")
    response = await client.get("/v1/cases", headers={**leader.headers, "X-Request-ID": "trace-42"})
    assert response.headers["X-Request-ID"] == "trace-42"
    refused = await client.get("/v1/cases", headers={"Authorization": "Bearer " + "A" * 40_000})
    assert refused.status_code == 431
    metrics = await client.get("/metrics")
    assert 'cdht_http_requests_total{method="GET",route="/v1/cases",status="200"}' in metrics.text


async def test_a_trigger_body_is_parsed_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON ``RequestLimits`` read (checking its numbers) is the JSON the trigger route takes: the route does
    not parse the body again."""
    from service.api import transitions

    class Unused:
        @staticmethod
        def loads(*_args: object, **_kwargs: object) -> None:
            raise AssertionError("the trigger route parsed the body again")

    case_id, leader = await api.new_case("C1", 2025)
    monkeypatch.setattr(transitions, "json", Unused)
    response = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "nul"),
    [
        ('{"data": {"plan": {"number": "1/KH\\u0000", "date": "2025-01-15"}}}'.encode(), True),
        ('{"data": {"plan": {"number": "1/KH\\u0000", "date": "2025-01-15"}}}'.encode("utf-16"), True),
        ('{"data": {"plan": {"number": "1/KH\\u0000", "date": "2025-01-15"}}}'.encode("utf-32-le"), True),
        ('{"data": {"plan": {"number": "1/KH", "date": "2025-01-15"}, "\\u0000": 1}}'.encode(), True),
        ('{"data": {"plan": {"number": "1/KH\\\\u0000", "date": "2025-01-15"}}}'.encode(), False),  # \ and u0000
    ],
)
async def test_nul_in_a_trigger_body_is_422_however_it_is_written(api: Api, body: bytes, nul: bool) -> None:
    case_id, leader = await api.new_case("C1", 2025)
    response = await api.client.post(
        f"/v1/cases/{case_id}/transitions/issue_plan",
        headers={**leader.headers, "Content-Type": "application/json"},
        content=body,
    )
    if nul:
        assert response.status_code == 422, response.text
        assert [r["code"] for r in response.json()["reasons"]] == ["nul_character"]
    else:
        assert response.status_code == 200, response.text
