"""What the page's controls call: uploads and seeds in, image files and cards out.

:class:`Callbacks` holds the source and the limits and has one method per control; the layout
(:mod:`serving.ui.page`) only wires them to components, so they can be called and tested
without a browser. Every image the page shows or offers for download is a PNG written here by
``translate.images`` (never Gradio's own lossy WebP), so what the browser gets are exactly the
pixels ``translate run`` / ``translate generate`` write.

Errors reach the person as a readable message (``gr.Error``: a dialog on the page), never as a
traceback: the library's typed errors say what to do; anything else is logged here with its
traceback and reported as an internal error.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from serving.ui.card import cell, class_names, model_card
from serving.ui.sources import ModelEntry, ModelSource
from translate.errors import ConfigError, ImageError, ImageTooLargeError, ModelError, TranslateError

log = logging.getLogger(__name__)

MAX_FILES = 32  # images one click translates: bounded work per request, as the server bounds it
KEEP_RUNS = 64  # result folders kept on disk; older ones are deleted (the page shows only the latest)
NEWEST = "newest"


@dataclass(frozen=True)
class PageLimits:
    """What one request may ask for; the defaults are ``translate serve``'s (:class:`serving.engine.Limits`)."""

    max_image_pixels: int
    max_upload_bytes: int
    max_generate_count: int
    max_untiled_pixels: int  # a whole-image run (or one tile) at most this many input pixels
    max_files: int = MAX_FILES

    @classmethod
    def server_defaults(cls, **overrides) -> PageLimits:
        """The server's default limits, with ``overrides`` (None values ignored)."""
        from serving.engine import Limits

        lim = Limits()
        values = {"max_image_pixels": lim.max_image_pixels, "max_upload_bytes": lim.max_message_bytes,
                  "max_generate_count": lim.max_generate_count, "max_untiled_pixels": lim.tile_above_pixels}
        values.update({k: v for k, v in overrides.items() if v is not None})
        for k, v in values.items():
            if int(v) < 1:
                raise ConfigError(f"{k.replace('_', ' ')} must be >= 1 (got {v})")
        return cls(**values)


