"""Networks: one plain-dict registry, one factory, one weight initialiser, one limits check.

``build_network(arch, **kwargs)`` builds ``NETWORKS[arch](**kwargs)``, initialises its weights
and records ``net.arch`` / ``net.arch_kwargs`` (every constructor argument, defaults included)
so a checkpoint can rebuild the exact network with ``build_network(net.arch, **net.arch_kwargs)``.

``check_network(arch, kwargs, input_size=...)`` answers "would this network build, and does it
take inputs of this size?" without building it, from what each network class declares
(``requirements``, see ``translate.nets.requirements``) and from its own constructor checks run
on the meta device. Training configs are validated with it, so the limits live only here.

    >>> from translate.nets import build_network
    >>> G = build_network("unet_256", in_channels=1, out_channels=3, ngf=64)
    >>> G.pad_multiple
    256
    >>> check_network("unet_256", {"ngf": 64}, input_size=128)
    Traceback (most recent call last):
    ...
    translate.errors.ConfigError: unet_256: input size must be a multiple of 256 (got 128); nearest valid: 256
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import torch
from torch import nn

from translate.errors import ConfigError, UnknownArchitectureError
from translate.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from translate.nets.patchgan import PatchDiscriminator, PixelDiscriminator
from translate.nets.requirements import NetworkRequirements
from translate.nets.resnet import ResnetGenerator
from translate.nets.srresnet import SRDiscriminator, SRResNet
from translate.nets.unet import UnetGenerator

__all__ = [
    "NETWORKS", "INIT_TYPES", "NetworkRequirements", "build_network", "check_network", "init_weights",
    "network_arguments", "network_requirements", "ResnetGenerator", "UnetGenerator",
    "PatchDiscriminator", "PixelDiscriminator", "SRResNet", "SRDiscriminator", "DCGANGenerator",
    "DCGANDiscriminator",
]

# name -> constructor. The fixed keywords of a partial are part of the name (resnet_6blocks
# always has 6 blocks); build_network refuses to override them.
NETWORKS: dict[str, Callable[..., nn.Module]] = {
    "resnet_9blocks": functools.partial(ResnetGenerator, n_blocks=9),
    "resnet_6blocks": functools.partial(ResnetGenerator, n_blocks=6),
    "unet_128": functools.partial(UnetGenerator, num_downs=7),
    "unet_256": functools.partial(UnetGenerator, num_downs=8),
    "patch": PatchDiscriminator,
    "pixel": PixelDiscriminator,
    "srresnet": SRResNet,
    "srgan_d": SRDiscriminator,
    "dcgan_g": DCGANGenerator,
    "dcgan_d": DCGANDiscriminator,
}

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialise conv / transposed-conv / linear weights in place; biases to 0.

    ``normal``: N(0, init_gain) as in the DCGAN, pix2pix and CycleGAN papers; ``xavier`` and
    ``orthogonal`` use ``init_gain`` as gain; ``kaiming`` is He-normal (fan_in, gain ignored).
    Affine norm layers get weight N(1, init_gain) and bias 0. Embeddings and PReLU keep their
    PyTorch defaults. A layer whose network marked it ``zero_init = True`` (the last layer of a
    residual branch that must start at zero: SRResNet's global skip, the keep-luma U-Net) gets
    zeros instead, so the network starts as its skip path. Returns ``net``.
    """
    if init_type not in INIT_TYPES:
        raise ConfigError(f"unknown init_type {init_type!r}; choose one of {', '.join(INIT_TYPES)}")
    for m in net.modules():
        weight = getattr(m, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.is_meta:
            continue  # shape-only networks (built under torch.device("meta")) hold no values to set
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and getattr(m, "zero_init", False):
            nn.init.zeros_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, init_gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=init_gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(m.weight, gain=init_gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm)):
            if getattr(m, "weight", None) is not None:
                nn.init.normal_(m.weight, 1.0, init_gain)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
    return net


