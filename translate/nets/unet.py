"""U-Net generator of pix2pix (Isola et al. 2017; Ronneberger et al. 2015).

``num_downs`` stride-2 4x4 convs (C64-C128-C256-C512-C512-...) down to 1x1 for an input of
2**num_downs pixels, mirrored by transposed convs, with a skip connection (channel concat) around
every level; dropout 0.5 in the innermost-but-one ``num_downs - 5`` decoder blocks. Built
recursively from the innermost block outwards, so the keys nest as ``model.model.1.model.3...``
exactly like pytorch-CycleGAN-and-pix2pix, whose checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import torch
from torch import nn

from translate.errors import ConfigError
from translate.nets.norms import NORMS, check_image_input, check_norm, conv_bias, norm_layer
from translate.nets.requirements import NetworkRequirements


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
        """Inputs are multiples of 2**num_downs: every level halves them, down to 1x1 at the design size."""
        multiple = 2**num_downs
        return NetworkRequirements(choices={"norm": NORMS}, input_multiple=multiple, min_input_size=multiple)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = True,
    ):
        super().__init__()
        check_norm(norm)
        if num_downs < 5:
            raise ConfigError(f"UnetGenerator needs num_downs >= 5 (got {num_downs}); unet_128 uses 7, unet_256 uses 8")
        if ngf < 1 or in_channels < 1 or out_channels < 1:
            raise ConfigError(
                f"UnetGenerator needs positive widths (got ngf={ngf}, in={in_channels}, out={out_channels})"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.pad_multiple = self.requirements(num_downs=num_downs).input_multiple

        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):  # the extra 512-channel levels are the ones with dropout
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(out_channels, ngf, input_ch=in_channels, submodule=block, outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in, H, W] -> [N, out, H, W]; H and W must be multiples of ``pad_multiple``."""
        check_image_input(x, self.in_channels, self.pad_multiple, "UnetGenerator")
        return self.model(x)
