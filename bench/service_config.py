"""How the benchmarks run the service: the project's root and this interpreter, the dev secret and webhook key every
worker and load generator shares, the service's settings (in-process) and environment (a server process: dev, a
frozen clock, no in-process workers), and dev tokens signed with that secret.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.databases import sa_url

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DEV_SECRET = "cdht-bench-dev-secret-" + "b" * 32  # shared by every worker and by the load generators
WEBHOOK_KEY = "YmVuY2gtd2ViaG9vay1rZXktMzItYnl0ZXMtbG9uZyE="  # Fernet key (32 bytes, urlsafe base64)


def settings_for(database: str, now: datetime, data_dir: Path, **extra: Any):  # type: ignore[no-untyped-def]
    from service.config import Settings

    return Settings(
        env="dev",
        database_url=sa_url(database),
        auth_dev_secret=DEV_SECRET,
        now=now,
        data_dir=data_dir,
        workers_in_process=False,
        webhook_key=WEBHOOK_KEY,
        **extra,
    )


def service_env(database: str, now: datetime, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a service process: dev, a frozen clock, the shared dev secret, no in-process workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDHT_")}
    env.update(
        PYTHONPATH=str(ROOT),
        CDHT_ENV="dev",
        CDHT_DATABASE_URL=sa_url(database),
        CDHT_AUTH_DEV_SECRET=DEV_SECRET,
        CDHT_NOW=now.isoformat(),
        CDHT_DATA_DIR=str(data_dir),
        CDHT_WORKERS_IN_PROCESS="false",
        CDHT_WEBHOOK_KEY=WEBHOOK_KEY,
    )
    env.update(extra)
    return env


_TOKEN_SETTINGS: list[Any] = []


def token(sub: str, role: str, unit: str, *, org: str | None = None) -> str:
    """A dev token signed with the shared secret, valid for a day of real time."""
    from service.auth import issue_dev_token
    from service.config import Settings

    if not _TOKEN_SETTINGS:
        _TOKEN_SETTINGS.append(Settings(env="dev", auth_dev_secret=DEV_SECRET))
    return issue_dev_token(_TOKEN_SETTINGS[0], sub=sub, roles=[role], unit=unit, org=org, name=sub, ttl_seconds=86400)
