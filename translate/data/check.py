"""Dataset checks run before training (and by ``translate data check DIR --method M``).

``check_dataset(path, method)`` decodes every image with ``translate.images.read_image`` and
returns a list of :class:`DataProblem` - unreadable/corrupt files, missing partners (paired
A/B folders), size mismatches (A vs B), channel mismatches (grey among colour images of one
folder), and images smaller than the training crop. An empty list means the data is usable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from translate.errors import DataError, ImageError

METHODS = ("pix2pix", "cyclegan", "srgan", "dcgan")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


@dataclass(frozen=True)
class DataProblem:
    """One problem: the file (or folder) it concerns and what is wrong with it."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def _read(path: Path, problems: list[DataProblem]):
    from translate.images import read_image

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
        h, w = px.shape[:2]
        c = px.shape[2] if px.ndim == 3 else 1
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


def check_dataset(path: str | Path, method: str, *, min_size: int | None = None) -> list[DataProblem]:
    """Problems that would break or silently spoil training of ``method`` on ``path``.

    ``min_size``: smallest usable side. Defaults: pix2pix/cyclegan 16 (they resize to
    ``load_size`` first, so the floor only stops absurd upscaling; ``translate train`` passes
    half its crop size), srgan 64 (crops are cut without resizing), dcgan 8.
    Raises DataError when the layout itself is wrong (missing folder, no images at all).
    """
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    min_size = min_size if min_size is not None else {"srgan": 64, "dcgan": 8}.get(method, 16)
    problems: list[DataProblem] = []
    if method == "pix2pix":
        base = root / "train" if (root / "train").is_dir() else root
        if (base / "A").is_dir() and (base / "B").is_dir():
            a, b = _images(base / "A"), _images(base / "B")
            names_a, names_b = {p.name for p in a}, {p.name for p in b}
            for p in a:
                if p.name not in names_b:
                    problems.append(DataProblem(p, f"missing partner: no {base / 'B' / p.name}"))
            for p in b:
                if p.name not in names_a:
                    problems.append(DataProblem(p, f"missing partner: no {base / 'A' / p.name}"))
            sa = _check_folder(a, problems, min_size)
            sb = _check_folder(b, problems, min_size)
            for p, (h, w, _) in sa.items():
                q = base / "B" / p.name
                if q in sb and sb[q][:2] != (h, w):
                    other = f"{sb[q][1]}x{sb[q][0]}"
                    problems.append(DataProblem(p, f"size {w}x{h} differs from its partner {q} ({other})"))
        else:
            files = _images(base)
            if not files:
                raise DataError(f"no images in {base}; pix2pix needs A|B side-by-side images or A/ and B/ folders")
            for p, (_h, w, _) in _check_folder(files, problems, min_size, halves=True).items():
                if w % 2:
                    problems.append(DataProblem(p, f"width {w} is odd: not an A|B side-by-side pair"))
    elif method == "cyclegan":
        for side in ("trainA", "trainB", "testA", "testB"):
            folder = root / side
            if not folder.is_dir():
                if side.startswith("train"):
                    msg = "missing folder: an unpaired dataset needs trainA/ and trainB/"
                    problems.append(DataProblem(folder, msg))
                continue
            _check_folder(_images(folder), problems, min_size)
    elif method == "srgan":
        base = root / "train" if (root / "train").is_dir() else root
        if (base / "HR").is_dir():
            hr = _images(base / "HR")
            sh = _check_folder(hr, problems, min_size)
            if (base / "LR").is_dir():
                lr = _check_folder(_images(base / "LR"), problems, 1)
                for p, (h, w, _) in sh.items():
                    q = base / "LR" / p.name
                    if q not in lr:
                        problems.append(DataProblem(p, f"missing partner: no {q}"))
                    elif h % lr[q][0] or w % lr[q][1] or h // lr[q][0] != w // lr[q][1]:
                        msg = f"HR {w}x{h} is not an integer multiple of LR {lr[q][1]}x{lr[q][0]}"
                        problems.append(DataProblem(p, msg))
        else:
            _check_folder(_images(base), problems, min_size)
    else:  # dcgan: IDX files (MNIST format) or an image folder, optionally with class subfolders
        idx = sorted(root.glob("*idx3-ubyte*"))
        if idx:
            import gzip

            for p in idx:
                try:
                    with (gzip.open if p.suffix == ".gz" else open)(p, "rb") as f:
                        head = f.read(4)
                    if len(head) < 4 or head[:2] != b"\0\0" or head[2] != 0x08:
                        problems.append(DataProblem(p, "not an unsigned-byte IDX image file"))
                except (OSError, EOFError) as exc:
                    problems.append(DataProblem(p, f"unreadable IDX file ({exc})"))
        else:
            files = _images(root)
            folders = [d for d in sorted(root.iterdir()) if d.is_dir()] if not files else []
            for d in folders:
                files += _images(d)
            if not files:
                raise DataError(f"no images in {root} (expected images, class folders or MNIST IDX files)")
            _check_folder(files, problems, min_size)
    return problems


def bad_files(problems: list[DataProblem]) -> set[Path]:
    """The files named by ``problems`` (what ``--skip-bad`` leaves out)."""
    return {p.path for p in problems if p.path.is_file()}
