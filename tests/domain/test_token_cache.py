"""Verified tokens kept until they expire (service/token_cache.py): the same token is not checked twice, and is
refused exactly when the verifier would refuse it as expired."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from service.auth import TokenVerifier, issue_dev_token
from service.config import Settings
from service.domain.actor import Actor
from service.domain.errors import Unauthenticated
from service.token_cache import VerifiedTokens

ACTOR = Actor(sub="u-1", name="A", roles=("commune_officer",), unit="VN")


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_an_accepted_token_is_not_checked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(env="dev", data_dir=tmp_path)
    verifier = TokenVerifier(settings)
    token = issue_dev_token(settings, sub="u-1", roles=["commune_officer"], unit="VN")
    assert verifier.known(token) is None
    first = verifier.verify(token)
    assert verifier.known(token) == first

    def no_second_check(*args: object, **kwargs: object) -> None:
        raise AssertionError("checked again")

    monkeypatch.setattr(verifier, "_decode", no_second_check)
    assert verifier.verify(token) is first
    other = issue_dev_token(settings, sub="u-2", roles=["commune_officer"], unit="VN")
    with pytest.raises(AssertionError, match="checked again"):
        verifier.verify(other)


def test_a_refused_token_is_refused_every_time(tmp_path: Path) -> None:
    settings = Settings(env="dev", data_dir=tmp_path)
    verifier = TokenVerifier(settings)
    token = issue_dev_token(settings, sub="u-1", roles=["commune_officer"], unit="VN")
    tampered = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    for _ in range(2):
        with pytest.raises(Unauthenticated) as caught:
            verifier.verify(tampered)
        assert caught.value.reasons[0].code == "bad_signature"
        assert verifier.known(tampered) is None


def test_a_kept_token_is_refused_as_expired_once_it_expires(tmp_path: Path) -> None:
    settings = Settings(env="dev", data_dir=tmp_path, auth_leeway_seconds=0)
    verifier = TokenVerifier(settings)
    token = issue_dev_token(settings, sub="u-1", roles=["commune_officer"], unit="VN", ttl_seconds=2)
    verifier.verify(token)
    assert verifier.known(token) is not None
    time.sleep(2.1)  # the token's exp (whole seconds) has passed
    assert verifier.known(token) is None
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.reasons[0].code == "expired"


def test_an_entry_lasts_until_exp_plus_leeway_as_pyjwt_reads_exp() -> None:
    clock = Clock(900.0)
    cache = VerifiedTokens(leeway_seconds=30, clock=clock)
    cache.keep("t", ACTOR, {"exp": 1000.9})  # PyJWT reads int(exp): refused once 1000 <= now - 30
    clock.at = 1029.99
    assert cache.get("t") == ACTOR
    clock.at = 1030.0
    assert cache.get("t") is None
    cache.keep("u", ACTOR, {"exp": "not a number"})
    assert cache.get("u") is None


def test_an_entry_lasts_no_longer_than_its_ttl_nor_is_kept_once_expired() -> None:
    clock = Clock(1000.0)
    cache = VerifiedTokens(leeway_seconds=30, clock=clock)
    cache.keep("t", ACTOR, {"exp": 10_000}, ttl_seconds=300)  # production: the JWKS cache's lifespan
    clock.at = 1299.0
    assert cache.get("t") == ACTOR
    clock.at = 1300.0
    assert cache.get("t") is None
    cache.keep("old", ACTOR, {"exp": 1200})  # already past exp + leeway
    assert cache.get("old") is None


def test_the_oldest_entry_goes_first_when_full() -> None:
    cache = VerifiedTokens(leeway_seconds=0, size=2, clock=Clock(0.0))
    for token in ("a", "b", "c"):
        cache.keep(token, ACTOR, {"exp": 100})
    assert [cache.get(t) is not None for t in ("a", "b", "c")] == [False, True, True]
