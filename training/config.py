"""One typed config per training run: dataclass defaults <- preset YAML <- config file <- ``--set``.

Every value is checked (known key, right type, allowed choice, sane range, and every network
against what it accepts) before any data is read or any network is built, and the resolved config
is written next to the results (``RUN_DIR/config.yaml``). The config classes live with their
methods (``TrainConfig`` in ``training/method.py``, ``Pix2PixConfig`` in ``training/pix2pix.py``
...); this module finds them through ``training.registry``. Paper defaults live in
``training/presets/*.yaml`` (table in docs/training.md); the dataclass defaults equal the
full-size paper presets.

Keys are flat (``lr``, ``lambda_L1``) except the two network-kwargs dicts, which take dotted
overrides: ``--set netG_kwargs.ngf=32``.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any

import yaml

from training.method import TrainConfig
from training.registry import METHODS
from translate.errors import ConfigError

PRESET_DIR = Path(__file__).parent / "presets"


def presets_for(method: str) -> list[str]:
    """Names of the presets whose ``method`` is ``method`` (file stem = preset name)."""
    names = []
    for p in sorted(PRESET_DIR.glob("*.yaml")):
        data = yaml.safe_load(p.read_text()) or {}
        if data.get("method") == method:
            names.append(p.stem)
    return names


def _read_yaml(path: Path, what: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must be a mapping of key: value")
    return data


def _coerce(key: str, value: Any, ftype: Any, default: Any) -> Any:
    """Check/convert one value to the field's type; strings from --set are parsed as YAML first."""
    origin = typing.get_origin(ftype) or ftype
    if isinstance(ftype, str):  # postponed annotations: map names to types
        origin = {"int": int, "float": float, "bool": bool, "str": str, "dict": dict, "list": list}[ftype]
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if origin is list and value is None:
        return []
    if not isinstance(value, origin) or (origin is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {origin.__name__} (got {value!r}, a {type(value).__name__})")
    return value


def _apply(cfg_dict: dict, types: dict, updates: dict, source: str) -> None:
    for key, value in updates.items():
        if "." in key:  # netG_kwargs.ngf=8
            head, sub = key.split(".", 1)
            if head not in types or types[head] not in (dict, "dict"):
                raise ConfigError(f"{source}: {key!r}: only netG_kwargs / netD_kwargs take dotted keys")
            cfg_dict[head] = {**cfg_dict[head], sub: value}
            continue
        if key not in types:
            close = difflib.get_close_matches(key, list(types), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{source}: unknown config key {key!r}{hint} (see --print-config for all keys)")
        value = _coerce(key, value, types[key], cfg_dict[key])
        # dict fields (network kwargs) merge, so a preset can change ngf without restating norm
        cfg_dict[key] = {**cfg_dict[key], **value} if isinstance(value, dict) else value


def parse_set(items: list[str]) -> dict:
    """``["lr=1e-4", "netG_kwargs.ngf=8"]`` -> ``{"lr": 1e-4, "netG_kwargs.ngf": 8}`` (values as YAML)."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set lr=1e-4")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: cannot parse the value: {exc}") from exc
    return out


def load_config(
    method: str,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
    *,
    base: dict | None = None,
    base_name: str = "checkpoint config",
) -> TrainConfig:
    """Resolve and validate a config: defaults <- base <- preset <- file <- overrides (later wins).

    ``base`` is a stored config (a resumed checkpoint's): its keys that this version does not know
    are dropped and its ``derived_keys`` are recomputed. Validation is the method's
    :meth:`~training.method.Method.check_config`: the fields, then every network against what it
    accepts; a ConfigError says which value to change.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    cls = METHODS[method].config_class
    fields = {f.name: f for f in dataclasses.fields(cls)}
    types = {n: f.type for n, f in fields.items()}
    base_dict = dataclasses.asdict(cls())
    layers: list[tuple[str, dict]] = []
    if base:
        layers.append((base_name, {k: v for k, v in base.items() if k in types and k not in cls.derived_keys}))
    if preset:
        path = PRESET_DIR / f"{preset}.yaml"
        if not path.is_file():
            have = presets_for(method)
            close = difflib.get_close_matches(preset, have, n=3)
            raise ConfigError(
                f"no preset {preset!r} for {method}; available: {', '.join(have) or 'none'}"
                + (f" (did you mean {', '.join(close)}?)" if close else "")
            )
        layers.append((f"preset {preset}", _read_yaml(path, "preset")))
    if config_file:
        layers.append((f"config {config_file}", _read_yaml(Path(config_file), "config file")))
    if overrides:
        layers.append(("--set", overrides))
    for source, data in layers:
        if data.get("method", method) != method:
            raise ConfigError(f"{source} is for method {data['method']!r}, not {method!r}")
        _apply(base_dict, types, data, source)
    cfg = cls(**base_dict)
    METHODS[method].check_config(cfg)
    return cfg


def config_to_yaml(cfg: TrainConfig) -> str:
    """The resolved config as YAML text (what goes into RUN_DIR/config.yaml)."""
    return yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)

