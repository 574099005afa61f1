"""The ``translate`` command line: one console script, subcommands dispatched lazily.

Each subcommand lives in its own module that defines ``add_arguments(parser)`` and
``main(args) -> int``. Those modules import only argparse-level things at the top, so
``translate --help`` stays fast and ``translate`` never imports ``training`` or ``serving``
unless that subcommand runs. Exit codes: 0 success, 1 failure, 2 usage / configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from translate import __version__
from translate.errors import ConfigError, TranslateError

# name -> (module, one-line help). A plain dict in one visible place (STYLE.md, principle 6).
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("translate.commands.info", "describe a checkpoint or exported ONNX model"),
    "import-checkpoint": ("translate.commands.import_checkpoint", "convert a pytorch-CycleGAN-and-pix2pix .pth"),
    "train": ("training.cli", "train pix2pix / cyclegan / srgan / dcgan"),
    "export": ("translate.commands.export", "export a generator to ONNX (verified against PyTorch)"),
    "serve": ("serving.cli", "serve a model repository over gRPC"),
    "run": ("translate.commands.run", "translate a file, folder or glob of images"),
    "generate": ("translate.commands.generate", "sample images from an unconditional model"),
    "data": ("translate.commands.data", "build and check datasets"),
}


def build_parser() -> argparse.ArgumentParser:
    """The full parser; each subcommand module adds its own arguments."""
    parser = argparse.ArgumentParser(prog="translate", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"translate {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:  # an optional extra is missing: keep the other commands usable
            p.set_defaults(_unavailable=f"`translate {name}` needs an extra that is not installed ({exc}); "
                           "install with `pip install 'translate[all]'`")
            continue
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``translate`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "_unavailable", None):
        print(f"error: {args._unavailable}", file=sys.stderr)
        return 2
    try:
        return int(args._main(args) or 0)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TranslateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
