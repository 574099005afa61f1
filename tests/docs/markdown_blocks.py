"""Fenced code blocks of the README and the docs pages, with the test marks written before them.

A block is marked by an HTML comment on the nearest non-blank line above its opening fence,
``<!-- docs-test: MARK -->`` (the marks: docs/writing-docs.md). MyST directives (a fence whose
info string starts with ``{``, such as ``{toctree}``) are not code and are left out.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

MARK_RE = re.compile(r"^<!--\s*docs-test:\s*([\w-]+)\s*-->$")
FENCE_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
MARKS = ("run", "serve", "server", "tls-server", "http-server")
LANGUAGES = ("bash", "python", "yaml", "text", "console")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language tag, its text and its mark ('' if none)."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    mark: str

    @property
    def where(self) -> str:
        """``docs/serving.md:42``: a readable id for test names and messages."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def markdown_files() -> list[Path]:
    """The README and every page of the site (docs/**/*.md, build output excluded)."""
    pages = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)
    return [README, *pages]


def blocks_of(path: Path) -> list[Block]:
    """Every fenced code block of ``path`` in order (indentation of list items removed)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").strip()
        start = i
        body = []
        i += 1
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1
        if info.startswith("{"):  # a MyST directive, not code
            continue
        mark = ""
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0:
            mm = MARK_RE.match(lines[j].strip())
            if mm:
                mark = mm.group(1)
        lang = info.split()[0] if info else ""
        out.append(Block(path, start + 1, lang, "\n".join(body) + "\n", mark))
    return out


def all_blocks() -> list[Block]:
    """The blocks of every Markdown file, README first."""
    return [b for p in markdown_files() for b in blocks_of(p)]


def shell_lines(block: Block) -> list[str]:
    """The command lines of a bash block: continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block.text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line, comments=True)  # drops a trailing "# comment"
        if words:
            out.append(shlex.join(words))
    return out


def split_commands(line: str) -> list[list[str]]:
    """``a && b; c | d`` -> [[a...], [b...], [c...], [d...]], each without leading VAR=value words."""
    words = shlex.split(line, comments=True)
    commands, current = [], []
    for w in words:
        if w in ("&&", "||", ";", "|"):
            commands.append(current)
            current = []
        else:
            current.append(w)
    commands.append(current)
    cleaned = []
    for cmd in commands:
        while cmd and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", cmd[0]):
            cmd = cmd[1:]
        if cmd:
            cleaned.append(cmd)
    return cleaned
