"""Signing of outgoing webhooks per the Standard Webhooks specification.

Spec: https://www.standardwebhooks.com (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md)

Every delivery carries three headers:

* ``webhook-id`` -- the message id, identical across retries of the same message;
* ``webhook-timestamp`` -- integer Unix seconds of this delivery attempt;
* ``webhook-signature`` -- space-delimited list of ``v1,<base64 HMAC-SHA256>`` signatures.

The signed content is ``f"{msg_id}.{timestamp}.".encode() + body`` and the HMAC key is the
base64-decoded part of the secret after the ``whsec_`` prefix. Several signatures may be sent at
once so a receiver can rotate secrets: during a rotation the sender signs with both the old and
the new secret and the receiver accepts any one that matches.

This module is pure and stdlib-only. Error messages never include the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Sequence

__all__ = [
    "SECRET_PREFIX",
    "SIGNATURE_VERSION",
    "MIN_KEY_BYTES",
    "MAX_KEY_BYTES",
    "new_secret",
    "secret_key",
    "signature",
    "signature_header",
    "webhook_headers",
]

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
# The spec: "The secret key SHOULD be between 24 bytes (192 bits) and 64 bytes (512 bits)".
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
_NEW_KEY_BYTES = 32


def new_secret() -> str:
    """A fresh secret: ``"whsec_"`` + standard base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(_NEW_KEY_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of ``secret`` (base64-decoded part after ``whsec_``); ValueError if malformed.

    The message never contains the secret or any part of it.
    """
    if not isinstance(secret, str):
        raise ValueError(f"webhook secret must be a str, got {type(secret).__name__}")
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secret must start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX) :]
    if not encoded:
        raise ValueError(f"webhook secret has nothing after {SECRET_PREFIX!r}")
    # Tolerate missing '=' padding (as the reference libraries do), but nothing else.
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError(
            f"webhook secret is not valid base64 after {SECRET_PREFIX!r} (standard alphabet A-Z a-z 0-9 + /)"
        ) from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"webhook secret key must decode to {MIN_KEY_BYTES}..{MAX_KEY_BYTES} bytes, got {len(key)} bytes"
        )
    return key


def _check_message(msg_id: str, timestamp: int, body: bytes) -> None:
    if not isinstance(msg_id, str) or not msg_id:
        raise ValueError("webhook message id must be a non-empty str")
    if any(c.isspace() for c in msg_id):
        raise ValueError("webhook message id must not contain whitespace")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("webhook timestamp must be a non-negative int (Unix seconds)")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ValueError(f"webhook body must be bytes, got {type(body).__name__}")


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``"v1," + base64(HMAC-SHA256(key, f"{msg_id}.{timestamp}.".encode() + body))``."""
    key = secret_key(secret)
    _check_message(msg_id, timestamp, body)
    signed = f"{msg_id}.{timestamp}.".encode() + bytes(body)
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one space-separated ``v1,…`` per secret, in the given order.

    Pass both the old and the new secret during a rotation.
    """
    if isinstance(secrets, str):
        raise ValueError("secrets must be a sequence of secrets, not a single str")
    if not secrets:
        raise ValueError("at least one webhook secret is required")
    return " ".join(signature(s, msg_id, timestamp, body) for s in secrets)


def webhook_headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """All headers of one delivery attempt: webhook-id, webhook-timestamp, webhook-signature, content-type."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
    }
