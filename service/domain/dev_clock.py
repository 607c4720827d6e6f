"""Moving the clock of a dev or demo deployment without restarting it (``POST /v1/dev/clock``, ``cdht clock``):
so that a demo can reach the days the law waits for (a self-assessment opens on 01/01 of N+1, a submission deadline
passes, a recognition expires). Refused in production, where the clock is the real time.

The change is kept in the data directory (``service.clock_file``) as an offset from the real clock
(``CDHT_NOW`` when that freezes it), so time goes on running from the new point, and every process of the
deployment reads the same time. Moving it back is allowed: a case changed after the new time refuses writes
(``time_out_of_order``) until the clock passes its last change again, so no history is rewritten.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from service import clock_file as dev_clock
from service.clock_file import DevClock
from service.domain.errors import Forbidden, InvalidPayload, Reason

MAX_OFFSET = timedelta(days=100 * 366)  # a century either way: far enough for any demo, nowhere near overflow


def refuse_in_production(production: bool) -> None:
    if production:
        raise Forbidden(
            "the dev clock is refused in production: the clock is the real time",
            reasons=[Reason("dev_only", "moving the clock is for dev and demo deployments (CDHT_ENV=dev or test)")],
            detail_vi="không được chỉnh đồng hồ khi vận hành thật: đồng hồ là giờ thực",
        )


def change(
    data_dir: Path,
    *,
    real_now: datetime,
    production: bool,
    by: str,
    to: datetime | None = None,
    days: float | None = None,
    reset: bool = False,
) -> DevClock:
    """Set the clock to ``to``, move it by ``days``, or ``reset`` it to the real one (exactly one of them)."""
    refuse_in_production(production)
    given = [name for name, value in (("to", to), ("days", days), ("reset", reset or None)) if value is not None]
    if len(given) != 1:
        raise InvalidPayload(
            "give exactly one of to, days and reset",
            reasons=[Reason("clock_change_invalid", f"got {', '.join(given) or 'none of them'}")],
        )
    if reset:
        dev_clock.clear(data_dir)
        return dev_clock.NONE
    if days is not None and not abs(days) <= MAX_OFFSET.days:  # also NaN; before timedelta could overflow
        raise InvalidPayload(
            "the dev clock moves at most a century from the real time",
            reasons=[Reason("clock_change_invalid", f"days must lie within ±{MAX_OFFSET.days}")],
        )
    if to is not None:
        target = to if to.tzinfo else to.replace(tzinfo=UTC)
        moved = target - real_now
    else:
        moved = dev_clock.offset(data_dir) + timedelta(days=days or 0)
    if abs(moved) > MAX_OFFSET:
        raise InvalidPayload(
            "the dev clock moves at most a century from the real time",
            reasons=[Reason("clock_change_invalid", f"{moved.days} days from the real time")],
        )
    clock = DevClock(moved, datetime.now(UTC).isoformat(), by)
    dev_clock.write(data_dir, clock)
    return clock
