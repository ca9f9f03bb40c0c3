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
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def one_client(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < deadline:
                body = bodies[i % len(bodies)]
                i += 1
                start = time.perf_counter()
                try:
                    r = await client.post("/v1/assess", params={"as_of": AS_OF.isoformat()}, content=body,
                                          headers={"content-type": "application/json"})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(one_client(n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return int(len(latencies) / elapsed), latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    paths = sorted((ROOT / "examples" / "enterprises").glob("*.yaml"))
    bodies = [json.dumps(yaml.safe_load(p.read_text("utf-8")), ensure_ascii=False, default=str).encode()
              for p in paths]
    print(f"## HTTP /v1/assess under load ({os.cpu_count()} cores shared by server and clients, "
          f"{args.clients} clients, {args.seconds:g} s, {len(paths)} example enterprises in turn)")
    rate, p50, p99 = in_process(paths, min(args.seconds, 3))
    print(f"{'in-process assess + JSON (one thread)':44} {rate:8.0f} /s   p50 {p50 * 1e3:6.2f} ms   p99 {p99 * 1e3:6.2f} ms")
    server = subprocess.Popen([sys.executable, "-m", "incentives", "serve", "--port", "0", "--rules",
                               str(ROOT / "rules")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
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
        served, latencies, errors = asyncio.run(load(url, bodies, args.clients, args.seconds))
        print(f"{'HTTP, ' + str(args.clients) + ' concurrent clients':44} {served:8d} /s   "
              f"p50 {pct(latencies, 50) * 1e3:6.2f} ms   p99 {pct(latencies, 99) * 1e3:6.2f} ms   "
              f"errors {errors} of {len(latencies)}")
        print(f"{'ratio p50 HTTP / in-process':44} {pct(latencies, 50) / p50:8.1f}×")
    finally:
        server.terminate()
        server.wait(10)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
