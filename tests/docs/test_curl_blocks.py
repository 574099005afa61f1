"""``bash`` blocks marked ``<!-- docs-test: http-server -->`` hold curl lines: each one runs, as written.

The real ``curl`` calls a real server started with ``--http-port`` over the docs workspace (its port
replaces the 8080 of ``127.0.0.1:8080`` on the page), in the workspace folder, so ``@horse.jpg``
uploads and ``-o zebra.jpg`` writes there. A line passes when curl exits 0 with a 2xx answer
(``--fail-with-body``) and any file it writes with ``-o`` is not empty.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest
from markdown_blocks import all_blocks, shell_lines

LINES = [(b.where, line) for b in all_blocks() if b.lang == "bash" and b.mark == "http-server"
         for line in shell_lines(b)]


@pytest.mark.parametrize("line", [line for _, line in LINES], ids=[f"{w} {line[:70]}" for w, line in LINES])
def test_curl_line_runs_against_a_real_server(line, request):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (apt-get install curl)")
    workspace = request.getfixturevalue("docs_workspace")
    port = request.getfixturevalue("docs_http_server").rsplit(":", 1)[1]
    words = shlex.split(line.replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
    assert words[0] == "curl" and any(f"127.0.0.1:{port}" in w for w in words), f"`{line}` must call 127.0.0.1:8080"
    done = subprocess.run(["curl", "--fail-with-body", "--silent", "--show-error", "--max-time", "60", *words[1:]],
                          cwd=workspace, capture_output=True, timeout=90)
    assert done.returncode == 0, f"`{line}` failed ({done.returncode}): {done.stderr.decode()} {done.stdout[:500]!r}"
    if "-o" in words:
        assert (workspace / words[words.index("-o") + 1]).stat().st_size > 0


def test_there_are_curl_examples():
    assert len(LINES) >= 8, "the curl examples of docs/http.md went missing"
