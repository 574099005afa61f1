"""The ``translate`` command line: one console script, subcommands dispatched lazily.

Each subcommand lives in its own module that defines ``add_arguments(parser)`` and
``main(args) -> int``. The library's own commands are listed in :data:`COMMANDS`; commands that
need the trainer or the server (``train``, ``serve``) are registered by those packages as entry
points of the group ``translate.commands`` (:func:`translate.plugins.commands`), whose modules
also define ``HELP``, so ``translate`` never names ``training`` or ``serving``. The modules import
only argparse-level things at the top, so ``translate --help`` stays fast (no torch, ONNX Runtime
or grpc). Exit codes: 0 success, 1 failure, 2 usage / configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from translate import __version__
from translate.errors import ConfigError, TranslateError

log = logging.getLogger(__name__)

# The library's own commands: name -> (module, one-line help). A plain dict in one visible place.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("translate.commands.info", "describe a checkpoint or exported ONNX model"),
    "import-checkpoint": ("translate.commands.import_checkpoint", "convert a pytorch-CycleGAN-and-pix2pix .pth"),
    "export": ("translate.commands.export", "export a generator to ONNX (verified against PyTorch)"),
    "run": ("translate.commands.run", "translate a file, folder or glob of images"),
    "generate": ("translate.commands.generate", "sample images from an unconditional model"),
    "data": ("translate.commands.data", "build and check datasets"),
}


def _unavailable(name: str, exc: BaseException) -> str:
    return (f"`translate {name}` needs an extra that is not installed ({exc}); "
            "install with `pip install 'translate[all]'`")


def _add_command(sub, name: str, load, help_text: str | None) -> None:
    """Add subcommand ``name``; ``load()`` imports its module. A missing extra leaves it listed but unavailable."""
    try:
        mod = load()
    except ImportError as exc:  # an optional extra is missing: keep the other commands usable
        help_text = help_text or "(unavailable: needs an extra that is not installed)"
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_unavailable=_unavailable(name, exc))
        return
    help_text = help_text or getattr(mod, "HELP", "")
    p = sub.add_parser(name, help=help_text, description=help_text)
    mod.add_arguments(p)
    p.set_defaults(_main=mod.main)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: the built-in commands, then every ``translate.commands`` plugin."""
    from translate.plugins import commands

    parser = argparse.ArgumentParser(prog="translate", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"translate {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR (default INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        _add_command(sub, name, lambda module=module: importlib.import_module(module), help_text)
    for name, entry in commands().items():
        if name in COMMANDS:
            log.warning("ignoring the plugin command %r (%s): a built-in command has that name", name, entry.value)
            continue
        _add_command(sub, name, entry.load, None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``translate`` console script."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "_unavailable", None):  # an unavailable command's options are not known
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
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
