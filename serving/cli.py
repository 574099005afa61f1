"""``translate serve``: serve a model repository over gRPC (see serving/server.py).

Only argparse at import time (translate/cli.py builds every subcommand's parser); grpc, ONNX
Runtime and the server load inside :func:`main`.
"""

from __future__ import annotations

import argparse

HELP = "serve a model repository over gRPC (and HTTP with --http-port)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``translate serve``; defaults are safe (loopback only, every limit on)."""
    p.add_argument("--models", required=True, help="model repository: MODELS/<name>/<version>/model.onnx")
    p.add_argument("--allow-empty", action="store_true",
                   help="start even if the repository holds no model yet (hot reload picks them up later); "
                        "without it an empty or wrongly laid out folder is an error")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=50051, help="gRPC port (default 50051; 0 picks a free one)")
    p.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus /metrics on this port")
    p.add_argument("--http-port", type=int, default=None,
                   help="also serve HTTP on this port (0 picks a free one): KServe v2 REST under /v2, image "
                        "endpoints /v1/models/NAME:translate and :generate, /healthz; same TLS, tokens and limits")
    p.add_argument("--health-port", type=int, default=None,
                   help="plaintext gRPC health (grpc.health.v1) and HTTP /healthz on this port, for probes "
                        "while the main port runs TLS")
    p.add_argument("--tls-cert", help="PEM certificate chain of the server (enables TLS)")
    p.add_argument("--tls-key", help="PEM private key of the server")
    p.add_argument("--tls-client-ca", help="PEM CA bundle: require client certificates signed by it (mutual TLS)")
    p.add_argument("--auth-tokens", help="file with one bearer token per line; inference then needs one")
    p.add_argument("--max-batch", type=int, default=8, help="most images per ONNX Runtime call (default 8)")
    p.add_argument("--batch-timeout-ms", type=float, default=2.0,
                   help="how long a request waits for others to batch with (default 2)")
    p.add_argument("--max-queue", type=int, default=64,
                   help="requests waiting per model before RESOURCE_EXHAUSTED (default 64)")
    p.add_argument("--max-image-pixels", type=int, default=4096 * 4096,
                   help="largest decoded image, width*height (default 16777216)")
    p.add_argument("--tile-above-pixels", type=int, default=2048 * 2048,
                   help="pixel budget of one piece: images above it are tiled, and no whole image or tile over it "
                        "runs, whatever tiling the client asks (default 4194304)")
    p.add_argument("--tile-size", type=int, default=512,
                   help="side of the server's tiles in input pixels (default 512)")
    p.add_argument("--max-batch-pixels", type=int, default=2048 * 2048,
                   help="most input pixels of one ONNX Runtime call, whatever the image count (default 4194304)")
    p.add_argument("--max-streams", type=int, default=1000,
                   help="open streams (TranslateStream, ModelStreamInfer, health Watch) on the server (default 1000)")
    p.add_argument("--max-streams-per-client", type=int, default=100,
                   help="open streams of one client: its bearer token, or its address without tokens (default 100)")
    p.add_argument("--stream-idle-timeout", type=float, default=300.0,
                   help="close a stream that sent nothing for this many seconds with nothing in flight "
                        "(default 300; 0 = never)")
    p.add_argument("--max-message-mb", type=int, default=64, help="gRPC message size limit both ways (default 64)")
    from translate.threads import THREADS_HELP, parse_threads

    p.add_argument("--threads", "--intra-op-threads", dest="intra_op_threads", type=parse_threads, metavar="N|auto",
                   help=f"ONNX Runtime {THREADS_HELP} (auto, the default: every usable core, shared by the "
                        "--compute-workers); --intra-op-threads is the same option")
    from translate.precision import AUTO, BACKENDS, PRECISIONS

    p.add_argument("--backend", choices=(AUTO, *BACKENDS), default=AUTO,
                   help="runtime of every model: auto (default) measures each model's variants that passed their "
                        "fidelity gate at export and takes the fastest, else onnxruntime; openvino needs the extra")
    p.add_argument("--precision", choices=(AUTO, *PRECISIONS), default=AUTO,
                   help="precision of every model (a model without that variant is UNAVAILABLE, with the reason)")
    p.add_argument("--compute-workers", type=int, default=1,
                   help="concurrent ONNX Runtime calls (default 1: on a CPU one call already uses every core)")
    p.add_argument("--reload", choices=("poll", "off"), default="poll",
                   help="pick up new model versions by polling the repository (default poll)")
    p.add_argument("--reload-interval", type=float, default=2.0, help="seconds between repository scans")
    p.add_argument("--grace", type=float, default=30.0, help="seconds in-flight calls get on SIGTERM (default 30)")
    p.add_argument("--drain-delay", type=float, default=1.0,
                   help="on SIGTERM, seconds health reports NOT_SERVING before new calls are refused (default 1)")


def main(args: argparse.Namespace) -> int:
    """Start the server, print the bound address, serve until SIGTERM/SIGINT, drain, exit 0."""
    import json
    import logging
    import signal
    import sys

    from serving.server import InferenceServer, ServerConfig

    # The per-request log lines are JSON objects, one per line, without the usual prefix.
    req_log = logging.getLogger("serving.requests")
    if not req_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        req_log.addHandler(handler)
        req_log.propagate = False
        req_log.setLevel(logging.INFO)

    config = ServerConfig(
        models=args.models, host=args.host, port=args.port, metrics_port=args.metrics_port, http_port=args.http_port,
        health_port=args.health_port, tls_cert=args.tls_cert,
        tls_key=args.tls_key, tls_client_ca=args.tls_client_ca, auth_tokens=args.auth_tokens,
        max_batch=args.max_batch, batch_timeout_ms=args.batch_timeout_ms, max_queue=args.max_queue,
        max_image_pixels=args.max_image_pixels, max_message_mb=args.max_message_mb,
        intra_op_threads=_threads(args), reload=args.reload, reload_interval=args.reload_interval,
        backend=args.backend, precision=args.precision,
        compute_workers=args.compute_workers, grace=args.grace,
        drain_delay=args.drain_delay, tile_above_pixels=args.tile_above_pixels, tile_size=args.tile_size,
        max_batch_pixels=args.max_batch_pixels, max_streams=args.max_streams,
        max_streams_per_client=args.max_streams_per_client, stream_idle_timeout=args.stream_idle_timeout,
        allow_empty=args.allow_empty)
    server = InferenceServer(config)
    port = server.start()

    stop_requested = []

    def on_signal(signum, _frame):
        stop_requested.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ready = {"event": "serving", "address": f"{args.host}:{port}", "port": port, "tls": bool(args.tls_cert),
             "auth": bool(args.auth_tokens), "metrics_port": server.metrics_port, "http_port": server.http_port,
             "health_port": server.health_port,
             "models": [r.name for r in server.repository.records()]}
    ready.update({f"{name}_port": p for name, p in server.listener_ports.items()})  # other listeners added later
    print(json.dumps(ready), flush=True)
    # The main thread only waits: signal handlers run here, the draining happens here too.
    while not stop_requested:
        server.wait(0.2)
    server.drain()
    return 0


def _threads(args: argparse.Namespace) -> int:
    """``--threads`` as a number, logged (auto: the usable cores shared by the compute workers)."""
    from translate.threads import inference_threads

    return inference_threads(args.intra_op_threads, processes=max(1, args.compute_workers)).threads
