"""The SSRF guard for webhook targets: what production refuses, and that delivery connects only where it checked."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.webhooks.safety import Resolver, Target, UnsafeTarget, check_target, post_pinned

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
TIMEOUT = httpx.Timeout(5.0)


def resolver_of(answers: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(answers[host])

    return resolve


async def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} should have been decided without DNS")


def rebinding_resolver(first: list[str], later: list[str]) -> Resolver:
    """Answers ``first`` once, then ``later``: a DNS rebinding attacker's name server."""
    calls = 0

    async def resolve(host: str, port: int) -> list[str]:
        nonlocal calls
        calls += 1
        return list(first if calls == 1 else later)

    return resolve


async def refusal(url: str, *, resolver: Resolver | None = None, allow_private: bool = False) -> list[str]:
    with pytest.raises(UnsafeTarget) as caught:
        await check_target(url, allow_private=allow_private, resolver=resolver)
    assert caught.value.status == 422
    return [reason.code for reason in caught.value.reasons]


# --- check_target: production ---------------------------------------------------------------------------------


async def test_http_scheme_in_production_refused() -> None:
    assert await refusal("http://example.org/hook", resolver=resolver_of({"example.org": [PUBLIC_V4]})) == [
        "scheme_not_https"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/x",
        "https://192.168.1.5/x",
        "https://100.64.0.1/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://[::ffff:169.254.169.254]/x",
        "https://[fd00::1]/x",
        "https://[fe80::1]/x",
        "https://0.0.0.0/x",
        "https://192.0.0.8/x",
        "https://198.18.0.1/x",
        "https://224.0.0.1/x",
        "https://240.0.0.1/x",
        "https://[64:ff9b::7f00:1]/x",
        "https://[2002:a00:1::]/x",
    ],
)
async def test_non_public_ip_literal_in_production_refused(url: str) -> None:
    assert await refusal(url, resolver=no_dns) == ["address_not_public"]


async def test_metadata_address_refusal_names_link_local() -> None:
    with pytest.raises(UnsafeTarget) as caught:
        await check_target("https://169.254.169.254/latest/meta-data", allow_private=False)
    assert "link-local" in caught.value.reasons[0].message
    assert "169.254.169.254" in caught.value.reasons[0].message


async def test_userinfo_in_url_refused() -> None:
    assert await refusal("https://user:pw@example.org/x", resolver=resolver_of({"example.org": [PUBLIC_V4]})) == [
        "userinfo_not_allowed"
    ]


@pytest.mark.parametrize(
    "url", ["https://localhost/x", "https://LOCALHOST./x", "https://app.localhost/x", "https://metadata.internal/x"]
)
async def test_local_host_name_in_production_refused_before_resolution(url: str) -> None:
    assert await refusal(url, resolver=no_dns) == ["host_not_public"]


async def test_name_resolving_to_private_address_refused() -> None:
    codes = await refusal("https://hooks.example.org/x", resolver=resolver_of({"hooks.example.org": ["10.0.0.1"]}))
    assert codes == ["address_not_public"]


async def test_name_resolving_to_public_and_private_address_refused() -> None:
    resolver = resolver_of({"hooks.example.org": [PUBLIC_V4, "10.0.0.1"]})
    with pytest.raises(UnsafeTarget) as caught:
        await check_target("https://hooks.example.org/x", allow_private=False, resolver=resolver)
    assert [r.code for r in caught.value.reasons] == ["address_not_public"]
    assert "10.0.0.1" in caught.value.reasons[0].message


async def test_name_resolving_to_public_address_accepted() -> None:
    resolver = resolver_of({"hooks.example.org": [PUBLIC_V4, PUBLIC_V4, PUBLIC_V6]})
    target = await check_target("https://hooks.example.org/x?a=1", allow_private=False, resolver=resolver)
    assert target == Target(
        url="https://hooks.example.org/x?a=1",
        host="hooks.example.org",
        port=443,
        addresses=(PUBLIC_V4, PUBLIC_V6),
    )


async def test_ipv4_mapped_public_address_accepted() -> None:
    target = await check_target(f"https://[::ffff:{PUBLIC_V4}]/x", allow_private=False)
    assert [ipaddress.ip_address(a) for a in target.addresses] == [ipaddress.ip_address(f"::ffff:{PUBLIC_V4}")]


async def test_unicode_host_checked_in_idna_form() -> None:
    seen: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        seen.append(host)
        return [PUBLIC_V4]

    target = await check_target("https://bücher.example:8443/x", allow_private=False, resolver=resolve)
    assert seen == ["xn--bcher-kva.example"]
    assert (target.host, target.port) == ("xn--bcher-kva.example", 8443)


