"""CORS from ``CDHT_CORS_ORIGINS``: off by default; on, a browser on an allowed origin passes the preflight of a
write with its headers and may read the answer headers a client needs (ETag, Idempotent-Replayed, …), refusals
included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service import walkthrough as w
from tests.helpers import Api
from tests.support.apps import build_api

ORIGIN = "https://console.cdht.example"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, if-match, accept-language",
}


@pytest.fixture
async def cors_api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async for api in build_api(database_url, tmp_path / "data", cors_origins=[ORIGIN]):
        yield api


async def test_cors_is_off_by_default(api: Api) -> None:
    response = await api.client.options("/v1/cases", headers=PREFLIGHT)
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


async def test_a_preflight_from_an_allowed_origin_passes(cors_api: Api) -> None:
    case_id, leader = await cors_api.new_case("C3", 2025)
    path = f"/v1/cases/{case_id}/transitions/issue_plan"
    response = await cors_api.client.options(path, headers=PREFLIGHT)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    allowed = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "idempotency-key", "if-match", "content-type"} <= set(allowed.replace(" ", "").split(","))
    assert "POST" in response.headers["access-control-allow-methods"]
    # another origin is refused at the preflight
    other = await cors_api.client.options(path, headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers

    headers = {**leader.headers, "Origin": ORIGIN, "Idempotency-Key": "k-1", "If-Match": '"v1"'}
    body = {"data": w.issue_plan(2025)}
    for replayed in ("false", "true"):
        response = await cors_api.client.post(path, headers=headers, json=body)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == ORIGIN
        exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
        assert {"etag", "idempotent-replayed", "location", "retry-after", "x-request-id"} <= exposed
        assert response.headers.get("idempotent-replayed", "false") == replayed
    # a refusal carries the same headers, so the front-end can read the problem
    refused = await cors_api.client.post(path, headers={**leader.headers, "Origin": ORIGIN}, json=body)
    assert refused.status_code == 409 and refused.headers["access-control-allow-origin"] == ORIGIN
    too_big = await cors_api.client.post(
        path, headers={**leader.headers, "Origin": ORIGIN}, content="x" * (cors_api.settings.request_max_bytes + 1)
    )
    assert too_big.status_code == 413 and too_big.headers["access-control-allow-origin"] == ORIGIN
