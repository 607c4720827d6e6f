"""The service as uvicorn's app factory (``uvicorn bench.app_factory:create --factory --workers 2``).

``cdht serve`` runs one uvicorn worker; the benchmarks run several, each building the app from the environment
(``CDHT_*``: the benchmark sets a frozen clock, the shared dev secret and ``CDHT_WORKERS_IN_PROCESS=false`` so no
sweeper or dispatcher runs beside the requests).
"""

from __future__ import annotations

from fastapi import FastAPI


def create() -> FastAPI:
    from service.config import Settings
    from service.main import create_app

    return create_app(Settings())
