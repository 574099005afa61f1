"""The server's one core: named tensors in, named tensors out, every check on the way; images on top.

Protocol adapters (``translate.v1`` in serving/servicer.py, the Open Inference Protocol in
serving/kserve.py) turn their wire messages into these calls and the typed errors raised here into
status codes (:func:`serving.errors.status_for`); they hold no checks of their own. Two levels:

- **tensors**: :meth:`InferenceEngine.infer_tensors` takes ``{input name: array}`` and checks names,
  dtypes, shapes, channels, the pad multiple, batch and size limits, finite values and class labels
  before any compute, then runs the model through the dynamic batcher. Image models take float32
  (or float16) ``[N, C, H, W]`` in [-1, 1], the ONNX model's own input, or uint8 pixels
  ``[N, H, W, C]`` that get the model's own pre/post-processing; generators take ``z`` ``[N, nz]``
  (+ ``label`` ``[N]``). :meth:`InferenceEngine.generate_tensors` makes ``z`` from seeds.
- **images**: :meth:`InferenceEngine.translate_image` decodes image bytes and runs them through the
  same pixel path as uint8 tensors; :meth:`InferenceEngine.generate_images` encodes what
  ``generate_tensors`` computed.

The engine owns no image code (decoding, validation, padding, tiling and encoding are
:mod:`translate.images`) and no latent rule (seeds become latents through
:func:`translate.latents.seed_latents`), so the server returns the same pixels as the local CLI.
Tensor datatypes are named as the Open Inference Protocol names them (:func:`serving.v2.datatype_of`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from serving.batcher import DynamicBatcher, Ticket
from serving.errors import CancelledError, InvalidRequestError, PixelBudgetError, ResultTooLargeError
from serving.repository import ModelRepository, ModelVersion, clip_name
from serving.v2 import datatype_of, static_batch
from translate import images
from translate.commands.generate import contact_grid
from translate.errors import ConfigError
from translate.latents import seed_latents
from translate.modelinfo import ModelInfo
from translate.seeds import MAX_SEED

OUTPUT_FORMATS = ("PNG", "JPEG", "WEBP")  # what the server encodes answers in (the image formats its protocols name)
TILING_MODES = ("auto", "always", "never")
IMAGE_HINT = ("send FP32 (or FP16 raw) [N, C, H, W] in [-1, 1] as the ONNX model takes it, or UINT8 pixels "
              "[N, H, W, C] (C 1-4) and let the server pre/post-process")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float16))
_INTS = (np.dtype(np.int64), np.dtype(np.int32))


@dataclass
class Limits:
    """Request limits (all enforced before any compute is spent).

    Memory is bounded in pixels, because an image network's activations grow with the pixels it
    sees (a ResNet-9 translator at 2048x2048 peaks near 7 GiB): ``tile_above_pixels`` is the
    most padded input pixels one image may send through the model in one piece (AUTO tiling
    starts above it; ``never`` above it, or tiles larger than it, are refused), and
    ``max_batch_pixels`` the most input pixels of one model call, whatever the number of images.
    """

    max_image_pixels: int = 4096 * 4096
    max_message_bytes: int = 64 * 1024 * 1024
    max_batch: int = 8
    max_queue: int = 64
    max_generate_count: int = 64  # also the most samples of one tensor request
    tile_above_pixels: int = 2048 * 2048  # AUTO tiling threshold, and the most pixels of one piece
    tile_size: int = 512
    tile_overlap: int = 32
    max_batch_pixels: int = 2048 * 2048  # the most input pixels of one ONNX Runtime call


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
class TensorResult:
    """Output tensors of one inference (``{name: array}``) and the model version that computed them."""

    model: str
    version: int
    outputs: dict[str, np.ndarray]


@dataclass
class GeneratedTensors:
    """A generator's output ``[N, C, S, S]`` float32 in [-1, 1] and the seeds behind it (None for latents)."""

    model: str
    version: int
    seeds: list[int | None]
    output: np.ndarray


@dataclass
class TranslateResult:
    """An encoded output image and how it was made (``format``: png, jpeg or webp)."""

    image: bytes
    format: str
    width: int
    height: int
    model: str
    version: int
    tiled: bool = False
    id: str = ""  # the request's id, where the protocol carries one


@dataclass
class GenerateResult:
    """Encoded generated images (in request order; one contact sheet when asked) and their seeds (None: latents)."""

    images: list[bytes]
    seeds: list[int | None]
    format: str
    model: str
    version: int