def user_errors(fn):
    """Turn errors into ``gr.Error`` dialogs with a message a person can act on (no tracebacks)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except TranslateError as exc:  # typed errors of the library, the client and the server
            raise gr.Error(html.escape(str(exc), quote=False), duration=None, title="Cannot do that",
                           print_exception=False) from None
        except Exception as exc:
            log.exception("translate ui: %s failed", fn.__name__)
            raise gr.Error(f"internal error ({html.escape(type(exc).__name__)}); the terminal running "
                           "`translate ui` shows the details", duration=None, title="Internal error",
                           print_exception=False) from None

    return wrapper


def _int_or_none(value, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a whole number (got {value!r})") from None
    if number != int(number):
        raise ConfigError(f"{what} must be a whole number (got {value})")
    return int(number)


class Callbacks:
    """The page's actions over one source; results are written under ``workdir``."""

    def __init__(self, source: ModelSource, limits: PageLimits, workdir: str | Path) -> None:
        self.source, self.limits, self.workdir = source, limits, Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ models
    def model_names(self) -> list[str]:
        """Names for the model menu (sorted)."""
        return sorted(self.source.models())

    def _entry(self, name, version) -> ModelEntry:
        if not name:
            raise ConfigError("choose a model first")
        v = None if version in (None, "", NEWEST) else _int_or_none(version, "version")
        return self.source.describe(str(name), v)

    @user_errors
    def refresh(self, current=None):
        """Page load: the model menu (rescanned), keeping ``current`` when it still exists."""
        names = self.model_names()
        value = current if current in names else (names[0] if names else None)
        return gr.Dropdown(choices=names, value=value)

    @user_errors
    def select(self, name, version=None):
        """A model (and version) was chosen.

        Returns (versions menu, card, translate panel, generate panel, class menu, tiling hint,
        generate hint, before/after slider): the panel that suits the model's task shows, the
        slider only for super-resolvers, the class menu only for class-conditional generators.
        """
        if not name:
            return self._nothing("No model in this source yet.")
        try:
            entry = self._entry(name, version)
        except ModelError as exc:  # a broken file: say so in the card, keep the page usable
            return self._nothing(f"**{cell(name)}** cannot be used: {cell(exc)}")
        info = entry.info
        versions = gr.Dropdown(choices=[str(v) for v in reversed(entry.versions)], value=str(entry.version))
        generator = info.task == "generate"
        names = class_names(info)
        classes = gr.Dropdown(choices=names, value=names[0] if names else None, visible=bool(names))
        return (versions, model_card(entry), gr.Column(visible=not generator), gr.Column(visible=generator), classes,
                self._tiling_hint(info), self._generate_hint(), gr.ImageSlider(visible=info.scale > 1))

    @staticmethod
    def _nothing(card: str):
        return (gr.Dropdown(choices=[], value=None), card, gr.Column(visible=False), gr.Column(visible=False),
                gr.Dropdown(choices=[], value=None, visible=False), "", "", gr.ImageSlider(visible=False))

    def _tiling_hint(self, info) -> str:
        from translate.images import default_tiling

        if info.task == "generate":
            return ""
        tile, overlap = default_tiling(info.scale, None, None)
        return (f"Empty tile = the default of `translate run` for this model: {tile} px tiles with {overlap} px "
                f"overlap (images that fit in one tile run whole). 0 = never tile (images up to "
                f"{self.limits.max_untiled_pixels} pixels).")

    def _generate_hint(self) -> str:
        return f"At most {self.limits.max_generate_count} images per click (the server's limit)."

    # ------------------------------------------------------------------ translate
    def _run_dir(self) -> Path:
        runs = sorted((p for p in self.workdir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in runs[:max(0, len(runs) - KEEP_RUNS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        run = self.workdir / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        run.mkdir()
        return run

    def _read_upload(self, path) -> tuple[str, bytes]:
        """(original file name, bytes) of one upload; only files Gradio itself received are read."""
        from gradio.utils import get_upload_folder, is_in_or_equal

        path = str(getattr(path, "name", path))  # a str path (type="filepath") or a tempfile-like object
        if not is_in_or_equal(os.path.realpath(path), os.path.realpath(get_upload_folder())):
            raise ImageError(f"{os.path.basename(path)} was not uploaded through this page; drop the file on the page")
        size = os.path.getsize(path)
        if size > self.limits.max_upload_bytes:
            raise ImageTooLargeError(f"{os.path.basename(path)} has {size} bytes; the limit is "
                                     f"{self.limits.max_upload_bytes} (--max-upload-mb)")
        with open(path, "rb") as fh:
            return os.path.basename(path), fh.read()

    def _tiling(self, info, tile, overlap) -> tuple[int | None, int]:
        from translate.images import default_tiling

        tile, overlap = _int_or_none(tile, "tile"), _int_or_none(overlap, "overlap")
        if tile is not None and tile < 0 or overlap is not None and overlap < 0:
            raise ConfigError("tile and overlap must be >= 0 (tile 0 = never tile)")
        tile, overlap = default_tiling(info.scale, tile, overlap)
        if tile is not None and 2 * overlap >= tile:
            raise ConfigError(f"overlap {overlap} must be less than half of the tile {tile}")
        return tile, overlap

    def _check_run_size(self, file_name: str, img, tile: int | None) -> None:
        """One model call (the whole image, or one tile) takes at most ``max_untiled_pixels`` input pixels."""
        limit = self.limits.max_untiled_pixels
        if tile is None and img.height * img.width > limit:
            raise ConfigError(f"{file_name} has {img.height * img.width} pixels; a whole-image run takes at most "
                              f"{limit}: leave the tile empty (the default) or give a tile size")
        if tile is not None and min(tile, img.height) * min(tile, img.width) > limit:
            raise ConfigError(f"tiles of {tile} px are more than {limit} pixels; choose a smaller tile")

    @user_errors
    def translate(self, name, version, files, tile=None, overlap=None):
        """Translate every uploaded image like ``translate run`` does.

        Returns (input PNG, output PNG, slider pair, gallery [(path, caption)], download paths,
        status text, pairs state) for the page; the first image is the one shown side by side.
        """
        from translate.batch import plan_jobs
        from translate.images import Image, decode_image, resize_pixels, write_image
        from translate.processors import LocalTranslate

        files = [f for f in (files or []) if f]
        if not files:
            raise ConfigError("drop one or more images first")
        if len(files) > self.limits.max_files:
            raise ConfigError(f"{len(files)} images at once; the page takes at most {self.limits.max_files} per run")
        entry = self._entry(name, version)
        info = entry.info
        if info.task == "generate":
            raise ConfigError(f"{entry.name} generates images from seeds; use the Generate panel")
        tile, overlap = self._tiling(info, tile, overlap)
        uploads = [self._read_upload(f) for f in files]
        started = time.perf_counter()
        processor = self.source.translator(entry, tile=tile, overlap=overlap)
        local = isinstance(processor, LocalTranslate)  # it takes decoded images; RemoteTranslate takes the bytes
        run = self._run_dir()
        rels, seen = [], set()
        for k, (file_name, _) in enumerate(uploads):
            rel = Path(file_name)
            if rel.name.lower() in seen:
                rel = Path(f"{rel.stem}-{k + 1}{rel.suffix}")
            seen.add(rel.name.lower())
            rels.append(rel)
        jobs = plan_jobs([(Path(n), rel) for (n, _), rel in zip(uploads, rels)], run / "outputs", "png")
        pairs, gallery, downloads = [], [], []
        for job, (file_name, data) in zip(jobs, uploads):
            try:
                img = decode_image(data, max_pixels=self.limits.max_image_pixels)
            except ImageError as exc:
                raise ImageError(f"{file_name}: {exc}") from None
            self._check_run_size(file_name, img, tile)
            out = processor(img if local else data)
            write_image(out, job.out, fmt="png")
            before = img
            if info.scale > 1:  # the slider compares with the plain bicubic enlargement
                before = Image(resize_pixels(img.pixels, out.height, out.width, "bicubic"))
            shown = write_image(before, run / "inputs" / job.out.name, fmt="png")
            pairs.append((str(shown), str(job.out)))
            gallery.append((str(job.out), job.out.name))
            downloads.append(str(job.out))
        seconds = time.perf_counter() - started
        tiling = f"tiles of {tile} px, overlap {overlap}" if tile else "whole images"
        status = (f"{len(jobs)} image{'s' if len(jobs) != 1 else ''} in {seconds:.2f} s with {html.escape(entry.name)} "
                  f"version {entry.version} ({tiling}; {html.escape(self.source.label)}).")
        first_in, first_out = pairs[0]
        return first_in, first_out, (first_in, first_out), gallery, downloads, status, pairs

    @user_errors
    def show_pair(self, pairs, index):
        """A gallery image was clicked: show that input/output pair side by side and in the slider."""
        if not pairs or index is None or not 0 <= int(index) < len(pairs):
            raise ConfigError("no such result; run the model again")
        before, after = pairs[int(index)]
        return before, after, (before, after)

    # ------------------------------------------------------------------ generate
    def _seeds(self, how, seeds_text, count, first_seed) -> list[int]:
        from translate.seeds import parse_seeds, seeds_from_count

        if how == "count":
            n, first = _int_or_none(count, "count"), _int_or_none(first_seed, "first seed")
            if n is None or first is None:
                raise ConfigError("give a count and a first seed")
            if n > self.limits.max_generate_count:
                raise ConfigError(f"{n} images at once; at most {self.limits.max_generate_count} per click")
            seeds = seeds_from_count(n, first)
        else:
            seeds = parse_seeds(seeds_text or "")
        if len(seeds) > self.limits.max_generate_count:
            raise ConfigError(f"{len(seeds)} seeds; at most {self.limits.max_generate_count} images per click")
        return seeds

    def _generator(self, name, version, class_name, truncation):
        """(entry, generate processor, label number or None, file-name suffix, truncation psi or None)."""
        from translate.processors import class_suffix

        entry = self._entry(name, version)
        info = entry.info
        if info.task != "generate":
            raise ConfigError(f"{entry.name} is a {info.task} model; drop images in the Translate panel")
        class_name = None if class_name in (None, "") else str(class_name)
        if info.num_classes and class_name is None:
            raise ConfigError(f"{entry.name} is class-conditional: choose a class")
        label = None if class_name is None else info.label_of(class_name)  # by name, as `--class NAME`
        psi = float(truncation) if truncation not in (None, "") and float(truncation) > 0 else None
        return entry, self.source.generator(entry), label, class_suffix(class_name), psi

    @user_errors
    def generate(self, name, version, how, seeds_text, count, first_seed, class_name=None, truncation=None):
        """Images for seeds like ``translate generate``: (gallery, grid PNG, download paths, status)."""
        from translate.images import contact_grid, write_image

        seeds = self._seeds(how, seeds_text, count, first_seed)
        entry, gen, label, suffix, psi = self._generator(name, version, class_name, truncation)
        started = time.perf_counter()
        images = []
        for i in range(0, len(seeds), gen.chunk):
            images += gen.generate(seeds[i:i + gen.chunk], label=label, truncation=psi)
        run = self._run_dir()
        files = [str(write_image(img, run / f"seed{s:06d}{suffix}.png", fmt="png")) for s, img in zip(seeds, images)]
        grid = str(write_image(contact_grid(images), run / f"grid{suffix}.png", fmt="png"))
        seconds = time.perf_counter() - started
        status = (f"{len(seeds)} image{'s' if len(seeds) != 1 else ''} in {seconds:.2f} s with "
                  f"{html.escape(entry.name)} version {entry.version}"
                  f"{'' if psi is None else f', truncation {psi:g}'}.")
        return [(f, f"seed {s}") for f, s in zip(files, seeds)], grid, files + [grid], status

    @user_errors
    def walk(self, name, version, seed_a, seed_b, steps, class_name=None, truncation=None):
        """A latent walk from seed A to seed B (slerp): (gallery of frames, strip PNG, downloads, status)."""
        from translate.images import contact_grid, write_image

        a, b, n = (_int_or_none(v, what) for v, what in ((seed_a, "seed A"), (seed_b, "seed B"), (steps, "steps")))
        if a is None or b is None or n is None:
            raise ConfigError("give seed A, seed B and the number of steps")
        if a < 0 or b < 0:
            raise ConfigError("seeds are non-negative integers")
        if not 2 <= n <= self.limits.max_generate_count:
            raise ConfigError(f"steps must be 2..{self.limits.max_generate_count} (both ends are frames)")
        entry, gen, label, suffix, psi = self._generator(name, version, class_name, truncation)
        started = time.perf_counter()
        frames = gen.interpolate(a, b, n, label=label, truncation=psi)
        run = self._run_dir()
        stem = f"interp-{a}-{b}{suffix}"  # the file names of `translate generate --interpolate`
        files = [str(write_image(f, run / f"{stem}-{k:03d}.png", fmt="png")) for k, f in enumerate(frames)]
        strip = str(write_image(contact_grid(frames, columns=len(frames)), run / f"{stem}.png", fmt="png"))
        seconds = time.perf_counter() - started
        status = f"{n} frames from seed {a} to seed {b} in {seconds:.2f} s."
        return [(f, f"step {k}") for k, f in enumerate(files)], strip, files + [strip], status


def make_workdir() -> Path:
    """A private folder for this page's result files (removed when ``translate ui`` stops)."""
    return Path(tempfile.mkdtemp(prefix="translate-ui-"))
