"""The remote processors: ``translate run --server`` and ``translate generate --server``.

They implement the library's processor interfaces (:mod:`translate.processors`) over the typed
gRPC client (:mod:`serving.client`), and are registered as entry points of the group
``translate.remote``, which :func:`translate.plugins.remote` reads; so the library's commands
reach the server without importing it. The server decodes, pads and tiles with the same
``translate.images`` code and draws latents with the same seed rule as the local processors, so
both modes write the same pixels.
"""

from __future__ import annotations

from pathlib import Path

from serving.client import TranslateClient
from translate.errors import ConfigError, ImageError, ModelError
from translate.images import decode_image, default_tiling
from translate.latents import latent_walk
from translate.modelinfo import ModelInfo
from translate.processors import CHUNK


def read_token(path: str | None) -> str | None:
    """The bearer token in ``path``: its first line that is neither empty nor a ``#`` comment."""
    if path is None:
        return None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read --token-file {path}: {exc.strerror or exc}") from exc
    for line in lines:
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()
    raise ConfigError(f"--token-file {path} holds no token (put the token on the first line)")


class RemoteTranslate:
    """Processor that sends each file's original bytes to the server and decodes the PNG it returns.

    The server decodes with the same ``translate.images`` code as the local processor, is
    told the same tiling (``always`` with our tile size: a tile larger than the image runs it
    whole, exactly like ``apply_model``), and answers in lossless PNG; the output format is then
    applied here by the same ``write_image`` as locally. So both modes write the same pixels.
    """

    def __init__(self, client, model: str, *, tile: int | None, overlap: int, jobs: int, version: int = 0) -> None:
        self.client, self.model, self.tile, self.overlap = client, model, tile, overlap
        self.version = version  # 0: the newest the server has
        self.concurrency = jobs  # requests in flight: the server's batcher groups them

    @classmethod
    def connect(cls, address: str, model: str, *, tls_ca: str | None, token_file: str | None, direction: str | None,
                tile: int | None, overlap: int | None, jobs: int) -> RemoteTranslate:
        """Connect and check that ``model`` is a translator (of ``direction``, when given)."""
        client = TranslateClient(address, tls_ca=tls_ca, token=read_token(token_file))
        try:
            desc = client.get_model(model)
            if desc.task == "generate":
                raise ConfigError(f"server model {model!r} generates images from latents; use `translate generate`")
            if direction and desc.direction and desc.direction != direction:
                raise ModelError(f"server model {model!r} translates {desc.direction}, not {direction}; "
                                 "pick the model of the other direction (see `translate serve` model list)")
        except BaseException:
            client.close()
            raise
        tile, overlap = default_tiling(desc.scale or 1, tile, overlap)
        if tile and overlap == 0:  # on the wire 0 means "the server's default"
            client.close()
            raise ConfigError("--tile-overlap 0 cannot be sent to a server (0 means its default there); use >= 1")
        return cls(client, model, tile=tile, overlap=overlap, jobs=jobs)

    def load(self, path: Path) -> bytes:
        """The file's bytes, unchanged (EXIF orientation is applied by the server's decoder)."""
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read image file {path}: {exc.strerror or exc}") from None

    def __call__(self, data: bytes):
        """Translate remotely; returns a decoded ``translate.images.Image``."""
        if self.tile is None:
            res = self.client.translate(data, self.model, version=self.version, output_format="png", tiling="never")
        else:
            res = self.client.translate(data, self.model, version=self.version, output_format="png",
                                        tiling="always", tile_size=self.tile, overlap=self.overlap)
        return decode_image(res.image, max_pixels=None)  # our server's own output: no bomb check needed

    def close(self) -> None:
        """Close the channel."""
        self.client.close()


class RemoteGenerator:
    """GenerateProcessor backed by a server's Generate RPC (same seed rule, so the same pixels)."""

    def __init__(self, client, model: str, description, version: int = 0) -> None:
        self.client, self.model, self.version = client, model, version  # version 0: the server's newest
        try:  # the server sends the model file's own metadata: the same ModelInfo as a local load
            self.info = ModelInfo.from_metadata(description.metadata)
        except ModelError:
            state = f"{description.state}: {description.error}" if description.error else description.state
            raise ModelError(f"server model {model!r} cannot be described ({state}); see the server's log") from None
        self.chunk = min(CHUNK, int(description.limits.get("max_generate_count") or CHUNK))

    @classmethod
    def connect(cls, address: str, model: str, *, tls_ca: str | None, token_file: str | None) -> RemoteGenerator:
        """Connect and read the model's description."""
        client = TranslateClient(address, tls_ca=tls_ca, token=read_token(token_file))
        try:
            return cls(client, model, client.get_model(model))
        except BaseException:
            client.close()
            raise

    def generate(self, seeds: list[int], *, label: int | None, truncation: float | None) -> list:
        """One image per seed, computed by the server (lossless PNG)."""
        out = self.client.generate(self.model, seeds=seeds, label=label, truncation=truncation, version=self.version,
                                   output_format="png")
        return [decode_image(g.image, max_pixels=None) for g in out]

    def interpolate(self, seed_a: int, seed_b: int, steps: int, *, label: int | None,
                    truncation: float | None) -> list:
        """The walk's latents are computed here (the server's seed rule) and sent as explicit latents."""
        z = latent_walk(seed_a, seed_b, steps, self.info.latent_size, truncation)
        images = []
        for i in range(0, steps, self.chunk):
            out = self.client.generate(self.model, latents=z[i:i + self.chunk], label=label, version=self.version,
                                       output_format="png")
            images += [decode_image(g.image, max_pixels=None) for g in out]
        return images

    def close(self) -> None:
        """Close the channel."""
        self.client.close()
