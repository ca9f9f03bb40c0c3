"""Amount forms of a rule and how each is priced for one record, exactly.

Forms: ``fixed``; ``rate``/``matching`` of a money fact with an optional ``cap`` (``discretionary``
makes the result a ceiling, 不超过); ``up_to`` a ceiling; ``brackets`` (tiers by a base, each with
inclusive or exclusive bounds, its own amount and optional extra conditions); ``multiplier`` of
another rule's amount with its own cap; ``unquantified``; ``non_monetary``.

Forms over expressions (see ``expressions``), each typed to come out as money: ``formula`` (any
expression, e.g. ``"200元/亩 × record.land_area"``); ``per_unit`` (a rate per unit times quantities:
元/平方米/月 × area × months); ``marginal`` (progressive bands, 差额定率累进: each band's rate applies
only to the part of the base inside it); ``by_year`` (an amount per year of support, counted from
the achievement's earliest record: 第一年…第二至三年…, nothing after the last year listed). ``of``
may be an expression (a price capped at 130% of a guidance price), and ``at_most`` caps the award
by an expression (no larger than the rent actually paid); an unknown input makes the award
undetermined, naming the fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from decimal import Decimal
from typing import Any, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from incentives import expressions as ex
from incentives.conditions import WHOLE, All, Condition, Facts, Truth, Whole, evaluate
from incentives.errors import ExpressionError
from incentives.messages import N_
from incentives.money import Factor, Money, Rate, percent, to_fen

FORMS = ("fixed", "rate", "matching", "up_to", "brackets", "multiplier", "unquantified", "non_monetary",
         "formula", "per_unit", "marginal", "by_year")
_PLAIN_FACT = re.compile(r"^(record|enterprise)\.[a-z_][a-z0-9_]*$")


@lru_cache(maxsize=4096)
def expression(text: str) -> ex.Expr:
    """``text`` parsed once (rule files repeat the same expressions)."""
    return ex.parse(text)


def _parses(text: str) -> str:
    try:
        expression(text)
    except ExpressionError as e:
        raise ValueError(f"{e.message} (at character {(e.offset or 0) + 1} of {text!r})") from e
    return text
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


class PerUnit(_Strict):
    """A rate per unit (``"30元/平方米/月"`` or a fact) times quantities (area, months...)."""

    rate: str
    times: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _read(self) -> PerUnit:
        for text in (self.rate, *self.times):
            _parses(text)
        return self

    @cached_property
    def expr(self) -> ex.Expr:
        node = expression(self.rate)
        for text in self.times:
            node = ex.Binary("×", node, expression(text))
        return node


class Band(_Strict):
    """One band of a progressive scale: the rate on the part of the base up to ``up_to``."""

    up_to: Money | None = None
    rate: Rate


class Marginal(_Strict):
    """Progressive bands (差额定率累进): each rate applies only to the part of ``of`` inside its band."""

    of: str
    bands: list[Band] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Marginal:
        _parses(self.of)
        tops = [b.up_to for b in self.bands]
        if any(t is None for t in tops[:-1]):
            raise ValueError("only the last band may be open (no up_to)")
        bounded = [t for t in tops if t is not None]
        if any(b <= a for a, b in zip(bounded, bounded[1:])) or (bounded and bounded[0] <= 0):
            raise ValueError("bands rise: each up_to is above the one before, and above zero")
        return self

    def total(self, base: Decimal) -> tuple[Decimal, list[str]]:
        """The exact sum over the bands for ``base``, and each band's part as text."""
        total, low, parts = Decimal(0), Decimal(0), []
        for band in self.bands:
            if base <= low:
                break
            high = base if band.up_to is None else min(base, band.up_to)
            total += (high - low) * band.rate
            parts.append(f"{_pct(band.rate)} × ({high} - {low})")
            if band.up_to is None:
                break
            low = band.up_to
        return total, parts


_SPAN = re.compile(r"^\s*(\d+)\s*(?:[-–~至]\s*(\d+))?\s*$")


class ByYear(_Strict):
    """An amount per year of support: year 1 is the year of the achievement's earliest record
    (``from: achievement``) or of the rewarded record itself (``from: record``)."""

    start: Literal["achievement", "record"] = Field(default="achievement", alias="from")
    years: dict[Union[int, str], Amount] = Field(min_length=1)

    @model_validator(mode="after")
    def _spans(self) -> ByYear:
        seen: set[int] = set()
        for key, amount in self.years.items():
            first, last = _span(key)
            if seen & set(range(first, last + 1)):
                raise ValueError(f"year {key!r} overlaps another entry")
            seen |= set(range(first, last + 1))
            if amount.form in ("by_year", "multiplier", "brackets"):
                raise ValueError("a year's amount is fixed, rate, matching, up_to, formula, per_unit or marginal")
        return self

    @cached_property
    def spans(self) -> tuple[tuple[int, int, Amount], ...]:
        return tuple(sorted((*_span(k), a) for k, a in self.years.items()))

    def last_year(self) -> int:
        return max(last for _, last, _ in self.spans)


