"""The contract of a training method: what a method file (``training/pix2pix.py`` ...) defines.

A method is one file with two classes, registered in ``training/registry.py``:

- a config dataclass derived from :class:`TrainConfig` (the fields every method shares) that adds
  the method's own fields and defaults (the full-size paper settings) and checks them in ``check``;
- a :class:`Method` subclass that names its config class and data layout, describes its networks
  (:meth:`Method.networks`), builds its dataset, and implements ``train_step`` (the D and G steps),
  validation, sample-grid columns, the minimum image size and provenance.

``train_step(batch, o)`` gets ``o``, a :class:`training.loop.StepContext`, which provides
``autocast()`` and ``step(optimizer_name, loss)`` (backward, gradient averaging across processes,
optimizer step). Nothing in a method knows about DDP, AMP or checkpoints; nothing outside a method
branches on its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from translate.errors import ConfigError
from translate.losses import GAN_MODES
from translate.modelinfo import TASK_OF_FAMILY, ModelInfo
from translate.nets import INIT_TYPES, build_network, check_network


def choice(name: str, value: Any, allowed: tuple) -> None:
    """ConfigError unless ``value`` is one of ``allowed`` (the message lists them)."""
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of {', '.join(map(str, allowed))}")


@dataclass
class TrainConfig:
    """Fields every method shares: optimisation, schedule, logging, checkpoints, hardware.

    ``resume_may_change`` names the keys a resumed run may set differently from its checkpoint
    (the schedule's length and learning rate, logging and checkpoint intervals, hardware); any
    other difference is refused, because the checkpoint's networks, optimizer state and data
    order belong to the values it was trained with. ``derived_keys`` are computed by ``check``
    from other keys, so a resume recomputes them instead of taking the checkpoint's.
    """

    resume_may_change: ClassVar[frozenset[str]] = frozenset({
        "lr", "max_steps", "n_epochs", "n_epochs_decay",  # how long and how fast
        "log_every", "sample_every", "val_every", "val_images", "ckpt_every", "keep_last", "health_every",
        "tensorboard",  # what is logged and kept
        "device", "amp", "channels_last", "compile", "num_workers", "deterministic", "skip_bad",  # how it runs
    })
    derived_keys: ClassVar[tuple[str, ...]] = ()

    method: str = ""
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "off"  # off | bf16 (CUDA, or a CPU: native on avx512_bf16/AMX) | fp16 (CUDA only, with a GradScaler)
    channels_last: bool = False
    compile: bool = False  # torch.compile the networks for training steps (the first step compiles: minutes)
    batch_size: int = 1  # per process
    num_workers: int = 0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    gan_mode: str = "vanilla"
    n_epochs: int = 100  # epochs at the initial learning rate
    n_epochs_decay: int = 100  # epochs of linear decay to zero afterwards
    max_steps: int = 0  # > 0 overrides the epoch schedule's length (decay is then scaled to fit)
    init_type: str = "normal"
    init_gain: float = 0.02
    ema_decay: float = 0.0  # 0 = no generator EMA; e.g. 0.999
    log_every: int = 50
    sample_every: int = 500
    val_every: int = 0  # 0 = only at the end
    val_images: int = 16
    ckpt_every: int = 1000
    keep_last: int = 3
    health_every: int = 50
    tensorboard: bool = True
    skip_bad: bool = False
    in_channels: int = 3
    out_channels: int = 3
    netG: str = "unet_256"
    netG_kwargs: dict = field(default_factory=dict)
    netD: str = "patch"
    netD_kwargs: dict = field(default_factory=dict)

    def check(self) -> None:
        """Raise ConfigError for a bad value or combination of the shared fields.

        Subclasses extend this for their own fields; networks are checked afterwards by
        :meth:`Method.check_config`, against what each network says it accepts.
        """
        choice("device", self.device, ("auto", "cpu", "cuda"))
        choice("amp", self.amp, ("off", "bf16", "fp16"))
        choice("gan_mode", self.gan_mode, GAN_MODES)
        choice("init_type", self.init_type, INIT_TYPES)
        for name in ("batch_size", "log_every", "sample_every", "ckpt_every", "keep_last", "health_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1 (got {getattr(self, name)})")
        for name in ("n_epochs", "n_epochs_decay", "max_steps", "val_every", "val_images", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0 (got {self.lr})")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError(f"beta1/beta2 must be in [0, 1) (got {self.beta1}, {self.beta2})")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in [0, 1) (got {self.ema_decay}); 0 disables EMA")
        if self.n_epochs + self.n_epochs_decay == 0 and self.max_steps == 0:
            raise ConfigError("nothing to train: n_epochs + n_epochs_decay = 0 and max_steps = 0")
        if self.in_channels not in (1, 3) or self.out_channels not in (1, 3):
            raise ConfigError("in_channels/out_channels must be 1 (grey) or 3 (RGB)")


@dataclass(frozen=True)
class NetworkSpec:
    """One network of a method: ``build_network(arch, **kwargs)``, seeing square inputs of ``input_size``.

    ``role`` is the config key that chose ``arch`` (netG / netD) and ``size_name`` the config key
    that sets ``input_size``; both only word error messages. ``input_size`` None: no image input
    to check (a DCGAN generator) or one fixed by the kwargs (a DCGAN discriminator).
    """

    arch: str
    kwargs: dict
    role: str = "netG"
    input_size: int | None = None
    size_name: str = "crop_size"


def set_requires_grad(nets, flag: bool) -> None:
    """Freeze/unfreeze networks (a frozen D still passes gradients to G through its input)."""
    for net in nets if isinstance(nets, (list, tuple)) else [nets]:
        for p in net.parameters():
            p.requires_grad_(flag)


class Method:
    """Base class of a training method: ``nets`` (name -> module), ``optimizers`` (name -> Adam).

    Class attributes a method sets: ``config_class`` (its TrainConfig subclass), ``family`` (the
    model family of its checkpoints and exports, ``translate.modelinfo.FAMILIES``), ``data_layout``
    (``translate.data.LAYOUTS``), ``generators`` (exportable nets), ``directions``, ``opt_groups``
    (optimizer name -> the nets it updates), ``best_metric`` (validation key for best.pt) and
    ``higher_is_better``. Hooks: :meth:`networks`, :meth:`dataset`, :meth:`min_image_size`,
    :meth:`train_step`, :meth:`validate`; the others have defaults. ``dataset(..., train=False)``
    returns the validation split, or raises ``training.data.NoValidationSplit`` when the data has
    none (the run then has no validation and no ``best.pt``).
    """

    config_class: type[TrainConfig] = TrainConfig
    family = ""
    data_layout = ""
    generators: tuple[str, ...] = ("G",)
    directions: dict[str, str] = {}
    opt_groups: dict[str, tuple[str, ...]] = {"G": ("G",), "D": ("D",)}
    best_metric = "val/psnr"
    higher_is_better = True

    # ------------------------------------------------------------ described from the config alone
    @classmethod
    def networks(cls, cfg) -> dict[str, NetworkSpec]:
        """Every network of the method (name -> spec), with the kwargs the method fixes (channels, scale)."""
        raise NotImplementedError

    @classmethod
    def check_config(cls, cfg) -> None:
        """Everything that can be checked before any data is read: the config's own fields
        (``cfg.check()``), then each network against what it accepts (``translate.nets.check_network``)."""
        cfg.check()
        for spec in cls.networks(cfg).values():
            check_network(spec.arch, spec.kwargs, input_size=spec.input_size, what=f"{spec.role}={spec.arch}",
                          size_name=spec.size_name)

    @classmethod
    def dataset(cls, cfg, root, *, train: bool = True, exclude=()) -> torch.utils.data.Dataset:
        """The dataset the method trains on (``train``) or validates on; items are addressed by (index, seed)."""
        raise NotImplementedError

    @classmethod
    def check_data(cls, cfg, dataset) -> None:
        """ConfigError when the training ``dataset`` does not fit ``cfg`` (e.g. its number of classes)."""

    @classmethod
    def min_image_size(cls, cfg=None) -> int | None:
        """Smallest usable image side for the data check: for ``cfg``'s run, or (None) for any run."""
        return None

    @classmethod
    def data_scale(cls, cfg=None) -> int | None:
        """Super-resolution: the factor between HR and LR images of the data (None: not an SR method)."""
        return None

    # ------------------------------------------------------------ one run
    def __init__(self, cfg, device) -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.nets: dict[str, nn.Module] = {
            name: build_network(spec.arch, init_type=cfg.init_type, init_gain=cfg.init_gain, **spec.kwargs).to(device)
            for name, spec in self.networks(cfg).items()
        }
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.last_fake: torch.Tensor | None = None  # newest generator output, for health checks
        self.class_names: list[str] = []  # the training data's classes (set by the trainer), label k = name k

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

    def validate(self, items: list[dict], generators: dict[str, nn.Module], to_device) -> dict[str, float]:
        """Validation metrics (keys ``val/...``, one of them ``best_metric``) on unaugmented ``items``.

        ``generators`` are in eval mode (EMA copies when enabled); ``to_device`` moves a collated batch.
        """
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, batch: dict, generators: dict[str, nn.Module]) -> list[torch.Tensor]:
        """Columns of a sample grid: input | output | target, each [N, C, H, W] in [-1, 1]."""
        g = generators[self.generators[0]]
        out = g(batch["A"])
        return [batch["A"], out, batch["B"]]

    @torch.no_grad()
    def fixed_samples(self, generators: dict[str, nn.Module], round_: int = 0) -> dict[str, torch.Tensor] | None:
        """Generators of latents only: images [N, C, H, W] from N fixed latents per group (a class name,
        or "all"), for the health monitor's diversity check. None (the default): not applicable, as
        a translator's output is fixed by its input. ``round_`` counts the checks (to rotate classes)."""
        return None

    def provenance(self) -> dict[str, str]:
        """Method-specific facts stored with each checkpoint (e.g. which content loss SRGAN used)."""
        return {}

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
                class_names=self.class_names if getattr(g, "num_classes", 0) else [],
                image_size=int(self.image_size()), direction=self.directions.get(name, ""),
            )
        return out

    def image_size(self) -> int:
        """ModelInfo.image_size: the training crop (translators) or the output size (generators)."""
        raise NotImplementedError

    def extra_state(self) -> dict:
        """Method state beyond nets/optimizers (e.g. image pools); plain tensors/lists only."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore :meth:`extra_state`."""
