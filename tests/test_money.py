from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incentives import MoneyError, parse_money, parse_rate, split
from incentives.money import parse_ratio, to_fen


@pytest.mark.parametrize("text, yuan", [
    (300000, "300000"), ("300000.50", "300000.50"), ("30万元", "300000"), ("30万", "300000"),
    ("1.5亿元", "150000000"), ("¥300,000.00", "300000.00"), ("￥1,234.5", "1234.5"), ("12.3456万元", "123456"),
    (0.1, "0.1"), ("CNY 5,000", "5000"), (Decimal("7.07"), "7.07"),
])
def test_parse_money_exact(text: object, yuan: str) -> None:
    assert parse_money(text) == Decimal(yuan)


@pytest.mark.parametrize("bad, match", [
    ("-5万元", "cannot read"), (-1, "negative"), ("三十万", "cannot read"), ("30 dollars", "cannot read"),
    (True, "number"), ("NaN", "cannot read"), (float("inf"), "finite"), ([1], "number"),
    (4.1352590908430597e+164, "too large"), ("10000000000000000000000万元", "too large"),
])
def test_parse_money_rejects(bad: object, match: str) -> None:
    with pytest.raises(MoneyError, match=match):
        parse_money(bad)


def test_float_money_goes_through_its_text_not_binary() -> None:
    assert parse_money(1234567.89) == Decimal("1234567.89")


@pytest.mark.parametrize("text, rate", [("10%", "0.1"), ("50%", "0.5"), ("0.15", "0.15"), ("12.5％", "0.125")])
def test_parse_rate(text: str, rate: str) -> None:
    assert parse_rate(text) == Decimal(rate)


def test_rate_above_100_percent_is_refused() -> None:
    with pytest.raises(MoneyError, match="between 0% and 100%"):
        parse_rate("150%")


@pytest.mark.parametrize("text, parts", [("1:1", [1, 1]), ("5:5", [5, 5]), ("1:0.5", [1, Decimal("0.5")]),
                                         ("2：1", [2, 1])])
def test_parse_ratio(text: str, parts: list[object]) -> None:
    assert parse_ratio(text) == [Decimal(p) for p in parts]  # type: ignore[arg-type]


def test_round_half_up_to_the_fen() -> None:
    assert to_fen(Decimal("123456.785")) == Decimal("123456.79")
    assert to_fen(Decimal("123456.784")) == Decimal("123456.78")


def test_odd_fen_goes_to_the_first_payer() -> None:
    halves = {"city": Decimal("0.5"), "county": Decimal("0.5")}
    assert split(Decimal("123456.79"), halves) == {"city": Decimal("61728.40"), "county": Decimal("61728.39")}


def test_thirds_split_exactly() -> None:
    third = Decimal(1) / 3
    parts = split(Decimal("100.00"), {"province": third, "city": third, "county": Decimal(1) - 2 * third})
    assert sum(parts.values()) == Decimal("100.00")
    assert sorted(parts.values()) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]


def test_split_refuses_fractions_of_a_fen() -> None:
    with pytest.raises(MoneyError, match="whole number of fen"):
        split(Decimal("1.005"), {"city": Decimal(1)})


fen_amounts = st.integers(min_value=0, max_value=10**12).map(lambda c: Decimal(c) / 100)
percents = st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=4).filter(lambda p: sum(p) > 0)


@given(fen_amounts, percents)
def test_split_always_sums_exactly_and_each_part_is_within_a_fen(amount: Decimal, weights: list[int]) -> None:
    total = sum(weights)
    shares = {f"p{i}": Decimal(w) / Decimal(total) for i, w in enumerate(weights)}
    shares["p0"] += Decimal(1) - sum(shares.values())  # make the shares sum to exactly 1
    parts = split(amount, shares)
    assert sum(parts.values()) == amount
    for payer, part in parts.items():
        assert abs(part - amount * shares[payer]) < Decimal("0.01")
        assert part == part.quantize(Decimal("0.01"))


@given(fen_amounts, percents)
def test_split_is_the_exact_largest_remainder(amount: Decimal, weights: list[int]) -> None:
    from fractions import Fraction

    total = sum(weights)
    shares = {f"p{i}": Decimal(w) / Decimal(total) for i, w in enumerate(weights)}
    shares["p0"] += Decimal(1) - sum(shares.values())
    cents = int(amount * 100)
    exact = [Fraction(cents) * Fraction(s) for s in shares.values()]   # rationals: no rounding anywhere
    floors = [int(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: (floors[i] - exact[i], i))[:cents - sum(floors)]:
        floors[i] += 1
    assert split(amount, shares) == {p: Decimal(f) / 100 for p, f in zip(shares, floors)}


def test_a_rule_given_other_shares_splits_by_its_own(book) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    rule = book.by_id["lf.leader.municipal"]
    assert rule.split(Decimal("150000.00")) == {"city": Decimal("75000.00"), "county": Decimal("75000.00")}
    alone = replace(rule, shares={"city": Decimal(1)})
    assert alone.split(Decimal("150000.00")) == {"city": Decimal("150000.00")}
    assert rule.split(Decimal("150000.00"))["county"] == Decimal("75000.00")


@pytest.mark.parametrize("rate, shown", [("1", "100%"), ("0.1", "10%"), ("0.035", "3.5%"), ("0", "0%"),
                                         ("0.5", "50%"), ("0.125", "12.5%"), ("1.50", "150%")])
def test_percent_keeps_the_zeros_of_a_whole_percentage(rate: str, shown: str) -> None:
    from incentives.money import percent
    assert percent(Decimal(rate)) == shown


@pytest.mark.parametrize("bad", ["0777", "0x100", "1_000", "3,5万元", "30,00", "1,0000", ",300", "300,", "9" * 29,
                                 "9" * 21 + "元", "1" + "0" * 13 + "亿元", 10**29, 1e300, "1" * 5000])
def test_money_is_decimal_notation_within_bounds(bad: object) -> None:
    with pytest.raises(MoneyError):
        parse_money(bad)


@pytest.mark.parametrize("text, yuan", [("300,000", "300000"), ("1,234,567.89", "1234567.89"), ("0.5万元", "5000"),
                                        ("0", "0"), ("9" * 20, "9" * 20)])
def test_comma_groups_of_three_are_read(text: str, yuan: str) -> None:
    assert parse_money(text) == Decimal(yuan)


@pytest.mark.parametrize("bad", ["1e999999%", "0." + "0" * 30 + "1:1", "9" * 300])
def test_rates_out_of_bounds_are_money_errors(bad: str) -> None:
    with pytest.raises(MoneyError):
        parse_rate(bad)
