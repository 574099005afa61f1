"""Open Inference Protocol (KServe v2) servicer on the same port, engine, limits, auth and metrics.

Spec: https://kserve.github.io/website/docs/reference/oip/grpc-api (``inference.GRPCInferenceService``),
with Triton's ModelStreamInfer, ModelConfig and RepositoryIndex extensions
(proto/inference/grpc_service.proto). Triton clients (``tritonclient.grpc``) and KServe clients talk to
this server unchanged, and the same client code runs against Triton serving the exported repository.

How a client says what it sends (the datatype decides; the input name is always the model's own,
``input`` for image models):

- ``FP32`` (typed ``fp32_contents`` or raw bytes) or ``FP16`` (raw bytes only) ``[N, C, H, W]``: the
  ONNX model's own input, float in [-1, 1], H and W multiples of the model's pad multiple. The answer
  is the model's ``output`` ``[N, C', H*s, W*s]`` in the same datatype: exactly what Triton computes
  with the exported ``config.pbtxt``.
- ``UINT8`` ``[N, H, W, C]`` with C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA): pixels. The
  server applies the model's own processing (:mod:`translate.images`: channel conversion, [-1, 1],
  reflect padding, crop back, alpha re-attached) and answers ``output`` as ``UINT8`` ``[N, H*s, W*s, C']``:
  the same pixels the domain service's Translate returns for the same image.
- Generators: ``z`` ``FP32`` ``[N, nz]`` (+ ``label`` ``INT64`` ``[N]`` or ``[N, 1]`` for class-conditional
  models) -> ``output`` ``FP32`` ``[N, C, S, S]`` in [-1, 1].

Images larger than the AUTO tiling threshold are tiled on the server, as Translate does. Answers use
``raw_output_contents`` when the request used raw inputs (as Triton always does) and typed contents
when it used typed contents. Errors carry the domain service's status codes (serving.errors).

This module is the gRPC transport only: protobuf tensors <-> numpy, documents <-> messages, errors ->
status codes. The tensor checks and the inference are :meth:`serving.engine.InferenceEngine.infer_tensors`;
datatypes, metadata, configuration and the repository index are :mod:`serving.v2`, shared with
other transports of the protocol.

The stubs live in a private descriptor pool (scripts/gen_protos.py), so this service is not listed by
server reflection; clients use the published .proto (or tritonclient) instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc
from google.protobuf import json_format

from serving import v2
from serving.engine import Call, InferenceEngine
from serving.errors import InvalidRequestError, ShuttingDownError, status_for
from serving.gen import grpc_service_pb2 as pb
from serving.gen import grpc_service_pb2_grpc as pb_grpc
from serving.observe import RequestObserver
from serving.streams import IdleClock, StreamIdleError, requests_until_idle

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
# Probes stay open like grpc.health.v1 (Kubernetes and load balancers carry no token).
OPEN_METHODS = tuple(f"/{SERVICE_NAME}/{m}" for m in ("ServerLive", "ServerReady", "ModelReady"))

# Datatype -> its typed field of InferTensorContents (None: raw bytes only).
TYPED_FIELD = {"FP32": "fp32_contents", "FP16": None, "UINT8": "uint_contents", "INT64": "int64_contents",
               "INT32": "int_contents"}
CONTENT_FIELDS = ("bool_contents", "int_contents", "int64_contents", "uint_contents", "uint64_contents",
                  "fp32_contents", "fp64_contents", "bytes_contents")


def _read_tensor(t, raw: bytes | None):
    """One input tensor (raw bytes or typed contents) as a numpy array; every mismatch is INVALID_ARGUMENT."""
    name, dt = t.name, t.datatype
    _, shape = v2.tensor_spec(name, dt, t.shape)
    filled = [f for f in CONTENT_FIELDS if len(getattr(t.contents, f))]
    if raw is not None:
        if filled:
            raise InvalidRequestError(f"input {name!r} sets contents.{filled[0]} while the request uses "
                                      "raw_input_contents; use one or the other for all inputs")
        return v2.tensor_from_bytes(name, dt, shape, raw)
    field = TYPED_FIELD[dt]
    if field is None:
        raise InvalidRequestError(f"input {name!r}: {dt} has no typed contents field in the protocol; send it as "
                                  "raw bytes in raw_input_contents")
    if filled and filled != [field]:
        wrong = next(f for f in filled if f != field)
        raise InvalidRequestError(f"input {name!r} is declared {dt} but sets contents.{wrong}; {dt} values go in "
                                  f"contents.{field}")
    return v2.tensor_from_values(name, dt, shape, getattr(t.contents, field), where=f"contents.{field}")


class KServeServicer(pb_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService`` over an :class:`InferenceEngine`.

    Args:
        engine: the server's engine (repository, batcher, limits).
        is_serving: ``is_serving(service)`` -> the grpc.health.v1 status is SERVING (``""``: the server).
        observer: request ids, deadlines, status codes, metrics, the request log and the worker pool.
        idle_timeout: seconds a ModelStreamInfer stream may send nothing (None: forever).
        draining: set when the server drains; idle streams then end.

    Liveness and readiness answer on the event loop, never behind the worker pool, so a
    saturated pool cannot make a busy server look dead. Readiness is the server's overall health:
    one model that fails to load does not make it false (ModelReady tells per model).
    """

    def __init__(self, engine: InferenceEngine, is_serving: Callable[[str], bool], observer: RequestObserver,
                 idle_timeout: float | None = None, draining: asyncio.Event | None = None) -> None:
        self.engine = engine
        self.is_serving = is_serving
        self.observer = observer
        self.idle_timeout = idle_timeout
        self.draining = draining

    # -- health and metadata --
    async def ServerLive(self, request, context):  # noqa: N802 - gRPC method name
        """Live while the process answers at all."""
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):  # noqa: N802
        """Ready while the overall health is SERVING (false from the start of a drain)."""
        return pb.ServerReadyResponse(ready=self.is_serving(""))

    async def ModelReady(self, request, context):  # noqa: N802
        """Ready when the model serves (and ``version``, if given, is the served one); unknown -> false."""
        return pb.ModelReadyResponse(ready=v2.model_ready(self.engine.repository, self.is_serving, request.name,
                                                          request.version))

    async def ServerMetadata(self, request, context):  # noqa: N802
        """Server name, version and the protocol extensions implemented in full."""
        return await self.observer.unary("ServerMetadata", context, lambda scope: json_format.ParseDict(
            v2.server_metadata(), pb.ServerMetadataResponse()), blocking=False)

    async def ModelMetadata(self, request, context):  # noqa: N802
        """Served version, platform and the ONNX graph's tensors (-1 = any size)."""

        def body(scope):
            scope.model = request.name
            with self.engine.repository.lease(request.name, v2.parse_version(request.version)) as mv:
                return json_format.ParseDict(v2.model_metadata(mv), pb.ModelMetadataResponse())

        return await self.observer.unary("ModelMetadata", context, body, blocking=False)

    async def ModelConfig(self, request, context):  # noqa: N802
        """Triton's model configuration, as the exported config.pbtxt states it, plus the ONNX metadata."""

        def body(scope):
            scope.model = request.name
            with self.engine.repository.lease(request.name, v2.parse_version(request.version)) as mv:
                cfg = v2.model_config(mv, max_batch_size=self.engine.max_batch_for(mv),
                                      queue_delay_us=self.engine.queue_delay_us)
                return pb.ModelConfigResponse(config=json_format.ParseDict(cfg, pb.ModelConfig()))

        return await self.observer.unary("ModelConfig", context, body, blocking=False)

    async def RepositoryIndex(self, request, context):  # noqa: N802
        """Every model with its served version, state and (when not ready) the reason."""
        return await self.observer.unary("RepositoryIndex", context, lambda scope: json_format.ParseDict(
            {"models": v2.repository_index(self.engine.repository, request.ready)}, pb.RepositoryIndexResponse()),
            blocking=False)

    # -- inference --
    async def ModelInfer(self, request, context):  # noqa: N802
        """One inference request (see the module docstring for the tensor conventions)."""

        def body(scope):
            scope.model = request.model_name
            scope.fields["bytes_in"] = sum(map(len, request.raw_input_contents))
            return self._infer(request, scope.call)

        return await self.observer.unary("ModelInfer", context, body)

    async def ModelStreamInfer(self, request_iterator, context):  # noqa: N802
        """Triton's streaming extension: requests are answered in order; a failed one carries error_message."""
        start = time.monotonic()
        scope = await self.observer.begin("ModelStreamInfer", context)
        items = errors = 0
        code, message = grpc.StatusCode.OK, ""
        clock = IdleClock(self.idle_timeout)
        try:
            async for req in requests_until_idle(request_iterator, clock, self.draining):
                scope.model = scope.model or req.model_name
                items += 1
                clock.pending = 1
                try:
                    resp = pb.ModelStreamInferResponse(
                        infer_response=await self.observer.run_blocking(self._infer, req, scope.call))
                except Exception as exc:  # one bad request must not end the stream
                    errors += 1
                    _, text = status_for(exc)
                    resp = pb.ModelStreamInferResponse(error_message=text, infer_response=pb.ModelInferResponse(
                        model_name=req.model_name, model_version=req.model_version, id=req.id))
                clock.pending = 0
                clock.touch()
                yield resp
        except (StreamIdleError, ShuttingDownError) as exc:
            code, message = exc.code, str(exc)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:  # the client went away mid-stream
            code = grpc.StatusCode.CANCELLED
        finally:
            scope.fields.update(items=items, item_errors=errors)
            self.observer.finish(scope, grpc.StatusCode.CANCELLED if context.cancelled() else code, start, message)
        if message:
            await context.abort(code, message)

    def _infer(self, req, call: Call):
        """ModelInferRequest -> engine.infer_tensors -> ModelInferResponse."""
        raw = list(req.raw_input_contents)
        if raw and len(raw) != len(req.inputs):
            raise InvalidRequestError(f"raw_input_contents has {len(raw)} entries for {len(req.inputs)} inputs; "
                                      "send exactly one per input, in the order of `inputs`")
        version = v2.parse_version(req.model_version)
        inputs = v2.named_tensors((t.name, _read_tensor(t, raw[i] if raw else None)) for i, t in enumerate(req.inputs))
        wanted = v2.requested_outputs((o.name, o.parameters) for o in req.outputs)
        result = self.engine.infer_tensors(req.model_name, version, inputs, call, outputs=wanted)
        resp = pb.ModelInferResponse(model_name=result.model, model_version=str(result.version), id=req.id)
        for name, arr in result.outputs.items():
            dt = v2.datatype_of(arr.dtype)
            out = resp.outputs.add(name=name, datatype=dt, shape=list(arr.shape))
            if raw or TYPED_FIELD[dt] is None:
                resp.raw_output_contents.append(v2.tensor_bytes(arr))
            else:
                getattr(out.contents, TYPED_FIELD[dt]).extend(arr.ravel().tolist())
        return resp
