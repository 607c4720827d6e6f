"""Who is acting: the claims of a verified token, or the system itself (timers)."""

from __future__ import annotations

from dataclasses import dataclass

NATIONAL_ROOT = "VN"  # the unit above every province: the ministry's and the service's own seat


@dataclass(frozen=True)
class Actor:
    sub: str
    name: str
    roles: tuple[str, ...]
    unit: str
    org: str | None = None
    on_behalf_of: str | None = None

    @property
    def is_system(self) -> bool:
        return self.sub.startswith("system:")

    def has_role(self, role: str) -> bool:
        return role in self.roles


def system_actor(name: str) -> Actor:
    """An actor for the service's own timers, e.g. ``system:deadlines``; it holds the role ``system`` at the
    national root."""
    return Actor(sub=f"system:{name}", name=f"system:{name}", roles=("system",), unit=NATIONAL_ROOT)
