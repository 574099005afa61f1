"""U-Net generator of pix2pix (Isola et al. 2017; Ronneberger et al. 2015).

``num_downs`` stride-2 4x4 convs (C64-C128-C256-C512-C512-...) down to 1x1 for an input of
2**num_downs pixels, mirrored by transposed convs, with a skip connection (channel concat) around
every level; dropout 0.5 in the innermost-but-one ``num_downs - 5`` decoder blocks. Built
recursively from the innermost block outwards, so the keys nest as ``model.model.1.model.3...``
exactly like pytorch-CycleGAN-and-pix2pix, whose checkpoints load with ``strict=True``.

``keep_luma=True`` makes the U-Net a colouriser that keeps the input's brightness: grey in
(1 channel), RGB out (3 channels), but the network itself predicts only the two chroma channels
(BT.601 Cb and Cr, each a tanh output, which spans their whole range in [-1, 1] image units) and
the output is the YCbCr -> RGB conversion of (input luma, Cb, Cr). This is the pix2pix reference
code's colourisation recipe (L in, ab out) with YCbCr instead of Lab, because its inverse is
linear (a few multiply-adds inside the exported ONNX graph, so a server or ``translate run`` needs
nothing special). The luma weights are those of ``translate.images.rgb_to_luma`` (the grey that
``translate data gray`` and the image pipeline make), so the output's luma equals the input up to
clamping. The last transposed conv starts at zero
(``zero_init``, honoured by ``translate.nets.init_weights``): an untrained model outputs the grey
input itself, the trivial baseline, and training only adds colour.
"""

from __future__ import annotations

import torch
from torch import nn

from translate.errors import ConfigError
from translate.nets.norms import NORMS, check_image_input, check_norm, conv_bias, norm_layer
from translate.nets.requirements import NetworkRequirements

# BT.601 (full range, as JPEG/JFIF): Y = 0.299 R + 0.587 G + 0.114 B, the weights of
# translate.images.rgb_to_luma; Cb = (B - Y) / 1.772, Cr = (R - Y) / 1.402. In [-1, 1] image
# units (p = 2 * p01 - 1, so a difference doubles) Cb and Cr span [-1, 1]: exactly a tanh's range.
_KR, _KB = 0.299, 0.114
_KG = 1 - _KR - _KB
CHROMA_TO_RGB = (  # (Cb, Cr) coefficients per output channel, added to Y
    (0.0, 2 * (1 - _KR)),  # R = Y + 1.402 Cr
    (-2 * _KB * (1 - _KB) / _KG, -2 * _KR * (1 - _KR) / _KG),  # G = Y - 0.344 Cb - 0.714 Cr
    (2 * (1 - _KB), 0.0),  # B = Y + 1.772 Cb
)


def luma_chroma_to_rgb(y: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """[N, 1, H, W] luma and [N, 2, H, W] (Cb, Cr), all in [-1, 1] image units -> [N, 3, H, W] RGB.

    Written out per channel so the exported graph stays a few multiply-adds. Values may leave
    [-1, 1] for saturated colours; post-processing clamps, as for every generator.
    """
    cb, cr = chroma[:, 0:1], chroma[:, 1:2]
    return torch.cat([y + kb * cb + kr * cr for kb, kr in CHROMA_TO_RGB], dim=1)


class UnetSkipBlock(nn.Module):
    """One U-Net level: down -> ``submodule`` -> up, with the input concatenated to the output.

    The outermost level has no norm and no skip concat (it ends in tanh); the innermost level
    has no submodule and no norm after its downconv (its output is 1x1 at the design size).
    """

    def __init__(
        self,
        outer_ch: int,
        inner_ch: int,
        *,
        input_ch: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        bias = conv_bias(norm)
        input_ch = outer_ch if input_ch is None else input_ch
        down_conv = nn.Conv2d(input_ch, inner_ch, 4, stride=2, padding=1, bias=bias)
        if outermost:
            layers = [
                down_conv,
                submodule,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner_ch * 2, outer_ch, 4, stride=2, padding=1),
                nn.Tanh(),
            ]
        elif innermost:
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner_ch, outer_ch, 4, stride=2, padding=1, bias=bias),
                norm_layer(norm, outer_ch),
            ]
        else:
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                norm_layer(norm, inner_ch),
                submodule,
                nn.ReLU(True),
                nn.ConvTranspose2d(inner_ch * 2, outer_ch, 4, stride=2, padding=1, bias=bias),
                norm_layer(norm, outer_ch),
            ]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, outer, H, W] -> [N, 2*outer, H, W] (outermost: [N, out, H, W])."""
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """pix2pix U-Net; unet_256 is ``num_downs=8``, unet_128 is ``num_downs=7``.

    Input and output in [-1, 1]; H and W must be multiples of ``pad_multiple = 2**num_downs``
    (pad with translate.images.pad_to_multiple and crop back).
    """

    @classmethod
    def requirements(cls, *, num_downs: int = 8, **_) -> NetworkRequirements:
        """Inputs are multiples of 2**num_downs: every level halves them, down to 1x1 at the design size.

        ``keep_luma`` is a flag (the constructor also needs 1 input and 3 output channels for it).
        """
        multiple = 2**num_downs
        return NetworkRequirements(choices={"norm": NORMS, "keep_luma": (False, True)}, input_multiple=multiple,
                                   min_input_size=multiple)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = True,
        keep_luma: bool = False,
    ):
        super().__init__()
        check_norm(norm)
        if keep_luma and (in_channels, out_channels) != (1, 3):
            raise ConfigError(f"UnetGenerator keep_luma colourises grey images: it needs in_channels=1 and "
                              f"out_channels=3 (got {in_channels} and {out_channels})")
        if num_downs < 5:
            raise ConfigError(f"UnetGenerator needs num_downs >= 5 (got {num_downs}); unet_128 uses 7, unet_256 uses 8")
        if ngf < 1 or in_channels < 1 or out_channels < 1:
            raise ConfigError(
                f"UnetGenerator needs positive widths (got ngf={ngf}, in={in_channels}, out={out_channels})"
            )
        self.in_channels, self.out_channels, self.keep_luma = in_channels, out_channels, bool(keep_luma)
        self.pad_multiple = self.requirements(num_downs=num_downs).input_multiple

        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):  # the extra 512-channel levels are the ones with dropout
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        predicted = 2 if keep_luma else out_channels  # keep_luma: the U-Net predicts (Cb, Cr) only
        self.model = UnetSkipBlock(predicted, ngf, input_ch=in_channels, submodule=block, outermost=True, norm=norm)
        if keep_luma:
            last = self.model.model[3]  # the outermost transposed conv, just before tanh
            assert isinstance(last, nn.ConvTranspose2d), type(last)
            last.zero_init = True  # Cb = Cr = 0 at the start: output == the grey input
            if not last.weight.is_meta:
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in, H, W] -> [N, out, H, W]; H and W must be multiples of ``pad_multiple``."""
        check_image_input(x, self.in_channels, self.pad_multiple, "UnetGenerator")
        if self.keep_luma:  # [N, 1, H, W] luma + predicted [N, 2, H, W] chroma -> [N, 3, H, W]
            return luma_chroma_to_rgb(x, self.model(x))
        return self.model(x)
