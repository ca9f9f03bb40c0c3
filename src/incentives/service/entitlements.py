"""Ledger routes (``incentives serve --ledger URL``): apply events, read entitlements, journal and report.

Each worker thread keeps its own ``Ledger`` (one object per thread, as the ledger asks), opened anew
when the rulebook served changes, so a reload reaches the ledger too.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any, Callable, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from incentives import _yaml
from incentives.errors import LedgerError, LedgerUnavailable, Location
from incentives.ledger import Entitlement, JournalEntry, Ledger, open_ledger, parse_event
from incentives.service.live import LiveRulebook

T = TypeVar("T")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class EntitlementOut(_Out):
    credit_code: str
    rule_id: str
    unit: list[str | int]
    state: str
    owed: dict[str, Decimal]
    paid: dict[str, Decimal]
    payable: dict[str, Decimal]
    claim: Decimal
    record_id: str | None
    deadline: dt.date | None


class JournalOut(_Out):
    id: str
    event_id: str
    at: dt.date
    credit_code: str
    rule_id: str
    unit: list[str | int]
    clause: str
    rulebook_hash: str
    from_state: str | None
    to_state: str
    owed: dict[str, Decimal]
    paid: dict[str, Decimal]
    record_id: str | None
    reason: str


class Applied(_Out):
    events: int
    written: int
    journal: list[JournalOut]


class ReportLine(_Out):
    key: str
    committed: Decimal
    paid: Decimal


def _entitlement(e: Entitlement) -> EntitlementOut:
    return EntitlementOut(credit_code=e.credit_code, rule_id=e.rule_id, unit=list(e.unit), state=e.state, owed=e.owed,
                          paid=e.paid, payable=e.payable, claim=e.claim, record_id=e.record_id, deadline=e.deadline)


def _journal(j: JournalEntry) -> JournalOut:
    return JournalOut(id=j.id, event_id=j.event_id, at=j.at, credit_code=j.credit_code, rule_id=j.rule_id,
                      unit=list(j.unit), clause=j.clause, rulebook_hash=j.rulebook_hash, from_state=j.from_state,
                      to_state=j.to_state, owed=j.owed, paid=j.paid, record_id=j.record_id, reason=j.reason)


def mount(app: FastAPI, live: LiveRulebook, url: str, compute: Any) -> None:
    """Add ``/v1/ledger/...`` over the ledger at ``url``; ``compute`` runs work in the thread pool."""
    local = threading.local()

    def forget() -> None:
        led, local.ledger, local.hash = getattr(local, "ledger", None), None, None
        if led is not None:
            try:
                led.close()
            except Exception:  # noqa: BLE001 - a connection the server already closed may fail to close
                pass

    def ledger(book_hash: str, work: Callable[[Ledger], T]) -> T:
        """``work`` on this thread's ledger, opened anew when the rules served change. A connection the
        database lost (a server restart) is opened again, once, before the request fails as
        ``LedgerUnavailable`` (503): events are applied again safely, an id applied before changing nothing."""
        for attempt in (1, 2):
            led: Ledger | None = None
            try:
                if getattr(local, "hash", None) != book_hash:
                    forget()
                    local.ledger, local.hash = open_ledger(url, live.current.book), book_hash
                led = local.ledger
                return work(led)
            except LedgerUnavailable:
                forget()
                if attempt == 2:
                    raise
            except Exception as e:
                if led is None or not isinstance(e, led.store.errors):
                    raise
                forget()
                if attempt == 2:
                    raise LedgerUnavailable(f"database error: {e}", location=Location("<ledger>")) from e
        raise AssertionError("unreachable")  # pragma: no cover

    @app.post("/v1/ledger/events", response_model=Applied, tags=["ledger"],
              summary="Apply events in order: records added, corrected or withdrawn, consent, payments, clock",
              description="The body is one event as JSON, or JSON Lines of events. A payment beyond what is "
                          "payable is refused (409) and nothing of that event is written.")
    async def events(request: Request) -> Response:
        body = await request.body()

        def apply(loaded: Any) -> Applied:
            # every line read before any is applied: bytes that are not UTF-8 or a line that is not an event
            # write nothing (a ledger keeps what it is told for ever)
            text = _yaml.decode(body, "<body>")
            events = [parse_event(_yaml.parse_json(line, "<body>", number), Location("<body>", number))
                      for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
            if not events:
                raise LedgerError("no event in the body", location=Location("<body>", 1))
            def each(led: Ledger) -> list[JournalEntry]:
                return [entry for event in events for entry in led.apply(event)]

            written = ledger(loaded.book.hash, each)
            return Applied(events=len(events), written=len(written), journal=[_journal(j) for j in written])

        return Response((await compute(request, apply)).model_dump_json(), media_type="application/json")

    @app.get("/v1/ledger/entitlements", response_model=list[EntitlementOut], tags=["ledger"],
             summary="Entitlements now: owed, paid and payable by payer, state, 兑现时限")
    async def entitlements(request: Request, credit_code: str | None = None) -> list[EntitlementOut]:
        found: list[EntitlementOut] = await compute(
            request, lambda lo: [_entitlement(e) for e in ledger(lo.book.hash, lambda led: led.entitlements(credit_code))])
        return found

    @app.get("/v1/ledger/journal", response_model=list[JournalOut], tags=["ledger"],
             summary="The journal: every transition of every entitlement, and why")
    async def journal(request: Request, credit_code: str | None = None) -> list[JournalOut]:
        found: list[JournalOut] = await compute(
            request, lambda lo: [_journal(j) for j in ledger(lo.book.hash, lambda led: led.journal(credit_code))])
        return found

    @app.get("/v1/ledger/report", response_model=list[ReportLine], tags=["ledger"],
             summary="Committed against paid, by payer, county, programme or month")
    async def report(request: Request, by: Literal["payer", "county", "programme", "month"] = "payer") -> list[ReportLine]:
        rows = await compute(request, lambda lo: ledger(lo.book.hash, lambda led: led.report(by)))
        return [ReportLine(key=k, committed=c, paid=p) for k, c, p in rows]
