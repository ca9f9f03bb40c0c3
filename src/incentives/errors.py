"""Every error the library raises on purpose.

    IncentivesError                 root: catch this to handle any bad input
    ├── SourceError                 a file could not be read or parsed (YAML syntax, unsafe tag)
    ├── FactsError                  an enterprise fact file breaks the facts schema
    ├── VocabularyError             a term is not in the controlled vocabulary
    ├── RulebookError               a rule file breaks the rule-file format or its references
    │   ├── ExpressionError         an expression does not read or its types do not fit (at the token)
    │   └── LintWarning             a likely mistake that does not stop the file loading
    ├── MoneyError                  an amount of money or a share cannot be read exactly
    ├── EngineError                 a matcher failed while assessing (wraps durable_rules errors)
    ├── LedgerError                 an event the ledger cannot apply, or a database it cannot use
    │   ├── PaymentRefused          a payment beyond what is payable (nothing is written; retry later)
    │   └── LedgerUnavailable       the ledger's database cannot be reached or failed (retry later)
    ├── ResumeError                 a batch cannot be resumed: its inputs, rules or options changed (docs/batch.md)
    └── ArgumentError               a public function was called with an argument of the wrong type
                                    (also a ``TypeError``)

Each error carries where it happened (``path``, ``line``, ``column``, ``field``) so that messages
read ``file:line:col: message``. Low-level failures are chained with ``raise ... from e``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Location:
    """A place in a source file: 1-based line and column, either may be unknown."""

    path: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.path or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class IncentivesError(Exception):
    """Root of every error this library raises for bad input or a failed assessment."""

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        field: str | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message
        self.location = location or Location()
        self.field = field
        self.code = code
        super().__init__(str(self))

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep location, field and code across processes (batch workers send errors back pickled).
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __str__(self) -> str:
        where = str(self.location)
        field = f" {self.field}:" if self.field else ""
        code = f" {self.code}:" if self.code else ""
        return f"{where}:{code}{field} {self.message}"


def _rebuild(cls: type[IncentivesError], state: dict[str, Any]) -> IncentivesError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, str(error))
    return error


class SourceError(IncentivesError):
    """A file could not be read, or is not safe, well-formed YAML/JSON."""


class FactsError(IncentivesError):
    """Enterprise facts do not fit the facts schema. ``problems`` holds every problem found in the
    facts (this error is the first of them), so one run can report them all."""

    def __init__(self, message: str, *, problems: list[IncentivesError] | None = None, **kw: object) -> None:
        self.problems = problems or []
        super().__init__(message, **kw)  # type: ignore[arg-type]


class VocabularyError(IncentivesError):
    """A term is not in the controlled vocabulary; ``suggestion`` names the closest known one.
    ``problems`` lists every unknown term of the file when there are several."""

    def __init__(self, message: str, *, suggestion: str | None = None,
                 problems: list[IncentivesError] | None = None, **kw: object) -> None:
        self.suggestion = suggestion
        self.problems = problems or []
        super().__init__(message, **kw)  # type: ignore[arg-type]


class RulebookError(IncentivesError):
    """A rule file does not fit the rule-file format or refers to something that does not exist.

    ``problems`` holds every problem found in the file, so one run can report them all.
    """

    def __init__(self, message: str, *, problems: list[IncentivesError] | None = None, **kw: object) -> None:
        self.problems = problems or []
        super().__init__(message, **kw)  # type: ignore[arg-type]


class FactsSchemaError(RulebookError):
    """The facts schema (``facts.yaml``) or a vocabulary list naming a field it lacks is wrong."""


class LintWarning(RulebookError):
    """A likely mistake in a rule file that does not stop it loading (lint reports it, exit 0)."""


class ExpressionError(RulebookError):
    """An expression does not read, or adds, compares or returns values of the wrong dimension.

    ``offset`` is the 0-based position of the offending token in the expression's text; once the
    text's place in a file is known the location points at that token.
    """

    def __init__(self, message: str, *, offset: int | None = None, **kw: object) -> None:
        self.offset = offset
        super().__init__(message, **kw)  # type: ignore[arg-type]


class MoneyError(IncentivesError):
    """An amount, rate or share cannot be read exactly."""


class EngineError(IncentivesError):
    """A matcher failed while assessing an enterprise."""


class LedgerError(IncentivesError):
    """An event the ledger cannot apply (bad, or in conflict with one already applied), or a database
    the ledger cannot open or migrate."""


class PaymentRefused(LedgerError):
    """A payment for more than is payable on an entitlement now; nothing was written."""


class LedgerUnavailable(LedgerError):
    """The ledger's database cannot be reached, or failed while it was used (a server restarted, a file
    locked past the wait): nothing of the event was written, and the same event may be sent again."""


class ArgumentError(IncentivesError, TypeError):
    """A public function got an argument of the wrong type or value (a dict where an ``Enterprise`` goes)."""


def expect(value: Any, types: type | tuple[type, ...], name: str, hint: str = "", wanted: str = "") -> None:
    """Raise ``ArgumentError`` unless ``value`` is one of ``types`` (called ``wanted`` in the message, if given):
    public functions check what they are given."""
    if not isinstance(value, types):
        wanted = wanted or " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ArgumentError(f"must be {wanted}, not {type(value).__name__}" + (f": {hint}" if hint else ""),
                            field=name)


class ResumeError(IncentivesError):
    """A run cannot be resumed: its inputs, rules or options changed since it began, or its partial
    results no longer match their checkpoint."""
