"""Exact money: parse amounts and rates, round to the fen, split among payers.

Money is always ``Decimal`` yuan. Text like ``"30万元"``, ``"1.5亿元"`` or ``"¥300,000.00"``
parses exactly; a float is accepted only through its shortest text (``0.1`` → ``Decimal("0.1")``).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Callable, Mapping, Union

from pydantic import BeforeValidator

from incentives.errors import MoneyError

FEN = Decimal("0.01")
HUNDRED = Decimal(100)

_UNITS = {"": Decimal(1), "元": Decimal(1), "万": Decimal(10_000), "万元": Decimal(10_000),
          "亿": Decimal(100_000_000), "亿元": Decimal(100_000_000)}
# Decimal notation only: no leading zero (YAML 1.1 would have read 0777 as octal), no hex, no
# underscores; commas only between groups of three digits ("3,5万元" is refused, not read as 350,000).
_MONEY = re.compile(r"^(?:¥|￥|CNY\s*|RMB\s*)?((?:0|[1-9][0-9]{0,2}(?:,[0-9]{3})+|[1-9][0-9]*)(?:\.[0-9]+)?)"
                    r"\s*(万元|亿元|万|亿|元)?$")
# The largest amount or factor read: 10^20 yuan is beyond any budget, and keeps every sum well inside
# Decimal's 28 digits (a 29-digit amount would otherwise fail deep inside the arithmetic).
MAX_DIGITS = 20
_PERCENT = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*[%％]$")
_RATIO = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(?:\s*[:：]\s*([0-9]+(?:\.[0-9]+)?))+$")


def to_decimal(value: object, what: str = "amount") -> Decimal:
    """An exact Decimal from an int, Decimal, decimal string or float (through its shortest text)."""
    if isinstance(value, bool):
        raise MoneyError(f"{what} must be a number, not {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        if value.bit_length() > 4 * MAX_DIGITS:  # before Decimal(): an int of thousands of digits is slow to convert
            raise MoneyError(f"{what} {_short(value)} is too large (at most {MAX_DIGITS} digits before the point)")
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        if len(value) > 200:
            raise MoneyError(f"{what} {_short(value)} is not a number of reasonable length")
        try:
            result = Decimal(value.strip())
        except (InvalidOperation, ValueError) as e:
            raise MoneyError(f"{what} {_short(value)} is not a number") from e
    else:
        raise MoneyError(f"{what} must be a number, not {type(value).__name__}")
    if not result.is_finite():
        raise MoneyError(f"{what} {_short(value)} is not a finite number")
    return _bounded(result, value, what)


def _bounded(result: Decimal, value: object, what: str) -> Decimal:
    """``result`` if it has at most ``MAX_DIGITS`` digits before the point, else a ``MoneyError``."""
    if result and result.adjusted() >= MAX_DIGITS:
        raise MoneyError(f"{what} {_short(value)} is too large (at most {MAX_DIGITS} digits before the point)")
    return result


_TOO_MUCH = Decimal(10) ** 26   # 26 digits of yuan and 2 of fen: the 28 digits of Decimal's exact arithmetic


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


def parse_money(value: object) -> Decimal:
    """Yuan as Decimal from ``300000``, ``"300000.50"``, ``"30万元"``, ``"1.5亿元"``, ``"¥300,000.00"``.

    >>> parse_money("30万元")
    Decimal('300000')
    """
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        match = _MONEY.match(text) if len(text) <= 200 else None
        if not match:
            raise MoneyError(f"cannot read {_short(value)} as money (write 300000, \"30万元\" or \"¥300,000.00\"; "
                             "commas only between groups of three digits)")
        number, unit = match.groups()
        amount = _bounded(Decimal(number.replace(",", "")), value, "money") * _UNITS[unit or ""]
        amount = _bounded(amount, value, "money")
    else:
        amount = to_decimal(value, "money")
    if amount < 0:
        raise MoneyError(f"money cannot be negative: {value!r}")
    if amount >= _TOO_MUCH:
        raise MoneyError(f"money {value!r} is too large (at most {_TOO_MUCH - 1} yuan)")
    return amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount


def parse_rate(value: object) -> Decimal:
    """A fraction in [0, 1] from ``"10%"``, ``"0.1"``, ``0.1`` or a ratio ``"1:0.5"`` (= 50%)."""
    rate = parse_factor(value)
    if rate > 1:
        raise MoneyError(f"rate {value!r} must lie between 0% and 100%")
    return rate


def percent(rate: Decimal) -> str:
    """A rate as a percentage without trailing zeros: ``0.1`` → ``10%``, ``1`` → ``100%``, ``0.035`` → ``3.5%``."""
    text = f"{rate * 100:f}"
    if "." in text:  # only a fraction loses its trailing zeros (100 stays 100)
        text = text.rstrip("0").rstrip(".")
    return text + "%"


def parse_factor(value: object) -> Decimal:
    """A non-negative factor, which may exceed 1: ``"150%"``, ``"1.5"``, ``"1:1.5"``."""
    if isinstance(value, str) and len(value) > 200:
        raise MoneyError(f"cannot read {_short(value)} as a rate")
    if isinstance(value, str) and (match := _PERCENT.match(value.strip())):
        factor = _bounded(Decimal(match.group(1)), value, "rate") / HUNDRED
    elif isinstance(value, str) and _RATIO.match(value.strip()):
        parts = parse_ratio(value)
        if len(parts) != 2 or parts[0] == 0:
            raise MoneyError(f"a rate written as a ratio has two parts, base first: {value!r}")
        factor = parts[1] / parts[0]
        if factor.adjusted() >= MAX_DIGITS:
            raise MoneyError(f"ratio {_short(value)} gives a factor too large")
    else:
        factor = to_decimal(value, "rate")
    if factor < 0:
        raise MoneyError(f"rate {value!r} cannot be negative")
    return factor


def parse_ratio(text: str) -> list[Decimal]:
    """Parts of a ratio as the texts write it: ``"1:1"`` → [1, 1], ``"5:5"``, ``"1:0.5"``."""
    if not _RATIO.match(text.strip()):
        raise MoneyError(f"cannot read {text!r} as a ratio like \"1:1\"")
    parts = [_bounded(Decimal(p), text, "ratio") for p in re.split(r"[:：]", text.strip())]
    if sum(parts) == 0:
        raise MoneyError(f"ratio {text!r} has no positive part")
    return parts


def as_field(parse: Callable[[object], Decimal]) -> Callable[[object], Decimal]:
    """``parse`` as a Pydantic validator: its ``MoneyError`` becomes the ``ValueError`` Pydantic locates."""
    def validate(value: object) -> Decimal:
        try:
            return parse(value)
        except MoneyError as e:
            raise ValueError(e.message) from e
    return validate


# Field types for Pydantic models: what a file may write (numbers or text such as "30万元", "10%",
# "1:0.5"), validated into exact Decimals. Editors see the input type in the JSON Schema.
_WRITTEN = Union[int, float, str]
Money = Annotated[Decimal, BeforeValidator(as_field(parse_money), json_schema_input_type=_WRITTEN)]
Rate = Annotated[Decimal, BeforeValidator(as_field(parse_rate), json_schema_input_type=_WRITTEN)]
Factor = Annotated[Decimal, BeforeValidator(as_field(parse_factor), json_schema_input_type=_WRITTEN)]


def to_fen(amount: Decimal) -> Decimal:
    """Round half up to the fen (0.01 yuan)."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def split(amount: Decimal, shares: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Split ``amount`` (already in fen) by ``shares`` (fractions summing to 1), exactly.

    Largest remainder: each payer gets its share floored to the fen, then the fen left over go one
    each to the largest remainders (ties broken by the order the shares were written), so the parts
    always add up to ``amount``.

    >>> split(Decimal("12345.67"), {"city": Decimal("0.5"), "county": Decimal("0.5")})
    {'city': Decimal('6172.84'), 'county': Decimal('6172.83')}
    """
    return Splitter(shares)(amount)


class Splitter:
    """``split`` by fixed shares, made once: the shares become integer weights over one denominator,
    so that each split is integer arithmetic on fen, exact whatever the digits of a share."""

    def __init__(self, shares: Mapping[str, Decimal]) -> None:
        self.payers = tuple(shares)
        ratios = [shares[p].as_integer_ratio() for p in self.payers]
        self.denominator = math.lcm(*(d for _, d in ratios)) if ratios else 1
        self.weights = tuple(n * (self.denominator // d) for n, d in ratios)

    def __call__(self, amount: Decimal) -> dict[str, Decimal]:
        fen = amount.scaleb(2)
        cents = int(fen)
        if fen != cents:
            raise MoneyError(f"{amount} is not a whole number of fen")
        den = self.denominator
        exact = [cents * w for w in self.weights]  # each payer's fen, times the denominator
        floors = [x // den for x in exact]
        left = cents - sum(floors)
        if left:  # a stable sort: equal remainders go in the order the shares were written
            for i in sorted(range(len(floors)), key=[-(x % den) for x in exact].__getitem__)[:left]:
                floors[i] += 1
        return dict(zip(self.payers, map(FEN.__mul__, map(Decimal, floors))))
