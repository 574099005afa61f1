"""The ``translate.v1.TranslateService`` servicer: an adapter between protobuf messages and the engine.

Nothing here decodes an image, checks a request or runs a model; it converts wire types
(:mod:`serving.wire` for the enums), calls :class:`serving.engine.InferenceEngine`, and lets
:class:`serving.observe.RequestObserver` map the typed errors to status codes
(proto/translate/v1/translate.proto documents them).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np

from serving import wire
from serving.engine import Call, InferenceEngine
from serving.errors import InvalidRequestError, status_for
from serving.gen import translate_pb2 as pb
from serving.gen import translate_pb2_grpc as pb_grpc
from serving.observe import RequestObserver
from serving.repository import ModelRecord

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TranslateService"].full_name


class TranslateServicer(pb_grpc.TranslateServiceServicer):
    """Implements every RPC of translate.v1.TranslateService over an :class:`InferenceEngine`."""

    def __init__(self, engine: InferenceEngine, observer: RequestObserver, stream_window: int = 8) -> None:
        self.engine = engine
        self.observer = observer
        self.stream_window = stream_window  # stream items processed concurrently (so they can batch)

    # -- Translate --
    def _translate(self, req: pb.TranslateRequest, call: Call) -> pb.TranslateResponse:
        res = self.engine.translate_image(
            req.model, req.image, version=req.version, output_format=wire.format_name(req.output_format),
            quality=req.quality, tiling=wire.tiling_name(req.tiling.mode), tile_size=req.tiling.tile_size,
            overlap=req.tiling.overlap, call=call)
        return pb.TranslateResponse(id=req.id, image=res.image, format=wire.format_enum(res.format), width=res.width,
                                    height=res.height, model=res.model, version=res.version, tiled=res.tiled)

    def Translate(self, request, context):  # noqa: N802 - gRPC method name
        """One image in, one image out."""

        def body(scope):
            scope.model = request.model
            scope.fields["bytes_in"] = len(request.image)
            resp = self._translate(request, scope.call)
            scope.fields["bytes_out"] = len(resp.image)
            return resp

        return self.observer.unary("Translate", context, body)

    def TranslateStream(self, request_iterator, context):  # noqa: N802
        """Many images: items run concurrently (and batch), answers come back in request order."""
        start = time.monotonic()
        scope = self.observer.begin("TranslateStream", context)
        items = errors = 0
        pending: queue.Queue = queue.Queue(maxsize=self.stream_window)
        done = object()

        def one(req):
            try:
                return self._translate(req, scope.call)
            except Exception as exc:
                code, message = status_for(exc)
                return pb.TranslateResponse(id=req.id, model=req.model, error=pb.Error(code=code.value[0],
                                                                                       message=message))

        pool = ThreadPoolExecutor(self.stream_window, thread_name_prefix="stream")
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():  # never block forever once the response side has gone
                try:
                    pending.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def reader():
            try:
                for req in request_iterator:
                    if not scope.model:
                        scope.model = req.model
                    if stop.is_set() or not put(pool.submit(one, req)):
                        return
            except Exception as exc:  # the client went away or sent garbage
                put(exc)
            put(done)

        threading.Thread(target=reader, name="stream-reader", daemon=True).start()
        code = grpc.StatusCode.OK
        try:
            while True:
                item = pending.get()
                if item is done:
                    break
                if isinstance(item, Exception):
                    code = grpc.StatusCode.CANCELLED
                    break
                resp = item.result()
                items += 1
                errors += resp.HasField("error")
                yield resp
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            scope.fields.update(items=items, item_errors=errors)
            self.observer.finish(scope, code if context.is_active() else grpc.StatusCode.CANCELLED, start, context)

    # -- Generate --
    def Generate(self, request, context):  # noqa: N802
        """Sample images from seeds, a seed range or explicit latents."""

        def body(scope):
            scope.model = request.model
            seeds = latents = None
            source = request.WhichOneof("source")
            if source == "seeds":
                seeds = list(request.seeds.seeds)
            elif source == "range":
                seeds = [request.range.first_seed + i for i in range(request.range.count)]
            elif source == "latents":
                rows = [list(v.values) for v in request.latents.latents]
                if len({len(r) for r in rows}) > 1:
                    raise InvalidRequestError("all latents must have the same length")
                latents = np.asarray(rows, np.float32).reshape(len(rows), len(rows[0]) if rows else 0)
            else:
                raise InvalidRequestError("set one of seeds, range (count + first_seed) or latents")
            res = self.engine.generate_images(
                request.model, version=request.version, seeds=seeds, latents=latents,
                truncation=request.truncation if request.HasField("truncation") else None,
                label=request.label if request.HasField("label") else None,
                output_format=wire.format_name(request.output_format), quality=request.quality, call=scope.call)
            scope.fields["images"] = len(res.images)
            return pb.GenerateResponse(
                images=[pb.GeneratedImage(image=img, seed=s) for img, s in zip(res.images, res.seeds)],
                format=wire.format_enum(res.format), model=res.model, version=res.version)

        return self.observer.unary("Generate", context, body)

    # -- models --
    def ListModels(self, request, context):  # noqa: N802
        """Every model with its state."""

        def body(scope):
            return pb.ListModelsResponse(models=[_summary(r) for r in self.engine.repository.records()])

        return self.observer.unary("ListModels", context, body)

    def GetModel(self, request, context):  # noqa: N802
        """Metadata, tensors, limits and versions of one model."""

        def body(scope):
            scope.model = request.name
            rec = self.engine.repository.record(request.name)
            with self.engine.repository.lease(request.name, request.version) as mv:
                info = mv.info
                lim = self.engine.limits
                return pb.ModelDescription(
                    name=mv.name, version=mv.version, available_versions=rec.versions,
                    state=wire.STATE_ENUMS[rec.state], error=rec.error, family=info.family, task=info.task,
                    in_channels=info.in_channels, out_channels=info.out_channels, pad_multiple=info.pad_multiple,
                    scale=info.scale, latent_size=info.latent_size, num_classes=info.num_classes,
                    image_size=info.image_size, direction=info.direction, metadata=mv.metadata,
                    inputs=[pb.TensorDescription(name=t.name, dtype=t.dtype, shape=t.shape) for t in mv.inputs],
                    outputs=[pb.TensorDescription(name=t.name, dtype=t.dtype, shape=t.shape) for t in mv.outputs],
                    limits=pb.Limits(max_image_pixels=lim.max_image_pixels, max_message_bytes=lim.max_message_bytes,
                                     max_batch=self.engine.max_batch_for(mv), max_queue=lim.max_queue,
                                     max_generate_count=lim.max_generate_count,
                                     tile_above_pixels=lim.tile_above_pixels, tile_size=lim.tile_size),
                    runtime=_runtime(mv))

        return self.observer.unary("GetModel", context, body)


def _summary(rec: ModelRecord) -> pb.ModelSummary:
    cur = rec.current
    return pb.ModelSummary(name=rec.name, version=cur.version if cur else 0, state=wire.STATE_ENUMS[rec.state],
                           family=cur.info.family if cur else "", task=cur.info.task if cur else "", error=rec.error,
                           runtime=_runtime(cur))


def _runtime(mv) -> pb.Runtime | None:
    """The backend and precision a loaded version runs on (translate.precision.RuntimeChoice), as a message."""
    choice = getattr(mv, "runtime", None)
    if choice is None:
        return None
    psnr = choice.fidelity.psnr_db if choice.fidelity is not None else 0.0
    return pb.Runtime(backend=choice.backend, precision=choice.precision, reason=choice.reason, psnr_db=psnr)
