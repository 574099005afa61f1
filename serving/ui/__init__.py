"""``translate ui``: a local web page to try models: drop images, compare, generate, read the model card.

The page (Gradio, https://www.gradio.app) sits on one of two sources behind one interface
(:mod:`serving.ui.sources`): a model repository folder run here with the library's local
backends, or a running ``translate serve`` reached through the gRPC client. Translators and
super-resolvers run exactly like ``translate run`` (same processors, same tiling defaults), so
the page's output equals the CLI's; generators run like ``translate generate``.

Safe by default, like the server: bound to 127.0.0.1, the server's size limits
(:class:`serving.engine.Limits`), no endpoint that takes a filesystem path from the browser,
Gradio's telemetry, version check, share links and run history off, nothing fetched from the
internet (Gradio's fonts ship in its wheel).

Modules: ``sources`` (repository or server), ``card`` (model card text), ``callbacks`` (what
the page's buttons call; no Gradio layout), ``page`` (the layout), ``app`` (offline settings,
HTTP server on a bound socket). This module holds only the plugin entry point and imports only
argparse at the top, so ``translate --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib.util

HELP = "a local web page to try the models of a repository or a server"

if importlib.util.find_spec("gradio") is None:  # the cli lists `ui` as unavailable, with this hint
    raise ModuleNotFoundError("No module named 'gradio': `translate ui` needs the ui extra; install it with "
                              "`pip install 'translate[ui]'`", name="gradio")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``translate ui`` (defaults are the safe ones: loopback only, the server's limits).

    No grpc, ONNX Runtime or Gradio here: every command's parser is built for ``translate --help``.
    """
    from translate.backends import DEVICES

    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--models", metavar="DIR", help="model repository MODELS/<name>/<version>/model.onnx, run here")
    src.add_argument("--server", metavar="ADDR", help="a running translate serve (host:port) to send the work to")
    p.add_argument("--tls-ca", metavar="FILE", help="with --server: CA certificate (PEM) to trust; enables TLS")
    p.add_argument("--token-file", metavar="FILE", help="with --server: file holding the bearer token")
    p.add_argument("--host", default="127.0.0.1",
                   help="address the page listens on (default 127.0.0.1; anything else exposes the models to "
                        "your network, and the page has no login)")
    p.add_argument("--port", type=int, default=7860, help="port of the page (default 7860; 0 picks a free one)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="with --models: local inference device (default auto: CUDA when a GPU is present)")
    p.add_argument("--max-image-pixels", type=int, default=None, metavar="N",
                   help="largest image accepted, width*height (default: the same as translate serve)")
    p.add_argument("--max-upload-mb", type=int, default=None, metavar="MB",
                   help="largest uploaded file (default: the message size limit of translate serve)")


def main(args: argparse.Namespace) -> int:
    """Open the source, serve the page, print one JSON ready line, run until Ctrl-C/SIGTERM."""
    from serving.ui.app import run

    return run(args)
