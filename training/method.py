"""What every method file (pix2pix, cyclegan, srgan, dcgan) shares: building its networks and
optimizers from the config, describing its generators for export, and sampling for grids.

A method owns networks and losses and implements ``train_step(batch, o)`` with its D and G
steps; ``o`` (a :class:`training.loop.StepContext`) provides ``autocast()`` and
``step(optimizer_name, loss)``, which does backward, gradient averaging across processes and
the optimizer step. Nothing here knows about DDP, AMP or checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

from translate.modelinfo import TASK_OF_FAMILY, ModelInfo


def set_requires_grad(nets, flag: bool) -> None:
    """Freeze/unfreeze networks (a frozen D still passes gradients to G through its input)."""
    for net in nets if isinstance(nets, (list, tuple)) else [nets]:
        for p in net.parameters():
            p.requires_grad_(flag)


class Method:
    """Base class: ``nets`` (name -> module), ``optimizers`` (name -> Adam), ``generators``."""

    family = ""
    generators: tuple[str, ...] = ("G",)
    directions: dict[str, str] = {}
    opt_groups: dict[str, tuple[str, ...]] = {"G": ("G",), "D": ("D",)}

    def __init__(self, cfg, device) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.last_fake: torch.Tensor | None = None  # newest generator output, for health checks

    def build(self, arch: str, kwargs: dict, **fixed) -> nn.Module:
        """``build_network(arch, **kwargs, **fixed)`` on the run's device; ``fixed`` wins (channels)."""
        from translate.nets import build_network

        net = build_network(arch, init_type=self.cfg.init_type, init_gain=self.cfg.init_gain, **{**kwargs, **fixed})
        return net.to(self.device)

    def make_optimizers(self, lr: float | None = None) -> None:
        """One Adam per group in ``opt_groups`` (paper settings come from the config)."""
        cfg = self.cfg
        for name, members in self.opt_groups.items():
            params = [p for m in members for p in self.nets[m].parameters()]
            self.optimizers[name] = torch.optim.Adam(params, lr=lr or cfg.lr, betas=(cfg.beta1, cfg.beta2))

    def lr_factor(self, step: int, total: int) -> float:
        """Learning-rate multiplier at ``step``: constant for n_epochs, then linear decay to 0."""
        cfg = self.cfg
        epochs = cfg.n_epochs + cfg.n_epochs_decay
        if cfg.n_epochs_decay == 0 or epochs == 0:
            return 1.0
        const = total * cfg.n_epochs / epochs
        decay = total - const
        return 1.0 - max(0.0, step - const) / (decay + 1.0)

    def train_step(self, batch: dict, o) -> dict[str, torch.Tensor]:
        """One iteration (D and G updates); returns named scalar losses."""
        raise NotImplementedError

    def processing(self) -> dict[str, ModelInfo]:
        """ModelInfo of each exportable generator (so export never asks for flags)."""
        out = {}
        for name in self.generators:
            g = self.nets[name]
            out[name] = ModelInfo(
                family=self.family, task=TASK_OF_FAMILY[self.family],
                in_channels=int(g.in_channels), out_channels=int(g.out_channels),
                pad_multiple=int(getattr(g, "pad_multiple", 1)), scale=int(getattr(g, "scale", 1)),
                latent_size=int(getattr(g, "nz", 0)), num_classes=int(getattr(g, "num_classes", 0) or 0),
                image_size=int(self.image_size()), direction=self.directions.get(name, ""),
            )
        return out

    def image_size(self) -> int:
        """Training crop size (translators) or output size (generators), for ModelInfo."""
        return int(getattr(self.cfg, "crop_size", 0) or getattr(self.cfg, "hr_size", 0))

    @torch.no_grad()
    def sample(self, batch: dict, generators: dict[str, nn.Module]) -> list[torch.Tensor]:
        """Columns of a sample grid: input | output | target, each [N, C, H, W] in [-1, 1]."""
        g = generators[self.generators[0]]
        out = g(batch["A"])
        return [batch["A"], out, batch["B"]]

    def extra_state(self) -> dict:
        """Method state beyond nets/optimizers (e.g. image pools); plain tensors/lists only."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore :meth:`extra_state`."""
