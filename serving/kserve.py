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

The stubs live in a private descriptor pool (scripts/gen_protos.py), so this service is not listed by
server reflection; clients use the published .proto (or tritonclient) instead.
"""

from __future__ import annotations

import math
import time

import grpc
import numpy as np
from grpc_health.v1 import health_pb2

from serving.engine import Call
from serving.errors import InvalidRequestError, ResultTooLargeError, status_for
from serving.gen import grpc_service_pb2 as pb
from serving.gen import grpc_service_pb2_grpc as pb_grpc
from serving.repository import READY, ModelVersion
from translate import __version__, images

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
# Probes stay open like grpc.health.v1 (Kubernetes and load balancers carry no token).
OPEN_METHODS = tuple(f"/{SERVICE_NAME}/{m}" for m in ("ServerLive", "ServerReady", "ModelReady"))
PLATFORM = "onnxruntime_onnx"

# Wire datatype -> numpy dtype (little-endian on the wire) and its typed contents field (None: raw only).
DTYPES = {"FP32": np.dtype("<f4"), "FP16": np.dtype("<f2"), "UINT8": np.dtype("u1"), "INT64": np.dtype("<i8"),
          "INT32": np.dtype("<i4")}
TYPED_FIELD = {"FP32": "fp32_contents", "FP16": None, "UINT8": "uint_contents", "INT64": "int64_contents",
               "INT32": "int_contents"}
CONTENT_FIELDS = ("bool_contents", "int_contents", "int64_contents", "uint_contents", "uint64_contents",
                  "fp32_contents", "fp64_contents", "bytes_contents")
NUMPY_TO_V2 = {"float32": "FP32", "float16": "FP16", "float64": "FP64", "uint8": "UINT8", "int8": "INT8",
               "int32": "INT32", "int64": "INT64", "bool": "BOOL"}
V2_TO_CONFIG = {"FP32": pb.TYPE_FP32, "FP16": pb.TYPE_FP16, "FP64": pb.TYPE_FP64, "UINT8": pb.TYPE_UINT8,
                "INT8": pb.TYPE_INT8, "INT32": pb.TYPE_INT32, "INT64": pb.TYPE_INT64, "BOOL": pb.TYPE_BOOL}
IMAGE_HINT = ("send FP32 (or FP16 raw) [N, C, H, W] in [-1, 1] as the ONNX model takes it, or UINT8 pixels "
              "[N, H, W, C] (C 1-4) and let the server pre/post-process")


class _NoContext:
    """Stands in for a ServicerContext when asking the health servicer for a status."""

    def set_code(self, code) -> None:  # noqa: D102 - grpc API
        pass


def _version(text: str) -> int:
    """``""`` -> 0 (the served version), ``"3"`` -> 3; anything else is INVALID_ARGUMENT."""
    if not text:
        return 0
    if not text.isdigit():
        raise InvalidRequestError(f"model_version must be a version number such as '1', or empty for the served "
                                  f"version (got {text!r})")
    return int(text)


def _read_tensor(t, raw: bytes | None) -> np.ndarray:
    """One input tensor as a numpy array of its shape; every size/type mismatch is INVALID_ARGUMENT."""
    name, dt, shape = t.name, t.datatype, [int(d) for d in t.shape]
    if dt not in DTYPES:
        raise InvalidRequestError(f"input {name!r}: datatype {dt!r} is not accepted here (accepted: "
                                  f"{', '.join(DTYPES)})")
    if not shape or any(d < 0 for d in shape):
        raise InvalidRequestError(f"input {name!r}: shape {shape} must list one non-negative size per dimension")
    count = math.prod(shape)
    dtype = DTYPES[dt]
    filled = [f for f in CONTENT_FIELDS if len(getattr(t.contents, f))]
    if raw is not None:
        if filled:
            raise InvalidRequestError(f"input {name!r} sets contents.{filled[0]} while the request uses "
                                      "raw_input_contents; use one or the other for all inputs")
        if len(raw) != count * dtype.itemsize:
            raise InvalidRequestError(f"input {name!r}: shape {shape} of {dt} needs {count * dtype.itemsize} bytes "
                                      f"({count} x {dtype.itemsize}), but its raw_input_contents holds {len(raw)}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    field = TYPED_FIELD[dt]
    if field is None:
        raise InvalidRequestError(f"input {name!r}: {dt} has no typed contents field in the protocol; send it as "
                                  "raw bytes in raw_input_contents")
    if filled and filled != [field]:
        wrong = next(f for f in filled if f != field)
        raise InvalidRequestError(f"input {name!r} is declared {dt} but sets contents.{wrong}; {dt} values go in "
                                  f"contents.{field}")
    values = getattr(t.contents, field)
    if len(values) != count:
        raise InvalidRequestError(f"input {name!r}: shape {shape} holds {count} elements, but contents.{field} has "
                                  f"{len(values)}")
    if dt == "UINT8":  # uint_contents carries uint32 values
        wide = np.asarray(values, np.uint32)
        if wide.size and wide.max() > 255:
            raise InvalidRequestError(f"input {name!r}: UINT8 values must lie in 0..255 (got {int(wide.max())})")
        return wide.astype(np.uint8).reshape(shape)
    return np.asarray(values, dtype=dtype.newbyteorder("=")).reshape(shape)


class KServeServicer(pb_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService`` over the server's :class:`serving.engine.InferenceEngine`."""

    def __init__(self, server) -> None:
        self.server = server  # serving.server.InferenceServer: engine, observer, health, config
        self.engine = server.engine
        self.repository = server.engine.repository
        self.observer = server.observer

    # -- health and metadata --
    def _health(self, service: str) -> bool:
        res = self.server.health.Check(health_pb2.HealthCheckRequest(service=service), _NoContext())
        return res.status == health_pb2.HealthCheckResponse.SERVING

    def ServerLive(self, request, context):  # noqa: N802 - gRPC method name
        """Live while the process answers at all."""
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):  # noqa: N802
        """Ready while the overall health is SERVING (false from the start of a drain)."""
        return pb.ServerReadyResponse(ready=self._health(""))

    def ModelReady(self, request, context):  # noqa: N802
        """Ready when the model serves (and ``version``, if given, is the served one); unknown -> false."""
        ready = False
        if self.repository.has_model(request.name) and self._health(request.name):
            cur = self.repository.record(request.name).current
            ready = cur is not None and (not request.version or request.version == str(cur.version))
        return pb.ModelReadyResponse(ready=ready)

    def ServerMetadata(self, request, context):  # noqa: N802
        """Server name, version and the protocol extensions implemented in full."""
        return self.observer.unary("ServerMetadata", context, lambda scope: pb.ServerMetadataResponse(
            name="translate", version=__version__, extensions=["model_configuration"]))

    def ModelMetadata(self, request, context):  # noqa: N802
        """Served version, platform and the ONNX graph's tensors (-1 = any size)."""

        def body(scope):
            scope.model = request.name
            with self.repository.lease(request.name, _version(request.version)) as mv:
                def meta(t):
                    return pb.ModelMetadataResponse.TensorMetadata(
                        name=t.name, datatype=NUMPY_TO_V2.get(t.dtype, t.dtype.upper()), shape=t.shape)

                return pb.ModelMetadataResponse(name=mv.name, versions=[str(mv.version)], platform=PLATFORM,
                                                inputs=[meta(t) for t in mv.inputs],
                                                outputs=[meta(t) for t in mv.outputs])

        return self.observer.unary("ModelMetadata", context, body)

    def ModelConfig(self, request, context):  # noqa: N802
        """Triton's model configuration, as the exported config.pbtxt states it, plus the ONNX metadata."""

        def body(scope):
            scope.model = request.name
            with self.repository.lease(request.name, _version(request.version)) as mv:
                return pb.ModelConfigResponse(config=self._config(mv))

        return self.observer.unary("ModelConfig", context, body)

    def _config(self, mv: ModelVersion):
        static_batch = bool(mv.inputs and mv.inputs[0].shape and mv.inputs[0].shape[0] > 0)
        max_batch = 0 if static_batch else self.engine.max_batch_for(mv)
        cfg = pb.ModelConfig(name=mv.name, platform=PLATFORM, backend="onnxruntime", max_batch_size=max_batch)
        for specs, add in ((mv.inputs, cfg.input.add), (mv.outputs, cfg.output.add)):
            for t in specs:
                dims = list(t.shape) if static_batch else list(t.shape[1:])
                tensor = add(name=t.name, data_type=V2_TO_CONFIG.get(NUMPY_TO_V2.get(t.dtype, ""), pb.TYPE_INVALID))
                if not dims:  # per-item scalar (the class label [N]): Triton dims [1] reshaped to []
                    dims = [1]
                    tensor.reshape.SetInParent()
                tensor.dims.extend(dims)
        cfg.dynamic_batching.max_queue_delay_microseconds = int(self.server.config.batch_timeout_ms * 1000)
        for key, value in mv.metadata.items():
            cfg.parameters[key].string_value = value
        if mv.info.task != "generate":
            cfg.parameters["translate.uint8_pixels"].string_value = (
                f"also accepted on input {mv.inputs[0].name!r}: UINT8 [N, H, W, C] pixels, answered as UINT8 "
                "[N, H*scale, W*scale, C'] after the model's own pre/post-processing")
        return cfg

    def RepositoryIndex(self, request, context):  # noqa: N802
        """Every model with its served version, state and (when not ready) the reason."""

        def body(scope):
            models = []
            for rec in self.repository.records():
                if request.ready and rec.state != READY:
                    continue
                cur = rec.current
                models.append(pb.RepositoryIndexResponse.ModelIndex(
                    name=rec.name, version=str(cur.version) if cur else "", state=rec.state, reason=rec.error))
            return pb.RepositoryIndexResponse(models=models)

        return self.observer.unary("RepositoryIndex", context, body)

    # -- inference --
    def ModelInfer(self, request, context):  # noqa: N802
        """One inference request (see the module docstring for the tensor conventions)."""

        def body(scope):
            scope.model = request.model_name
            scope.fields["bytes_in"] = sum(map(len, request.raw_input_contents))
            return self._infer(request, scope.call)

        return self.observer.unary("ModelInfer", context, body)

    def ModelStreamInfer(self, request_iterator, context):  # noqa: N802
        """Triton's streaming extension: requests are answered in order; a failed one carries error_message."""
        start = time.monotonic()
        scope = self.observer.begin("ModelStreamInfer", context)
        items = errors = 0
        code = grpc.StatusCode.OK
        try:
            for req in request_iterator:
                scope.model = scope.model or req.model_name
                items += 1
                try:
                    yield pb.ModelStreamInferResponse(infer_response=self._infer(req, scope.call))
                except Exception as exc:  # one bad request must not end the stream
                    errors += 1
                    _, message = status_for(exc)
                    yield pb.ModelStreamInferResponse(error_message=message, infer_response=pb.ModelInferResponse(
                        model_name=req.model_name, model_version=req.model_version, id=req.id))
        except Exception:  # the client went away mid-stream
            code = grpc.StatusCode.CANCELLED
        finally:
            scope.fields.update(items=items, item_errors=errors)
            self.observer.finish(scope, code if context.is_active() else grpc.StatusCode.CANCELLED, start, context)

    def _infer(self, req, call: Call):
        raw = list(req.raw_input_contents)
        if raw and len(raw) != len(req.inputs):
            raise InvalidRequestError(f"raw_input_contents has {len(raw)} entries for {len(req.inputs)} inputs; "
                                      "send exactly one per input, in the order of `inputs`")
        with self.repository.lease(req.model_name, _version(req.model_version)) as mv:
            expected = [t.name for t in mv.inputs]
            tensors: dict[str, tuple[np.ndarray, str]] = {}
            for i, t in enumerate(req.inputs):
                if t.name not in expected:
                    raise InvalidRequestError(f"model {mv.name!r} has no input {t.name!r}; its inputs are {expected}")
                if t.name in tensors:
                    raise InvalidRequestError(f"input {t.name!r} appears twice in the request")
                tensors[t.name] = (_read_tensor(t, raw[i] if raw else None), t.datatype)
            known = [t.name for t in mv.outputs] or ["output"]
            wanted = [o.name for o in req.outputs]
            for o in req.outputs:  # checked before any compute is spent
                if o.name not in known:
                    raise InvalidRequestError(f"model {mv.name!r} has no output {o.name!r}; its outputs are {known}")
                if "classification" in o.parameters:
                    raise InvalidRequestError("classification outputs are not supported by image models")
            outputs = self._generate(mv, tensors, call) if mv.info.task == "generate" else \
                self._translate(mv, tensors, call)
            resp = pb.ModelInferResponse(model_name=mv.name, model_version=str(mv.version), id=req.id)
            for name, dt, arr in outputs:
                if wanted and name not in wanted:
                    continue
                out = resp.outputs.add(name=name, datatype=dt, shape=list(arr.shape))
                if raw or TYPED_FIELD[dt] is None:
                    resp.raw_output_contents.append(np.ascontiguousarray(arr, dtype=DTYPES[dt]).tobytes())
                else:
                    getattr(out.contents, TYPED_FIELD[dt]).extend(arr.ravel().tolist())
            return resp

    def _check_batch(self, n: int, what: str) -> None:
        limit = self.engine.limits.max_generate_count
        if not 1 <= n <= limit:
            raise InvalidRequestError(f"{what} carries {n} samples; one request takes 1 to {limit} (split larger "
                                      "batches; the server batches concurrent requests itself)")

    def _check_result(self, nbytes: int, what: str) -> None:
        """Refuse before compute when the answer could not be sent (the domain service's limit and wording)."""
        limit = self.engine.limits.max_message_bytes - 4096  # room for the rest of the response message
        if nbytes > limit:
            raise ResultTooLargeError(f"the {what} would be {nbytes / 2**20:.1f} MB, over the "
                                      f"{self.engine.limits.max_message_bytes / 2**20:.0f} MB message limit; send "
                                      "fewer or smaller images, or raise --max-message-mb")

    def _check_pixels(self, h: int, w: int) -> None:
        limit = self.engine.limits.max_image_pixels
        if h * w > limit:
            raise InvalidRequestError(f"the image is {w}x{h} = {h * w:,} pixels, over the limit of {limit:,} pixels "
                                      "(--max-image-pixels); send a smaller image")

    def _run_images(self, mv: ModelVersion, x: np.ndarray, tiled: bool, call: Call) -> np.ndarray:
        """[N, C, Hp, Wp] float32 -> model output: whole (in batcher-sized chunks) or tiled per image."""
        lim, step = self.engine.limits, self.engine.max_batch_for(mv)

        def run(t):
            return self.engine.infer(mv, (t,), call)

        if tiled:
            return np.concatenate([images.run_tiled(run, x[i:i + 1], tile=lim.tile_size, overlap=lim.tile_overlap,
                                                    scale=mv.info.scale, multiple=mv.info.pad_multiple,
                                                    batch_size=step) for i in range(x.shape[0])])
        return np.concatenate([run(x[i:i + step]) for i in range(0, x.shape[0], step)])

    def _translate(self, mv: ModelVersion, tensors, call: Call) -> list[tuple[str, str, np.ndarray]]:
        info, name = mv.info, mv.inputs[0].name
        if name not in tensors:
            raise InvalidRequestError(f"model {mv.name!r} needs input {name!r}: {IMAGE_HINT}")
        arr, dt = tensors[name]
        out_name = mv.outputs[0].name if mv.outputs else "output"
        if arr.ndim != 4:
            raise InvalidRequestError(f"input {name!r} has shape {list(arr.shape)}; {IMAGE_HINT}")
        self._check_batch(arr.shape[0], f"input {name!r}")
        s = info.scale
        if dt == "UINT8":
            n, h, w, c = arr.shape
            if c not in (1, 2, 3, 4):
                raise InvalidRequestError(f"UINT8 input {name!r} is read as pixels [N, H, W, C] with C = 1 (grey), 2 "
                                          f"(grey+alpha), 3 (RGB) or 4 (RGBA); got C = {c} in shape {list(arr.shape)}")
            self._check_pixels(h, w)
            c_out = info.out_channels + (c in (2, 4))
            self._check_result(n * h * s * w * s * c_out, f"UINT8 result [{n}, {h * s}, {w * s}, {c_out}]")
            color = 1 if c <= 2 else 3
            prepared = [images.prepare(images.Image(pixels=np.ascontiguousarray(p[..., :color]),
                                                    alpha=np.ascontiguousarray(p[..., color]) if c in (2, 4) else None),
                                       info) for p in arr]
            x = np.concatenate([p.array for p in prepared])  # [N, C_model, Hp, Wp]
            y = self._run_images(mv, x, h * w > self.engine.limits.tile_above_pixels, call)
            done = [images.finish(y[i:i + 1], p, info) for i, p in enumerate(prepared)]
            pixels = np.stack([d.pixels if d.alpha is None else np.concatenate([d.pixels, d.alpha[..., None]], axis=2)
                               for d in done])  # [N, H*s, W*s, C']
            return [(out_name, "UINT8", pixels)]
        if dt not in ("FP32", "FP16"):
            raise InvalidRequestError(f"input {name!r} is {dt}; {IMAGE_HINT}")
        n, c, h, w = arr.shape
        if c != info.in_channels:
            raise InvalidRequestError(f"input {name!r} has {c} channels in shape {list(arr.shape)} [N, C, H, W]; "
                                      f"model {mv.name!r} takes {info.in_channels} (or send UINT8 pixels [N, H, W, C])")
        m = info.pad_multiple
        if h < 1 or w < 1 or h % m or w % m:
            raise InvalidRequestError(f"input {name!r} is {h}x{w}; model {mv.name!r} needs height and width that are "
                                      f"positive multiples of {m} (pad the tensor, or send UINT8 pixels and the "
                                      "server pads and crops)")
        self._check_pixels(h, w)
        self._check_result(n * info.out_channels * h * s * w * s * DTYPES[dt].itemsize,
                           f"{dt} result [{n}, {info.out_channels}, {h * s}, {w * s}]")
        x = np.array(arr, dtype=np.float32)  # a writable copy (the raw buffer is read-only)
        if not np.all(np.isfinite(x)):
            raise InvalidRequestError(f"input {name!r} contains NaN or infinity")
        y = self._run_images(mv, x, h * w > self.engine.limits.tile_above_pixels, call)
        return [(out_name, dt, y.astype(DTYPES[dt]))]

    def _generate(self, mv: ModelVersion, tensors, call: Call) -> list[tuple[str, str, np.ndarray]]:
        info = mv.info
        if "z" not in tensors:
            raise InvalidRequestError(f"model {mv.name!r} is a generator: send input 'z' FP32 [N, {info.latent_size}]"
                                      + (" and 'label' INT64 [N]" if info.num_classes else ""))
        z, dt = tensors["z"]
        if dt not in ("FP32", "FP16"):
            raise InvalidRequestError(f"input 'z' is {dt}; send FP32 (or FP16 raw) [N, {info.latent_size}]")
        if z.ndim != 2 or z.shape[1] != info.latent_size:
            raise InvalidRequestError(f"input 'z' has shape {list(z.shape)}; model {mv.name!r} takes "
                                      f"[N, {info.latent_size}] (its latent_size)")
        n = z.shape[0]
        self._check_batch(n, "input 'z'")
        z = np.array(z, dtype=np.float32)
        if not np.all(np.isfinite(z)):
            raise InvalidRequestError("input 'z' contains NaN or infinity")
        inputs: tuple[np.ndarray, ...] = (z,)
        if info.num_classes > 0:
            if "label" not in tensors:
                raise InvalidRequestError(f"model {mv.name!r} is class-conditional: send input 'label' INT64 [N] "
                                          f"with classes 0..{info.num_classes - 1}")
            label, ldt = tensors["label"]
            if ldt not in ("INT64", "INT32") or label.shape not in ((n,), (n, 1)):
                raise InvalidRequestError(f"input 'label' is {ldt} {list(label.shape)}; send INT64 [{n}] (or [{n}, 1]),"
                                          " one class per latent")
            label = label.astype(np.int64).reshape(n)
            if label.min() < 0 or label.max() >= info.num_classes:
                raise InvalidRequestError(f"labels must lie in 0..{info.num_classes - 1} (got {label.min()}.."
                                          f"{label.max()})")
            inputs = (z, label)
        size = info.image_size or 0
        self._check_result(n * info.out_channels * size * size * DTYPES[dt].itemsize, f"{dt} result of {n} samples")
        step = self.engine.max_batch_for(mv)
        out = np.concatenate([self.engine.infer(mv, tuple(a[i:i + step] for a in inputs), call, key="generate")
                              for i in range(0, n, step)])  # [N, C, S, S]
        return [(mv.outputs[0].name if mv.outputs else "output", dt, out.astype(DTYPES[dt]))]


def register_kserve_service(grpc_server: grpc.Server, server) -> list[str]:
    """Add the KServe v2 servicer to ``grpc_server`` (for :meth:`InferenceServer.add_service`).

    Returns no names for server reflection: the stubs live in a private descriptor pool that the
    reflection service cannot see (see scripts/gen_protos.py).
    """
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(KServeServicer(server), grpc_server)
    return []
