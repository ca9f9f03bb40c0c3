"""A real ``incentives serve`` (uvicorn) on a free port of 127.0.0.1, for the tests that speak HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from conftest import ROOT, RULES

EXAMPLES = ROOT / "examples" / "enterprises"


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@contextmanager
def running(*options: str, rules: Path = RULES) -> Iterator[Server]:
    """``incentives serve --port 0`` in a child process, stopped at the end; its stderr is kept in ``log``."""
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        process = subprocess.Popen([sys.executable, "-m", "incentives", "serve", "--port", "0", "--rules", str(rules),
                                    *options], stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"http://[0-9.]+:\d+", first)
        assert found, f"the server did not start: {first}{Path(log.name).read_text()}"
        server = Server(found.group(0), process, Path(log.name))
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(server.url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        Path(log.name).unlink(missing_ok=True)


def facts_json(path: Path) -> str:
    """A fact file (YAML) as the JSON body of a request."""
    import json

    return json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), ensure_ascii=False, default=str)
