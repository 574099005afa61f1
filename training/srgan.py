"""SRGAN (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network"), both stages in one run.

Stage ``srresnet`` (steps 0 .. srresnet_steps): SRResNet trained with pixel MSE only.
Stage ``gan`` (the next gan_steps): the same generator continues, now with content loss on VGG
features (relu5_4 of VGG19, scaled by 1/12.75^2, via ``translate.perceptual.PerceptualLoss``)
+ adv_weight (1e-3) * adversarial loss, and the discriminator trains, at ``gan_lr`` (default: lr);
the lr drops 10x after gan_lr_drop_at steps of this stage. ``lowpass_weight`` adds a pixel MSE
between the ``scale`` x ``scale`` average-pooled output and target (the low frequencies: colour and
brightness), in the spirit of Fritsche et al. 2019 ("Frequency Separation for Real-World
Super-Resolution"): it pins the colours while the content and adversarial losses shape the
detail. ``content_loss: pixel-mse`` replaces the VGG term by pixel MSE (for tests or when no VGG
weights exist); the run config records which one was used.

The generator's Adam starts afresh at the first GAN step. The content loss's gradients are 10-40x
larger than the pixel MSE's (HED-VGG16 features are on a 0-255 scale), and Adam's second moments
from the MSE stage then make its steps several times too large for hundreds of steps: measured on
a 2-core CPU run, the carried-over state washed the colours to grey-purple (colour shift 8/255
after 30 GAN steps, 39/255 without the global skip) where a fresh state stayed near 1/255. The
reset happens once per run (recorded in the checkpoint), so a resumed run matches an uninterrupted
one on either side of the stage boundary. Both stages log ``G_colour_shift`` (per batch) and validation
``val/colour_shift``: the largest per-channel mean difference between output and target, in /255.

Data: the sr layout; random hr_size crops of the HR images (aligned to the LR grid) and their
LR versions (bicubic /scale, or the matching crop of LR/ files). Validation: PSNR/SSIM on the Y
channel with a scale-pixel border crop, as the SR papers report; best.pt has the highest PSNR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from training.data import SRDataset, collate
from training.method import Method, NetworkSpec, TrainConfig, choice, set_requires_grad
from training.validation import psnr_ssim
from translate.errors import ConfigError
from translate.losses import GANLoss, gradient_penalty
from translate.nets import network_requirements


def colour_shift(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Largest |mean(output_c) - mean(target_c)| over the channels c, in 0-255 units.

    ``output``, ``target``: [N, C, H, W] or [C, H, W] in [-1, 1] (means over everything but C).
    A generator that shifts the colours (the SRGAN grey-purple wash) moves a channel's mean;
    sharpening or texture does not.
    """
    dims = (0, 2, 3) if output.dim() == 4 else (1, 2)
    diff = output.detach().float().mean(dims) - target.detach().float().mean(dims)
    return diff.abs().max() * 127.5


