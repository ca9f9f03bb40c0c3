"""HTTP load: concurrent clients against a running ``incentives serve``, beside in-process ``assess``.

    make bench                                              # with the other figures
    .venv/bin/python benchmarks/serve.py --clients 50 --seconds 10

Starts the server on a free port of 127.0.0.1, then for a fixed time keeps ``--clients`` requests in
flight (each client posts the example enterprises in turn to ``/v1/assess``) and prints requests/s,
p50 and p99 latency and errors, beside the same enterprises assessed in this process (the baseline:
what HTTP, JSON and the event loop add). The clients run in this process on the same machine, so they
take CPU from the server. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from incentives import assess, load_enterprise, load_rulebook

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 6, 30)


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else samples[0]


def in_process(paths: list[Path], seconds: float) -> tuple[float, float, float]:
    book = load_rulebook(ROOT / "rules")
    enterprises = [load_enterprise(p, book.vocabulary) for p in paths]
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for enterprise in enterprises:
            start = time.perf_counter()
            assess(enterprise, book, AS_OF).model_dump_json()
            samples.append(time.perf_counter() - start)
    return len(samples) / sum(samples), pct(samples, 50), pct(samples, 99)


async def load(url: str, bodies: list[bytes], clients: int, seconds: float) -> tuple[int, list[float], int]:
    """``clients`` keep-alive connections, each posting the bodies in turn until the time is up.

    A minimal HTTP/1.1 client on asyncio streams (the requests prepared once, the answer read by its
    Content-Length): a general-purpose client costs more CPU per request than the server, and on a
    machine the clients share, the figures would measure the client."""
    host, port = url.removeprefix("http://").split(":")
    requests = [(f"POST /v1/assess?as_of={AS_OF.isoformat()} HTTP/1.1\r\nHost: {host}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
                for body in bodies]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one_client(n: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        i = n
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                writer.write(requests[i % len(requests)])
                i += 1
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                errors += not head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client(n) for n in range(clients)))
    return int(len(latencies) / (time.perf_counter() - started)), latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=lambda t: [int(n) for n in t.split(",")], default=[1, 2],
                        help="server processes to measure, e.g. 1,2 (default)")
    args = parser.parse_args()
    paths = sorted((ROOT / "examples" / "enterprises").glob("*.yaml"))
    bodies = [json.dumps(yaml.safe_load(p.read_text("utf-8")), ensure_ascii=False, default=str).encode()
              for p in paths]
    print(f"## HTTP /v1/assess under load ({os.cpu_count()} cores shared by server and clients, "
          f"{args.clients} clients, {args.seconds:g} s, {len(paths)} example enterprises in turn)")
    rate, p50, p99 = in_process(paths, min(args.seconds, 3))
    print(f"{'in-process assess + JSON (one thread)':44} {rate:8.0f} /s   p50 {p50 * 1e3:6.2f} ms   p99 {p99 * 1e3:6.2f} ms")
    for workers in args.workers:
        http(bodies, p50, args.clients, args.seconds, workers)
    print()
    return 0


def http(bodies: list[bytes], p50: float, clients: int, seconds: float, workers: int) -> None:
    server = subprocess.Popen([sys.executable, "-m", "incentives", "serve", "--port", "0", "--workers", str(workers),
                               "--rules", str(ROOT / "rules")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert server.stdout is not None
        found = re.search(r"http://[0-9.]+:\d+", server.stdout.readline())
        assert found, "the server did not start"
        url = found.group(0)
        for _ in range(200):
            try:
                httpx.get(url + "/v1/health")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        asyncio.run(load(url, bodies, 4, 1.0))   # warm up
        served, latencies, errors = asyncio.run(load(url, bodies, clients, seconds))
        label = f"HTTP, {clients} clients, {workers} worker(s)"
        print(f"{label:44} {served:8d} /s   p50 {pct(latencies, 50) * 1e3:6.2f} ms   "
              f"p99 {pct(latencies, 99) * 1e3:6.2f} ms   errors {errors} of {len(latencies)}   "
              f"p50 {pct(latencies, 50) / p50:.1f}× in-process")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
