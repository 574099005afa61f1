"""Where the page's models come from: a repository folder run here, or a running server.

Both sources give the page the same things: the model list, one model's description (a
:class:`ModelEntry`: its :class:`~translate.modelinfo.ModelInfo` and raw metadata, read from the
file itself), and the library's processors to run it, so the page computes exactly what
``translate run`` / ``translate generate`` compute:

- :class:`RepositorySource`: :func:`translate.backends.load_backend` on the chosen version's
  ``model.onnx``, wrapped in :class:`~translate.processors.LocalTranslate` /
  :class:`~translate.processors.LocalGenerator`;
- :class:`ServerSource`: one :class:`~serving.client.TranslateClient` channel, wrapped in
  :class:`~serving.remote.RemoteTranslate` / :class:`~serving.remote.RemoteGenerator`.

Model names and versions arrive from the browser: they are looked up in the source's own list,
never joined onto a path unchecked. The processors a source hands out belong to it (cached models,
one channel): callers use them and never close them; :meth:`ModelSource.close` releases everything.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from translate.errors import ConfigError, ModelError
from translate.modelinfo import ModelInfo

CACHE_SIZE = 4  # loaded models kept in memory (local source); the least recently used is closed


@dataclass
class ModelEntry:
    """One version of one model, as the page shows it."""

    name: str
    version: int
    versions: list[int]  # every version the source has, oldest first
    info: ModelInfo
    metadata: dict[str, str] = field(default_factory=dict)  # the file's metadata_props, verbatim
    where: str = ""  # "MODELS/name/3/model.onnx" or "server host:port"


class ModelSource(Protocol):
    """What the page needs from a source (see the module docstring)."""

    label: str

    def models(self) -> dict[str, list[int]]: ...

    def describe(self, name: str, version: int | None = None) -> ModelEntry: ...

    def translator(self, entry: ModelEntry, *, tile: int | None, overlap: int): ...

    def generator(self, entry: ModelEntry): ...

    def close(self) -> None: ...


def _pick_version(name: str, versions: list[int], version: int | None) -> int:
    """``version`` if the model has it; None -> the newest."""
    if not versions:
        raise ModelError(f"model {name!r} has no version with a model file")
    if version is None:
        return versions[-1]
    if version not in versions:
        raise ModelError(f"model {name!r} has no version {version} (it has {', '.join(map(str, versions))})")
    return version


class _LRU:
    """Loaded processors by key; the least recently used beyond ``size`` is closed."""

    def __init__(self, size: int) -> None:
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, load):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            value = load()
            self.items[key] = value
            while len(self.items) > self.size:
                _, old = self.items.popitem(last=False)
                old.close()
            return value

    def close(self) -> None:
        with self.lock:
            while self.items:
                self.items.popitem()[1].close()


class RepositorySource:
    """Models of a repository folder ``MODELS/<name>/<version>/model.onnx``, run in this process."""

    def __init__(self, root: str | Path, device: str = "auto") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"--models {root}: no such folder; give a model repository "
                              "(MODELS/<name>/<version>/model.onnx, as `translate export --repo` writes)")
        self.device = device
        self.label = f"repository {self.root}"
        self._backends = _LRU(CACHE_SIZE)
        self._generators = _LRU(CACHE_SIZE)

    def models(self) -> dict[str, list[int]]:
        """Every model with its versions (rescanned on each call: new exports show up)."""
        from translate.modelrepo import list_models

        return list_models(self.root)

    def _path(self, name: str, version: int | None) -> tuple[Path, int, list[int]]:
        versions = self.models().get(name)
        if versions is None:  # only names listed by the repository itself reach the file system
            raise ModelError(f"no model {name!r} in {self.root}")
        from translate.modelrepo import model_path

        v = _pick_version(name, versions, version)
        return model_path(self.root / name, v), v, versions

    def describe(self, name: str, version: int | None = None) -> ModelEntry:
        """Read the version's metadata from its file (no inference session is created)."""
        from translate.modelrepo import read_model_file

        path, v, versions = self._path(name, version)
        mf = read_model_file(path)
        return ModelEntry(name, v, versions, mf.info, dict(mf.metadata), where=f"{name}/{v}/{path.name}")

    def translator(self, entry: ModelEntry, *, tile: int | None, overlap: int):
        """A LocalTranslate on the (cached) backend: the processor of ``translate run``."""
        from translate.backends import load_backend
        from translate.processors import LocalTranslate

        path, v, _ = self._path(entry.name, entry.version)
        backend = self._backends.get((entry.name, v), lambda: load_backend(path, device=self.device))
        return LocalTranslate(backend, tile=tile, overlap=overlap)

    def generator(self, entry: ModelEntry):
        """A (cached) LocalGenerator: the processor of ``translate generate``."""
        from translate.processors import LocalGenerator

        path, v, _ = self._path(entry.name, entry.version)
        gen = self._generators.get((entry.name, v), lambda: LocalGenerator(str(path), device=self.device))
        if gen.sampler is None:
            raise ModelError(f"{entry.name} is a {gen.info.task} model, not a generator")
        return gen

    def close(self) -> None:
        """Release every loaded model."""
        self._backends.close()
        self._generators.close()


