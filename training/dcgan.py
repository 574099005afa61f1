"""DCGAN (Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks"), optionally class-conditional (Mirza & Osindero 2014,
"Conditional Generative Adversarial Nets": the label is an input of both G and D).

z ~ N(0, I) of size nz -> image. D step on real and (detached) fake images, then the G step with
the non-saturating loss (target "real" for the fakes). Labels of fakes are the labels of the
real batch, so the class balance of the data is kept.
"""

from __future__ import annotations

import torch

from training.method import Method, set_requires_grad
from translate.losses import GANLoss, gradient_penalty


class DCGAN(Method):
    """Latent-to-image generator and its discriminator."""

    family = "dcgan"
    generators = ("G",)

    def __init__(self, cfg, device) -> None:
        super().__init__(cfg, device)
        c, k = cfg.out_channels, cfg.num_classes
        self.nets["G"] = self.build(cfg.netG, cfg.netG_kwargs, nz=cfg.nz, out_channels=c,
                                    image_size=cfg.image_size, num_classes=k)
        self.nets["D"] = self.build(cfg.netD, cfg.netD_kwargs, in_channels=c, image_size=cfg.image_size,
                                    num_classes=k)
        self.make_optimizers()
        self.gan = GANLoss(cfg.gan_mode).to(device)
        # fixed latents for sample grids, from their own generator so they do not disturb training RNG
        gen = torch.Generator().manual_seed(cfg.seed)
        self.fixed_z = torch.randn(64, cfg.nz, generator=gen).to(device)
        self.fixed_labels = (torch.arange(64) % k).to(device) if k else None

    def image_size(self) -> int:
        """Output size of the generator."""
        return int(self.cfg.image_size)

    def train_step(self, batch: dict, o) -> dict[str, torch.Tensor]:
        """D step on real vs. fake, then G step; returns the losses."""
        G, D, cfg = self.nets["G"], self.nets["D"], self.cfg
        real = batch["B"]  # [N, C, S, S]
        labels = batch["label"] if cfg.num_classes else None  # [N] int64 or None
        z = torch.randn(real.shape[0], cfg.nz, device=real.device)  # [N, nz]
        with o.autocast():
            fake = G(z, labels)

        set_requires_grad(D, True)
        with o.autocast():
            pred_real, pred_fake = D(real, labels), D(fake.detach(), labels)
            loss_D = self.gan(pred_real, True) + self.gan(pred_fake, False)
            if cfg.gan_mode == "wgangp":
                extra = (labels,) if labels is not None else ()
                loss_D = loss_D + gradient_penalty(D, real, fake, *extra)
        o.step("D", loss_D)

        set_requires_grad(D, False)
        with o.autocast():
            loss_G = self.gan(D(fake, labels), True, for_discriminator=False)
        o.step("G", loss_G)
        self.last_fake = fake.detach()
        return {"D": loss_D.detach(), "G": loss_G.detach(),
                "D_real": pred_real.detach().mean(), "D_fake": pred_fake.detach().mean()}

    @torch.no_grad()
    def sample(self, batch: dict, generators: dict) -> list[torch.Tensor]:
        """A grid of fixed latents (same z at every step, so progress is visible), and real images."""
        n = min(16, batch["B"].shape[0])
        fake = generators["G"](self.fixed_z[:n], None if self.fixed_labels is None else self.fixed_labels[:n])
        return [fake, batch["B"][:n]]
