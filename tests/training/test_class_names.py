"""Class-conditional DCGAN: the classes' names travel from the data to the checkpoint, the ONNX file and
`translate generate --class NAME`; class_filter works for class folders and IDX files (issue 13 item 12).
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from training.data import ImageFolderDataset
from training.synthetic import make_unconditional
from translate.checkpoint import load_checkpoint
from translate.cli import main
from translate.errors import ConfigError, DataError
from translate.export import export_to_repository
from translate.modelrepo import read_onnx_info

FAST = ["--device", "cpu", "--preset", "dcgan-cond-tiny", "--set", "tensorboard=false", "--set", "max_steps=2",
        "--set", "batch_size=8"]


def _class_folders(root, names=("1", "5", "7", "8")):
    """The issue's data: class folders 1, 5, 7, 8 (the synthetic set's quadrants 0..3, renamed)."""
    make_unconditional(root, n=32, size=32, class_folders=True)
    for k, name in enumerate(names):
        (root / f"class{k}").rename(root / name)
    return root


def _write_idx(path, array) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_names_go_from_class_folders_to_checkpoint_onnx_info_and_generate(tmp_path, capsys):
    data = _class_folders(tmp_path / "data")
    run = tmp_path / "run"
    assert main(["train", "dcgan", "--data", str(data), "--out", str(run), *FAST, "--set", "num_classes=4"]) == 0
    ckpt = run / "checkpoints" / "last.pt"
    assert load_checkpoint(ckpt)["processing"]["G"]["class_names"] == ["1", "5", "7", "8"]
    (report,) = export_to_repository(ckpt, tmp_path / "models", "digits", verify=False, exporter="torchscript")
    onnx_file = tmp_path / "models" / "digits" / "1" / "model.onnx"
    assert read_onnx_info(onnx_file).class_names == ["1", "5", "7", "8"]
    capsys.readouterr()
    assert main(["info", str(ckpt)]) == 0
    assert "classes (--class NAME -> label): 1 -> 0, 5 -> 1, 7 -> 2, 8 -> 3" in capsys.readouterr().out
    # --class 7 is the folder 7/ (label 2), not the untrained label 7 the issue found
    assert main(["generate", "--model", str(onnx_file), "--seeds", "0", "--class", "7", "-o", str(tmp_path / "g")]) == 0
    assert [p.name for p in (tmp_path / "g").iterdir()] == ["seed000000-class7.png"]
    assert main(["generate", "--model", str(ckpt), "--seeds", "0", "--class", "2", "-o", str(tmp_path / "h")]) == 2
    assert "unknown --class '2'; this model's classes are '1', '5', '7', '8'" in capsys.readouterr().err


def test_num_classes_must_match_the_data_and_renamed_classes_cannot_resume(tmp_path, capsys):
    data = _class_folders(tmp_path / "data")
    run = tmp_path / "run"
    assert main(["train", "dcgan", "--data", str(data), "--out", str(run), *FAST, "--set", "num_classes=10"]) == 2
    assert "num_classes=10 but the data has 4 classes (1, 5, 7, 8): set num_classes=4" in capsys.readouterr().err
    assert main(["train", "dcgan", "--data", str(data), "--out", str(run), *FAST, "--set", "num_classes=4",
                 "--overwrite"]) == 0
    (data / "8").rename(data / "9")  # the same number of classes, but not the same classes
    capsys.readouterr()
    assert main(["train", "dcgan", "--data", str(data), "--out", str(run), "--resume", "auto",
                 "--set", "max_steps=3"]) == 1
    assert "classes of the data: checkpoint ['1', '5', '7', '8']" in capsys.readouterr().err


def test_class_filter_works_for_class_folders(tmp_path, capsys):
    data = _class_folders(tmp_path / "data")
    everything = ImageFolderDataset(data, image_size=32, channels=1)
    some = ImageFolderDataset(data, image_size=32, channels=1, class_filter=[5, "8"])  # YAML gives ints or strings
    assert everything.class_names == ["1", "5", "7", "8"] and some.class_names == ["5", "8"]
    assert len(some) == sum(1 for _, k in everything.files if everything.class_names[k] in ("5", "8"))
    assert sorted(set(some.labels.tolist())) == [0, 1]
    assert all(p.parent.name == some.class_names[k] for p, k in some.files)
    with pytest.raises(DataError, match="class_filter names 3 but .* has no such class; its classes are 1, 5, 7, 8"):
        ImageFolderDataset(data, class_filter=[3])
    flat = make_unconditional(tmp_path / "flat", n=4)
    with pytest.raises(ConfigError, match="class_filter needs class folders or IDX labels"):
        ImageFolderDataset(flat, class_filter=[1])
    run = tmp_path / "run"
    assert main(["train", "dcgan", "--data", str(data), "--out", str(run), *FAST, "--set", "num_classes=2",
                 "--set", "class_filter=[5, 8]"]) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["processing"]["G"]["class_names"] == ["5", "8"]


def test_idx_labels_are_named_filtered_and_validated_on_t10k(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 12)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    train = ImageFolderDataset(tmp_path, image_size=32, channels=1, class_filter=[9, 7])
    assert train.class_names == ["7", "9"] and len(train) == 6  # labels 7 and 9 become 0 and 1
    assert train.labels.tolist() == [0, 1, 0, 1, 0, 1]
    val = ImageFolderDataset(tmp_path, image_size=32, channels=1, class_filter=[7, 9], train=False)
    assert val.class_names == ["7", "9"] and len(val) == 2 and val.source.endswith("t10k-images-idx3-ubyte.gz")
    assert ImageFolderDataset(tmp_path, image_size=32, channels=1).class_names == [str(k) for k in range(10)]


def test_split_class_folders_validate_on_val_with_the_training_names(tmp_path, capsys):
    data = _class_folders(tmp_path / "data")
    assert main(["data", "split", str(data), "--val", "0.25", "--test", "0", "--no-progress"]) == 0
    assert main(["data", "check", str(data), "--method", "dcgan"]) == 0
    val = ImageFolderDataset(data, image_size=32, channels=1, train=False)
    assert val.class_names == ["1", "5", "7", "8"] and val.source == str(data / "val")
    assert all(p.parent.name == val.class_names[k] for p, k in val.files)  # labels by name, as in training
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", "dcgan", "--data", str(data), "--out", str(run), *FAST, "--set", "num_classes=4"]) == 0
    assert f"held-out item(s) in {data / 'val'}; val/fd_pixels8 picks checkpoints/best.pt" in capsys.readouterr().out
    assert (run / "checkpoints" / "best.pt").is_file()
    (data / "val" / "9").mkdir()  # a class the training split lacks: its label would mean nothing
    first = sorted((data / "val" / "1").iterdir())[0]
    first.rename(data / "val" / "9" / first.name)
    with pytest.raises(DataError, match="class folders 9 that the training data lacks"):
        ImageFolderDataset(data, train=False)
