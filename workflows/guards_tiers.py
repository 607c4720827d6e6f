"""Guards of the district and province procedures (TT25/2023 Điều 10–19)."""

from __future__ import annotations
