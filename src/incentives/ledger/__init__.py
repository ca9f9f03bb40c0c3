"""The entitlement ledger (免申即享): what was owed, notified, confirmed and paid, over time.

>>> from incentives import load_rulebook                                  # doctest: +SKIP
>>> from incentives.ledger import open_ledger, parse_event
>>> ledger = open_ledger("ledger.db", load_rulebook("rules/"))            # or postgresql://…
>>> ledger.apply(parse_event({...}))                                      # journal entries written
>>> ledger.entitlements("91131000…")                                     # owed, paid, state, payable

It imports only the public core (facts, rulebook, engine); the engine's ``assess`` stays pure. See
docs/ledger.md for the states, the journal, the books and how a platform wires them.
"""

from __future__ import annotations

from incentives.errors import LedgerError, LedgerUnavailable, PaymentRefused
from incentives.ledger._ledger import Applied, Entitlement, JournalEntry, Ledger, open_ledger, unit_of
from incentives.ledger.books import STATES, State
from incentives.ledger.events import (ClockEvent, ConsentEvent, Event, PaymentEvent, RecordEvent, WithdrawEvent,
                                      parse_event, read_events, record_events)

__all__ = [
    "STATES", "Applied", "ClockEvent", "ConsentEvent", "Entitlement", "Event", "JournalEntry", "Ledger", "LedgerError",
    "LedgerUnavailable", "PaymentEvent", "PaymentRefused", "RecordEvent", "State", "WithdrawEvent", "open_ledger", "parse_event",
    "read_events", "record_events", "unit_of",
]
