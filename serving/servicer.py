"""The ``translate.v1.TranslateService`` servicer: an adapter between protobuf messages and the engine.

The RPCs are asyncio coroutines (the server runs ``grpc.aio``); the engine calls block, so they run
in the server's worker pool and are awaited (:meth:`serving.observe.RequestObserver.run_blocking`).
Nothing here decodes an image, checks a request or runs a model; it converts wire types
(:mod:`serving.wire` for the enums), calls :class:`serving.engine.InferenceEngine`, and lets
:class:`serving.observe.RequestObserver` map the typed errors to status codes
(proto/translate/v1/translate.proto documents them).
"""

from __future__ import annotations

import asyncio
import time

import grpc
import numpy as np

from serving import wire
from serving.engine import Call, InferenceEngine
from serving.errors import InvalidRequestError, ShuttingDownError, status_for
from serving.gen import translate_pb2 as pb
from serving.gen import translate_pb2_grpc as pb_grpc
from serving.observe import RequestObserver
from serving.repository import ModelRecord
from serving.streams import IdleClock, StreamIdleError, StreamLimiter, requests_until_idle

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TranslateService"].full_name


class TranslateServicer(pb_grpc.TranslateServiceServicer):
    """Implements every RPC of translate.v1.TranslateService over an :class:`InferenceEngine`.

    Args:
        engine: the server's engine. observer: request ids, deadlines, status codes, metrics, log,
            and the worker pool that blocking work runs in.
        stream_window: stream items processed at once (so they can batch).
        idle_timeout: seconds a stream may send nothing while nothing of it is in flight (None: forever).
        draining: set when the server drains; idle streams then end.
        streams: the server's stream limiter (only reported by GetModel; the interceptor enforces it).
    """

    def __init__(self, engine: InferenceEngine, observer: RequestObserver, stream_window: int = 8,
                 idle_timeout: float | None = None, draining: asyncio.Event | None = None,
                 streams: StreamLimiter | None = None) -> None:
        self.engine = engine
        self.observer = observer
        self.stream_window = stream_window
        self.idle_timeout = idle_timeout
        self.draining = draining
        self.streams = streams

    # -- Translate --
    def _translate(self, req: pb.TranslateRequest, call: Call) -> pb.TranslateResponse:
        res = self.engine.translate_image(
            req.model, req.image, version=req.version, output_format=wire.format_name(req.output_format),
            quality=req.quality, tiling=wire.tiling_name(req.tiling.mode), tile_size=req.tiling.tile_size,
            overlap=req.tiling.overlap, call=call)
        return pb.TranslateResponse(id=req.id, image=res.image, format=wire.format_enum(res.format), width=res.width,
                                    height=res.height, model=res.model, version=res.version, tiled=res.tiled)

    async def Translate(self, request, context):  # noqa: N802 - gRPC method name
        """One image in, one image out."""

        def body(scope):
            scope.model = request.model
            scope.fields["bytes_in"] = len(request.image)
            resp = self._translate(request, scope.call)
            scope.fields["bytes_out"] = len(resp.image)
            return resp

        return await self.observer.unary("Translate", context, body)

    async def TranslateStream(self, request_iterator, context):  # noqa: N802
        """Many images: items run concurrently (and batch), answers come back in request order."""
        start = time.monotonic()
        scope = await self.observer.begin("TranslateStream", context)
        items = errors = 0
        clock = IdleClock(self.idle_timeout)
        pending: asyncio.Queue = asyncio.Queue(maxsize=self.stream_window)
        done = object()

        def one(req):
            try:
                return self._translate(req, scope.call)
            except Exception as exc:
                code, message = status_for(exc)
                return pb.TranslateResponse(id=req.id, model=req.model, error=pb.Error(code=code.value[0],
                                                                                       message=message))

        async def reader():
            try:
                async for req in requests_until_idle(request_iterator, clock, self.draining):
                    scope.model = scope.model or req.model
                    clock.pending += 1
                    await pending.put(asyncio.ensure_future(self.observer.run_blocking(one, req)))
            except (StreamIdleError, ShuttingDownError) as exc:
                await pending.put(exc)
            except Exception as exc:  # the client went away or sent garbage
                await pending.put(exc)
            else:
                await pending.put(done)

        read_task = asyncio.ensure_future(reader())
        code, message = grpc.StatusCode.OK, ""
        try:
            while True:
                item = await pending.get()
                if item is done:
                    break
                if isinstance(item, (StreamIdleError, ShuttingDownError)):
                    code, message = item.code, str(item)
                    break
                if isinstance(item, Exception):
                    code = grpc.StatusCode.CANCELLED
                    break
                resp = await item
                clock.pending -= 1
                clock.touch()
                items += 1
                errors += resp.HasField("error")
                yield resp
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            read_task.cancel()
            scope.call.cancel()  # items still queued in the batcher leave it
            scope.fields.update(items=items, item_errors=errors)
            self.observer.finish(scope, grpc.StatusCode.CANCELLED if context.cancelled() else code, start, message)
        if message:
            await context.abort(code, message)

    # -- Generate --
    async def Generate(self, request, context):  # noqa: N802
        """Sample images from seeds, a seed range or explicit latents."""

        def body(scope):
            scope.model = request.model
            seeds = latents = None
            source = request.WhichOneof("source")
            if source == "seeds":
                seeds = request.seeds.seeds  # a sized container: counted before any seed is copied
            elif source == "range":
                # a range is never listed before the engine checked its length and its last seed
                seeds = range(request.range.first_seed, request.range.first_seed + request.range.count)
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
                label=request.label if request.HasField("label") else None, class_name=request.class_name or None,
                output_format=wire.format_name(request.output_format), quality=request.quality, call=scope.call)
            scope.fields["images"] = len(res.images)
            return pb.GenerateResponse(
                images=[pb.GeneratedImage(image=img, seed=s) for img, s in zip(res.images, res.seeds)],
                format=wire.format_enum(res.format), model=res.model, version=res.version)

        return await self.observer.unary("Generate", context, body)

    # -- models --
    async def ListModels(self, request, context):  # noqa: N802
        """Every model with its state."""

        def body(scope):
            return pb.ListModelsResponse(models=[_summary(r) for r in self.engine.repository.records()])

        return await self.observer.unary("ListModels", context, body, blocking=False)

    async def GetModel(self, request, context):  # noqa: N802
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
                    class_names=list(info.class_names),
                    inputs=[pb.TensorDescription(name=t.name, dtype=t.dtype, shape=t.shape) for t in mv.inputs],
                    outputs=[pb.TensorDescription(name=t.name, dtype=t.dtype, shape=t.shape) for t in mv.outputs],
                    limits=pb.Limits(max_image_pixels=lim.max_image_pixels, max_message_bytes=lim.max_message_bytes,
                                     max_batch=self.engine.max_batch_for(mv), max_queue=lim.max_queue,
                                     max_generate_count=lim.max_generate_count,
                                     tile_above_pixels=lim.tile_above_pixels, tile_size=lim.tile_size,
                                     max_batch_pixels=lim.max_batch_pixels, min_input_size=info.min_input_size,
                                     max_streams=self.streams.max_streams if self.streams else 0,
                                     max_streams_per_client=self.streams.max_per_client if self.streams else 0,
                                     stream_idle_timeout=self.idle_timeout or 0),
                    runtime=_runtime(mv))

        return await self.observer.unary("GetModel", context, body, blocking=False)


def _summary(rec: ModelRecord) -> pb.ModelSummary:
    cur = rec.current
    return pb.ModelSummary(name=rec.name, version=cur.version if cur else 0, state=wire.STATE_ENUMS[rec.state],
                           family=cur.info.family if cur else "", task=cur.info.task if cur else "", error=rec.error,
                           class_names=list(cur.info.class_names) if cur else [],
                           runtime=_runtime(cur))


def _runtime(mv) -> pb.Runtime | None:
    """The backend and precision a loaded version runs on (translate.precision.RuntimeChoice), as a message."""
    choice = getattr(mv, "runtime", None)
    if choice is None:
        return None
    psnr = choice.fidelity.psnr_db if choice.fidelity is not None else 0.0
    return pb.Runtime(backend=choice.backend, precision=choice.precision, reason=choice.reason, psnr_db=psnr)