def _fixed_kwargs(ctor: Callable) -> dict:
    return dict(ctor.keywords) if isinstance(ctor, functools.partial) else {}


def _bind(arch: str, kwargs: dict) -> tuple[Callable[..., nn.Module], dict]:
    """(constructor, every constructor argument with defaults applied) for ``arch`` and ``kwargs``."""
    if arch not in NETWORKS:
        raise UnknownArchitectureError(f"unknown network {arch!r}; choose one of {', '.join(NETWORKS)}")
    ctor = NETWORKS[arch]
    sig = inspect.signature(ctor)
    for key, value in _fixed_kwargs(ctor).items():
        if key in kwargs and kwargs[key] != value:
            raise ConfigError(f"{arch} always has {key}={value}; pick another architecture name instead of {value!r}")
    try:
        bound = sig.bind(**kwargs)
    except TypeError as exc:
        accepted = ", ".join(sig.parameters)
        raise ConfigError(f"bad arguments for {arch}: {exc}; it accepts {accepted}") from exc
    bound.apply_defaults()
    return ctor, dict(bound.arguments)


def network_arguments(arch: str, kwargs: dict | None = None) -> dict:
    """Every constructor argument of ``arch`` built with ``kwargs``, defaults included (what
    ``net.arch_kwargs`` records); a checkpoint written before an argument existed gets its default."""
    return _bind(arch, dict(kwargs or {}))[1]


def network_requirements(arch: str, kwargs: dict | None = None) -> NetworkRequirements:
    """What network ``arch`` built with ``kwargs`` (defaults for the rest) accepts; nothing is built."""
    ctor, args = _bind(arch, dict(kwargs or {}))
    cls = ctor.func if isinstance(ctor, functools.partial) else ctor
    return cls.requirements(**args)


def check_network(arch: str, kwargs: dict | None = None, *, input_size: int | None = None,
                  what: str | None = None, size_name: str = "input size") -> NetworkRequirements:
    """Raise ConfigError unless ``arch`` builds with ``kwargs`` and takes square inputs of ``input_size``.

    Checks, in order: the name and argument names; every argument with a closed set of values
    (``NetworkRequirements.choices``); the constructor's own checks, run on the meta device (no
    memory, no weights); the input size against ``input_multiple`` / ``min_input_size``. Messages
    start with ``what`` (default: the architecture name; a config check passes e.g. "netG=unet_256")
    and name the config key ``size_name`` with the values that would work. Returns the requirements.
    """
    what = what or arch
    ctor, args = _bind(arch, dict(kwargs or {}))
    req = network_requirements(arch, args)
    for key, allowed in req.choices.items():
        if args.get(key) not in allowed:
            raise ConfigError(f"{what}: {key} must be one of {', '.join(map(str, allowed))} (got {args.get(key)!r})")
    try:
        with torch.device("meta"):  # the constructor's own argument checks, without allocating anything
            ctor(**args)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from exc
    if input_size is not None:
        m, low = req.input_multiple, req.min_input_size
        if input_size % m:
            below, above = (input_size // m) * m, max(low, (input_size // m + 1) * m)
            nearest = " or ".join(str(v) for v in (below, above) if v >= low)
            raise ConfigError(f"{what}: {size_name} must be a multiple of {m} (got {input_size}); "
                              f"nearest valid: {nearest}")
        if input_size < low:
            raise ConfigError(f"{what}: {size_name} must be at least {low} (got {input_size})")
    return req


def build_network(arch: str, *, init_type: str = "normal", init_gain: float = 0.02, **kwargs) -> nn.Module:
    """Build, initialise and label the network ``arch`` from explicit keyword arguments.

    Raises UnknownArchitectureError for an unknown name (listing the valid ones) and
    ConfigError for unknown or invalid keyword arguments.
    """
    ctor, args = _bind(arch, kwargs)
    net = ctor(**args)
    init_weights(net, init_type, init_gain)
    net.arch = arch
    net.arch_kwargs = args
    return net
