"""``tracing.span`` without a tracer provider (no ``CDHT_OTLP_ENDPOINT``): the non-recording span, from one shared
context object, that lets every exception through. The recording path is held to an OTLP receiver in
tests/telemetry/test_processes.py."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from service.telemetry import tracing


def test_an_untraced_span_is_the_non_recording_span_and_lets_exceptions_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing, "_provider", None)
    with tracing.span("engine.decide", case="C1", trigger="lapse") as current:
        assert current is trace.INVALID_SPAN
        assert not current.is_recording()
    with pytest.raises(KeyError), tracing.span("check.state", trigger="lapse"):
        raise KeyError("lapse")
    assert tracing.span("a") is tracing.span("b", x=1)  # one shared object: nothing built per span
