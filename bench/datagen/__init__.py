"""Realistic data, fast: a few cases walked through the real API (in-process), then cloned by the thousand.

A *template* is a case of a template commune (``XTPLZnn`` in province ``PTPLZ``) walked through the service's own
HTTP operations on a frozen clock, so every row and audit event is what the engine writes. It is captured as text:
its rows in PostgreSQL's COPY text format, and for each audit event the canonical JSON its hash covers and the
canonical JSON of the case digest it records (``state_digest``, obtained by replaying the case to that event and
capturing what ``case_state_digest`` hashes). Every occurrence of what differs between two cases — the case id,
the commune and province codes, evidence ids, event uids, request ids, times, hashes and digests — becomes a
placeholder.

A *clone* fills the placeholders with a new case id, another commune and its province, new evidence ids (kept in
the same order, since the digest sorts evidence by id), new uids and request ids, and the template's times shifted
by a few seconds to hours (never past a day boundary in Asia/Ho_Chi_Minh, so no deadline or date rule reads them
differently), then recomputes each event's digest and hash in chain order. The result verifies
(``GET /v1/audit/verify``) and replays (``GET /v1/cases/{id}?as_of=``) like a case the engine wrote; ``check_clones``
proves it on samples. Rows are loaded with COPY; for a large audit table its secondary indexes are dropped first
and built again after (``case_clones.load``).

With ``interleave`` (the audit benchmark) the audit events are loaded as real years write them: in time order across
every case, so the events of all provinces interleave in id order (a clone's events are spread over the year, not
one block of ids per case or per province). The rendered events are spooled to a file per UTC day and each day is

The modules: ``unit_tree`` (made-up provinces and communes, the template province), ``in_process`` (the app behind an
ASGI client, on a frozen clock), ``case_templates`` (walking a template case and capturing it), ``case_clones``
(rendering clones, loading them, checking samples).
"""
