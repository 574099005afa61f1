"""Every `translate ...` command shown in the README parses with the real CLI parser.

The behaviour behind each command is exercised by the feature tests and by `make demo`; this
test keeps the README from drifting: a renamed flag or subcommand fails here, not for a user.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from translate.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    """`translate ...` lines from the README's bash code blocks, continuation lines joined."""
    text = README.read_text()
    commands = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("torchrun "):
                line = "translate " + line.split(" -m translate.cli ", 1)[1]
            if line.startswith("translate "):
                commands.append(line)
    return commands


def test_readme_shows_commands_for_every_subcommand():
    shown = {shlex.split(c)[1] for c in readme_commands()}
    for sub in ("train", "export", "serve", "run", "generate", "data", "info", "import-checkpoint"):
        assert sub in shown, f"the README shows no `translate {sub}` example"


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_parses(command):
    parser = build_parser()
    try:
        parser.parse_args(shlex.split(command)[1:])
    except SystemExit as exc:  # argparse exits 2 on an unknown flag, 0 on --help/--version
        assert exc.code == 0, f"README command does not parse: {command}"
