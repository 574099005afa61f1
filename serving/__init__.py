"""The gRPC (and HTTP) inference server on ONNX Runtime: servicer, model repository, batcher, auth, metrics, client.

Modules, from the wire inwards:

- ``server``     builds everything on ``grpc.aio``; ``add_service`` plugs in more protocols, ``add_listener`` more ports
- ``tls``        TLS files loaded and matched at start-up (which file is wrong, and why)
- ``auth``       bearer-token interceptor (health and reflection stay open)
- ``streams``    open streams bounded per server and per client; idle streams closed
- ``servicer``   translate.v1 adapter: protobuf <-> engine calls
- ``wire``       translate.v1 enums (image formats, tiling modes, model states) <-> names
- ``kserve``     Open Inference Protocol (KServe v2, ``inference.GRPCInferenceService``) adapter, same port
- ``v2``         the Open Inference Protocol without a transport: datatypes, tensors, metadata, config
- ``http``       HTTP on the same engine (``--http-port``): KServe v2 REST, image endpoints, /healthz
- ``health_port`` plaintext gRPC health + HTTP /healthz on one port (``--health-port``)
- ``observe``    per-RPC request id, deadline/cancel (``Call``), status mapping, metrics, JSON log line
- ``engine``     the one core: named tensors with every check (``infer_tensors``), images on top
- ``batcher``    dynamic batching, bounded queues, deadlines, cancellation, compute pool
- ``repository`` MODELS/<name>/<version>/model.onnx, warm-up, hot reload
- ``errors``     server-side error types and their gRPC status codes
- ``metrics``    Prometheus instruments
- ``client``     typed Python client with retries and domain errors
- ``remote``     ``translate run/generate --server``: the library's processors over the client (entry points)
- ``cli``        ``translate serve`` (an entry point of ``translate.commands``)
- ``gen``        generated stubs (``python scripts/gen_protos.py``)
"""
