"""Adversarial and pixel losses for the GAN trainers.

- ``GANLoss``: the objectives of the papers we train.
  vanilla = the original minimax/non-saturating GAN loss as binary cross-entropy on logits
  (Goodfellow et al. 2014; pix2pix, Isola et al. 2017; DCGAN, Radford et al. 2016);
  lsgan = least squares (Mao et al. 2017; CycleGAN, Zhu et al. 2017);
  hinge (Lim & Ye 2017; Miyato et al. 2018);
  wgangp = Wasserstein critic loss (Arjovsky et al. 2017) used with ``gradient_penalty``
  (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", lambda = 10).
- ``l1_loss``, ``cycle_loss`` (Zhu et al. 2017, eq. 2) and ``identity_loss`` (Zhu et al. 2017,
  section 5.2, after Taigman et al. 2017). The trainers apply the lambdas (cycle 10, identity 0.5*10).

Discriminator outputs are raw logits/scores of any shape ([N], [N,1] or a PatchGAN map
[N,1,h,w]); every loss here is a mean over all elements.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.errors import ConfigError

GAN_MODES = ("vanilla", "lsgan", "hinge", "wgangp")
_ALIASES = {"wgan-gp": "wgangp", "wgan_gp": "wgangp", "ls": "lsgan", "bce": "vanilla"}


class GANLoss(nn.Module):
    """Adversarial loss for one of ``GAN_MODES``.

    Call as ``loss(pred, target_is_real, for_discriminator=True)``:

    - vanilla: BCE-with-logits against ``real_label`` / ``fake_label`` (the generator step uses
      ``target_is_real=True``: the non-saturating form).
    - lsgan: mean squared error against ``real_label`` / ``fake_label``.
    - hinge: D: mean(relu(1 - pred)) on real, mean(relu(1 + pred)) on fake; G: -mean(pred).
    - wgangp: D: -mean(pred) on real, mean(pred) on fake; G: -mean(pred). Add ``gradient_penalty``
      to the D loss yourself.

    For hinge and wgangp the generator term has no target, so ``for_discriminator=False`` requires
    ``target_is_real=True`` (the generator wants its fakes to score as real).
    ``pred`` may also be a list of tensors (multi-scale discriminators): the losses are averaged.
    """

    def __init__(self, mode: str = "vanilla", *, real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        mode = _ALIASES.get(mode, mode)
        if mode not in GAN_MODES:
            raise ConfigError(f"unknown GAN loss mode {mode!r}; choose one of {', '.join(GAN_MODES)}")
        if mode in ("hinge", "wgangp") and (real_label, fake_label) != (1.0, 0.0):
            raise ConfigError(f"GAN loss {mode!r} has no target labels; label smoothing applies to vanilla/lsgan only")
        self.mode = mode
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, real_label={self.real_label}, fake_label={self.fake_label}"

    def forward(self, pred: Tensor | Sequence[Tensor], target_is_real: bool, for_discriminator: bool = True) -> Tensor:
        """Return the scalar loss of discriminator output ``pred`` (logits) for the given target."""
        if isinstance(pred, (list, tuple)):
            if not pred:
                raise ConfigError("GANLoss got an empty list of discriminator outputs")
            return torch.stack([self._single(p, target_is_real, for_discriminator) for p in pred]).mean()
        return self._single(pred, target_is_real, for_discriminator)

    def _single(self, pred: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
        if not torch.is_tensor(pred):
            raise ConfigError(f"GANLoss expects a tensor of discriminator outputs, got {type(pred).__name__}")
        if self.mode in ("vanilla", "lsgan"):
            # A full tensor of the label, not a broadcast scalar: BCE/MSE then see matching shapes.
            target = torch.full_like(pred, self.real_label if target_is_real else self.fake_label)
            if self.mode == "vanilla":
                return F.binary_cross_entropy_with_logits(pred, target)
            return F.mse_loss(pred, target)
        if not for_discriminator:
            if not target_is_real:
                raise ConfigError(f"GAN loss {self.mode!r}: the generator term needs target_is_real=True")
            return -pred.mean()
        if self.mode == "hinge":
            return F.relu(1.0 - pred).mean() if target_is_real else F.relu(1.0 + pred).mean()
        return -pred.mean() if target_is_real else pred.mean()  # wgangp critic


def gradient_penalty(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    *extra_inputs: Tensor,
    lambda_gp: float = 10.0,
    target_norm: float = 1.0,
) -> Tensor:
    """WGAN-GP penalty ``lambda_gp * E[(||grad_x D(x_hat)||_2 - target_norm)^2]`` (Gulrajani et al. 2017).

    ``x_hat`` are random per-sample interpolations between ``real`` and ``fake`` ([N, ...], same
    shape). ``extra_inputs`` are passed unchanged after ``x_hat`` to the discriminator, for
    conditional critics: ``D(x_hat, labels)`` or ``D(x_hat, condition_image)``. The gradient is
    taken with respect to ``x_hat`` only, so for a pix2pix-style D that concatenates the condition
    internally, pass the condition as an extra input. The graph is kept (``create_graph=True``) so
    the penalty can be back-propagated into D's weights.
    """
    if real.shape != fake.shape:
        raise ConfigError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    n = real.shape[0]
    alpha = torch.rand([n] + [1] * (real.dim() - 1), device=real.device, dtype=real.dtype)
    # fake is detached: the penalty trains D only, it must not push gradients into G.
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    out = discriminator(x_hat, *extra_inputs)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    grad_norm = grad.reshape(n, -1).norm(2, dim=1)  # [N]
    return lambda_gp * ((grad_norm - target_norm) ** 2).mean()


def _check_pair(name: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ConfigError(f"{name}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}; compare images of one size")


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error (pix2pix's L1 term, weighted by lambda=100 in the trainer)."""
    _check_pair("l1_loss", pred, target)
    return F.l1_loss(pred, target)


def cycle_loss(reconstructed: Tensor, real: Tensor) -> Tensor:
    """Cycle-consistency L1 ``||G_B(G_A(a)) - a||_1`` (mean over pixels; CycleGAN weights it by 10)."""
    _check_pair("cycle_loss", reconstructed, real)
    return F.l1_loss(reconstructed, real)


def identity_loss(same: Tensor, real: Tensor) -> Tensor:
    """Identity-mapping L1 ``||G_A(b) - b||_1`` (CycleGAN weights it by 0.5 * lambda_cycle)."""
    _check_pair("identity_loss", same, real)
    return F.l1_loss(same, real)
