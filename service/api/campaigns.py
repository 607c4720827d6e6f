"""Placeholder: filled in by the campaigns work of issue 6."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
