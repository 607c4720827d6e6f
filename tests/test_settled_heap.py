"""A started app takes what it holds once started out of the cyclic garbage collector's reach
(``service.main.settle_heap`` in the lifespan): a full collection under load no longer walks the definitions, routes
and schemas (a 0.2–0.3 s pause every ~1,400 transitions before, ``bench/transition_cpu.py``), and the app still
serves afterwards (both databases)."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx

from service.main import create_app
from tests.support.apps import make_settings


def _tracked(target: object) -> bool:
    """Whether the collector's generations hold ``target`` (a frozen object is in none of them)."""
    return any(held is target for held in gc.get_objects())


async def test_a_started_app_freezes_what_it_holds_and_still_serves(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data").model_copy(update={"workers_in_process": False})
    app = create_app(settings)
    registry = app.state.services.registry
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0 and _tracked(registry)
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0 and not _tracked(registry)
            later = object.__new__(type(registry))  # made after the start: collected as ever
            assert _tracked(later)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cdht.test") as client:
                answer = await client.get("/readyz")  # the database reached, its schema at the head
            assert answer.status_code == 200 and answer.json()["status"] == "ready"
    finally:
        gc.unfreeze()


async def test_a_verify_worker_process_freezes_what_it_imported_before_it_walks() -> None:
    """Each spawned worker of a full verify (``verify_processes``) starts with its imported modules frozen, so that
    the walk's many short-lived objects do not make every full collection walk them."""
    from service.workers import verify_processes

    frozen = await verify_processes.in_workers(gc.get_freeze_count, [()], 1)
    assert frozen[0] > 0


def test_cdht_worker_freezes_what_it_loaded_before_its_workers_start(tmp_path: Path, monkeypatch) -> None:
    """``cdht worker`` (the sweeper, dispatcher and checkpointer on their own) settles its heap as a server's
    lifespan does, once it has loaded the definitions and before its workers' first round."""
    import argparse

    from service import cli
    from service.workers import checkpoints, deadlines, webhooks

    frozen_at_start = []

    async def worker(*args: object, **kwargs: object) -> None:
        frozen_at_start.append(gc.get_freeze_count())

    for module, name in ((deadlines, "run_sweeper"), (webhooks, "run_dispatcher"), (checkpoints, "run_checkpointer")):
        monkeypatch.setattr(module, name, worker)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'cdht.sqlite3'}", tmp_path / "data")
    settings = settings.model_copy(update={"worker_metrics_port": 0})
    gc.unfreeze()
    try:
        assert cli._worker(argparse.Namespace(), settings) == 0
    finally:
        gc.unfreeze()
    assert len(frozen_at_start) == 3 and all(count > 0 for count in frozen_at_start)
