"""The ledger: remembers what was owed, confirmed and paid, and writes the difference as facts arrive.

``apply(event)`` runs in one transaction holding the enterprise: the event id is recorded (a second
apply of the same id is a no-op), the facts are updated, the enterprise is re-assessed with the pure
``award_rows``, and every entitlement whose numbers or state change gets a journal entry and the
double-entry postings of ``books``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import ValidationError

from incentives.engine import Engine, award_rows
from incentives.errors import IncentivesError, LedgerError, LedgerUnavailable, Location, PaymentRefused
from incentives.facts import Enterprise
from incentives.ledger import books
from incentives.ledger.books import State, Transfer
from incentives.ledger.events import (ClockEvent, ConsentEvent, Event, PaymentEvent, RecordEvent, WithdrawEvent,
                                      event_json)
from incentives.ledger.store import Store, _safe
from incentives.money import FEN
from incentives.rulebook import Rulebook

_FAR = dt.date(9999, 12, 31)   # a ledger counts every record it was told of: none is in the future
Unit = tuple[Any, ...]
Key = tuple[str, str]           # (rule id, unit as JSON)


def fen(amount: Decimal) -> int:
    return int((amount / FEN).to_integral_value())


def yuan(amount: int) -> Decimal:
    return (Decimal(amount) * FEN).quantize(FEN)


def unit_of(rule: Any, record: Any) -> Unit:
    """What a rule pays once for: the enterprise or the year where its limit says so, else the
    record's achievement (the facts' identity of a record, ``(kind, record id)`` where a kind or
    record names none): the same achievement reported again is the same entitlement."""
    limit = rule.rule.limit
    if limit == "once_per_enterprise":
        return ("enterprise",)
    if limit == "once_per_year":
        return ("year", record.date.year)
    return tuple(record.achievement)


def unit_text(unit: Iterable[Any]) -> str:
    return json.dumps(list(unit), ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Entitlement:
    """One entitlement of an enterprise as the ledger holds it now (amounts in yuan, by payer)."""

    credit_code: str
    rule_id: str
    unit: Unit
    state: State
    owed: dict[str, Decimal]
    paid: dict[str, Decimal]
    record_id: str | None
    deadline: dt.date | None

    @property
    def payable(self) -> dict[str, Decimal]:
        """What each payer may still pay now (nothing once declined or expired)."""
        if self.state in ("declined", "expired"):
            return {}
        return {p: self.owed[p] - self.paid.get(p, Decimal(0)) for p in self.owed
                if self.owed[p] > self.paid.get(p, Decimal(0))}

    @property
    def claim(self) -> Decimal:
        """Paid beyond what is owed: the clawback claim on the enterprise."""
        return sum((max(self.paid.get(p, Decimal(0)) - self.owed.get(p, Decimal(0)), Decimal(0))
                    for p in set(self.paid) | set(self.owed)), Decimal(0))


@dataclass
class Applied:
    """What ``apply_all`` did: events that changed the ledger, events that changed nothing (applied
    before, or no difference), and payments refused with the reason."""

    changed: int
    unchanged: int
    refused: list[tuple[Event, PaymentRefused]]


@dataclass(frozen=True)
class JournalEntry:
    """One transition of an entitlement, and why."""

    id: str
    event_id: str
    at: dt.date
    credit_code: str
    rule_id: str
    unit: Unit
    clause: str
    rulebook_hash: str
    from_state: State | None
    to_state: State
    owed: dict[str, Decimal]       # change of the amount owed, by payer
    paid: dict[str, Decimal]       # change of the amount paid (or counted as paid), by payer
    record_id: str | None
    reason: str


@dataclass
class _Row:
    """An entitlement's numbers for one payer, in fen."""

    assessed: int = 0
    owed: int = 0
    paid: int = 0


@dataclass
class _Ent:
    rows: dict[str, _Row]
    state: State | None
    record_id: str | None
    deadline: dt.date | None


