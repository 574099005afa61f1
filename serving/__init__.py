"""The gRPC inference server on ONNX Runtime: servicer, model repository, batcher, auth, metrics, client.

Modules, from the wire inwards:

- ``server``     builds everything, ``InferenceServer.add_service`` plugs in more protocols
- ``auth``       bearer-token interceptor (health and reflection stay open)
- ``servicer``   translate.v1 adapter: protobuf <-> engine calls
- ``kserve``     Open Inference Protocol (KServe v2, ``inference.GRPCInferenceService``) on the same port
- ``observe``    per-RPC request id, deadline/cancel (``Call``), status mapping, metrics, JSON log line
- ``engine``     transport-independent core: images via ``translate.images``, tensors via ``infer``
- ``batcher``    dynamic batching, bounded queues, deadlines, cancellation, compute pool
- ``repository`` MODELS/<name>/<version>/model.onnx, warm-up, hot reload
- ``errors``     server-side error types and their gRPC status codes
- ``metrics``    Prometheus instruments
- ``client``     typed Python client with retries and domain errors
- ``remote``     ``translate run/generate --server``: the library's processors over the client (entry points)
- ``cli``        ``translate serve`` (an entry point of ``translate.commands``)
- ``gen``        generated stubs (``python scripts/gen_protos.py``)
"""
