"""Image quality metrics: PSNR, SSIM and Frechet distances over a pluggable feature network.

Protocol of the super-resolution literature (SRCNN, SRGAN, EDSR; as BasicSR computes it):
- images are uint8 HWC (or float in ``[0, data_range]``); ``crop_border`` pixels (the scale
  factor, e.g. 4) are removed from every side first;
- ``y_channel=True`` evaluates the luma of ITU-R BT.601 YCbCr as MATLAB's ``rgb2ycbcr``
  computes it: Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1] (Y in [16, 235]),
  kept as float (no rounding);
- SSIM (Wang et al. 2004, "Image Quality Assessment: From Error Visibility to Structural
  Similarity"): 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, population statistics,
  averaged over the "valid" positions (where the window fits inside the image) and over channels.

Frechet distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule"):
``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` over feature vectors. It is "FID" only
with the Inception-v3 FID network (``InceptionFeatures``); with any other network the result is
named ``"FD (<net>)"``, because its numbers are not comparable with published FIDs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from translate.errors import ConfigError, DataError, ImageError, ModelError, WeightsUnavailableError

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
# MATLAB rgb2ycbcr, Y row: offsets/coefficients for R, G, B in [0, 1] giving Y on the 0-255 scale
Y_COEFFS = np.array([65.481, 128.553, 24.966])
Y_OFFSET = 16.0


# ---------------------------------------------------------------- PSNR / SSIM


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """A model output in [-1, 1] ([C, H, W] or [1, C, H, W]) -> uint8 HWC, rounded like a saved image."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ImageError(f"expected one image, got a batch of {x.shape[0]}; convert images one at a time")
        x = x[0]
    if x.dim() != 3:
        raise ImageError(f"expected an image tensor [C, H, W], got shape {tuple(x.shape)}")
    arr = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round()
    return arr.to(torch.uint8).permute(1, 2, 0).numpy()


def _as_hwc(img, data_range: float) -> tuple[np.ndarray, float]:
    """float64 [H, W, C] copy of an image; torch tensors are taken as [-1, 1] and quantised to uint8."""
    if torch.is_tensor(img):
        if data_range != 255:
            raise ConfigError("tensors are converted to uint8 (data_range 255); pass numpy arrays for other ranges")
        img = tensor_to_uint8(img)
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ImageError(f"expected an HxW or HxWxC image with C in (1, 3), got shape {arr.shape}")
    return arr.astype(np.float64), float(data_range)


def rgb_to_y(img: np.ndarray, data_range: float = 255) -> np.ndarray:
    """BT.601 luma (MATLAB ``rgb2ycbcr``), [H, W, 3] in [0, data_range] -> [H, W] float on the 0-255 scale."""
    return Y_OFFSET + (np.asarray(img, dtype=np.float64) / data_range) @ Y_COEFFS


def _prepare_pair(a, b, y_channel: bool, crop_border: int, data_range: float):
    x, data_range = _as_hwc(a, data_range)
    y, _ = _as_hwc(b, data_range)
    if x.shape != y.shape:
        raise ImageError(f"images differ in shape: {x.shape} vs {y.shape}; compare an output with its own target")
    if crop_border < 0 or 2 * crop_border >= min(x.shape[:2]):
        raise ConfigError(f"crop_border={crop_border} leaves nothing of a {x.shape[0]}x{x.shape[1]} image")
    if crop_border:
        x = x[crop_border:-crop_border, crop_border:-crop_border]
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and x.shape[2] == 3:  # a grey image already is its own luma
        x, y, data_range = rgb_to_y(x, data_range)[:, :, None], rgb_to_y(y, data_range)[:, :, None], 255.0
    return x, y, data_range


def psnr(a, b, *, y_channel: bool = False, crop_border: int = 0, data_range: float = 255) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``; ``inf`` for identical images."""
    x, y, peak = _prepare_pair(a, b, y_channel, crop_border, data_range)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak**2 / mse)


def _gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    half = (size - 1) / 2
    k = np.exp(-((np.arange(size) - half) ** 2) / (2 * sigma**2))
    return k / k.sum()


def _filter_valid(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable correlation of [H, W] with 1-D kernel ``k`` on both axes, 'valid' positions only."""
    rows = np.lib.stride_tricks.sliding_window_view(img, k.size, axis=0) @ k  # [H-k+1, W]
    return np.lib.stride_tricks.sliding_window_view(rows, k.size, axis=1) @ k  # [H-k+1, W-k+1]


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    k = _gaussian_window()
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, k), _filter_valid(y, k)
    var_x = _filter_valid(x * x, k) - mu_x**2
    var_y = _filter_valid(y * y, k) - mu_y**2
    cov = _filter_valid(x * y, k) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def ssim(a, b, *, y_channel: bool = False, crop_border: int = 0, data_range: float = 255) -> float:
    """Structural similarity (Gaussian 11x11, sigma 1.5), per channel then averaged; 1.0 for identical images."""
    x, y, peak = _prepare_pair(a, b, y_channel, crop_border, data_range)
    if min(x.shape[:2]) < SSIM_WINDOW:
        raise ImageError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after cropping, got {x.shape[:2]}")
    return float(np.mean([_ssim_channel(x[:, :, c], y[:, :, c], peak) for c in range(x.shape[2])]))


