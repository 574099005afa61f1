"""The documentation site builds with Sphinx in strict mode, and strict mode really is strict.

The second test copies the sources, adds a broken link and a page that is in no table of
contents, and expects the same build to fail and name both, so a change to docs/conf.py that
loosens the build cannot pass unnoticed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from markdown_blocks import DOCS, ROOT


def _build(src_root: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E", "-b", "html",
           "-d", str(out / "doctrees"), str(src_root / "docs"), str(out / "html")]
    return subprocess.run(cmd, cwd=src_root, capture_output=True, text=True, timeout=300)


def test_site_builds_strictly(tmp_path):
    done = _build(ROOT, tmp_path)
    assert done.returncode == 0, f"the docs site does not build cleanly (make docs):\n{done.stderr}"
    for page in DOCS.glob("*.md"):
        assert (tmp_path / "html" / page.with_suffix(".html").name).is_file(), f"{page.name} is not in the site"


def test_strict_build_fails_on_broken_links_and_orphan_pages(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(DOCS, src / "docs", ignore=shutil.ignore_patterns("_build"))
    shutil.copy(ROOT / "README.md", src / "README.md")
    shutil.copytree(ROOT / "scripts", src / "scripts", ignore=shutil.ignore_patterns("*.py", "bench"))
    with open(src / "docs" / "training.md", "a") as f:
        f.write("\nSee [the missing page](no-such-page.md) and [a missing section](data.md#no-such-section).\n")
    (src / "docs" / "orphan.md").write_text("# Orphan\n\nIn no table of contents.\n")
    done = _build(src, tmp_path / "out")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stderr and "no-such-section" in done.stderr and "orphan" in done.stderr
