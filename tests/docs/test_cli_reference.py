"""docs/cli.md is what scripts/gen_cli_reference.py makes from the real parser, and it is complete."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

from markdown_blocks import DOCS, ROOT

from translate.cli import build_parser


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_reference", ROOT / "scripts" / "gen_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_cli_reference_is_up_to_date():
    done = subprocess.run([sys.executable, "scripts/gen_cli_reference.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + "\n(run: python scripts/gen_cli_reference.py, then commit docs/cli.md)"


def test_reference_names_every_command_and_option():
    page = _generator().render()

    def walk(parser: argparse.ArgumentParser):
        assert f"## `{parser.prog}`" in page, f"no section for {parser.prog}"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)
            elif action.option_strings and not isinstance(action, argparse._HelpAction):
                assert f"`{action.option_strings[0]}" in page, f"{parser.prog} {action.option_strings[0]} is missing"

    walk(build_parser())
    assert (DOCS / "cli.md").read_text() == page
