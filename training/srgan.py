"""SRGAN (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network"), both stages in one run.

Stage ``srresnet`` (steps 0 .. srresnet_steps): SRResNet trained with pixel MSE only.
Stage ``gan`` (the next gan_steps): the same generator continues, now with content loss on VGG
features (relu5_4 of VGG19, scaled by 1/12.75^2, via ``translate.perceptual.PerceptualLoss``)
+ adv_weight (1e-3) * adversarial loss, and the discriminator trains; lr drops 10x after
gan_lr_drop_at steps of this stage. ``content_loss: pixel-mse`` replaces the VGG term by pixel
MSE (for tests or when no VGG weights exist); the run config records which one was used.
One Adam per network throughout (the G optimizer's moments carry over into the GAN stage).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.method import Method, set_requires_grad
from translate.losses import GANLoss, gradient_penalty


class SRGAN(Method):
    """SRResNet generator + SRGAN discriminator, two training stages."""

    family = "srgan"
    generators = ("G",)

    def __init__(self, cfg, device) -> None:
        super().__init__(cfg, device)
        c = cfg.out_channels
        self.nets["G"] = self.build(cfg.netG, cfg.netG_kwargs, in_channels=c, out_channels=c, scale=cfg.scale)
        self.nets["D"] = self.build(cfg.netD, cfg.netD_kwargs, in_channels=c)
        self.make_optimizers()
        self.gan = GANLoss(cfg.gan_mode).to(device)
        self.perceptual = None
        self.content_source = "pixel-mse (no VGG)"
        if cfg.content_loss == "vgg" and cfg.gan_steps > 0:
            from translate.perceptual import PerceptualLoss

            layers = cfg.perceptual_layer if cfg.perceptual_layer == "srgan" else {cfg.perceptual_layer: 1.0}
            self.perceptual = PerceptualLoss(weights=cfg.perceptual_weights, layers=layers,
                                             scale=cfg.perceptual_scale).to(device).eval()
            self.content_source = str(self.perceptual.source)

    def lr_factor(self, step: int, total: int) -> float:
        """1 through the SRResNet stage and the first gan_lr_drop_at GAN steps, then 0.1."""
        gan_step = step - self.cfg.srresnet_steps
        return 0.1 if gan_step >= self.cfg.gan_lr_drop_at else 1.0

    def train_step(self, batch: dict, o) -> dict[str, torch.Tensor]:
        """SRResNet stage: MSE step on G. GAN stage: D step, then G step (content + adversarial)."""
        G, D, cfg = self.nets["G"], self.nets["D"], self.cfg
        lr_img, hr = batch["A"], batch["B"]  # [N, C, h, w], [N, C, h*s, w*s]
        if o.step_index < cfg.srresnet_steps:
            with o.autocast():
                sr = G(lr_img)
                loss_mse = F.mse_loss(sr.float(), hr.float())
            o.step("G", loss_mse)
            self.last_fake = sr.detach()
            return {"G_MSE": loss_mse.detach()}

        with o.autocast():
            sr = G(lr_img)
        set_requires_grad(D, True)
        with o.autocast():
            pred_real, pred_fake = D(hr), D(sr.detach())
            loss_D = self.gan(pred_real, True) + self.gan(pred_fake, False)
            if cfg.gan_mode == "wgangp":
                loss_D = loss_D + gradient_penalty(D, hr, sr)
        o.step("D", loss_D)

        set_requires_grad(D, False)
        with o.autocast():
            if self.perceptual is not None:
                loss_content = self.perceptual(sr.float(), hr.float())
            else:
                loss_content = F.mse_loss(sr.float(), hr.float())
            loss_adv = self.gan(D(sr), True, for_discriminator=False) * cfg.adv_weight
        o.step("G", loss_content + loss_adv)
        self.last_fake = sr.detach()
        return {"D": loss_D.detach(), "G_content": loss_content.detach(), "G_adv": loss_adv.detach(),
                "D_real": pred_real.detach().mean(), "D_fake": pred_fake.detach().mean()}
