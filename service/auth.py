"""Authentication: turning an ``Authorization: Bearer <JWT>`` header into a verified `Actor`.

This module owns the token contract and nothing else: which claims a token carries (``sub``, ``name``,
``roles``, ``unit``, optional ``org`` and ``on_behalf_of``), which role names exist, and how a token is
verified. Whether the actor may *do* anything is decided elsewhere (the workflow definitions).

Two modes, chosen by ``Settings.env``:

* production: asymmetric signatures only (``Settings.auth_algorithms``, never HS*), keys from the
  configured issuer's JWKS, issuer and audience required and checked;
* dev / test: HS256 with the local secret (``Settings.dev_secret()``), issuer ``cdht-dev``,
  audience ``cdht``; `issue_dev_token` mints such tokens and refuses to run in production.

Every refusal is an `Unauthenticated` (401) carrying one `Reason`; the reason codes are
``missing_token``, ``bad_scheme``, ``malformed_token``, ``dev_token_refused``, ``algorithm_not_allowed``,
``jwks_unavailable``, ``unknown_key``, ``bad_signature``, ``expired``, ``not_yet_valid``,
``wrong_issuer``, ``wrong_audience``, ``missing_claim``, ``bad_claim``, ``unknown_role``,
``system_role``, ``system_subject`` and ``invalid_token``.

FastAPI stays out of this module: the API layer wraps `bearer_token` and `TokenVerifier.verify` in a
dependency.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from service.config import ConfigurationError, Settings
from service.domain.actor import Actor
from service.domain.errors import Reason, Unauthenticated
from service.token_cache import VerifiedTokens
from workflows.schema import ROLES

log = logging.getLogger(__name__)

KNOWN_ROLES: frozenset[str] = ROLES  # PROCEDURES.md §3; definitions and tokens share one list

DEV_ISSUER = "cdht-dev"
DEV_AUDIENCE = "cdht"
DEV_ALGORITHM = "HS256"

# Timers act as ``system:<name>`` holding the role ``system`` (see `system_actor`); a token that could
# claim either would let a caller impersonate the service itself.
_SYSTEM_ROLE = "system"
_SYSTEM_SUBJECT_PREFIX = "system:"

# The JWKS is fetched with blocking urllib from inside request handling; a short timeout bounds how long
# an unreachable identity provider can stall a request before it becomes a 401.
_JWKS_TIMEOUT_SECONDS = 5.0
# How long the identity provider's key set is kept before it is fetched again, and a verified token at most.
_JWKS_LIFESPAN_SECONDS = 300


def _refused(code: str, message: str, vi: str | None = None) -> Unauthenticated:
    return Unauthenticated(
        f"the bearer token was refused: {message}",
        reasons=[Reason(code, message, vi)],
        detail_vi=f"mã truy cập bị từ chối: {vi}" if vi else None,
    )


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,19}")  # an auth-scheme name (RFC 9110 §11.1), short enough to quote
_SEND = "send 'Authorization: Bearer <token>'"


def not_the_expected_token(message: str) -> Unauthenticated:
    """401 ``invalid_token`` for a bearer token that is not the one a check expects (the metrics token)."""
    return _refused("invalid_token", message)


def bearer_token(authorization_header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme is case-insensitive). A refusal never
    quotes what the header carried but a scheme's name: a token sent without "Bearer " is a secret."""
    parts = (authorization_header or "").split()
    if not parts:
        raise _refused(
            "missing_token", f"no Authorization header; {_SEND}", "thiếu header Authorization; gửi 'Bearer <mã>'"
        )
    if parts[0].lower() != "bearer":
        if len(parts) == 1 and not _SCHEME.fullmatch(parts[0]):
            raise _refused(
                "bad_scheme",
                f"the header holds a token without the Bearer scheme; {_SEND}",
                "header có mã truy cập nhưng thiếu 'Bearer ' phía trước; gửi 'Authorization: Bearer <mã>'",
            )
        scheme = parts[0] if _SCHEME.fullmatch(parts[0]) else "another scheme"
        raise _refused(
            "bad_scheme",
            f"the Authorization scheme must be Bearer, not {scheme}; {_SEND}",
            "phương thức xác thực phải là Bearer; gửi 'Authorization: Bearer <mã>'",
        )
    if len(parts) == 1:
        raise _refused(
            "missing_token",
            "the Authorization header names the Bearer scheme but no token",
            "header Authorization ghi 'Bearer' nhưng không có mã truy cập",
        )
    if len(parts) > 2:
        raise _refused(
            "bad_scheme",
            "expected 'Authorization: Bearer <token>' with a single token",
            "header Authorization phải có đúng một mã truy cập sau 'Bearer '",
        )
    return parts[1]


def _role_problem(roles: Any) -> Reason | None:
    """Why a ``roles`` value is unacceptable, or None; shared by verification and issuance."""
    if not isinstance(roles, (list, tuple)) or not all(isinstance(role, str) for role in roles):
        return Reason("bad_claim", "the roles claim must be a list of role names")
    if not roles:
        # An actor without roles can do nothing; saying so here beats a 403 on every later request.
        return Reason("missing_claim", "the roles claim is empty")
    if _SYSTEM_ROLE in roles:
        return Reason("system_role", "the role 'system' belongs to the service's own timers, not to tokens")
    unknown = sorted(set(roles) - KNOWN_ROLES)
    if unknown:
        return Reason("unknown_role", f"unknown role(s): {', '.join(unknown)}")
    return None


