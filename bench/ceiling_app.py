"""The ceiling of benchmark 1: a bare FastAPI route on the same database doing one transaction that updates one
row and inserts one (SQLAlchemy async, asyncpg, the same pool size as the service, no pre-ping, no auth).

    uvicorn bench.ceiling_app:create --factory --workers 2     (CDHT_DATABASE_URL names the database)

``prepare`` creates its two tables and rows in the benchmark's database.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

UPDATE = text("UPDATE bench_ceiling_row SET value = value + 1, updated_at = now() WHERE id = :id")
INSERT = text("INSERT INTO bench_ceiling_log (row_id, at, body) VALUES (:id, now(), :body)")


async def prepare(dsn: str, rows: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "CREATE TABLE bench_ceiling_row (id integer PRIMARY KEY, value integer NOT NULL, "
            "updated_at timestamptz NOT NULL);"
            "CREATE TABLE bench_ceiling_log (id bigserial PRIMARY KEY, row_id integer NOT NULL, "
            "at timestamptz NOT NULL, body text NOT NULL)"
        )
        await connection.execute(
            "INSERT INTO bench_ceiling_row SELECT g, 0, now() FROM generate_series(0, $1 - 1) AS g", rows
        )
    finally:
        await connection.close()


def create() -> FastAPI:
    engine = create_async_engine(os.environ["CDHT_DATABASE_URL"], pool_size=10, max_overflow=20)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/ceiling/{row}")
    async def hit(row: int, request: Request) -> JSONResponse:
        body = json.loads(await request.body() or b"{}")
        async with engine.begin() as connection:
            await connection.execute(UPDATE, {"id": row})
            await connection.execute(INSERT, {"id": row, "body": json.dumps(body, ensure_ascii=False)})
        return JSONResponse({"ok": True, "row": row})

    return app