def _span(key: int | str) -> tuple[int, int]:
    match = _SPAN.match(str(key))
    if not match or int(match.group(1)) < 1 or (match.group(2) and int(match.group(2)) < int(match.group(1))):
        raise ValueError(f"a year of support is written 1, 2 or 2-3, not {key!r}")
    return int(match.group(1)), int(match.group(2) or match.group(1))


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
    formula: str | None = None
    per_unit: PerUnit | None = None
    marginal: Marginal | None = None
    by_year: ByYear | None = None
    at_most: str | None = None               # a cap that is an expression of facts: "record.rent_paid"

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
        if form not in ("rate", "matching", "multiplier", "formula", "per_unit", "marginal") and self.cap is not None:
            raise ValueError("'cap' goes with rate, matching, multiplier, formula, per_unit or marginal only")
        if self.at_most is not None and form in ("unquantified", "non_monetary", "by_year", "up_to", "multiplier",
                                                 "brackets"):
            raise ValueError("'at_most' caps a fixed amount or one computed from facts (put it on each year of by_year)")
        for text in (self.formula, self.at_most, None if self.of is None or _PLAIN_FACT.match(self.of) else self.of):
            if text is not None:
                _parses(text)
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
        """The money fact a rate or the brackets apply to, when it is one plain fact."""
        base = self.of or (self.brackets.of if self.brackets else None)
        return base if base is None or _PLAIN_FACT.match(base) else None

    @cached_property
    def expressions(self) -> tuple[tuple[tuple[str, ...], ex.Expr], ...]:
        """Every expression of the amount, with the key it is written under (for typing and lint)."""
        found: list[tuple[tuple[str, ...], ex.Expr]] = []
        if self.of is not None and not _PLAIN_FACT.match(self.of):
            found.append((("of",), expression(self.of)))
        if self.formula is not None:
            found.append((("formula",), expression(self.formula)))
        if self.per_unit is not None:
            found.append((("per_unit",), self.per_unit.expr))
        if self.marginal is not None:
            found.append((("marginal", "of"), expression(self.marginal.of)))
        if self.at_most is not None:
            found.append((("at_most",), expression(self.at_most)))
        for key, amount in (self.by_year.years.items() if self.by_year else ()):
            found += [(("by_year", "years", str(key), *k), e) for k, e in amount.expressions]
        return tuple(found)

    @cached_property
    def reads_whole(self) -> bool:
        """Whether pricing reads beyond the record (yearly figures, derived facts, other records)."""
        return bool(self.expressions) or self.by_year is not None

    @cached_property
    def constant(self) -> Priced | None:
        """The price of a form that reads no fact (fixed, up_to, unquantified, non_monetary), else None."""
        if self.form in ("unquantified", "non_monetary"):
            return Priced(None)
        if self.form in ("fixed", "up_to") and self.at_most is None:
            value = self.fixed if self.form == "fixed" else self.up_to
            assert value is not None
            return Priced(to_fen(value), None if self.form == "fixed" else N_("up to %(amount)s") % {"amount": value})
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
                       N_("%(rate)s × %(rule)s %(amount)s") % {"rate": _pct(amount.multiplier), "rule": amount.of_rule,
                                                           "amount": inner.amount} if basis else None)
    if form == "brackets":
        assert amount.brackets is not None
        return _bracket(amount.brackets, facts, tier_trees)
    if amount.reads_whole:
        return _computed(amount, facts, basis)
    base = facts.get(amount.of or "")
    if base is None:
        return Missing((amount.of or "",))
    rate = amount.rate if form == "rate" else amount.matching
    assert rate is not None
    return _capped(base * rate, amount.cap, N_("%(rate)s × %(fact)s %(value)s") % {"rate": _pct(rate), "fact": amount.of, "value": base}
                   if basis else None)


def _env(facts: Facts) -> ex.Env:
    whole = _whole(facts)
    return ex.Env(facts.profile, facts.record, figure=whole.figure if whole else None,
                  derived=whole.derived if whole else None, records=whole.records if whole else None,
                  as_of=whole.as_of if whole else None)


def _whole(facts: Facts) -> Whole | None:
    whole = facts.get(WHOLE)
    return whole if isinstance(whole, Whole) else None


def _value(text: str | ex.Expr, facts: Facts, steps: list[ex.Step] | None) -> Decimal | Missing | NoAmount:
    node = expression(text) if isinstance(text, str) else text
    value = ex.evaluate(node, _env(facts), steps)
    if isinstance(value, ex.Unknown):
        return Missing(value.missing)
    if isinstance(value, ex.Undefined):
        return NoAmount(value.reason)
    return value