def check_labels(info: ModelInfo, labels: np.ndarray) -> np.ndarray:
    """Class labels (ints, ``[N]`` or ``[N, 1]``) -> int64 ``[N]``, each one of the model's classes.

    Every protocol's labels pass through here, and from here through the library's one check
    (:meth:`translate.modelinfo.ModelInfo.check_labels`); its LabelError is an INVALID_ARGUMENT.
    """
    return info.check_labels(labels, name="labels")


def _listing(names: Sequence[str], most: int = 20) -> str:
    """``names`` for a message, at most ``most`` of them, each clipped."""
    shown = ", ".join(clip_name(n) for n in names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _class_names_hint(info: ModelInfo) -> str:
    return f", or set class_name to one of {_listing(info.class_names)}" if info.class_names else ""


def _pixel_image(p: np.ndarray) -> images.Image:
    """uint8 [H, W, C] with C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) -> Image."""
    c = p.shape[2]
    color = 1 if c <= 2 else 3
    alpha = np.ascontiguousarray(p[..., color]) if c in (2, 4) else None
    return images.Image(pixels=np.ascontiguousarray(p[..., :color]), alpha=alpha)


def _image_pixels(img: images.Image) -> np.ndarray:
    """Image -> uint8 [H, W, C'] with the alpha plane last, as it came in."""
    return img.pixels if img.alpha is None else np.concatenate([img.pixels, img.alpha[..., None]], axis=2)


class InferenceEngine:
    """Repository + batcher + limits: what every protocol adapter calls."""

    def __init__(self, repository: ModelRepository, batcher: DynamicBatcher, limits: Limits) -> None:
        self.repository = repository
        self.batcher = batcher
        self.limits = limits

    def max_batch_for(self, mv: ModelVersion) -> int:
        """Batch-statistics batch norm or a static batch dimension forbid combining requests."""
        if mv.info.batchnorm_mode == "batch" or static_batch(mv):
            return 1
        return self.limits.max_batch

    @property
    def queue_delay_us(self) -> int:
        """How long a request waits for others to batch with, in microseconds."""
        return round(self.batcher.batch_timeout * 1e6)

    def sample_pixels(self, mv: ModelVersion, inputs: tuple[np.ndarray, ...]) -> int:
        """Pixels one sample of ``inputs`` sends through the model (what the per-batch budget counts)."""
        if mv.info.task == "generate":
            return max(1, mv.info.image_size) ** 2
        return int(inputs[0].shape[2]) * int(inputs[0].shape[3])  # [N, C, H, W]

    def infer(self, mv: ModelVersion, inputs: tuple[np.ndarray, ...], call: Call, key: Hashable = None) -> np.ndarray:
        """Run checked model arrays (NCHW image batch, or (z, labels)) through the batcher; output rows in order.

        Rows go in chunks of at most ``max_batch_pixels`` input pixels (at least one row each), so
        that several large images never share one ONNX Runtime call.
        """
        n = int(inputs[0].shape[0])
        per = self.sample_pixels(mv, inputs)
        step = max(1, min(n, self.limits.max_batch_pixels // per))
        if step < n:
            return np.concatenate([self.infer(mv, tuple(a[i:i + step] for a in inputs), call, key)
                                   for i in range(0, n, step)])
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
                                     max_batch=self.max_batch_for(mv), pixels=n * per)
        call._track(ticket, True)
        try:
            if call.cancelled:
                ticket.cancel()
            return ticket.result()
        finally:
            call._track(ticket, False)

    # ------------------------------------------------------------------------- tensors
    def infer_tensors(self, model: str, version: int, inputs: Mapping[str, np.ndarray], call: Call | None = None,
                      outputs: Sequence[str] = ()) -> TensorResult:
        """Run ``{input name: array}`` through ``model`` (version 0: the served one).

        Every check happens before any compute (see the module docstring for what each model
        takes). ``outputs`` names the outputs wanted (empty: all); they come back in the input's
        float dtype, or as uint8 pixels for uint8 input.
        """
        call = call or Call()
        with self.repository.lease(model, version) as mv:
            expected = [t.name for t in mv.inputs]
            for name in inputs:
                if name not in expected:
                    raise InvalidRequestError(f"model {mv.name!r} has no input {name!r}; its inputs are {expected}")
            known = [t.name for t in mv.outputs] or ["output"]
            for name in outputs:
                if name not in known:
                    raise InvalidRequestError(f"model {mv.name!r} has no output {name!r}; its outputs are {known}")
            if mv.info.task == "generate":
                y = self._generate_tensor(mv, inputs, call)
            else:
                y = self._translate_tensor(mv, inputs, call)
            result = {known[0]: y}
            return TensorResult(mv.name, mv.version, {k: v for k, v in result.items() if not outputs or k in outputs})

    def generate_tensors(self, model: str, version: int = 0, *, seeds: Sequence[int] | None = None,
                         latents: np.ndarray | None = None, truncation: float | None = None, label: int | None = None,
                         class_name: str | None = None, call: Call | None = None) -> GeneratedTensors:
        """Sample a generator: ``seeds`` (the library's seed -> latent rule) or explicit ``latents`` [N, nz].

        ``seeds`` may be a ``range`` (a count from a first seed): its length and bounds are checked
        before a single seed is listed. ``label`` (a class number) or ``class_name`` (one of the
        model's class names, exactly): the class of every sample, for class-conditional models only.
        """
        call = call or Call()
        with self.repository.lease(model, version) as mv:
            info = mv.info
            if info.task != "generate":
                raise InvalidRequestError(f"model {mv.name!r} is a {info.task} model; call Translate instead")
            if (seeds is None) == (latents is None):
                raise InvalidRequestError("give either seeds (a list, or count + first_seed) or latents")
            if seeds is not None:
                self._check_count(len(seeds))  # before a single seed is listed or a latent drawn
                self._check_seeds(seeds)
                z = seed_latents(list(seeds), info.latent_size, truncation)
            else:
                z = self._check_latents(mv, np.asarray(latents, np.float32))
            n = z.shape[0]
            label = self._class_label(mv, label, class_name)
            labels = None
            if info.num_classes > 0:
                if label is None:
                    raise InvalidRequestError(f"model {mv.name!r} is class-conditional: set label to 0.."
                                              f"{info.num_classes - 1}{_class_names_hint(info)}")
                labels = check_labels(info, np.full((n,), label, np.int64))
            elif label is not None:
                raise InvalidRequestError(f"model {mv.name!r} is not class-conditional; leave label unset")
            out = self._generate_rows(mv, z, labels, call)
            return GeneratedTensors(mv.name, mv.version, list(seeds) if seeds is not None else [None] * n, out)

    def _translate_tensor(self, mv: ModelVersion, inputs: Mapping[str, np.ndarray], call: Call) -> np.ndarray:
        info, name = mv.info, mv.inputs[0].name
        if name not in inputs:
            raise InvalidRequestError(f"model {mv.name!r} needs input {name!r}: {IMAGE_HINT}")
        arr = inputs[name]
        if arr.ndim != 4:
            raise InvalidRequestError(f"input {name!r} has shape {list(arr.shape)}; {IMAGE_HINT}")
        self._check_count(arr.shape[0])
        s = info.scale
        if arr.dtype == np.uint8:
            n, h, w, c = arr.shape
            if c not in (1, 2, 3, 4):
                raise InvalidRequestError(f"UINT8 input {name!r} is read as pixels [N, H, W, C] with C = 1 (grey), 2 "
                                          f"(grey+alpha), 3 (RGB) or 4 (RGBA); got C = {c} in shape {list(arr.shape)}")
            self._check_pixels(h, w)
            c_out = info.out_channels + (c in (2, 4))
            self._check_tensor_size(n * h * s * w * s * c_out, f"UINT8 result [{n}, {h * s}, {w * s}, {c_out}]")
            done = self._translate_images(mv, [_pixel_image(p) for p in arr], call, *self._tiling(mv, "auto", h, w))
            return np.stack([_image_pixels(d) for d in done])  # [N, H*s, W*s, C']
        if arr.dtype not in _FLOATS:
            raise InvalidRequestError(f"input {name!r} is {datatype_of(arr.dtype)}; {IMAGE_HINT}")
        n, c, h, w = arr.shape
        if c != info.in_channels:
            raise InvalidRequestError(f"input {name!r} has {c} channels in shape {list(arr.shape)} [N, C, H, W]; "
                                      f"model {mv.name!r} takes {info.in_channels} (or send UINT8 pixels [N, H, W, C])")
        m, low = info.pad_multiple, info.min_input_size
        if h < low or w < low or h % m or w % m:
            raise InvalidRequestError(f"input {name!r} is {h}x{w}; model {mv.name!r} needs height and width that are "
                                      f"multiples of {m} and at least {low} (pad the tensor, or send UINT8 pixels "
                                      "and the server pads and crops)")
        self._check_pixels(h, w)
        self._check_tensor_size(n * info.out_channels * h * s * w * s * arr.dtype.itemsize,
                                f"{datatype_of(arr.dtype)} result [{n}, {info.out_channels}, {h * s}, {w * s}]")
        x = np.array(arr, dtype=np.float32)  # a writable copy (a wire buffer is read-only)
        self._check_finite(name, x)
        return self._run_images(mv, x, call, *self._tiling(mv, "auto", h, w)).astype(arr.dtype)

    def _generate_tensor(self, mv: ModelVersion, inputs: Mapping[str, np.ndarray], call: Call) -> np.ndarray:
        info = mv.info
        if "z" not in inputs:
            raise InvalidRequestError(f"model {mv.name!r} is a generator: send input 'z' FP32 [N, {info.latent_size}]"
                                      + (" and 'label' INT64 [N]" if info.num_classes else ""))
        z = inputs["z"]
        if z.dtype not in _FLOATS:
            raise InvalidRequestError(f"input 'z' is {datatype_of(z.dtype)}; send FP32 (or FP16 raw) "
                                      f"[N, {info.latent_size}]")
        zf = self._check_latents(mv, z)
        n = zf.shape[0]
        labels = None
        if info.num_classes > 0:
            if "label" not in inputs:
                raise InvalidRequestError(f"model {mv.name!r} is class-conditional: send input 'label' INT64 [N] "
                                          f"with classes 0..{info.num_classes - 1}")
            label = inputs["label"]
            if label.dtype not in _INTS or label.shape not in ((n,), (n, 1)):
                raise InvalidRequestError(f"input 'label' is {datatype_of(label.dtype)} {list(label.shape)}; send "
                                          f"INT64 [{n}] (or [{n}, 1]), one class per latent")
            labels = check_labels(info, label)
        size = info.image_size or 0
        self._check_tensor_size(n * info.out_channels * size * size * z.dtype.itemsize,
                                f"{datatype_of(z.dtype)} result of {n} samples")
        return self._generate_rows(mv, zf, labels, call).astype(z.dtype)

    # ------------------------------------------------------------------------- images
    def translate_image(self, model: str, data: bytes, *, version: int = 0, output_format: str = "",
                        quality: int = 0, tiling: str = "auto", tile_size: int = 0, overlap: int = 0,
                        call: Call | None = None) -> TranslateResult:
        """Decode ``data``, run the model (tiled above the threshold), encode the result.

        ``output_format`` "" answers in the input's format (PNG where the server cannot encode
        that one); ``tile_size``/``overlap``/``quality`` 0 mean the server's defaults.
        """
        call = call or Call()
        if not data:
            raise InvalidRequestError("the request has no image bytes; put an encoded PNG/JPEG/WebP in `image`")
        fmt = self._output_format(output_format)
        if tiling not in TILING_MODES:
            raise InvalidRequestError(f"tiling must be auto, always or never (got {tiling!r})")
        with self.repository.lease(model, version) as mv:
            if mv.info.task == "generate":
                raise InvalidRequestError(f"model {model!r} is an unconditional generator; call Generate instead")
            img = images.decode_image(data, max_pixels=self.limits.max_image_pixels)
            tiled, tile, ov = self._tiling(mv, tiling, img.height, img.width, tile_size, overlap)
            self._check_piece(mv, img.height, img.width, tiled, tile)
            [out] = self._translate_images(mv, [img], call, tiled, tile, ov)
            fmt = fmt or (img.format if img.format in OUTPUT_FORMATS else "PNG")
            encoded = images.encode_image(out, fmt=fmt, quality=quality or 95)
            self._check_encoded_size(len(encoded), f"{out.width}x{out.height} result")
            return TranslateResult(encoded, fmt.lower(), out.width, out.height, mv.name, mv.version, tiled)

    def generate_images(self, model: str, *, version: int = 0, seeds: Sequence[int] | None = None,
                        latents: np.ndarray | None = None, truncation: float | None = None, label: int | None = None,
                        class_name: str | None = None, output_format: str = "", quality: int = 0,
                        grid: int | None = None, call: Call | None = None) -> GenerateResult:
        """:meth:`generate_tensors`, encoded (PNG unless ``output_format`` says otherwise).

        ``grid``: answer one contact sheet of every sample, ``grid`` columns wide (0: near-square).
        """
        fmt = self._output_format(output_format) or "PNG"
        if grid is not None and grid < 0:
            raise InvalidRequestError(f"grid is a number of columns, >= 1 (or 0 for a near-square grid); got {grid}")
        gen = self.generate_tensors(model, version, seeds=seeds, latents=latents, truncation=truncation, label=label,
                                    class_name=class_name, call=call)
        pictures = [images.Image(pixels=images.from_model_array(arr)) for arr in gen.output]
        if grid is not None:
            pictures = [contact_grid(pictures, grid or None)]
        encoded = [images.encode_image(p, fmt=fmt, quality=quality or 95) for p in pictures]
        self._check_encoded_size(sum(map(len, encoded)), f"{len(encoded)} generated images")
        return GenerateResult(encoded, gen.seeds, fmt.lower(), gen.model, gen.version)

    # ------------------------------------------------------------------------- shared steps
    def _tiling(self, mv: ModelVersion, mode: str, h: int, w: int, tile_size: int = 0,
                 overlap: int = 0) -> tuple[bool, int, int]:
        """(tiled?, tile, overlap) for an h x w image: AUTO tiles when the padded image is over the pixel budget.

        The server's default overlap shrinks to a quarter of a tile too small for it; an overlap the
        client chose is kept, and run_tiled rejects one >= the tile (INVALID_ARGUMENT).
        """
        hp, wp = images.padded_size(h, w, mv.info.pad_multiple, mv.info.min_input_size)  # what the model would see
        tiled = mode == "always" or (mode == "auto" and hp * wp > self.limits.tile_above_pixels)
        tile = tile_size or self.limits.tile_size
        if overlap:
            return tiled, tile, overlap
        side = images.round_tile(tile, mv.info.pad_multiple, mv.info.min_input_size)
        default = self.limits.tile_overlap
        return tiled, tile, default if default < side else side // 4

    def _check_piece(self, mv: ModelVersion, h: int, w: int, tiled: bool, tile: int) -> None:
        """Refuse (RESOURCE_EXHAUSTED) before any compute a piece over the server's pixel budget.

        The piece is the padded image when it runs whole, else one tile (clamped to the padded
        image); whatever tiling the client asked for, no piece may exceed ``tile_above_pixels``.
        """
        info = mv.info
        hp, wp = images.padded_size(h, w, info.pad_multiple, info.min_input_size)
        if tiled:
            side = images.round_tile(tile, info.pad_multiple, info.min_input_size)
            ph, pw, what = min(side, hp), min(side, wp), f"a tile of {min(side, wp)}x{min(side, hp)}"
        else:
            ph, pw, what = hp, wp, f"the whole {w}x{h} image (padded to {wp}x{hp})"
        limit = self.limits.tile_above_pixels
        if ph * pw > limit:
            advice = ("ask for a smaller tile_size" if tiled else
                      "let the server tile it (tiling AUTO or ALWAYS) or send a smaller image")
            raise PixelBudgetError(f"{what} is {ph * pw:,} pixels, over the server's pixel budget of {limit:,} "
                                   f"pixels per model call (--tile-above-pixels); {advice}")

    def _run_images(self, mv: ModelVersion, x: np.ndarray, call: Call, tiled: bool, tile: int,
                    overlap: int) -> np.ndarray:
        """[N, C, Hp, Wp] float32 -> model output: whole (in batcher-sized chunks) or tiled per image."""
        step = self.max_batch_for(mv)

        def run(t):
            return self.infer(mv, (t,), call)

        if tiled:
            return np.concatenate([images.run_tiled(run, x[i:i + 1], tile=tile, overlap=overlap, scale=mv.info.scale,
                                                    multiple=mv.info.pad_multiple, batch_size=step,
                                                    min_size=mv.info.min_input_size)
                                   for i in range(x.shape[0])])
        return np.concatenate([run(x[i:i + step]) for i in range(0, x.shape[0], step)])

    def _translate_images(self, mv: ModelVersion, imgs: list[images.Image], call: Call, tiled: bool, tile: int,
                          overlap: int) -> list[images.Image]:
        """Same-size images -> translated images: the model's own processing (translate.images) around the run."""
        prepared = [images.prepare(img, mv.info) for img in imgs]
        x = np.concatenate([p.array for p in prepared])  # [N, C_model, Hp, Wp]
        y = self._run_images(mv, x, call, tiled, tile, overlap)
        return [images.finish(y[i:i + 1], p, mv.info) for i, p in enumerate(prepared)]

    def _generate_rows(self, mv: ModelVersion, z: np.ndarray, labels: np.ndarray | None, call: Call) -> np.ndarray:
        """Checked z [N, nz] float32 (+ labels int64 [N]) -> [N, C, S, S] in batcher-sized chunks."""
        step = self.max_batch_for(mv)
        inputs = (z,) if labels is None else (z, labels)
        return np.concatenate([self.infer(mv, tuple(a[i:i + step] for a in inputs), call, key="generate")
                               for i in range(0, z.shape[0], step)])

    # ------------------------------------------------------------------------- checks
    def _check_count(self, n: int) -> None:
        limit = self.limits.max_generate_count
        if not 1 <= n <= limit:
            raise InvalidRequestError(f"asked for {n} images; one call makes 1 to {limit} (split larger requests)")

    @staticmethod
    def _check_seeds(seeds: Sequence[int]) -> None:
        """Every seed within 0..MAX_SEED (a range is checked by its ends, without listing it)."""
        if isinstance(seeds, range):
            low, high = (seeds.start, seeds[-1]) if len(seeds) else (0, 0)
        else:
            values = [int(s) for s in seeds]
            low, high = (min(values), max(values)) if values else (0, 0)
        if low < 0 or high > MAX_SEED:
            bad = low if low < 0 else high
            raise InvalidRequestError(f"seeds must lie in 0..{MAX_SEED} (got {bad}); for a range, first_seed + count "
                                      f"- 1 must not exceed {MAX_SEED}")

    @staticmethod
    def _class_label(mv: ModelVersion, label: int | None, class_name: str | None) -> int | None:
        """The class number for ``label`` or ``class_name`` (exactly one of the model's names)."""
        if not class_name:
            return label
        if label is not None:
            raise InvalidRequestError("set either label (a class number) or class_name, not both")
        return int(mv.info.label_of(class_name, what="class_name"))  # the library's one lookup (LabelError)

    def _check_latents(self, mv: ModelVersion, z: np.ndarray) -> np.ndarray:
        """z [N, nz] of the model's latent size, within the count limit and finite -> float32 copy."""
        nz = mv.info.latent_size
        if z.ndim != 2 or z.shape[1] != nz:
            raise InvalidRequestError(f"input 'z' (the latents) has shape {list(z.shape)}; model {mv.name!r} takes "
                                      f"[N, {nz}]: each latent needs exactly {nz} values (its latent_size)")
        self._check_count(z.shape[0])
        z = np.array(z, dtype=np.float32)
        self._check_finite("z", z)
        return z

    @staticmethod
    def _check_finite(name: str, x: np.ndarray) -> None:
        if not np.all(np.isfinite(x)):
            raise InvalidRequestError(f"input {name!r} contains NaN or infinity")

    def _check_pixels(self, h: int, w: int) -> None:
        limit = self.limits.max_image_pixels
        if h * w > limit:
            raise InvalidRequestError(f"the image is {w}x{h} = {h * w:,} pixels, over the limit of {limit:,} pixels "
                                      "(--max-image-pixels); send a smaller image")

    def _check_tensor_size(self, nbytes: int, what: str) -> None:
        """Refuse before compute a tensor answer that could not be sent."""
        self._check_message(nbytes, f"the {what} would be", "send fewer or smaller images, or raise --max-message-mb")

    def _check_encoded_size(self, nbytes: int, what: str) -> None:
        self._check_message(nbytes, f"the encoded {what} is",
                            "send a smaller image, ask for JPEG/WebP, or raise --max-message-mb")

    def _check_message(self, nbytes: int, subject: str, advice: str) -> None:
        limit = self.limits.max_message_bytes - 4096  # room for the rest of the response message
        if nbytes > limit:
            raise ResultTooLargeError(f"{subject} {nbytes / 2**20:.1f} MB, over the "
                                      f"{self.limits.max_message_bytes / 2**20:.0f} MB message limit; {advice}")

    @staticmethod
    def _output_format(name: str) -> str:
        """An output format name -> its Pillow name among OUTPUT_FORMATS ("" stays "": the input's format)."""
        if not name:
            return ""
        try:
            fmt = images.normalize_format(name)
        except ConfigError:
            fmt = ""
        if fmt not in OUTPUT_FORMATS:
            raise InvalidRequestError(f"unknown output format {name!r}; use png, jpeg or webp")
        return fmt
