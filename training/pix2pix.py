"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks").

G: U-Net; D: PatchGAN on the concatenated (input, output) pair, so D judges whether the output
fits its input. Objective: GAN loss + lambda_L1 * L1(G(x), y), lambda_L1 = 100; the D loss is
halved (the paper's "divide the objective by 2 while optimizing D"). ``train_step`` below runs the
D step and then the G step, top-down; everything around it (AMP, DDP, EMA, logging, checkpoints)
is the shared loop's job (``training/loop.py``).

Data: the paired layout (A|B images or A/ + B/ folders), resized to load_size, randomly cropped to
crop_size and flipped, the same way for both images. Validation: PSNR/SSIM of G(A) against B;
best.pt has the highest PSNR. Sample grids: input | output | target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from training.data import PairedDataset, check_crop, resized_min_size
from training.method import Method, NetworkSpec, TrainConfig, choice, set_requires_grad
from training.validation import psnr_ssim
from translate.errors import ConfigError
from translate.losses import GANLoss, gradient_penalty, l1_loss


@dataclass
class Pix2PixConfig(TrainConfig):
    """pix2pix (Isola et al. 2017): U-Net 256 + 70x70 PatchGAN on (input, output), GAN + 100 * L1."""

    method: str = "pix2pix"
    lambda_L1: float = 100.0
    lambda_GAN: float = 1.0  # weight of the adversarial term; 0 = L1 only (D is then not trained)
    direction: str = "AtoB"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    netG_kwargs: dict = field(default_factory=lambda: {"ngf": 64, "norm": "batch", "use_dropout": True})
    netD_kwargs: dict = field(default_factory=lambda: {"ndf": 64, "n_layers": 3, "norm": "batch"})

    def check(self) -> None:
        """Validate the pix2pix fields on top of the shared ones."""
        super().check()
        choice("direction", self.direction, ("AtoB", "BtoA"))
        check_crop(self.load_size, self.crop_size)
        if self.lambda_GAN < 0:
            raise ConfigError(f"lambda_GAN must be >= 0 (got {self.lambda_GAN}); 0 trains with L1 only")


class Pix2Pix(Method):
    """Networks, optimizers and the two-step update of pix2pix."""

    config_class = Pix2PixConfig
    family = "pix2pix"
    data_layout = "paired"
    generators = ("G",)

    @classmethod
    def networks(cls, cfg) -> dict[str, NetworkSpec]:
        """G maps in_channels to out_channels; D sees both, concatenated; both see crop_size inputs."""
        cin, cout, size = cfg.in_channels, cfg.out_channels, cfg.crop_size
        return {
            "G": NetworkSpec(cfg.netG, {**cfg.netG_kwargs, "in_channels": cin, "out_channels": cout}, "netG", size),
            "D": NetworkSpec(cfg.netD, {**cfg.netD_kwargs, "in_channels": cin + cout}, "netD", size),
        }

    @classmethod
    def dataset(cls, cfg, root, *, train=True, exclude=()):
        """Paired A/B images (``direction=BtoA`` swaps them)."""
        return PairedDataset(root, in_channels=cfg.in_channels, out_channels=cfg.out_channels,
                             load_size=cfg.load_size, crop_size=cfg.crop_size, flip=cfg.flip,
                             direction=cfg.direction, train=train, exclude=exclude)

    @classmethod
    def min_image_size(cls, cfg=None) -> int:
        """Images are resized to load_size first, so half the crop is enough."""
        return resized_min_size(cfg.crop_size if cfg is not None else None)

    def __init__(self, cfg, device) -> None:
        super().__init__(cfg, device)
        self.make_optimizers()
        self.gan = GANLoss(cfg.gan_mode).to(device)

    def image_size(self) -> int:
        """The training crop."""
        return int(self.cfg.crop_size)

    def train_step(self, batch: dict, o) -> dict[str, torch.Tensor]:
        """One D update then one G update; returns the losses (detached scalars)."""
        G, D, cfg = self.nets["G"], self.nets["D"], self.cfg
        real_A, real_B = batch["A"], batch["B"]  # [N, Cin, H, W], [N, Cout, H, W]
        with o.autocast():
            fake_B = G(real_A)
        if cfg.lambda_GAN == 0:  # L1 only: a plain regression, no D (e.g. the demo's colouriser)
            with o.autocast():
                loss_G_L1 = l1_loss(fake_B.float(), real_B.float()) * cfg.lambda_L1
            o.step("G", loss_G_L1)
            self.last_fake = fake_B.detach()
            return {"G_L1": loss_G_L1.detach()}

        # D step: real pairs -> real, (input, G(input)) pairs -> fake; fake detached so G is untouched.
        set_requires_grad(D, True)
        with o.autocast():
            pred_fake = D(torch.cat([real_A, fake_B.detach()], 1))
            pred_real = D(torch.cat([real_A, real_B], 1))
            loss_D = 0.5 * (self.gan(pred_fake, False) + self.gan(pred_real, True))
            if cfg.gan_mode == "wgangp":
                pair = lambda y: torch.cat([real_A, y], 1)  # noqa: E731 - penalty on the concatenated pair
                loss_D = loss_D + gradient_penalty(D, pair(real_B), pair(fake_B.detach()))
        o.step("D", loss_D)

        # G step: fool D on the pair and stay close to the target in L1. D is frozen (no grads).
        set_requires_grad(D, False)
        with o.autocast():
            pred = D(torch.cat([real_A, fake_B], 1))
            loss_G_GAN = self.gan(pred, True, for_discriminator=False) * cfg.lambda_GAN
            loss_G_L1 = l1_loss(fake_B.float(), real_B.float()) * cfg.lambda_L1
        o.step("G", loss_G_GAN + loss_G_L1)
        self.last_fake = fake_B.detach()
        return {"D": loss_D.detach(), "G_GAN": loss_G_GAN.detach(), "G_L1": loss_G_L1.detach(),
                "D_real": pred_real.detach().mean(), "D_fake": pred_fake.detach().mean()}

    def validate(self, items, generators, to_device) -> dict[str, float]:
        """PSNR and SSIM of G(A) against B."""
        return psnr_ssim(generators["G"], items, to_device)
