"""The audit log: append-only, hash-chained per case, verifiable online, offline and against signed checkpoints.

Each event's hash is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of its fields and the
previous event's hash. Chains are per case (``case:<id>``), not global: the case row lock that serialises a case's
transitions already orders its chain, so appending needs no global lock that would serialise every transition in
the country. A case row keeps its chain's head (``event_seq``, ``last_hash``), so removing the newest events is
caught too; events outside any case (administrative units) go to the ``admin`` chain.

* ``canonical`` — the canonical encoding and the event hash (one implementation, for writing and every verifier);
* ``digest`` — the digest of a case's tables each case event records, and its versions;
* ``unit_tree`` — the digest of the administrative units and successions the ``admin`` chain records;
* ``writer`` — appending events;
* ``chain_walk`` — the walk along a chain's events (sequence, link, hash) that every verifier shares;
* ``event_reader`` and ``verify`` — the online verify of the database's chains, heads and case digests;
* ``evidence_files`` — the deep verify: the evidence files on disk against their recorded SHA-256;
* ``checkpoints`` — signed checkpoints of every chain's head;
* ``offline`` — verifying a JSONL export without the database.
"""
