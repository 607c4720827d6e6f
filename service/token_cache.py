"""Tokens already verified, kept until they expire: a caller sends the same bearer token on every request of a
session, and checking it again (base64, JSON, the signature, the claims, the actor) cost ~6 % of a transition's CPU.

An entry is the `Actor` a token was verified to speak for, kept until the moment the verifier would refuse the
token as expired (``exp`` plus the leeway: PyJWT refuses once ``int(exp) <= now - leeway``), never longer than
``ttl_seconds`` (the verifier passes the JWKS cache's lifespan in production, so a key the identity provider
withdraws stops being honoured no later than it does without this cache). Only tokens that passed every check are
kept; a refused token is checked again each time. Nothing else a check reads can change while the process runs
(the dev secret is read once; ``nbf`` and ``iat`` only become truer with time). Bounded: the oldest entry goes
first when ``size`` are kept. Shared by the event loop and the thread pool (production), so guarded by a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from service.domain.actor import Actor


class VerifiedTokens:
    def __init__(self, *, leeway_seconds: float, size: int = 2048, clock: Callable[[], float] = time.time) -> None:
        self._entries: dict[str, tuple[Actor, float]] = {}
        self._leeway, self._size, self._clock = leeway_seconds, size, clock
        self._lock = threading.Lock()

    def get(self, token: str) -> Actor | None:
        """The actor of a token verified before and not expired since, else None."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if self._clock() < entry[1]:
            return entry[0]
        with self._lock:
            self._entries.pop(token, None)
        return None

    def keep(self, token: str, actor: Actor, claims: dict[str, Any], *, ttl_seconds: float | None = None) -> None:
        """Remember a token that passed every check, with the claims it was verified with."""
        try:
            until = int(claims["exp"]) + self._leeway  # as PyJWT reads it: refused once int(exp) <= now - leeway
        except (KeyError, ValueError, TypeError, OverflowError):
            return
        now = self._clock()
        if ttl_seconds is not None:
            until = min(until, now + ttl_seconds)
        if until <= now:
            return
        with self._lock:
            if token not in self._entries and len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]
            self._entries[token] = (actor, until)
