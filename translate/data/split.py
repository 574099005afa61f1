"""Seeded train / val / test split of an image folder.

Two source shapes are understood:

- a flat folder of images (e.g. A|B pairs from ``translate data edges``) -> ``train/``, ``val/``,
  ``test/`` with the images;
- a folder of sub-folders (``A/`` + ``B/`` with matching names, ``LR/`` + ``HR/``, or class
  folders) -> ``train/<sub>/``, ``val/<sub>/``, ``test/<sub>/``. When every sub-folder holds the
  same file stems (a paired set) one assignment is drawn for the stems, so partners always land
  in the same split; otherwise (class folders) each sub-folder is split on its own, which keeps
  the class proportions in every split.

Each split draws ``round(n * val)`` validation and ``round(n * test)`` test items after a
permutation of the sorted names by ``np.random.default_rng(seed)``: the same seed and files give
the same split on every machine. In place (no ``out``) files are moved; with ``out`` they are
copied and the source is left untouched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from translate.data.folders import prepare_destination
from translate.errors import ConfigError, DataError
from translate.images import list_image_files

SPLITS = ("train", "val", "test")


def assign(names: list[str], val: float, test: float, seed: int) -> dict[str, str]:
    """Map each name to "train", "val" or "test" (seeded permutation of the sorted names)."""
    names = sorted(names)
    order = np.random.default_rng(seed).permutation(len(names))
    n_val, n_test = int(round(len(names) * val)), int(round(len(names) * test))
    result = {}
    for rank, i in enumerate(order):
        result[names[i]] = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
    return result


def split_folder(src: str | Path, *, val: float = 0.1, test: float = 0.1, seed: int = 0,
                 out: str | Path | None = None, force: bool = False, progress: bool = True) -> dict:
    """Split ``src`` into ``train/val/test`` under ``out`` (copy) or under ``src`` itself (move).

    Returns ``{"train": n, "val": n, "test": n, "paired": bool}`` counting images (a pair
    spread over A/ and B/ counts once per folder).
    """
    from tqdm import tqdm

    src = Path(src)
    if not src.is_dir():
        raise DataError(f"{src} is not a folder")
    if val < 0 or test < 0 or val + test >= 1:
        raise ConfigError(f"--val and --test must be >= 0 and sum to less than 1 (got {val} and {test})")
    in_place = out is None
    if in_place:
        busy = [src / s for s in SPLITS if (src / s).is_dir() and any((src / s).iterdir())]
        if busy and not force:
            raise ConfigError(f"{', '.join(map(str, busy))} already exist and are not empty: {src} looks split "
                              "already; pass --force to split into them anyway, or give --out")
    subdirs = sorted(p for p in src.iterdir() if p.is_dir() and p.name not in SPLITS)
    top = list_image_files(src)
    if top and subdirs:
        raise DataError(f"{src} holds both images and sub-folders ({', '.join(p.name for p in subdirs)}); "
                        "split a flat folder of images or a folder of sub-folders, not a mix")
    groups: dict[str, list[Path]] = {"": top} if top else {d.name: list_image_files(d) for d in subdirs}
    if not any(groups.values()):
        raise DataError(f"no images in {src} or its sub-folders")
    for name, files in groups.items():
        stems = [f.stem for f in files]
        if len(set(stems)) != len(stems):
            raise DataError(f"{src / name} has two files with the same stem; rename them first")


    root = src if in_place else prepare_destination(out, force=force)
    stem_sets = [frozenset(f.stem for f in files) for files in groups.values()]
    paired = len(groups) > 1 and all(s == stem_sets[0] for s in stem_sets)
    shared = assign(sorted(stem_sets[0]), val, test, seed) if paired else None

    moves: list[tuple[Path, Path]] = []
    counts = dict.fromkeys(SPLITS, 0)
    for name, files in groups.items():
        where = shared if paired else assign([f.stem for f in files], val, test, seed)
        for f in files:
            split = where[f.stem]
            moves.append((f, root / split / name / f.name))
            counts[split] += 1
    for s in SPLITS:  # create all three, even when a tiny set leaves one empty, so loaders find them
        for name in groups:
            (root / s / name).mkdir(parents=True, exist_ok=True)
    for a, b in tqdm(moves, desc="split", unit="file", disable=not progress):
        if in_place:
            shutil.move(a, b)
        else:
            shutil.copyfile(a, b)
    if in_place:
        for name in groups:
            if name and not any((src / name).iterdir()):
                (src / name).rmdir()  # the sub-folder now lives under train/val/test
    return {**counts, "paired": paired}
