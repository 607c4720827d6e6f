"""The database: the tables (``tables``), the engine and units of work (``db``), migrations (``migrate``).

The rows the write tail creates by the thousand are built without SQLModel's per-field detours (``fast_init``: the
same objects), from whichever module first imports the tables; so is the unit a write's case file holds (a copy of
the process's unit tree made for every write, ``units.tree_cache``)."""

from service.persistence import fast_init, tables

fast_init.install(
    tables.Case,
    tables.CaseIndicator,
    tables.Evidence,
    tables.AuditEvent,
    tables.Deadline,
    tables.DeadlineReminder,
    tables.OutboxMessage,
    tables.AdminUnit,
)