class ServerSource:
    """Models of a running ``translate serve``, reached over one gRPC channel."""

    def __init__(self, address: str, *, tls_ca: str | None = None, token_file: str | None = None) -> None:
        from serving.client import TranslateClient
        from serving.remote import read_token

        for flag, value in (("--tls-ca", tls_ca), ("--token-file", token_file)):
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"{flag} {value}: no such file")
        self.address = address
        self.label = f"server {address}"
        self.client = TranslateClient(address, tls_ca=tls_ca, token=read_token(token_file))

    def models(self) -> dict[str, list[int]]:
        """Every model the server lists, with its current version (describe() has them all)."""
        return {m.name: [m.version] if m.version else [] for m in self.client.list_models()}

    def describe(self, name: str, version: int | None = None) -> ModelEntry:
        """The server's description of the version (its file's own metadata)."""
        d = self.client.get_model(name, version or 0)  # NOT_FOUND -> UnknownModelError (a ModelError)
        if d.error:
            raise ModelError(f"server model {name!r} is {d.state.lower()}: {d.error}")
        info = ModelInfo.from_metadata(d.metadata)
        # The menu offers the version the server has loaded (it serves the newest of available_versions).
        return ModelEntry(name, d.version, [d.version], info, dict(d.metadata), where=self.label)

    def translator(self, entry: ModelEntry, *, tile: int | None, overlap: int):
        """A RemoteTranslate for this version: the processor of ``translate run --server``."""
        from serving.remote import RemoteTranslate

        if tile and overlap == 0:  # on the wire 0 means "the server's default"
            raise ConfigError("a tile overlap of 0 cannot be sent to a server (0 means its default there); use >= 1")
        return RemoteTranslate(self.client, entry.name, tile=tile, overlap=overlap, jobs=1, version=entry.version)

    def generator(self, entry: ModelEntry):
        """A RemoteGenerator for this version: the processor of ``translate generate --server``."""
        from serving.remote import RemoteGenerator

        return RemoteGenerator(self.client, entry.name, self.client.get_model(entry.name, entry.version),
                               version=entry.version)

    def close(self) -> None:
        """Close the channel."""
        self.client.close()


def open_source(*, models: str | None = None, server: str | None = None, tls_ca: str | None = None,
                token_file: str | None = None, device: str = "auto") -> ModelSource:
    """The source ``translate ui`` was asked for (exactly one of ``models`` and ``server``)."""
    if (models is None) == (server is None):
        raise ConfigError("give exactly one of --models DIR and --server ADDR")
    if models is not None:
        if tls_ca or token_file:
            raise ConfigError("--tls-ca and --token-file only apply with --server ADDR")
        return RepositorySource(models, device=device)
    if device != "auto":
        raise ConfigError("--device applies to --models; the server picks its own device")
    return ServerSource(server, tls_ca=tls_ca, token_file=token_file)
