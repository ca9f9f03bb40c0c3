"""The ledger on both databases: the two failures of paying "whatever is new", states, journal, books."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from incentives import Rulebook, load_rulebook
from incentives.errors import LedgerError, Location, PaymentRefused
from incentives.ledger import Ledger, open_ledger, parse_event

from conftest import credit_code

LF = credit_code("91131024MA0CTX8K4")
CZ = credit_code("91130900MA0CTX8K4")
D = dt.date


def profile(code: str, city: str, county: str) -> dict[str, Any]:
    return {"name": "测试企业", "credit_code": code, "city": city, "county": county, "clusters": ["香河智慧家居"],
            "size": "small"}


def added(eid: str, code: str, at: dt.date, record: dict[str, Any], city: str = "langfang",
          county: str = "香河县") -> Any:
    return parse_event({"id": eid, "type": "record_added", "at": at.isoformat(), "credit_code": code,
                        "enterprise": profile(code, city, county), "record": record})


def paid(eid: str, code: str, at: dt.date, rule_id: str, unit: list[Any], payer: str, amount: str) -> Any:
    return parse_event({"id": eid, "type": "payment_confirmed", "at": at.isoformat(), "credit_code": code,
                        "rule_id": rule_id, "unit": unit, "payer": payer, "amount": amount})


def pay_all(ledger: Ledger, code: str, at: dt.date, tag: str) -> None:
    """What a platform does: pay everything payable now, each payment its own event."""
    for ent in ledger.entitlements(code):
        for payer, amount in ent.payable.items():
            ledger.apply(paid(f"pay-{tag}-{ent.rule_id}-{ent.unit}-{payer}", code, at, ent.rule_id, list(ent.unit),
                              payer, str(amount)))


def total_paid(ledger: Ledger, code: str) -> Decimal:
    return sum((ledger.balances(code).get((f"paid:{code}", p), Decimal(0)) for p in ("city", "county", "unspecified")),
               Decimal(0))


@pytest.fixture
def ledger(ledger_url: str, book: Rulebook) -> Any:
    led = open_ledger(ledger_url, book)
    yield led
    led.close()


def leader(rid: str, day: dt.date) -> dict[str, Any]:
    return {"id": rid, "kind": "recognition", "date": day.isoformat(), "title": "cluster_leader", "level": "provincial"}


def test_a_backdated_leader_record_does_not_pay_the_one_time_award_twice(ledger: Ledger) -> None:
    ledger.apply(added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))))
    [ent] = ledger.entitlements(LF)
    assert (ent.rule_id, ent.unit, ent.state) == ("lf.leader.provincial", ("enterprise",), "owed")
    assert ent.owed == {"city": Decimal("150000.00"), "county": Decimal("150000.00")}
    pay_all(ledger, LF, D(2026, 4, 1), "1")
    assert ledger.entitlements(LF)[0].state == "paid"
    # an earlier-dated record of the same title arrives: the assessment re-points the award to B
    entries = ledger.apply(added("b", LF, D(2026, 5, 1), leader("B", D(2025, 12, 1))))
    [ent] = ledger.entitlements(LF)
    assert ent.record_id == "B" and ent.state == "paid" and ent.payable == {}
    assert [e.owed for e in entries] == [{}]           # re-pointed, nothing more owed
    pay_all(ledger, LF, D(2026, 6, 1), "2")
    assert total_paid(ledger, LF) == Decimal("300000.00")


def mark(rid: str, day: dt.date, fee: str) -> dict[str, Any]:
    return {"id": rid, "kind": "trademark", "date": day.isoformat(), "type": "madrid", "fee": fee}


def test_a_backdated_trademark_never_pays_past_the_total_cap(ledger: Ledger) -> None:
    ledger.apply(added("m1", CZ, D(2023, 3, 1), mark("T1", D(2023, 3, 1), "333334"), "cangzhou", "泊头市"))
    pay_all(ledger, CZ, D(2023, 3, 10), "1")
    ledger.apply(added("m2", CZ, D(2023, 5, 1), mark("T2", D(2023, 2, 1), "333334"), "cangzhou", "泊头市"))
    pay_all(ledger, CZ, D(2023, 5, 10), "2")
    assert total_paid(ledger, CZ) == Decimal("200000.00")
    # the third registration is backdated before both: the cap is spent on it first
    ledger.apply(added("m3", CZ, D(2023, 7, 1), mark("T3", D(2023, 1, 1), "400000"), "cangzhou", "泊头市"))
    pay_all(ledger, CZ, D(2023, 7, 10), "3")
    by_unit = {e.unit[1]: e for e in ledger.entitlements(CZ)}
    assert by_unit["T3"].owed == {"unspecified": Decimal("120000.00")}
    assert by_unit["T2"].owed == {"unspecified": Decimal("80000.00")}
    assert by_unit["T1"].owed == {"unspecified": Decimal("0.00")}
    assert total_paid(ledger, CZ) == Decimal("200000.00")           # not 32万
    assert all(e.claim == 0 for e in by_unit.values())              # T1's money now counts for T3
    assert by_unit["T1"].state == "cancelled" and by_unit["T3"].state == "paid"


def test_a_withdrawn_record_after_payment_becomes_a_clawback_claim(ledger: Ledger) -> None:
    ledger.apply(added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))))
    pay_all(ledger, LF, D(2026, 4, 1), "1")
    entries = ledger.apply(parse_event({"id": "w", "type": "record_withdrawn", "at": "2026-05-01",
                                        "credit_code": LF, "record_id": "A"}))
    [ent] = ledger.entitlements(LF)
    assert ent.state == "clawed_back" and ent.claim == Decimal("300000.00")
    assert "clawback claim" in entries[0].reason
    assert ledger.balances(LF)[(f"clawback:{LF}", "city")] == Decimal("-150000.00")


def test_payment_beyond_payable_is_refused_and_nothing_written(ledger: Ledger) -> None:
    ledger.apply(added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))))
    with pytest.raises(PaymentRefused, match="exceeds the 150000.00 payable"):
        ledger.apply(paid("p", LF, D(2026, 4, 1), "lf.leader.provincial", ["enterprise"], "city", "150000.01"))
    ledger.apply(paid("p", LF, D(2026, 4, 1), "lf.leader.provincial", ["enterprise"], "city", "150000"))
    with pytest.raises(PaymentRefused):  # a second payment of the same share, under another id
        ledger.apply(paid("p2", LF, D(2026, 4, 2), "lf.leader.provincial", ["enterprise"], "city", "1"))


def test_a_payment_on_nothing_the_ledger_holds_says_what_is_not_there(ledger: Ledger) -> None:
    ledger.apply(added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))))
    cases = [(LF, "lf.leader.provinical", ["enterprise"], "city", "no rule lf.leader.provinical in the rulebook"),
             (LF, "lf.leader.provincial", ["year", 2026], "city",
              rf"{LF} has no entitlement lf.leader.provincial \['year', 2026\] in the ledger"),
             (CZ, "lf.leader.provincial", ["enterprise"], "city",
              rf"{CZ} has no entitlement lf.leader.provincial \['enterprise'\] in the ledger"),
             (LF, "lf.leader.provincial", ["enterprise"], "province",
              r"lf.leader.provincial \['enterprise'\] is not paid by province \(its payers: city, county\)")]
    for i, (code, rule_id, unit, payer, message) in enumerate(cases):
        with pytest.raises(PaymentRefused, match=message) as refused:
            ledger.apply(paid(f"p{i}", code, D(2026, 4, 1), rule_id, unit, payer, "1"))
        assert refused.value.field == ("rule_id", "unit", "unit", "payer")[i]
    assert ledger.store.all("SELECT id FROM events ORDER BY seq") == [("a",)]


def test_same_event_twice_is_a_no_op_and_a_changed_body_is_refused(ledger: Ledger) -> None:
    event = added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1)))
    assert ledger.apply(event)
    before = (ledger.journal(), ledger.balances())
    assert ledger.apply(event) == []
    assert (ledger.journal(), ledger.balances()) == before
    with pytest.raises(LedgerError, match="applied before with another body"):
        ledger.apply(added("a", LF, D(2026, 3, 2), leader("A", D(2026, 3, 1))))


def test_states_follow_notice_consent_and_refusal(ledger: Ledger) -> None:
    ledger.apply(added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))))
    ledger.apply(added("b", LF, D(2026, 3, 1), {"id": "M", "kind": "recognition", "date": "2026-03-01",
                                                  "title": "cluster_leader", "level": "municipal"}))
    base = {"at": "2026-03-02", "credit_code": LF, "unit": ["enterprise"]}
    ledger.apply(parse_event({"id": "n", "type": "notified", "rule_id": "lf.leader.provincial", **base}))
    assert ledger.entitlements(LF)[1].state == "notified"
    ledger.apply(parse_event({"id": "c", "type": "confirmed", "rule_id": "lf.leader.provincial", **base}))
    ledger.apply(parse_event({"id": "d", "type": "declined", "rule_id": "lf.leader.municipal", **base}))
    states = {e.rule_id: e.state for e in ledger.entitlements(LF)}
    assert states == {"lf.leader.provincial": "confirmed", "lf.leader.municipal": "declined"}
    declined = next(e for e in ledger.entitlements(LF) if e.rule_id == "lf.leader.municipal")
    assert declined.payable == {} and declined.owed == {"city": Decimal("0.00"), "county": Decimal("0.00")}
    entry = ledger.journal(LF)[-1]
    assert (entry.from_state, entry.to_state, entry.event_id) == ("owed", "declined", "d")
    assert entry.owed == {"city": Decimal("-75000.00"), "county": Decimal("-75000.00")}
    assert entry.clause == "廊政办规〔2025〕5号 三、1" and entry.rulebook_hash.startswith("sha256:")


def test_journal_and_postings_are_append_only(ledger: Ledger) -> None:
    ledger.apply(added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))))
    store = ledger.store
    for table in ("journal", "postings", "events"):
        with pytest.raises(store.errors, match="append-only"):
            store.execute(f"DELETE FROM {table}")
        store.rollback()


def test_migrations_are_applied_at_open_and_a_newer_database_is_refused(ledger_url: str, book: Rulebook,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from incentives.ledger import store
    full = store.MIGRATIONS[:]
    monkeypatch.setattr(store, "MIGRATIONS", full[:2])       # a database made by an older release
    open_ledger(ledger_url, book).close()
    monkeypatch.setattr(store, "MIGRATIONS", full)
    led = open_ledger(ledger_url, book)                         # upgraded when opened
    assert [r[0] for r in led.store.all("SELECT version FROM schema_version ORDER BY version")] == \
        [n for n, _, _ in full]
    led.apply(added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))))
    led.apply(parse_event({"id": "d", "type": "declined", "at": "2026-03-02", "credit_code": LF,
                           "rule_id": "lf.leader.provincial", "unit": ["enterprise"]}))
    assert led.store.all("SELECT at FROM flags") == [("2026-03-02",)]
    led.store.execute("INSERT INTO schema_version VALUES (99, 'from the future', 'x')")
    led.close()
    with pytest.raises(LedgerError, match=f"schema version 99, newer than this library's {full[-1][0]}"):
        open_ledger(ledger_url, book)


def test_a_record_of_an_unknown_enterprise_needs_its_profile(ledger: Ledger) -> None:
    event = parse_event({"id": "x", "type": "record_added", "at": "2026-01-01", "credit_code": LF,
                         "record": leader("A", D(2026, 1, 1))})
    with pytest.raises(LedgerError, match="must carry its profile"):
        ledger.apply(event)


def test_bad_events_are_located() -> None:
    with pytest.raises(LedgerError, match=r"ev.jsonl:3:1: amount: Input should be greater than 0"):
        parse_event({"id": "p", "type": "payment_confirmed", "at": "2026-01-01", "credit_code": LF,
                     "rule_id": "r.x", "unit": ["enterprise"], "payer": "city", "amount": "0"},
                    location=Location("ev.jsonl", 3, 1))


@pytest.mark.parametrize("amount", ["0.001", "150000.004", 0.005])
def test_a_payment_of_part_of_a_fen_is_refused_not_rounded(amount: Any) -> None:
    with pytest.raises(LedgerError, match=r"ev.jsonl:2:1: amount: a payment is whole fen \(0.01 yuan\): .* has more "
                                          "than two decimal places"):
        parse_event({"id": "p", "type": "payment_confirmed", "at": "2026-01-01", "credit_code": LF,
                     "rule_id": "r.x", "unit": ["enterprise"], "payer": "city", "amount": amount},
                    location=Location("ev.jsonl", 2, 1))
    assert paid("p", LF, D(2026, 1, 1), "r.x", ["enterprise"], "city", "150000.10").amount == Decimal("150000.10")


def _race(url: str, name: str, barrier: Any, out: Any) -> None:
    """One platform process: the same facts as the other, then it pays what it sees payable."""
    from conftest import shared_rulebook
    ledger = open_ledger(url, shared_rulebook())
    accepted = Decimal(0)
    refused = 0
    for i in range(6):
        barrier.wait()
        ledger.apply(added(f"m{i}", CZ, D(2023, 3, 1), mark(f"T{i}", D(2023, 6 - i, 1), "100000"), "cangzhou", "泊头市"))
        for ent in ledger.entitlements(CZ):
            for payer, amount in ent.payable.items():
                try:
                    ledger.apply(paid(f"{name}-{i}-{ent.unit[1]}", CZ, D(2023, 3, 2), ent.rule_id, list(ent.unit),
                                      payer, str(amount)))
                    accepted += amount
                except PaymentRefused:
                    refused += 1
    ledger.close()
    out.put((name, str(accepted), refused))


def test_two_processes_applying_and_paying_at_once_never_double_pay(ledger_url: str, book: Rulebook) -> None:
    import multiprocessing
    open_ledger(ledger_url, book).close()  # created and migrated before the race
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(ledger_url, name, barrier, out)) for name in ("one", "two")]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    ledger = open_ledger(ledger_url, book)
    accepted = sum(Decimal(a) for _, a, _ in results)
    # six registrations of 3万 each (30% of a 10万 fee), all within the 20万 cap: 18万 owed, paid once
    assert sum((sum(e.owed.values()) for e in ledger.entitlements(CZ)), Decimal(0)) == Decimal("180000.00")
    assert total_paid(ledger, CZ) == accepted == Decimal("180000.00")
    payments = [e for e in ledger.journal(CZ) if e.event_id.startswith(("one-", "two-"))]
    assert sorted(e.unit[1] for e in payments) == [f"T{i}" for i in range(6)]   # one payment per registration
    assert all(e.state == "paid" and e.paid == e.owed for e in ledger.entitlements(CZ))
    assert len({e.event_id for e in ledger.journal(CZ) if e.event_id.startswith("m")}) == 6
    ledger.close()


def test_two_bulk_writers_taking_enterprises_in_opposite_orders_both_finish(postgres: Any, book: Rulebook) -> None:
    """Two ``apply_all`` on PostgreSQL, each holding the enterprise the other needs next: the server
    breaks the deadlock by failing one transaction, whose events are then applied one at a time."""
    import threading
    url = postgres.new_database()
    open_ledger(url, book).close()
    barrier = threading.Barrier(2)
    done: dict[str, Any] = {}

    def writer(name: str, codes: list[tuple[str, str, str]]) -> None:
        def events() -> Any:
            for i, (code, city, county) in enumerate(codes):
                if i:
                    barrier.wait(timeout=60)   # both hold their first enterprise before asking for the second
                record = leader("A", D(2026, 3, 1)) if city == "langfang" else mark("T1", D(2023, 3, 1), "100000")
                yield added(f"{name}-{code}", code, D(2026, 3, 1), record, city, county)
        ledger = open_ledger(url, book)
        try:
            done[name] = ledger.apply_all(events())
        except Exception as e:  # noqa: BLE001 - the assertion below shows it
            done[name] = e
        finally:
            ledger.close()

    lf, cz = (LF, "langfang", "香河县"), (CZ, "cangzhou", "泊头市")
    threads = [threading.Thread(target=writer, args=("one", [lf, cz])),
               threading.Thread(target=writer, args=("two", [cz, lf]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(isinstance(r, Exception) for r in done.values()), done
    assert sorted((r.changed + r.unchanged, len(r.refused)) for r in done.values()) == [(2, 0), (2, 0)]
    ledger = open_ledger(url, book)
    assert sorted(i for (i,) in ledger.store.all("SELECT id FROM events")) == \
        sorted(f"{n}-{c}" for n in ("one", "two") for c in (LF, CZ))
    assert {e.rule_id for e in ledger.entitlements(LF)} == {"lf.leader.provincial"}
    assert sum((sum(e.owed.values()) for e in ledger.entitlements(CZ)), Decimal(0)) == Decimal("30000.00")
    ledger.close()


def test_an_entitlement_expires_when_its_deadline_passes_unpaid(tmp_path: Any, ledger_url: str) -> None:
    import shutil

    from conftest import ROOT
    from incentives import load_rulebook
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "sources", tmp_path / "sources")
    path = tmp_path / "rules" / "langfang.yaml"
    text = path.read_text("utf-8")
    # a deadline no seed text states: only this test's copy of the rules has one
    path.write_text(text.replace("    limit: once_per_enterprise            # 一次性\n",
                                 "    limit: once_per_enterprise            # 一次性\n"
                                 "    payment_deadline: {days: 30, quote: 30日内兑现}\n", 1), "utf-8")
    ledger = open_ledger(ledger_url, load_rulebook(tmp_path / "rules"))
    ledger.apply(added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))))
    [ent] = ledger.entitlements(LF)
    assert ent.deadline == D(2026, 3, 31)
    ledger.apply(paid("p", LF, D(2026, 3, 20), "lf.leader.provincial", ["enterprise"], "city", "150000"))
    clock = parse_event({"id": "day-0401", "type": "clock", "at": "2026-04-01"})
    entries = ledger.apply(clock)
    [ent] = ledger.entitlements(LF)
    assert ent.state == "expired" and ent.payable == {}
    assert ent.owed == {"city": Decimal("150000.00"), "county": Decimal("0.00")}   # what was paid stays paid
    assert "兑现时限 2026-03-31 passed" in entries[0].reason
    with pytest.raises(PaymentRefused, match="after its 兑现时限 2026-03-31"):
        ledger.apply(paid("q", LF, D(2026, 4, 2), "lf.leader.provincial", ["enterprise"], "county", "150000"))
    # a payment made in time but reported late is still counted
    ledger.apply(paid("r", LF, D(2026, 3, 30), "lf.leader.provincial", ["enterprise"], "county", "150000"))
    [ent] = ledger.entitlements(LF)
    assert ent.state == "paid" and sum(ent.paid.values()) == Decimal("300000.00")
    # the same events in bulk (one transaction, the clock read once) give the same ledger
    bulk = open_ledger(str(tmp_path / "bulk.db"), ledger.book)
    events = [e for e in ledger_events(ledger)]
    done = bulk.apply_all(events)
    assert [e.id for e, _ in done.refused] == ["q"] and done.changed == 4
    assert bulk.entitlements() == ledger.entitlements()
    assert [(j.id, j.to_state, j.owed, j.paid) for j in bulk.journal()] == \
        [(j.id, j.to_state, j.owed, j.paid) for j in ledger.journal()]
    bulk.close()
    ledger.close()


def ledger_events(ledger: Ledger) -> list[Any]:
    """The events a ledger recorded, in the order applied, plus the refused payment "q"."""
    rows = ledger.store.all("SELECT body FROM events ORDER BY seq")
    events = [parse_event(body) for (body,) in rows]
    events.insert(3, paid("q", LF, D(2026, 4, 2), "lf.leader.provincial", ["enterprise"], "county", "150000"))
    return events


def test_bulk_apply_keeps_what_came_before_a_bad_event(ledger: Ledger) -> None:
    good = added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1)))
    bad = parse_event({"id": "b", "type": "record_added", "at": "2026-03-02", "credit_code": CZ,
                       "record": mark("T1", D(2023, 3, 1), "1000")})          # no profile for a new enterprise
    with pytest.raises(LedgerError, match="must carry its profile"):
        ledger.apply_all([good, bad])
    assert [e.rule_id for e in ledger.entitlements()] == ["lf.leader.provincial"]
    assert ledger.store.all("SELECT id FROM events ORDER BY seq") == [("a",)]


def test_cli_shows_nothing_paid_as_zero_yuan_and_aligns_chinese_counties(tmp_path: Any,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import RULES
    from incentives.cli import main
    from incentives.report import display_width
    db, events = str(tmp_path / "l.db"), tmp_path / "events.jsonl"
    events.write_text(added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))).model_dump_json() + "\n", "utf-8")
    assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 0
    capsys.readouterr()
    assert main(["ledger", "show", db, "--rules", str(RULES)]) == 0
    assert "owed 300000.00  paid 0.00  payable 300000.00" in capsys.readouterr().out
    assert main(["ledger", "report", db, "--by", "county", "--rules", str(RULES)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(display_width(line.split()[0]) > len(line.split()[0]) for line in lines)   # a county named in Chinese
    assert len({display_width(line) for line in lines}) == 1, lines    # every column ends where the header's does
    assert lines[-1].split() == ["total", "300000.00", "0.00"]


def test_cli_init_apply_show_report(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import RULES
    from incentives.cli import main
    db, events = str(tmp_path / "l.db"), tmp_path / "events.jsonl"
    lines = [added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1))),
             paid("p1", LF, D(2026, 4, 1), "lf.leader.provincial", ["enterprise"], "city", "150000"),
             paid("p2", LF, D(2026, 4, 2), "lf.leader.provincial", ["enterprise"], "city", "1")]
    events.write_text("\n".join(e.model_dump_json() for e in lines) + "\n", "utf-8")
    assert main(["ledger", "init", db, "--rules", str(RULES)]) == 0
    assert "ledger schema version 3 (sqlite)" in capsys.readouterr().out
    assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 2   # one payment refused
    out, err = capsys.readouterr()
    assert "3 events: 2 changed the ledger, 0 changed nothing" in out and "1 payment(s) refused" in out
    assert "event p2: payment of 0.01 by city" not in err and "event p2: payment of 1.00 by city" in err
    assert main(["ledger", "show", db, "--rules", str(RULES)]) == 0
    assert "lf.leader.provincial ['enterprise']  owed  owed 300000.00  paid 150000.00  payable 150000.00" in \
        capsys.readouterr().out
    assert main(["ledger", "report", db, "--by", "payer", "--rules", str(RULES)]) == 0
    report = capsys.readouterr().out.splitlines()
    assert report[1].split() == ["city", "150000.00", "150000.00"]
    assert report[-1].split() == ["total", "300000.00", "150000.00"]
    assert main(["ledger", "report", db, "--by", "month", "--rules", str(RULES)]) == 0
    assert [r.split() for r in capsys.readouterr().out.splitlines()[1:3]] == \
        [["2026-03", "300000.00", "0.00"], ["2026-04", "0.00", "150000.00"]]
    events.write_text('{"id": "x", "type": "record_added", "at": "2026-13-01"}\n', "utf-8")
    assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 2
    assert f"{events}:1:1: at: Input should be a valid date" in capsys.readouterr().err


def test_cli_locates_bytes_that_are_not_utf8(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import RULES
    from incentives.cli import main
    events, db = tmp_path / "events.jsonl", str(tmp_path / "l.db")
    for text, where in ((b'{"id": "\xb2\xbb"}\n', "1:9"), (b"\n \r\n\xb2\n", "3:1")):
        events.write_bytes(text)        # GBK bytes, where UTF-8 text was expected
        assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 2
        assert capsys.readouterr().err == f"incentives: {events}:{where}: not UTF-8 text: byte 0xb2 cannot be decoded\n"
    events.write_text('{"id": "c", "type": "clock", "at": "2026-01-01"}\n', "utf-16")   # PowerShell's > writes so
    assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 2
    assert capsys.readouterr().err == f"incentives: {events}:1:1: UTF-16 text (it starts with a UTF-16 byte-order " \
                                      "mark): save it as UTF-8\n"


def test_cli_locates_json_python_cannot_hold(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import RULES
    from incentives.cli import main
    events, db = tmp_path / "events.jsonl", str(tmp_path / "l.db")
    for line, message in (("[" * 30_000, "not JSON: nested too deep"),
                          ('{"id": ' + "9" * 5000 + "}", "not JSON: Exceeds the limit (4300 digits)")):
        events.write_text('{"id": "c", "type": "clock", "at": "2026-01-01"}\n' + line + "\n", "utf-8")
        assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 2
        assert capsys.readouterr().err.startswith(f"incentives: {events}:2: {message}")


def test_cli_events_that_are_not_one_object_a_line_are_told_where(tmp_path: Any,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A first line that is a JSON array is not read as a register (which skipped every row and exited 0), and
    lines ended by a carriage return alone are said to be so, not 'extra data' after the first event."""
    from conftest import RULES
    from incentives.cli import main
    events, db = tmp_path / "events.jsonl", str(tmp_path / "l.db")
    clock = '{"id": "c", "type": "clock", "at": "2026-01-01"}'
    events.write_text(f"[{clock}]\n", "utf-8")
    assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 2
    assert capsys.readouterr().err == f"incentives: {events}:1:1: an event is a JSON object\n"
    events.write_bytes(f"{clock}\r{clock}\r".encode())
    assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 2
    assert capsys.readouterr().err == f"incentives: {events}:1:{len(clock) + 1}: the lines end with a carriage " \
                                      "return alone: end each event's line with a newline (\\n or \\r\\n)\n"
    events.write_bytes(b'{"id": "c",\r"type": "clock", "at": "2026-01-01"}\r\n')   # JSON's own white space
    assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 0


