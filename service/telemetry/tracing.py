"""OpenTelemetry traces, when ``CDHT_OTLP_ENDPOINT`` names an OTLP/HTTP receiver (a collector, Jaeger, Tempo):
the HTTP requests (FastAPI instrumentation), the SQL statements (SQLAlchemy instrumentation) and the engine's steps
(``span``: a write, each named check, the gathering of computed figures, the write tail; a swept case).

Without the setting nothing is set up: ``span`` then gives the non-recording span at once. The tracer provider is
the process's global one, set once; the exporter sends batches in the background (``OTEL_BSP_*`` tune it) and is
flushed when the app or the worker stops."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace

TRACER = trace.get_tracer("cdht")
_provider: Any = None  # the process's TracerProvider once set up


class _NotTraced:
    """The context ``span`` gives until ``setup`` has set a provider: the non-recording span, and nothing else."""

    __slots__ = ()

    def __enter__(self) -> trace.Span:
        return trace.INVALID_SPAN

    def __exit__(self, *exc: object) -> None:
        return None


_NOT_TRACED = _NotTraced()


def recording() -> bool:
    """Whether ``span`` records (``setup`` has set a provider); a loop of many short steps may skip them when not."""
    return _provider is not None


def span(name: str, **attributes: Any) -> AbstractContextManager[trace.Span]:
    """A span named ``name`` around the block; ``attributes`` (those not None) as ``cdht.<name>``. Until ``setup``
    has set a provider, the non-recording span from one shared context object (a batch of thousands of writes
    opens tens of thousands of spans: a generator-based context manager costs ~3 µs each, this ~0.2)."""
    if _provider is None:
        return _NOT_TRACED
    return _recording(name, attributes)


@contextmanager
def _recording(name: str, attributes: dict[str, Any]) -> Iterator[trace.Span]:
    attrs = {f"cdht.{k}": v for k, v in attributes.items() if v is not None}
    with TRACER.start_as_current_span(name, attributes=attrs) as current:
        yield current


def setup(endpoint: str | None, service_name: str = "cdht") -> Any:
    """Set the global tracer provider exporting to ``endpoint`` (OTLP over HTTP); returns it, or None when no
    endpoint is given. A second call in the same process returns the first provider."""
    global _provider
    if not endpoint:
        return None
    if _provider is not None:
        return _provider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def instrument_app(app: Any, provider: Any) -> None:
    """Trace the app's HTTP requests (not the probes nor the metrics scrapes)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics")


def instrument_engine(engine: Any, provider: Any) -> None:
    """Trace the SQL statements of an (async) SQLAlchemy engine."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return
    # The instrumentation declares SQLAlchemy < 2.1 and we run 2.1, whose engine events it uses are unchanged: the
    # version check is skipped, and tests/telemetry/test_processes.py fails if the SQL spans stop arriving.
    instrumentor.instrument(engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True)


def flush() -> None:
    if _provider is not None:
        _provider.force_flush()
