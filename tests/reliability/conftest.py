"""Fixtures of the reliability tests: the service run as real processes on PostgreSQL.

Fixtures (function scope; all need ``CDHT_TEST_POSTGRES_URL`` and skip without it, like ``pg_api``):

``rel_api``
    ``pg_api`` of tests/conftest.py (the in-process app on this session's PostgreSQL database, emptied) with the
    communes ``R01`` … ``R40`` added under province P1 (two-tier from cycle 2025, no district). Used to prepare
    cases over HTTP while moving its frozen clock (``rel_api.clock.set``), and to read.
``service_keys``
    The secrets the service processes share with ``rel_api``: its dev-token secret (so ``rel_api.who`` tokens and
    ``cast`` tokens are accepted by the processes), its webhook sealing key (so a subscription made through
    ``rel_api`` is readable by a worker) and an Ed25519 key file (CDHT_AUDIT_SIGNING_KEY_FILE; ``rel_api`` signs
    and verifies checkpoints with it too).
``service_env``
    ``service_env(name, now=None, **settings) -> dict``: the environment of one service process on ``rel_api``'s
    database (own data dir ``tmp_path/name``), e.g. ``service_env("worker-1", now=NOW, sweep_interval_seconds=0.5)``.
``service_processes``
    A ``procs.ProcessGroup`` logging under ``tmp_path/logs``; every process it started is stopped at teardown.
``cast``
    ``Cast``: fixed identities with tokens (commune leader and officer of a unit, the province office of P1, the
    council secretary named by ``step_payload``, a national admin and auditor). Fixed ``sub``\\ s matter: an
    Idempotency-Key is scoped to the caller, so clients sharing an identity share their keys.

The helpers the reliability tests import live in tests/support/: ``load.py`` (``Cast``, ``prepare_cases``,
``next_steps``, ``step_payload``, ``Sent``, ``send``, ``wait_until``) and ``consistency.py`` (``read_database``,
``consistency_problems``); the processes themselves in ``procs.py`` beside this file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Api
from tests.reliability.procs import ProcessGroup, service_environment, write_signing_key
from tests.support.load import Cast

RELIABILITY_UNITS = [f"R{i:02d}" for i in range(1, 41)]


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture
async def rel_api(pg_api: Api) -> Api:
    await pg_api.add_units(*((code, f"Xã {code}", "commune", "P1") for code in RELIABILITY_UNITS))
    return pg_api


@dataclass(frozen=True)
class ServiceKeys:
    dev_secret: str
    webhook_key: str
    signing_key_file: Path


@pytest.fixture
def service_keys(rel_api: Api, tmp_path: Path) -> ServiceKeys:
    key_file = write_signing_key(tmp_path / "keys" / "audit-signing-key.pem")
    rel_api.settings.audit_signing_key_file = key_file
    assert rel_api.settings.auth_dev_secret
    return ServiceKeys(rel_api.settings.auth_dev_secret, rel_api.settings.sealing_key(), key_file)


@pytest.fixture
def service_env(rel_api: Api, service_keys: ServiceKeys, tmp_path: Path) -> Callable[..., dict[str, str]]:
    def make(name: str, now: str | None = None, **settings: object) -> dict[str, str]:
        return service_environment(
            database_url=rel_api.settings.resolved_database_url,
            data_dir=tmp_path / "data" / name,
            dev_secret=service_keys.dev_secret,
            webhook_key=service_keys.webhook_key,
            signing_key_file=service_keys.signing_key_file,
            now=now,
            **settings,
        )

    return make


@pytest.fixture
def service_processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    with ProcessGroup(tmp_path / "logs") as group:
        yield group


@pytest.fixture
def cast(rel_api: Api) -> Cast:
    return Cast(rel_api)
