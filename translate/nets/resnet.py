"""ResNet generator of CycleGAN (Zhu et al. 2017), after Johnson et al. 2016 (fast style transfer).

c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` residual blocks at 4*ngf channels, two
stride-2 transposed-conv upsamplings, c7s1-out, tanh. Layer order and nesting (``model.<i>``,
``model.<i>.conv_block.<j>``) match pytorch-CycleGAN-and-pix2pix exactly, so its published
``latest_net_G.pth`` files load with ``strict=True``.
"""

from __future__ import annotations

import torch
from torch import nn

from translate.errors import ConfigError
from translate.nets.norms import NORMS, check_image_input, check_norm, conv_bias, norm_layer
from translate.nets.requirements import NetworkRequirements

PADDINGS = ("reflect", "replicate", "zero")


def _pad_layers(padding_type: str, amount: int) -> tuple[list[nn.Module], int]:
    """Explicit pad layer(s) and the conv's own zero padding for one 'same' conv."""
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(amount)], 0
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(amount)], 0
    return [], amount


class ResnetBlock(nn.Module):
    """Two 3x3 convs with norm (ReLU between, optional dropout 0.5) plus an identity skip."""

    def __init__(self, dim: int, padding_type: str, norm: str, use_dropout: bool):
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = []
        pads, p = _pad_layers(padding_type, 1)
        layers += [*pads, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(norm, dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        pads, p = _pad_layers(padding_type, 1)
        layers += [*pads, nn.Conv2d(dim, dim, 3, padding=p, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, dim, H, W] -> [N, dim, H, W]."""
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Image-to-image ResNet generator; input and output in [-1, 1], H and W multiples of 4."""

    n_downsampling = 2

    @classmethod
    def requirements(cls, *, norm: str = "instance", padding_type: str = "reflect", **_) -> NetworkRequirements:
        """Inputs are multiples of 4 (two stride-2 stages). At the bottleneck (1/4 of the input) reflection
        padding and instance norm need more than one pixel, so with either the input is at least 8 px."""
        multiple = 2**cls.n_downsampling
        one_pixel_ok = padding_type != "reflect" and norm != "instance"
        return NetworkRequirements(choices={"norm": NORMS, "padding_type": PADDINGS}, input_multiple=multiple,
                                   min_input_size=multiple if one_pixel_ok else 2 * multiple)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        norm: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
        padding_type: str = "reflect",
    ):
        super().__init__()
        check_norm(norm)
        if padding_type not in PADDINGS:
            raise ConfigError(f"unknown padding_type {padding_type!r}; choose one of {', '.join(PADDINGS)}")
        if n_blocks < 0 or ngf < 1 or in_channels < 1 or out_channels < 1:
            raise ConfigError(
                f"ResnetGenerator needs n_blocks >= 0 and positive widths "
                f"(got n_blocks={n_blocks}, ngf={ngf}, in={in_channels}, out={out_channels})"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.pad_multiple = self.requirements(norm=norm, padding_type=padding_type).input_multiple
        bias = conv_bias(norm)

        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        ch = ngf
        for _ in range(self.n_downsampling):
            layers += [
                nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=bias),
                norm_layer(norm, ch * 2),
                nn.ReLU(True),
            ]
            ch *= 2
        layers += [ResnetBlock(ch, padding_type, norm, use_dropout) for _ in range(n_blocks)]
        for _ in range(self.n_downsampling):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                norm_layer(norm, ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in, H, W] -> [N, out, H, W]; H and W must be multiples of ``pad_multiple``."""
        check_image_input(x, self.in_channels, self.pad_multiple, "ResnetGenerator")
        return self.model(x)
