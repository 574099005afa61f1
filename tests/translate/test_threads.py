"""--threads N|auto: the load-aware choice, the cgroup cap, the flags of train/run/serve and the log line."""

from __future__ import annotations

import argparse
import logging

import pytest
import torch

from translate import threads
from translate.cli import build_parser, main
from translate.threads import (
    AUTO,
    INFERENCE,
    TORCH,
    cgroup_cpu_limit,
    choose_threads,
    parse_threads,
    usable_cores,
)

NO_ENV: dict[str, str] = {}


# ----------------------------------------------------------------------------- the choice
@pytest.mark.parametrize("cores,load1,expected", [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 13.2, 1),  # the demo's rule: free cores, at least 1
    (8, 2.6, 5), (8, 0.0, 8), (1, 0.0, 1), (4, 9.0, 1),
])
def test_torch_auto_uses_the_cores_the_load_leaves_free(cores, load1, expected):
    choice = choose_threads(AUTO, TORCH, cores=cores, load1=load1, env=NO_ENV)
    assert (choice.threads, choice.source) == (expected, AUTO)


def test_torch_auto_shares_free_cores_between_processes_and_without_a_load_average_takes_all(monkeypatch):
    assert choose_threads(AUTO, TORCH, cores=8, load1=0.0, processes=4, env=NO_ENV).threads == 2
    assert choose_threads(AUTO, TORCH, cores=8, load1=5.0, processes=4, env=NO_ENV).threads == 1
    monkeypatch.setattr(threads, "load_average", lambda: None)  # Windows has no load average: all usable cores
    choice = choose_threads(AUTO, TORCH, cores=6, env=NO_ENV)
    assert (choice.threads, choice.load1) == (6, None)
    assert "1-minute load unknown leaves 6 free" in choice.describe()


def test_torch_auto_inside_a_cpu_quota_takes_the_quota_and_ignores_the_hosts_load(monkeypatch):
    # /proc/loadavg in a container is the node's: 30 on a busy 64-core node says nothing about a 2-CPU quota
    monkeypatch.setattr(threads, "load_average", lambda: 30.0)
    choice = choose_threads(AUTO, TORCH, cores=2, quota=True, env=NO_ENV)
    assert (choice.threads, choice.load1, choice.quota) == (2, None, True)
    assert "CPU quota of 2 cores" in choice.describe() and "does not count" in choice.describe()
    assert choose_threads(AUTO, TORCH, cores=2, quota=False, env=NO_ENV).threads == 1  # no quota: the load counts


def test_inference_auto_takes_every_core_whatever_the_load():
    """ORT/OpenVINO pools do not collapse under load (2 threads beat 1 even at load 9-14)."""
    for load1 in (0.0, 1.5, 14.0):
        assert choose_threads(AUTO, INFERENCE, cores=2, load1=load1, env=NO_ENV).threads == 2
    assert choose_threads(None, INFERENCE, cores=16, env={"OMP_NUM_THREADS": "1"}).threads == 16  # not OpenMP
    assert choose_threads(AUTO, INFERENCE, cores=8, processes=2).threads == 4  # two concurrent calls share them


def test_explicit_number_wins_and_omp_num_threads_counts_only_when_the_flag_is_absent():
    explicit = choose_threads(3, TORCH, cores=2, load1=13.0, env={"OMP_NUM_THREADS": "1"})
    assert (explicit.threads, explicit.source) == (3, "--threads")
    omp = choose_threads(None, TORCH, cores=8, load1=0.0, env={"OMP_NUM_THREADS": "2"})
    assert (omp.threads, omp.source) == (2, "OMP_NUM_THREADS")
    auto = choose_threads(AUTO, TORCH, cores=8, load1=0.0, env={"OMP_NUM_THREADS": "2"})
    assert (auto.threads, auto.source) == (8, AUTO)  # --threads auto overrides the environment
    garbage = choose_threads(None, TORCH, cores=4, load1=0.0, env={"OMP_NUM_THREADS": "lots"})
    assert (garbage.threads, garbage.source) == (4, AUTO)


def test_the_log_line_says_what_was_chosen_and_why():
    auto = choose_threads(AUTO, TORCH, cores=2, load1=13.2, env=NO_ENV).describe()
    assert auto.startswith("1 thread (auto for PyTorch: 2 usable cores, 1-minute load 13.2 leaves 0 free")
    assert "--threads N overrides" in auto
    assert choose_threads(AUTO, TORCH, cores=8, load1=0.0, processes=2, env=NO_ENV).describe().startswith(
        "4 threads (auto for PyTorch: 8 usable cores, 1-minute load 0.0 leaves 8 free, shared by 2 processes")
    assert choose_threads(2, TORCH, cores=2).describe() == "2 threads (--threads 2)"
    assert "OMP_NUM_THREADS=1" in choose_threads(None, TORCH, cores=2, env={"OMP_NUM_THREADS": "1"}).describe()
    inference = choose_threads(AUTO, INFERENCE, cores=4).describe()
    assert inference.startswith("4 threads (auto for ONNX Runtime/OpenVINO: every usable core of 4")


