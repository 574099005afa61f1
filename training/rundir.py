"""The run folder (``--out``): never start over on top of a previous run without being told.

A folder that holds a previous run's results (checkpoints, ``metrics.jsonl``, sample grids,
TensorBoard logs) is refused, untouched, with the two ways forward: continue it with
``--resume auto``, or start a new run (another ``--out``, or ``--overwrite``, which moves the old
run to a timestamped sibling folder, e.g. ``runs/facades.replaced-20250101-120000``, and deletes
nothing). A folder with nothing but a ``config.yaml`` (a run stopped before its first step) is
reused.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from translate.errors import ConfigError, TranslateError


class RunFolderInUseError(ConfigError):
    """``--out`` holds a previous run and neither ``--resume`` nor ``--overwrite`` was given."""


def previous_results(run_dir: str | Path) -> list[Path]:
    """What an earlier run left in ``run_dir``: checkpoint files, metrics.jsonl, sample grids, TensorBoard logs."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = sorted((run_dir / "checkpoints").glob("*.pt")) if (run_dir / "checkpoints").is_dir() else []
    if (run_dir / "metrics.jsonl").is_file():
        found.append(run_dir / "metrics.jsonl")
    for folder in ("samples", "tensorboard"):
        if (run_dir / folder).is_dir() and any((run_dir / folder).iterdir()):
            found.append(run_dir / folder)
    return found


def aside_path(run_dir: Path, now: float | None = None) -> Path:
    """A free sibling name for moving ``run_dir`` aside: ``NAME.replaced-YYYYmmdd-HHMMSS[-k]``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    candidate = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    k = 2
    while candidate.exists():
        candidate = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{k}")
        k += 1
    return candidate


def move_aside(run_dir: Path) -> Path:
    """Rename ``run_dir`` to :func:`aside_path` (same parent, so nothing is copied or deleted)."""
    target = aside_path(run_dir)
    try:
        os.rename(run_dir, target)
    except OSError as exc:
        raise TranslateError(f"cannot move the previous run {run_dir} aside to {target}: {exc.strerror or exc}; "
                             "move or remove it yourself, or choose another --out") from exc
    return target


def check_run_dir(run_dir: str | Path, *, overwrite: bool, resume_hint: str) -> list[Path]:
    """Whether a new run may start in ``run_dir``: the previous run's results that ``--overwrite`` is to
    move aside ([] when there are none).

    Raises :class:`RunFolderInUseError` (exit code 2) when there are some and ``overwrite`` is off.
    Reads only: nothing is touched either way.
    """
    run_dir = Path(run_dir)
    found = previous_results(run_dir)
    if found and not overwrite:
        shown = ", ".join(str(p.relative_to(run_dir)) for p in found[:4]) + (", ..." if len(found) > 4 else "")
        raise RunFolderInUseError(
            f"{run_dir} already holds a training run ({shown}); starting over would overwrite it.\n"
            f"  To continue it:        {resume_hint}\n"
            "  To start a new run:    choose another --out, or add --overwrite to move this run to "
            f"{run_dir.name}.replaced-<date>-<time> first (nothing is deleted)"
        )
    return found
