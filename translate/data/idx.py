"""MNIST / Fashion-MNIST IDX files -> image folders (per class, or CycleGAN trainA/trainB).

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number (two zero
bytes, a type code, the number of dimensions), then each dimension as a big-endian uint32, then
the data row-major. Type 0x08 (unsigned byte) is what MNIST and Fashion-MNIST use; the others are
read too. Files may be gzip-compressed (``*-ubyte.gz``), as Debian's ``dataset-fashion-mnist``
ships them.

CycleGAN class pairs (e.g. Fashion-MNIST sneaker 7 <-> ankle boot 9): the first class goes to ``trainA``/
``testA``, the second to ``trainB``/``testB``; each class's images are shuffled with the seed
and the last ``test`` fraction goes to the test folder.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from translate.data.folders import prepare_destination, write_png
from translate.errors import ConfigError, DataError

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally .gz) into a numpy array of its declared shape and type."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic: decompress whatever the file is called
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()}); "
                        "give MNIST/Fashion-MNIST files like train-images-idx3-ubyte.gz")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path} holds {len(raw) - header} data bytes but its header {shape} needs {expected}; "
                        "the file is truncated or not an IDX file")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def write_idx(array: np.ndarray, path: str | Path) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in .gz), atomically.

    The inverse of :func:`read_idx` for the unsigned-byte and int types it reads.
    """
    from translate.atomic import atomic_write_bytes

    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder(">") if np.dtype(v).itemsize > 1 else np.dtype(v): k
             for k, v in IDX_DTYPES.items()}
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    if big.dtype not in codes:
        raise DataError(f"IDX cannot store {array.dtype}; use uint8, int8, int16, int32, float32 or float64")
    body = bytes([0, 0, codes[big.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body += np.ascontiguousarray(big).tobytes()
    if str(path).endswith(".gz"):
        body = gzip.compress(body, compresslevel=6, mtime=0)  # mtime 0: same data, same bytes
    return atomic_write_bytes(path, lambda f: f.write(body))


def find_idx(root: str | Path) -> tuple[Path, Path | None] | None:
    """(images, labels or None) IDX files in ``root`` as training reads them, or None when there are none.

    Images are ``*images*idx3-ubyte*`` (a ``train-`` file first); the labels file has the same name
    with ``labels``/``idx1`` in place of ``images``/``idx3`` (MNIST's naming).
    """
    images = sorted(Path(root).glob("*images*idx3-ubyte*"), key=lambda p: ("train" not in p.name, p.name))
    if not images:
        return None
    labels = images[0].with_name(images[0].name.replace("images", "labels").replace("idx3", "idx1"))
    return images[0], labels if labels.is_file() else None


def parse_classes(text: str | None) -> list[int] | None:
    """``"7,9"`` -> ``[7, 9]``; None/empty -> None (all classes)."""
    if text is None or not str(text).strip():
        return None
    try:
        classes = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError as exc:
        raise ConfigError(f"--classes takes comma-separated class numbers like 7,9; got {text!r}") from exc
    if len(set(classes)) != len(classes):
        raise ConfigError(f"--classes lists a class twice: {text!r}")
    return classes


def idx_to_folders(
    images_path: str | Path,
    labels_path: str | Path,
    dst: str | Path,
    *,
    classes: list[int] | None = None,
    cyclegan: bool = False,
    test: float = 0.1,
    max_per_class: int | None = None,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Write IDX images as PNGs: ``dst/<class>/<index>.png``, or with ``cyclegan`` ``dst/{train,test}{A,B}/``.

    ``index`` is the image's position in the IDX file (5+ digits), so every PNG can be traced back.
    ``max_per_class`` keeps the first N of each class after the seeded shuffle. Returns counts.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DataError(f"{images_path} has shape {images.shape}; an IDX image file is [N, H, W]")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{labels_path} has shape {labels.shape} but {images_path} holds {len(images)} images; "
                        "give the labels file that belongs to the images file")
    if images.dtype != np.uint8:
        raise DataError(f"{images_path} stores {images.dtype} pixels; only unsigned-byte images are supported")
    return labelled_to_folders(images, labels, dst, classes=classes, cyclegan=cyclegan, test=test,
                               max_per_class=max_per_class, seed=seed, force=force, progress=progress,
                               source=str(labels_path))


def _check_classes(labels: np.ndarray, classes: list[int] | None, source: str) -> list[int]:
    """``classes`` (default: every label present), ConfigError naming any class ``labels`` lacks."""
    present = sorted(int(c) for c in np.unique(labels))
    classes = classes if classes is not None else present
    missing = [c for c in classes if c not in present]
    if missing:
        raise ConfigError(f"classes {missing} do not occur in {source} (it has {present})")
    return classes


def _class_indices(labels: np.ndarray, cls: int, *, shuffle: bool, max_per_class: int | None,
                   seed: int) -> np.ndarray:
    """Indices of the images of class ``cls``: in file order, or (``shuffle``, needed for a kept subset or
    a train/test split) in the seeded order that makes them deterministic; at most ``max_per_class``."""
    idx = np.flatnonzero(labels == cls)
    if shuffle or max_per_class is not None:
        idx = np.random.default_rng([seed, cls]).permutation(idx)
    return idx[:max_per_class] if max_per_class is not None else idx


def select(labels: np.ndarray, *, classes: list[int] | None = None, max_per_class: int | None = None,
           seed: int = 0, source: str = "the labels") -> np.ndarray:
    """Sorted indices of the images of ``classes``, at most ``max_per_class`` each (the same seeded
    choice :func:`labelled_to_folders` makes)."""
    if max_per_class is not None and max_per_class < 1:
        raise ConfigError(f"--max-per-class must be >= 1, got {max_per_class}")
    keep = [_class_indices(labels, cls, shuffle=False, max_per_class=max_per_class, seed=seed)
            for cls in _check_classes(labels, classes, source)]
    return np.sort(np.concatenate(keep))


def labelled_to_folders(
    images: np.ndarray,
    labels: np.ndarray,
    dst: str | Path,
    *,
    classes: list[int] | None = None,
    cyclegan: bool = False,
    test: float = 0.1,
    max_per_class: int | None = None,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
    source: str = "the labels",
) -> dict:
    """Write labelled uint8 images [N, H, W] as ``dst/<class>/<index>.png`` (or CycleGAN folders).

    The writer behind ``from-idx`` and ``from-csv``; see :func:`idx_to_folders` for the layout
    (``index`` = the image's position in ``images``). ``source`` names the labels in error messages.
    """
    from tqdm import tqdm

    classes = _check_classes(labels, classes, source)
    if cyclegan and len(classes) != 2:
        raise ConfigError(f"--cyclegan needs exactly two classes (A and B), e.g. --classes 7,9; got {classes}")
    if not 0.0 <= test < 1.0:
        raise ConfigError(f"--test must be in [0, 1), got {test}")
    if max_per_class is not None and max_per_class < 1:
        raise ConfigError(f"--max-per-class must be >= 1, got {max_per_class}")
    dst = prepare_destination(dst, force=force)

    width = max(5, len(str(len(images) - 1)))
    plan: list[tuple[int, Path]] = []  # (image index, output path)
    counts: dict[str, int] = {}
    for pos, cls in enumerate(classes):
        idx = _class_indices(labels, cls, shuffle=cyclegan, max_per_class=max_per_class, seed=seed)
        if cyclegan:
            side = "AB"[pos]
            n_test = int(round(len(idx) * test))
            groups = {f"train{side}": np.sort(idx[:len(idx) - n_test]), f"test{side}": np.sort(idx[len(idx) - n_test:])}
        else:
            groups = {str(cls): np.sort(idx)}
        for folder, members in groups.items():
            counts[folder] = len(members)
            plan += [(int(i), dst / folder / f"{int(i):0{width}d}.png") for i in members]

    for i, out in tqdm(plan, desc="write", unit="image", disable=not progress):
        write_png(np.ascontiguousarray(images[i]), out)
    return {"images": len(plan), "folders": counts}
