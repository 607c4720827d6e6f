import os as _os

# prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, service.telemetry.metrics) writes each metric to a
# file in that directory from the moment the metric is made, at import: the directory must exist before any
# module of the service is imported.
if _os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _os.makedirs(_os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
