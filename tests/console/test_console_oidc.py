"""Production sign-in in a real browser: ``cdht serve`` in production mode against a local OpenID Connect provider
the test runs (tests/support/oidc_provider.py). The console sends the browser to the provider with PKCE (S256),
takes the code back, verifies the ID token against the provider's JWKS and signs the person in with the role and
unit its claims map to; a demo identity is refused there, and the session cookie is Secure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.procs import ProcessGroup, sqlite_environment
from tests.support.browser import VIEWPORT, browser
from tests.support.oidc_provider import OidcProvider

CLIENT_ID = "cdht-console"
USER = {"sub": "thanh-tra-01", "name": "Nguyễn Thị Thanh Tra", "roles": ["auditor"], "unit": "VN"}


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, OidcProvider]]:
    root = tmp_path_factory.mktemp("console-oidc")
    with OidcProvider(client_id=CLIENT_ID, user=USER) as provider:
        environment = sqlite_environment(root, dev_secret="")
        del environment["CDHT_AUTH_DEV_SECRET"]
        environment.update(
            CDHT_ENV="production",
            CDHT_AUTH_ISSUER=provider.issuer,
            CDHT_AUTH_AUDIENCE="cdht",
            CDHT_AUTH_JWKS_URL=f"{provider.issuer}/jwks",
            CDHT_CONSOLE_SESSION_SECRET="console-oidc-test-" + "s" * 40,
            CDHT_CONSOLE_OIDC_CLIENT_ID=CLIENT_ID,
        )
        with ProcessGroup(root / "logs") as group:
            process = group.serve(environment, "api-production", migrate=True)
            yield process.url, provider


def test_oidc_sign_in_in_production_and_no_demo_identity(production: tuple[str, OidcProvider]) -> None:
    url, provider = production
    with browser() as chromium:
        context = chromium.new_context(viewport=VIEWPORT, base_url=url)
        page = context.new_page()
        page.goto("/console/")
        assert page.url.endswith("/console/sign-in")
        assert page.locator("select#sub").count() == 0  # no demo identities in production

        # A demo identity is refused, whatever the form says.
        csrf = page.get_attribute('meta[name="csrf-token"]', "content")
        refused = page.request.post(f"{url}/console/sign-in", form={"sub": "admin", "csrf": csrf})
        assert refused.status == 403 and "dev_identity_refused" in refused.text()

        with page.expect_navigation(url=f"{url}/console/"):
            page.click('a[href="/console/oidc/login"]')
        assert provider.tokens_issued == 1
        assert USER["name"] in page.inner_text("header")
        cookie = next(c for c in context.cookies() if c["name"] == "cdht_console")
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"

        # The identity is the provider's: the audit search answers for a national auditor.
        page.goto("/console/audit?search=1")
        assert page.locator("table").count() == 1

        # An answer that does not belong to a sign-in started here is refused (state).
        forged = page.request.get(f"{url}/console/oidc/callback?code=x&state=forged")
        assert forged.status == 401 and "oidc_refused" in forged.text()

        with page.expect_navigation():
            page.click("form.inline button[type=submit]")  # sign out
        assert page.url.endswith("/console/sign-in")
        context.close()
