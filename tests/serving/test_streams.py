"""Long-lived streams cannot starve the server: hundreds of idle streams, stream bounds, idle timeout, drain.

Clients are real: ``grpc.aio`` channels in a thread of their own open the streams (a stream counts as
open once the server's handler has sent its initial metadata), while ordinary blocking clients
measure health and Translate next to them.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import grpc
import pytest
from server_fixtures import png_bytes, start_server, wait_until

from serving.client import TranslateClient
from serving.gen import grpc_service_pb2 as kserve_pb
from serving.gen import grpc_service_pb2_grpc as kserve_grpc
from serving.gen import translate_pb2 as pb
from serving.gen import translate_pb2_grpc as pb_grpc
from serving.streams import client_identity

TOKEN_A, TOKEN_B = "token-a-0123456789abcdef", "token-b-0123456789abcdef"


class IdleStreams:
    """Streams opened by grpc.aio clients on their own event loop thread; they send nothing until closed."""

    def __init__(self, address: str, *, translate: int = 0, kserve: int = 0, token: str | None = None,
                 connections: int = 10) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        metadata = (("authorization", f"Bearer {token}"),) if token else None

        async def open_all():
            self.channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                             for _ in range(connections)]
            calls = []
            for i in range(translate + kserve):
                ch = self.channels[i % connections]
                stub = (pb_grpc.TranslateServiceStub(ch).TranslateStream if i < translate
                        else kserve_grpc.GRPCInferenceServiceStub(ch).ModelStreamInfer)
                calls.append(stub(metadata=metadata))
            return calls

        self.calls = self._run(open_all())

    def _run(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def admitted(self, timeout: float = 60.0) -> int:
        """How many streams the server's handlers accepted (initial metadata received) within ``timeout``."""

        async def one(call):
            try:
                await asyncio.wait_for(call.initial_metadata(), timeout)
                return not call.done()
            except Exception:
                return False

        async def count():
            return sum(await asyncio.gather(*(one(c) for c in self.calls)))

        return self._run(count())

    def statuses(self, timeout: float = 30.0) -> list[tuple[grpc.StatusCode, str]]:
        """(code, details) of every stream once the server has ended it."""

        async def one(call):
            return await asyncio.wait_for(call.code(), timeout), await call.details()

        async def all_():
            return await asyncio.gather(*(one(c) for c in self.calls))

        return self._run(all_())

    def close(self) -> None:
        async def close_all():
            for c in self.calls:
                c.cancel()
            for ch in self.channels:
                await ch.close()

        self._run(close_all(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


_wait = functools.partial(wait_until, timeout=30.0)  # this file's default


def test_500_idle_streams_leave_health_and_translate_answering_within_a_second(one_model):
    """Issue 13.4: about 70 idle streams used to take all 64 RPC threads; health and Translate then timed out."""
    rs = start_server(one_model, max_streams=600, max_streams_per_client=600)  # all clients share 127.0.0.1
    streams = IdleStreams(rs.address, translate=250, kserve=250)
    try:
        assert streams.admitted() == 500
        assert rs.server.streams.open_streams() == 500
        data = png_bytes(16, 16, seed=3)
        with TranslateClient(rs.address, retries=0) as client:
            for _ in range(3):
                start = time.monotonic()
                assert client.health(timeout=1.0) == "SERVING"
                out = client.translate(data, "m", timeout=1.0)
                assert out.width == 16 and time.monotonic() - start < 2.0  # each call well within its 1 s deadline
    finally:
        streams.close()
        rs.server.drain(1)


def _refused(rs, token=None) -> tuple[grpc.StatusCode, str]:
    """Open one more stream and return how the server ended it."""
    extra = IdleStreams(rs.address, translate=1, token=token, connections=1)
    try:
        [(code, details)] = extra.statuses()
        return code, details
    finally:
        extra.close()


def test_streams_are_bounded_per_client_and_per_server_with_the_flag_named(one_model, tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{TOKEN_A}\n{TOKEN_B}\n")
    rs = start_server(one_model, auth_tokens=str(tokens), max_streams=3, max_streams_per_client=2)
    a = IdleStreams(rs.address, translate=1, kserve=1, token=TOKEN_A)
    b = None
    try:
        assert a.admitted() == 2
        code, details = _refused(rs, TOKEN_A)  # a third stream of the same token
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "--max-streams-per-client 2" in details, details
        b = IdleStreams(rs.address, translate=1, token=TOKEN_B)  # another client: its own budget
        assert b.admitted() == 1
        code, details = _refused(rs, TOKEN_B)  # the server's 4th stream
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "--max-streams 3" in details, details
        with TranslateClient(rs.address, token=TOKEN_B, retries=0) as client:  # unary calls are not counted
            assert client.health(timeout=5) == "SERVING" and client.translate(png_bytes(), "m").width == 24
        a.close()
        a = None
        _wait(lambda: rs.server.streams.open_streams() == 1, what="client A's streams to be released")
        a = IdleStreams(rs.address, translate=2, token=TOKEN_A)
        assert a.admitted() == 2
    finally:
        for s in (a, b):
            if s is not None:
                s.close()
        rs.server.drain(1)


def test_without_tokens_a_client_is_its_address(one_model):
    assert client_identity("ipv4:10.0.0.7:51234") == client_identity("ipv4:10.0.0.7:40000") == "ipv4:10.0.0.7"
    assert client_identity("ipv6:[::1]:51234") == "ipv6:[::1]"
    assert client_identity("ipv4:10.0.0.7:1", "tok") != client_identity("ipv4:10.0.0.7:1", "other")
    rs = start_server(one_model, max_streams_per_client=2)
    held = IdleStreams(rs.address, translate=2, connections=2)  # two connections, same address
    try:
        assert held.admitted() == 2
        code, details = _refused(rs)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "--max-streams-per-client" in details
    finally:
        held.close()
        rs.server.drain(1)


def _pausing(requests, pause: threading.Event):
    """Yield ``requests``, then send nothing until ``pause`` is set."""
    yield from requests
    pause.wait(60)


def test_a_stream_idle_past_the_timeout_is_closed_and_a_busy_one_is_not(one_model):
    rs = start_server(one_model, stream_idle_timeout=2.0)
    release = threading.Event()
    try:
        with grpc.insecure_channel(rs.address) as ch:
            stub = pb_grpc.TranslateServiceStub(ch)
            req = pb.TranslateRequest(model="m", image=png_bytes(8, 8))

            def steady():  # a request every 0.25 s for 3 s: longer than the timeout, never idle for long
                for i in range(12):
                    yield pb.TranslateRequest(id=str(i), model="m", image=png_bytes(8, 8, seed=i))
                    time.sleep(0.25)

            answers = list(stub.TranslateStream(steady(), timeout=60))
            assert [a.id for a in answers] == [str(i) for i in range(12)]

            start = time.monotonic()
            idle = stub.TranslateStream(_pausing([req], release), timeout=60)
            assert next(idle).width == 8  # answered, then the client goes quiet
            with pytest.raises(grpc.RpcError) as info:
                next(idle)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "--stream-idle-timeout" in info.value.details()
            assert 1.5 < time.monotonic() - start < 30

            kserve = kserve_grpc.GRPCInferenceServiceStub(ch).ModelStreamInfer(
                _pausing([kserve_pb.ModelInferRequest(model_name="m")], release), timeout=60)
            assert "needs input 'input'" in next(kserve).error_message  # a bad item is answered, the stream stays
            with pytest.raises(grpc.RpcError) as info:
                next(kserve)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        _wait(lambda: rs.server.streams.open_streams() == 0, what="the closed streams to be released")
    finally:
        release.set()
        rs.server.drain(1)


def test_drain_ends_idle_streams_at_once_instead_of_waiting_the_grace(one_model):
    rs = start_server(one_model, grace=60.0)
    streams = IdleStreams(rs.address, translate=10, kserve=10)
    try:
        assert streams.admitted() == 20
        start = time.monotonic()
        rs.server.drain()  # 60 s of grace for calls in flight; idle streams are not in flight
        assert time.monotonic() - start < 20
        codes = streams.statuses()
        assert {code for code, _ in codes} == {grpc.StatusCode.UNAVAILABLE}
        assert all("shutting down" in details for _, details in codes)
    finally:
        streams.close()
        rs.server.drain(1)
