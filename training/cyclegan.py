"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks").

G_A: A->B, G_B: B->A; D_A judges domain B (outputs of G_A), D_B judges domain A, following the
authors' code. Objective for the generators: LSGAN loss both ways + lambda_A * ||G_B(G_A(a)) - a||_1
+ lambda_B * ||G_A(G_B(b)) - b||_1 + identity loss lambda_identity * lambda * ||G_A(b) - b||_1
(and the same for G_B). Discriminators see fakes drawn from an image pool of 50 past fakes
(Shrivastava et al. 2017) and their loss is halved. ``train_step``: G step first (both
generators together), then both D steps, as in the authors' implementation.
"""

from __future__ import annotations

import torch

from training.method import Method, set_requires_grad
from training.pool import ImagePool
from translate.losses import GANLoss, cycle_loss, gradient_penalty, identity_loss


class CycleGAN(Method):
    """Two generators, two discriminators, two image pools."""

    family = "cyclegan"
    generators = ("G_A", "G_B")
    directions = {"G_A": "AtoB", "G_B": "BtoA"}
    opt_groups = {"G": ("G_A", "G_B"), "D": ("D_A", "D_B")}

    def __init__(self, cfg, device) -> None:
        super().__init__(cfg, device)
        cin, cout = cfg.in_channels, cfg.out_channels
        self.nets["G_A"] = self.build(cfg.netG, cfg.netG_kwargs, in_channels=cin, out_channels=cout)
        self.nets["G_B"] = self.build(cfg.netG, cfg.netG_kwargs, in_channels=cout, out_channels=cin)
        self.nets["D_A"] = self.build(cfg.netD, cfg.netD_kwargs, in_channels=cout)  # judges domain B
        self.nets["D_B"] = self.build(cfg.netD, cfg.netD_kwargs, in_channels=cin)  # judges domain A
        self.make_optimizers()
        self.gan = GANLoss(cfg.gan_mode).to(device)
        self.pools = {"fake_A": ImagePool(cfg.pool_size), "fake_B": ImagePool(cfg.pool_size)}

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

    def extra_state(self) -> dict:
        """Image pools (their contents are part of an exact resume)."""
        return {"pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_extra_state(self, state: dict) -> None:
        """Restore the pools saved by :meth:`extra_state`."""
        for k, p in self.pools.items():
            p.load_state_dict(state["pools"][k], self.device)
