"""Reading state_dicts of the public pytorch-CycleGAN-and-pix2pix project into our networks.

Our ResnetGenerator / UnetGenerator / PatchDiscriminator share that project's parameter names,
so a state_dict needs only small clean-ups: a ``module.`` prefix (saved from DataParallel) is
removed, and the InstanceNorm running statistics that old versions stored (``running_mean``,
``running_var``, ``num_batches_tracked`` on instance-norm layers, from when its InstanceNorm
tracked running stats) are dropped: the reference itself deletes them at test time, and
instance norm here always uses per-image statistics. Batch-norm ``num_batches_tracked`` counters
that files from PyTorch < 0.4.1 lack are added as 0. Nothing else is renamed.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from translate.errors import CheckpointError
from translate.nets import NETWORKS

REFERENCE_GENERATORS = ("resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256")
RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")


def reference_generator_kwargs(
    arch: str, *, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, norm: str = "instance",
    use_dropout: bool = False,
) -> dict:
    """Our build_network kwargs for the reference options ``--netG arch --norm ... [--no_dropout]``."""
    if arch not in REFERENCE_GENERATORS:
        raise CheckpointError(f"--arch must be one of {', '.join(REFERENCE_GENERATORS)} (got {arch!r})")
    return {"in_channels": in_channels, "out_channels": out_channels, "ngf": ngf, "norm": norm,
            "use_dropout": use_dropout}


def strip_wrapper_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the ``module.`` prefix that DataParallel adds to every key, if all keys carry it."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def drop_instance_norm_stats(
    state_dict: dict[str, torch.Tensor], net: nn.Module
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Split off running-stat keys that belong to instance-norm layers of ``net``.

    Returns (kept state_dict, dropped keys). Keys whose layer is not an InstanceNorm in ``net``
    are kept, so a genuine mismatch is still reported by :func:`compare_state_dict`.
    """
    modules = dict(net.named_modules())
    kept, dropped = {}, []
    for key, value in state_dict.items():
        prefix, _, leaf = key.rpartition(".")
        layer = modules.get(prefix)
        if leaf in RUNNING_STATS and isinstance(layer, nn.modules.instancenorm._InstanceNorm) \
                and not layer.track_running_stats:
            dropped.append(key)
        else:
            kept[key] = value
    return kept, dropped


def fill_batches_tracked(
    state_dict: dict[str, torch.Tensor], net: nn.Module
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Add ``num_batches_tracked`` = 0 for batch-norm layers whose file lacks it (PyTorch < 0.4.1 files).

    The counter only matters for ``momentum=None`` (cumulative averages), which these nets never use.
    Returns (state_dict with the keys added, added keys).
    """
    out, added = dict(state_dict), []
    for name, m in net.named_modules():
        key = f"{name}.num_batches_tracked"
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and key not in out \
                and f"{name}.running_mean" in out:
            out[key] = torch.tensor(0, dtype=torch.long)
            added.append(key)
    return out, added


def compare_state_dict(
    state_dict: dict[str, torch.Tensor], net: nn.Module
) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, 'key: file shape vs net shape' lines) of ``state_dict`` vs ``net``."""
    own = net.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        f"{k}: file {tuple(v.shape)} vs network {tuple(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    return missing, unexpected, mismatched


def _fits(state_dict: dict[str, torch.Tensor], net: nn.Module) -> bool:
    kept, _ = drop_instance_norm_stats(state_dict, net)
    kept, _ = fill_batches_tracked(kept, net)
    return not any(compare_state_dict(kept, net))


def matching_options(
    state_dict: dict[str, torch.Tensor], *, in_channels: int, out_channels: int, ngf: int
) -> list[dict]:
    """Reference generator options (arch, norm, use_dropout) under which ``state_dict`` loads strictly.

    ``use_dropout`` is None where dropout does not change the parameters (U-Net).

    Candidates are built on the meta device, so trying all of them costs no memory or time.
    """
    found = []
    for arch, norm, dropout in itertools.product(REFERENCE_GENERATORS, ("instance", "batch"), (False, True)):
        kwargs = reference_generator_kwargs(arch, in_channels=in_channels, out_channels=out_channels, ngf=ngf,
                                            norm=norm, use_dropout=dropout)
        with torch.device("meta"):
            net = NETWORKS[arch](**kwargs)
        if _fits(state_dict, net):
            found.append({"arch": arch, "norm": norm, "use_dropout": dropout})
    # U-Net dropout has no parameters, so both settings fit: report it once, without the flag
    both = {(o["arch"], o["norm"]) for o in found if o["use_dropout"]} & \
        {(o["arch"], o["norm"]) for o in found if not o["use_dropout"]}
    found = [o for o in found if (o["arch"], o["norm"]) not in both or o["use_dropout"]]
    for o in found:
        if (o["arch"], o["norm"]) in both:
            o["use_dropout"] = None
    return found


def _options_text(opt: dict) -> str:
    return f"--arch {opt['arch']} --norm {opt['norm']}" + (" --no-dropout" if opt["use_dropout"] is False else "")


def load_reference_state_dict(
    net: nn.Module, state_dict: dict[str, torch.Tensor], *, source: str = "the file", arch: str = "",
    ngf: int = 64, in_channels: int = 3, out_channels: int = 3,
) -> list[str]:
    """Load a reference-layout ``state_dict`` into ``net`` strictly; return the dropped stat keys.

    Batch-norm ``num_batches_tracked`` counters missing from very old files are added as 0.

    Raises CheckpointError naming a few missing / unexpected / mis-shaped keys and, when the
    weights fit other options, the ``--arch/--norm/--no-dropout`` to use instead.
    """
    state_dict = strip_wrapper_prefix(state_dict)
    kept, dropped = drop_instance_norm_stats(state_dict, net)
    kept, _ = fill_batches_tracked(kept, net)
    missing, unexpected, mismatched = compare_state_dict(kept, net)
    if missing or unexpected or mismatched:
        lines = [f"{source} does not fit {arch or type(net).__name__} with these options:"]
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
            if keys:
                more = f" (+{len(keys) - 4} more)" if len(keys) > 4 else ""
                lines.append(f"  {len(keys)} {label} keys, e.g. {', '.join(keys[:4])}{more}")
        fits = matching_options(state_dict, in_channels=in_channels, out_channels=out_channels, ngf=ngf)
        if fits:
            lines.append("  the weights fit: " + " | ".join(_options_text(o) for o in fits))
        else:
            lines.append("  check --arch (resnet_9blocks, resnet_6blocks, unet_128, unet_256), --norm, "
                         "--no-dropout, --ngf and --in-channels/--out-channels against the training options")
        raise CheckpointError("\n".join(lines))
    net.load_state_dict(kept, strict=True)
    return dropped
