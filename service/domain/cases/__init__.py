"""Cases: the one write path and everything that reads a case as the engine does.

casefile     the case file: everything known about a case, loaded once before a decision
checks       the named, ordered checks a trigger passes (readable, clock, version, trigger, authority, state,
             payload, guards), run by the write and by explain alike
explain      what the caller may fire now, and why not
collectors   what the service gathers into a payload (registered collectors, computed figures)
appliers     one applier per event kind: what an event changes, for the write and the replay alike
tail         the one write tail: applier, new version, audit event with state digest, outbox row
tail_writes  its SQL: the new rows and changed columns as prebuilt Core statements (one on PostgreSQL)
engine       apply_transition: the write of a trigger
opening      open_case: the write that creates a case
evidence     record_evidence: a file joins an indicator's evidence
timers       the sweeper's writes: a deadline breached, a reminder sent
deadlines    a case's deadline rows: opened, closed, extended, scheduled
replay       a case as it stood at a past time, rebuilt through the appliers
idempotency  retry-safe keys for the API's writes
"""
