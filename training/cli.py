"""``translate train {pix2pix,cyclegan,srgan,dcgan}``: resolve + validate the config, write it to
RUN_DIR/config.yaml, check the dataset, then run the shared loop (``training/loop.py``).

Order matters, so that a refused command changes nothing: find the checkpoint to resume (its
config is the base, ``training/resume.py``) and check the config against it; refuse a run
folder that holds a previous run unless ``--resume`` or ``--overwrite`` (``training/rundir.py``);
check the data. Only then move a previous run aside (``--overwrite``) and write config.yaml.
``--max-minutes`` becomes the trainer's deadline, counted from here.

Works the same under ``torchrun --nproc_per_node N -m translate.cli train ...``.
Only argparse-level imports at module top (``translate --help`` stays fast).
"""

from __future__ import annotations

import argparse
import shlex
import sys

HELP = "train pix2pix / cyclegan / srgan / dcgan"


class _MethodNames:
    """The registry's method names as argparse choices, read on first use: the registry imports the
    method files and torch, which ``translate --help`` and the other subcommands should not wait for."""

    def _names(self) -> list[str]:
        from training.registry import METHODS

        return list(METHODS)

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``translate train``."""
    parser.add_argument("method", choices=_MethodNames(), metavar="METHOD", help="what to train: %(choices)s")
    parser.add_argument("--data", required=True, help="dataset folder (layouts: see docs/training.md, Data layouts)")
    parser.add_argument("--out", required=True, help="run folder: config.yaml, checkpoints/, samples/, metrics.jsonl")
    parser.add_argument("--preset", help="paper defaults, e.g. pix2pix, cyclegan-128, srgan, dcgan-mnist, *-tiny")
    parser.add_argument("--config", help="YAML file of config keys (applied after the preset)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one key (repeatable), e.g. --set lr=1e-4 --set netG_kwargs.ngf=32")
    parser.add_argument("--resume", metavar="auto|PATH",
                        help="continue exactly from a checkpoint (auto = the newest one in RUN_DIR/checkpoints that "
                             "loads); the run's config comes from the checkpoint")
    parser.add_argument("--overwrite", action="store_true",
                        help="--out holds a previous run: move it to a timestamped sibling folder and start over "
                             "(nothing is deleted)")
    parser.add_argument("--max-minutes", type=float, metavar="N",
                        help="time budget: stop at the first step boundary after N minutes (counted from the start "
                             "of the command), save a checkpoint and print how to resume")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--amp", choices=("off", "bf16", "fp16"),
                        help="mixed precision: bf16 on CUDA or a CPU (fast where the CPU has avx512_bf16/AMX), "
                             "fp16 on CUDA only (default off)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower on GPU)")
    parser.add_argument("--skip-bad", action="store_true", help="skip files the dataset check rejects")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the networks (config key compile): the first step compiles for minutes; "
                             "later steps may be faster or slower (measured both on a CPU): try it on long runs")
    from translate.threads import THREADS_HELP, parse_threads

    parser.add_argument("--threads", type=parse_threads, metavar="N|auto",
                        help=f"PyTorch {THREADS_HELP} (auto: as many as the 1-minute load average leaves cores "
                             "free, at least 1; default: OMP_NUM_THREADS when set, else auto)")


def apply_threads(args: argparse.Namespace) -> None:
    """``--threads``: PyTorch's threads for this process (torchrun's processes on a machine share the cores)."""
    import os

    from translate.threads import set_torch_threads

    if not args.print_config:
        set_torch_threads(args.threads, processes=int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def resolve_config(args, point=None):
    """The validated config from preset/config/--set and the convenience flags.

    Resuming from a checkpoint (``point``, a :class:`training.resume.ResumePoint`): the
    checkpoint's own config is the base. ``--resume auto`` without a checkpoint yet: the run's
    config.yaml is the base unless ``--preset``/``--config`` are given.
    """
    from pathlib import Path

    from training.config import load_config, parse_set

    overrides = parse_set(args.set)
    for flag in ("device", "amp", "seed"):
        if getattr(args, flag, None) is not None:
            overrides[flag] = getattr(args, flag)
    if getattr(args, "compile", False):
        overrides["compile"] = True
    if args.deterministic:
        overrides["deterministic"] = True
    if args.skip_bad:
        overrides["skip_bad"] = True
    if point is not None:
        return load_config(args.method, preset=args.preset, config_file=args.config, overrides=overrides,
                           base=point.checkpoint.get("config") or {}, base_name=f"checkpoint {point.path}")
    stored = Path(args.out) / "config.yaml"
    if args.resume and not args.preset and not args.config and stored.is_file():
        return load_config(args.method, config_file=stored, overrides=overrides)
    return load_config(args.method, preset=args.preset, config_file=args.config, overrides=overrides)


def main(args: argparse.Namespace) -> int:
    """Run ``translate train``; 0 on success or after a clean stop, 1 on failure, 2 on bad config."""
    apply_threads(args)
    import os
    import time
    from pathlib import Path

    from training.config import config_to_yaml
    from training.resume import check_resume_config, find_resume_point
    from training.rundir import check_run_dir, move_aside
    from translate.atomic import atomic_write_bytes
    from translate.errors import ConfigError

    started = time.monotonic()
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise ConfigError(f"--max-minutes must be > 0 (got {args.max_minutes})")
    if args.resume and args.overwrite:
        raise ConfigError("--resume continues the run in --out and --overwrite moves it aside: give one of them")
    run_dir = Path(args.out)
    rank = int(os.environ.get("RANK", "0"))
    point = find_resume_point(run_dir, args.resume)
    cfg = resolve_config(args, point)
    if point is not None:
        check_resume_config(cfg, point)
    if args.print_config:
        print(config_to_yaml(cfg), end="")
        return 0
    hint = "translate train " + " ".join(shlex.quote(a) for a in [args.method, "--data", str(args.data),
                                                                    "--out", str(args.out)])
    if point is not None and rank == 0:
        for path, why in point.skipped:
            print(f"--resume auto: skipping {path.name}: {why}", file=sys.stderr, flush=True)
    previous: list = []
    if not args.resume or _resumes_elsewhere(point, run_dir):
        # a new run in this folder: never on top of a previous one unless told (--overwrite moves it aside)
        previous = check_run_dir(run_dir, overwrite=args.overwrite, resume_hint=f"{hint} --resume auto")
    exclude = check_data(cfg, args.data, rank)
    # Everything above only read; from here on the run folder changes.
    if previous and rank == 0:  # the other processes of a torchrun job leave the move to rank 0
        print(f"--overwrite: moved the previous run {run_dir} to {move_aside(run_dir)}", flush=True)
    if rank == 0:  # the resolved config goes next to the results before any compute
        atomic_write_bytes(run_dir / "config.yaml", lambda f: f.write(config_to_yaml(cfg).encode()))
    from training.loop import Trainer

    deadline = started + 60 * args.max_minutes if args.max_minutes is not None else None
    return Trainer(cfg, args.data, run_dir, resume=args.resume, exclude=exclude, command_hint=hint,
                   resume_point=point, deadline=deadline).run()


def _resumes_elsewhere(point, run_dir) -> bool:
    """``--resume PATH`` with a checkpoint of another run folder: --out then starts a run of its own."""
    return point is not None and point.path.resolve().parent != (run_dir / "checkpoints").resolve()


def check_data(cfg, data, rank: int = 0) -> set:
    """The dataset check for ``cfg``'s method; DataError listing the problems, or (``skip_bad``) the files to skip."""
    from training.registry import METHODS
    from translate.data.check import bad_files, check_dataset, unskippable
    from translate.errors import DataError

    method = METHODS[cfg.method]  # the method says what its data must look like
    problems = check_dataset(data, method.data_layout, min_size=method.min_image_size(cfg),
                             scale=method.data_scale(cfg))
    if not problems:
        return set()
    listing = "\n".join(f"  - {p}" for p in problems[:50])
    more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
    if not cfg.skip_bad or unskippable(problems):
        advice = ("Fix these problems first; --skip-bad only leaves out single files." if unskippable(problems)
                  else "Fix or remove these files, or pass --skip-bad to train without them.")
        raise DataError(f"dataset {data} has {len(problems)} problem(s):\n{listing}{more}\n{advice}")
    exclude = bad_files(problems)
    if rank == 0:
        print(f"--skip-bad: skipping {len(exclude)} file(s) with problems:\n{listing}{more}", file=sys.stderr)
    return exclude
