"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017, "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", figure 4).

Generator: 9x9 conv + PReLU head, ``num_blocks`` residual blocks (conv3x3-BN-PReLU-conv3x3-BN +
skip), conv3x3-BN, a global skip from the head, then log2(scale) sub-pixel stages (conv3x3 to 4x
channels, PixelShuffle(2), PReLU; Shi et al. 2016) and a 9x9 conv to the output. The output is
linear (not tanh) so MSE pre-training is not squashed; post-processing clamps to [-1, 1].

``global_skip=True`` adds the bicubic upsampling of the input to the output, so the network learns
only the residual over bicubic (as BasicSR's MSRResNet does with bilinear; Wang et al. 2018). Its
last conv starts at zero (``tail.zero_init``, honoured by ``translate.nets.init_weights``), so an
untrained network outputs exactly the bicubic image and training starts at bicubic quality
instead of several dB below it. PyTorch's bicubic (a = -0.75, ONNX ``Resize`` cubic with the same
coefficient) is the skip's filter; it exports to ONNX with dynamic height and width.

Discriminator: eight 3x3 conv layers (64-64-128-128-256-256-512-512 channels, stride 2 on every
second one, BN after all but the first, LeakyReLU 0.2), then Dense(1024)-LeakyReLU-Dense(1).
The paper fed 96x96 crops; an adaptive average pool to 4x4 before the dense layers lets it take
any input of at least 64 px.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from translate.errors import ConfigError, ImageError
from translate.nets.norms import check_image_input
from translate.nets.requirements import NetworkRequirements

SCALES = (2, 4, 8)


class SRResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN with an identity skip."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feat, num_feat, 3, padding=1),
            nn.BatchNorm2d(num_feat),
            nn.PReLU(num_feat),
            nn.Conv2d(num_feat, num_feat, 3, padding=1),
            nn.BatchNorm2d(num_feat),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, F, H, W] -> [N, F, H, W]."""
        return x + self.body(x)


class SRResNet(nn.Module):
    """Super-resolution ResNet: [N, in, H, W] in [-1, 1] -> [N, out, H*scale, W*scale]."""

    @classmethod
    def requirements(cls, **_) -> NetworkRequirements:
        """Scales that are powers of two (one PixelShuffle(2) stage each); any input size.

        ``global_skip`` is a flag (the constructor also needs in_channels == out_channels for it).
        """
        return NetworkRequirements(choices={"scale": SCALES, "global_skip": (False, True)})

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, num_feat: int = 64, num_blocks: int = 16, scale: int = 4,
        global_skip: bool = False,
    ):
        super().__init__()
        if scale not in SCALES:
            raise ConfigError(f"SRResNet scale must be one of {SCALES} (got {scale})")
        if num_blocks < 1 or num_feat < 1 or in_channels < 1 or out_channels < 1:
            raise ConfigError(f"SRResNet needs num_blocks >= 1 and positive widths (got {num_blocks}, {num_feat})")
        if global_skip and in_channels != out_channels:
            raise ConfigError(f"SRResNet global_skip adds the upsampled input to the output, so it needs "
                              f"in_channels == out_channels (got {in_channels} and {out_channels})")
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, scale
        self.global_skip = bool(global_skip)
        self.pad_multiple = 1
        self.head = nn.Sequential(nn.Conv2d(in_channels, num_feat, 9, padding=4), nn.PReLU(num_feat))
        self.body = nn.Sequential(*[SRResidualBlock(num_feat) for _ in range(num_blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.BatchNorm2d(num_feat))
        stages: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            stages += [nn.Conv2d(num_feat, num_feat * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(num_feat)]
        self.upsample = nn.Sequential(*stages)
        self.tail = nn.Conv2d(num_feat, out_channels, 9, padding=4)
        if self.global_skip:
            # the residual branch starts at zero: untrained output == bicubic(x). The flag makes
            # init_weights (which build_network runs after construction) keep the zeros.
            self.tail.zero_init = True
            if not self.tail.weight.is_meta:
                nn.init.zeros_(self.tail.weight)
                nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in, H, W] -> [N, out, H*scale, W*scale]."""
        check_image_input(x, self.in_channels, 1, "SRResNet")
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))  # the paper's skip around the residual blocks
        out = self.tail(self.upsample(feat))
        if self.global_skip:  # [N, C, H*s, W*s]: learn only what bicubic upsampling misses
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out


class SRDiscriminator(nn.Module):
    """SRGAN VGG-style discriminator: [N, in, H, W] (H, W >= 64) -> [N, 1] logits."""

    min_size = 64

    @classmethod
    def requirements(cls, **_) -> NetworkRequirements:
        """Inputs of at least 64 px: four stride-2 convs must leave the 4x4 map the dense layers read."""
        return NetworkRequirements(min_input_size=cls.min_size)

    def __init__(self, in_channels: int = 3, num_feat: int = 64):
        super().__init__()
        if num_feat < 1 or in_channels < 1:
            raise ConfigError(f"SRDiscriminator needs positive widths (got in={in_channels}, num_feat={num_feat})")
        self.in_channels = in_channels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 3, padding=1), nn.LeakyReLU(0.2, True)]
        ch = num_feat
        # (out channels, stride) of conv layers 2..8 of the paper's figure 4
        plan = [(num_feat, 2), (num_feat * 2, 1), (num_feat * 2, 2), (num_feat * 4, 1), (num_feat * 4, 2),
                (num_feat * 8, 1), (num_feat * 8, 2)]
        for out_ch, stride in plan:
            layers += [nn.Conv2d(ch, out_ch, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                       nn.LeakyReLU(0.2, True)]
            ch = out_ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(4)  # 64 px -> exactly 4x4 after four stride-2 convs
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(ch * 16, 1024), nn.LeakyReLU(0.2, True), nn.Linear(1024, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, in, H, W] -> [N, 1] real/fake logits."""
        check_image_input(x, self.in_channels, 1, "SRDiscriminator")
        if min(x.shape[-2:]) < self.min_size:
            raise ImageError(
                f"SRDiscriminator needs inputs of at least {self.min_size}x{self.min_size} px, got "
                f"{x.shape[-2]}x{x.shape[-1]}; train with larger HR crops (e.g. 96 or 128)"
            )
        return self.classifier(self.pool(self.features(x)))
