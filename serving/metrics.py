"""Prometheus metrics of the server (https://prometheus.io/docs/practices/naming/).

Each server owns its own ``CollectorRegistry`` (tests run several servers in one process).
Images per second is ``rate(translate_images_total[1m])``: Prometheus derives rates from
counters, so the server exports the counter, not a home-made average.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


class ServerMetrics:
    """The instruments every servicer and the batcher report to."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("translate_requests", "RPCs by method, model and status code",
                                ["method", "model", "code"], registry=r)
        self.latency = Histogram("translate_request_latency_seconds", "RPC latency, end to end in the server",
                                 ["method", "model"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_wait = Histogram("translate_queue_wait_seconds", "time a request waited in the batch queue",
                                    ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("translate_batch_size", "samples per ONNX Runtime call", ["model"],
                                    buckets=BATCH_BUCKETS, registry=r)
        self.images = Counter("translate_images", "images (or tiles, or generated samples) computed", ["model"],
                              registry=r)
        self.expired = Counter("translate_expired", "requests dropped because their deadline passed in the queue",
                               ["model"], registry=r)
        self.queue_depth = Gauge("translate_queue_depth", "requests waiting in the batch queue", ["model"],
                                 registry=r)
        self.models_loaded = Gauge("translate_models_loaded", "models loaded and serving", registry=r)
        self.model_ready = Gauge("translate_model_ready", "1 if the model serves, 0 if loading or broken",
                                 ["model"], registry=r)
        self._http = None

    def serve_http(self, port: int, host: str = "127.0.0.1") -> int:
        """Expose /metrics over HTTP; returns the bound port (useful with port 0)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = server
        return int(server.server_port)

    def stop_http(self) -> None:
        """Close the metrics HTTP server, if one runs."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of one sample (e.g. ``translate_images_total`` for a model); 0.0 if absent."""
        v = self.registry.get_sample_value(name, labels or {})
        return float(v) if v is not None else 0.0
