"""Units of the server without gRPC: stub freshness, the dynamic batcher, token checks, CLI config."""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from serving.auth import TokenAuthInterceptor
from serving.batcher import DynamicBatcher
from serving.errors import CancelledError, DeadlineExpiredError, QueueFullError
from translate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def _gen_protos():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_stubs_are_current_and_staleness_is_detected(tmp_path, monkeypatch, capsys):
    gen = _gen_protos()
    assert gen.main(["--check"]) == 0, "run `python scripts/gen_protos.py` and commit serving/gen/"
    stale = tmp_path / "gen"
    shutil.copytree(ROOT / "serving" / "gen", stale)
    (stale / "translate_pb2.py").write_text((stale / "translate_pb2.py").read_text() + "# edited\n")
    monkeypatch.setattr(gen, "OUT_DIR", stale)
    assert gen.main(["--check"]) == 1
    assert "translate_pb2.py" in capsys.readouterr().err
    text = (ROOT / "serving" / "gen" / "translate_pb2_grpc.py").read_text()
    assert "from serving.gen import translate_pb2" in text and "from translate.v1" not in text


class Recorder:
    """A fake model: doubles its input and records the batch sizes it was called with."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.fail = fail

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(x.shape[0])
        if self.fail:
            raise RuntimeError("model exploded")
        return x * 2


def test_batcher_combines_up_to_max_batch_and_keeps_keys_apart():
    b = DynamicBatcher(max_batch=3, batch_timeout=0.3, max_queue=16)
    run = Recorder()
    try:
        xs = [np.full((1, 2), i, np.float32) for i in range(5)]
        tickets = [b.submit("k1", "m", run, (x,)) for x in xs]
        other = b.submit("k2", "m", run, (np.ones((1, 4), np.float32),))  # another shape: never mixed in
        outs = [t.result(5) for t in tickets]
        assert all(np.array_equal(o, x * 2) for o, x in zip(outs, xs))
        assert other.result(5).shape == (1, 4)
        assert sorted(run.calls) == [1, 2, 3]  # 5 requests of k1 -> 3 + 2, plus 1 for k2
    finally:
        b.close()


def test_batcher_errors_reach_every_caller_and_limits_hold():
    b = DynamicBatcher(max_batch=4, batch_timeout=0.2, max_queue=2)
    try:
        run = Recorder(fail=True)
        t1 = b.submit("k", "m", run, (np.zeros((1, 1), np.float32),))
        t2 = b.submit("k", "m", run, (np.zeros((1, 1), np.float32),))
        with pytest.raises(QueueFullError, match="2 requests waiting"):
            b.submit("k", "m", run, (np.zeros((1, 1), np.float32),))
        for t in (t1, t2):
            with pytest.raises(RuntimeError, match="model exploded"):
                t.result(5)
        late = b.submit("k", "m", Recorder(), (np.zeros((1, 1), np.float32),), deadline=time.monotonic() + 0.05)
        with pytest.raises(DeadlineExpiredError, match="not computed"):
            late.result(5)
    finally:
        b.close()


def test_a_cancel_after_the_deadline_counts_as_expiry():
    """gRPC cancels a call when its deadline passes, at the instant the scheduler would expire it."""
    b = DynamicBatcher(max_batch=4, batch_timeout=5.0)
    try:
        late = b.submit("k", "m", Recorder(), (np.zeros((1, 1), np.float32),), deadline=time.monotonic() + 0.05)
        early = b.submit("k", "m", Recorder(), (np.zeros((1, 1), np.float32),), deadline=time.monotonic() + 60)
        with b._cond:  # hold the scheduler off, so the cancel comes first (the lock is reentrant)
            time.sleep(0.1)
            assert late.cancel() and early.cancel()
        with pytest.raises(DeadlineExpiredError, match="not computed"):
            late.result(5)
        with pytest.raises(CancelledError, match="cancelled before it was computed"):
            early.result(5)
        assert b.expired == 1 and b.queued("m") == 0
    finally:
        b.close()


def test_batcher_max_batch_one_for_batch_statistics_models_and_close_drains():
    b = DynamicBatcher(max_batch=8, batch_timeout=0.05)
    run = Recorder()
    tickets = [b.submit("k", "m", run, (np.ones((1, 1), np.float32),), max_batch=1) for _ in range(3)]
    b.close(wait=True)  # queued work still runs
    assert run.calls == [1, 1, 1] and all(t.result(timeout=0) is not None for t in tickets)  # all done


def test_token_check_is_exact():
    auth = TokenAuthInterceptor(["a" * 20, "b" * 20])
    assert auth.authorized("Bearer " + "b" * 20) and auth.authorized("bearer " + "a" * 20)
    for bad in (None, "", "Bearer", "Bearer " + "a" * 19, "Basic " + "a" * 20, "Bearer " + "a" * 21):
        assert not auth.authorized(bad)


def test_serve_cli_rejects_bad_options(tmp_path):
    from translate.cli import main

    assert main(["serve", "--models", str(tmp_path / "missing")]) == 2
    assert main(["serve", "--models", str(tmp_path), "--tls-cert", "x.pem"]) == 2
    assert main(["serve", "--models", str(tmp_path), "--max-batch", "0"]) == 2


def test_server_config_validation():
    from serving.server import ServerConfig

    with pytest.raises(ConfigError, match="mutual TLS"):
        ServerConfig(models=".", tls_client_ca="ca.pem").validate()
    with pytest.raises(ConfigError, match="--reload"):
        ServerConfig(models=".", reload="inotify").validate()


def test_many_threads_one_batcher_all_correct():
    b = DynamicBatcher(max_batch=8, batch_timeout=0.01, max_queue=64, workers=2)
    run = Recorder()
    results = {}

    def worker(i):
        results[i] = b.submit(("k", i % 3), "m", run, (np.full((1, 3), i, np.float32),)).result()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    b.close()
    assert all(np.array_equal(results[i], np.full((1, 3), 2 * i, np.float32)) for i in range(32))


def test_repository_falls_back_to_an_older_version_and_reports_the_broken_one(tmp_path):
    from server_fixtures import tiny_translator

    from serving.repository import ModelRepository

    tiny_translator(tmp_path / "m" / "1" / "model.onnx")
    (tmp_path / "m" / "2").mkdir()
    (tmp_path / "m" / "2" / "model.onnx").write_bytes(b"half-copied")
    changes = []
    repo = ModelRepository(tmp_path, on_change=lambda name, ok: changes.append((name, ok)))
    repo.poll()
    rec = repo.record("m")
    assert rec.state == "READY" and rec.current.version == 1 and changes == [("m", True)]
    assert rec.error.startswith("version 2 failed to load from m/2/model.onnx")
    repo.poll()  # the same broken file is not retried on every scan
    assert changes == [("m", True)]
    tiny_translator(tmp_path / "m" / "2" / "model.onnx", seed=3)  # fixed: picked up on the next scan
    repo.poll()
    assert rec.current.version == 2 and rec.error == ""
    repo.close()
