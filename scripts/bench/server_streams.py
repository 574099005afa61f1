#!/usr/bin/env python
"""Idle streams vs. health and unary calls: how a server holds up when clients open streams and wait.

For each server variant, interleaved over ``--rounds`` rounds: start a real server process on a
tiny translator, open ``--streams`` idle ``TranslateStream`` calls from a separate process (grpc.aio
client, spread over 10 connections; a stream counts as admitted once the server's handler has sent
its initial metadata), then measure from this process

- health: ``--health-calls`` sequential ``grpc.health.v1`` Check calls (2 s deadline; a timeout
  counts as 2 s; when the first 5 all time out, the rest are counted as timed out too):
  p50 / p99 / max latency and failures;
- the server process's resident memory and thread count with the streams open;
- unary: ``--clients`` closed-loop clients (one channel each) sending a 64x64 PNG to ``Translate``
  for ``--seconds`` seconds: completed calls per second and failures.

Variants are ``NAME=CHECKOUT[:KEY=VALUE,...]``: the server code of CHECKOUT (a source tree; the
installed editable package is bypassed for it) with ServerConfig overrides, e.g.
``sync64=/tmp/base`` (thread-per-RPC server as on the base commit), ``sync600=/tmp/base:rpc_threads=600``,
``aio=.:max_streams_per_client=1000``. Results go to ``bench/results/server_streams-<utc>.json``.

    python scripts/bench/server_streams.py --variant sync64=/tmp/base --variant aio=. [--streams 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from common import percentile, print_table, write_result  # noqa: E402

# Runs in the server process: import the server from CHECKOUT, not from the installed package.
SERVER_CODE = r"""
import json, sys
sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
sys.path.insert(0, sys.argv[1])
from serving.server import InferenceServer, ServerConfig
config = ServerConfig(models=sys.argv[2], port=0, intra_op_threads=1, reload="off", grace=1.0)
for key, value in json.loads(sys.argv[3]).items():
    if hasattr(config, key):
        setattr(config, key, type(getattr(config, key))(value) if getattr(config, key) is not None else value)
server = InferenceServer(config)
port = server.start()
import serving.server
print(json.dumps({"port": port, "code": serving.server.__file__}), flush=True)
sys.stdin.readline()
server.drain(1.0)
"""

# Runs in the stream-holder process: open N idle TranslateStream calls and keep them open.
HOLDER_CODE = r"""
import asyncio, json, sys
import grpc
sys.path.insert(0, sys.argv[1])
from serving.gen import translate_pb2_grpc as pb_grpc

