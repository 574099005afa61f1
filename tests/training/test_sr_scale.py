"""Super-resolution data made at another scale than the run's is caught by the check, not by a stack error."""

from __future__ import annotations

from training.synthetic import make_sr
from translate.cli import main


def test_x4_pairs_for_an_x2_run_are_refused_with_the_measured_scale(tmp_path, capsys):
    # the reproduction: srgan-tiny (x2) on HR/LR folders made at x4
    src = make_sr(tmp_path / "photos", n=3, size=128)
    data = tmp_path / "sr"
    assert main(["data", "downscale", str(src), str(data), "--scale", "4", "--no-progress"]) == 0
    capsys.readouterr()

    # without --scale the check uses the method's default scale and says so, with what it measured
    assert main(["data", "check", str(data), "--method", "srgan"]) == 0
    out = capsys.readouterr().out
    assert "HR/LR pairs measured at x4 (3 pairs)" in out
    assert "checked against scale x4, the srgan default; pass --scale N" in out
    assert main(["data", "check", str(data), "--method", "srgan", "--scale", "2"]) == 1
    assert "every LR image is 1/4 of its HR image (x4, all 3 pairs), but the scale is 2" in capsys.readouterr().out

    run = tmp_path / "run"
    train = ["train", "srgan", "--data", str(data), "--out", str(run), "--preset", "srgan-tiny", "--device", "cpu",
             "--set", "tensorboard=false", "--set", "srresnet_steps=2", "--set", "gan_steps=0",
             "--set", "batch_size=2"]
    assert main(train) == 1  # the pre-check refuses it before any step
    err = capsys.readouterr().err
    assert "but the scale is 2" in err and "--set scale=4" in err and "stack expects" not in err
    assert not (run / "checkpoints").exists()
    # --skip-bad leaves out single files; it cannot make a whole set fit another scale
    assert main([*train, "--skip-bad"]) == 1
    assert "--skip-bad only leaves out single files" in capsys.readouterr().err
    # the fix the message names works
    assert main([*train, "--set", "scale=4", "--set", "netG_kwargs.num_blocks=1"]) == 0
