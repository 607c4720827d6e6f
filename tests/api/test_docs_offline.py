"""/docs and /redoc load nothing from outside the service: every script, style sheet, icon and the document they
reference is a local path that the app serves from the package (service/static/docs), and the document they show
declares the bearer scheme the Authorize button fills with a dev token."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.helpers import Api


class References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    # Swagger UI's configuration names its document in a script: url: '/openapi.json'
    return parser.found + re.findall(r"\burl: '([^']+)'", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_reference_only_what_the_service_serves(api: Api, page: str) -> None:
    response = await api.client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    found = references(response.text)
    assert "/openapi.json" in found and any(ref.endswith(".js") for ref in found), found
    assert not re.search(r"https?://|//[a-z]", response.text.replace("window.location.origin", "")), response.text
    for ref in found:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        asset = await api.client.get(ref)
        assert asset.status_code == 200 and len(asset.content) > 100, ref
        if ref.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], (ref, asset.headers["content-type"])
        if ref.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css"), ref


async def test_the_authorize_button_takes_a_dev_token(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    token = api.who("commune_leader", "C1").headers["Authorization"].removeprefix("Bearer ")
    # What Swagger UI sends once a token is entered under Authorize.
    answered = await api.client.get("/v1/procedures", headers={"Authorization": f"Bearer {token}"})
    assert answered.status_code == 200 and any(p["key"] == "cdht_xa" for p in answered.json())
    assert (await api.client.get("/v1/procedures")).status_code == 401
