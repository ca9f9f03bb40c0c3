"""Replay a synthetic register through the SQLite ledger, one event per record in date order.

    python benchmarks/ledger_replay.py --n 100000 [--city all] [--seed 1] [--database PATH]

Prints the events per second, and checks that the amounts the ledger owes equal what ``batch``
determines on the same register (written to a temporary folder and assessed there). The baseline
beside it is the same register through ``award_rows`` alone, once per enterprise: what the ledger
adds is one re-assessment per event plus the transaction that records it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from incentives import Enterprise, award_rows, load_rulebook  # noqa: E402
from incentives.batch import run_batch  # noqa: E402
from incentives.ledger import open_ledger  # noqa: E402
from incentives.ledger.events import record_events  # noqa: E402
from incentives.synth import synthesize, write_register  # noqa: E402

AS_OF = dt.date(2026, 6, 30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--city", default="all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", default=None, help="SQLite file (default: a temporary one)")
    args = parser.parse_args()
    book = load_rulebook(ROOT / "rules")
    with tempfile.TemporaryDirectory() as tmp:
        items = list(synthesize(args.city, args.n, args.seed, book, AS_OF))
        write_register(iter(items), Path(tmp) / "register", "csv")
        enterprises = [Enterprise.model_validate(item) for item in items]
        events = sorted((e for ent in enterprises for e in record_events(ent)), key=lambda e: e.order)
        print(f"{len(enterprises):,} enterprises, {len(events):,} records, each an event, in date order")

        started = time.perf_counter()
        for ent in enterprises:
            award_rows(ent, book, AS_OF, terms_checked=True)
        baseline = time.perf_counter() - started

        ledger = open_ledger(args.database or str(Path(tmp) / "ledger.db"), book)
        gc.freeze()  # the register held in memory is long-lived: keep the collector from walking it per event
        started, cpu = time.perf_counter(), time.process_time()
        ledger.apply_all(events)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        owed = sum((v for e in ledger.entitlements() for v in e.owed.values()), Decimal(0))
        ledger.close()

        sample = events[: min(len(events), 5000)]
        timed = {}
        for engine in ("native", "durable"):  # the same first events into an empty ledger, each way
            other = open_ledger(str(Path(tmp) / f"{engine}.db"), book, engine=engine)  # type: ignore[arg-type]
            started_s, cpu_s = time.perf_counter(), time.process_time()
            other.apply_all(sample)
            timed[engine] = (time.perf_counter() - started_s, time.process_time() - cpu_s)
            other.close()

        summary = run_batch(Path(tmp) / "register" / "enterprises.csv", Path(tmp) / "results", book, AS_OF,
                            progress=False)
        print(f"ledger: {len(events) / seconds:,.0f} events/s ({seconds:.1f} s wall; "
              f"{len(events) / cpu:,.0f} events per CPU-second of this process, {cpu:.1f} s); "
              f"award_rows once per enterprise: {len(enterprises) / baseline:,.0f} enterprises/s "
              f"({baseline:.1f} s); ratio ledger/baseline time {seconds / baseline:.1f}x")
        for engine, (wall, cpu_e) in timed.items():
            print(f"first {len(sample):,} events into an empty ledger, re-assessing with {engine}: "
                  f"{len(sample) / wall:,.0f} events/s wall, {len(sample) / cpu_e:,.0f} per CPU-second")
        print(f"owed by the ledger {owed} yuan; determined by batch {summary.total.amount} yuan: "
              + ("equal" if owed == summary.total.amount else "DIFFERENT"))
        if owed != summary.total.amount:
            sys.exit(1)


if __name__ == "__main__":
    main()
