"""The service in-process: the real app (``create_app``) behind an ASGI client, on a frozen clock the caller moves; how
templates are walked and how the in-process benchmarks call the API.
"""

from __future__ import annotations

from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import httpx

from bench.service_config import settings_for


class InProcess:
    """The real app (create_app) behind an in-process ASGI client; the frozen clock is ``at``."""

    def __init__(self, database: str, data_dir: Path, now: datetime) -> None:
        from service.main import create_app

        self.settings = settings_for(database, now, data_dir)
        self.app = create_app(self.settings)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://bench", timeout=None
        )

    def settle(self) -> None:
        """What a server's worker does once started, before its first request (the app's lifespan, which the ASGI
        client does not run): its heap settled (``service.heap.settle_heap``, where the code measured has it)."""
        settle = getattr(import_module("service.main"), "settle_heap", None)
        if settle is not None:
            settle()

    def at(self, moment: datetime) -> None:
        self.settings.now = moment

    async def call(
        self, method: str, path: str, tok: str, *, json: Any = None, files: Any = None, data: Any = None
    ) -> Any:
        response = await self.client.request(
            method, path, headers={"Authorization": f"Bearer {tok}"}, json=json, files=files, data=data
        )
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:800]}")
        return response.json()

    async def close(self) -> None:
        await self.client.aclose()
        await self.app.state.services.engine.dispose()
