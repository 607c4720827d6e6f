"""Guards of the TT44/2014, TT24/2023 and follow-up (khắc phục) procedures."""

from __future__ import annotations
