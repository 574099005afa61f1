"""Dataset checks run before training (and by ``translate data check DIR``).

``check_dataset(path, layout)`` checks a folder against one of the training data layouts
(``translate.data.LAYOUTS``: paired, unpaired, sr, classes). It decodes every image with
``translate.images.read_image`` and returns a list of :class:`DataProblem`: unreadable/corrupt
files, missing partners (paired A/B and HR/LR folders), size mismatches (A vs B, HR vs LR),
channel mismatches (grey among colour images of one folder) and images smaller than
``min_size``. An empty list means the data is usable.

The check knows layouts, not training methods: ``translate train`` and ``translate data check
--method M`` ask the method (through ``translate.plugins.methods()``) for its layout, its
minimum image size and, for super-resolution, its scale.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from translate.data import LAYOUTS
from translate.data.idx import find_idx, read_idx
from translate.errors import ConfigError, DataError, ImageError
from translate.images import list_image_files, read_image


@dataclass(frozen=True)
class DataProblem:
    """One problem: the file (or folder) it concerns and what is wrong with it."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _read(path: Path, problems: list[DataProblem]):
    try:
        return read_image(path).pixels
    except ImageError as exc:
        problems.append(DataProblem(path, f"unreadable or corrupt image ({exc})"))
    except OSError as exc:
        problems.append(DataProblem(path, f"cannot read file ({exc.strerror or exc})"))
    return None


def _check_folder(files: list[Path], problems: list[DataProblem], min_size: int, halves: bool = False) -> dict:
    """Decode files; report corrupt, too small and odd-channel ones; return {path: (h, w, c)}."""
    shapes = {}
    for p in files:
        px = _read(p, problems)
        if px is None:
            continue
        h, w, c = px.shape
        shapes[p] = (h, w, c)
        eff_w = w // 2 if halves else w
        if min(h, eff_w) < min_size:
            what = "each half is" if halves else "image is"
            need = f"{min_size}x{min_size}"
            problems.append(DataProblem(p, f"too small: {what} {eff_w}x{h}, training needs at least {need}"))
    if shapes:
        common, _ = Counter(c for _, _, c in shapes.values()).most_common(1)[0]
        for p, (_, _, c) in shapes.items():
            if c != common:
                kinds = {1: "grey", 3: "colour"}
                problems.append(DataProblem(p, f"has {c} channel(s) ({kinds.get(c, c)}) while most images in "
                                               f"{p.parent} have {common} ({kinds.get(common, common)})"))
    return shapes


def _partners(files_a: list[Path], folder_b: Path, problems: list[DataProblem]) -> None:
    """Report each file of ``files_a`` whose namesake is missing from ``folder_b``."""
    for p in files_a:
        if not (folder_b / p.name).is_file():
            problems.append(DataProblem(p, f"missing partner: no {folder_b / p.name}"))


def _check_paired(root: Path, problems: list[DataProblem], min_size: int) -> None:
    base = root / "train" if (root / "train").is_dir() else root
    if (base / "A").is_dir() and (base / "B").is_dir():
        a, b = list_image_files(base / "A"), list_image_files(base / "B")
        _partners(a, base / "B", problems)
        _partners(b, base / "A", problems)
        sa = _check_folder(a, problems, min_size)
        sb = _check_folder(b, problems, min_size)
        for p, (h, w, _) in sa.items():
            q = base / "B" / p.name
            if q in sb and sb[q][:2] != (h, w):
                problems.append(DataProblem(p, f"size {w}x{h} differs from its partner {q} ({sb[q][1]}x{sb[q][0]})"))
        return
    files = list_image_files(base)
    if not files:
        raise DataError(f"no images in {base}; paired data needs A|B side-by-side images or A/ and B/ folders")
    for p, (_h, w, _) in _check_folder(files, problems, min_size, halves=True).items():
        if w % 2:
            problems.append(DataProblem(p, f"width {w} is odd: not an A|B side-by-side pair"))


def _check_unpaired(root: Path, problems: list[DataProblem], min_size: int) -> None:
    for side in ("trainA", "trainB", "testA", "testB"):
        folder = root / side
        if not folder.is_dir():
            if side.startswith("train"):
                problems.append(DataProblem(folder, "missing folder: an unpaired dataset needs trainA/ and trainB/"))
            continue
        _check_folder(list_image_files(folder), problems, min_size)