class Ledger:
    """An entitlement ledger over a database (``open_ledger``); one object per process or thread."""

    def __init__(self, store: Store, rulebook: Rulebook, engine: Engine = "native") -> None:
        self.store = store
        self.book = rulebook
        self.engine: Engine = engine
        # Within one transaction of apply_all on SQLite, which no other writer can interleave with:
        # the clock and whether any flag exists are read once.
        self._cache: dict[str, Any] = {}
        self._bulk = False

    # ------------------------------------------------------------------ applying events
    def apply(self, event: Event) -> list[JournalEntry]:
        """Apply one event; return the journal entries it wrote (none when its id was applied before).

        Raises ``PaymentRefused`` (nothing written) for a payment beyond what is payable, and
        ``LedgerError`` for an id applied before with a different body or a record of an unknown
        enterprise."""
        store = self.store
        body = event_json(event)
        for attempt in range(5):
            try:
                store.begin()   # inside: a connection the server closed (a restart) fails here
                entries = self._apply(event, body)
                store.commit()
                return entries
            except IncentivesError:
                store.rollback()
                raise
            except store.errors as e:
                store.rollback()
                if (store.is_duplicate(e) or store.is_deadlock(e)) and attempt < 4:
                    continue  # another process applied it first, or held what it needed: try again
                raise LedgerUnavailable(f"event {event.id}: database error: {e}") from e
            except BaseException:
                store.rollback()
                raise
        raise LedgerError(f"event {event.id}: could not be applied")  # pragma: no cover

    def apply_all(self, events: Iterable[Event], *, group: int = 500) -> Applied:
        """Apply events in the order given, ``group`` to a transaction: for bulk loads by one writer,
        such as replaying a register. A refused payment undoes only itself (a savepoint) and is
        collected, not raised; any other error is raised after the events before it are applied.
        Where another writer holds an enterprise of the group while waiting for one the group holds
        (PostgreSQL ends the deadlock by failing one transaction), the group's events are applied
        again one to a transaction."""
        store = self.store
        result = Applied(0, 0, [])
        done: list[tuple[Event, bool]] = []   # this transaction's events, and whether each changed the ledger
        self._bulk = store.dialect.name == "sqlite"
        store.begin()
        try:
            for event in events:
                try:
                    changed = self._apply_grouped(event)
                except PaymentRefused as e:
                    result.refused.append((event, e))
                    continue
                except store.errors as e:
                    if not store.is_deadlock(e):
                        raise
                    store.rollback()
                    self._cache.clear()
                    for _, was in done:
                        result.changed -= was
                        result.unchanged -= not was
                    for again in [*(ev for ev, _ in done), event]:
                        try:
                            changed = bool(self.apply(again))
                        except PaymentRefused as refused:
                            result.refused.append((again, refused))
                            continue
                        result.changed += changed
                        result.unchanged += not changed
                    done = []
                    store.begin()
                    continue
                result.changed += changed
                result.unchanged += not changed
                done.append((event, changed))
                if len(done) >= group:
                    store.commit()
                    store.begin()
                    self._cache.clear()
                    done = []
            store.commit()
        except BaseException as e:
            store.rollback()  # the failing event's writes go; the ones before it are applied again
            self._cache.clear()
            self._bulk = False
            for before, _ in done:
                self.apply(before)
            if isinstance(e, store.errors):
                raise LedgerUnavailable(f"database error: {e}", location=Location(_safe(store.url))) from e
            raise
        finally:
            self._cache.clear()
            self._bulk = False
        return result

    def _apply_grouped(self, event: Event) -> bool:
        """Apply one event inside ``apply_all``'s transaction; a refused payment undoes only itself."""
        store = self.store
        if not isinstance(event, PaymentEvent):
            return bool(self._apply(event, event_json(event)))
        store.execute("SAVEPOINT payment")
        try:
            entries = self._apply(event, event_json(event))
        except PaymentRefused:
            store.execute("ROLLBACK TO SAVEPOINT payment")
            store.execute("RELEASE SAVEPOINT payment")
            raise
        store.execute("RELEASE SAVEPOINT payment")
        return bool(entries)

    def _apply(self, event: Event, body: str) -> list[JournalEntry]:
        store = self.store
        store.lock_clock(exclusive=isinstance(event, ClockEvent))
        code = None if isinstance(event, ClockEvent) else event.credit_code
        if code is not None:
            store.lock_enterprise(code)
        inserted = store.execute("INSERT INTO events (id, type, at, credit_code, body) VALUES (?, ?, ?, ?, ?) "
                                 "ON CONFLICT (id) DO NOTHING",
                                 (event.id, event.type, event.at.isoformat(), code, body)).rowcount
        if inserted == 0:
            seen = store.one("SELECT body FROM events WHERE id = ?", (event.id,))
            if seen is not None and seen[0] != body:
                raise LedgerError(f"event id {event.id!r} was applied before with another body", field="id")
            return []
        if isinstance(event, ClockEvent):
            self._cache.pop("clock", None)
            return self._clock(event)
        assert code is not None
        if isinstance(event, RecordEvent):
            self._record(event)
        elif isinstance(event, WithdrawEvent):
            self._version("records", (code, event.record_id), event, None,
                          ("credit_code", "record_id"))
        elif isinstance(event, ConsentEvent):
            self._cache.pop("any flags", None)
            store.execute("INSERT INTO flags (credit_code, rule_id, unit, flag, event_id, at) VALUES (?, ?, ?, ?, ?, ?) "
                          "ON CONFLICT (credit_code, rule_id, unit, flag) DO UPDATE SET event_id = excluded.event_id, "
                          "at = excluded.at WHERE (excluded.at, excluded.event_id) < (flags.at, flags.event_id)",
                          (code, event.rule_id, unit_text(event.unit), event.type, event.id, event.at.isoformat()))
        payment = event if isinstance(event, PaymentEvent) else None
        return self._reassess(code, event, payment)

    def _record(self, event: RecordEvent) -> None:
        code = event.credit_code
        if event.enterprise is not None:
            profile = dict(event.enterprise)
            if str(profile.get("credit_code", "")).strip().upper() != code:
                raise LedgerError(f"enterprise.credit_code {profile.get('credit_code')!r} is not the event's "
                                  f"credit_code {code}", field="enterprise.credit_code")
            self._version("enterprises", (code,), event, json.dumps(profile, ensure_ascii=False),
                          ("credit_code",), body_column="profile",
                          extra={"city": profile.get("city"), "county": profile.get("county")})
        record_id = str(event.record.get("id", ""))
        if not record_id:
            raise LedgerError("a record needs an id", field="record.id")
        self._version("records", (code, record_id), event,
                      json.dumps(event.record, ensure_ascii=False, default=str), ("credit_code", "record_id"))

    def _version(self, table: str, key: tuple[Any, ...], event: Event, body: str | None,
                 key_columns: tuple[str, ...], body_column: str = "body", extra: dict[str, Any] | None = None) -> None:
        """Keep the latest version by ``(at, id)`` of a row: facts converge whatever order they came in."""
        version = f"{event.at.isoformat()}|{event.id}"
        extra = extra or {}
        cols = (*key_columns, "version", body_column, *extra)
        sets = ", ".join(f"{c} = excluded.{c}" for c in ("version", body_column, *extra))
        self.store.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                           f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {sets} "
                           f"WHERE excluded.version > {table}.version", (*key, version, body, *extra.values()))

    # ------------------------------------------------------------------ re-assessment
    def _enterprise(self, code: str) -> Enterprise | None:
        row = self.store.one("SELECT profile FROM enterprises WHERE credit_code = ?", (code,))
        if row is None or row[0] is None:
            return None
        records = ",".join(b for (b,) in self.store.all(
            "SELECT body FROM records WHERE credit_code = ? AND body IS NOT NULL ORDER BY record_id", (code,)))
        try:  # the stored JSON as it is, parsed and validated in one pass by pydantic-core
            enterprise = Enterprise.model_validate_json(f'{{"enterprise":{row[0]},"records":[{records}]}}')
            enterprise.check_terms(self.book.vocabulary)
        except ValidationError as e:
            first = e.errors()[0]
            raise LedgerError(first["msg"].removeprefix("Value error, "),
                              field=".".join(str(p) for p in first["loc"])) from e
        return enterprise

    def _targets(self, enterprise: Enterprise | None) -> dict[Key, tuple[dict[str, int], str, dt.date | None]]:
        """What the facts say each entitlement owes now, by payer, with its record and deadline."""
        if enterprise is None or not enterprise.records:
            return {}
        records = {r.id: r for r in enterprise.records}
        out: dict[Key, tuple[dict[str, int], str, dt.date | None]] = {}
        for row in award_rows(enterprise, self.book, _FAR, engine=self.engine, terms_checked=True):
            if row.status != "fixed" or row.amount is None:
                continue  # up_to, unquantified, non-monetary: nothing determined to owe
            rule = self.book.by_id[row.rule_id]
            record = records[row.record_id]
            key = (row.rule_id, unit_text(unit_of(rule, record)))
            payers = {"unspecified": fen(row.amount)} if row.payers_unspecified or not row.payers else \
                {p: fen(v) for p, v in row.payers.items()}
            have = out.get(key)
            if have is None:
                deadline = rule.rule.payment_deadline.due(record.date) if rule.rule.payment_deadline else None
                out[key] = (payers, record.id, deadline)
            else:  # a rule that pays per record (once_per_record) pays each record of one achievement:
                for payer, amount in payers.items():  # one entitlement owes what assess owes for them all
                    have[0][payer] = have[0].get(payer, 0) + amount
        return out

    def _load(self, code: str) -> dict[Key, _Ent]:
        ents: dict[Key, _Ent] = {}
        for rule_id, unit, payer, assessed, owed, paid, state, record_id, deadline in self.store.all(
                "SELECT rule_id, unit, payer, assessed, owed, paid, state, record_id, deadline FROM entitlements "
                "WHERE credit_code = ?", (code,)):
            ent = ents.setdefault((rule_id, unit), _Ent({}, state, record_id,
                                                         dt.date.fromisoformat(deadline) if deadline else None))
            ent.rows[payer] = _Row(int(assessed), int(owed), int(paid))
        return ents

    def _flags(self, code: str) -> dict[Key, dict[str, tuple[str, str]]]:
        """Notices, confirmations and refusals of each entitlement, with the earliest event of each."""
        flags: dict[Key, dict[str, tuple[str, str]]] = defaultdict(dict)
        if self._bulk:  # most ledgers being loaded in bulk have no flag at all: ask once
            if "any flags" not in self._cache:
                self._cache["any flags"] = self.store.one("SELECT 1 FROM flags LIMIT 1") is not None
            if not self._cache["any flags"]:
                return flags
        for rule_id, unit, flag, at, event_id in self.store.all(
                "SELECT rule_id, unit, flag, at, event_id FROM flags WHERE credit_code = ?", (code,)):
            flags[(rule_id, unit)][flag] = (at, event_id)
        return flags

    def _clock_value(self) -> dt.date | None:
        if "clock" in self._cache:
            return self._cache["clock"]  # type: ignore[no-any-return]
        row = self.store.one("SELECT value FROM ledger_meta WHERE key = 'clock'")
        clock = dt.date.fromisoformat(row[0]) if row else None
        if self._bulk:
            self._cache["clock"] = clock
        return clock

    def _reassess(self, code: str, event: Event, payment: PaymentEvent | None) -> list[JournalEntry]:
        enterprise = self._enterprise(code)
        if enterprise is None and isinstance(event, RecordEvent):
            raise LedgerError(f"the first event of enterprise {code} must carry its profile (enterprise)",
                              field="enterprise")
        targets = self._targets(enterprise)
        old = self._load(code)
        flags = self._flags(code)
        clock = self._clock_value()
        place = (enterprise.profile.city, enterprise.profile.county) if enterprise else (None, None)
        new: dict[Key, _Ent] = {}
        reasons: dict[Key, str] = {}
        for key in sorted(set(old) | set(targets) | ({(payment.rule_id, unit_text(payment.unit))} if payment else set())):
            before = old.get(key)
            target = targets.get(key)
            rows = {p: _Row(r.assessed, r.owed, r.paid) for p, r in (before.rows.items() if before else ())}
            for row in rows.values():
                row.assessed = 0
            payers, record_id, deadline = target if target else ({}, before.record_id if before else None,
                                                                  before.deadline if before else None)
            for payer, amount in payers.items():
                rows.setdefault(payer, _Row()).assessed = amount
            new[key] = _Ent(rows, None, record_id, deadline)
        if payment is not None:
            self._pay(code, new, payment, flags.get((payment.rule_id, unit_text(payment.unit)), {}))
        for key, ent in new.items():
            f = flags.get(key, {})
            assessed = sum(r.assessed for r in ent.rows.values())
            paid = sum(r.paid for r in ent.rows.values())
            expired = ent.deadline is not None and clock is not None and clock > ent.deadline and paid < assessed
            for row in ent.rows.values():  # declined: nothing is owed; expired: what was paid in time
                row.owed = 0 if "declined" in f else min(row.assessed, row.paid) if expired else row.assessed
            reasons[key] = ("declined by the enterprise" if "declined" in f else
                            f"兑现时限 {ent.deadline} passed" if expired else "")
        self._offset(new)
        return self._write(code, event, old, new, flags, reasons, place)

    def _pay(self, code: str, new: dict[Key, _Ent], payment: PaymentEvent, flags: dict[str, tuple[str, str]]) -> None:
        """Count a payment, or refuse it (nothing written) when it is more than is payable: what the
        facts owe less what was paid, before the enterprise declined and within the 兑现时限 (judged
        by the payment's own date, so that a late-arriving payment is judged as in date order)."""
        key = (payment.rule_id, unit_text(payment.unit))
        ent = new[key]
        row = ent.rows.get(payment.payer)
        amount = fen(payment.amount)
        what = f"payment of {yuan(amount)} by {payment.payer} on {payment.rule_id} {list(payment.unit)} for {code}"
        declined = flags.get("declined")
        if declined is not None and (payment.at.isoformat(), payment.id) > declined:
            raise PaymentRefused(f"{what}: the enterprise declined it ({declined[1]})", field="amount")
        if ent.deadline is not None and payment.at > ent.deadline:
            raise PaymentRefused(f"{what}: dated after its 兑现时限 {ent.deadline}", field="at")
        if payment.rule_id not in self.book.by_id:
            raise PaymentRefused(f"{what}: no rule {payment.rule_id} in the rulebook", field="rule_id")
        if not ent.rows:   # nothing owed or paid on it, ever: perhaps not yet, so this may be retried
            raise PaymentRefused(f"{what}: {code} has no entitlement {payment.rule_id} {list(payment.unit)} "
                                 "in the ledger", field="unit")
        if row is None:
            raise PaymentRefused(f"{what}: {payment.rule_id} {list(payment.unit)} is not paid by {payment.payer} "
                                 f"(its payers: {', '.join(sorted(ent.rows))})", field="payer")
        payable = row.assessed - row.paid
        if amount > payable:
            raise PaymentRefused(f"{what} exceeds the {yuan(max(payable, 0))} payable", field="amount")
        row.paid += amount

    @staticmethod
    def _offset(new: dict[Key, _Ent]) -> None:
        """Money paid beyond what one entitlement now owes counts as paid on another the same payer
        owes the same enterprise, before anything more is paid: a backdated record never makes the
        enterprise paid twice for one cap."""
        by_payer: dict[str, tuple[list[_Row], list[_Row]]] = defaultdict(lambda: ([], []))
        for key in sorted(new):
            for payer, row in new[key].rows.items():
                if row.paid > row.owed:
                    by_payer[payer][0].append(row)
                elif row.owed > row.paid:
                    by_payer[payer][1].append(row)
        for over, under in by_payer.values():
            for source in over:
                for sink in under:
                    moved = min(source.paid - source.owed, sink.owed - sink.paid)
                    if moved > 0:
                        source.paid -= moved
                        sink.paid += moved

    def _write(self, code: str, event: Event, old: dict[Key, _Ent], new: dict[Key, _Ent],
               flags: dict[Key, dict[str, tuple[str, str]]],
               reasons: dict[Key, str], place: tuple[str | None, str | None]) -> list[JournalEntry]:
        store = self.store
        entries: list[JournalEntry] = []
        journal_rows: list[tuple[Any, ...]] = []
        posting_rows: list[tuple[Any, ...]] = []
        ent_rows: list[tuple[Any, ...]] = []
        at = event.at.isoformat()
        for key in sorted(new):
            ent, before = new[key], old.get(key)
            f = flags.get(key, {})
            owed = sum(r.owed for r in ent.rows.values())
            paid = sum(r.paid for r in ent.rows.values())
            ent.state = books.state(owed, paid, declined="declined" in f, expired="兑现时限" in reasons[key],
                                    confirmed="confirmed" in f, notified="notified" in f)
            transfers: list[Transfer] = []
            owed_delta: dict[str, int] = {}
            paid_delta: dict[str, int] = {}
            for payer, row in ent.rows.items():
                was = before.rows.get(payer, _Row()) if before else _Row()
                if row.owed != was.owed:
                    transfers += books.reassess(code, payer, was.owed, was.paid, row.owed)
                    owed_delta[payer] = row.owed - was.owed
                if row.paid != was.paid:
                    transfers += books.repay(code, payer, row.owed, was.paid, row.paid)
                    paid_delta[payer] = row.paid - was.paid
            changed = before is None or before.state != ent.state or transfers or \
                before.record_id != ent.record_id
            if before is None and not ent.rows:
                changed = False
            if not changed:
                continue
            n = len(entries)
            entry_id = f"{event.id}#{n}"
            rule = self.book.by_id.get(key[0])
            clause = f"{rule.document.number or rule.rule.cite.document} {rule.rule.cite.clause}" if rule else "?"
            reason = _reason(event, before.state if before else None, ent.state, owed_delta, paid_delta, reasons[key])
            entry = JournalEntry(entry_id, event.id, event.at, code, key[0], tuple(json.loads(key[1])), clause,
                                 self.book.hash, before.state if before else None, ent.state,
                                 {p: yuan(v) for p, v in owed_delta.items()}, {p: yuan(v) for p, v in paid_delta.items()},
                                 ent.record_id, reason)
            entries.append(entry)
            journal_rows.append((entry_id, event.id, at, code, key[0], key[1], clause, self.book.hash,
                                 entry.from_state, entry.to_state, json.dumps(owed_delta, sort_keys=True),
                                 json.dumps(paid_delta, sort_keys=True), ent.record_id, reason))
            for i, t in enumerate(transfers):
                posting_rows.append((f"{entry_id}.{i}", entry_id, t.debit, t.credit, t.amount, t.payer, code, key[0],
                                     place[1], at))
            for payer, row in ent.rows.items():
                ent_rows.append((code, key[0], key[1], payer, row.assessed, row.owed, row.paid, ent.state,
                                 ent.record_id, ent.deadline.isoformat() if ent.deadline else None, place[0], place[1]))
        store.executemany(store._sql(
            "INSERT INTO journal (id, event_id, at, credit_code, rule_id, unit, clause, rulebook_hash, from_state, "
            "to_state, owed, paid, record_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), journal_rows)
        store.executemany(store._sql(
            "INSERT INTO postings (id, journal_id, debit, credit, amount, payer, credit_code, rule_id, county, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), posting_rows)
        store.executemany(store._sql(
            "INSERT INTO entitlements (credit_code, rule_id, unit, payer, assessed, owed, paid, state, record_id, "
            "deadline, city, county) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (credit_code, rule_id, unit, payer) DO UPDATE SET assessed = excluded.assessed, "
            "owed = excluded.owed, paid = excluded.paid, state = excluded.state, record_id = excluded.record_id, "
            "deadline = excluded.deadline, city = excluded.city, county = excluded.county"), ent_rows)
        return entries

    def _clock(self, event: ClockEvent) -> list[JournalEntry]:
        store = self.store
        clock = self._clock_value()
        if clock is None or event.at > clock:
            store.execute("INSERT INTO ledger_meta (key, value) VALUES ('clock', ?) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (event.at.isoformat(),))
            self._cache.pop("clock", None)
        due = [c for (c,) in store.all("SELECT DISTINCT credit_code FROM entitlements WHERE deadline IS NOT NULL "
                                       "AND deadline < ? AND paid < assessed AND state NOT IN ('expired', 'declined') "
                                       "ORDER BY credit_code", (event.at.isoformat(),))]
        entries: list[JournalEntry] = []
        for code in due:
            entries += self._reassess(code, _Scoped(event, code), None)  # type: ignore[arg-type]
        return entries

    # ------------------------------------------------------------------ reading
    def entitlements(self, credit_code: str | None = None) -> list[Entitlement]:
        """Every entitlement (of one enterprise when given), in a stable order."""
        where, params = ("WHERE credit_code = ?", (credit_code,)) if credit_code else ("", ())
        grouped: dict[tuple[str, str, str], list[tuple[Any, ...]]] = defaultdict(list)
        for row in self.store.all("SELECT credit_code, rule_id, unit, payer, owed, paid, state, record_id, deadline "
                                  f"FROM entitlements {where} ORDER BY credit_code, rule_id, unit, payer", params):
            grouped[(row[0], row[1], row[2])].append(row)
        out = []
        for (code, rule_id, unit), rows in grouped.items():
            first = rows[0]
            out.append(Entitlement(code, rule_id, tuple(json.loads(unit)), first[6],
                                   {r[3]: yuan(int(r[4])) for r in rows},
                                   {r[3]: yuan(int(r[5])) for r in rows if int(r[5])}, first[7],
                                   dt.date.fromisoformat(first[8]) if first[8] else None))
        return out

    def journal(self, credit_code: str | None = None) -> list[JournalEntry]:
        """The journal in the order written (of one enterprise when given)."""
        where, params = ("WHERE credit_code = ?", (credit_code,)) if credit_code else ("", ())
        out = []
        for row in self.store.all("SELECT id, event_id, at, credit_code, rule_id, unit, clause, rulebook_hash, "
                                  f"from_state, to_state, owed, paid, record_id, reason FROM journal {where} "
                                  "ORDER BY seq", params):
            out.append(JournalEntry(row[0], row[1], dt.date.fromisoformat(row[2]), row[3], row[4],
                                    tuple(json.loads(row[5])), row[6], row[7], row[8], row[9],
                                    {p: yuan(v) for p, v in json.loads(row[10]).items()},
                                    {p: yuan(v) for p, v in json.loads(row[11]).items()}, row[12], row[13]))
        return out

    def balances(self, credit_code: str | None = None) -> dict[tuple[str, str], Decimal]:
        """Balance (credits minus debits) of each (account, payer), from the postings alone."""
        where, params = ("WHERE credit_code = ?", (credit_code,)) if credit_code else ("", ())
        totals: dict[tuple[str, str], int] = defaultdict(int)
        for debit, credit, payer, amount in self.store.all(
                f"SELECT debit, credit, payer, SUM(amount) FROM postings {where} GROUP BY debit, credit, payer", params):
            totals[(debit, payer)] -= int(amount)
            totals[(credit, payer)] += int(amount)
        return {k: yuan(v) for k, v in sorted(totals.items()) if v}

    def report(self, by: Literal["payer", "county", "programme", "month"]) -> list[tuple[str, Decimal, Decimal]]:
        """Committed against paid (net of claims settled), grouped ``by`` payer, county, programme
        (the rule's source document) or month (of the event that moved the money)."""
        column = {"payer": "payer", "county": "county", "programme": "rule_id", "month": "substr(at, 1, 7)"}[by]
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for key, debit, credit, amount in self.store.all(
                f"SELECT {column}, debit, credit, SUM(amount) FROM postings GROUP BY {column}, debit, credit"):
            if by == "programme":
                rule = self.book.by_id.get(key)
                key = (rule.document.number or rule.rule.cite.document) if rule else key
            key = key or "-"
            if debit.startswith("commitment:"):
                sums[key][0] += int(amount)
            if credit.startswith("commitment:"):
                sums[key][0] -= int(amount)
            if credit.startswith("paid:"):
                sums[key][1] += int(amount)
            if debit.startswith("paid:"):
                sums[key][1] -= int(amount)
        return [(k, yuan(c), yuan(p)) for k, (c, p) in sorted(sums.items())]

    def close(self) -> None:
        self.store.close()


@dataclass(frozen=True)
class _Scoped:
    """A clock event as it reaches one enterprise."""

    inner: ClockEvent
    credit_code: str

    @property
    def id(self) -> str:
        return f"{self.inner.id}@{self.credit_code}"

    @property
    def at(self) -> dt.date:
        return self.inner.at

    type = "clock"


def _reason(event: Event, before: State | None, after: State, owed: dict[str, int], paid: dict[str, int],
            why: str) -> str:
    parts = [f"{event.type} {event.id}"]
    if why:
        parts.append(why)
    if owed:
        parts.append("owed " + ", ".join(f"{p} {'+' if v > 0 else ''}{yuan(v)}" for p, v in sorted(owed.items())))
    if paid:
        parts.append("paid " + ", ".join(f"{p} {'+' if v > 0 else ''}{yuan(v)}" for p, v in sorted(paid.items())))
    if after == "clawed_back" and before != "clawed_back":
        parts.append("paid beyond what is owed now: a clawback claim")
    return "; ".join(parts)


def open_ledger(url: str | Path, rulebook: Rulebook, *, engine: Engine = "native") -> Ledger:
    """A ledger over ``url`` (a SQLite path, ``sqlite:///…`` or ``postgresql://…``), migrated to
    the current schema. ``engine="durable"`` decides which rules each re-assessment matches with
    durable_rules instead of the native compiled predicates (the same entitlements; slower, see
    docs/design.md)."""
    if not str(url):
        raise LedgerError("no database given", location=Location(""))
    return Ledger(Store(url), rulebook, engine)
