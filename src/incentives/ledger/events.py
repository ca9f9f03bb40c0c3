"""Events a ledger applies: facts arriving about an enterprise, and what a platform did about them.

Every event has a caller-supplied ``id`` (applying it again is a no-op) and a date ``at``; events
are ordered by ``(at, id)``. A JSONL file holds one event per line, e.g.::

    {"id": "e1", "type": "record_added", "at": "2026-03-01", "credit_code": "91131000…",
     "enterprise": {"name": "…", "credit_code": "91131000…", "city": "langfang", "county": "xianghe"},
     "record": {"id": "r1", "kind": "recognition", "date": "2026-03-01", "title": "cluster_leader",
                "level": "provincial"}}
    {"id": "e2", "type": "payment_confirmed", "at": "2026-04-01", "credit_code": "91131000…",
     "rule_id": "lf.leader.provincial", "unit": ["enterprise"], "payer": "city", "amount": "150000.00"}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from incentives._yaml import decode, parse_json
from incentives.errors import LedgerError, Location, SourceError
from incentives.facts import Enterprise, validate_credit_code
from incentives.money import FEN, Money


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    at: dt.date
    credit_code: str

    _code = field_validator("credit_code")(classmethod(lambda cls, v: validate_credit_code(v)))

    @property
    def order(self) -> tuple[dt.date, str]:
        """The one order of events: by date, then id."""
        return (self.at, self.id)


class RecordEvent(_Event):
    """A record added or corrected (the whole record; the latest by ``(at, id)`` wins).

    ``enterprise`` is the profile; required with the first event of an enterprise, and when given
    later it replaces the profile (the latest by ``(at, id)`` wins)."""

    type: Literal["record_added", "record_corrected"]
    enterprise: dict[str, Any] | None = None
    record: dict[str, Any]


class WithdrawEvent(_Event):
    """A record withdrawn (reported in error, or revoked): it no longer counts."""

    type: Literal["record_withdrawn"]
    record_id: str = Field(min_length=1)


class _EntitlementEvent(_Event):
    rule_id: str = Field(min_length=1)
    unit: tuple[str | int, ...] = Field(min_length=1, description="what the rule pays once for, as the ledger shows it")


class ConsentEvent(_EntitlementEvent):
    """The platform notified the enterprise, or the enterprise confirmed (意愿确认) or declined."""

    type: Literal["notified", "confirmed", "declined"]


class PaymentEvent(_EntitlementEvent):
    """Money paid (拨付到账) by one payer on one entitlement."""

    type: Literal["payment_confirmed"]
    payer: str = Field(min_length=1)
    amount: Money = Field(gt=0)

    @field_validator("amount")
    @classmethod
    def _whole_fen(cls, amount: Decimal) -> Decimal:
        """Money paid is whole fen: ``0.001`` is refused, not rounded to a payment of nothing."""
        if amount != amount.quantize(FEN):
            raise ValueError(f"a payment is whole fen (0.01 yuan): {amount} has more than two decimal places")
        return amount


class ClockEvent(BaseModel):
    """A day has passed: entitlements whose 兑现时限 is before ``at`` and not fully paid expire."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200)
    type: Literal["clock"]
    at: dt.date

    @property
    def order(self) -> tuple[dt.date, str]:
        return (self.at, self.id)


Event = Annotated[Union[RecordEvent, WithdrawEvent, ConsentEvent, PaymentEvent, ClockEvent],
                  Field(discriminator="type")]
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: dict[str, Any] | str, location: Location | None = None) -> Event:
    """One event from a dict or a JSON text; ``LedgerError`` naming the field of the first problem."""
    try:
        if isinstance(data, str):
            return _ADAPTER.validate_json(data)
        return _ADAPTER.validate_python(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = [str(p) for p in first["loc"] if str(p) not in _TYPES]
        more = f" (and {len(e.errors()) - 1} more problem(s))" if len(e.errors()) > 1 else ""
        raise LedgerError(first["msg"].removeprefix("Value error, ") + more, location=location,
                          field=".".join(loc) or "<event>") from e


_TYPES = {"record_added", "record_corrected", "record_withdrawn", "notified", "confirmed", "declined",
          "payment_confirmed", "clock"}


def read_events(path: str | Path) -> Iterator[Event]:
    """The events of a JSONL file, one per line (blank lines skipped), errors located to the line."""
    return (event for event, _ in located_events(path))


def located_events(path: str | Path) -> Iterator[tuple[Event, Location]]:
    """``read_events`` with the line of each event, for errors found when it is applied."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as e:
        raise LedgerError(e.strerror or "cannot read", location=Location(str(path))) from e
    with handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = decode(raw, str(path))
            except SourceError as e:   # located in the line: the line is this one
                raise LedgerError(e.message, location=Location(str(path), number, e.location.column)) from e
            if not line.strip():
                continue
            where = Location(str(path), number, 1)
            try:
                data = parse_json(line, str(path), number)
            except SourceError as e:
                ends = line.rstrip("\n").find("\n")   # decoded, a carriage return alone reads as a line end
                if ends >= 0:   # but ends no line of the file (old Mac text): every event is on line 1
                    raise LedgerError("the lines end with a carriage return alone: end each event's line with a "
                                      "newline (\\n or \\r\\n)", location=Location(str(path), number, ends + 1)) from e
                raise LedgerError(e.message.replace("not valid JSON", "not JSON"), location=e.location) from e
            if not isinstance(data, dict):
                raise LedgerError("an event is a JSON object", location=where)
            yield parse_event(data, where), where


def event_json(event: Event) -> str:
    """The event as canonical JSON (what is stored, and compared when an id is applied again)."""
    return event.model_dump_json(exclude_none=True)


def record_events(enterprise: Enterprise, at: dt.date | None = None) -> list[RecordEvent]:
    """One ``record_added`` event per record of ``enterprise`` (a register row, a fact file), dated
    ``at`` or else the record's own date. The id names the enterprise, the record and a digest of
    its content, so applying the same register twice is a no-op and a changed record is a new event."""
    profile = enterprise.profile.model_dump(mode="json", exclude_none=True)
    out = []
    for record in enterprise.records:
        body = record.model_dump(mode="json", exclude_none=True)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]
        day = at or record.date
        out.append(RecordEvent(id=f"{day.isoformat()}:{enterprise.profile.credit_code}:{record.id}:{digest}",
                               type="record_added", at=day, credit_code=enterprise.profile.credit_code,
                               enterprise=profile, record=body))
    return out
