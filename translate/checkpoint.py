"""Self-describing checkpoints: one file that rebuilds every network of a run.

Layout (a plain dict, loadable with ``torch.load(path, weights_only=True)``)::

    {
      "format": "translate-checkpoint", "format_version": 1,
      "family": "pix2pix" | "cyclegan" | "srgan" | "dcgan",
      "networks":   {name: {"arch": str, "kwargs": dict, "state_dict": dict}},   # G, D, G_A, ...
      "processing": {generator_name: ModelInfo.to_dict()},   # only the exportable generators
      "ema":        {generator_name: state_dict},             # optional EMA weights
      "config":     dict,                                     # resolved training config
      "provenance": {"run_name", "step", "epoch", "dataset", "created", "torch_version", ...},
      "training_state": dict | None,   # optimizers, schedulers, scaler, pools, RNG, step ...
    }

Names: pix2pix / srgan / dcgan use ``G`` (and ``D``); CycleGAN uses ``G_A`` (A->B), ``G_B``
(B->A), ``D_A``, ``D_B``. Writes are atomic (temp file + fsync + rename), so a crash never
leaves a half-written checkpoint under the final name; a truncated or foreign file raises
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from translate.atomic import atomic_write_bytes
from translate.errors import CheckpointError, ConfigError, ModelError
from translate.modelinfo import FAMILIES, ModelInfo

FORMAT_NAME = "translate-checkpoint"
FORMAT_VERSION = 1


def unwrap(net: nn.Module) -> nn.Module:
    """Strip DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        if hasattr(net, "_orig_mod"):  # torch.compile
            net = net._orig_mod
        elif isinstance(net, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            net = net.module
        else:
            return net


def _cpu_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in unwrap(net).state_dict().items()}


def network_entry(net: nn.Module) -> dict[str, Any]:
    """The checkpoint entry of one network: architecture name, constructor kwargs, weights.

    The network must come from :func:`translate.nets.build_network`, which records
    ``arch`` and ``arch_kwargs`` on it.
    """
    net = unwrap(net)
    arch = getattr(net, "arch", None)
    if arch is None:
        raise ModelError(f"{type(net).__name__} was not built by translate.nets.build_network; cannot describe it")
    return {
        "arch": arch,
        "kwargs": dict(net.arch_kwargs),
        "state_dict": _cpu_state(net),
    }


def build_checkpoint(
    family: str,
    networks: dict[str, nn.Module],
    processing: dict[str, ModelInfo],
    *,
    config: dict | None = None,
    provenance: dict | None = None,
    ema: dict[str, nn.Module] | None = None,
    training_state: dict | None = None,
) -> dict[str, Any]:
    """Assemble a checkpoint dict from live networks (unwrapped, weights moved to CPU)."""
    if family not in FAMILIES:
        raise ModelError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    missing = set(processing) - set(networks)
    if missing:
        raise ModelError(f"processing given for networks that are not saved: {sorted(missing)}")
    prov = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "torch_version": str(torch.__version__)}
    prov.update(provenance or {})
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "family": family,
        "networks": {name: network_entry(net) for name, net in networks.items()},
        "processing": {name: info.to_dict() for name, info in processing.items()},
        "ema": {name: _cpu_state(m) for name, m in (ema or {}).items()},
        "config": config or {},
        "provenance": prov,
        "training_state": training_state,
    }


def save_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``ckpt`` atomically; refuses dicts that are not our format."""
    if ckpt.get("format") != FORMAT_NAME:
        raise CheckpointError("save_checkpoint() expects a dict made by build_checkpoint()")
    try:
        return atomic_write_bytes(path, lambda f: torch.save(ckpt, f))
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from exc


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint with ``weights_only=True``.

    Raises CheckpointError (naming the file and what to do) for a missing, truncated,
    corrupt, foreign or too-new file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own message suggests weights_only=False, i.e. running arbitrary code: never repeat that.
        raise CheckpointError(
            f"checkpoint {path} is not a PyTorch file, or holds Python objects that safe loading "
            "(weights_only=True) refuses; translate checkpoints hold only tensors and plain values. "
            "Re-copy the file, or convert a foreign state_dict with `translate import-checkpoint`"
        ) from exc
    except Exception as exc:  # torch raises RuntimeError/EOFError/... for torn or corrupt zip files
        raise CheckpointError(
            f"checkpoint {path} is truncated, corrupt or not a PyTorch file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); re-copy it or use an earlier checkpoint"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT_NAME:
        if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            raise CheckpointError(
                f"{path} is a bare state_dict (e.g. from pytorch-CycleGAN-and-pix2pix), not a translate "
                "checkpoint; convert it with `translate import-checkpoint`"
            )
        raise CheckpointError(f"{path} is not a translate checkpoint (no '{FORMAT_NAME}' format marker)")
    version = ckpt.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format_version {version!r}; this tool reads <= {FORMAT_VERSION}")
    for key in ("family", "networks", "processing"):
        if key not in ckpt:
            raise CheckpointError(f"{path} lacks the '{key}' section; the file is damaged")
    return ckpt


def build_from_entry(entry: dict[str, Any], state_dict: dict | None = None) -> nn.Module:
    """Rebuild one network from its checkpoint entry and load its (or the given) weights strictly."""
    from translate.nets import build_network  # local: nets import torch modules only when needed

    net = build_network(entry["arch"], **entry["kwargs"])
    try:
        net.load_state_dict(state_dict if state_dict is not None else entry["state_dict"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"weights do not fit architecture {entry['arch']}: {str(exc).splitlines()[0]}") from exc
    return net


def generator_name(ckpt: dict[str, Any], direction: str | None = None) -> str:
    """Name of the exportable generator; ``direction`` picks one of CycleGAN's two.

    A missing or unknown direction is the caller's usage error (ConfigError, exit code 2).
    """
    names = list(ckpt["processing"])
    if not names:
        raise CheckpointError("checkpoint describes no exportable generator")
    if direction in (None, ""):
        if len(names) > 1:
            dirs = [ckpt["processing"][n].get("direction") for n in names]
            family = ckpt['family']
            raise ConfigError(f"this {family} checkpoint has several generators; choose --direction from {dirs}")
        return names[0]
    for n in names:
        stored = ckpt["processing"][n].get("direction", "")
        if stored == direction or (len(names) == 1 and not stored):  # e.g. SR/DCGAN have no direction
            return n
    available = [ckpt["processing"][n].get("direction") for n in names]
    raise ConfigError(f"no generator for direction {direction!r}; available: {available}")


def load_generator(
    ckpt_or_path: dict[str, Any] | str | os.PathLike,
    direction: str | None = None,
    ema: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, ModelInfo]:
    """Eval-mode generator plus its :class:`ModelInfo`, EMA weights when present and ``ema``."""
    ckpt = ckpt_or_path if isinstance(ckpt_or_path, dict) else load_checkpoint(ckpt_or_path)
    name = generator_name(ckpt, direction)
    weights = ckpt.get("ema", {}).get(name) if ema else None
    net = build_from_entry(ckpt["networks"][name], weights).to(device).eval()
    return net, ModelInfo.from_dict(ckpt["processing"][name])