def _optional_text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _refused("bad_claim", f"the {name} claim must be a non-empty string when present")
    return value


# The longest value each text claim may carry (the columns that record who acted are this wide).
CLAIM_LIMITS = {"sub": 200, "name": 200, "unit": 32, "org": 200, "on_behalf_of": 200}


def actor_from_claims(claims: dict[str, Any]) -> Actor:
    """The actor of verified claims, refused (401) as a token with the same claims would be; also the console's
    session identity (``service.console.session``)."""
    for name in ("sub", "name", "unit"):
        value = claims.get(name)
        if value is None:
            raise _refused("missing_claim", f"the token has no {name} claim")
        if not isinstance(value, str) or not value.strip():
            raise _refused("bad_claim", f"the {name} claim must be a non-empty string")
    for name, limit in CLAIM_LIMITS.items():
        value = claims.get(name)
        if isinstance(value, str) and (len(value) > limit or "\x00" in value):
            raise _refused("bad_claim", f"the {name} claim must be at most {limit} characters, without NUL")
    if claims["sub"].startswith(_SYSTEM_SUBJECT_PREFIX):
        raise _refused("system_subject", "subjects starting 'system:' are reserved for the service itself")
    if "roles" not in claims:
        raise _refused("missing_claim", "the token has no roles claim")
    problem = _role_problem(claims["roles"])
    if problem is not None:
        raise _refused(problem.code, problem.message)
    return Actor(
        sub=claims["sub"],
        name=claims["name"],
        roles=tuple(dict.fromkeys(claims["roles"])),
        unit=claims["unit"],
        org=_optional_text(claims, "org"),
        on_behalf_of=_optional_text(claims, "on_behalf_of"),
    )


def _decode_refusal(error: jwt.PyJWTError) -> Unauthenticated:
    # Subclasses before their bases: InvalidSignatureError is a DecodeError, all are InvalidTokenError.
    if isinstance(error, jwt.ExpiredSignatureError):
        return _refused("expired", "the token has expired", "mã truy cập đã hết hạn")
    if isinstance(error, jwt.ImmatureSignatureError):
        return _refused("not_yet_valid", "the token is not valid yet")
    if isinstance(error, jwt.InvalidSignatureError):
        return _refused("bad_signature", "the token's signature does not verify")
    if isinstance(error, jwt.InvalidIssuerError):
        return _refused("wrong_issuer", "the token was issued by another issuer")
    if isinstance(error, jwt.InvalidAudienceError):
        return _refused("wrong_audience", "the token is meant for another audience")
    if isinstance(error, jwt.MissingRequiredClaimError):
        return _refused("missing_claim", f"the token has no {error.claim} claim")
    if isinstance(error, jwt.InvalidAlgorithmError):
        return _refused("algorithm_not_allowed", "the token's signing algorithm is not accepted")
    if isinstance(error, jwt.exceptions.InvalidSubjectError):
        return _refused("bad_claim", "the sub claim must be a string")
    if isinstance(error, jwt.DecodeError):
        return _refused("malformed_token", "the token is not a well-formed JWT")
    return _refused("invalid_token", "the token is invalid")


