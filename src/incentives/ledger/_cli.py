"""``incentives ledger init|apply|show|report``: the ledger from the command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator

from incentives.shipped import command_rules
from incentives.errors import IncentivesError, LedgerError, Location
from incentives.ledger._ledger import Ledger, open_ledger
from incentives.ledger.events import Event, located_events, record_events
from incentives.ledger.store import sqlite_path
from incentives.readings import add_reading_argument, parse_choices
from incentives.report import display_width
from incentives.rulebook import load_rulebook


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``incentives ledger`` to the command line."""
    p = sub.add_parser("ledger", help="entitlements owed, confirmed and paid over time (SQLite or PostgreSQL)",
                       description="An entitlement ledger: a SQLite file (default) or postgresql://… URL.")
    cmds = p.add_subparsers(required=True, metavar="ACTION")

    def action(name: str, help: str, run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = cmds.add_parser(name, help=help)
        q.add_argument("database", help="ledger.db (SQLite) or postgresql://user@host:port/db")
        q.add_argument("--rules", default=None, help="rule directory (default: rules/ here, else the shipped rules)")
        add_reading_argument(q)
        q.set_defaults(run=run)
        return q

    action("init", "create the ledger or bring its schema up to date", _init)
    apply = action("apply", "apply events (JSONL) or a register delta (csv, jsonl, parquet, xlsx)", _apply)
    apply.add_argument("input", help="events .jsonl (one event per line) or a register's enterprises table")
    apply.add_argument("--records", default=None, help="a register's records table (as for batch)")
    apply.add_argument("--at", type=dt.date.fromisoformat, default=None,
                       help="date of a register delta's events (default: each record's own date)")
    show = action("show", "entitlements (or the journal) of one enterprise or all", _show)
    show.add_argument("--enterprise", default=None, help="credit code")
    show.add_argument("--journal", action="store_true", help="the journal entries instead of the entitlements")
    report = action("report", "committed against paid, by payer, county, programme or month", _report)
    report.add_argument("--by", choices=["payer", "county", "programme", "month"], default="payer")


def _open(args: argparse.Namespace, *, existing: bool = False) -> Ledger:
    """The ledger, re-assessing with the rules read as ``--reading`` chooses (each journal entry keeps the
    hash of the rules it was made under). ``existing``: a SQLite file that is not there is an error (show
    and report of a misspelt path would create an empty ledger and print nothing owed)."""
    rules = command_rules(args.rules)
    path = sqlite_path(args.database)
    if existing and path is not None and not path.is_file():
        raise LedgerError("no ledger here ('incentives ledger init' creates one)", location=Location(str(path)))
    return open_ledger(args.database, load_rulebook(rules, readings=parse_choices(args.reading)))


def _init(args: argparse.Namespace) -> int:
    ledger = _open(args)
    print(f"{args.database}: ledger schema version {ledger.store.version()} ({ledger.store.dialect.name})")
    ledger.close()
    return 0


def _is_events(path: Path) -> bool:
    if path.suffix.lower() != ".jsonl":
        return False
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                try:
                    first = json.loads(line)
                except (ValueError, TypeError, RecursionError):   # not JSON, not UTF-8 text, nested too deep
                    return True  # read_events reports the line
                # a register's line is an enterprise (an object without "type"); anything else is read
                # as events, which says what is wrong with it
                return not isinstance(first, dict) or "type" in first
    return True


def _register_events(args: argparse.Namespace, ledger: Ledger) -> Iterator[Event]:
    from incentives.batch import read_register

    for enterprise, problem in read_register(args.input, ledger.book, records=args.records):
        if enterprise is None:
            print(f"incentives: {problem} (skipped)", file=sys.stderr)
            continue
        yield from record_events(enterprise, args.at)


def _apply(args: argparse.Namespace) -> int:
    ledger = _open(args)
    path = Path(args.input)
    if not path.is_file():
        raise IncentivesError("no such file", location=Location(str(path)))
    current: list[Event | None] = [None]
    where = [Location(str(path))]

    def tracked() -> Iterator[Event]:
        """The events, keeping the one being applied and its line: an error the ledger finds in it (a
        record the facts schema refuses) names them."""
        pairs = located_events(path) if _is_events(path) else \
            ((e, Location(str(path))) for e in _register_events(args, ledger))
        for event, location in pairs:
            current[0], where[0] = event, location
            yield event

    started = time.perf_counter()
    try:
        done = ledger.apply_all(tracked())
    except IncentivesError as error:
        if current[0] is not None and not error.location.path:
            error.location = where[0]
            if where[0].line is None:   # a register's row: its event's id names the enterprise and record
                error.message = f"event {current[0].id}: {error.message}"
        raise
    finally:
        ledger.close()
    seconds = time.perf_counter() - started
    for event, e in done.refused:
        print(f"incentives: event {event.id}: {e.message}", file=sys.stderr)
    total = done.changed + done.unchanged + len(done.refused)
    print(f"{total} events: {done.changed} changed the ledger, {done.unchanged} changed nothing "
          f"(applied before or no difference), {len(done.refused)} payment(s) refused; {seconds:.2f} s")
    return 2 if done.refused else 0


def _show(args: argparse.Namespace) -> int:
    ledger = _open(args, existing=True)
    try:
        if args.journal:
            for j in ledger.journal(args.enterprise):
                owed = ", ".join(f"{p} {v}" for p, v in sorted(j.owed.items())) or "-"
                paid = ", ".join(f"{p} {v}" for p, v in sorted(j.paid.items())) or "-"
                print(f"{j.at}  {j.credit_code}  {j.rule_id} {list(j.unit)}  {j.from_state or '-'} → {j.to_state}  "
                      f"owed {owed}  paid {paid}  [{j.clause}; event {j.event_id}; {j.rulebook_hash[:15]}]")
        else:
            for e in ledger.entitlements(args.enterprise):
                print(f"{e.credit_code}  {e.rule_id} {list(e.unit)}  {e.state}  owed {_total(e.owed)}  "
                      f"paid {_total(e.paid)}  payable {_total(e.payable)}" + (f"  claim {e.claim}" if e.claim else "")
                      + (f"  due {e.deadline}" if e.deadline else ""))
    finally:
        ledger.close()
    return 0


def _report(args: argparse.Namespace) -> int:
    ledger = _open(args, existing=True)
    try:
        rows = ledger.report(args.by)
    finally:
        ledger.close()
    total_c = sum((c for _, c, _ in rows), Decimal(0))
    total_p = sum((p for _, _, p in rows), Decimal(0))
    lines = [(args.by, "committed", "paid"), *((k, f"{c:.2f}", f"{p:.2f}") for k, c, p in rows),
             ("total", f"{total_c:.2f}", f"{total_p:.2f}")]
    width = max(display_width(key) for key, _, _ in lines)   # a county's Chinese name takes two columns a character
    for key, committed, paid in lines:
        print(f"{key}{' ' * (width - display_width(key))}  {committed:>16}  {paid:>16}")
    return 0


def _total(amounts: dict[str, Decimal]) -> str:
    """The yuan of every payer, to the fen (``0.00`` where nothing is)."""
    return f"{sum(amounts.values(), Decimal(0)):.2f}"