def test_parse_threads_takes_auto_or_a_positive_number():
    assert parse_threads("auto") == AUTO and parse_threads("AUTO") == AUTO and parse_threads(" 3 ") == 3
    for bad in ("0", "-1", "two", "1.5", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_threads(bad)
    with pytest.raises(ValueError, match="purpose"):
        choose_threads(1, "gpu")


# ----------------------------------------------------------------------------- cores: affinity and cgroup quota
def test_cgroup_quota_caps_the_usable_cores(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")  # limits.cpu: 1.5
    assert cgroup_cpu_limit(v2) == 1.5
    assert usable_cores(cgroup_root=v2) <= 2
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(v1) == 1.0
    assert usable_cores(cgroup_root=v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(v1) is None
    assert cgroup_cpu_limit(tmp_path / "none") is None
    assert usable_cores(cgroup_root=tmp_path / "none") >= 1


# ----------------------------------------------------------------------------- the flags
def _parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_train_run_and_serve_parse_threads():
    assert _parse("train", "pix2pix", "--data", "d", "--out", "o", "--threads", "auto").threads == AUTO
    assert _parse("train", "pix2pix", "--data", "d", "--out", "o", "--threads", "2").threads == 2
    assert _parse("train", "pix2pix", "--data", "d", "--out", "o").threads is None
    assert _parse("run", "-m", "m.onnx", "-i", "in", "-o", "out", "--threads", "1").threads == 1
    serve = _parse("serve", "--models", "m", "--threads", "3")
    assert serve.intra_op_threads == 3
    # the old spelling stays: deployment manifests pass --intra-op-threads=2
    assert _parse("serve", "--models", "m", "--intra-op-threads=2").intra_op_threads == 2
    assert _parse("serve", "--models", "m").intra_op_threads is None
    with pytest.raises(SystemExit):
        _parse("serve", "--models", "m", "--threads", "0")


def test_serve_logs_and_passes_the_choice(caplog):
    from serving.cli import _threads

    caplog.set_level(logging.INFO, logger="translate.threads")
    assert _threads(_parse("serve", "--models", "m", "--intra-op-threads", "2")) == 2
    assert "threads: 2 threads (--threads 2)" in caplog.text
    auto = _threads(_parse("serve", "--models", "m", "--compute-workers", "2"))
    assert auto == max(1, usable_cores() // 2)
    assert "auto for ONNX Runtime/OpenVINO" in caplog.text


def test_train_applies_and_logs_threads(tmp_path, caplog):
    from training.synthetic import make_paired

    data = make_paired(tmp_path / "data", n=4, size=136)
    caplog.set_level(logging.INFO, logger="translate.threads")
    before = torch.get_num_threads()
    try:
        rc = main(["train", "pix2pix", "--data", str(data), "--out", str(tmp_path / "run"), "--preset", "pix2pix-tiny",
                   "--device", "cpu", "--set", "max_steps=1", "--set", "tensorboard=false", "--threads", "2"])
        assert rc == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert "threads: 2 threads (--threads 2)" in caplog.text


def test_run_passes_threads_to_onnx_runtime_and_refuses_them_with_a_server(tmp_path, caplog, monkeypatch):
    from image_folders import make_folder
    from server_fixtures import make_repo

    from translate.processors import LocalTranslate

    repo = make_repo(tmp_path / "models")
    make_folder(tmp_path / "in")
    loaded = []
    original = LocalTranslate.load_model.__func__

    def spy(cls, *args, **kwargs):  # the session's own options, read before `run` closes it
        processor = original(cls, *args, **kwargs)
        loaded.append(processor.backend.session.get_session_options().intra_op_num_threads)
        return processor

    monkeypatch.setattr(LocalTranslate, "load_model", classmethod(spy))
    caplog.set_level(logging.INFO, logger="translate.threads")
    model = str(repo / "photo2art" / "1" / "model.onnx")
    main(["run", "-m", model, "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--threads", "1",
          "--no-progress"])
    assert loaded[0] == 1
    assert "threads: 1 thread (--threads 1)" in caplog.text
    main(["run", "-m", model, "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out2"), "--no-progress"])
    assert loaded[1] == usable_cores()
    assert "auto for ONNX Runtime/OpenVINO" in caplog.text
    rc = main(["run", "-m", "photo2art", "--server", "127.0.0.1:1", "-i", str(tmp_path / "in"), "-o",
               str(tmp_path / "out3"), "--threads", "1"])
    assert rc == 2
