"""Every ``python`` block of the README and the docs runs, in the workspace of conftest.py.

Blocks marked ``<!-- docs-test: server -->`` or ``tls-server`` run against a real server, whose
port replaces the 50051 of the ``127.0.0.1:50051`` / ``localhost:50051`` the page shows; ``http-server``
blocks run against a server with ``--http-port``, whose port replaces the 8080 they show. README blocks
marked ``run`` belong to the quickstart and run there (test_quickstart.py), in order.
"""

from __future__ import annotations

import sys
import types

import pytest
from markdown_blocks import all_blocks

PY_BLOCKS = [b for b in all_blocks() if b.lang == "python" and b.mark != "run"]
SHOWN_ADDRESSES = ("127.0.0.1:50051", "localhost:50051")
SHOWN_HTTP = ("127.0.0.1:8080", "localhost:8080")  # `http-server` blocks: the HTTP port of `--http-port 8080`


@pytest.mark.parametrize("block", PY_BLOCKS, ids=[b.where for b in PY_BLOCKS])
def test_python_block_runs(block, request, monkeypatch):
    workspace = request.getfixturevalue("docs_workspace")
    code = block.text
    if block.mark in ("server", "tls-server"):
        address = request.getfixturevalue("docs_server" if block.mark == "server" else "docs_tls_server")
        assert any(a in code for a in SHOWN_ADDRESSES), f"{block.where}: a server block must dial 127.0.0.1:50051"
        port = address.rsplit(":", 1)[1]
        for shown in SHOWN_ADDRESSES:  # both names reach the loopback server; the TLS certificate covers both
            code = code.replace(shown, shown.replace(":50051", f":{port}"))
    if block.mark == "http-server":
        port = request.getfixturevalue("docs_http_server").rsplit(":", 1)[1]
        assert any(a in code for a in SHOWN_HTTP), f"{block.where}: an http-server block must call 127.0.0.1:8080"
        for shown in SHOWN_HTTP:
            code = code.replace(shown, shown.replace(":8080", f":{port}"))
    monkeypatch.chdir(workspace)
    # Compiled under the page's path with the page's line numbers, so a traceback points into the page;
    # run as a registered module, as a user's script would be (dataclasses look their module up).
    code = "\n" * block.line + code
    module = types.ModuleType(f"docs_block_{block.path.stem.replace('-', '_')}_{block.line}")
    sys.modules[module.__name__] = module
    try:
        exec(compile(code, str(block.path), "exec"), module.__dict__)  # noqa: S102 (running the docs is the test)
    finally:
        del sys.modules[module.__name__]


def test_there_are_python_blocks_to_run():
    assert len(PY_BLOCKS) >= 10, "the Python API examples went missing from the docs"
