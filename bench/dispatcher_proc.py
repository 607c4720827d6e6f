"""One webhook dispatcher alone (``service.workers.webhooks.run_dispatcher``), as ``cdht worker`` runs it but
without the sweeper and the checkpointer, until SIGTERM. Settings from the environment (``CDHT_*``).

    python -m bench.dispatcher_proc
"""

from __future__ import annotations

import asyncio
import signal


def main() -> None:
    from service.config import Settings
    from service.persistence.db import make_engine, session_factory
    from service.workers.webhooks import run_dispatcher

    settings = Settings()

    async def run() -> None:
        engine = make_engine(settings.resolved_database_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for name in ("SIGINT", "SIGTERM"):
            loop.add_signal_handler(getattr(signal, name), stop.set)
        try:
            await run_dispatcher(session_factory(engine), settings, settings.clock, stop=stop)
        finally:
            await engine.dispose()

    asyncio.run(run())


if __name__ == "__main__":
    main()
