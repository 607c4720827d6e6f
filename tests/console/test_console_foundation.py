"""The console's foundation over HTTP, in process (both databases): ``/`` sends to it; pages carry a
Content-Security-Policy and hold no inline script or style; the session cookie is HttpOnly and SameSite (and Secure
in production); a form without this session's CSRF token is refused and changes nothing; the English switch; sign
out; in production the demo identities are refused and the sign-in page offers OpenID Connect instead."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from service.config import Settings
from service.main import create_app
from tests.helpers import Api

INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=", re.IGNORECASE)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def test_console_pages_sign_in_and_out(api: Api) -> None:
    client = api.client
    client.headers["accept-language"] = "vi-VN,vi;q=0.9"  # a Vietnamese office's browser
    root = await client.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/console/"
    anonymous = await client.get("/console/")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/console/sign-in"

    page = await client.get("/console/sign-in")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert not INLINE.search(page.text), INLINE.search(page.text)
    assert '<html lang="vi">' in page.text and "Đăng nhập" in page.text
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    token = csrf_of(page.text)

    refused = await client.post("/console/sign-in", data={"sub": "auditor", "csrf": "forged"})
    assert refused.status_code == 403 and "csrf_refused" in refused.text
    assert (await client.get("/console/")).status_code == 303  # still nobody signed in

    signed = await client.post("/console/sign-in", data={"sub": "auditor", "csrf": token})
    assert signed.status_code == 303 and signed.headers["location"] == "/console/"
    inbox = await client.get("/console/")
    assert inbox.status_code == 200 and "Thanh tra Bộ GDĐT" in inbox.text and "Việc cần làm" in inbox.text
    assert not INLINE.search(inbox.text)
    assert csrf_of(inbox.text) != token  # a new CSRF token with the new identity

    english = await client.get("/console/language/en", headers={"referer": "http://test/console/deadlines"})
    assert english.status_code == 303 and english.headers["location"] == "/console/deadlines"
    deadlines = await client.get("/console/deadlines")
    assert '<html lang="en">' in deadlines.text and "Deadlines" in deadlines.text
    elsewhere = await client.get("/console/language/vi", headers={"referer": "https://evil.example/phish"})
    assert elsewhere.headers["location"] == "/console/"  # never an open redirect

    out = await client.post("/console/sign-out", data={"csrf": csrf_of(deadlines.text)})
    assert out.status_code == 303 and 'cdht_console=""' in out.headers["set-cookie"]
    assert (await client.get("/console/")).status_code == 303


async def test_production_refuses_demo_identities(api: Api, tmp_path: Path) -> None:
    settings = Settings(
        env="production",
        data_dir=tmp_path,
        database_url=api.settings.resolved_database_url,
        auth_issuer="https://id.example.gov.vn",
        auth_audience="cdht",
        auth_jwks_url="https://id.example.gov.vn/jwks",
        console_session_secret="s" * 48,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://cdht.example") as client:
        page = await client.get("/console/sign-in")
        assert page.status_code == 200
        assert 'name="sub"' not in page.text and "/console/oidc/login" in page.text
        assert "secure" in page.headers["set-cookie"].lower()
        refused = await client.post("/console/sign-in", data={"sub": "admin", "csrf": csrf_of_cookie_page(page.text)})
        assert refused.status_code == 403 and "dev_identity_refused" in refused.text
        assert (await client.get("/console/")).status_code == 303
    await app.state.services.engine.dispose()


def csrf_of_cookie_page(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found
    return found.group(1)


async def test_the_first_page_speaks_the_browsers_language_until_one_is_chosen(api: Api) -> None:
    """No language chosen yet: the browser's Accept-Language decides, as the API decides (``language.negotiate``);
    the switch then holds whatever the header says."""
    client = api.client
    english = await client.get("/console/sign-in", headers={"accept-language": "en-GB,en;q=0.9,vi;q=0.5"})
    assert '<html lang="en">' in english.text and "Sign in" in english.text
    client.cookies.clear()
    vietnamese = await client.get("/console/sign-in", headers={"accept-language": "vi-VN,en;q=0.5"})
    assert '<html lang="vi">' in vietnamese.text
    switched = await client.get("/console/language/en", headers={"accept-language": "vi"})
    assert switched.status_code == 303
    assert '<html lang="en">' in (await client.get("/console/sign-in", headers={"accept-language": "vi"})).text
