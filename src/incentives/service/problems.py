"""Errors as ``application/problem+json`` (RFC 9457), with the located field path of bad input."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from incentives import FactsError, IncentivesError, RulebookError, SourceError, VocabularyError
from incentives.errors import LedgerError, LedgerUnavailable, PaymentRefused

MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """What went wrong with a request: ``field`` and ``location`` say where in the request body or query."""

    type: str = Field(default="about:blank", description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str
    field: str | None = Field(default=None, description="the path of the bad field, e.g. records.0.title")
    location: str | None = Field(default=None, description="where in the body: <body>:line:column")
    code: str | None = None
    suggestion: str | None = Field(default=None, description="the closest known term, for an unknown one")


_KINDS: tuple[tuple[type[IncentivesError], str, str, int], ...] = (
    (SourceError, "source", "The request body cannot be read", 400),
    (VocabularyError, "vocabulary", "A term is not in the vocabulary", 422),
    (FactsError, "facts", "The facts do not fit the facts schema", 422),
    (RulebookError, "rulebook", "The rulebook refuses this", 422),
    (PaymentRefused, "payment-refused", "More than is payable now", 409),
    (LedgerUnavailable, "ledger-unavailable", "The ledger's database cannot be reached now", 503),
    (LedgerError, "ledger", "The ledger cannot apply this", 422),
    (IncentivesError, "input", "Bad input", 422),
)


def from_error(error: IncentivesError) -> Problem:
    """The problem for a library error: its kind, message, field path and location in the body."""
    for cls, slug, title, status in _KINDS:
        if isinstance(error, cls):
            break
    location = str(error.location) if error.location.path else None
    return Problem(type=f"urn:incentives:problem:{slug}", title=title, status=status, detail=error.message,
                   field=error.field, location=location, code=error.code,
                   suggestion=getattr(error, "suggestion", None))


def from_validation(errors: list[Any]) -> Problem:
    """The problem for a request FastAPI could not validate (query, path or body), first error first."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = ".".join(str(part) for part in first.get("loc", ()))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return Problem(type="urn:incentives:problem:request", title="The request does not fit this route", status=422,
                   detail=str(first.get("msg", "invalid")).removeprefix("Value error, ") + more, field=field or None)


def plain(status: int, title: str, detail: str, slug: str | None = None) -> Problem:
    return Problem(type=f"urn:incentives:problem:{slug}" if slug else "about:blank", title=title, status=status,
                   detail=detail)
