"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks").

G_A: A->B, G_B: B->A; D_A judges domain B (outputs of G_A), D_B judges domain A, following the
authors' code. Objective for the generators: LSGAN loss both ways + lambda_A * ||G_B(G_A(a)) - a||_1
+ lambda_B * ||G_A(G_B(b)) - b||_1 + identity loss lambda_identity * lambda * ||G_A(b) - b||_1
(and the same for G_B). Discriminators see fakes drawn from an image pool of 50 past fakes
(Shrivastava et al. 2017) and their loss is halved. ``train_step``: G step first (both
generators together), then both D steps, as in the authors' implementation.

Data: the unpaired layout (trainA/, trainB/), each image resized, cropped and flipped on its own.
Validation: a Frechet distance of 8x8-pooled pixels between G_A(A) and real B images (a sanity
signal, not FID); best.pt has the lowest. Sample grids: input | G_A(input) | a B image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from training.data import UnpairedDataset, check_crop, collate, resized_min_size
from training.method import Method, NetworkSpec, TrainConfig, set_requires_grad
from training.pool import ImagePool
from training.validation import fd_pixels8
from translate.errors import ConfigError
from translate.losses import GANLoss, cycle_loss, gradient_penalty, identity_loss


@dataclass
class CycleGANConfig(TrainConfig):
    """CycleGAN (Zhu et al. 2017): two ResNet generators, two PatchGANs, LSGAN, cycle 10, identity 0.5."""

    method: str = "cyclegan"
    gan_mode: str = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5  # times lambda_A / lambda_B, as in the paper's code
    pool_size: int = 50
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    netG: str = "resnet_9blocks"
    netG_kwargs: dict = field(default_factory=lambda: {"ngf": 64, "norm": "instance", "use_dropout": False})
    netD_kwargs: dict = field(default_factory=lambda: {"ndf": 64, "n_layers": 3, "norm": "instance"})

    def check(self) -> None:
        """Validate the CycleGAN fields on top of the shared ones."""
        super().check()
        if self.pool_size < 0:
            raise ConfigError(f"pool_size must be >= 0 (got {self.pool_size}); 0 disables the image pool")
        if self.lambda_identity > 0 and self.in_channels != self.out_channels:
            raise ConfigError("lambda_identity > 0 needs in_channels == out_channels; set lambda_identity=0")
        check_crop(self.load_size, self.crop_size)


