"""DCGAN generator and discriminator (Radford et al. 2016), optionally class-conditional.

Generator: z [N, nz] -> transposed convs (BN + ReLU, tanh at the end) -> [N, C, S, S] with
S in {28, 32, 64}: a first 4x4 (7x7 for 28 px) projection, then stride-2 4x4 transposed convs
halving the width each time (ngf*8 -> ngf for 64 px). Discriminator mirrors it with stride-2
convs, LeakyReLU 0.2 and batch norm (none on the first layer), ending in a conv to one logit.

Conditional variants (``num_classes > 0``): G concatenates a learned label embedding to z
(Mirza & Osindero 2014); D adds a projection term <embed(y), pooled features> to its logit
(Miyato & Koyama 2018, "cGANs with Projection Discriminator").
"""

from __future__ import annotations

import torch
from torch import nn

from translate.errors import ConfigError, ImageError
from translate.nets.norms import NORMS, check_norm, norm_layer
from translate.nets.requirements import NetworkRequirements

IMAGE_SIZES = (28, 32, 64)


def _plan(image_size: int) -> tuple[int, int]:
    """(base spatial size, number of stride-2 stages) for an output size."""
    if image_size not in IMAGE_SIZES:
        raise ConfigError(f"DCGAN image_size must be one of {IMAGE_SIZES} (got {image_size})")
    base, stages = image_size, 0
    while base not in (4, 7):
        base, stages = base // 2, stages + 1
    return base, stages


def _check_labels(labels: torch.Tensor | None, num_classes: int, n: int, who: str) -> None:
    if num_classes == 0:
        if labels is not None:
            raise ConfigError(f"{who} is unconditional (num_classes=0); call it without labels")
        return
    if labels is None:
        raise ConfigError(f"{who} is class-conditional ({num_classes} classes); pass labels [N] int64")
    if labels.shape != (n,) or labels.dtype not in (torch.int64, torch.int32):
        raise ConfigError(
            f"{who} labels must be an int64 tensor of shape [{n}], got {labels.dtype} {tuple(labels.shape)}"
        )
    if not torch.compiler.is_compiling() and not torch.jit.is_tracing() and labels.numel():
        if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
            raise ConfigError(f"{who} labels must lie in [0, {num_classes - 1}]")


class DCGANGenerator(nn.Module):
    """z [N, nz] (+ labels [N]) -> images [N, out_channels, image_size, image_size] in [-1, 1]."""

    @classmethod
    def requirements(cls, **_) -> NetworkRequirements:
        """Output sizes with a 4x4 (7x7 for 28 px) base that doubles to the size; no image input."""
        return NetworkRequirements(choices={"image_size": IMAGE_SIZES})

    def __init__(self, nz: int = 100, ngf: int = 64, out_channels: int = 3, image_size: int = 64, num_classes: int = 0):
        super().__init__()
        base, stages = _plan(image_size)
        if nz < 1 or ngf < 1 or out_channels not in (1, 3) or num_classes < 0:
            raise ConfigError(
                f"DCGANGenerator needs nz, ngf >= 1, out_channels 1 or 3 and num_classes >= 0 "
                f"(got nz={nz}, ngf={ngf}, out_channels={out_channels}, num_classes={num_classes})"
            )
        self.nz, self.num_classes, self.image_size = nz, num_classes, image_size
        self.in_channels, self.out_channels, self.pad_multiple = 0, out_channels, 1
        # the label embedding has the size of z, so conditioning weighs as much as the noise
        self.embed = nn.Embedding(num_classes, nz) if num_classes else None
        ch = ngf * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz * (2 if num_classes else 1), ch, base, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z [N, nz], labels [N] int64 or None -> [N, C, S, S]."""
        if z.dim() != 2 or z.shape[1] != self.nz:
            raise ConfigError(f"DCGANGenerator expects z of shape [N, {self.nz}], got {tuple(z.shape)}")
        _check_labels(labels, self.num_classes, z.shape[0], "DCGANGenerator")
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)
        return self.main(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """images [N, C, S, S] (+ labels [N]) -> [N] real/fake logits."""

    @classmethod
    def requirements(cls, *, image_size: int = 64, **_) -> NetworkRequirements:
        """The sizes DCGANGenerator makes; inputs are exactly ``image_size`` square (``forward`` checks)."""
        return NetworkRequirements(choices={"image_size": IMAGE_SIZES, "norm": NORMS}, min_input_size=image_size)

    def __init__(
        self, in_channels: int = 3, ndf: int = 64, image_size: int = 64, num_classes: int = 0, norm: str = "batch"
    ):
        super().__init__()
        base, stages = _plan(image_size)
        check_norm(norm)
        if ndf < 1 or in_channels not in (1, 3) or num_classes < 0:
            raise ConfigError(
                f"DCGANDiscriminator needs ndf >= 1, in_channels 1 or 3 and num_classes >= 0 "
                f"(got ndf={ndf}, in_channels={in_channels}, num_classes={num_classes})"
            )
        self.in_channels, self.image_size, self.num_classes = in_channels, image_size, num_classes
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), norm_layer(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.features = nn.Sequential(*layers)  # [N, ch, base, base]
        self.head = nn.Conv2d(ch, 1, base, 1, 0, bias=False)
        self.embed = nn.Embedding(num_classes, ch) if num_classes else None
        if self.embed is not None:
            # PyTorch's N(0, 1) embedding would make the projection term dwarf the conv logit and
            # saturate D from the first step; start it at the scale of the other weights (DCGAN 0.02)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """x [N, C, S, S], labels [N] int64 or None -> [N] logits."""
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[-2:]) != (self.image_size,) * 2:
            raise ImageError(
                f"DCGANDiscriminator expects [N, {self.in_channels}, {self.image_size}, {self.image_size}], "
                f"got {tuple(x.shape)}; resize the images to the size the model was built for"
            )
        _check_labels(labels, self.num_classes, x.shape[0], "DCGANDiscriminator")
        h = self.features(x)
        logits = self.head(h).flatten(1).squeeze(1)  # [N]
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h.mean(dim=(2, 3))).sum(1)  # <embed(y), pooled features>
        return logits