async def test_unresolvable_host_refused() -> None:
    async def nxdomain(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    assert await refusal("https://nowhere.example.org/x", resolver=nxdomain) == ["host_unresolvable"]
    assert await refusal("https://empty.example.org/x", resolver=resolver_of({"empty.example.org": []})) == [
        "host_unresolvable"
    ]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/relative/hook", "url_not_absolute"),
        ("ftp://example.org/x", "scheme_not_https"),
        ("https://example.org/x#frag", "fragment_not_allowed"),
        ("https:///x", "host_missing"),
    ],
)
async def test_malformed_url_refused(url: str, code: str) -> None:
    assert await refusal(url, resolver=resolver_of({"example.org": [PUBLIC_V4]})) == [code]


# --- check_target: development --------------------------------------------------------------------------------


async def test_loopback_http_in_dev_accepted() -> None:
    target = await check_target("http://127.0.0.1:8080/hook", allow_private=True)
    assert target == Target(url="http://127.0.0.1:8080/hook", host="127.0.0.1", port=8080, addresses=("127.0.0.1",))


async def test_dev_still_refuses_userinfo_and_other_schemes() -> None:
    assert await refusal("http://u:p@127.0.0.1/x", allow_private=True) == ["userinfo_not_allowed"]
    assert await refusal("file:///etc/passwd", allow_private=True) == ["scheme_not_https"]


# --- post_pinned against a real server ------------------------------------------------------------------------


@dataclass
class Receiver:
    port: int = 0
    seen: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


