"""Random event streams through the ledger: books balance, caps hold, no double pay, order does not matter.

A platform is simulated over a random stream of facts (records added, corrected, withdrawn, and
refusals): after a fact it may pay everything payable, each payment an event of its own. The stream,
payments included, is then applied in a random order to a fresh ledger.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentives import Rulebook
from incentives.errors import PaymentRefused
from incentives.ledger import Event, Ledger, open_ledger, parse_event

from conftest import credit_code, shared_rulebook

LF = credit_code("91131024MA0CTX8K4")
CZ = credit_code("91130900MA0CTX8K4")
PROFILES = {LF: {"name": "廊坊测试", "credit_code": LF, "city": "langfang", "county": "香河县",
                 "clusters": ["香河智慧家居"], "size": "small"},
            CZ: {"name": "沧州测试", "credit_code": CZ, "city": "cangzhou", "county": "泊头市",
                 "clusters": [], "size": "small"}}
CAP = Decimal("200000.00")
START = dt.date(2027, 1, 1)  # events arrive after every record date below


def lf_record(rid: str, day: dt.date, level: str) -> dict[str, Any]:
    return {"id": rid, "kind": "recognition", "date": day.isoformat(), "title": "cluster_leader", "level": level}


def cz_record(rid: str, day: dt.date, fee: int) -> dict[str, Any]:
    return {"id": rid, "kind": "trademark", "date": day.isoformat(), "type": "madrid", "fee": str(fee)}


days = st.dates(dt.date(2025, 9, 12), dt.date(2026, 12, 31))
facts = st.one_of(
    st.tuples(st.just("lf"), st.sampled_from(["A", "B", "C"]), days, st.sampled_from(["provincial", "municipal"])),
    st.tuples(st.just("cz"), st.sampled_from(["T1", "T2", "T3", "T4"]), days.map(lambda d: d.replace(year=2023)),
              st.integers(50_000, 500_000)),
    st.tuples(st.just("withdraw"), st.sampled_from([LF, CZ]), st.sampled_from(["A", "B", "C", "T1", "T2", "T3", "T4"])),
    st.tuples(st.just("decline"), st.sampled_from(["lf.leader.provincial", "lf.leader.municipal"])),
)
streams = st.tuples(st.lists(st.tuples(facts, st.booleans()), min_size=1, max_size=12), st.randoms())


def fact_event(n: int, fact: tuple[Any, ...], seen: set[tuple[str, str]]) -> dict[str, Any] | None:
    at = (START + dt.timedelta(days=n)).isoformat()
    base = {"id": f"e{n:03}", "at": at}
    if fact[0] in ("lf", "cz"):
        code = LF if fact[0] == "lf" else CZ
        record = lf_record(*fact[1:]) if fact[0] == "lf" else cz_record(*fact[1:])
        kind = "record_corrected" if (code, fact[1]) in seen else "record_added"
        seen.add((code, fact[1]))
        return {**base, "type": kind, "credit_code": code, "enterprise": PROFILES[code], "record": record}
    if fact[0] == "withdraw":
        if (fact[1], fact[2]) not in seen:
            return None
        return {**base, "type": "record_withdrawn", "credit_code": fact[1], "record_id": fact[2]}
    return {**base, "type": "declined", "credit_code": LF, "rule_id": fact[1], "unit": ["enterprise"]}


def check_books(ledger: Ledger, highest: dict[Any, Decimal], in_order: bool = True) -> None:
    """The postings alone give back every entitlement's numbers, and each (enterprise, payer) sums to zero.

    In date order nothing is ever paid beyond what was owed; out of order a payment may arrive after a
    refusal it preceded, and what it paid beyond what is owed must then be an explicit claim."""
    for code in (LF, CZ):
        balances = ledger.balances(code)
        expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for ent in ledger.entitlements(code):
            for payer in set(ent.owed) | set(ent.paid):
                owed, paid = ent.owed.get(payer, Decimal(0)), ent.paid.get(payer, Decimal(0))
                expected[(f"commitment:{payer}", payer)] -= owed
                expected[(f"entitlement:{code}", payer)] += max(owed - paid, Decimal(0))
                expected[(f"paid:{code}", payer)] += paid
                expected[(f"clawback:{code}", payer)] -= max(paid - owed, Decimal(0))
                key = (code, ent.rule_id, ent.unit, payer)
                highest[key] = max(highest.get(key, Decimal(0)), owed)
                if in_order:
                    assert paid <= highest[key], "paid more than was ever owed"
                assert paid - max(paid - owed, Decimal(0)) <= owed
            if ent.claim:
                assert ent.state == "clawed_back"
        assert {k: v for k, v in expected.items() if v} == balances
        for payer in {p for _, p in balances}:
            assert sum(v for (_, p), v in balances.items() if p == payer) == 0
        paid_total = sum((v for (a, _), v in balances.items() if a == f"paid:{code}"), Decimal(0))
        if code == CZ:  # the only Cangzhou rule here is the trademark rule with its 20万 total cap
            assert paid_total <= CAP
            assert sum((sum(e.owed.values()) for e in ledger.entitlements(code)), Decimal(0)) <= CAP
        else:  # each one-time leader award is paid at most once: 30万 + 15万
            by_rule: dict[str, Decimal] = defaultdict(Decimal)
            for ent in ledger.entitlements(code):
                by_rule[ent.rule_id] += sum(ent.paid.values())
            assert by_rule["lf.leader.provincial"] <= Decimal("300000")
            assert by_rule["lf.leader.municipal"] <= Decimal("150000")


def simulate(ledger: Ledger, stream: list[tuple[tuple[Any, ...], bool]]) -> list[Event]:
    """Apply the facts in date order, paying all that is payable after some of them; check the books
    after every event; return every event applied, payments included."""
    events: list[Event] = []
    seen: set[tuple[str, str]] = set()
    highest: dict[Any, Decimal] = {}
    for n, (fact, pay) in enumerate(stream):
        data = fact_event(n, fact, seen)
        if data is None:
            continue
        event = parse_event(data)
        ledger.apply(event)
        events.append(event)
        check_books(ledger, highest)
        if not pay:
            continue
        k = 0
        for code in (LF, CZ):
            for ent in ledger.entitlements(code):
                for payer, amount in ent.payable.items():
                    k += 1
                    payment = parse_event({"id": f"p{n:03}-{k:02}",
                                           "type": "payment_confirmed", "at": data["at"], "credit_code": code,
                                           "rule_id": ent.rule_id, "unit": list(ent.unit), "payer": payer,
                                           "amount": str(amount)})
                    ledger.apply(payment)
                    events.append(payment)
                    check_books(ledger, highest)
    return events


def owed(ledger: Ledger) -> dict[Any, Decimal]:
    return {(e.credit_code, e.rule_id, e.unit, p): v for e in ledger.entitlements() for p, v in e.owed.items() if v}


def run_streams(url: Any, book: Rulebook, stream: list[Any], rng: random.Random) -> None:
    sorted_ledger = open_ledger(url(), book)
    events = simulate(sorted_ledger, stream)
    assert sorted(events, key=lambda e: e.order) == events
    # applying everything again changes nothing
    before = (sorted_ledger.journal(), sorted_ledger.balances())
    assert all(sorted_ledger.apply(e) == [] for e in events)
    assert (sorted_ledger.journal(), sorted_ledger.balances()) == before
    shuffled = events[:]
    rng.shuffle(shuffled)
    other = open_ledger(url(), book)
    refused: list[Event] = []
    highest: dict[Any, Decimal] = {}
    for event in shuffled:
        try:
            other.apply(event)
        except PaymentRefused:
            refused.append(event)  # paid before it was owed here: the platform retries later
        check_books(other, highest, in_order=False)
    for event in refused:
        try:
            other.apply(event)
        except PaymentRefused:
            pass
        check_books(other, highest, in_order=False)
    assert owed(other) == owed(sorted_ledger)
    for ent in other.entitlements():
        over = sum(ent.paid.values()) - sum(ent.owed.values())
        assert over <= 0 or (ent.state == "clawed_back" and ent.claim == over)
    sorted_ledger.close()
    other.close()


@settings(max_examples=60)
@given(streams)
def test_random_streams_on_sqlite(data: Any) -> None:
    stream, rng = data
    book = shared_rulebook()
    with tempfile.TemporaryDirectory() as tmp:
        names = iter(range(2))
        run_streams(lambda: str(Path(tmp) / f"l{next(names)}.db"), book, stream, rng)


@pytest.fixture
def postgres_server(postgres: Any) -> Any:
    return postgres


@settings(max_examples=8)
@given(streams)
def test_random_streams_on_postgresql(postgres_server: Any, data: Any) -> None:
    stream, rng = data
    book = shared_rulebook()
    run_streams(postgres_server.new_database, book, stream, rng)


@settings(max_examples=25)
@given(streams)
def test_durable_rules_on_the_event_path_writes_the_same_ledger(data: Any) -> None:
    """The ledger re-assessing with durable_rules' matches writes the same journal and books."""
    stream, _ = data
    book = shared_rulebook()
    with tempfile.TemporaryDirectory() as tmp:
        native = open_ledger(str(Path(tmp) / "native.db"), book)
        durable = open_ledger(str(Path(tmp) / "durable.db"), book, engine="durable")
        events = simulate(native, stream)
        durable.apply_all(events)
        assert durable.journal() == native.journal() and durable.balances() == native.balances()
        native.close()
        durable.close()