# ---------------------------------------------------------------- Frechet distance


def frechet_distance(feats_a, feats_b, *, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ([N, D] and [M, D]).

    The matrix square root (scipy.linalg.sqrtm) of a near-singular product can come out
    non-finite; then ``eps`` is added to both diagonals and it is recomputed. A tiny imaginary
    part from round-off is dropped; a large one means too few samples for D dimensions.
    """
    from scipy import linalg  # scipy is a core dependency (pyproject); needed only here

    a, b = np.asarray(feats_a, dtype=np.float64), np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DataError(f"feature sets must be [N, D] and [M, D] with one D, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise DataError(f"need at least 2 feature vectors per set for a covariance, got {len(a)} and {len(b)}")
    if min(len(a), len(b)) <= a.shape[1]:
        warnings.warn(
            f"Frechet distance from {len(a)} and {len(b)} samples of {a.shape[1]}-d features: the covariances are "
            "singular and the value is strongly biased; use (many) more images than feature dimensions",
            stacklevel=2,
        )
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # singular products are handled below (and warned about above)
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(cov_a.shape[0]) * eps
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            worst = np.max(np.abs(covmean.imag))
            raise DataError(f"covariance square root has an imaginary part of {worst:.3g}; use more images than D")
        covmean = covmean.real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


# ---------------------------------------------------------------- feature networks

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_NORMALIZATIONS = ("imagenet", "minus1_1", "uint8")


def _to_uint8_batch(images) -> list[np.ndarray]:
    """A list of uint8 HWC arrays from a list/array of uint8 HWC images or a float tensor batch in [-1, 1]."""
    if torch.is_tensor(images):
        if images.dim() != 4:
            raise ImageError(f"expected a [N, C, H, W] tensor in [-1, 1], got shape {tuple(images.shape)}")
        return [tensor_to_uint8(t) for t in images]
    out = []
    for img in images:
        arr = np.asarray(img)
        if arr.dtype != np.uint8:
            raise ImageError(f"feature extractors take uint8 HWC images (or a [-1, 1] tensor batch), got {arr.dtype}")
        out.append(arr[:, :, None] if arr.ndim == 2 else arr)
    return out


class TorchFeatureExtractor:
    """Any torch module as the feature network of a Frechet distance, named ``"FD (<name>)"``.

    Images (uint8 HWC arrays, or a [N, C, H, W] float tensor in [-1, 1]) are batched, grey ones
    repeated to RGB, optionally resized to ``image_size`` (bilinear), normalised
    (``"imagenet"`` mean/std of [0, 1] RGB, ``"minus1_1"`` = [-1, 1], ``"uint8"`` = 0-255 float),
    and fed to ``module`` in eval mode without gradients. A 4-D output is global-average-pooled,
    anything else flattened to [N, D].
    """

    def __init__(
        self,
        module: nn.Module | Callable,
        name: str,
        *,
        image_size: int | tuple[int, int] | None = None,
        normalization: str = "imagenet",
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        call_kwargs: Mapping[str, object] | None = None,
    ) -> None:
        if normalization not in INPUT_NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {normalization!r}; choose {', '.join(INPUT_NORMALIZATIONS)}")
        self.module = module.eval().to(device) if isinstance(module, nn.Module) else module
        self.name = name
        self.image_size = (image_size, image_size) if isinstance(image_size, int) else image_size
        self.normalization = normalization
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.call_kwargs = dict(call_kwargs or {})

    @property
    def metric_name(self) -> str:
        """How results over this network are labelled: never "FID" unless it is the FID Inception."""
        return f"FD ({self.name})"

    def _batch_tensor(self, images: list[np.ndarray]) -> torch.Tensor:
        tensors = []
        for img in images:
            t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()  # [C, H, W] 0-255
            if t.shape[0] == 1:
                t = t.expand(3, -1, -1)
            if self.image_size is not None and tuple(t.shape[1:]) != tuple(self.image_size):
                t = nn.functional.interpolate(t[None], size=self.image_size, mode="bilinear", align_corners=False)[0]
            tensors.append(t)
        x = torch.stack(tensors).to(self.device)  # [N, 3, H, W], 0-255
        if self.normalization == "imagenet":
            mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
            return (x / 255.0 - mean) / std
        if self.normalization == "minus1_1":
            return x / 127.5 - 1.0
        return x

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x, **self.call_kwargs)

    @torch.no_grad()
    def __call__(self, images) -> np.ndarray:
        """Features [N, D] (float64 numpy) of ``images``."""
        images = _to_uint8_batch(images)
        if not images:
            raise DataError("no images to extract features from")
        sizes = {img.shape[:2] for img in images}
        if self.image_size is None and len(sizes) > 1:  # checked up front: batches must agree with each other too
            raise ImageError(f"images of different sizes {sorted(sizes)}; set image_size= to resize them")
        feats = []
        for start in range(0, len(images), self.batch_size):
            out = self._run(self._batch_tensor(images[start : start + self.batch_size]))
            if out.dim() == 4:
                out = out.mean(dim=(2, 3))
            feats.append(out.reshape(out.shape[0], -1).double().cpu().numpy())
        return np.concatenate(feats)


class InceptionFeatures(TorchFeatureExtractor):
    """The Inception-v3 FID network (TF "2015-12-05" graph) from a local TorchScript file: gives true FID.

    Expects a TorchScript module called as ``module(x, return_features=True)`` with ``x`` a uint8
    [N, 3, H, W] tensor (it resizes to 299 itself) that returns [N, 2048] pool features, which is
    the interface of the Inception detector used by the StyleGAN2-ADA/StyleGAN3 metrics
    (``inception-2015-12-05``); re-save it with ``torch.jit.save`` if you have it as a pickle.
    These weights are not available offline here, so nothing in the test suite computes an FID.
    """

    def __init__(self, path: str | os.PathLike | None, *, batch_size: int = 32, device: str = "cpu") -> None:
        if path is None or not os.path.isfile(path):
            raise WeightsUnavailableError(
                f"Inception FID weights not found at {path!r}. On a machine with internet, get the TorchScript "
                "Inception-v3 FID network (inception-2015-12-05, as used by the StyleGAN2-ADA/StyleGAN3 metrics), "
                "save it with torch.jit.save and pass its path; or use TorchFeatureExtractor with another network "
                "and report the result as 'FD (<net>)', not FID."
            )
        try:
            module = torch.jit.load(str(path), map_location=device)
        except Exception as exc:  # torch.jit raises RuntimeError/ValueError variants for foreign files
            hint = "re-save the network with torch.jit.save"
            raise ModelError(f"{path} is not a TorchScript file ({exc}); {hint}") from exc
        super().__init__(
            module, "Inception-v3 FID", normalization="uint8", batch_size=batch_size, device=device,
            call_kwargs={"return_features": True},
        )

    @property
    def metric_name(self) -> str:
        """FID: this is the network the FID is defined on."""
        return "FID"

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.round().to(torch.uint8), **self.call_kwargs)


class FrechetResult(NamedTuple):
    """A Frechet distance with the name of its feature network ("FID" or "FD (<net>)") and sample counts."""

    metric: str
    value: float
    count_a: int
    count_b: int


def frechet_distance_of_images(
    images_a: Iterable, images_b: Iterable, extractor: TorchFeatureExtractor
) -> FrechetResult:
    """Frechet distance between two image sets in the feature space of ``extractor``."""
    feats_a, feats_b = extractor(images_a), extractor(images_b)
    return FrechetResult(extractor.metric_name, frechet_distance(feats_a, feats_b), len(feats_a), len(feats_b))


class _VGGLayer(nn.Module):
    """One layer of a ``translate.perceptual.VGGFeatures`` as a plain module (input RGB in [-1, 1])."""

    def __init__(self, vgg: nn.Module, layer: str) -> None:
        super().__init__()
        vgg.check_layers([layer])
        self.vgg, self.layer = vgg, layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vgg(x, [self.layer])[self.layer]


def vgg_feature_extractor(
    weights="auto", layer: str | None = None, *, download: bool = True, image_size=None, batch_size: int = 32,
    device: str = "cpu",
) -> TorchFeatureExtractor:
    """An offline-capable FD feature net: pooled VGG features (``translate.perceptual.load_vgg`` weights).

    ``layer`` defaults to the deepest ReLU (relu5_4 on VGG19, relu5_3 on VGG16). The metric is named
    after the weights, e.g. ``"FD (hed-vgg16 relu5_3)"``.
    """
    from translate.perceptual import SRGAN_LAYER, VGGFeatures, load_vgg

    vgg = weights if isinstance(weights, VGGFeatures) else load_vgg(weights, download=download)
    layer = layer or SRGAN_LAYER[vgg.arch]
    name = f"{vgg.source.split(' (')[0]} {layer}"
    return TorchFeatureExtractor(
        _VGGLayer(vgg, layer), name, image_size=image_size, normalization="minus1_1", batch_size=batch_size,
        device=device,
    )