def receiver_app(receiver: Receiver):  # an ASGI app
    async def app(scope, receive, send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        receiver.seen.append((scope["path"], headers, body))
        if scope["path"] == "/redirect":
            location = f"http://127.0.0.1:{receiver.port}/second".encode()
            await send({"type": "http.response.start", "status": 302, "headers": [(b"location", location)]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"received"})

    return app


@contextmanager
def serving(receiver: Receiver, **ssl: str) -> Iterator[Receiver]:
    """Run a real HTTP(S) server on 127.0.0.1 (an ephemeral port) with uvicorn in a thread."""
    config = uvicorn.Config(
        receiver_app(receiver), host="127.0.0.1", port=0, lifespan="off", ws="none", log_level="warning", **ssl
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    receiver.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as state:
        yield state


def self_signed(directory: Path, hostname: str) -> tuple[Path, Path]:
    """A certificate valid for ``hostname`` only (no IP in it), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{hostname}.pem", directory / f"{hostname}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    """An https server on 127.0.0.1 whose certificate names hooks.test; yields it and the certificate to trust."""
    cert, key = self_signed(tmp_path, "hooks.test")
    with serving(Receiver(), ssl_certfile=str(cert), ssl_keyfile=str(key)) as state:
        yield state, cert


async def test_delivery_connects_to_checked_address_with_original_host(receiver: Receiver) -> None:
    url = f"http://hooks.test:{receiver.port}/hook?x=1"
    body = b'{"event":"case.submitted"}'
    headers = {"Content-Type": "application/json", "X-Signature": "sha256=abc", "Host": "evil.example"}
    async with httpx.AsyncClient() as client:
        response = await post_pinned(
            client,
            url,
            content=body,
            headers=headers,
            allow_private=True,
            timeout=TIMEOUT,
            resolver=resolver_of({"hooks.test": ["127.0.0.1"]}),
        )
    assert response.status_code == 200
    assert response.text == "received"
    assert len(receiver.seen) == 1
    path, seen_headers, seen_body = receiver.seen[0]
    assert path == "/hook"
    assert seen_headers["host"] == f"hooks.test:{receiver.port}"  # the caller's Host is overridden
    assert seen_headers["content-type"] == "application/json"
    assert seen_headers["x-signature"] == "sha256=abc"
    assert seen_body == body


async def test_redirect_response_returned_not_followed(receiver: Receiver) -> None:
    async with httpx.AsyncClient(follow_redirects=True) as client:  # even a client that would follow
        response = await post_pinned(
            client,
            f"http://hooks.test:{receiver.port}/redirect",
            content=b"{}",
            headers={},
            allow_private=True,
            timeout=TIMEOUT,
            resolver=resolver_of({"hooks.test": ["127.0.0.1"]}),
        )
    assert response.status_code == 302
    assert response.headers["location"] == f"http://127.0.0.1:{receiver.port}/second"
    assert [path for path, _, _ in receiver.seen] == ["/redirect"]


async def test_private_address_in_production_refused_before_connecting(receiver: Receiver) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(UnsafeTarget) as caught:
            await post_pinned(
                client,
                f"https://hooks.test:{receiver.port}/hook",
                content=b"{}",
                headers={},
                allow_private=False,
                timeout=TIMEOUT,
                resolver=resolver_of({"hooks.test": ["127.0.0.1"]}),
            )
    assert [r.code for r in caught.value.reasons] == ["address_not_public"]
    assert receiver.seen == []


async def test_dns_rebinding_after_check_refused_at_delivery(receiver: Receiver) -> None:
    url = f"https://hooks.test:{receiver.port}/hook"
    resolver = rebinding_resolver([PUBLIC_V4], ["127.0.0.1"])
    target = await check_target(url, allow_private=False, resolver=resolver)
    assert target.addresses == (PUBLIC_V4,)
    async with httpx.AsyncClient() as client:
        with pytest.raises(UnsafeTarget) as caught:
            await post_pinned(
                client, url, content=b"{}", headers={}, allow_private=False, timeout=TIMEOUT, resolver=resolver
            )
    assert [r.code for r in caught.value.reasons] == ["address_not_public"]
    assert receiver.seen == []


async def test_https_delivery_verifies_certificate_of_real_hostname(tls_receiver: tuple[Receiver, Path]) -> None:
    receiver, cert = tls_receiver
    trust = ssl.create_default_context(cafile=str(cert))
    async with httpx.AsyncClient(verify=trust) as client:
        response = await post_pinned(
            client,
            f"https://hooks.test:{receiver.port}/hook",
            content=b"{}",
            headers={},
            allow_private=True,
            timeout=TIMEOUT,
            resolver=resolver_of({"hooks.test": ["127.0.0.1"]}),
        )
    # The certificate names hooks.test and not 127.0.0.1: the handshake only passes if SNI/verification used the name.
    assert response.status_code == 200
    assert [(path, headers["host"]) for path, headers, _ in receiver.seen] == [("/hook", f"hooks.test:{receiver.port}")]


async def test_https_certificate_for_other_hostname_refused(tls_receiver: tuple[Receiver, Path]) -> None:
    receiver, cert = tls_receiver
    trust = ssl.create_default_context(cafile=str(cert))
    async with httpx.AsyncClient(verify=trust) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await post_pinned(
                client,
                f"https://other.test:{receiver.port}/hook",
                content=b"{}",
                headers={},
                allow_private=True,
                timeout=TIMEOUT,
                resolver=resolver_of({"other.test": ["127.0.0.1"]}),
            )
    assert receiver.seen == []


# --- post_pinned: the request it builds (mock transport; no real TLS endpoint needed) ---------------------------


def recording_client(requests: list[httpx.Request], *, fail_hosts: tuple[str, ...] = ()) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.host in fail_hosts:
            raise httpx.ConnectError("unreachable", request=request)
        return httpx.Response(204)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_https_delivery_pins_ip_and_keeps_hostname_for_tls() -> None:
    requests: list[httpx.Request] = []
    async with recording_client(requests) as client:
        response = await post_pinned(
            client,
            "https://hooks.example.org/hook",
            content=b"x",
            headers={},
            allow_private=False,
            timeout=TIMEOUT,
            resolver=resolver_of({"hooks.example.org": [PUBLIC_V6]}),
        )
    assert response.status_code == 204
    (request,) = requests
    assert str(request.url) == f"https://[{PUBLIC_V6}]/hook"
    assert request.headers["host"] == "hooks.example.org"
    assert request.extensions["sni_hostname"] == "hooks.example.org"
    assert request.headers["connection"] == "close"


async def test_unreachable_address_falls_back_to_next_checked_address() -> None:
    requests: list[httpx.Request] = []
    async with recording_client(requests, fail_hosts=(PUBLIC_V6,)) as client:
        response = await post_pinned(
            client,
            "https://hooks.example.org/hook",
            content=b"x",
            headers={},
            allow_private=False,
            timeout=TIMEOUT,
            resolver=resolver_of({"hooks.example.org": [PUBLIC_V6, PUBLIC_V4]}),
        )
    assert response.status_code == 204
    assert [r.url.host for r in requests] == [PUBLIC_V6, PUBLIC_V4]


async def test_large_response_body_read_only_up_to_cap() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=b"a" * 10_000)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        response = await post_pinned(
            client,
            "https://hooks.example.org/hook",
            content=b"x",
            headers={},
            allow_private=False,
            timeout=TIMEOUT,
            resolver=resolver_of({"hooks.example.org": [PUBLIC_V4]}),
            max_response_bytes=100,
        )
    assert response.status_code == 500
    assert response.content == b"a" * 100


async def test_a_resolution_slower_than_the_connect_timeout_is_a_connect_timeout_and_posts_nothing() -> None:
    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return [PUBLIC_V4]

    requests: list[httpx.Request] = []
    async with recording_client(requests) as client:
        with pytest.raises(httpx.ConnectTimeout, match="resolving the webhook host"):
            await post_pinned(
                client,
                "https://hooks.example.org/hook",
                content=b"x",
                headers={},
                allow_private=False,
                timeout=httpx.Timeout(5.0, connect=0.05),
                resolver=slow,
            )
    assert requests == []
