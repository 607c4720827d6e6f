"""Reading a Prometheus text exposition in tests, and checking it with ``promtool check metrics``."""

from __future__ import annotations

import subprocess

from prometheus_client.parser import text_string_to_metric_families

from tests.support.tools import promtool


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def has_family(text: str, name: str) -> bool:
    return any(family.name == name for family in text_string_to_metric_families(text))


def promtool_check(text: str) -> str:
    """``promtool check metrics`` on ``text``: its complaints (empty when clean)."""
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    return (result.stdout + result.stderr).strip() if result.returncode != 0 or result.stdout.strip() else ""
