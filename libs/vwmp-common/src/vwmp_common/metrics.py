"""Prometheus metrics shared by the services (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_LATENCY = Histogram(
    "vwmp_rpc_latency_seconds", "Latency of gRPC calls served", ["service", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
RUNS = Counter("vwmp_runs_total", "Runs that reached a state", ["state"])
STEPS = Counter("vwmp_steps_total", "Step attempts that reached a state", ["state"])
STEP_DURATION = Histogram(
    "vwmp_step_duration_seconds", "Duration of step attempts", ["uses"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600),
)
DISPATCH_QUEUE = Gauge("vwmp_dispatch_queue_depth", "Steps ready but waiting for a free slot")
ACTIVE_RUNS = Gauge("vwmp_active_runs", "Runs this engine is executing")


def serve_metrics(port: int) -> None:
    """Expose /metrics on `port` (0 disables it)."""
    if port:
        start_http_server(port, addr="127.0.0.1")
