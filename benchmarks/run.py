"""Speed and memory of incentives, each figure against a baseline measured in the same run.

    make bench                                   # all figures, populations of 10k, 100k and 1M
    make bench BENCH_ARGS="--sizes 50000 --columnar-sizes '' --spark-sizes ''"   # the batch figures only
    make bench BENCH_ARGS="--baseline ../main/src --sizes 100000"   # batch against another checkout
    .venv/bin/python benchmarks/run.py --sizes 10000,100000

Baselines: the awards of a CSV register written by hand in polars for the columnar batch, of Langfang
(polars_langfang.py) and of all three cities (polars_cities.py); for the per-enterprise batch, the
package as it was before its reader recovered from bad rows and accounted for every row (commit
``PRE_HARDENING``, checked out from this repository's
history into a temporary folder; ``--baseline`` names another checkout's ``src/``, ``--baseline-rev
''`` leaves it out); a hand-written function computing the same awards directly (handwritten.py) for
the engine in memory; for memory the smallest population. Nothing here asserts a time: it prints
figures and ratios, each measured in the same run as its baseline.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from handwritten import langfang_awards, langfang_total  # noqa: E402

from incentives import Enterprise, assess, load_enterprise, load_rulebook  # noqa: E402
from incentives.engine import award_rows  # noqa: E402

AS_OF = dt.date(2026, 6, 30)
EXAMPLES = {"langfang": "xianghe-leader", "cangzhou": "cangzhou-botou-casting",
            "shijiazhuang": "shijiazhuang-luquan-electronics"}


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] if len(samples) > 1 else samples[0]


def single(book: Any) -> None:
    print("## Single assessment, warm (µs)")
    print(f"{'enterprise':40} {'engine':8} {'p50':>8} {'p95':>8}  ratio p50 / hand-written")
    langfang = load_enterprise(ROOT / "examples/enterprises" / f"{EXAMPLES['langfang']}.yaml", book.vocabulary)
    for _ in range(200):
        langfang_total(langfang, AS_OF)
    base = timed(lambda: langfang_total(langfang, AS_OF), 3000)
    print(f"{'hand-written (langfang, same enterprise)':40} {'-':8} {pct(base, 50) * 1e6:8.1f} {pct(base, 95) * 1e6:8.1f}")
    for city, name in EXAMPLES.items():
        ent = load_enterprise(ROOT / "examples/enterprises" / f"{name}.yaml", book.vocabulary)
        for engine in ("native", "durable"):
            for _ in range(200):
                assess(ent, book, AS_OF, engine=engine)  # type: ignore[arg-type]
            samples = timed(lambda: assess(ent, book, AS_OF, engine=engine), 2000)  # type: ignore[arg-type]
            print(f"{name:40} {engine:8} {pct(samples, 50) * 1e6:8.1f} {pct(samples, 95) * 1e6:8.1f}"
                  f"  {pct(samples, 50) / pct(base, 50):6.1f}×")
    print()


def population(book: Any, n: int, city: str = "langfang") -> list[Enterprise]:
    from incentives.synth import synthesize

    return [Enterprise.model_validate(item) for item in synthesize(city, n, seed=2026, rulebook=book, as_of=AS_OF)]


def rate(fn: Callable[[Any], Any], sample: list[Any], repeat: int) -> float:
    """Enterprises per second, best of ``repeat`` passes (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for e in sample:
            fn(e)
        best = min(best, time.perf_counter() - start)
    return len(sample) / best


def throughput(book: Any, n: int) -> float:
    repeat = 5 if n <= 20_000 else 3
    print(f"## Engine throughput on {n:,} synthetic Langfang enterprises in memory (one core, best of {repeat})")
    ents = population(book, n)
    engine = [sorted((r.rule_id, r.record_id, r.amount, r.payers.get("city"), r.payers.get("county"))
                     for r in award_rows(e, book, AS_OF)) for e in ents]
    hand = [sorted(langfang_awards(e, AS_OF)) for e in ents]
    same = sum(a == b for a, b in zip(engine, hand))
    print(f"awards (rule, record, amount, city, county) equal to the hand-written function's: {same:,}/{n:,}")
    with_records = [e for e in ents if e.records]
    print(f"{len(with_records):,} of them have records; the others show what an empty enterprise costs")
    print(f"{'':30} {'all enterprises':>32}  {'those with records':>34}")
    rates = {}
    for label, fn in (("hand-written awards", lambda e: langfang_awards(e, AS_OF)),
                      ("award_rows (population path)", lambda e: award_rows(e, book, AS_OF, terms_checked=True)),
                      ("native, explain=False", lambda e: assess(e, book, AS_OF, explain=False)),
                      ("native, explain=True", lambda e: assess(e, book, AS_OF)),
                      ("durable, explain=False", lambda e: assess(e, book, AS_OF, engine="durable", explain=False))):
        cap = n if "durable" not in label else min(n, 20_000)
        passes = repeat if "explain=True" not in label else 2 if n <= 20_000 else 1
        rates[label] = (rate(fn, ents[:cap], passes), rate(fn, with_records[:cap], passes))
    hand_all, hand_records = rates["hand-written awards"]
    for label, (everyone, recorded) in rates.items():
        print(f"{label:30} {everyone:12,.0f}/s {hand_all / everyone:6.2f}× hand-written  "
              f"{recorded:12,.0f}/s {hand_records / recorded:6.2f}× hand-written")
    print()
    return rates["native, explain=False"][0]


def models(book: Any, n: int) -> None:
    """Facts read and judged with the models generated from rules/facts.yaml against the hand-written
    models they replaced (kept as the test oracle), on the same register: the ratio is the cost of
    one source of truth on the population path."""
    sys.path.insert(0, str(ROOT / "tests"))
    import oracle_facts
    from incentives.synth import synthesize

    repeat = 5
    known = oracle_facts.RECORD_MODELS   # fields added since the migration are left out, for both models
    items = [{"enterprise": item["enterprise"],
              "records": [{k: v for k, v in r.items() if k in known[r["kind"]].model_fields}
                          for r in item["records"] if r["kind"] in known]}
             for city in ("langfang", "cangzhou", "shijiazhuang")
             for item in synthesize(city, n // 3, seed=2026, rulebook=book, as_of=AS_OF)]
    print(f"## Facts models on {len(items):,} synthetic enterprises of the three cities "
          f"(validate + award_rows, one core, best of {repeat})")
    rates = {}
    for label, model in (("hand-written models (before)", oracle_facts.Enterprise),
                         ("generated from facts.yaml", Enterprise)):
        def run(item: Any, model: Any = model) -> Any:
            return award_rows(model.model_validate(item), book, AS_OF, terms_checked=True)
        rates[label] = rate(run, items, repeat)
    before = rates["hand-written models (before)"]
    for label, per_second in rates.items():
        print(f"{label:30} {per_second:12,.0f}/s {before / per_second:6.2f}× hand-written models")


def timed_process(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds (process start included), peak RSS in MiB and CPU seconds (user + system, every
    thread) of one fresh process. On a shared machine the CPU seconds are the steadier measure."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, *argv], check=True, cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return seconds, found["peak_kib"] / 1024, found["cpu"]


# Runs argv (a python program and its arguments) in a child and prints the child's peak RSS.
_PEAK = ("import json, resource, subprocess, sys\n"
         "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
         "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
         "print(json.dumps({'peak_kib': r.ru_maxrss, 'cpu': r.ru_utime + r.ru_stime}))\n")


def synth_register(n: int, city: str, out: Path, fmt: str = "csv") -> Path:
    subprocess.run([sys.executable, "-m", "incentives.cli", "synth", "--city", city, "--n", str(n), "--seed", "7",
                    "--as-of", str(AS_OF), "-o", str(out), "--format", fmt], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return out / f"enterprises.{fmt}"


AWARD_KEYS = ("credit_code", "rule_id", "record_id", "amount", "payer_city", "payer_county")
# what polars_cities.py writes besides: the awards of all three cities include ceilings (up_to), benefits with no
# sum (unquantified, non_monetary) and rules whose payers are unspecified; no rule names the province
CITIES_KEYS = (*AWARD_KEYS, "status", "amount_max", "payer_province", "payers_unspecified")


def award_keys(path: Path, columns: tuple[str, ...] = AWARD_KEYS) -> Any:
    import polars as pl

    return pl.read_csv(path, infer_schema=False).select(columns).sort(pl.all())


def disagreement(batch: Any, hand: Any) -> str:
    """Which rules have rows that only one of the two award tables holds, and how many."""
    parts = []
    for where, rows in (("batch", batch.join(hand, on=batch.columns, how="anti", nulls_equal=True)),
                        ("baseline", hand.join(batch, on=batch.columns, how="anti", nulls_equal=True))):
        for rule, count in rows.group_by("rule_id").len().sort("rule_id").iter_rows():
            parts.append(f"{rule}: {count:,} row(s) only in the {where}")
    return "; ".join(parts) or "the same rows, repeated a different number of times"


XLSX_SIZE = 100_000   # the largest register also timed as an xlsx workbook


def same_awards(n: int, city: str, fmt: str, tmp: Path, out: Path, cli: list[str]) -> list[str]:
    """The command assessing the register written as ``fmt`` (awards as CSV), once its award rows are
    found to be the CSV register's: nothing is timed otherwise."""
    register = synth_register(n, city, tmp / f"{city}-{fmt}", fmt)
    argv = [*cli, str(register), "-o", str(tmp / f"out-{fmt}"), "--as-of", str(AS_OF), "--path", "columnar",
            "--format", "csv"]
    subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    if (tmp / f"out-{fmt}/awards.csv").read_bytes() != (out / "awards.csv").read_bytes():
        raise SystemExit(f"the {fmt} register's awards differ from the CSV register's: no timing")
    return argv


def columnar(sizes: list[int], repeat: int) -> None:
    print("## Columnar batch against hand-written polars (CSV in; awards, errors and summary out; fresh processes, "
          f"process start included; each program run {repeat} times, in turn with the others so that a slow moment "
          "of the machine falls on all of them; best and median)")
    print("Each register against its hand-written polars, which computes the same award rows, checked equal before "
          "timing: polars_langfang.py (the 6 Langfang rules) on a Langfang register, polars_cities.py (the 57 paying "
          "rules of Shijiazhuang, Cangzhou and Langfang, with statuses, ceilings and payers) on all three cities.")
    print(f"{'register':>22} {'program':>28} {'seconds':>9} {'per minute':>12} {'× polars':>9} {'median s':>9} "
          f"{'× median':>9} {'CPU s':>7} {'CPU ×':>7} {'peak MiB':>9}")
    cli = [sys.executable, "-m", "incentives", "batch"]
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            base: tuple[float, float, float] | None = None
            base_median = 0.0
            for city in ("langfang", "all"):
                enterprises = synth_register(n, city, Path(tmp) / city)
                records = enterprises.with_name("records.csv")
                out = Path(tmp) / f"out-{city}"
                program = "polars_langfang.py" if city == "langfang" else "polars_cities.py"
                hand = [sys.executable, str(ROOT / "benchmarks" / program), str(enterprises), str(records),
                        str(Path(tmp) / "hand.csv"), str(AS_OF)]
                batch_argv = [*cli, str(enterprises), "-o", str(out), "--as-of", str(AS_OF), "--path", "columnar"]
                runs = {"hand-written polars": hand}
                runs["incentives batch (columnar)"] = batch_argv   # two chunks at a time (the default)
                if city == "langfang":
                    runs["columnar, --workers 1"] = [*batch_argv, "--workers", "1"]   # what the threads add
                subprocess.run(hand, check=True, cwd=ROOT)
                subprocess.run(batch_argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
                keys = AWARD_KEYS if city == "langfang" else CITIES_KEYS
                batch_rows, hand_rows = award_keys(out / "awards.csv", keys), award_keys(Path(tmp) / "hand.csv", keys)
                same = batch_rows.equals(hand_rows)
                print(f"{'':>22} award rows equal to the hand-written polars' ({program}, {batch_rows.height:,} rows, "
                      f"{len(keys)} columns): {same}")
                if not same:
                    raise SystemExit(f"the baseline and the batch disagree ({disagreement(batch_rows, hand_rows)}): "
                                     "no timing")
                if city == "langfang":
                    # the same register as Parquet (and, small enough for calamine, as xlsx), awards as CSV
                    for fmt, label in (("parquet", "Parquet"), ("xlsx", "xlsx"))[:2 if n <= XLSX_SIZE else 1]:
                        runs[f"batch (columnar, {label} in)"] = same_awards(n, city, fmt, Path(tmp), out, cli)
                timed: dict[str, list[tuple[float, float, float]]] = {label: [] for label in runs}
                for _ in range(repeat):
                    for label, argv in runs.items():
                        timed[label].append(timed_process(argv))
                for label, times in timed.items():
                    best = min(times, key=lambda t: t[0])
                    median = statistics.median(t[0] for t in times)
                    if label.startswith("hand"):
                        base, base_median = best, median
                    assert base is not None
                    print(f"{f'{n:,} {city}':>22} {label:>28} {best[0]:9.1f} {n / best[0] * 60:12,.0f} "
                          f"{best[0] / base[0]:8.2f}× {median:9.2f} {median / base_median:8.2f}× "
                          f"{best[2]:7.1f} {best[2] / base[2]:6.2f}× {best[1]:9.0f}")
    print()


def spark(sizes: list[int]) -> None:
    print("## incentives.spark on a local Spark session (local[2], 8 partitions) against the local columnar batch "
          "(CSV in; awards and errors out; fresh processes, JVM and process start included)")
    print(f"{'register':>22} {'program':>28} {'seconds':>9} {'per minute':>12} {'× batch':>9}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            enterprises = synth_register(n, "all", Path(tmp) / "register")
            records = enterprises.with_name("records.csv")
            local = timed_process([sys.executable, "-m", "incentives", "batch", str(enterprises), "-o",
                                   str(Path(tmp) / "local"), "--as-of", str(AS_OF)])[0]
            on_spark = timed_process([sys.executable, str(ROOT / "benchmarks/spark_local.py"), str(enterprises),
                                      str(records), str(Path(tmp) / "spark"), str(AS_OF)])[0]  # JVM CPU not counted
            for label, seconds in (("incentives batch (columnar)", local), ("incentives.spark, local[2]", on_spark)):
                print(f"{f'{n:,} all':>22} {label:>28} {seconds:9.1f} {n / seconds * 60:12,.0f} "
                      f"{seconds / local:8.2f}×")
    print()


PRE_HARDENING = "bf20ba4"   # the last commit before the batch accounted for every row and wrote whole results


def checkout(rev: str, into: Path) -> Path | None:
    """``src/`` of commit ``rev`` of this repository, extracted under ``into`` with the rules and sources of
    that commit beside it; None (and why) when it cannot be."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "src", "rules", "sources"],
                                 check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        reason = e.stderr.decode(errors="replace").strip() if isinstance(e, subprocess.CalledProcessError) else e
        print(f"(no baseline: commit {rev} cannot be checked out here: {reason})\n")
        return None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    for path in (into / "rules").glob("*.yaml"):   # a file that pays nothing (hebei.yaml before it named its
        data = yaml.safe_load(path.read_text("utf-8"))  # jurisdiction) changes no award: both read the rest
        if isinstance(data, dict) and data.get("rules") == []:
            path.unlink()
    return into / "src"


def batch(book_path: Path, sizes: list[int], workers: int, baseline: Path | None = None) -> None:
    print(f"## incentives batch --path rows end to end (CSV in and out); {workers} worker(s) against one; peak "
          "memory of the largest process, against the smallest register's")
    print(f"{'enterprises':>12} {'workers':>8} {'seconds':>9} {'per minute':>12} {'× 1 worker':>11} "
          f"{'peak RSS MiB':>13} {'memory ratio':>13}")
    first_rss: dict[int, float] = {}      # per number of workers: the smallest population's peak
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            register = Path(tmp) / "register"
            subprocess.run([sys.executable, "-m", "incentives.cli", "synth", "--city", "all", "--n", str(n),
                            "--seed", "7", "-o", str(register), "--format", "csv"], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
            enterprises = next(register.glob("*enterprises*.csv"))
            one = None
            for count in sorted({1, workers}):
                seconds, rss, _ = batch_run(enterprises, Path(tmp) / "out", book_path, count)
                one = one or seconds
                first_rss.setdefault(count, rss)
                print(f"{n:12,} {count:8} {seconds:9.1f} {n / seconds * 60:12,.0f} {one / seconds:10.2f}× "
                      f"{rss:13.0f} {rss / first_rss[count]:12.2f}×")
    print()
    if baseline is not None:   # up to 100,000 enterprises: each size runs ten times
        print("## incentives batch --path rows against the baseline, same registers, same rules")
        rules, own = book_path, problem(baseline, book_path) is not None
        if own:   # rule files newer than the baseline: both read the baseline's own (those that both can)
            rules, dropped = common_rules(baseline)
            print(f"(the baseline cannot read today's rule files: both run on the baseline's, {rules}"
                  + (f", without {', '.join(dropped)} (today's package reads it no more)" if dropped else "")
                  + ", over registers the baseline's synth writes)")
        batch_against(rules, [n for n in sizes if n <= 100_000] or [min(sizes)], baseline, own_rules=own)


def batch_against(book_path: Path, sizes: list[int], baseline: Path, repeat: int = 5, own_rules: bool = False) -> None:
    """One worker, this checkout against another's ``src`` (``--baseline``), alternately, best of ``repeat`` each;
    with ``own_rules``, the register is synthesized by the baseline over its rules (``book_path``). The totals of
    both runs are checked equal before any figure is printed."""
    print(f"(one worker; against {baseline}, run alternately in this run, best of {repeat} each, process start "
          "included: × baseline above 1 means faster than the baseline; CPU seconds are user + system, the "
          "steadier figure when the cores are shared)")
    print(f"{'enterprises':>12} {'seconds':>9} {'baseline s':>11} {'per minute':>12} {'× baseline':>11} "
          f"{'CPU s':>7} {'baseline':>9} {'CPU ×':>7} {'peak RSS MiB':>13} {'baseline MiB':>13}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            register = Path(tmp) / "register"
            subprocess.run([sys.executable, "-m", "incentives.cli", "synth", "--city", "all", "--n", str(n),
                            "--seed", "7", "-o", str(register), "--format", "csv"], check=True,
                           cwd=book_path.parent if own_rules else ROOT, stdout=subprocess.DEVNULL,
                           env={**os.environ, "PYTHONPATH": str(baseline)} if own_rules else None)
            enterprises = next(register.glob("*enterprises*.csv"))
            mine, theirs, default = [], [], []
            noted = False
            for _ in range(repeat):
                default.append(batch_run(enterprises, Path(tmp) / "out", book_path, 1, default_path=True))
                mine.append(batch_run(enterprises, Path(tmp) / "out", book_path, 1))
                theirs.append(batch_run(enterprises, Path(tmp) / "base", book_path, 1, baseline))
                totals = [json.loads((Path(tmp) / d / "summary.json").read_text(encoding="utf-8"))["total"]
                          for d in ("out", "base")]
                if totals[0] != totals[1]:
                    # Fixes to the law's reading since the baseline (once per achievement, 再奖励 on an older
                    # base...) change a few awards of the same rules; the work stays the same. More is a bug.
                    if abs(totals[0]["awards"] - totals[1]["awards"]) > totals[1]["awards"] // 1000:
                        raise SystemExit(f"the batch and its baseline disagree ({totals}): no timing")
                    if not noted:
                        print(f"(awards differ where the reading of the law was fixed since the baseline: "
                              f"{totals[0]['awards']:,} against {totals[1]['awards']:,}, "
                              f"{totals[0]['amount']} against {totals[1]['amount']} yuan)")
                        noted = True
            seconds, base = min(m[0] for m in mine), min(t[0] for t in theirs)
            cpu, base_cpu = min(m[2] for m in mine), min(t[2] for t in theirs)
            rss, base_rss = min(m[1] for m in mine), min(t[1] for t in theirs)
            print(f"{n:12,} {seconds:9.2f} {base:11.2f} {n / seconds * 60:12,.0f} {base / seconds:10.2f}× "
                  f"{cpu:7.2f} {base_cpu:9.2f} {base_cpu / cpu:6.2f}× {rss:13.0f} {base_rss:13.0f}  --path rows")
            seconds, cpu, rss = min(d[0] for d in default), min(d[2] for d in default), min(d[1] for d in default)
            print(f"{n:12,} {seconds:9.2f} {base:11.2f} {n / seconds * 60:12,.0f} {base / seconds:10.2f}× "
                  f"{cpu:7.2f} {base_cpu:9.2f} {base_cpu / cpu:6.2f}× {rss:13.0f} {base_rss:13.0f}  default path")
    print(f"(load average {os.getloadavg()[0]:.1f} at the end of these runs, on {os.cpu_count()} cores)")
    print()


def problem(src: Path | None, rules: Path) -> str | None:
    """Why the package in ``src`` (this checkout's when None) does not load the rule files in ``rules``, or None."""
    env = {**os.environ, "PYTHONPATH": str(src)} if src is not None else None
    proc = subprocess.run([sys.executable, "-c", f"from incentives import load_rulebook; load_rulebook({str(rules)!r})"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]


def common_rules(baseline: Path) -> tuple[Path, list[str]]:
    """The baseline's rule files beside its checkout, less the files this checkout no longer reads (a province's
    file written before jurisdictions, say), and the names of those left out."""
    rules = baseline.parent / "common-rules"   # beside rules/, so that ../sources/ is found
    shutil.copytree(baseline.parent / "rules", rules)
    dropped: list[str] = []
    for _ in range(10):
        why = problem(None, rules) or problem(baseline, rules)
        if why is None:
            return rules, dropped
        name = next((p.name for p in rules.glob("*.yaml") if f"/{p.name}:" in why), None)
        if name is None or name in ("vocabulary.yaml", "facts.yaml"):
            break
        (rules / name).unlink()
        dropped.append(name)
    raise SystemExit(f"no rule files that both this checkout and the baseline read: {why}")


def batch_run(enterprises: Path, out: Path, book_path: Path, workers: int,
              src: Path | None = None, default_path: bool = False) -> tuple[float, float, float]:
    """Seconds, peak RSS (MiB, the largest process) and CPU seconds (user + system, the process and its
    workers) of one ``run_batch`` in a fresh interpreter (of the package in ``src`` when given, else this
    checkout's), on the per-enterprise path, or with ``default_path`` on the path ``incentives batch`` takes."""
    # another checkout may predate the columnar path: it runs its default
    path = "" if src is not None or default_path else ", path='rows'"
    script = ("import resource, sys, json, datetime as dt\n"
              "from incentives.batch import run_batch\n"
              f"s = run_batch({str(enterprises)!r}, {str(out)!r}, {str(book_path)!r}, "
              f"dt.date(2026, 6, 30), workers={workers}, progress=False{path})\n"
              "import re, pathlib\n"   # VmHWM: this process's own peak (ru_maxrss keeps the parent's mark over exec)
              "hwm = re.search(r'VmHWM:\\s*(\\d+)', pathlib.Path('/proc/self/status').read_text())\n"
              "own = int(hwm.group(1)) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "peak = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
              "print(json.dumps({'peak_kib': peak}))\n")
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(src)} if src is not None else None
    proc = subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])["peak_kib"] / 1024, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout's src/ (e.g. of main) to time batch against in the same run; it must read "
                             "today's rule files")
    parser.add_argument("--baseline-rev", default=PRE_HARDENING,
                        help=f"commit whose src/ the batch is timed against when --baseline is not given (default "
                             f"{PRE_HARDENING}, before the batch accounted for every row; '' for none)")
    parser.add_argument("--columnar-sizes", default="100000,1000000",
                        help="register sizes for the columnar batch against hand-written polars")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only-columnar", action="store_true")
    parser.add_argument("--spark-sizes", default="100000", help="register sizes for local Spark ('' to skip)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    # the package's bytecode, as pip compiles an installed package's and as polars' own is: a checkout
    # installed editable, run where PYTHONDONTWRITEBYTECODE is set, would compile every module at each start
    compileall.compile_dir(ROOT / "src", quiet=1)
    book = load_rulebook(ROOT / "rules")
    print(f"incentives benchmarks, {dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores, Python "
          f"{sys.version.split()[0]}; load average {os.getloadavg()[0]:.1f} at the start (the cores may be shared: "
          "compare ratios, each measured in the same run)\n")
    if args.columnar_sizes:  # first: fresh processes, before this one grows
        columnar([int(s) for s in args.columnar_sizes.split(",")], args.repeat)
    if args.spark_sizes:
        spark([int(s) for s in args.spark_sizes.split(",")])
    if args.only_columnar:
        return 0
    single(book)
    if not args.skip_batch:  # first: a process started later would inherit the high-water mark of ours
        with tempfile.TemporaryDirectory() as tmp:
            baseline = args.baseline or (checkout(args.baseline_rev, Path(tmp)) if args.baseline_rev else None)
            batch(ROOT / "rules", sizes, args.workers, baseline)
    models(book, min(sizes))
    for n in [n for n in sizes if n <= 100_000] or [min(sizes)]:  # in memory: a million would take 3 GB
        throughput(book, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
