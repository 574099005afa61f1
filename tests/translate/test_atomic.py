"""translate.atomic: files and folders get the permissions open()/mkdir() would give under the umask."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import pytest

from translate.atomic import atomic_link, atomic_write_bytes, temp_dir
from translate.modelrepo import install_version


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                     (0o002, 0o664, 0o775)])
def test_new_files_and_folders_follow_the_umask(tmp_path, mask, file_mode, dir_mode):
    with umask(mask):
        path = atomic_write_bytes(tmp_path / "new" / "deep" / "a.bin", lambda f: f.write(b"x"))
        version_file = install_version(tmp_path / "models" / "m", 1, b"onnx bytes")
        folder = temp_dir(tmp_path, ".t-")
        plain = tmp_path / "plain.txt"  # what open() gives, for comparison
        plain.write_bytes(b"y")
    assert mode(path) == file_mode == mode(plain)
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "deep") == dir_mode
    # the model version folder is renamed into place from a temp folder: it must not stay 0700
    assert mode(version_file) == file_mode and mode(version_file.parent) == dir_mode
    assert mode(folder) == dir_mode
    assert path.read_bytes() == b"x" and version_file.read_bytes() == b"onnx bytes"


def test_a_replaced_file_keeps_its_mode_like_open_does(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("old")
    os.chmod(path, 0o640)
    with umask(0o022):
        atomic_write_bytes(path, lambda f: f.write(b"new"))
    assert path.read_text() == "new" and mode(path) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temp file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")

    def boom(f):
        f.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(path, boom)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_atomic_link_is_a_second_name_that_survives_the_source(tmp_path):
    src = atomic_write_bytes(tmp_path / "step_1.pt", lambda f: f.write(b"one"))
    last = atomic_link(src, tmp_path / "last.pt")
    assert last.read_bytes() == b"one" and os.path.samefile(src, last)
    src2 = atomic_write_bytes(tmp_path / "step_2.pt", lambda f: f.write(b"two"))
    atomic_link(src2, last)  # replaces the old name atomically
    src.unlink()  # pruning old steps never touches last.pt
    assert last.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "step_2.pt"]
