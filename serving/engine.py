"""The transport-independent core of the server: image bytes -> model -> image bytes.

Every servicer (the ``translate.v1`` domain API here, a KServe v2 servicer later) is an adapter
over :class:`InferenceEngine`: it turns its wire messages into these calls and the typed errors
raised here into status codes (:func:`serving.errors.status_for`). The engine owns no image code:
decoding, validation, padding, tiling and encoding go through :mod:`translate.images`, and seeds
become latents through :meth:`translate.inference.Sampler.seed_latents`, so the server returns the
same pixels as the local CLI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from serving.batcher import DynamicBatcher, Ticket
from serving.errors import CancelledError, InvalidRequestError, ResultTooLargeError
from serving.repository import ModelRepository, ModelVersion
from translate import images

OUTPUT_FORMATS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp"}


@dataclass
class Limits:
    """Request limits (all enforced before any compute is spent)."""

    max_image_pixels: int = 4096 * 4096
    max_message_bytes: int = 64 * 1024 * 1024
    max_batch: int = 8
    max_queue: int = 64
    max_generate_count: int = 64
    tile_above_pixels: int = 2048 * 2048  # AUTO tiling threshold
    tile_size: int = 512
    tile_overlap: int = 32


class Call:
    """Per-request state shared with the transport: deadline and cancellation."""

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline  # time.monotonic() value or None
        self.cancelled = False
        self._tickets: set[Ticket] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_timeout(cls, seconds: float | None) -> Call:
        """A call whose deadline is ``seconds`` from now (None: no deadline)."""
        return cls(None if seconds is None else time.monotonic() + seconds)

    def cancel(self) -> None:
        """Cancel every queued computation of this call (gRPC calls this when the client goes away)."""
        with self._lock:
            self.cancelled = True
            tickets = list(self._tickets)
        for t in tickets:
            t.cancel()

    def _track(self, ticket: Ticket, add: bool) -> None:
        with self._lock:
            (self._tickets.add if add else self._tickets.discard)(ticket)


@dataclass
class TranslateResult:
    """An encoded output image and how it was made."""

    image: bytes
    format: str
    width: int
    height: int
    model: str
    version: int
    tiled: bool


@dataclass
class GenerateResult:
    """Encoded generated images (in request order) and the seeds behind them (None for latents)."""

    images: list[bytes]
    seeds: list[int | None]
    format: str
    model: str
    version: int


class InferenceEngine:
    """Repository + batcher + limits: what a servicer calls."""

    def __init__(self, repository: ModelRepository, batcher: DynamicBatcher, limits: Limits) -> None:
        self.repository = repository
        self.batcher = batcher
        self.limits = limits

    # -- tensors (shared by every protocol) --
    def max_batch_for(self, mv: ModelVersion) -> int:
        """Batch-statistics batch norm or a static batch dimension forbid combining requests."""
        static = mv.inputs and mv.inputs[0].shape and mv.inputs[0].shape[0] > 0
        if mv.info.batchnorm_mode == "batch" or static:
            return 1
        return self.limits.max_batch

    def infer(self, mv: ModelVersion, inputs: tuple[np.ndarray, ...], call: Call, key: Hashable = None) -> np.ndarray:
        """Run ``inputs`` (NCHW image batch, or (z, labels)) through the batcher; output rows in order."""
        if call.cancelled:
            raise CancelledError("the request was cancelled")
        key = (mv.name, mv.version, key if key is not None else tuple(inputs[0].shape[1:]))
        if mv.info.task == "generate":
            backend = mv.backend
            run = (lambda z, labels: backend.generate(z, labels)) if len(inputs) == 2 else \
                (lambda z: backend.generate(z, None))
        else:
            run = mv.backend
        ticket = self.batcher.submit(key, mv.name, run, inputs, deadline=call.deadline,
                                     max_batch=self.max_batch_for(mv))
        call._track(ticket, True)
        try:
            if call.cancelled:
                ticket.cancel()
            return ticket.result()
        finally:
            call._track(ticket, False)

    # -- images --
    def translate(self, model: str, data: bytes, *, version: int = 0, output_format: str = "", quality: int = 0,
                  tiling: str = "auto", tile_size: int = 0, overlap: int = 0, call: Call | None = None
                  ) -> TranslateResult:
        """Decode ``data``, run the model (tiled above the threshold), encode the result."""
        call = call or Call()
        if not data:
            raise InvalidRequestError("the request has no image bytes; put an encoded PNG/JPEG/WebP in `image`")
        fmt = self._format(output_format)
        with self.repository.lease(model, version) as mv:
            if mv.info.task == "generate":
                raise InvalidRequestError(f"model {model!r} is an unconditional generator; call Generate instead")
            img = images.decode_image(data, max_pixels=self.limits.max_image_pixels)
            h, w = img.pixels.shape[:2]
            prepared = images.prepare(img, mv.info)
            x = prepared.array  # [1, C, Hp, Wp] float32 in [-1, 1]
            tile = tile_size or self.limits.tile_size
            tiled = tiling == "always" or (tiling == "auto" and h * w > self.limits.tile_above_pixels)
            if tiled:
                ov = overlap or self.limits.tile_overlap  # run_tiled rejects overlap >= tile (ConfigError)
                y = images.run_tiled(lambda t: self.infer(mv, (t,), call), x, tile=tile, overlap=ov,
                                     scale=mv.info.scale, multiple=mv.info.pad_multiple,
                                     batch_size=self.max_batch_for(mv))
            else:
                y = self.infer(mv, (x,), call)
            out = images.finish(y, prepared, mv.info)
            fmt = fmt or OUTPUT_FORMATS.get((img.format or "png").lower(), "png")
            encoded = images.encode_image(out, fmt=fmt, quality=quality or 95)
            self._check_size(len(encoded), f"{out.pixels.shape[1]}x{out.pixels.shape[0]} result")
            return TranslateResult(encoded, fmt, out.pixels.shape[1], out.pixels.shape[0], mv.name, mv.version,
                                   tiled)

    def generate(self, model: str, *, version: int = 0, seeds: list[int] | None = None,
                 latents: np.ndarray | None = None, truncation: float | None = None, label: int | None = None,
                 output_format: str = "", quality: int = 0, call: Call | None = None) -> GenerateResult:
        """Sample from a generator: seeds (via Sampler.seed_latents) or explicit latents [N, nz]."""
        from translate.latents import Sampler

        call = call or Call()
        fmt = self._format(output_format) or "png"
        with self.repository.lease(model, version) as mv:
            info = mv.info
            if info.task != "generate":
                raise InvalidRequestError(f"model {model!r} is a {info.task} model; call Translate instead")
            if (seeds is None) == (latents is None):
                raise InvalidRequestError("give either seeds (a list, or count + first_seed) or latents")
            n = len(seeds) if seeds is not None else int(latents.shape[0])
            if not 1 <= n <= self.limits.max_generate_count:
                raise InvalidRequestError(f"asked for {n} images; one call makes 1 to "
                                          f"{self.limits.max_generate_count} (split larger requests)")
            if seeds is not None:
                z = Sampler(mv.backend).seed_latents(list(seeds), truncation=truncation)
            else:
                z = np.asarray(latents, np.float32)
                if z.ndim != 2 or z.shape[1] != info.latent_size:
                    raise InvalidRequestError(f"each latent needs exactly {info.latent_size} values "
                                              f"(the model's latent_size); got shape {list(z.shape)}")
                if not np.all(np.isfinite(z)):
                    raise InvalidRequestError("latents contain NaN or infinity")
            inputs: tuple[np.ndarray, ...] = (z,)
            if info.num_classes > 0:
                if label is None or not 0 <= label < info.num_classes:
                    raise InvalidRequestError(f"model {model!r} is class-conditional: set label to 0.."
                                              f"{info.num_classes - 1} (got {label})")
                inputs = (z, np.full((n,), label, np.int64))
            elif label is not None:
                raise InvalidRequestError(f"model {model!r} is not class-conditional; leave label unset")
            step = self.max_batch_for(mv)
            rows = [self.infer(mv, tuple(a[i:i + step] for a in inputs), call, key="generate")
                    for i in range(0, n, step)]
            out = np.concatenate(rows)  # [N, C, S, S]
            encoded = []
            for arr in out:
                img = images.Image(pixels=images.from_model_array(arr), alpha=None, format=None)
                encoded.append(images.encode_image(img, fmt=fmt, quality=quality or 95))
            self._check_size(sum(map(len, encoded)), f"{n} generated images")
            return GenerateResult(encoded, list(seeds) if seeds is not None else [None] * n, fmt, mv.name,
                                  mv.version)

    # -- helpers --
    @staticmethod
    def _format(name: str) -> str:
        if not name:
            return ""
        fmt = OUTPUT_FORMATS.get(name.lower())
        if fmt is None:
            raise InvalidRequestError(f"unknown output format {name!r}; use png, jpeg or webp")
        return fmt

    def _check_size(self, size: int, what: str) -> None:
        limit = self.limits.max_message_bytes - 4096  # room for the rest of the response message
        if size > limit:
            raise ResultTooLargeError(f"the encoded {what} is {size / 2**20:.1f} MB, over the "
                                      f"{self.limits.max_message_bytes / 2**20:.0f} MB message limit; send a "
                                      "smaller image, ask for JPEG/WebP, or raise --max-message-mb")
