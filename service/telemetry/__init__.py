"""What operators see of the service: log context and JSON logs (``context``, ``logs``), Prometheus metrics
(``metrics``) and OpenTelemetry traces (``tracing``). Imports nothing of the service but its settings, so every
layer may use it."""
