"""uvicorn workers each on a listening socket of its own bound with ``SO_REUSEPORT``, so that the kernel spreads new
connections evenly over the workers.

``uvicorn --workers N`` shares one listening socket: whichever worker wakes first accepts. The load generator opens
its N keep-alive connections at once and keeps them, so in a run one worker often took them all and the other sat
idle (seen in the profiles: 2 samples against ~480 KB). With a socket per worker the kernel hashes each connection to
one of them. The ceiling and the service are started the same way, so their ratio compares like with like.

    python -m bench.reuseport TARGET --port P --workers N     (TARGET: a factory, ``module:function``)
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import socket
import sys


def _serve(target: str, host: str, port: int) -> None:
    import uvicorn

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listening.bind((host, port))
    listening.listen(2048)
    config = uvicorn.Config(target, factory=True, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listening])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("target")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_serve, args=(args.target, args.host, args.port)) for _ in range(args.workers)]
    for worker in workers:
        worker.start()

    def stop(*_: object) -> None:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: uvicorn shuts down gracefully

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.join()
    sys.exit(max((worker.exitcode or 0) for worker in workers))


if __name__ == "__main__":
    main()
