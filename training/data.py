"""Training datasets: paired (pix2pix), unpaired (CycleGAN), super-resolution (SRGAN), unconditional (DCGAN).

Layouts (see the README's training section):

- paired: ``DIR/*.png`` with A|B side by side (the pix2pix format), or ``DIR/A/`` + ``DIR/B/`` with
  matching file names. A ``DIR/train`` subfolder is used when present (``DIR/val``/``DIR/test``
  for validation).
- unpaired: ``DIR/trainA``, ``DIR/trainB`` (+ ``testA``/``testB``); an epoch is max(|A|, |B|)
  items, the B image of an item is drawn at random (Zhu et al. 2017).
- sr: a folder of HR images (LR made on the fly by bicubic /scale), or ``DIR/HR`` + ``DIR/LR``.
- unconditional: an image folder (class subfolders give labels), or MNIST/Fashion-MNIST IDX files.

Reproducibility: a dataset item is addressed by ``(index, seed)``; all of its randomness (crop,
flip, the random B partner) comes from that seed, never from global RNG state. The sampler
derives the seeds from (run seed, epoch, position), so the data order and augmentation of a
resumed run are exactly those of an uninterrupted one, with any number of DataLoader workers.
Pixels are decoded with ``translate.images.read_image`` (the project's one image decoder).
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from translate.errors import DataError
from translate.images import resize_pixels

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def load_pixels(path: Path, channels: int) -> np.ndarray:
    """Decode ``path`` to uint8 HWC with ``channels`` channels (grey <-> RGB converted, alpha dropped)."""
    from translate.images import read_image  # the one decoder of the project

    px = read_image(path).pixels
    if px.ndim == 2:
        px = px[:, :, None]
    if channels == 3 and px.shape[2] == 1:
        px = np.repeat(px, 3, axis=2)
    elif channels == 1 and px.shape[2] == 3:  # ITU-R BT.601 luma, as PIL's "L" mode
        px = (px.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)[:, :, None]
    return np.ascontiguousarray(px)


def to_tensor(px: np.ndarray) -> torch.Tensor:
    """uint8 HWC -> float32 CHW in [-1, 1]."""
    # np.array copies: IDX arrays are read-only views
    return torch.from_numpy(np.array(px.transpose(2, 0, 1))).float().div(127.5).sub(1.0)


def _pair_transform(load_size: int, crop_size: int, flip: bool, train: bool):
    """Resize to load_size, random crop + flip, identical for both images (albumentations replay)."""
    import albumentations as A  # training extra; imported here so `translate --help` stays light

    if not train:
        return A.Compose([A.Resize(crop_size, crop_size)], additional_targets={"image_b": "image"})
    ops = [A.Resize(load_size, load_size), A.RandomCrop(crop_size, crop_size)]
    if flip:
        ops.append(A.HorizontalFlip(p=0.5))
    return A.Compose(ops, additional_targets={"image_b": "image"})


def _apply_pair(t, seed: int, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t.set_random_seed(seed)  # all randomness of this item from its own seed
    out = t(image=a, image_b=b)
    return _hwc(out["image"]), _hwc(out["image_b"])


def _hwc(x: np.ndarray) -> np.ndarray:
    return x[:, :, None] if x.ndim == 2 else x


def _subdir(root: Path, train: bool, names: tuple[str, ...]) -> Path:
    """The split folder to read: ``train/`` for training, else the first of ``names`` that holds files.

    An empty folder counts as absent (``translate data split --val 0`` leaves an empty ``val/``).
    """
    for n in names if not train else ("train",):
        if (root / n).is_dir() and any(p.is_file() for p in (root / n).rglob("*")):
            return root / n
    return root


class PairedDataset(torch.utils.data.Dataset):
    """pix2pix pairs: A|B side-by-side files or A/ + B/ folders; returns {"A", "B", "path"}.

    ``A`` is always the network input and ``B`` the target: ``direction="BtoA"`` swaps them here.
    """

    def __init__(self, root, *, in_channels=3, out_channels=3, load_size=286, crop_size=256, flip=True,
                 direction="AtoB", train=True, exclude=()) -> None:
        root = Path(root)
        base = _subdir(root, train, ("val", "test"))
        if not train and base == root:
            base = _subdir(root, True, ())  # no val split: validate on (unaugmented) training pairs
        excl = {Path(p) for p in exclude}
        self.swap = direction == "BtoA"
        self.channels = (out_channels, in_channels) if self.swap else (in_channels, out_channels)
        if (base / "A").is_dir() and (base / "B").is_dir():
            names = [p.name for p in list_images(base / "A") if (base / "B" / p.name).is_file()]
            self.items = [(base / "A" / n, base / "B" / n) for n in names]
        else:
            self.items = [(p, None) for p in list_images(base)]
        self.items = [it for it in self.items if it[0] not in excl and it[1] not in excl]
        if not self.items:
            raise DataError(f"no paired images in {base} (expected A|B files or A/ and B/ folders)")
        self.transform = _pair_transform(load_size, crop_size, flip, train)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        pa, pb = self.items[index]
        if pb is None:  # side by side: left half A, right half B
            ab = load_pixels(pa, 3 if 3 in self.channels else 1)
            w = ab.shape[1] // 2
            a, b = ab[:, :w], ab[:, w : 2 * w]
        else:
            a, b = load_pixels(pa, self.channels[0]), load_pixels(pb, self.channels[1])
        a = _channels(a, self.channels[0])
        b = _channels(b, self.channels[1])
        a, b = _apply_pair(self.transform, seed, a, b)
        if self.swap:
            a, b = b, a
        return {"A": to_tensor(a), "B": to_tensor(b), "path": str(pa)}


def _channels(px: np.ndarray, c: int) -> np.ndarray:
    if px.shape[2] == c:
        return px
    if c == 1:
        return (px.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)[..., None]
    return np.repeat(px, 3, axis=2)


class UnpairedDataset(torch.utils.data.Dataset):
    """CycleGAN domains trainA/trainB; item i = (A[i mod |A|], random B); length max(|A|, |B|)."""

    def __init__(self, root, *, in_channels=3, out_channels=3, load_size=286, crop_size=256, flip=True,
                 train=True, exclude=()) -> None:
        root = Path(root)
        split = "train" if train else ("test" if (root / "testA").is_dir() else "train")
        excl = {Path(p) for p in exclude}
        self.files = []
        for side in "AB":
            folder = root / f"{split}{side}"
            if not folder.is_dir():
                raise DataError(f"missing folder {folder}; an unpaired dataset needs trainA/ and trainB/")
            files = [p for p in list_images(folder) if p not in excl]
            if not files:
                raise DataError(f"no images in {folder}")
            self.files.append(files)
        self.channels = (in_channels, out_channels)
        self.transform = _pair_transform(load_size, crop_size, flip, train)

    def __len__(self) -> int:
        return max(len(self.files[0]), len(self.files[1]))

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        rng = np.random.default_rng(seed)
        pa = self.files[0][index % len(self.files[0])]
        pb = self.files[1][int(rng.integers(len(self.files[1])))]  # unpaired: a random partner
        out = []
        for path, c, s in ((pa, self.channels[0], seed), (pb, self.channels[1], seed + 1)):
            px = load_pixels(path, c)
            out.append(_apply_pair(self.transform, s, px, px)[0])  # independent augmentation per domain
        return {"A": to_tensor(out[0]), "B": to_tensor(out[1]), "path": str(pa)}


class SRDataset(torch.utils.data.Dataset):
    """HR crops and their LR versions (bicubic /scale), or aligned crops of HR/ + LR/ pairs."""

    def __init__(self, root, *, scale=4, hr_size=96, channels=3, train=True, exclude=()) -> None:
        root = Path(root)
        base = _subdir(root, train, ("val", "test"))
        excl = {Path(p) for p in exclude}
        self.scale, self.hr_size, self.channels, self.train = scale, hr_size, channels, train
        if (base / "HR").is_dir():
            self.items = [(p, base / "LR" / p.name) for p in list_images(base / "HR")]
            self.items = [(h, lr if lr.is_file() else None) for h, lr in self.items]
        else:
            self.items = [(p, None) for p in list_images(base)]
        self.items = [it for it in self.items if it[0] not in excl and it[1] not in excl]
        if not self.items:
            raise DataError(f"no HR images in {base}")

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
            lr_c = resize_pixels(hr_c, size // s, size // s)
        if self.train and rng.random() < 0.5:
            hr_c, lr_c = hr_c[:, ::-1], lr_c[:, ::-1]
        return {"A": to_tensor(lr_c), "B": to_tensor(hr_c), "path": str(ph)}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST / Fashion-MNIST format, optionally .gz) into a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype_code != 0x08:
            raise DataError(f"{path} is not an unsigned-byte IDX file")
        dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
        return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    except (OSError, EOFError, struct.error, ValueError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc


def find_idx(root: Path) -> tuple[Path, Path | None] | None:
    """(images, labels) IDX files in ``root`` (train-* preferred), or None."""
    imgs = sorted(Path(root).glob("*images*idx3-ubyte*"), key=lambda p: ("train" not in p.name, p.name))
    if not imgs:
        return None
    lab = Path(str(imgs[0]).replace("images", "labels").replace("idx3", "idx1"))
    return imgs[0], lab if lab.is_file() else None


class ImageFolderDataset(torch.utils.data.Dataset):
    """Unconditional/conditional images: IDX files or a folder (class subfolders -> labels 0..K-1)."""

    def __init__(self, root, *, image_size=64, channels=3, class_filter=(), train=True, exclude=()) -> None:
        root = Path(root)
        self.image_size, self.channels = image_size, channels
        excl = {Path(p) for p in exclude}
        idx = find_idx(root)
        self.array = None
        if idx is not None:
            images = read_idx(idx[0])
            labels = read_idx(idx[1]) if idx[1] is not None else np.zeros(len(images), np.uint8)
            if class_filter:
                keep = np.isin(labels, list(class_filter))
                images, labels = images[keep], labels[keep]
            self.array, self.labels = images, labels.astype(np.int64)
            self.files = []
        else:
            subdirs = sorted(d for d in root.iterdir() if d.is_dir())
            if subdirs and not list_images(root):
                self.files = [(p, k) for k, d in enumerate(subdirs) for p in list_images(d) if p not in excl]
            else:
                self.files = [(p, 0) for p in list_images(root) if p not in excl]
            self.labels = np.array([k for _, k in self.files], np.int64)
        if len(self) == 0:
            raise DataError(f"no images in {root} (expected image files, class folders or IDX files)")

    def __len__(self) -> int:
        return len(self.array) if self.array is not None else len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, _seed = key
        if self.array is not None:
            px = self.array[index][:, :, None] if self.array.ndim == 3 else self.array[index]
            px = _channels(px, self.channels)
        else:
            px = load_pixels(self.files[index][0], self.channels)
        px = resize_pixels(px, self.image_size, self.image_size, resample="bilinear")
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


def build_dataset(cfg, root, *, train=True, exclude=()) -> torch.utils.data.Dataset:
    """The dataset a method trains (or validates) on, from its config."""
    m = cfg.method
    if m == "pix2pix":
        return PairedDataset(root, in_channels=cfg.in_channels, out_channels=cfg.out_channels,
                             load_size=cfg.load_size, crop_size=cfg.crop_size, flip=cfg.flip,
                             direction=cfg.direction, train=train, exclude=exclude)
    if m == "cyclegan":
        return UnpairedDataset(root, in_channels=cfg.in_channels, out_channels=cfg.out_channels,
                               load_size=cfg.load_size, crop_size=cfg.crop_size, flip=cfg.flip,
                               train=train, exclude=exclude)
    if m == "srgan":
        return SRDataset(root, scale=cfg.scale, hr_size=cfg.hr_size, channels=cfg.out_channels, train=train,
                         exclude=exclude)
    if m == "dcgan":
        return ImageFolderDataset(root, image_size=cfg.image_size, channels=cfg.out_channels,
                                  class_filter=cfg.class_filter, train=train, exclude=exclude)
    raise DataError(f"no dataset for method {m!r}")


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