def _inputs(steps: list[ex.Step]) -> str:
    return "; ".join(N_("%(input)s = %(value)s (%(source)s)") % {"input": s.name, "value": s.value, "source": s.source}
                     for s in steps if s.value is not None)


def _computed(amount: Amount, facts: Facts, basis: bool) -> Price:
    """The forms over expressions, then the ``at_most`` cap: each input missing is named."""
    steps: list[ex.Step] | None = [] if basis else None
    form = amount.form
    if form == "by_year":
        assert amount.by_year is not None
        return _by_year(amount.by_year, facts, basis)
    if form in ("rate", "matching"):
        node: ex.Expr = expression(amount.of or "")
        rate = amount.rate if form == "rate" else amount.matching
        assert rate is not None
        node = ex.Binary("×", ex.Num(rate, text=_pct(rate)), node)
    elif form == "per_unit":
        assert amount.per_unit is not None
        node = amount.per_unit.expr
    elif form == "formula":
        assert amount.formula is not None
        node = expression(amount.formula)
    elif form == "fixed":
        assert amount.fixed is not None
        node = ex.Num(amount.fixed, ex.MONEY)
    else:
        node = expression(amount.marginal.of if amount.marginal else "")
    value = _value(node, facts, steps)
    cap = _value(amount.at_most, facts, steps) if amount.at_most is not None else None
    missing = tuple(m for v in (value, cap) if isinstance(v, Missing) for m in v.facts)
    if missing:
        return Missing(tuple(dict.fromkeys(missing)))
    for v in (value, cap):
        if isinstance(v, NoAmount):
            return v
    assert isinstance(value, Decimal)
    text = ex.show(node)
    if amount.marginal is not None:
        base = value
        value, parts = amount.marginal.total(base)
        text = N_("bands on %(expression)s %(amount)s: %(parts)s") % {"expression": text, "amount": base,
                                                                     "parts": " + ".join(parts)}
    if value < 0:
        return NoAmount(N_("%(expression)s comes to %(amount)s, below zero") % {"expression": text, "amount": to_fen(value)})
    limit = amount.cap
    if isinstance(cap, Decimal):
        limit = cap if limit is None else min(limit, cap)
    described = None
    if steps is not None:
        described = N_("%(expression)s (%(inputs)s)") % {"expression": text, "inputs": _inputs(steps)} \
            if _inputs(steps) else text
        if isinstance(cap, Decimal):
            described = N_("%(basis)s; at most %(expression)s = %(amount)s") % {
                "basis": described, "expression": amount.at_most, "amount": to_fen(cap)}
    return _capped(value, limit, described)


def _by_year(spec: ByYear, facts: Facts, basis: bool) -> Price:
    record = facts.record
    first = record.date.year
    whole = _whole(facts)
    if spec.start == "achievement" and whole is not None:
        same = [r.date.year for r in whole.records if r.kind == record.kind and r.date <= whole.as_of
                and r.achievement == record.achievement]
        first = min([first, *same])
    year = record.date.year - first + 1
    for low, high, amount in spec.spans:
        if low <= year <= high:
            inner = price(amount, facts, basis=basis)
            if isinstance(inner, Priced) and basis:
                label = N_("year %(n)s of support (from %(year)s)") % {"n": year, "year": first}
                return Priced(inner.amount, N_("%(label)s: %(basis)s") % {"label": label, "basis": inner.basis}
                              if inner.basis else label)
            return inner
    return NoAmount(N_("year %(n)s of support (from %(year)s) is not among the years supported (%(years)s)") % {
        "n": year, "year": first, "years": ", ".join(str(k) for k in spec.years)})


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
        label = N_("tier %(n)s (%(fact)s %(value)s %(bounds)s)") % {"n": n, "fact": brackets.of, "value": base,
                                                                   "bounds": tier.bounds()}
        if tier.fixed is not None:
            return Priced(to_fen(tier.fixed), label)
        assert tier.rate is not None
        return _capped(base * tier.rate, tier.cap,
                       N_("%(label)s: %(rate)s × %(amount)s") % {"label": label, "rate": _pct(tier.rate), "amount": base})
    if missing:
        return Missing(tuple(sorted(missing)))
    return NoAmount(N_("%(fact)s %(value)s falls in no tier") % {"fact": brackets.of, "value": base})


def _capped(raw: Decimal, cap: Decimal | None, basis: str | None) -> Priced:
    if basis is not None:
        basis = (N_("%(basis)s = %(amount)s, capped at %(cap)s") if cap is not None and raw > cap else
                 N_("%(basis)s = %(amount)s")) % {"basis": basis, "amount": to_fen(raw), "cap": cap}
    return Priced(to_fen(cap if cap is not None and raw > cap else raw), basis)


def _pct(rate: Decimal) -> str:
    return percent(rate)


ByYear.model_rebuild()