class TokenVerifier:
    """Verifies bearer tokens for one `Settings`; hold one per application (the JWKS cache and the tokens it
    accepted, ``token_cache``, live here)."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._jwks_client: jwt.PyJWKClient | None = None
        self._dev_secret: str | None = None
        self._lock = threading.Lock()
        self._verified = VerifiedTokens(leeway_seconds=settings.auth_leeway_seconds)
        if settings.is_production:
            missing = [
                name
                for name, value in (
                    ("CDHT_AUTH_ISSUER", settings.auth_issuer),
                    ("CDHT_AUTH_AUDIENCE", settings.auth_audience),
                    ("CDHT_AUTH_JWKS_URL", settings.auth_jwks_url),
                )
                if not value
            ]
            if missing:
                # Without an issuer or audience jwt.decode silently skips those checks.
                raise ConfigurationError(f"production token verification needs {', '.join(missing)}")
            if settings.auth_issuer == DEV_ISSUER:
                raise ConfigurationError(f"CDHT_AUTH_ISSUER cannot be the dev issuer {DEV_ISSUER!r}")
            # Algorithm confusion: an HS* entry would let a public JWKS key be used as an HMAC secret.
            self._algorithms = [
                alg for alg in settings.auth_algorithms if not alg.upper().startswith("HS") and alg != "none"
            ]
            if not self._algorithms:
                raise ConfigurationError("CDHT_AUTH_ALGORITHMS has no asymmetric algorithm for production")
        else:
            self._algorithms = [DEV_ALGORITHM]

    @property
    def may_block(self) -> bool:
        """Whether ``verify`` may wait on the network (production: the identity provider's JWKS is fetched when
        its cache is cold); a dev token is checked against a local secret, read once."""
        return self._settings.is_production or self._dev_secret is None

    def known(self, token: str) -> Actor | None:
        """The actor of a token this verifier accepted before and that has not expired since (``token_cache``);
        None when it must be checked (``verify``)."""
        return self._verified.get(token)

    def verify(self, token: str) -> Actor:
        """The actor a token speaks for; raises `Unauthenticated` with one reason on any failure."""
        if (actor := self._verified.get(token)) is not None:
            return actor
        if self._settings.is_production:
            claims, ttl = self._verify_production(token), _JWKS_LIFESPAN_SECONDS
        else:
            claims, ttl = self._verify_dev(token), None
        actor = actor_from_claims(claims)
        self._verified.keep(token, actor, claims, ttl_seconds=ttl)
        return actor

    def _decode(self, token: str, key: Any, *, issuer: str, audience: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                issuer=issuer,
                audience=audience,
                options={"require": ["exp", "sub"]},
                leeway=self._settings.auth_leeway_seconds,
            )
        except jwt.PyJWTError as error:
            raise _decode_refusal(error) from error

    def _verify_dev(self, token: str) -> dict[str, Any]:
        if self._dev_secret is None:
            # dev_secret() may create the secret file; do it once, not on every request.
            self._dev_secret = self._settings.dev_secret()
        return self._decode(token, self._dev_secret, issuer=DEV_ISSUER, audience=DEV_AUDIENCE)

    def _verify_production(self, token: str) -> dict[str, Any]:
        try:  # parsed once, for the checks by name and the key's id
            parsed = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise _decode_refusal(error) from error
        header, unverified = parsed["header"], parsed["payload"]
        alg = header.get("alg")
        # Refused by name before any key lookup, so that the 401 says what happened rather than
        # surfacing as an unknown key or a disallowed algorithm.
        if (isinstance(alg, str) and alg.upper().startswith("HS")) or unverified.get("iss") == DEV_ISSUER:
            raise _refused("dev_token_refused", "dev-signed tokens are refused in production")
        if alg not in self._algorithms:
            raise _refused("algorithm_not_allowed", f"the signing algorithm {alg!r} is not accepted")
        key = self._signing_key(header.get("kid"))
        assert self._settings.auth_issuer and self._settings.auth_audience  # checked in __init__
        return self._decode(token, key, issuer=self._settings.auth_issuer, audience=self._settings.auth_audience)

    def _signing_key(self, kid: Any) -> jwt.PyJWK:
        client = self._client()
        try:
            return client.get_signing_key(kid)
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, ValueError) as error:
            # ValueError: the endpoint answered with something that is not JSON.
            log.warning("JWKS %s unusable: %s", self._settings.auth_jwks_url, error)
            raise _refused(
                "jwks_unavailable", "the identity provider's signing keys cannot be fetched; try again later"
            ) from error
        except jwt.PyJWKClientError as error:
            raise _refused("unknown_key", "no signing key of the identity provider matches the token") from error
        except jwt.PyJWTError as error:
            raise _decode_refusal(error) from error

    def _client(self) -> jwt.PyJWKClient:
        # Lazily, so that constructing the app (and its tests) never touches the network.
        with self._lock:
            if self._jwks_client is None:
                assert self._settings.auth_jwks_url  # checked in __init__
                self._jwks_client = jwt.PyJWKClient(
                    self._settings.auth_jwks_url,
                    cache_keys=True,
                    lifespan=_JWKS_LIFESPAN_SECONDS,
                    timeout=_JWKS_TIMEOUT_SECONDS,
                )
            return self._jwks_client


def issue_dev_token(
    settings: Settings,
    *,
    sub: str,
    roles: list[str],
    unit: str,
    org: str | None = None,
    name: str | None = None,
    ttl_seconds: int = 12 * 3600,
    now: datetime | None = None,
) -> str:
    """An HS256 dev token that `TokenVerifier` accepts outside production.

    ``now`` defaults to the real time, not ``settings.clock()``: a frozen CDHT_NOW moves workflow
    deadlines, but token expiry is checked against the real clock by the verifier.
    Raises `ConfigurationError` in production and `ValueError` for claims the verifier would refuse.
    """
    if settings.is_production:
        raise ConfigurationError("dev tokens are refused in production")
    problem = _role_problem(roles)
    if problem is not None:
        raise ValueError(problem.message)
    if not sub.strip() or sub.startswith(_SYSTEM_SUBJECT_PREFIX):
        raise ValueError("sub must be non-empty and must not start with 'system:'")
    if not unit.strip():
        raise ValueError("unit must be non-empty")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    issued = (now or datetime.now(UTC)).astimezone(UTC)
    claims: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": sub,
        "name": name or sub,
        "roles": list(dict.fromkeys(roles)),
        "unit": unit,
        "iat": issued,
        "exp": issued + timedelta(seconds=ttl_seconds),
    }
    if org is not None:
        claims["org"] = org
    return jwt.encode(claims, settings.dev_secret(), algorithm=DEV_ALGORITHM)
