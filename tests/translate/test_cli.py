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


def test_trainer_and_server_commands_come_from_entry_points():
    """`train` and `serve` are not named by the library: the packages register them (translate.commands)."""
    import argparse

    import serving.cli
    import training.cli
    from translate.cli import build_parser

    assert "train" not in COMMANDS and "serve" not in COMMANDS
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices["train"].description == training.cli.HELP
    assert sub.choices["serve"].description == serving.cli.HELP
    assert set(COMMANDS) < set(sub.choices)


def test_a_plugin_whose_extra_is_missing_is_listed_as_unavailable(monkeypatch, capsys):
    from importlib.metadata import EntryPoint

    import translate.plugins

    broken = EntryPoint(name="broken", value="translate_no_such_extra.cli", group="translate.commands")
    monkeypatch.setattr(translate.plugins, "commands", lambda: {"broken": broken})
    assert main(["broken"]) == 2
    err = capsys.readouterr().err
    assert "`translate broken` needs an extra that is not installed" in err and "translate[all]" in err


def test_server_option_without_the_server_package_says_what_to_install(tmp_path, monkeypatch, capsys):
    import translate.plugins

    real = translate.plugins.registered
    monkeypatch.setattr(translate.plugins, "registered",
                        lambda group: {} if group == translate.plugins.REMOTE_GROUP else real(group))
    (tmp_path / "a.png").write_bytes(b"not decoded before the server is reached")
    assert main(["run", "--server", "127.0.0.1:1", "--model", "m", "-i", str(tmp_path / "a.png"),
                 "-o", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "no remote processor 'translate' is registered" in capsys.readouterr().err


def test_building_the_parser_imports_no_torch_onnxruntime_or_grpc():
    code = ("import sys; from translate.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'onnx', 'grpc') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
