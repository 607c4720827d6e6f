"""kill -9 of a dispatcher in the middle of a batch loses no event (PostgreSQL): every event is delivered at least
once after a restart, and a duplicate carries the same webhook-id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert

from service.persistence.tables import OutboxMessage
from tests.helpers import Api
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]
EVENTS = 500


def start_worker(api: Api, tmp_path: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDHT_")}
    environment.update(
        PYTHONPATH=str(REPO),
        CDHT_ENV="test",
        CDHT_DATABASE_URL=api.settings.resolved_database_url,
        CDHT_DATA_DIR=str(tmp_path / "worker"),
        CDHT_WEBHOOK_KEY=api.settings.sealing_key(),
        CDHT_WEBHOOK_LEASE_SECONDS="2",
        CDHT_WEBHOOK_POLL_SECONDS="0.1",
        CDHT_SWEEP_INTERVAL_SECONDS="3600",
        CDHT_WORKER_METRICS_PORT="0",  # no metrics endpoint: the restarted worker must not wait for the port
    )
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_kill_9_mid_batch_then_restart_delivers_every_event(pg_api: Api, tmp_path: Path) -> None:
    api = pg_api
    admin = api.who("admin", "VN")
    with Receiver() as receiver:
        receiver.respond_with(delay=0.01)
        created = await api.ok(
            await api.client.post(
                "/v1/webhooks", headers=admin.headers, json={"url": receiver.url, "events": ["case.opened"]}
            ),
            201,
        )
        uids = [str(uuid.uuid4()) for _ in range(EVENTS)]
        now = datetime.now(timezone.utc)
        async with api.app.state.services.sessions() as session, session.begin():
            await session.execute(
                insert(OutboxMessage),
                [
                    {
                        "event_uid": uid,
                        "case_id": None,
                        "seq": i + 1,
                        "type": "case.opened",
                        "unit_code": "C3",
                        "body": {
                            "type": "case.opened",
                            "timestamp": now.isoformat(),
                            "data": {"event_id": uid, "seq": i + 1, "unit": "C3"},
                        },
                        "created_at": now,
                    }
                    for i, uid in enumerate(uids)
                ],
            )
        worker = start_worker(api, tmp_path)
        try:
            deadline = time.monotonic() + 60
            while len(receiver.received) < EVENTS // 5:
                assert time.monotonic() < deadline and worker.poll() is None, "the worker delivered nothing"
                time.sleep(0.02)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            at_kill = len({r.headers["webhook-id"] for r in receiver.received})
            assert at_kill < EVENTS, "the kill came too late to interrupt the batch"
            worker = start_worker(api, tmp_path)
            deadline = time.monotonic() + 90
            while len({r.headers["webhook-id"] for r in receiver.received}) < EVENTS:
                assert time.monotonic() < deadline, "events were lost after the restart"
                assert worker.poll() is None
                time.sleep(0.1)
        finally:
            worker.terminate()
            worker.wait(timeout=10)
        bodies = receiver.verified(created["secret"])
        received = receiver.received
    ids = [r.headers["webhook-id"] for r in received]
    assert set(ids) == {f"msg_{uid}" for uid in uids}
    for request, body in zip(received, bodies, strict=True):
        assert request.headers["webhook-id"] == f"msg_{body['data']['event_id']}"  # a duplicate keeps its id
