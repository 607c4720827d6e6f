"""The one hierarchy of domain errors, each with the HTTP status it maps to.

    DomainError (400)
    ├── Unauthenticated (401)      no token, a bad token, an expired token
    ├── Forbidden (403)            authority: no rule of the definition lets this actor act here
    │   ├── NotAuthorised          not_authorised: the actor's roles do not allow the act
    │   └── OutsideJurisdiction    outside_jurisdiction: the unit is not the actor's (nor one it continues)
    ├── NotFound (404)
    │   ├── UnknownCase            case_unknown
    │   ├── UnknownUnit            unit_unknown
    │   ├── UnknownProcedure       procedure_unknown
    │   ├── UnknownVersion         version_unknown: a definition version that is not loaded
    │   ├── UnknownCampaign        campaign_unknown
    │   └── UnknownMigration       migration_unknown
    ├── Conflict (409)             wrong state, a guard failed, idempotency key reused with another body
    │   ├── GuardFailed            a guard of the definition refused (its own title and type)
    │   ├── CaseExists             case_exists: one case per unit, procedure, cycle and kind
    │   ├── WrongState             wrong_state: the trigger does not fire from the state the case is in
    │   ├── TimeOutOfOrder         time_out_of_order: the clock is behind the case's last change
    │   ├── IdempotencyKeyReused   idempotency_key_reused: the key came with another request before
    │   └── ReplayFailed           replay_failed: the history cannot be replayed under its pinned definition
    ├── PreconditionFailed (412)   If-Match malformed
    │   └── StaleVersion           stale_etag: the case changed since the caller read it
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── InvalidPayload (422)       malformed payload only
    └── Unavailable (503)          the deployment lacks what the request needs (a PDF renderer)

Each carries ``reasons`` ({code, message, message_vi?}) so that every refusal says why; the API renders them as
RFC 9457 problem details in the language asked for, with both beside it (``service.api.errors``). ``detail`` and
``message`` are English; ``detail_vi`` and ``message_vi``, when the raiser has something more precise to say than
the Vietnamese meanings of its reason codes (``workflows/reasons.py``), say it in Vietnamese.

The named errors (indented above) say what the HTTP name hides: each is its status
class (same status, title and type, so the API renders it exactly as that class) with one reason code of
workflows/reasons.py as ``reason_code``; raise one with ``why=`` (a message, or several) and it carries that code,
and whoever needs to tell refusals apart catches the name, not a code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Reason:
    code: str
    message: str  # English: the particulars of this refusal
    message_vi: str | None = None  # the same in Vietnamese, when the raiser wrote it (else the code's meaning leads)

    def as_dict(self) -> dict[str, str]:
        if self.message_vi:
            return {"code": self.code, "message": self.message, "message_vi": self.message_vi}
        return {"code": self.code, "message": self.message}


class DomainError(Exception):
    status = 400
    title = "Bad request"
    type_slug = "bad-request"
    reason_code: ClassVar[str | None] = None  # a named error's one code (``why=`` messages carry it)

    def __init__(
        self,
        detail: str,
        *,
        why: str | Iterable[str] | None = None,
        reasons: list[Reason] | None = None,
        allowed_transitions: list[str] | None = None,
        extra: dict[str, Any] | None = None,
        detail_vi: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.detail_vi = detail_vi
        self.reasons = [*self._reasons_why(why), *(reasons or [])]
        self.allowed_transitions = allowed_transitions
        self.extra = extra or {}

    @classmethod
    def _reasons_why(cls, why: str | Iterable[str] | None) -> list[Reason]:
        if why is None:
            return []
        if cls.reason_code is None:
            raise TypeError(f"{cls.__name__} has no reason code of its own: pass reasons=[Reason(code, message)]")
        return [Reason(cls.reason_code, message) for message in ([why] if isinstance(why, str) else why)]


class Unauthenticated(DomainError):
    status, title, type_slug = 401, "Unauthenticated", "unauthenticated"


class Forbidden(DomainError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotAuthorised(Forbidden):
    reason_code = "not_authorised"


class OutsideJurisdiction(Forbidden):
    reason_code = "outside_jurisdiction"


class NotFound(DomainError):
    status, title, type_slug = 404, "Not found", "not-found"


class UnknownCase(NotFound):
    reason_code = "case_unknown"


class UnknownUnit(NotFound):
    reason_code = "unit_unknown"


class UnknownProcedure(NotFound):
    reason_code = "procedure_unknown"


class UnknownVersion(NotFound):
    reason_code = "version_unknown"


class UnknownCampaign(NotFound):
    reason_code = "campaign_unknown"


class UnknownMigration(NotFound):
    reason_code = "migration_unknown"


class Conflict(DomainError):
    status, title, type_slug = 409, "Conflict", "conflict"


class GuardFailed(Conflict):
    title, type_slug = "Guard failed", "guard-failed"


class CaseExists(Conflict):
    reason_code = "case_exists"


class WrongState(Conflict):
    reason_code = "wrong_state"


class TimeOutOfOrder(Conflict):
    reason_code = "time_out_of_order"


class IdempotencyKeyReused(Conflict):
    reason_code = "idempotency_key_reused"


class ReplayFailed(Conflict):
    reason_code = "replay_failed"


class PreconditionFailed(DomainError):
    status, title, type_slug = 412, "Precondition failed", "precondition-failed"


class StaleVersion(PreconditionFailed):
    reason_code = "stale_etag"


class PayloadTooLarge(DomainError):
    status, title, type_slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(DomainError):
    status, title, type_slug = 415, "Unsupported media type", "unsupported-media-type"


class InvalidPayload(DomainError):
    status, title, type_slug = 422, "Invalid payload", "invalid-payload"


class Unavailable(DomainError):
    status, title, type_slug = 503, "Service unavailable", "service-unavailable"


@dataclass(frozen=True)
class Problem:
    """A rendered problem+json body (kept separate so the API and tests agree on its shape)."""

    type: str
    title: str
    status: int
    detail: str
    reasons: list[dict[str, str]] = field(default_factory=list)
    allowed_transitions: list[str] | None = None
