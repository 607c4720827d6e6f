"""Where webhook deliveries may go: the SSRF guard for subscriber URLs.

A webhook subscriber chooses the URL; the service then makes requests to it from inside our network. Left unchecked,
that lets anyone who can register a subscription make the service call loopback admin ports, RFC 1918 hosts, or the
cloud metadata endpoint (169.254.169.254) on their behalf (server-side request forgery). This module owns the one
answer to "may the service send a request to this URL?":

* ``check_target`` validates a URL's shape (absolute, https, no userinfo, no fragment), resolves its host, and, in
  production (``allow_private=False``), refuses it if *any* resolved address is not publicly routable. Refusing on
  any (not all) address matters: a name with one public and one private record must not be allowed to reach the
  private one by chance of address ordering.
* ``post_pinned`` delivers a request. It checks again at delivery time, because DNS can change between subscription
  and delivery (DNS rebinding: a name answers with a public address when checked and with 127.0.0.1 later), and then
  connects to the very address it checked rather than letting the HTTP stack resolve the name a second time. The
  real hostname still goes in the Host header and, for https, in TLS SNI and certificate verification
  (httpcore's ``sni_hostname`` request extension), so virtual hosting and TLS work unchanged. Redirects are never
  followed: a redirect is just another URL the subscriber chose, and it would bypass every check here.

``allowed_ports`` (``CDHT_WEBHOOK_ALLOWED_PORTS``; 443 in production) bounds the ports a target may name, checked
with the shape: without it, a subscription could point the service at any port of any public host, and the
delivery log (connection refused, timed out, answered) would tell the subscriber which ports are open there.

``allow_private=True`` is for development and tests only: it keeps the URL-shape checks but allows plain http and
any address (a local receiver on 127.0.0.1).

Refusals raise ``UnsafeTarget`` (422) with one ``Reason`` per thing refused, so the API can tell a subscriber
exactly why its URL was rejected.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

import httpx

from service.domain.errors import InvalidPayload, Reason

__all__ = ["Resolver", "Target", "UnsafeTarget", "check_target", "post_pinned", "system_resolver"]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""host, port -> IP address strings. Injectable so tests can simulate any DNS answer, including rebinding."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A subscriber's response is only used to record the attempt; bounding what we read keeps a hostile or broken
# receiver from making a delivery worker buffer an arbitrarily large body.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024

# Names that resolve to this machine or an internal network by convention (RFC 6761 localhost, cloud-internal
# zones such as metadata.google.internal, mDNS, home networks). Refusing them before DNS gives a clearer reason; the
# address check after resolution is what actually protects, since any public name can point at a private address.
_INTERNAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")

# Spelled out rather than left to ``ipaddress`` flags alone: what those flags cover has changed between Python
# releases (100.64/10 is neither "private" nor reliably "non-global" everywhere; multicast counts as global), and
# this list is the policy we promise.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), label)
    for net, label in (
        ("0.0.0.0/8", "in 0.0.0.0/8 ('this network')"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "shared address space (CGNAT, RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (includes the cloud metadata address 169.254.169.254)"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("255.255.255.255/32", "broadcast"),
    )
)
_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), label)
    for net, label in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "private (unique local, fc00::/7)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)
# IPv6 prefixes that carry an IPv4 address inside; the embedded address decides where packets really go.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeTarget(InvalidPayload):
    """A webhook URL the service refuses to send to; ``reasons`` name each refused part."""

    title, type_slug = "Unsafe webhook target", "unsafe-webhook-target"


@dataclass(frozen=True)
class Target:
    """A URL that passed every check, with the addresses it was checked against."""

    url: str  # the URL as given
    host: str  # hostname, IDNA-encoded (ASCII); an IP literal without brackets
    port: int
    addresses: tuple[str, ...]  # every resolved IP, each one checked


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the event loop's getaddrinfo (the same resolver a normal connection would use)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


def _refuse(code: str, message: str) -> UnsafeTarget:
    return UnsafeTarget(f"webhook target refused: {message}", reasons=[Reason(code, message)])


def _why_not_public(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be contacted from production, or None if it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 host itself on a dual-stack socket: judge it as such.
        if ip.ipv4_mapped is not None:
            why = _why_not_public(ip.ipv4_mapped)
            return None if why is None else f"IPv4-mapped {why}"
        # NAT64 and 6to4 route to the embedded IPv4 address; refuse if that one would be refused.
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else ip.sixtofour
        if embedded is not None and (why := _why_not_public(embedded)) is not None:
            return f"a translation of {embedded}, which is {why}"
        for net6, label in _REFUSED_V6:
            if ip in net6:
                return label
    else:
        for net4, label in _REFUSED_V4:
            if ip in net4:
                return label
    # Backstop for everything the lists do not name (documentation ranges, IPv6 reserved blocks, ...).
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_unspecified:
        return "unspecified"
    if not ip.is_global:
        return "not globally routable"
    return None


def _parse(url: str, allow_private: bool, allowed_ports: Collection[int] | None) -> tuple[httpx.URL, str, int]:
    """Check the URL's shape; return it parsed with its IDNA host and effective port."""
    try:
        parsed = _url(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise _refuse("url_invalid", f"not a valid URL: {exc}") from None
    if not parsed.scheme:
        raise _refuse("url_not_absolute", "the URL must be absolute (scheme and host)")
    allowed = ("https", "http") if allow_private else ("https",)
    if parsed.scheme not in allowed:
        raise _refuse("scheme_not_https", f"scheme {parsed.scheme!r} is not allowed; use https")
    # Credentials in the URL would be sent to whoever the host is and logged with the URL; deliveries are
    # authenticated by our signature, not by the receiver's secrets embedded here.
    if parsed.userinfo:
        raise _refuse("userinfo_not_allowed", "the URL must not contain a user name or password")
    if not parsed.raw_host:
        raise _refuse("host_missing", "the URL has no host")
    # A fragment is never sent over HTTP; accepting one would store a URL that does not mean what it says.
    if parsed.fragment:
        raise _refuse("fragment_not_allowed", "the URL must not contain a #fragment")
    host = parsed.raw_host.decode("ascii")  # raw_host is the IDNA (punycode) form that DNS and TLS see
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if allowed_ports is not None and port not in allowed_ports:
        allowed = ", ".join(str(p) for p in sorted(allowed_ports))
        message = f"port {port} is not allowed for webhook targets (allowed: {allowed})"
        raise UnsafeTarget(f"webhook target refused: {message}", reasons=[Reason("port_not_allowed", message)])
    return parsed, host, port


# Parsed once per URL and per address, not once per delivery: a dispatcher posts to the same few subscriber URLs and
# addresses over and over. Only the parsing is kept (httpx.URL and ipaddress objects are immutable); every delivery
# still resolves its host and checks every address it got.
@functools.lru_cache(maxsize=1024)
def _url(url: str) -> httpx.URL:
    return httpx.URL(url)


@functools.lru_cache(maxsize=1024)
def _pinned_url(url: str, address: str) -> httpx.URL:
    """``url`` with its host replaced by ``address`` (copy_with puts an IPv6 address in brackets; the port stays
    explicit only if it was given)."""
    return _url(url).copy_with(host=address)


@functools.lru_cache(maxsize=1024)
def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def check_target(
    url: str, *, allow_private: bool, resolver: Resolver | None = None, allowed_ports: Collection[int] | None = None
) -> Target:
    """Validate ``url`` and resolve its host; raise ``UnsafeTarget`` naming what is refused.

    ``allow_private=False`` (production) also refuses internal host names and any non-public resolved address;
    ``allowed_ports`` (None: any) the ports it may name.
    """
    _, host, port = _parse(url, allow_private, allowed_ports)

    literal = _ip_literal(host)
    if literal is None and not allow_private:
        name = host.rstrip(".")  # "localhost." is the same name as "localhost"
        if name in _INTERNAL_NAMES or name.endswith(_INTERNAL_SUFFIXES):
            raise _refuse("host_not_public", f"host {host!r} names an internal or local network")

    if literal is not None:
        # Nothing to resolve; checking the literal itself is the whole check.
        addresses: list[IPAddress] = [literal]
    else:
        try:
            answers = await (resolver or system_resolver)(host, port)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise _refuse("host_unresolvable", f"host {host!r} could not be resolved: {exc}") from None
        addresses = []
        for answer in answers:
            ip = _ip_literal(answer)
            if ip is None:
                raise _refuse("host_unresolvable", f"host {host!r} resolved to {answer!r}, which is not an IP address")
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise _refuse("host_unresolvable", f"host {host!r} has no A or AAAA address")

    if not allow_private:
        refused = [(ip, why) for ip in addresses if (why := _why_not_public(ip)) is not None]
        if refused:
            reasons = [
                Reason("address_not_public", f"host {host!r} resolves to {ip}, which is {why}") for ip, why in refused
            ]
            raise UnsafeTarget(f"webhook target refused: {reasons[0].message}", reasons=reasons)

    return Target(url=url, host=host, port=port, addresses=tuple(str(ip) for ip in addresses))


async def post_pinned(
    client: httpx.AsyncClient | httpx.AsyncBaseTransport,
    target_url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    allow_private: bool,
    timeout: httpx.Timeout,
    resolver: Resolver | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    allowed_ports: Collection[int] | None = None,
) -> httpx.Response:
    """POST ``content`` to ``target_url``, connecting only to an address checked just now.

    Raises ``UnsafeTarget`` before any connection if the target is (now) refused, and httpx transport errors
    (``httpx.ConnectTimeout`` if resolution outlasts ``timeout.connect``) as they come. Any response, 3xx included,
    is returned as is and never followed. The returned response is already read and closed; its body is cut at
    ``max_response_bytes`` (decoded), and Content-Encoding/Content-Length are dropped to match.

    ``client`` is a client or a transport: the dispatcher hands its transport the request directly (httpx's public
    transport interface), without the client's layers a delivery has no use for (cookies kept from the answers,
    auth and redirect handling, merged defaults).
    """
    # Resolve again now: the answer given when the subscription was made proves nothing about today's DNS.
    try:
        async with asyncio.timeout(timeout.connect):  # in this task (wait_for ran the check as a task of its own)
            target = await check_target(
                target_url, allow_private=allow_private, resolver=resolver, allowed_ports=allowed_ports
            )
    except TimeoutError:
        raise httpx.ConnectTimeout(f"resolving the webhook host of {target_url!r} timed out") from None

    url = _url(target_url)
    request_headers = httpx.Headers(headers)
    # The receiver routes and authenticates by name, not by the address we pinned.
    request_headers["Host"] = url.netloc.decode("ascii")
    extensions: dict[str, object] = {}
    if url.scheme == "https":
        # TLS must verify the certificate of the real hostname, not of the IP we connect to.
        extensions["sni_hostname"] = target.host
        # httpx pools connections by origin (here: the IP). A kept-alive TLS connection verified for one hostname
        # must not carry a later request for another hostname that happens to share the IP.
        request_headers["Connection"] = "close"

    limits = timeout.as_dict()
    last_error: httpx.ConnectError | None = None
    for address in target.addresses:
        request = httpx.Request(
            "POST",
            _pinned_url(target_url, address),
            content=content,
            headers=request_headers,
            extensions={**extensions, "timeout": limits},
        )
        try:
            if isinstance(client, httpx.AsyncClient):
                # a redirect target is unchecked; the caller records a 3xx as a failure
                response = await client.send(request, stream=True, follow_redirects=False)
            else:
                response = await client.handle_async_request(request)
            try:
                body = await _read_capped(response, max_response_bytes)
            finally:
                await response.aclose()
        except httpx.ConnectError as exc:
            # Nothing was sent; another checked address of the same host may work (e.g. IPv6 unreachable here).
            last_error = exc
            continue
        kept = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=kept,
            content=body,
            request=request,
            extensions={k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")},
        )
    assert last_error is not None  # check_target never returns an empty address list
    raise last_error


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk[: limit - len(body)]
        if len(body) >= limit:
            break
    return bytes(body)
