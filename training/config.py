"""One typed config per training run: dataclass defaults <- preset YAML <- config file <- ``--set``.

Every value is checked (known key, right type, allowed choice, sane range) before any data is
read or any network is built, and the resolved config is written next to the results
(``RUN_DIR/config.yaml``). Paper defaults live in ``training/presets/*.yaml`` (see the README's
preset table); the dataclass defaults equal the full-size paper presets.

Keys are flat (``lr``, ``lambda_L1``) except the two network-kwargs dicts, which take dotted
overrides: ``--set netG_kwargs.ngf=32``.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from translate.errors import ConfigError

PRESET_DIR = Path(__file__).parent / "presets"
METHODS = ("pix2pix", "cyclegan", "srgan", "dcgan")
GAN_MODES = ("vanilla", "lsgan", "hinge", "wgangp")


@dataclass
class TrainConfig:
    """Fields every method shares: optimisation, schedule, logging, checkpoints, hardware."""

    method: str = ""
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "off"  # off | bf16 | fp16 (CUDA only; fp16 uses a GradScaler)
    channels_last: bool = False
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
        """Raise ConfigError for a bad value or combination (called by :func:`load_config`)."""
        _choice("device", self.device, ("auto", "cpu", "cuda"))
        _choice("amp", self.amp, ("off", "bf16", "fp16"))
        _choice("gan_mode", self.gan_mode, GAN_MODES)
        _choice("init_type", self.init_type, ("normal", "xavier", "kaiming", "orthogonal"))
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


@dataclass
class Pix2PixConfig(TrainConfig):
    """pix2pix (Isola et al. 2017): U-Net 256 + 70x70 PatchGAN on (input, output), GAN + 100 * L1."""

    method: str = "pix2pix"
    lambda_L1: float = 100.0
    direction: str = "AtoB"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    netG_kwargs: dict = field(default_factory=lambda: {"ngf": 64, "norm": "batch", "use_dropout": True})
    netD_kwargs: dict = field(default_factory=lambda: {"ndf": 64, "n_layers": 3, "norm": "batch"})

    def check(self) -> None:
        """Validate the pix2pix fields on top of the shared ones."""
        super().check()
        _choice("direction", self.direction, ("AtoB", "BtoA"))
        _crop(self)


@dataclass
class CycleGANConfig(TrainConfig):
    """CycleGAN (Zhu et al. 2017): two ResNet generators, two PatchGANs, LSGAN, cycle 10, identity 0.5."""

    method: str = "cyclegan"
    gan_mode: str = "lsgan"
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5  # times lambda_A / lambda_B, as in the paper's code
    pool_size: int = 50
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    netG: str = "resnet_9blocks"
    netG_kwargs: dict = field(default_factory=lambda: {"ngf": 64, "norm": "instance", "use_dropout": False})
    netD_kwargs: dict = field(default_factory=lambda: {"ndf": 64, "n_layers": 3, "norm": "instance"})

    def check(self) -> None:
        """Validate the CycleGAN fields on top of the shared ones."""
        super().check()
        if self.pool_size < 0:
            raise ConfigError(f"pool_size must be >= 0 (got {self.pool_size}); 0 disables the image pool")
        if self.lambda_identity > 0 and self.in_channels != self.out_channels:
            raise ConfigError("lambda_identity > 0 needs in_channels == out_channels; set lambda_identity=0")
        _crop(self)


@dataclass
class SRGANConfig(TrainConfig):
    """SRGAN (Ledig et al. 2017): SRResNet stage (MSE) then GAN stage (VGG content + 1e-3 adversarial)."""

    method: str = "srgan"
    scale: int = 4
    hr_size: int = 96  # HR crop; LR crop = hr_size / scale
    batch_size: int = 16
    lr: float = 1e-4
    beta1: float = 0.9
    srresnet_steps: int = 1_000_000
    gan_steps: int = 200_000
    gan_lr_drop_at: int = 100_000  # steps into the GAN stage where lr becomes lr / 10
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
        """Validate the SRGAN fields; the schedule is in steps, not epochs."""
        self.n_epochs, self.n_epochs_decay = 0, 0
        if self.max_steps == 0:
            self.max_steps = self.srresnet_steps + self.gan_steps
        super().check()
        _choice("content_loss", self.content_loss, ("vgg", "pixel-mse"))
        if self.scale not in (2, 3, 4, 8):
            raise ConfigError(f"scale must be 2, 3, 4 or 8 (got {self.scale})")
        if self.hr_size % self.scale:
            raise ConfigError(f"hr_size {self.hr_size} must be a multiple of scale {self.scale}")
        if self.srresnet_steps < 0 or self.gan_steps < 0 or self.srresnet_steps + self.gan_steps == 0:
            raise ConfigError("srresnet_steps and gan_steps must be >= 0 and not both 0")
        if self.max_steps != self.srresnet_steps + self.gan_steps:
            raise ConfigError("for srgan set srresnet_steps / gan_steps instead of max_steps")


@dataclass
class DCGANConfig(TrainConfig):
    """DCGAN (Radford et al. 2016), optionally class-conditional (Mirza & Osindero 2014)."""

    method: str = "dcgan"
    nz: int = 100
    image_size: int = 64
    num_classes: int = 0  # > 0: conditional; labels come from the data (IDX labels or class folders)
    class_filter: list = field(default_factory=list)  # IDX data: keep only these labels
    batch_size: int = 128
    n_epochs: int = 25
    n_epochs_decay: int = 0
    in_channels: int = 3  # channels of the data images (= generator output channels)
    out_channels: int = 3
    netG: str = "dcgan_g"
    netG_kwargs: dict = field(default_factory=lambda: {"ngf": 64})
    netD: str = "dcgan_d"
    netD_kwargs: dict = field(default_factory=lambda: {"ndf": 64})

    def check(self) -> None:
        """Validate the DCGAN fields; data channels and output channels are the same thing here."""
        super().check()
        if self.image_size not in (28, 32, 64, 128):
            raise ConfigError(f"image_size must be 28, 32, 64 or 128 (got {self.image_size})")
        if self.nz < 1 or self.num_classes < 0:
            raise ConfigError("nz must be >= 1 and num_classes >= 0")
        if self.in_channels != self.out_channels:
            raise ConfigError("for dcgan in_channels (data) and out_channels (generator) must be equal")


CONFIGS: dict[str, type[TrainConfig]] = {
    "pix2pix": Pix2PixConfig,
    "cyclegan": CycleGANConfig,
    "srgan": SRGANConfig,
    "dcgan": DCGANConfig,
}


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of {', '.join(map(str, allowed))}")


def _crop(cfg: Any) -> None:
    if cfg.crop_size < 16 or cfg.load_size < cfg.crop_size:
        raise ConfigError(f"need 16 <= crop_size <= load_size (got crop {cfg.crop_size}, load {cfg.load_size})")


def presets_for(method: str) -> list[str]:
    """Names of the presets whose ``method`` is ``method`` (file stem = preset name)."""
    names = []
    for p in sorted(PRESET_DIR.glob("*.yaml")):
        data = yaml.safe_load(p.read_text()) or {}
        if data.get("method") == method:
            names.append(p.stem)
    return names


def _read_yaml(path: Path, what: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must be a mapping of key: value")
    return data


def _coerce(key: str, value: Any, ftype: Any, default: Any) -> Any:
    """Check/convert one value to the field's type; strings from --set are parsed as YAML first."""
    origin = typing.get_origin(ftype) or ftype
    if isinstance(ftype, str):  # postponed annotations: map names to types
        origin = {"int": int, "float": float, "bool": bool, "str": str, "dict": dict, "list": list}[ftype]
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if origin is list and value is None:
        return []
    if not isinstance(value, origin) or (origin is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {origin.__name__} (got {value!r}, a {type(value).__name__})")
    return value


def _apply(cfg_dict: dict, types: dict, updates: dict, source: str) -> None:
    for key, value in updates.items():
        if "." in key:  # netG_kwargs.ngf=8
            head, sub = key.split(".", 1)
            if head not in types or types[head] not in (dict, "dict"):
                raise ConfigError(f"{source}: {key!r}: only netG_kwargs / netD_kwargs take dotted keys")
            cfg_dict[head] = {**cfg_dict[head], sub: value}
            continue
        if key not in types:
            close = difflib.get_close_matches(key, list(types), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{source}: unknown config key {key!r}{hint} (see --print-config for all keys)")
        value = _coerce(key, value, types[key], cfg_dict[key])
        # dict fields (network kwargs) merge, so a preset can change ngf without restating norm
        cfg_dict[key] = {**cfg_dict[key], **value} if isinstance(value, dict) else value


def parse_set(items: list[str]) -> dict:
    """``["lr=1e-4", "netG_kwargs.ngf=8"]`` -> ``{"lr": 1e-4, "netG_kwargs.ngf": 8}`` (values as YAML)."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set lr=1e-4")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: cannot parse the value: {exc}") from exc
    return out


def load_config(
    method: str,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
) -> TrainConfig:
    """Resolve and validate a config: defaults <- preset <- file <- overrides (later wins)."""
    if method not in CONFIGS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    cls = CONFIGS[method]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    types = {n: f.type for n, f in fields.items()}
    base = dataclasses.asdict(cls())
    layers: list[tuple[str, dict]] = []
    if preset:
        path = PRESET_DIR / f"{preset}.yaml"
        if not path.is_file():
            have = presets_for(method)
            close = difflib.get_close_matches(preset, have, n=3)
            raise ConfigError(
                f"no preset {preset!r} for {method}; available: {', '.join(have) or 'none'}"
                + (f" (did you mean {', '.join(close)}?)" if close else "")
            )
        layers.append((f"preset {preset}", _read_yaml(path, "preset")))
    if config_file:
        layers.append((f"config {config_file}", _read_yaml(Path(config_file), "config file")))
    if overrides:
        layers.append(("--set", overrides))
    for source, data in layers:
        if data.get("method", method) != method:
            raise ConfigError(f"{source} is for method {data['method']!r}, not {method!r}")
        _apply(base, types, data, source)
    cfg = cls(**base)
    cfg.check()
    return cfg


def config_to_yaml(cfg: TrainConfig) -> str:
    """The resolved config as YAML text (what goes into RUN_DIR/config.yaml)."""
    return yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)


def config_from_dict(data: dict) -> TrainConfig:
    """Rebuild a config stored in a checkpoint or config.yaml (validated)."""
    method = data.get("method", "")
    if method not in CONFIGS:
        raise ConfigError(f"stored config has unknown method {method!r}")
    return load_config(method, overrides={k: v for k, v in data.items() if k != "method"})
