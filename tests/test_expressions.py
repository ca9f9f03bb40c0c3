"""The expression grammar: reading, printing back, dimensions, exact three-valued evaluation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incentives.errors import ExpressionError, IncentivesError, Location
from incentives.expressions import (MONEY, NUMBER, Binary, Call, Comparison, Derived, Dim, Env, Num, Ref, Step,
                                    Undefined, Unknown, Year, check, evaluate, located, parse, parse_comparison,
                                    parse_unit, refs, show, unit)
from incentives.facts import Profile, Project

AREA = unit("m2")
MU = unit("mu")
MONTH = unit("month")
TYPES: dict[str, Dim | str] = {
    "record.investment": MONEY, "record.land_area": MU, "record.area": AREA, "record.months": MONTH,
    "record.unit_rent": parse_unit("元/平方米/月"), "record.title": "text", "enterprise.guidance_rent":
        parse_unit("元/平方米/月"), "revenue": MONEY, "rd_spend": MONEY, "employees": NUMBER,
}


def resolve(ref: Ref) -> Dim | str | None:
    return TYPES.get(ref.written)


@pytest.mark.parametrize(("text", "value", "dim"), [
    ("30万元", Decimal(300_000), MONEY),
    ("1.5亿元", Decimal(150_000_000), MONEY),
    ("10%", Decimal("0.1"), NUMBER),
    ("１０％", Decimal("0.1"), NUMBER),
    ("5‰", Decimal("0.005"), NUMBER),
    ("200元/亩", Decimal(200), MONEY.times(MU, -1)),
    ("30元/平方米/月", Decimal(30), parse_unit("元/平方米/月")),
    ("12个月", Decimal(12), MONTH),
    ("2000万", Decimal(20_000_000), NUMBER),
    ("1,200.50元", Decimal("1200.50"), MONEY),
])
def test_numbers_carry_exact_values_and_units(text: str, value: Decimal, dim: Dim) -> None:
    node = parse(text)
    assert isinstance(node, Num)
    assert node.value == value and node.dim == dim


def test_ascii_and_full_width_operators_read_the_same() -> None:
    a = parse("min(record.investment × 10%, 30万元) ÷ 2 − 1元")
    b = parse("min（record.investment * 10%，30万元） / 2 - 1元")
    c = parse("min(record.investment＊10%, 30万元)／2－1元".replace("＊", "*").replace("／", "/"))
    assert a == b == c
    assert show(a) == "min(record.investment × 10%, 30万元) ÷ 2 - 1元"


def test_precedence_and_grouping() -> None:
    assert parse("1 + 2 × 3") == Binary("+", Num(Decimal(1)), Binary("×", Num(Decimal(2)), Num(Decimal(3))))
    assert parse("(1 + 2) × 3") == Binary("×", Binary("+", Num(Decimal(1)), Num(Decimal(2))), Num(Decimal(3)))
    assert parse("8 - 2 - 1") == Binary("-", Binary("-", Num(Decimal(8)), Num(Decimal(2))), Num(Decimal(1)))
    assert show(parse("8 - (2 - 1)")) == "8 - (2 - 1)"


def test_references_and_years() -> None:
    node = parse("revenue[year - 1]")
    assert node == Ref("", "revenue", Binary("-", Year(), Num(Decimal(1))))
    assert parse("enterprise.revenue[2024]") == Ref("enterprise", "revenue", Num(Decimal(2024)))
    assert [r.written for r in refs(parse("rewarded.area + record.area × revenue[year]"))] == \
        ["rewarded.area", "record.area", "revenue"]


def test_comparisons() -> None:
    node = parse_comparison("revenue[year - 1] >= 2000万元")
    assert node.op == "≥" and show(node) == "revenue[year - 1] ≥ 2000万元"
    assert parse_comparison("rd_ratio ≠ 0").op == "≠"


@pytest.mark.parametrize(("text", "offset", "message"), [
    ("record.investment + ", 20, "expected a number, a fact or '\\(', found the end"),
    ("record.investment @ 2", 18, "unexpected '@'"),
    ("min(1)", 0, "min takes two or more values"),
    ("(1 + 2", 6, "expected '\\)'"),
    ("foo.bar", 0, "unknown fact 'foo.bar'"),
    ("30万元 30万元", 5, "unexpected '30万元'"),
])
def test_reading_errors_point_at_the_token(text: str, offset: int, message: str) -> None:
    with pytest.raises(ExpressionError, match=message) as e:
        parse(text)
    assert e.value.offset == offset
    assert isinstance(e.value, IncentivesError)


def test_a_condition_must_compare() -> None:
    with pytest.raises(ExpressionError, match="a condition compares two values"):
        parse_comparison("revenue[year] + 1元")
    # a reference alone is a yes/no fact that must be true
    assert show(parse_comparison("above_size[year - 1]")) == "above_size[year - 1] = true"
    with pytest.raises(ExpressionError, match="cannot compare money with yes/no"):
        check(parse_comparison("revenue[year]"), resolve)


@pytest.mark.parametrize(("text", "dim"), [
    ("200元/亩 × record.land_area", MONEY),
    ("record.unit_rent × record.area × record.months", MONEY),
    ("min(record.unit_rent, 130% × enterprise.guidance_rent)", parse_unit("元/平方米/月")),
    ("rd_spend[year] ÷ revenue[year]", NUMBER),
    ("revenue[year] - revenue[year - 1]", MONEY),
    ("employees[year] × 2", NUMBER),
])
def test_dimensions_combine(text: str, dim: Dim) -> None:
    assert check(parse(text), resolve) == dim


@pytest.mark.parametrize(("text", "offset", "message"), [
    ("record.investment + record.land_area", 18, "cannot add money and area \\(亩\\)"),
    ("record.investment - 3", 18, "cannot subtract money and number"),
    ("max(record.area, record.land_area)", 17, "max of area \\(平方米\\) and area \\(亩\\)"),
    ("record.title × 2", 0, "record.title is text"),
    ("record.nothing × 2", 0, "unknown fact 'record.nothing'"),
    ("revenue[record.investment]", 8, "must be a plain number"),
])
def test_type_errors_point_at_the_token(text: str, offset: int, message: str) -> None:
    with pytest.raises(ExpressionError, match=message) as e:
        check(parse(text), resolve)
    assert e.value.offset == offset


def test_comparison_types() -> None:
    assert check(parse_comparison("revenue[year - 1] ≥ 2000万元"), resolve) == NUMBER
    with pytest.raises(ExpressionError, match="cannot compare money with number") as e:
        check(parse_comparison("revenue[year - 1] ≥ 2000万"), resolve)
    assert e.value.offset == 18


def test_an_error_inside_a_yaml_scalar_is_located_at_its_token() -> None:
    with pytest.raises(ExpressionError) as e:
        check(parse("record.investment + record.land_area"), resolve)
    err = located(e.value, Location("rules/x.yaml", 12, 9))
    assert str(err).startswith("rules/x.yaml:12:27: ")


# --- evaluation -----------------------------------------------------------------------------------------

PROFILE = Profile(name="甲", credit_code="91131024MA0DUK8R4E", city="langfang")
RECORD = Project(kind="project", id="p1", date=dt.date(2025, 5, 1), type="tech_retrofit",
                 investment=Decimal(2_000_000))
FIGURES = {("revenue", 2024): Decimal(50_000_000), ("rd_spend", 2024): Decimal(1_600_000),
           ("revenue", 2023): Decimal(0), ("rd_spend", 2023): Decimal(10)}


def env(figures: dict[tuple[str, int], Decimal] | None = None, **derived: str) -> Env:
    table = FIGURES if figures is None else figures
    return Env(PROFILE, RECORD, figure=lambda name, year: table.get((name, year)),
               derived={n: Derived(n, parse(t), NUMBER, t) for n, t in derived.items()})


def test_exact_arithmetic() -> None:
    assert evaluate(parse("record.investment × 3% + 0.01元"), env()) == Decimal("60000.01")
    assert evaluate(parse("1 ÷ 3 × 3"), env()) == Decimal(1) / 3 * 3
    assert evaluate(parse("max(1元, 2元, min(5元, 3元))"), env()) == 3


def test_yearly_figures_relative_to_the_records_year() -> None:
    steps: list[Step] = []
    assert evaluate(parse("rd_spend[year - 1] ÷ revenue[year - 1]"), env(), steps) == Decimal("0.032")
    assert [(s.name, s.value) for s in steps] == [
        ("enterprise.rd_spend[2024]", Decimal(1_600_000)), ("enterprise.revenue[2024]", Decimal(50_000_000))]


def test_a_missing_input_is_unknown_and_named_never_zero() -> None:
    assert evaluate(parse("revenue[year] - revenue[year - 1]"), env()) == Unknown(("enterprise.revenue[2025]",))
    assert evaluate(parse("record.equipment_purchase + revenue[2019]"), env()) == \
        Unknown(("record.equipment_purchase", "enterprise.revenue[2019]"))
    assert evaluate(parse("min(revenue[2019], 0元)"), env()) == Unknown(("enterprise.revenue[2019]",))


def test_division_by_zero_is_its_own_reason() -> None:
    result = evaluate(parse("rd_spend[2023] ÷ revenue[2023]"), env())
    assert result == Undefined("division by zero: revenue[2023] is 0")


def test_derived_facts_evaluate_at_the_year_asked_and_explain_their_inputs() -> None:
    e = env(rd_ratio="rd_spend[year] ÷ revenue[year]")
    steps: list[Step] = []
    assert evaluate(parse("rd_ratio[year - 1]"), e, steps) == Decimal("0.032")
    assert steps[-1] == Step("rd_ratio[2024]", Decimal("0.032"), "derived: rd_spend[year] ÷ revenue[year]")
    assert evaluate(parse("rd_ratio"), e) == Unknown(("enterprise.rd_spend[2025]", "enterprise.revenue[2025]"))


def test_record_and_rewarded_name_different_records_when_counting() -> None:
    other = Project(kind="project", id="p0", date=dt.date(2023, 1, 1), type="tech_retrofit",
                    investment=Decimal(500_000))
    counting = env().counting(other)
    assert evaluate(parse("rewarded.investment - record.investment"), counting) == Decimal(1_500_000)
    steps: list[Step] = []
    evaluate(parse("record.investment"), counting, steps)
    assert steps == [Step("record.investment", Decimal(500_000), "record p0")]


# --- properties ---------------------------------------------------------------------------------------

_UNITS = st.sampled_from([NUMBER, MONEY, MU, AREA, MONTH, parse_unit("元/平方米/月"), MONEY.times(MU, -1)])
numbers = st.builds(Num, st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False), _UNITS)
names = st.sampled_from(["investment", "area", "revenue", "rd_spend", "land_area"])
references = st.one_of(
    st.builds(Ref, st.sampled_from(["record", "rewarded", "enterprise"]), names),
    st.builds(Ref, st.just(""), names, st.one_of(st.none(), st.just(Year()),
                                                  st.builds(Binary, st.just("-"), st.just(Year()), numbers))))


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(Binary, st.sampled_from(["+", "-", "×", "÷"]), children, children),
        st.builds(Call, st.sampled_from(["min", "max"]), st.lists(children, min_size=2, max_size=3).map(tuple)),
        st.builds(lambda kind, name: Call("sum", (Ref(kind, name),)), st.sampled_from(["premises", "project"]), names))


expressions = st.recursive(st.one_of(numbers, references, st.just(Year())), _extend, max_leaves=12)


@given(expressions)
def test_expressions_print_and_read_back_to_the_same_tree(node: Any) -> None:
    assert parse(show(node)) == node


@given(expressions, st.sampled_from(["≥", ">", "≤", "<", "=", "≠"]), expressions)
def test_comparisons_print_and_read_back(left: Any, op: str, right: Any) -> None:
    node = Comparison(op, left, right)
    assert parse_comparison(show(node)) == node


@given(expressions)
def test_nodes_are_hashable_and_equal_trees_hash_equal(node: Any) -> None:
    again = parse(show(node))
    assert hash(again) == hash(node) and {node: 1}[again] == 1


FULL = {("revenue", y): Decimal(10_000_000 + y) for y in range(2015, 2030)} | \
       {("rd_spend", y): Decimal(300_000 + y) for y in range(2015, 2030)}


@given(expressions, st.sets(st.sampled_from(sorted(FULL)), max_size=6))
def test_filling_in_facts_only_resolves_unknowns(node: Any, hidden: set[tuple[str, int]]) -> None:
    """With some figures hidden the result is unknown or the same as with all of them."""
    rec = Project(kind="project", id="p1", date=dt.date(2025, 5, 1), type="tech_retrofit",
                  investment=Decimal(7), equipment_purchase=None)
    partial = {k: v for k, v in FULL.items() if k not in hidden}
    full_value = evaluate(node, Env(PROFILE, rec, figure=lambda n, y: FULL.get((n, y))))
    value = evaluate(node, Env(PROFILE, rec, figure=lambda n, y: partial.get((n, y))))
    if not isinstance(value, Unknown):
        assert value == full_value


def test_sum_adds_a_field_over_the_records_of_a_kind_up_to_as_of() -> None:
    later = Project(kind="project", id="p9", date=dt.date(2027, 1, 1), type="tech_retrofit", investment=Decimal(9))
    other = Project(kind="project", id="p2", date=dt.date(2024, 1, 1), type="tech_retrofit", investment=Decimal(5))
    records = (RECORD, other, later)
    e = Env(PROFILE, RECORD, records=records, as_of=dt.date(2026, 6, 30))
    assert evaluate(parse("sum(project.investment)"), e) == Decimal(2_000_005)
    assert evaluate(parse("sum(project.equipment_purchase)"), e) == Unknown(
        ("project p1.equipment_purchase", "project p2.equipment_purchase"))
    assert evaluate(parse("sum(training.fees)"), e) == 0       # no record of the kind: nothing to add
    with pytest.raises(ExpressionError, match="sum adds one field"):
        parse("sum(record.investment)")
