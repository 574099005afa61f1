"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks").

G: U-Net; D: PatchGAN on the concatenated (input, output) pair, so D judges whether the output
fits its input. Objective: GAN loss + lambda_L1 * L1(G(x), y), lambda_L1 = 100; the D loss is
halved (the paper's "divide the objective by 2 while optimizing D"). ``train_step`` below runs the
D step and then the G step, top-down; everything around it (AMP, DDP, EMA, logging, checkpoints)
is the shared loop's job (``training/loop.py``).
"""

from __future__ import annotations

import torch

from training.method import Method, set_requires_grad
from translate.losses import GANLoss, gradient_penalty, l1_loss


class Pix2Pix(Method):
    """Networks, optimizers and the two-step update of pix2pix."""

    family = "pix2pix"
    generators = ("G",)

    def __init__(self, cfg, device) -> None:
        super().__init__(cfg, device)
        self.nets["G"] = self.build(cfg.netG, cfg.netG_kwargs, in_channels=cfg.in_channels,
                                    out_channels=cfg.out_channels)
        self.nets["D"] = self.build(cfg.netD, cfg.netD_kwargs, in_channels=cfg.in_channels + cfg.out_channels)
        self.make_optimizers()
        self.gan = GANLoss(cfg.gan_mode).to(device)

    def train_step(self, batch: dict, o) -> dict[str, torch.Tensor]:
        """One D update then one G update; returns the losses (detached scalars)."""
        G, D, cfg = self.nets["G"], self.nets["D"], self.cfg
        real_A, real_B = batch["A"], batch["B"]  # [N, Cin, H, W], [N, Cout, H, W]
        with o.autocast():
            fake_B = G(real_A)

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
            loss_G_GAN = self.gan(pred, True, for_discriminator=False)
            loss_G_L1 = l1_loss(fake_B.float(), real_B.float()) * cfg.lambda_L1
        o.step("G", loss_G_GAN + loss_G_L1)
        self.last_fake = fake_B.detach()
        return {"D": loss_D.detach(), "G_GAN": loss_G_GAN.detach(), "G_L1": loss_G_L1.detach(),
                "D_real": pred_real.detach().mean(), "D_fake": pred_fake.detach().mean()}
