"""The method registry is the one list of methods, and the method contract is kept by every method.

Includes the example of docs/adding-a-method.md, run as written: registered with one dict entry,
it trains, checks its data and is refused a config its network cannot run.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

import translate.plugins
from training.config import load_config, presets_for
from training.registry import METHODS
from training.synthetic import make_paired
from translate.cli import build_parser, main
from translate.data import LAYOUTS
from translate.modelinfo import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "adding-a-method.md"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_keeps_the_contract_and_every_preset_is_valid(name):
    method = METHODS[name]
    assert method.config_class().method == name
    assert method.family in FAMILIES and method.data_layout in LAYOUTS
    assert set(method.opt_groups) and set(method.generators)
    presets = presets_for(name)
    assert presets and name in presets  # the paper preset is named after the method
    for preset in presets:  # each preset passes the network checks, not only the field checks
        cfg = load_config(name, preset)
        assert set(method.networks(cfg)) >= set(method.generators)
        assert method.min_image_size(cfg) >= 1


def test_library_tools_find_the_methods_through_the_entry_point():
    assert translate.plugins.methods() == METHODS


def test_no_code_outside_the_method_files_names_a_method():
    # the loop, monitor, data, config, CLI and the data check ask the registry instead of branching on names
    files = ["training/loop.py", "training/monitor.py", "training/data.py", "training/config.py", "training/cli.py",
             "training/method.py", "training/validation.py", "translate/data/check.py", "translate/commands/data.py"]
    for rel in files:
        tree = ast.parse((ROOT / rel).read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        named = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in METHODS
                 and id(n) not in docstrings]
        assert not named, f"{rel} names methods {named}; ask training.registry instead"


def _doc_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture
def l1_method(monkeypatch):
    """The docs' example method file, imported from the page and registered with one dict entry."""
    source = _doc_blocks("python")[0]
    spec = importlib.util.spec_from_loader("l1_from_docs", loader=None)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    exec(compile(source, str(DOC), "exec", dont_inherit=True), module.__dict__)
    monkeypatch.setitem(METHODS, "l1", module.L1Baseline)
    return module.L1Baseline


def test_the_documented_example_method_trains(tmp_path, capsys, l1_method):
    preset = next(b for b in _doc_blocks("text") if b.startswith("method: l1"))
    (tmp_path / "l1-tiny.yaml").write_text(preset)
    data = make_paired(tmp_path / "data", n=6, size=40)
    make_paired(data / "val", n=2, size=40, seed=1)  # held-out pairs: validation never reads training data
    run = tmp_path / "run"
    assert main(["data", "check", str(data), "--method", "l1"]) == 0  # found through the plugin entry point
    fast = ["--device", "cpu", "--set", "tensorboard=false", "--set", "log_every=1", "--set", "max_steps=4",
            "--set", "netG=resnet_6blocks", "--set", "load_size=36", "--set", "crop_size=32"]
    assert main(["train", "l1", "--data", str(data), "--out", str(run), "--config", str(tmp_path / "l1-tiny.yaml"),
                 *fast]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len([r for r in rows if "loss/G_L1" in r]) == 4 and any("val/psnr" in r for r in rows)
    assert (run / "checkpoints" / "best.pt").is_file()
    capsys.readouterr()
    # the refusal the page shows, word for word (its preset given as the same config file)
    shown = next(b for b in _doc_blocks("text") if b.startswith("$ translate train l1"))
    command, expected = shown.splitlines()[:2]
    assert command.endswith("--preset l1-tiny --set crop_size=100")
    assert main(["train", "l1", "--data", str(data), "--out", str(tmp_path / "run2"),
                 "--config", str(tmp_path / "l1-tiny.yaml"), "--set", "crop_size=100"]) == 2
    assert expected in capsys.readouterr().err


def test_train_choices_come_from_the_registry(l1_method, capsys):
    parser = build_parser()
    assert parser.parse_args(["train", "l1", "--data", "d", "--out", "o"]).method == "l1"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "pix2pixHD", "--data", "d", "--out", "o"])
    assert "invalid choice: 'pix2pixHD'" in capsys.readouterr().err
