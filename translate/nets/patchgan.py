"""PatchGAN and PixelGAN discriminators of pix2pix (Isola et al. 2017, section 3.2.2).

``PatchDiscriminator`` with ``n_layers=3`` is the 70x70 PatchGAN: C64-C128-C256-C512 (4x4
convs, the first three stride 2, no norm on the first) then a 4x4 conv to one logit per patch.
``PixelDiscriminator`` is the 1x1 PixelGAN. Keys (``model.<i>`` / ``net.<i>``) match
pytorch-CycleGAN-and-pix2pix so its discriminator checkpoints load with ``strict=True``.
Both return raw logits (no sigmoid); the GAN loss decides how to read them.
"""

from __future__ import annotations

import torch
from torch import nn

from translate.errors import ConfigError
from translate.nets.norms import NORMS, check_image_input, check_norm, conv_bias, norm_layer
from translate.nets.requirements import NetworkRequirements


class PatchDiscriminator(nn.Module):
    """N-layer PatchGAN: [N, in, H, W] -> [N, 1, H', W'] logits (30x30 for 256x256, n_layers=3)."""

    @classmethod
    def requirements(cls, *, n_layers: int = 3, **_) -> NetworkRequirements:
        """n_layers stride-2 convs halve the side, then two 4x4 stride-1 convs take one pixel each: the
        input needs at least 3 * 2**n_layers px (24 for the 70x70 PatchGAN) to leave one patch."""
        return NetworkRequirements(choices={"norm": NORMS}, min_input_size=3 * 2 ** max(n_layers, 0))

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        check_norm(norm)
        if n_layers < 1 or ndf < 1 or in_channels < 1:
            raise ConfigError(f"PatchDiscriminator needs n_layers >= 1 and positive widths (got {n_layers}, {ndf})")
        self.in_channels = in_channels
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1  # the last feature layer keeps the resolution
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in, H, W] -> [N, 1, H', W'] patch logits."""
        check_image_input(x, self.in_channels, 1, "PatchDiscriminator")
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PixelGAN: one logit per pixel, [N, in, H, W] -> [N, 1, H, W]."""

    @classmethod
    def requirements(cls, **_) -> NetworkRequirements:
        """Any input size (1x1 convs only)."""
        return NetworkRequirements(choices={"norm": NORMS})

    def __init__(self, in_channels: int = 3, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        bias = conv_bias(norm)
        if ndf < 1 or in_channels < 1:
            raise ConfigError(f"PixelDiscriminator needs positive widths (got in={in_channels}, ndf={ndf})")
        self.in_channels = in_channels
        # the reference also drops the bias of the final 1x1 conv unless instance norm is used
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in, H, W] -> [N, 1, H, W] pixel logits."""
        check_image_input(x, self.in_channels, 1, "PixelDiscriminator")
        return self.net(x)