class CycleGAN(Method):
    """Two generators, two discriminators, two image pools."""

    config_class = CycleGANConfig
    family = "cyclegan"
    data_layout = "unpaired"
    generators = ("G_A", "G_B")
    directions = {"G_A": "AtoB", "G_B": "BtoA"}
    opt_groups = {"G": ("G_A", "G_B"), "D": ("D_A", "D_B")}
    best_metric = "val/fd_pixels8"
    higher_is_better = False

    @classmethod
    def networks(cls, cfg) -> dict[str, NetworkSpec]:
        """G_A: A -> B, G_B: B -> A; D_A judges domain B, D_B domain A; all see crop_size inputs."""
        cin, cout, size = cfg.in_channels, cfg.out_channels, cfg.crop_size
        g, d = cfg.netG_kwargs, cfg.netD_kwargs
        return {
            "G_A": NetworkSpec(cfg.netG, {**g, "in_channels": cin, "out_channels": cout}, "netG", size),
            "G_B": NetworkSpec(cfg.netG, {**g, "in_channels": cout, "out_channels": cin}, "netG", size),
            "D_A": NetworkSpec(cfg.netD, {**d, "in_channels": cout}, "netD", size),
            "D_B": NetworkSpec(cfg.netD, {**d, "in_channels": cin}, "netD", size),
        }

    @classmethod
    def dataset(cls, cfg, root, *, train=True, exclude=()):
        """Unpaired domains A and B (testA/testB for validation when present)."""
        return UnpairedDataset(root, in_channels=cfg.in_channels, out_channels=cfg.out_channels,
                               load_size=cfg.load_size, crop_size=cfg.crop_size, flip=cfg.flip,
                               train=train, exclude=exclude)

    @classmethod
    def min_image_size(cls, cfg=None) -> int:
        """Images are resized to load_size first, so half the crop is enough."""
        return resized_min_size(cfg.crop_size if cfg is not None else None)

    def __init__(self, cfg, device) -> None:
        super().__init__(cfg, device)
        self.make_optimizers()
        self.gan = GANLoss(cfg.gan_mode).to(device)
        self.pools = {"fake_A": ImagePool(cfg.pool_size), "fake_B": ImagePool(cfg.pool_size)}

    def image_size(self) -> int:
        """The training crop."""
        return int(self.cfg.crop_size)

    def _d_loss(self, D, real, fake):
        pred_real, pred_fake = D(real), D(fake.detach())
        loss = 0.5 * (self.gan(pred_real, True) + self.gan(pred_fake, False))
        if self.cfg.gan_mode == "wgangp":
            loss = loss + gradient_penalty(D, real, fake)
        return loss, pred_real.detach().mean(), pred_fake.detach().mean()

    def train_step(self, batch: dict, o) -> dict[str, torch.Tensor]:
        """G_A and G_B update together, then D_A and D_B; returns the losses."""
        n = self.nets
        cfg = self.cfg
        real_A, real_B = batch["A"], batch["B"]  # unpaired: B is a random image of domain B

        # G step (discriminators frozen)
        set_requires_grad([n["D_A"], n["D_B"]], False)
        with o.autocast():
            fake_B, fake_A = n["G_A"](real_A), n["G_B"](real_B)
            rec_A, rec_B = n["G_B"](fake_B), n["G_A"](fake_A)
            loss_idt_A = loss_idt_B = torch.zeros((), device=real_A.device)
            if cfg.lambda_identity > 0:  # G_A should leave B images unchanged, G_B A images
                loss_idt_A = identity_loss(n["G_A"](real_B), real_B) * cfg.lambda_B * cfg.lambda_identity
                loss_idt_B = identity_loss(n["G_B"](real_A), real_A) * cfg.lambda_A * cfg.lambda_identity
            loss_G_A = self.gan(n["D_A"](fake_B), True, for_discriminator=False)
            loss_G_B = self.gan(n["D_B"](fake_A), True, for_discriminator=False)
            loss_cycle_A = cycle_loss(rec_A, real_A) * cfg.lambda_A
            loss_cycle_B = cycle_loss(rec_B, real_B) * cfg.lambda_B
            loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
        o.step("G", loss_G)

        # D steps on pooled fakes
        set_requires_grad([n["D_A"], n["D_B"]], True)
        with o.autocast():
            loss_D_A, d_real, d_fake = self._d_loss(n["D_A"], real_B, self.pools["fake_B"].query(fake_B))
            loss_D_B, _, _ = self._d_loss(n["D_B"], real_A, self.pools["fake_A"].query(fake_A))
        o.step("D", loss_D_A + loss_D_B)
        self.last_fake = fake_B.detach()
        return {"D_A": loss_D_A.detach(), "D_B": loss_D_B.detach(), "G_A": loss_G_A.detach(),
                "G_B": loss_G_B.detach(), "cycle_A": loss_cycle_A.detach(), "cycle_B": loss_cycle_B.detach(),
                "idt_A": loss_idt_A.detach(), "idt_B": loss_idt_B.detach(), "D_real": d_real, "D_fake": d_fake}

    @torch.no_grad()
    def validate(self, items, generators, to_device) -> dict[str, float]:
        """Frechet distance (8x8-pooled pixels) between G_A(A) and real B images."""
        b = to_device(collate(items))
        return fd_pixels8(generators["G_A"](b["A"]), b["B"])

    def extra_state(self) -> dict:
        """Image pools (their contents are part of an exact resume)."""
        return {"pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_extra_state(self, state: dict) -> None:
        """Restore the pools saved by :meth:`extra_state`."""
        for k, p in self.pools.items():
            p.load_state_dict(state["pools"][k], self.device)