def test_cli_show_and_report_of_a_ledger_that_is_not_there_say_so(tmp_path: Any,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import RULES
    from incentives.cli import main
    typo = tmp_path / "ledgr.db"
    for action in (["show"], ["show", "--journal"], ["report", "--by", "county"]):
        for url in (str(typo), f"sqlite:///{typo}"):
            assert main(["ledger", action[0], url, *action[1:], "--rules", str(RULES)]) == 2
            assert capsys.readouterr().err == f"incentives: {typo}: no ledger here ('incentives ledger init' " \
                                              "creates one)\n"
            assert not typo.exists()                 # nothing created
    assert main(["ledger", "init", str(typo), "--rules", str(RULES)]) == 0
    assert main(["ledger", "report", str(typo), "--rules", str(RULES)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split() == ["total", "0.00", "0.00"]


def test_cli_locates_an_event_the_facts_schema_refuses_at_its_line(tmp_path: Any,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from conftest import RULES
    from incentives.cli import main
    events, db = tmp_path / "events.jsonl", str(tmp_path / "l.db")
    good = added("a", LF, D(2026, 3, 1), leader("A", D(2026, 3, 1)))
    bad = {**json.loads(good.model_dump_json(exclude_none=True)), "id": "b",
           "record": {**leader("B", D(2026, 3, 2)), "level": "provincal"}}
    events.write_text(good.model_dump_json(exclude_none=True) + "\n\n" + json.dumps(bad) + "\n", "utf-8")
    assert main(["ledger", "apply", db, str(events), "--rules", str(RULES)]) == 2
    assert capsys.readouterr().err == (f"incentives: {events}:3:1: records.1.level: unknown recognition.level "
                                       "'provincal'; did you mean 'provincial'?\n")
    assert [e.event_id for e in open_ledger(db, load_rulebook(RULES)).journal()] == ["a"]   # what came before stays


def test_cli_re_assesses_with_the_rules_read_as_chosen(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # 〔2021〕—69 三、（一）1 "对获得国家专精特新“小巨人”称号的企业，给予 100 万元奖励。" (重点“小巨人” not named)
    from conftest import RULES
    from incentives.cli import main
    code = credit_code("91130100MA0CNR4K2")
    events = tmp_path / "events.jsonl"
    giant = {"id": "k", "kind": "recognition", "date": "2023-07-01", "title": "key_little_giant", "level": "national"}
    events.write_text(added("g", code, D(2023, 7, 1), giant, "shijiazhuang", "鹿泉区").model_dump_json() + "\n", "utf-8")
    choice = "sjz.little_giant.key_little_giant=rewarded"
    read = load_rulebook(RULES, readings={"sjz.little_giant.key_little_giant": "rewarded"})
    for db, reading, owed in ((tmp_path / "read.db", ["--reading", choice], Decimal("1000000.00")),
                              (tmp_path / "plain.db", [], Decimal(0))):
        assert main(["ledger", "apply", str(db), str(events), "--rules", str(RULES), *reading]) == 0
        ledger = open_ledger(str(db), read if reading else load_rulebook(RULES))
        assert sum((v for e in ledger.entitlements() for v in e.owed.values()), Decimal(0)) == owed
        hashes = {h for (h,) in ledger.store.all("SELECT rulebook_hash FROM journal")}
        assert hashes == ({read.hash} if reading else set())
        ledger.close()
    assert main(["ledger", "show", str(tmp_path / "read.db"), "--rules", str(RULES), "--reading", "no.such=x"]) == 2
    assert "no reading 'no.such'" in capsys.readouterr().err


def test_cli_applies_a_register_and_owes_what_batch_determines(tmp_path: Any, capsys: pytest.CaptureFixture[str],
                                                               book: Rulebook) -> None:
    from conftest import RULES
    from incentives.batch import run_batch
    from incentives.cli import main
    from incentives.synth import synthesize, write_register
    write_register(synthesize("all", 400, 7, book, D(2026, 6, 30)), tmp_path / "reg", "csv")
    db = str(tmp_path / "l.db")
    register = str(tmp_path / "reg" / "enterprises.csv")
    assert main(["ledger", "apply", db, register, "--rules", str(RULES)]) == 0
    assert main(["ledger", "apply", db, register, "--rules", str(RULES)]) == 0     # the same register again
    assert " 0 changed the ledger" in capsys.readouterr().out.splitlines()[-1]
    ledger = open_ledger(db, book)
    owed = sum((v for e in ledger.entitlements() for v in e.owed.values()), Decimal(0))
    summary = run_batch(register, tmp_path / "out", book, D(2026, 6, 30), progress=False)
    assert owed == summary.total.amount and owed > 0
    ledger.close()


def test_the_ledger_guide_python_runs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import ROOT
    from test_docs import blocks
    for name in ("rules", "sources"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    code = blocks(ROOT / "docs" / "ledger.md", "python")
    assert code
    for block in code:
        exec(compile(block.text, block.where, "exec"), {"__name__": "docs_ledger"})
    assert (tmp_path / "ledger.db").is_file()


def test_every_public_name_of_the_ledger_imports_and_is_documented() -> None:
    import incentives.ledger as ledger_api
    from conftest import ROOT
    guide = (ROOT / "docs" / "ledger.md").read_text("utf-8")
    for name in ledger_api.__all__:
        assert getattr(ledger_api, name) is not None
    undocumented = [n for n in ("open_ledger", "parse_event", "PaymentRefused", "apply", "entitlements", "journal",
                                "balances", "report", "apply_all", "payable") if n not in guide]
    assert not undocumented


def test_a_rule_paying_per_record_owes_each_record_of_one_achievement(ledger: Ledger, book: Rulebook) -> None:
    """Two platforms of one builder are selected: Langfang pays each (once_per_record), and the facts
    see one achievement (title and level): one entitlement owing what assess owes, 100万."""
    from incentives import assess
    platform = {"kind": "recognition", "title": "industrial_internet_platform", "level": "provincial"}
    ledger.apply(added("p1", LF, D(2026, 3, 1), {"id": "P1", "date": "2026-03-01", "scope": "industry", **platform}))
    ledger.apply(added("p2", LF, D(2026, 4, 1), {"id": "P2", "date": "2026-04-01", "scope": "regional", **platform}))
    [ent] = ledger.entitlements(LF)
    assert ent.unit == ("recognition", "industrial_internet_platform", "provincial")
    assert ent.owed == {"city": Decimal("500000.00"), "county": Decimal("500000.00")}
    facts = ledger._enterprise(LF)
    assert sum(ent.owed.values()) == assess(facts, book, D(2026, 12, 31)).total


def test_the_server_a_killed_test_session_left_running_is_stopped_by_the_next(postgres: Any) -> None:
    """A test session killed by SIGKILL leaves its PostgreSQL server running; the next session's fixture
    stops it and removes its folder (its session's process is gone), and leaves a live session's alone."""
    import os
    import socket
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from conftest import PG_PREFIX, PostgresServer, sweep_servers

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()   # a process that has ended: the killed session
    left = Path(tempfile.mkdtemp(prefix=f"{PG_PREFIX}{gone.pid}-"))
    left.chmod(0o755)
    server = PostgresServer(left)
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()   # it runs
        sweep_servers()
        assert not left.exists()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        assert Path(postgres.root).exists() and str(os.getpid()) in Path(postgres.root).name   # ours is kept
    finally:
        if left.exists():
            server.stop()
