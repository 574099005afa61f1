"""Training-health warnings for the failure modes found hours too late otherwise.

- near-constant outputs (black/grey images): the per-image pixel std of the generator's outputs
  stays tiny;
- the discriminator winning completely: D is nearly certain on real and fake for many checks in
  a row, so the generator gets almost no gradient;
- diversity collapse (mode collapse): outputs within a batch are far more alike than the real
  images are;
- mode collapse of a generator of latents, on fixed seeds: the same DIVERSITY_SEEDS latents (per
  class for a conditional model) give nearly the same image, i.e. the mean per-pixel standard
  deviation across them is below SAMPLE_SPREAD grey levels (2 of 255). This catches what the
  batch check misses: a conditional DCGAN whose batches mix classes looks diverse while every
  class has collapsed to one image. The samples come from the generator as an export would run
  it (eval mode, EMA weights), so the check waits until batch-norm running averages have had
  BN_SETTLE_UPDATES updates: before that they still hold their initial values, and every output
  is near-constant without any collapse.

Each warning says what it saw and what usually helps. Thresholds are heuristics, stated here.
"""

from __future__ import annotations

import math

import torch

CONSTANT_STD = 0.02  # per-image std in [-1, 1] units: ~2.5 grey levels of 255
D_CERTAIN = 0.95  # D's probability (vanilla) or score (lsgan) on real above this, on fakes below 1 - this
D_PATIENCE = 5  # consecutive checks
DIVERSITY_RATIO = 0.1  # fake spread / real spread below this
SAMPLE_SPREAD = 2.0  # grey levels (of 255): mean per-pixel std across fixed-seed samples below this = collapse
BN_SETTLE_UPDATES = 50  # at momentum 0.1, 0.9^50 < 1% of the initial running statistics is left


def _prob(x: float, mode: str) -> float:
    if mode == "vanilla":
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))
    return x  # lsgan targets are 1 / 0; hinge/wgan scores have no probability reading


def _spread(x: torch.Tensor) -> float:
    """Mean distance of the images of a batch to their batch mean."""
    x = x.float().flatten(1)
    return float((x - x.mean(0, keepdim=True)).pow(2).mean(1).sqrt().mean())


def running_stats_settled(nets) -> bool:
    """True when every batch-norm layer of ``nets`` has averaged BN_SETTLE_UPDATES batches (or there is none)."""
    for net in nets:
        for m in net.modules():
            tracked = getattr(m, "num_batches_tracked", None)
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and tracked is not None and m.track_running_stats:
                if int(tracked) < BN_SETTLE_UPDATES:
                    return False
    return True


def sample_spread(images: torch.Tensor) -> float:
    """Mean over pixels of the per-pixel standard deviation across ``images`` [N, C, H, W] in [-1, 1],
    in grey levels of 255 (0 = all N images identical)."""
    x = images.float() * 127.5  # [-1, 1] -> a range of 255
    return float(x.std(0, unbiased=False).mean())


class HealthMonitor:
    """Feed it every ``health_every`` steps; it returns the warnings raised at that check.

    ``scalars`` holds the measurements of the last check (e.g. ``health/sample_spread``) for the
    metrics log and TensorBoard.
    """

    def __init__(self, gan_mode: str = "vanilla") -> None:
        self.gan_mode = gan_mode
        self.d_wins = 0
        self.active: set[str] = set()
        self.scalars: dict[str, float] = {}

    def check(self, step: int, losses: dict, fake: torch.Tensor | None, real: torch.Tensor | None,
              samples: dict[str, torch.Tensor] | None = None) -> list[str]:
        """Return new warnings (each once until the condition clears).

        ``samples``: images from fixed latents per group (a class name or "all"), for generators
        of latents (:meth:`training.method.Method.fixed_samples`).
        """
        seen: dict[str, str] = {}
        self.scalars = {}
        if samples:
            self._check_samples(step, samples, seen)
        if fake is not None:
            std = float(fake.float().flatten(1).std(1).mean())
            if std < CONSTANT_STD:
                seen["constant"] = (
                    f"step {step}: generator outputs are near-constant (mean per-image std {std:.4f} in [-1, 1]; "
                    f"mean value {float(fake.float().mean()):+.2f}). Usually helps: lower lr, check the data "
                    "normalisation (inputs must be in [-1, 1]), or restart from an earlier checkpoint."
                )
            if real is not None and fake.shape[0] >= 2 and real.shape == fake.shape:
                rs, fs = _spread(real), _spread(fake)
                if rs > 1e-3 and fs / rs < DIVERSITY_RATIO:
                    seen["diversity"] = (
                        f"step {step}: outputs in a batch are nearly identical (spread {fs:.4f} vs {rs:.4f} for real "
                        "images): mode collapse. Usually helps: lower D's lr or G's lr, a larger batch, "
                        "gan_mode=lsgan or wgangp, or EMA on the generator."
                    )
        if "D_real" in losses and "D_fake" in losses and self.gan_mode in ("vanilla", "lsgan"):
            pr, pf = _prob(float(losses["D_real"]), self.gan_mode), _prob(float(losses["D_fake"]), self.gan_mode)
            self.d_wins = self.d_wins + 1 if (pr > D_CERTAIN and pf < 1 - D_CERTAIN) else 0
            if self.d_wins >= D_PATIENCE:
                seen["d_wins"] = (
                    f"step {step}: the discriminator has won completely for {self.d_wins} checks in a row "
                    f"(D(real) {pr:.3f}, D(fake) {pf:.3f}); the generator gets almost no gradient. Usually "
                    "helps: lower D's lr, fewer D layers (netD_kwargs.n_layers), gan_mode=lsgan, or label smoothing."
                )
        new = [msg for key, msg in seen.items() if key not in self.active]
        self.active = set(seen)
        return new

    def _check_samples(self, step: int, samples: dict[str, torch.Tensor], seen: dict[str, str]) -> None:
        spreads = {name: sample_spread(x) for name, x in samples.items()}
        self.scalars["health/sample_spread"] = min(spreads.values())
        if len(spreads) > 1 or "all" not in spreads:
            self.scalars.update({f"health/sample_spread/{name}": v for name, v in spreads.items()})
        collapsed = {name: v for name, v in spreads.items() if v < SAMPLE_SPREAD}
        if collapsed:
            n = next(iter(samples.values())).shape[0]
            which = "" if list(collapsed) == ["all"] else " for class " + ", ".join(
                f"{name!r} ({v:.2f})" for name, v in collapsed.items())
            seen["sample_spread"] = (
                f"step {step}: mode collapse: {n} fixed latents give nearly the same image{which} (mean per-pixel "
                f"spread {min(collapsed.values()):.2f} of 255 grey levels, below {SAMPLE_SPREAD:g}). Usually helps: "
                "lower lr (G's or D's), gan_mode=lsgan or wgangp, a larger batch, EMA on the generator, or resume "
                "from an earlier checkpoint."
            )
