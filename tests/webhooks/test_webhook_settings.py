"""Webhook settings checked where they are set (issue 13 point 9):

* an invalid ``CDHT_WEBHOOK_KEY`` stops ``cdht serve`` and ``cdht worker`` at start, naming the setting (before: it
  was accepted, and every subscription failed later when its secret was sealed);
* webhook targets are limited to ``CDHT_WEBHOOK_ALLOWED_PORTS``, 443 by default in production, at subscription
  and again at delivery; dev and test allow any port (local receivers) unless the setting says otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.config import ConfigurationError, Settings
from service.main import create_app
from service.webhooks.safety import UnsafeTarget, check_target, post_pinned
from tests.helpers import Api
from tests.reliability.procs import REPO, fernet_key, write_signing_key

PUBLIC_V4 = "93.184.216.34"
PRODUCTION = {
    "CDHT_ENV": "production",
    "CDHT_AUTH_ISSUER": "https://id.example",
    "CDHT_AUTH_AUDIENCE": "cdht",
    "CDHT_AUTH_JWKS_URL": "https://id.example/jwks",
}
BAD_KEYS = ["not-a-fernet-key", "A" * 44, "đ" * 44]


async def public(host: str, port: int) -> list[str]:
    return [PUBLIC_V4]


def production_settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        env="production",
        data_dir=tmp_path,
        auth_issuer="https://id.example",
        auth_audience="cdht",
        auth_jwks_url="https://id.example/jwks",
        audit_signing_key_file=write_signing_key(tmp_path / "signing.pem"),
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("key", BAD_KEYS)
def test_an_invalid_webhook_key_is_refused_at_start_naming_the_setting(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigurationError, match="CDHT_WEBHOOK_KEY is not a Fernet key"):
        production_settings(tmp_path, webhook_key=key).check()
    with pytest.raises(ConfigurationError, match="CDHT_WEBHOOK_KEY"):
        Settings(env="dev", data_dir=tmp_path, webhook_key=key).check()  # set in dev, it must work too
    production_settings(tmp_path, webhook_key=fernet_key()).check()


@pytest.mark.parametrize("command", [["serve", "--no-migrate"], ["worker"]])
def test_serve_and_worker_with_an_invalid_webhook_key_exit_at_start(tmp_path: Path, command: list[str]) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDHT_")}
    environment.update(
        PRODUCTION,
        PYTHONPATH=str(REPO),
        CDHT_DATA_DIR=str(tmp_path),
        CDHT_WEBHOOK_KEY="not-a-fernet-key",
        CDHT_AUDIT_SIGNING_KEY_FILE=str(write_signing_key(tmp_path / "signing.pem")),
    )
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", *command],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "CDHT_WEBHOOK_KEY is not a Fernet key" in result.stderr


async def test_the_app_does_not_start_with_an_invalid_webhook_key(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, database_url="sqlite+aiosqlite:///:memory:", webhook_key="x")
    app = create_app(settings)
    with pytest.raises(ConfigurationError, match="CDHT_WEBHOOK_KEY"):
        async with app.router.lifespan_context(app):
            pass


def test_ports_default_to_443_in_production_and_to_any_elsewhere(tmp_path: Path) -> None:
    assert production_settings(tmp_path).webhook_ports == {443}
    assert Settings(env="dev").webhook_ports is None
    assert Settings(env="test").webhook_ports is None
    assert production_settings(tmp_path, webhook_allowed_ports=[443, 8443]).webhook_ports == {443, 8443}
    assert Settings(env="dev", webhook_allowed_ports=[443]).webhook_ports == {443}


@pytest.mark.parametrize(
    ("url", "allowed", "refused"),
    [
        ("https://hooks.example.org/x", {443}, False),
        ("https://hooks.example.org:443/x", {443}, False),
        ("https://hooks.example.org:8443/x", {443}, True),
        ("https://hooks.example.org:22/x", {443}, True),
        ("https://hooks.example.org:8443/x", {443, 8443}, False),
        ("https://hooks.example.org:25/x", None, False),
    ],
)
async def test_a_target_on_a_port_not_allowed_is_refused(url: str, allowed: set[int] | None, refused: bool) -> None:
    if refused:
        with pytest.raises(UnsafeTarget) as caught:
            await check_target(url, allow_private=False, resolver=public, allowed_ports=allowed)
        assert [r.code for r in caught.value.reasons] == ["port_not_allowed"]
        assert str(sorted(allowed or [])[0]) in caught.value.reasons[0].message
    else:
        target = await check_target(url, allow_private=False, resolver=public, allowed_ports=allowed)
        assert target.addresses == (PUBLIC_V4,)


async def test_delivery_to_a_port_no_longer_allowed_is_refused_before_connecting() -> None:
    def no_connection(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"connected to {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(no_connection)) as client:
        with pytest.raises(UnsafeTarget) as caught:
            await post_pinned(
                client,
                "https://hooks.example.org:8443/x",
                content=b"{}",
                headers={},
                allow_private=False,
                timeout=httpx.Timeout(5),
                resolver=public,
                allowed_ports={443},
            )
    assert [r.code for r in caught.value.reasons] == ["port_not_allowed"]


async def test_subscribing_to_a_port_not_allowed_is_422(api: Api) -> None:
    api.settings.webhook_allowed_ports = [443]
    admin = api.who("admin", "VN")
    response = await api.client.post(
        "/v1/webhooks", headers=admin.headers, json={"url": "http://127.0.0.1:9/h", "events": ["case.opened"]}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert [r["code"] for r in body["reasons"]] == ["port_not_allowed"]
    assert body["detail_vi"] == "Cổng của địa chỉ nhận webhook không được phép"
    api.settings.webhook_allowed_ports = [9]
    accepted = await api.client.post(
        "/v1/webhooks", headers=admin.headers, json={"url": "http://127.0.0.1:9/h", "events": ["case.opened"]}
    )
    assert accepted.status_code == 201, accepted.text
