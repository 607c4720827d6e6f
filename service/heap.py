"""What a long-lived process holds once started, taken out of the cyclic garbage collector's reach.

``settle_heap`` is called where a process has loaded what it keeps for its lifetime: the app's lifespan (its
definitions, routes, schemas), ``cdht worker`` before its sweeper, dispatcher and checkpointer start, and each worker
process of a full verify (the modules it imported to walk the chains, ``service.workers.verify_processes``). A full
collection otherwise walks all of it again every few hundred allocations' worth of new generations.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Take what the process holds once started (definitions, routes, schemas, the modules) out of the cyclic
    garbage collector's reach (``gc.freeze`` after a collection): it lives as long as the process, and a full
    collection walked all of it (about 200,000 objects, 0.4–0.5 s a time on the benchmark machine, every few hundred
    requests: the longest waits of a worker under load). Objects made later are collected as ever."""
    gc.collect()
    gc.freeze()
