"""The one hierarchy of domain errors, each with the HTTP status it maps to.

    DomainError (400)
    ├── Unauthenticated (401)      no token, a bad token, an expired token
    ├── Forbidden (403)            authority: no rule of the definition lets this actor act here
    ├── NotFound (404)
    ├── Conflict (409)             wrong state, a guard failed, idempotency key reused with another body
    │   └── GuardFailed (409)
    ├── PreconditionFailed (412)   If-Match stale
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    └── InvalidPayload (422)       malformed payload only

Each carries ``reasons`` ({code, message}) so that every refusal says why; the API renders them as
RFC 9457 problem details. ``detail`` is English; ``detail_vi``, when the raiser has something more precise to say
than the Vietnamese meanings of its reason codes (``workflows/reasons.py``), says it in Vietnamese.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class DomainError(Exception):
    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        reasons: list[Reason] | None = None,
        allowed_transitions: list[str] | None = None,
        extra: dict[str, Any] | None = None,
        detail_vi: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.detail_vi = detail_vi
        self.reasons = reasons or []
        self.allowed_transitions = allowed_transitions
        self.extra = extra or {}


class Unauthenticated(DomainError):
    status, title, type_slug = 401, "Unauthenticated", "unauthenticated"


class Forbidden(DomainError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFound(DomainError):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(DomainError):
    status, title, type_slug = 409, "Conflict", "conflict"


class GuardFailed(Conflict):
    title, type_slug = "Guard failed", "guard-failed"


class PreconditionFailed(DomainError):
    status, title, type_slug = 412, "Precondition failed", "precondition-failed"


class PayloadTooLarge(DomainError):
    status, title, type_slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(DomainError):
    status, title, type_slug = 415, "Unsupported media type", "unsupported-media-type"


class InvalidPayload(DomainError):
    status, title, type_slug = 422, "Invalid payload", "invalid-payload"


@dataclass(frozen=True)
class Problem:
    """A rendered problem+json body (kept separate so the API and tests agree on its shape)."""

    type: str
    title: str
    status: int
    detail: str
    reasons: list[dict[str, str]] = field(default_factory=list)
    allowed_transitions: list[str] | None = None
