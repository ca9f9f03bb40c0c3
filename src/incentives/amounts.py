"""Amount forms of a rule and how each is priced for one record, exactly.

Forms: ``fixed``; ``rate``/``matching`` of a money fact with an optional ``cap`` (``discretionary``
makes the result a ceiling, 不超过); ``up_to`` a ceiling; ``brackets`` (tiers by a base, each with
inclusive or exclusive bounds, its own amount and optional extra conditions); ``multiplier`` of
another rule's amount with its own cap; ``unquantified``; ``non_monetary``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from decimal import Decimal
from typing import Any, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from incentives.conditions import All, Condition, Facts, Truth, evaluate
from incentives.money import Factor, Money, Rate, to_fen

FORMS = ("fixed", "rate", "matching", "up_to", "brackets", "multiplier", "unquantified", "non_monetary")
Status = Literal["fixed", "up_to", "unquantified", "non_monetary"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Tier(_Strict):
    """One bracket: bounds on the base (any of at_least / more_than / at_most / less_than), the
    amount for it (``fixed``, or ``rate`` of the base with optional ``cap``), extra conditions."""

    at_least: Money | None = None
    more_than: Money | None = None
    at_most: Money | None = None
    less_than: Money | None = None
    fixed: Money | None = None
    rate: Rate | None = None
    cap: Money | None = None
    when: list[Condition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_amount(self) -> Tier:
        if (self.fixed is None) == (self.rate is None):
            raise ValueError("a tier has exactly one of fixed or rate")
        if self.cap is not None and self.rate is None:
            raise ValueError("'cap' goes with a tier's rate only")
        if self.at_least is not None and self.more_than is not None:
            raise ValueError("a tier has at most one lower bound (at_least or more_than)")
        if self.at_most is not None and self.less_than is not None:
            raise ValueError("a tier has at most one upper bound (at_most or less_than)")
        return self

    def contains(self, base: Decimal) -> bool:
        return ((self.at_least is None or base >= self.at_least) and (self.more_than is None or base > self.more_than)
                and (self.at_most is None or base <= self.at_most) and (self.less_than is None or base < self.less_than))

    def bounds(self) -> str:
        parts = [f"{op} {v}" for op, v in (("≥", self.at_least), (">", self.more_than), ("≤", self.at_most),
                                           ("<", self.less_than)) if v is not None]
        return " and ".join(parts) or "any"


class Brackets(_Strict):
    of: str
    tiers: list[Tier] = Field(min_length=1)


class Amount(_Strict):
    """Exactly one form (see the module docstring); ``of`` names the money fact a rate applies to."""

    fixed: Money | None = None
    rate: Rate | None = None
    matching: Rate | None = None
    of: str | None = None
    cap: Money | None = None
    up_to: Money | None = None
    discretionary: bool = False
    brackets: Brackets | None = None
    multiplier: Factor | None = None
    of_rule: str | None = None
    unquantified: str | None = None
    non_monetary: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Amount:
        forms = [f for f in FORMS if getattr(self, f) is not None]
        if len(forms) != 1:
            raise ValueError(f"an amount has exactly one of {', '.join(FORMS)}; found {forms or 'none'}")
        form = forms[0]
        if form in ("rate", "matching") and not self.of:
            raise ValueError(f"{form} needs 'of': the fact it is a share of, e.g. record.investment")
        if form == "multiplier" and not self.of_rule:
            raise ValueError("multiplier needs 'of_rule': the rule whose amount it multiplies")
        if form not in ("rate", "matching") and self.of:
            raise ValueError("'of' goes with rate or matching only")
        if form not in ("rate", "matching", "multiplier") and self.cap is not None:
            raise ValueError("'cap' goes with rate, matching or multiplier only")
        if form != "multiplier" and self.of_rule:
            raise ValueError("'of_rule' goes with multiplier only")
        if self.discretionary and form != "rate":
            raise ValueError("'discretionary' goes with rate only (use up_to for a plain ceiling)")
        return self

    @cached_property
    def form(self) -> str:
        return next(f for f in FORMS if getattr(self, f) is not None)

    @cached_property
    def status(self) -> Status:
        if self.form in ("unquantified", "non_monetary"):
            return self.form  # type: ignore[return-value]
        return "up_to" if self.form == "up_to" or self.discretionary else "fixed"

    @cached_property
    def base_fact(self) -> str | None:
        return self.of or (self.brackets.of if self.brackets else None)

    @cached_property
    def constant(self) -> Priced | None:
        """The price of a form that reads no fact (fixed, up_to, unquantified, non_monetary), else None."""
        if self.form in ("unquantified", "non_monetary"):
            return Priced(None)
        if self.form in ("fixed", "up_to"):
            value = self.fixed if self.form == "fixed" else self.up_to
            assert value is not None
            return Priced(to_fen(value), None if self.form == "fixed" else f"up to {value}")
        return None


@dataclass(frozen=True)
class Priced:
    amount: Decimal | None
    basis: str | None = None


@dataclass(frozen=True)
class Missing:
    facts: tuple[str, ...]


@dataclass(frozen=True)
class NoAmount:
    reason: str


Price = Union[Priced, Missing, NoAmount]
# Prices another rule's amount on the same facts (for multiplier); supplied by the engine.
PriceOf = Callable[[str, Facts], Price]


def price(amount: Amount, facts: Facts, tier_trees: tuple[All, ...] = (), price_of: PriceOf | None = None, *,
          basis: bool = True) -> Price:
    """The amount one record earns under ``amount``, rounded half up to the fen.

    ``basis=False`` (for populations) leaves out the worked sum of a rate or multiplier.
    """
    if amount.constant is not None:
        return amount.constant
    form = amount.form
    if form == "multiplier":
        assert price_of is not None and amount.of_rule is not None and amount.multiplier is not None
        inner = price_of(amount.of_rule, facts)
        if not isinstance(inner, Priced) or inner.amount is None:
            return inner
        return _capped(inner.amount * amount.multiplier, amount.cap,
                       f"{_pct(amount.multiplier)} × {amount.of_rule} {inner.amount}" if basis else None)
    if form == "brackets":
        assert amount.brackets is not None
        return _bracket(amount.brackets, facts, tier_trees)
    base = facts.get(amount.of or "")
    if base is None:
        return Missing((amount.of or "",))
    rate = amount.rate if form == "rate" else amount.matching
    assert rate is not None
    return _capped(base * rate, amount.cap, f"{_pct(rate)} × {amount.of} {base}" if basis else None)


def _bracket(brackets: Brackets, facts: Facts, trees: tuple[All, ...]) -> Price:
    base = facts.get(brackets.of)
    if base is None:
        return Missing((brackets.of,))
    missing: set[str] = set()
    for n, (tier, tree) in enumerate(zip(brackets.tiers, trees), start=1):
        if not tier.contains(base):
            continue
        checks: list[Any] = []
        truth = evaluate(tree, facts, checks)
        if truth is Truth.UNKNOWN:
            missing |= {m for c in checks if c.truth is Truth.UNKNOWN for m in c.missing}
            continue
        if truth is Truth.FALSE:
            continue
        label = f"tier {n} ({brackets.of} {base} {tier.bounds()})"
        if tier.fixed is not None:
            return Priced(to_fen(tier.fixed), label)
        assert tier.rate is not None
        return _capped(base * tier.rate, tier.cap, f"{label}: {_pct(tier.rate)} × {base}")
    if missing:
        return Missing(tuple(sorted(missing)))
    return NoAmount(f"{brackets.of} {base} falls in no tier")


def _capped(raw: Decimal, cap: Decimal | None, basis: str | None) -> Priced:
    if basis is not None:
        basis += f" = {to_fen(raw)}" + (f", capped at {cap}" if cap is not None and raw > cap else "")
    return Priced(to_fen(cap if cap is not None and raw > cap else raw), basis)


def _pct(rate: Decimal) -> str:
    return f"{rate * 100:f}".rstrip("0").rstrip(".") + "%"