async def main(address, n):
    channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(10)]
    calls = [pb_grpc.TranslateServiceStub(channels[i % 10]).TranslateStream() for i in range(n)]
    async def admitted(call):
        try:
            await asyncio.wait_for(call.initial_metadata(), 15)
            return True
        except Exception:
            return False
    ok = await asyncio.gather(*(admitted(c) for c in calls))
    print(json.dumps({"opened": n, "admitted": sum(ok)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for c in calls:
        c.cancel()
    for ch in channels:
        await ch.close()

asyncio.run(main(sys.argv[2], int(sys.argv[3])))
"""


def parse_variant(text: str) -> tuple[str, str, dict]:
    name, _, rest = text.partition("=")
    checkout, _, opts = rest.partition(":")
    overrides = dict(kv.split("=", 1) for kv in opts.split(",") if kv)
    return name, str(Path(checkout).resolve()), {k: int(v) if v.isdigit() else v for k, v in overrides.items()}


def measure_health(address: str, calls: int) -> dict:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    lat, failed = [], 0
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for i in range(calls):
            t = time.perf_counter()
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=2.0)
                lat.append(time.perf_counter() - t)
            except grpc.RpcError:
                failed += 1
                lat.append(2.0)
                if failed >= 5 and failed == i + 1:  # starved from the start: the rest would time out too
                    failed = calls
                    lat += [2.0] * (calls - i - 1)
                    break
    return {"p50_ms": 1000 * percentile(lat, 50), "p99_ms": 1000 * percentile(lat, 99), "max_ms": 1000 * max(lat),
            "failed": failed}


def measure_unary(address: str, clients: int, seconds: float, image: bytes) -> dict:
    import grpc

    from serving.gen import translate_pb2 as pb
    from serving.gen import translate_pb2_grpc as pb_grpc

    done, failed, lat = [0] * clients, [0] * clients, [[] for _ in range(clients)]
    stop = time.monotonic() + seconds

    def work(i):
        with grpc.insecure_channel(address) as ch:
            stub = pb_grpc.TranslateServiceStub(ch)
            req = pb.TranslateRequest(model="m", image=image)
            while time.monotonic() < stop:
                t = time.perf_counter()
                try:
                    stub.Translate(req, timeout=5.0)
                    done[i] += 1
                    lat[i].append(time.perf_counter() - t)
                except grpc.RpcError:
                    failed[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    all_lat = [x for xs in lat for x in xs] or [float("nan")]
    return {"calls_per_s": sum(done) / elapsed, "p50_ms": 1000 * percentile(all_lat, 50),
            "p99_ms": 1000 * percentile(all_lat, 99), "failed": sum(failed)}


def process_stats(pid: int) -> dict:
    """Resident memory (MiB) and thread count of a process, from /proc (Linux)."""
    stats = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                stats["rss_mib"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith("Threads:"):
                stats["threads"] = int(line.split()[1])
    except OSError:
        pass
    return stats


def run_variant(name, checkout, overrides, repo, args, image) -> dict:
    server = subprocess.Popen([sys.executable, "-c", SERVER_CODE, checkout, str(repo), json.dumps(overrides)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(server.stdout.readline())
        address = f"127.0.0.1:{ready['port']}"
        row = {"variant": name, "code": ready["code"], **{f"cfg_{k}": v for k, v in overrides.items()}}
        row["idle_health"] = measure_health(address, args.health_calls)
        holder = subprocess.Popen([sys.executable, "-c", HOLDER_CODE, str(ROOT), address, str(args.streams)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            row["streams"] = json.loads(holder.stdout.readline())
            row["server_process"] = process_stats(server.pid)
            row["health"] = measure_health(address, args.health_calls)
            row["unary"] = measure_unary(address, args.clients, args.seconds, image)
        finally:
            holder.stdin.write("\n")
            holder.stdin.flush()
            holder.wait(30)
        row["unary_no_streams"] = measure_unary(address, args.clients, args.seconds, image)
        return row
    finally:
        server.stdin.write("\n")
        server.stdin.flush()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", required=True, help="NAME=CHECKOUT[:KEY=VALUE,...]")
    ap.add_argument("--streams", type=int, default=500)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--health-calls", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=64, help="side of the PNG sent to Translate (default 64)")
    args = ap.parse_args()
    from server_fixtures import png_bytes, tiny_translator

    variants = [parse_variant(v) for v in args.variant]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "models"
        tiny_translator(repo / "m" / "1" / "model.onnx")
        image = png_bytes(args.image_size, args.image_size, seed=1)
        for r in range(args.rounds):
            for name, checkout, overrides in variants:
                row = run_variant(name, checkout, overrides, repo, args, image)
                row["round"] = r
                row["load_1min"] = os.getloadavg()[0]
                rows.append(row)
                print(json.dumps(row), flush=True)
    table = [{"variant": r["variant"], "round": r["round"],
              "streams admitted": f"{r['streams']['admitted']}/{r['streams']['opened']}",
              "health p99 ms, no streams": round(r["idle_health"]["p99_ms"], 1),
              "health p50 ms": round(r["health"]["p50_ms"], 1), "health p99 ms": round(r["health"]["p99_ms"], 1),
              "health failed": r["health"]["failed"],
              "Translate/s": round(r["unary"]["calls_per_s"], 1), "Translate failed": r["unary"]["failed"],
              "Translate/s, no streams": round(r["unary_no_streams"]["calls_per_s"], 1),
              "server RSS MiB": r["server_process"].get("rss_mib"),
              "server threads": r["server_process"].get("threads"),
              "load": round(r["load_1min"], 1)} for r in rows]
    print_table(table, list(table[0]))
    write_result("server_streams", {"args": vars(args), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