@dataclass
class SRGANConfig(TrainConfig):
    """SRGAN (Ledig et al. 2017): SRResNet stage (MSE) then GAN stage (VGG content + 1e-3 adversarial)."""

    # a resumed run may lengthen either stage or move the lr drop; max_steps follows from the stages
    resume_may_change: ClassVar[frozenset[str]] = TrainConfig.resume_may_change | {
        "srresnet_steps", "gan_steps", "gan_lr_drop_at"}
    derived_keys: ClassVar[tuple[str, ...]] = ("max_steps",)
    method: str = "srgan"
    scale: int = 4
    hr_size: int = 96  # HR crop; LR crop = hr_size / scale
    batch_size: int = 16
    lr: float = 1e-4
    beta1: float = 0.9
    srresnet_steps: int = 1_000_000
    gan_steps: int = 200_000
    gan_lr_drop_at: int = 100_000  # steps into the GAN stage where lr becomes lr / 10
    gan_lr: float = 0.0  # learning rate of the GAN stage (both networks); 0 = lr
    lowpass_weight: float = 0.0  # GAN stage: + this x MSE of the scale x scale average-pooled output vs target
    adv_weight: float = 1e-3
    content_loss: str = "vgg"  # vgg | pixel-mse (tests / no VGG weights)
    perceptual_weights: str = "auto"  # auto | imagenet | hed | /path/to/vgg.pth
    perceptual_layer: str = "srgan"  # srgan = relu5_4 on VGG19 (relu5_3 on HED-VGG16), or a layer name
    perceptual_scale: float = 1 / 12.75**2
    n_epochs: int = 0
    n_epochs_decay: int = 0
    netG: str = "srresnet"
    netG_kwargs: dict = field(default_factory=lambda: {"num_feat": 64, "num_blocks": 16})
    netD: str = "srgan_d"
    netD_kwargs: dict = field(default_factory=lambda: {"num_feat": 64})

    def check(self) -> None:
        """Validate the SRGAN fields; the schedule is in steps, not epochs. (Which scales and crop
        sizes work is the networks' to say: see :meth:`SRGAN.check_config`.)"""
        self.n_epochs, self.n_epochs_decay = 0, 0
        if self.max_steps == 0:
            self.max_steps = self.srresnet_steps + self.gan_steps
        super().check()
        choice("content_loss", self.content_loss, ("vgg", "pixel-mse"))
        if self.scale < 1 or self.hr_size < 1:
            raise ConfigError(f"scale and hr_size must be >= 1 (got {self.scale}, {self.hr_size})")
        if self.srresnet_steps < 0 or self.gan_steps < 0 or self.srresnet_steps + self.gan_steps == 0:
            raise ConfigError("srresnet_steps and gan_steps must be >= 0 and not both 0")
        if self.lowpass_weight < 0:
            raise ConfigError(f"lowpass_weight must be >= 0 (got {self.lowpass_weight})")
        if self.gan_lr < 0:
            raise ConfigError(f"gan_lr must be >= 0 (got {self.gan_lr}); 0 keeps lr for the GAN stage")
        if self.max_steps != self.srresnet_steps + self.gan_steps:
            raise ConfigError("for srgan set srresnet_steps / gan_steps instead of max_steps")


