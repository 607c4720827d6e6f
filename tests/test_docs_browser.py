"""A real browser on /docs and /redoc of a real ``cdht serve`` with the network to the outside closed: Chromium
(Debian's, driven by Playwright, as the console's tests drive it) resolves no host name but 127.0.0.1, and every
request to anywhere else is refused and recorded. Swagger UI shows the operations, its Authorize button takes a
dev token, and "Try it out" then gets 200 from an operation that needs the token; ReDoc shows the operations. No
request leaves for another host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.auth import issue_dev_token
from service.config import Settings
from tests.reliability.procs import ProcessGroup, sqlite_environment
from tests.support.browser import browser

SECRET = "docs-browser-" + "x" * 32
CLOSED = ["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("docs-browser")
    environment = sqlite_environment(root, dev_secret=SECRET)
    with ProcessGroup(root / "logs") as group:
        yield group.serve(environment, "api", migrate=True).url


def closed_page(chromium: Any, base: str, outside: list[str]) -> Any:
    """A page whose requests to anything but ``base`` are refused (and recorded in ``outside``)."""
    context = chromium.new_context(viewport={"width": 1366, "height": 900})

    def only_local(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    return context.new_page()


def test_swagger_ui_authorizes_with_a_dev_token_and_tries_an_operation(server: str) -> None:
    token = issue_dev_token(
        Settings(env="test", auth_dev_secret=SECRET), sub="docs-reader", roles=["auditor"], unit="VN"
    )
    outside: list[str] = []
    with browser(args=CLOSED) as chromium:
        page = closed_page(chromium, server, outside)
        page.goto(f"{server}/docs")
        page.wait_for_selector("#operations-cases-open_case", timeout=60_000)
        assert page.locator(".opblock").count() > 70  # every operation, by tag
        page.click("button.btn.authorize")
        page.fill(".modal-ux input", token)
        page.click(".modal-ux .auth-btn-wrapper button.authorize")
        page.click(".modal-ux button.btn-done")
        operation = page.locator("#operations-procedures-list_procedures")
        operation.locator(".opblock-summary").click()
        operation.locator("button.try-out__btn").click()
        operation.locator("button.execute").click()
        status = operation.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for(timeout=30_000)
        assert status.inner_text().strip().startswith("200"), status.inner_text()
        assert "cdht_xa" in operation.locator(".live-responses-table").inner_text()
    assert outside == []


def test_redoc_shows_the_operations(server: str) -> None:
    outside: list[str] = []
    with browser(args=CLOSED) as chromium:
        page = closed_page(chromium, server, outside)
        page.goto(f"{server}/redoc")
        page.locator("h2", has_text="Open a case").first.wait_for(timeout=60_000)
        assert page.locator("h2", has_text="submit_dossier").count() >= 1
    assert outside == []
