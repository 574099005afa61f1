"""Every command in the README's and the docs' ``bash`` blocks is one that exists, as written.

- ``translate ...`` (also ``torchrun ... -m translate.cli ...``) parses with the real CLI parser;
  together the examples show every command and every ``translate data`` tool.
- ``python scripts/X.py --flag``: the script exists and defines each flag; ``make T``: the
  Makefile has target T; ``scripts/*.sh --flag``: the script exists and knows the flag.
- Any other command word must be in EXTERNAL, on purpose.
Blocks are tagged with a known language, and test marks sit where they can work.
"""

from __future__ import annotations

import argparse
import re
import shlex

import pytest
from markdown_blocks import LANGUAGES, MARKS, README, ROOT, all_blocks, shell_lines, split_commands

from translate.cli import build_parser

# Commands the docs may show that this project does not provide (they are not run here).
EXTERNAL = {
    "apt-get": "Debian's package manager (data sets, tools)",
    "cp": "coreutils",
    "curl": "HTTP client (Prometheus metrics)",
    "docker": "Triton Inference Server's container",
    "grpcurl": "gRPC client (reflection)",
    "kubectl": "Kubernetes' CLI (the manifests under serving/deploy and training/deploy)",
    "mkdir": "coreutils",
    "openssl": "test certificates",
    "pip": "installing extras",
    "ray": "Ray's own CLI (starting a cluster for translate run --engine ray)",
    "sbatch": "SLURM's job submission (training/deploy/slurm)",
    "source": "activating .venv",
    "tensorboard": "watching a run",
}

BLOCKS = all_blocks()
BASH = [b for b in BLOCKS if b.lang == "bash"]


def _commands() -> list[tuple[str, list[str]]]:
    out = []
    for block in BASH:
        for line in shell_lines(block):
            for words in split_commands(line):
                if ">" in words:  # `python -c ... > tokens.txt`: the redirection is not part of the command
                    words = words[: words.index(">")]
                out.append((block.where, words))
    return out


COMMANDS = _commands()
TRANSLATE = []
for where, words in COMMANDS:
    if words[0] == "translate":
        TRANSLATE.append((where, words[1:]))
    elif words[0] == "torchrun":
        assert "-m" in words and words[words.index("-m") + 1] == "translate.cli", f"{where}: {shlex.join(words)}"
        TRANSLATE.append((where, words[words.index("-m") + 2:]))


def _strict(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The parser and its subparsers without prefix matching: the docs must spell options in full."""
    parser.allow_abbrev = False
    for child in _subcommands(parser).values():
        _strict(child)
    return parser


def _parse(argv: list[str]) -> argparse.Namespace | None:
    """The parsed arguments; None for --help / --version (argparse prints and exits 0)."""
    try:
        return _strict(build_parser()).parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a usage error (and prints it)
        if exc.code == 0:
            return None
        raise AssertionError(f"`translate {shlex.join(argv)}` does not parse (exit {exc.code})") from None


@pytest.mark.parametrize("argv", [argv for _, argv in TRANSLATE], ids=[f"{w} translate {' '.join(a)[:60]}"
                                                                        for w, a in TRANSLATE])
def test_translate_command_parses(argv):
    args = _parse(argv)
    unavailable = getattr(args, "_unavailable", None)
    assert not unavailable, f"`translate {shlex.join(argv)}`: the command is unavailable here: {unavailable}"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_and_data_tool_has_an_example():
    commands = _subcommands(build_parser())
    shown = set()
    for _, argv in TRANSLATE:
        first = next((i for i, w in enumerate(argv) if w in commands), None)  # after options like --log-level
        if first is not None:
            rest = argv[first:]
            shown.add((rest[0], rest[1] if rest[0] == "data" and len(rest) > 1 else None))
    for name in commands:
        assert any(s[0] == name for s in shown), f"no `translate {name}` example in the README or docs/"
    for tool in _subcommands(commands["data"]):
        assert ("data", tool) in shown, f"no `translate data {tool}` example in the README or docs/"


@pytest.mark.parametrize("words", [w for _, w in COMMANDS if w[0] not in ("translate", "torchrun")],
                         ids=[f"{where} {' '.join(w)[:60]}" for where, w in COMMANDS
                              if w[0] not in ("translate", "torchrun")])
def test_other_commands_exist(words):
    cmd = words[0]
    if cmd == "make":
        targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
        for target in words[1:]:
            assert target in targets, f"`make {target}`: no such target in the Makefile"
    elif cmd == "python" and words[1:2] == ["-c"]:
        compile(words[2], "<python -c>", "exec")
    elif cmd == "python" or cmd.startswith("scripts/"):
        script = ROOT / (words[1] if cmd == "python" else cmd)
        assert script.is_file(), f"`{shlex.join(words)}`: {script.relative_to(ROOT)} does not exist"
        source = script.read_text()
        for flag in (w.split("=", 1)[0] for w in words if w.startswith("--")):
            if flag == "--help" and "argparse" in source:
                continue
            assert re.search(rf"[\"']{re.escape(flag)}[\"'\s=]", source) or f"{flag} " in source, (
                f"`{shlex.join(words)}`: {script.relative_to(ROOT)} defines no {flag}")
    else:
        assert cmd in EXTERNAL, (f"`{shlex.join(words)}`: unknown command {cmd!r}; if the docs really need it, "
                                 "add it to EXTERNAL in tests/docs/test_commands.py")


def test_blocks_have_known_tags_and_marks():
    for block in BLOCKS:
        assert block.lang in LANGUAGES, (f"{block.where}: code block tagged {block.lang!r}; use one of "
                                         f"{', '.join(LANGUAGES)} (text/console for output that is not run)")
        if block.mark:
            assert block.mark in MARKS, f"{block.where}: unknown mark docs-test: {block.mark}"
        if block.mark in ("run", "serve"):
            assert block.path == README, f"{block.where}: `{block.mark}` blocks belong to the README's quickstart"
            assert block.lang in ("bash", "python"), f"{block.where}: only bash and python blocks can run"
        if block.mark in ("server", "tls-server"):
            assert block.lang == "python", f"{block.where}: `{block.mark}` applies to python blocks"
        if block.mark == "http-server":  # python blocks run; bash blocks hold curl lines, run by test_curl_blocks.py
            assert block.lang == "python" or (block.lang == "bash" and all(
                line.startswith("curl ") for line in shell_lines(block))), f"{block.where}: python or curl lines only"


def test_there_are_commands_to_check():
    assert len(TRANSLATE) >= 60 and len(BASH) >= 30, "the command examples went missing from the docs"
