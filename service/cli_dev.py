"""The ``cdht`` commands of dev and demo deployments: ``clock`` (show, set, advance or reset the dev clock every
process of the deployment reads; ``service/domain/dev_clock.py``) and ``demo-tokens`` (the demo users' tokens, as
text, shell assignments or JSON). Both are refused in production."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from service import clock_file as stored
from service.config import Settings
from service.domain import dev_clock
from service.domain.errors import DomainError
from workflows.calendar import LOCAL_TZ


def _clock(args: argparse.Namespace, settings: Settings) -> int:
    action = args.clock_command or "show"
    try:
        if action != "show":
            dev_clock.change(
                settings.data_dir,
                real_now=settings.real_clock(),
                production=settings.is_production,
                by="cli",
                to=args.to if action == "set" else None,
                days=args.days if action == "advance" else None,
                reset=action == "reset",
            )
    except DomainError as exc:
        print(f"cdht clock: {exc.detail}: {'; '.join(r.message for r in exc.reasons)}", file=sys.stderr)
        return 2
    current = stored.NONE if settings.is_production else stored.read(settings.data_dir)
    now = settings.clock()
    shown: dict[str, Any] = {
        "now": now.isoformat(),
        "now_local": now.astimezone(LOCAL_TZ).isoformat(),
        "offset_seconds": current.offset.total_seconds(),
        "frozen": settings.now is not None,
    }
    print(json.dumps(shown))
    return 0


def _demo_tokens(args: argparse.Namespace, settings: Settings) -> int:
    from service.demo import print_tokens

    if settings.is_production:
        print("cdht demo-tokens: dev tokens are refused in production", file=sys.stderr)
        return 2
    print_tokens(settings, args.format)
    return 0


def aware_time(text: str) -> datetime:
    """An argument's time: ISO 8601 with its offset (``cdht clock set``, ``cdht sweep --now``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time with its offset, e.g. 2027-01-02T09:00:00+07:00")
    return moment


def add_dev_commands(sub: Any) -> None:
    clock = sub.add_parser(
        "clock",
        help="show or move the clock of a dev or demo deployment (every process of it, no restart; not production)",
    )
    clock.set_defaults(run=_clock, clock_command=None)
    actions = clock.add_subparsers(dest="clock_command")
    actions.add_parser("show", help="the clock (default)")
    set_ = actions.add_parser("set", help="set the clock to a time")
    set_.add_argument("to", type=aware_time, help="ISO 8601 with offset, e.g. 2027-01-02T09:00:00+07:00")
    advance = actions.add_parser("advance", help="move the clock by a number of days (negative: back)")
    advance.add_argument("days", type=float)
    actions.add_parser("reset", help="back to the real clock (CDHT_NOW when set)")

    tokens = sub.add_parser("demo-tokens", help="print the demo users' dev tokens (not production)")
    tokens.add_argument(
        "--format",
        choices=["text", "env", "json"],
        default="text",
        help="text (a comment and a token per user), env (TOKEN_LEADER_X01=… lines for eval) or json",
    )
    tokens.set_defaults(run=_demo_tokens)
