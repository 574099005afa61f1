"""Training datasets, one per data layout (``translate.data.LAYOUTS``), plus the sampler and collate.

- ``PairedDataset`` (paired): ``DIR/*.png`` with A|B side by side (the pix2pix format), or
  ``DIR/A/`` + ``DIR/B/`` with matching file names. A ``DIR/train`` subfolder is used when present
  (``DIR/val``/``DIR/test`` for validation).
- ``UnpairedDataset`` (unpaired): ``DIR/trainA``, ``DIR/trainB`` (+ ``testA``/``testB``); an epoch
  is max(|A|, |B|) items, the B image of an item is drawn at random (Zhu et al. 2017).
- ``SRDataset`` (sr): a folder of HR images (LR made on the fly by bicubic /scale), or
  ``DIR/HR`` + ``DIR/LR``.
- ``ImageFolderDataset`` (classes): an image folder (class subfolders give labels), or
  MNIST/Fashion-MNIST IDX files. ``class_names[k]`` names label ``k`` (the folder name, or the
  IDX label as text); ``class_filter`` keeps only the named classes, for folders and IDX alike.

Validation data is a split of its own, never the training images: ``DIR/val`` (else
``DIR/test``) for paired, SR and class data (IDX: the ``t10k-*`` files next to the ``train-*``
ones), ``valA``/``valB`` (else ``testA``/``testB``) for unpaired data. Asked for validation data
(``train=False``), a data set without such a split raises :class:`NoValidationSplit`, and the
trainer runs without validation (and without ``best.pt``).

Which method reads which dataset, with which arguments, is the method's own business (its
``dataset`` classmethod); nothing here knows method names.

Augmentation of paired/unpaired images follows pytorch-CycleGAN-and-pix2pix (Isola et al. 2017,
Zhu et al. 2017): resize to ``load_size`` x ``load_size`` with bicubic resampling (Pillow, through
``translate.images.resize_pixels``, the project's one resize), a random ``crop_size`` crop and a
random horizontal flip, with the same crop and flip for both images of a pair. Validation resizes
straight to ``crop_size`` without randomness.

Reproducibility: a dataset item is addressed by ``(index, seed)``; all of its randomness (crop,
flip, the random B partner) comes from that seed, never from global RNG state. The sampler
derives the seeds from (run seed, epoch, position), so the data order and augmentation of a
resumed run are exactly those of an uninterrupted one, with any number of DataLoader workers.
Pixels are decoded with ``translate.images.read_image`` (the project's one image decoder) and
converted with ``translate.images.convert_channels`` (grey is Pillow-exact BT.601 luma).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from translate.data.idx import find_idx, read_idx
from translate.errors import ConfigError, DataError
from translate.images import convert_channels, list_image_files, read_image, resize_pixels

MIN_CROP = 16  # smallest crop_size a config may ask for
VAL_SPLITS = ("val", "test")  # validation folders, in order of preference


class NoValidationSplit(DataError):
    """The data set has no validation split (``val/``, ``test/`` ...): train without validation."""


def load_pixels(path: Path, channels: int) -> np.ndarray:
    """Decode ``path`` to uint8 HWC with ``channels`` channels (grey <-> RGB converted, alpha dropped)."""
    return np.ascontiguousarray(convert_channels(read_image(path).pixels, channels))


def to_tensor(px: np.ndarray) -> torch.Tensor:
    """uint8 HWC -> float32 CHW in [-1, 1]."""
    # np.array copies: IDX arrays are read-only views, flipped crops are negative-stride views
    return torch.from_numpy(np.array(px.transpose(2, 0, 1))).float().div(127.5).sub(1.0)


def check_crop(load_size: int, crop_size: int) -> None:
    """ConfigError unless MIN_CROP <= crop_size <= load_size (resize to load_size, then crop)."""
    if crop_size < MIN_CROP or load_size < crop_size:
        raise ConfigError(f"need {MIN_CROP} <= crop_size <= load_size (got crop {crop_size}, load {load_size})")


def resized_min_size(crop_size: int | None) -> int:
    """Smallest image side worth training on when images are resized to load_size before cropping.

    They only need to be no smaller than half the crop (28 px MNIST for a 32 px crop is fine, a
    10 px thumbnail for a 256 px crop is not). Without a crop size: MIN_CROP.
    """
    return MIN_CROP if crop_size is None else max(8, crop_size // 2)


def augment(images: list[np.ndarray], rng: np.random.Generator | None, *, load_size: int, crop_size: int,
            flip: bool) -> list[np.ndarray]:
    """Resize (bicubic) to load_size, then the same random crop_size crop and flip for every image.

    ``rng`` None (validation): resize straight to crop_size, no crop, no flip. Otherwise, as the
    reference's ``get_params``: a crop corner uniform in [0, load_size - crop_size] on each axis,
    and (when ``flip``) a mirror with probability 1/2.
    """
    if rng is None:
        return [resize_pixels(px, crop_size, crop_size) for px in images]
    resized = [resize_pixels(px, load_size, load_size) for px in images]
    y, x = (int(v) for v in rng.integers(0, load_size - crop_size + 1, size=2))
    mirror = flip and rng.random() < 0.5
    out = []
    for px in resized:
        px = px[y : y + crop_size, x : x + crop_size]
        out.append(px[:, ::-1] if mirror else px)
    return out


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _subdir(root: Path, train: bool, names: tuple[str, ...] = VAL_SPLITS) -> Path:
    """The split folder to read: ``train/`` (or ``root`` itself) for training; for validation the
    first of ``names`` that holds files, else :class:`NoValidationSplit`.

    An empty folder counts as absent (``translate data split --val 0`` leaves an empty ``val/``).
    """
    if train:
        return root / "train" if _has_files(root / "train") else root
    for n in names:
        if _has_files(root / n):
            return root / n
    raise NoValidationSplit(f"{root} has no validation split ({' or '.join(n + '/' for n in names)}); "
                            f"`translate data split {root}` makes one")


class PairedDataset(torch.utils.data.Dataset):
    """pix2pix pairs: A|B side-by-side files or A/ + B/ folders; returns {"A", "B", "path"}.

    ``A`` is always the network input and ``B`` the target: ``direction="BtoA"`` swaps them here.
    """

    def __init__(self, root, *, in_channels=3, out_channels=3, load_size=286, crop_size=256, flip=True,
                 direction="AtoB", train=True, exclude=()) -> None:
        root = Path(root)
        base = _subdir(root, train)
        excl = {Path(p) for p in exclude}
        self.swap = direction == "BtoA"
        self.channels = (out_channels, in_channels) if self.swap else (in_channels, out_channels)
        if (base / "A").is_dir() and (base / "B").is_dir():
            names = [p.name for p in list_image_files(base / "A") if (base / "B" / p.name).is_file()]
            self.items = [(base / "A" / n, base / "B" / n) for n in names]
        else:
            self.items = [(p, None) for p in list_image_files(base)]
        self.items = [it for it in self.items if it[0] not in excl and it[1] not in excl]
        if not self.items:
            raise DataError(f"no paired images in {base} (expected A|B files or A/ and B/ folders)")
        self.source = str(base)  # what this split reads (the trainer says where it validates)
        self.sizes = {"load_size": load_size, "crop_size": crop_size, "flip": flip}
        self.train = train

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        pa, pb = self.items[index]
        if pb is None:  # side by side: left half A, right half B
            ab = read_image(pa).pixels
            w = ab.shape[1] // 2
            a, b = ab[:, :w], ab[:, w : 2 * w]
        else:
            a, b = read_image(pa).pixels, read_image(pb).pixels
        a, b = convert_channels(a, self.channels[0]), convert_channels(b, self.channels[1])
        rng = np.random.default_rng(seed) if self.train else None
        a, b = augment([np.ascontiguousarray(a), np.ascontiguousarray(b)], rng, **self.sizes)
        if self.swap:
            a, b = b, a
        return {"A": to_tensor(a), "B": to_tensor(b), "path": str(pa)}


class UnpairedDataset(torch.utils.data.Dataset):
    """CycleGAN domains trainA/trainB; item i = (A[i mod |A|], random B); length max(|A|, |B|)."""

    def __init__(self, root, *, in_channels=3, out_channels=3, load_size=286, crop_size=256, flip=True,
                 train=True, exclude=()) -> None:
        root = Path(root)
        split = "train" if train else _unpaired_val_split(root)
        excl = {Path(p) for p in exclude}
        self.files = []
        for side in "AB":
            folder = root / f"{split}{side}"
            if not folder.is_dir():
                raise DataError(f"missing folder {folder}; an unpaired dataset needs trainA/ and trainB/")
            files = [p for p in list_image_files(folder) if p not in excl]
            if not files:
                raise DataError(f"no images in {folder}")
            self.files.append(files)
        self.source = f"{root / split}A + {split}B"
        self.channels = (in_channels, out_channels)
        self.sizes = {"load_size": load_size, "crop_size": crop_size, "flip": flip}
        self.train = train

    def __len__(self) -> int:
        return max(len(self.files[0]), len(self.files[1]))

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        rng = np.random.default_rng(seed)
        pa = self.files[0][index % len(self.files[0])]
        pb = self.files[1][int(rng.integers(len(self.files[1])))]  # unpaired: a random partner
        out = []
        for path, c in ((pa, self.channels[0]), (pb, self.channels[1])):  # independent augmentation per domain
            out += augment([load_pixels(path, c)], rng if self.train else None, **self.sizes)
        return {"A": to_tensor(out[0]), "B": to_tensor(out[1]), "path": str(pa)}


def _unpaired_val_split(root: Path) -> str:
    """``val`` or ``test`` when both of its domain folders (``valA``/``valB`` ...) hold files."""
    for split in VAL_SPLITS:
        if _has_files(root / f"{split}A") and _has_files(root / f"{split}B"):
            return split
    raise NoValidationSplit(f"{root} has no validation split (valA/ + valB/ or testA/ + testB/)")


class SRDataset(torch.utils.data.Dataset):
    """HR crops and their LR versions (bicubic /scale), or aligned crops of HR/ + LR/ pairs."""

    def __init__(self, root, *, scale=4, hr_size=96, channels=3, train=True, exclude=()) -> None:
        root = Path(root)
        base = _subdir(root, train)
        excl = {Path(p) for p in exclude}
        self.scale, self.hr_size, self.channels, self.train = scale, hr_size, channels, train
        if (base / "HR").is_dir():
            self.items = [(p, base / "LR" / p.name) for p in list_image_files(base / "HR")]
            self.items = [(h, lr if lr.is_file() else None) for h, lr in self.items]
        else:
            self.items = [(p, None) for p in list_image_files(base)]
        self.items = [it for it in self.items if it[0] not in excl and it[1] not in excl]
        if not self.items:
            raise DataError(f"no HR images in {base}")
        self.source = str(base)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        rng = np.random.default_rng(seed)
        ph, pl = self.items[index]
        hr = load_pixels(ph, self.channels)
        s, size = self.scale, self.hr_size
        lr = load_pixels(pl, self.channels) if pl is not None else None
        h, w = (hr.shape[0] // s) * s, (hr.shape[1] // s) * s  # LR grid alignment
        if self.train:
            y = int(rng.integers(0, (h - size) // s + 1)) * s
            x = int(rng.integers(0, (w - size) // s + 1)) * s
        else:
            y, x = ((h - size) // (2 * s)) * s, ((w - size) // (2 * s)) * s
        hr_c = hr[y : y + size, x : x + size]
        if lr is not None:
            lr_c = lr[y // s : (y + size) // s, x // s : (x + size) // s]
        else:
            lr_c = resize_pixels(np.ascontiguousarray(hr_c), size // s, size // s)
        if self.train and rng.random() < 0.5:
            hr_c, lr_c = hr_c[:, ::-1], lr_c[:, ::-1]
        return {"A": to_tensor(lr_c), "B": to_tensor(hr_c), "path": str(ph)}


def _class_folders(folder: Path) -> list[Path] | None:
    """The class sub-folders of ``folder`` (sorted by name), or None when it holds images directly."""
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir())
    return subdirs if subdirs and not list_image_files(folder) else None


def _unknown_classes(wanted: list[str], have: list[str], where: Path) -> DataError:
    return DataError(f"class_filter names {', '.join(wanted)} but {where} has no such class; "
                     f"its classes are {', '.join(have) or 'none'}")


def _folder_class_names(base: Path, subdirs: list[Path] | None, class_filter) -> list[str]:
    """Class names from sub-folders, narrowed by ``class_filter`` (names); [] for a flat folder."""
    if subdirs is None:
        if class_filter:
            raise ConfigError(f"class_filter needs class folders or IDX labels; {base} holds its images directly")
        return []
    names = [d.name for d in subdirs]
    if not class_filter:
        return names
    wanted = [str(c) for c in class_filter]
    missing = [c for c in wanted if c not in names]
    if missing:
        raise _unknown_classes(missing, names, base)
    return [n for n in names if n in wanted]


def _idx_class_names(idx: tuple[Path, Path | None], labels: np.ndarray | None, class_filter) -> list[str]:
    """Class names of IDX data: its label values as text (sorted numerically), narrowed by ``class_filter``."""
    if labels is None:
        if class_filter:
            raise ConfigError(f"class_filter needs IDX labels; there is no label file next to {idx[0]}")
        return []
    values = [int(v) for v in np.unique(labels)]
    if class_filter:
        try:
            wanted = sorted({int(c) for c in class_filter})
        except (TypeError, ValueError):
            raise ConfigError(f"class_filter for IDX data takes label numbers like [7, 9] (got {class_filter!r})"
                              ) from None
        missing = [str(c) for c in wanted if c not in values]
        if missing:
            raise _unknown_classes(missing, [str(v) for v in values], idx[1])
        values = wanted
    return [str(v) for v in values]


def _idx_validation_files(root: Path, train_images: Path) -> tuple[Path, Path | None]:
    """The validation IDX pair: a non-``train`` images file (MNIST's ``t10k-``) beside the ``train-`` one."""
    others = sorted(p for p in root.glob("*images*idx3-ubyte*") if "train" not in p.name)
    if "train" not in train_images.name or not others:
        raise NoValidationSplit(f"{root} has no validation split (t10k-images-idx3-ubyte next to the train- file)")
    labels = others[0].with_name(others[0].name.replace("images", "labels").replace("idx3", "idx1"))
    return others[0], labels if labels.is_file() else None


class ImageFolderDataset(torch.utils.data.Dataset):
    """Unconditional/conditional images: IDX files or a folder (class subfolders -> labels 0..K-1).

    Labels follow ``class_names`` (sorted folder names, or sorted IDX label values as text), after
    ``class_filter`` (names or IDX label numbers) kept only the listed classes: class folders
    ``1, 5, 7, 8`` are labels 0..3 named ``"1", "5", "7", "8"``. The validation split
    (``train=False``: ``DIR/val`` or ``DIR/test`` beside ``DIR/train``, or the ``t10k-*`` IDX
    files) is read with the training split's names, so a label means the same class in both.
    """

    def __init__(self, root, *, image_size=64, channels=3, class_filter=(), train=True, exclude=()) -> None:
        root = Path(root)
        self.image_size, self.channels = image_size, channels
        excl = {Path(p) for p in exclude}
        self.array = None
        self.files: list[tuple[Path, int]] = []
        idx = find_idx(root)
        if idx is not None:
            self._read_idx(root, idx, class_filter, train)
        else:
            self._read_folders(root, class_filter, train, excl)
        if len(self) == 0:
            raise DataError(f"no images in {root} (expected image files, class folders or IDX files)")

    def _read_idx(self, root: Path, idx: tuple[Path, Path | None], class_filter, train: bool) -> None:
        """Images and labels from IDX files (the train- pair; for validation the t10k- pair)."""
        train_labels = read_idx(idx[1]) if idx[1] is not None else None
        self.class_names = _idx_class_names(idx, train_labels, class_filter)
        if not train:
            idx = _idx_validation_files(root, idx[0])
        self.source = str(idx[0])
        images = read_idx(idx[0])
        if images.dtype != np.uint8 or images.ndim != 3:
            raise DataError(f"{idx[0]} holds {images.dtype} {images.shape}, not unsigned-byte images [N, H, W]")
        if not self.class_names:  # no labels (or an unlabelled validation file): one class, label 0
            self.array, self.labels = images, np.zeros(len(images), np.int64)
            return
        labels = train_labels if train else read_idx(idx[1]) if idx[1] is not None else None
        if labels is None or labels.shape != (len(images),):
            raise DataError(f"{idx[0]}: no matching label file ({idx[0].name} with labels/idx1 for images/idx3)")
        text = labels.astype(np.int64).astype(str)
        keep = np.isin(text, self.class_names)  # class_filter drops the others
        if not train and not class_filter and not keep.all():
            extra = sorted(set(text[~keep].tolist()))
            raise DataError(f"{idx[0]} has labels {', '.join(extra)} that the training data {idx[0].parent} lacks")
        lookup = {name: k for k, name in enumerate(self.class_names)}
        self.array = images[keep]
        self.labels = np.array([lookup[t] for t in text[keep]], np.int64)

    def _read_folders(self, root: Path, class_filter, train: bool, excl: set) -> None:
        """Images from class sub-folders (labels) or from one flat folder (label 0)."""
        base = _subdir(root, True)
        subdirs = _class_folders(base)
        self.class_names = _folder_class_names(base, subdirs, class_filter)
        if not train:
            if base == root:  # class folders sit in DIR itself: a val/ beside them would be a class
                raise NoValidationSplit(f"{root} has no validation split (val/ or test/ beside train/); "
                                        f"`translate data split {root}` makes one")
            base = _subdir(root, False)
        self.source = str(base)
        if not self.class_names:
            self.files = [(p, 0) for p in list_image_files(base) if p not in excl]
        else:
            wanted = set(self.class_names)
            found = _class_folders(base) or []
            unknown = sorted(d.name for d in found if d.name not in wanted and not class_filter)
            if unknown:
                raise DataError(f"{base} has class folders {', '.join(unknown)} that the training data lacks")
            lookup = {name: k for k, name in enumerate(self.class_names)}
            self.files = [(p, lookup[d.name]) for d in found if d.name in wanted
                          for p in list_image_files(d) if p not in excl]
        self.labels = np.array([k for _, k in self.files], np.int64)

    def __len__(self) -> int:
        return len(self.array) if self.array is not None else len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, _seed = key
        if self.array is not None:
            px = convert_channels(self.array[index][:, :, None], self.channels)
        else:
            px = load_pixels(self.files[index][0], self.channels)
        px = resize_pixels(np.ascontiguousarray(px), self.image_size, self.image_size, resample="bilinear")
        return {"B": to_tensor(px), "label": int(self.labels[index]), "path": str(index)}


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(index, item_seed)`` for one epoch of one process, starting at ``start`` (resume).

    The permutation is ``torch.utils.data.DistributedSampler``'s (seeded by run seed + epoch,
    padded and strided by rank), so several torchrun processes see disjoint shards.
    """

    def __init__(self, n: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1, shuffle=True, start=0) -> None:
        ds = torch.utils.data.DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=seed)
        ds.set_epoch(epoch)
        self.indices = list(ds)
        self.seed, self.epoch, self.rank, self.start = seed, epoch, rank, start

    def __len__(self) -> int:
        return len(self.indices) - self.start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for pos in range(self.start, len(self.indices)):
            # a distinct, stable seed per (run, epoch, rank, position)
            ss = np.random.SeedSequence([self.seed, self.epoch, self.rank, pos])
            yield self.indices[pos], int(ss.generate_state(1)[0])


def collate(items: list[dict]) -> dict:
    """Stack tensors, keep paths as a list, labels as int64."""
    out: dict = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        if isinstance(vals[0], torch.Tensor):
            out[k] = torch.stack(vals)
        elif isinstance(vals[0], int):
            out[k] = torch.tensor(vals, dtype=torch.int64)
        else:
            out[k] = vals
    return out
