"""Run every fuzz target under atheris for a set time and print what each did.

``python fuzz/run.py [--seconds N] [--targets a,b] [--out DIR]``: each target runs in its own
process for N seconds (``FUZZ_SECONDS``, 600 by default), starting from the shipped rule files,
fact files and register lines; a call that takes more than 5 seconds is a crash, as is any exception
other than the library's error root. Crashing inputs are kept under ``DIR/<target>/`` to replay.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import TARGETS, seeds  # noqa: E402


def run(target: str, seconds: int, out: Path) -> tuple[int, int, float]:
    """(iterations, crashes, seconds) of one target; libFuzzer goes on after a crash (-fork mode off:
    each crash ends the process, so the target is started again until its time is spent)."""
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-"))
    for n, seed in enumerate(seeds(target)):
        (corpus / f"seed-{n}").write_bytes(seed)
    crashes_dir = out / target
    crashes_dir.mkdir(parents=True, exist_ok=True)
    iterations = crashes = 0
    started = time.monotonic()
    while (left := seconds - (time.monotonic() - started)) > 1:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("targets.py")), target, f"-max_total_time={int(left)}",
             "-timeout=5", "-rss_limit_mb=4096", "-max_len=8192", f"-artifact_prefix={crashes_dir}/", str(corpus)],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        found = re.findall(r"Done (\d+) runs", done.stderr) or re.findall(r"#(\d+)\s", done.stderr)[-1:]
        iterations += int(found[-1]) if found else 0
        if done.returncode != 0:
            crashes += 1
            (crashes_dir / f"log-{crashes}.txt").write_text(done.stderr[-20000:], encoding="utf-8")
    return iterations, crashes, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "600")))
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--out", default="out/fuzz")
    args = parser.parse_args()
    rows = []
    for target in args.targets.split(","):
        iterations, crashes, spent = run(target, args.seconds, Path(args.out))
        rows.append((target, iterations, crashes, spent))
        print(f"{target:10} {iterations:>12,} iterations {crashes:>3} crash(es) {spent:8.0f} s", flush=True)
    total = sum(r[1] for r in rows)
    print(f"{'total':10} {total:>12,} iterations {sum(r[2] for r in rows):>3} crash(es) "
          f"{sum(r[3] for r in rows):8.0f} s (on {os.cpu_count()} shared cores)")
    return 1 if any(r[2] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
