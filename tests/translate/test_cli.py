"""The `translate` console script: version, help, and exit codes for usage errors."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from translate import __version__
from translate.cli import COMMANDS, main


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_every_command_is_available():
    # Each subcommand module must import with the installed extras and follow the CLI contract.
    for name, (module, _help) in COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(mod.add_arguments) and callable(mod.main), name
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0


def test_no_command_is_a_usage_error():
    assert main([]) == 2


def test_console_script_runs_as_module():
    out = subprocess.run([sys.executable, "-m", "translate.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