def _check_sr(root: Path, problems: list[DataProblem], min_size: int, scale: int | None, notes: list[str]) -> None:
    base = root / "train" if (root / "train").is_dir() else root
    if not (base / "HR").is_dir():
        _check_folder(list_image_files(base), problems, min_size)
        return
    sh = _check_folder(list_image_files(base / "HR"), problems, min_size)
    if not (base / "LR").is_dir():
        return
    lr = _check_folder(list_image_files(base / "LR"), problems, 1)
    ratios: dict[Path, int] = {}
    for p, (h, w, _) in sh.items():
        q = base / "LR" / p.name
        if q not in lr:
            problems.append(DataProblem(p, f"missing partner: no {q}"))
            continue
        lh, lw = lr[q][:2]
        if h % lh or w % lw or h // lh != w // lw:
            problems.append(DataProblem(p, f"HR {w}x{h} is not an integer multiple of LR {lw}x{lh}"))
        else:
            ratios[p] = h // lh
    counts = Counter(ratios.values())
    if counts:
        notes.append(f"{base}: HR/LR pairs measured at " + ", ".join(
            f"x{r} ({n} pair{'s' if n > 1 else ''})" for r, n in sorted(counts.items())))
    if scale is None:
        return
    wrong = {p: r for p, r in ratios.items() if r != scale}
    if wrong and len(wrong) == len(ratios) and len(counts) == 1:  # the whole set was made for another scale
        r = next(iter(counts))
        problems.append(DataProblem(base / "LR", (
            f"every LR image is 1/{r} of its HR image (x{r}, all {len(ratios)} pairs), but the scale is {scale}: "
            f"train at x{r} (--set scale={r}, or a x{r} preset), or remake the LR images at x{scale} with "
            f"`translate data downscale {base / 'HR'} NEW_FOLDER --scale {scale}`")))
        return
    for p, r in wrong.items():
        h, w = sh[p][:2]
        lh, lw = lr[base / "LR" / p.name][:2]
        problems.append(DataProblem(p, f"HR {w}x{h} is {r}x LR {lw}x{lh}, but the scale is {scale}"))


def _check_idx(images: Path, labels: Path | None, problems: list[DataProblem]) -> None:
    try:
        array = read_idx(images)
    except DataError as exc:
        problems.append(DataProblem(images, f"unreadable IDX file ({exc})"))
        return
    if array.dtype != np.uint8 or array.ndim != 3:
        problems.append(DataProblem(images, f"holds {array.dtype} {array.shape}: not unsigned-byte images [N, H, W]"))
        return
    if labels is None:
        return
    try:
        lab = read_idx(labels)
    except DataError as exc:
        problems.append(DataProblem(labels, f"unreadable IDX file ({exc})"))
        return
    if lab.shape != (len(array),):
        problems.append(DataProblem(labels, f"holds labels of shape {lab.shape} for {len(array)} images in {images}"))


def _check_classes(root: Path, problems: list[DataProblem], min_size: int) -> None:
    idx = find_idx(root)
    if idx is not None:
        _check_idx(*idx, problems)
        return
    splits = [root]
    if (root / "train").is_dir():  # split by `translate data split`: train/, val/, test/ with the classes inside
        splits = [root / s for s in ("train", "val", "test") if (root / s).is_dir()]
    files = []
    for base in splits:  # images directly, or in class sub-folders
        found = list_image_files(base)
        if not found:
            for d in sorted(p for p in base.iterdir() if p.is_dir()):
                found += list_image_files(d)
        files += found
    if not files:
        raise DataError(f"no images in {root} (expected images, class folders or MNIST IDX files)")
    _check_folder(files, problems, min_size)


def check_dataset(path: str | Path, layout: str, *, min_size: int | None = None,
                  scale: int | None = None, notes: list[str] | None = None) -> list[DataProblem]:
    """Problems that would break or silently spoil training on the ``layout`` data in ``path``.

    ``min_size``: smallest usable side (None: no size check). ``scale`` (sr layout): HR/LR pairs
    must differ by exactly this factor (None: any integer factor); a whole set made for another
    factor is one problem naming the measured factor. ``notes``, when given, collects what the
    check measured (e.g. the HR/LR factors found), for a report. Raises ConfigError for an unknown
    layout and DataError when the folder itself is wrong (missing, no images at all).
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown data layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    min_size = 1 if min_size is None else int(min_size)
    notes = [] if notes is None else notes
    problems: list[DataProblem] = []
    if layout == "paired":
        _check_paired(root, problems, min_size)
    elif layout == "unpaired":
        _check_unpaired(root, problems, min_size)
    elif layout == "sr":
        _check_sr(root, problems, min_size, scale, notes)
    else:
        _check_classes(root, problems, min_size)
    return problems


def bad_files(problems: list[DataProblem]) -> set[Path]:
    """The files named by ``problems`` (what ``--skip-bad`` leaves out)."""
    return {p.path for p in problems if p.path.is_file()}


def unskippable(problems: list[DataProblem]) -> list[DataProblem]:
    """Problems of a folder or of the whole set (not of one file): leaving files out cannot fix them."""
    return [p for p in problems if not p.path.is_file()]
