"""Every ``yaml`` block of the README and the docs is one of two known kinds, and valid as that kind.

- a training config (a mapping with ``method:``): loads through the real config loader,
  ``training.config.load_config``, as ``translate train --config FILE`` would load it;
- a Kubernetes object (``apiVersion`` + ``kind``): parses and names the fields its kind needs.
"""

from __future__ import annotations

import pytest
import yaml
from markdown_blocks import all_blocks

from training.config import load_config

YAML_BLOCKS = [b for b in all_blocks() if b.lang == "yaml"]


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.where for b in YAML_BLOCKS])
def test_yaml_block_is_valid(block, tmp_path):
    data = yaml.safe_load(block.text)
    assert isinstance(data, dict), f"{block.where}: a YAML example must be a mapping"
    if "method" in data:
        path = tmp_path / "config.yaml"
        path.write_text(block.text)
        cfg = load_config(data["method"], config_file=path)  # raises ConfigError on any unknown or bad key
        for key, value in data.items():
            if not isinstance(value, dict):
                assert getattr(cfg, key) == value, f"{block.where}: {key} did not reach the config"
    elif "apiVersion" in data and "kind" in data:
        assert data.get("metadata", {}).get("name"), f"{block.where}: a {data['kind']} needs metadata.name"
        assert isinstance(data.get("spec"), dict), f"{block.where}: a {data['kind']} needs a spec"
        if data["kind"] == "InferenceService":
            assert data["apiVersion"].startswith("serving.kserve.io/"), block.where
            model = data["spec"]["predictor"]["model"]
            assert model["modelFormat"]["name"] and model["storageUri"], block.where
    else:
        pytest.fail(f"{block.where}: a YAML block must be a training config (with `method:`) or a Kubernetes "
                    "object (apiVersion + kind); tag anything else `text`")


def test_there_is_a_config_example():
    assert any("method" in (yaml.safe_load(b.text) or {}) for b in YAML_BLOCKS)
