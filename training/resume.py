"""Resuming a run: which checkpoint to continue from, and whether the config may continue it.

``--resume PATH`` loads exactly that file (any problem is an error). ``--resume auto`` takes the
newest ``RUN/checkpoints/step_*.pt`` that loads: a truncated or corrupt newer file (a disk that
filled up, a copy cut short) is skipped with a message saying which and why, and left in place.

A resumed run takes its config from the checkpoint itself (not from ``RUN/config.yaml``, which
a user may have edited or another run may have replaced), so its networks are the checkpoint's;
``--preset``/``--config``/``--set`` given on resume are applied on top and may change only the
config class's ``resume_may_change`` keys (learning rate, schedule length, logging/checkpoint
intervals, hardware). Anything else is refused with the differing keys, e.g.
``netG_kwargs.ngf: checkpoint 64, config 32``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from translate.checkpoint import load_checkpoint
from translate.errors import CheckpointError, ConfigError

_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


@dataclass
class ResumePoint:
    """The checkpoint a run continues from (loaded on the CPU), and the damaged ones passed over."""

    path: Path
    checkpoint: dict
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def step(self) -> int:
        """The step the checkpoint was saved after."""
        return int(self.checkpoint["training_state"]["step"])


def step_checkpoints(ckpt_dir: Path) -> list[Path]:
    """``step_*.pt`` files in ``ckpt_dir``, newest (highest step) first."""
    found = [(int(m.group(1)), p) for p in Path(ckpt_dir).glob("step_*.pt") if (m := _STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def _resumable(path: Path) -> dict:
    """The loaded checkpoint, or CheckpointError when it is damaged or holds weights only."""
    ckpt = load_checkpoint(path)
    if not ckpt.get("training_state"):
        raise CheckpointError(f"{path} holds weights only (no training state); it cannot be resumed")
    return ckpt


def find_resume_point(run_dir: str | Path, resume: str | None) -> ResumePoint | None:
    """The checkpoint ``--resume`` names: a path (strict), or ``auto`` (newest loadable one in
    RUN/checkpoints; None when there is none at all). CheckpointError when nothing usable is found."""
    if not resume:
        return None
    if resume != "auto":
        path = Path(resume)
        try:
            return ResumePoint(path, _resumable(path))
        except CheckpointError as exc:
            raise CheckpointError(f"--resume {resume}: {exc}. (`--resume auto` takes the newest checkpoint of "
                                  "the run folder that loads.)") from exc
    ckpt_dir = Path(run_dir) / "checkpoints"
    skipped: list[tuple[Path, str]] = []
    for path in step_checkpoints(ckpt_dir):
        try:
            return ResumePoint(path, _resumable(path), skipped)
        except CheckpointError as exc:
            skipped.append((path, str(exc)))
    if skipped:
        listing = "\n".join(f"  - {why}" for _, why in skipped)
        raise CheckpointError(f"--resume auto: none of the {len(skipped)} checkpoint(s) in {ckpt_dir} loads:\n"
                              f"{listing}\nRestore one from a backup, or start over in a new --out")
    return None


def _flat(d: dict, prefix: str = "") -> dict:
    """{"netG_kwargs": {"ngf": 64}} -> {"netG_kwargs.ngf": 64}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(stored: dict, current: dict, may_change=frozenset()) -> list[str]:
    """``"key: checkpoint X, config Y"`` for each key that differs, except top-level keys in ``may_change``.

    Keys the stored config lacks entirely (fields added since it was written) are not compared.
    """
    a, b = _flat(stored), _flat(current)
    diffs = []
    for key in sorted(set(a) | set(b)):
        top = key.split(".", 1)[0]
        if top in may_change or top not in stored:
            continue
        old, new = a.get(key, "(not set)"), b.get(key, "(not set)")
        if old != new:
            diffs.append(f"{key}: checkpoint {old!r}, config {new!r}")
    return diffs


def check_resume_config(cfg, point: ResumePoint) -> None:
    """ConfigError naming every key where ``cfg`` contradicts the checkpoint it resumes."""
    import dataclasses

    stored = point.checkpoint.get("config") or {}
    if stored.get("method", cfg.method) != cfg.method:
        raise ConfigError(f"{point.path} is a {stored['method']} run; resume it with `translate train "
                          f"{stored['method']} ... --resume`")
    diffs = config_differences(stored, dataclasses.asdict(cfg), type(cfg).resume_may_change | set(cfg.derived_keys))
    if diffs:
        listing = "\n".join(f"  {d}" for d in diffs)
        allowed = ", ".join(sorted(type(cfg).resume_may_change))
        raise ConfigError(
            f"the config contradicts the checkpoint this run resumes ({point.path}):\n{listing}\n"
            f"A resumed run may change only: {allowed}. To train with the new values, start a new run "
            "(another --out, or --overwrite to move this run aside)."
        )