class SRGAN(Method):
    """SRResNet generator + SRGAN discriminator, two training stages."""

    config_class = SRGANConfig
    family = "srgan"
    data_layout = "sr"
    generators = ("G",)

    @classmethod
    def networks(cls, cfg) -> dict[str, NetworkSpec]:
        """G upscales LR crops (hr_size / scale) by ``scale``; D judges HR crops of hr_size."""
        c = cfg.out_channels
        return {
            "G": NetworkSpec(cfg.netG, {**cfg.netG_kwargs, "in_channels": c, "out_channels": c, "scale": cfg.scale},
                             "netG", cfg.hr_size // cfg.scale, "hr_size / scale"),
            "D": NetworkSpec(cfg.netD, {**cfg.netD_kwargs, "in_channels": c}, "netD", cfg.hr_size, "hr_size"),
        }

    @classmethod
    def check_config(cls, cfg) -> None:
        """The networks' checks (scale, crop sizes), then: HR crops must cut into whole LR pixels."""
        super().check_config(cfg)
        if cfg.hr_size % cfg.scale:
            raise ConfigError(f"hr_size {cfg.hr_size} must be a multiple of scale {cfg.scale}")

    @classmethod
    def dataset(cls, cfg, root, *, train=True, exclude=()):
        """HR crops and their LR versions."""
        return SRDataset(root, scale=cfg.scale, hr_size=cfg.hr_size, channels=cfg.out_channels, train=train,
                         exclude=exclude)

    @classmethod
    def min_image_size(cls, cfg=None) -> int:
        """Crops are cut without resizing, so HR images must hold a whole crop; without a config, the
        smallest crop the default discriminator takes."""
        if cfg is not None:
            return int(cfg.hr_size)
        return network_requirements(SRGANConfig.netD).min_input_size

    @classmethod
    def data_scale(cls, cfg=None) -> int | None:
        """HR/LR pairs must differ by the run's scale (without a config: the default config's)."""
        return int((cfg or SRGANConfig()).scale)

    def __init__(self, cfg, device) -> None:
        super().__init__(cfg, device)
        self.make_optimizers()
        self.gan = GANLoss(cfg.gan_mode).to(device)
        self.perceptual = None
        self.fresh_gan_optimizer = False  # True once G's Adam state was reset for the GAN stage
        self.content_source = "pixel-mse (no VGG)"
        if cfg.content_loss == "vgg" and cfg.gan_steps > 0:
            from translate.perceptual import PerceptualLoss

            layers = cfg.perceptual_layer if cfg.perceptual_layer == "srgan" else {cfg.perceptual_layer: 1.0}
            self.perceptual = PerceptualLoss(weights=cfg.perceptual_weights, layers=layers,
                                             scale=cfg.perceptual_scale).to(device).eval()
            self.content_source = str(self.perceptual.source)

    def image_size(self) -> int:
        """The HR training crop."""
        return int(self.cfg.hr_size)

    def provenance(self) -> dict[str, str]:
        """Which content loss the GAN stage used (VGG weights source, or pixel MSE)."""
        return {"content_loss": self.content_source}

    def lr_factor(self, step: int, total: int) -> float:
        """1 through the SRResNet stage; gan_lr / lr in the GAN stage, 10x less after gan_lr_drop_at GAN steps."""
        cfg = self.cfg
        gan_step = step - cfg.srresnet_steps
        if gan_step < 0:
            return 1.0
        gan = cfg.gan_lr / cfg.lr if cfg.gan_lr else 1.0
        return gan * (0.1 if gan_step >= cfg.gan_lr_drop_at else 1.0)

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
            return {"G_MSE": loss_mse.detach(), "G_colour_shift": colour_shift(sr, hr)}

        if not self.fresh_gan_optimizer:  # first GAN step of the run: drop the MSE stage's Adam moments
            self.optimizers["G"].state.clear()
            self.fresh_gan_optimizer = True
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
            loss_low = cfg.lowpass_weight * F.mse_loss(F.avg_pool2d(sr.float(), cfg.scale),
                                                       F.avg_pool2d(hr.float(), cfg.scale))
        o.step("G", loss_content + loss_adv + loss_low)
        self.last_fake = sr.detach()
        return {"D": loss_D.detach(), "G_content": loss_content.detach(), "G_adv": loss_adv.detach(),
                "G_lowpass": loss_low.detach(),
                "G_colour_shift": colour_shift(sr, hr),
                "D_real": pred_real.detach().mean(), "D_fake": pred_fake.detach().mean()}

    def extra_state(self) -> dict:
        """Whether G's optimizer was already reset for the GAN stage (so a resume does not reset it again)."""
        return {"fresh_gan_optimizer": self.fresh_gan_optimizer}

    def load_extra_state(self, state: dict) -> None:
        """Restore :meth:`extra_state` (checkpoints from before the reset existed: reset at the next GAN step)."""
        self.fresh_gan_optimizer = bool(state.get("fresh_gan_optimizer", False))

    @torch.no_grad()
    def validate(self, items, generators, to_device) -> dict[str, float]:
        """PSNR and SSIM on the Y channel after a ``scale``-pixel border crop, and the mean colour shift (/255)."""
        metrics = psnr_ssim(generators["G"], items, to_device, y_channel=True, crop_border=self.cfg.scale)
        shifts = []
        for i in range(0, len(items), 8):
            b = to_device(collate(items[i : i + 8]))
            for out, hr in zip(generators["G"](b["A"]).clamp(-1, 1), b["B"]):  # clamped, as served
                shifts.append(float(colour_shift(out, hr)))
        metrics["val/colour_shift"] = sum(shifts) / len(shifts)
        return metrics
