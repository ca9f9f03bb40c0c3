"""Derived facts: typed, acyclic, located when wrong, unknown (never zero) when an input is missing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from incentives import _yaml, assess, load_rulebook
from incentives.derived import compile_derived
from incentives.errors import ExpressionError, RulebookError
from incentives.expressions import BOOL, MONEY, NUMBER, Env, Step, Undefined, Unknown, evaluate, parse
from incentives.facts import Profile, Project

from test_durable import DOCUMENT, VOCABULARY, enterprise, rule

FIGURES = {"revenue": MONEY, "rd_spend": MONEY, "employees": NUMBER}
DECLARED = {"rd_ratio": "rd_spend[year] ÷ revenue[year]",
            "revenue_growth": "revenue[year] ÷ revenue[year - 1] - 1",
            "above_size": {"expr": "revenue[year] ≥ 2000万元", "zh": "规上"},
            "rd_ratio_2y": "(rd_ratio + rd_ratio[year - 1]) ÷ 2"}


def test_declarations_are_typed() -> None:
    derived, problems = compile_derived(DECLARED, FIGURES)
    assert not problems
    assert {n: d.dim for n, d in derived.items()} == {"rd_ratio": NUMBER, "revenue_growth": NUMBER,
                                                        "above_size": BOOL, "rd_ratio_2y": NUMBER}


def located(text: str) -> list[str]:
    doc = _yaml.parse(text, "facts.yaml")
    _, problems = compile_derived(doc.data["derived"], FIGURES, doc)
    return [str(p) for p in problems]


def test_a_type_error_is_one_located_line() -> None:
    assert located('derived:\n  bad: "rd_spend[year] + employees[year]"\n') == [
        "facts.yaml:2:24: cannot add money and number"]


def test_a_cycle_is_one_located_line_per_fact_in_it() -> None:
    problems = located("derived:\n  a: b + 1\n  b: a × 2\n  c: revenue[year]\n")
    assert problems == ["facts.yaml:3:6: derived facts depend on each other: a → b → a"]


def test_unknown_names_and_keys() -> None:
    assert located("derived:\n  x: profit[year]\n  y: {expr: '1', unit: 元}\n  revenue: '1'\n") == [
        "facts.yaml:3:18: unknown key 'unit': a derived fact has expr, zh, en",
        "facts.yaml:4:3: 'revenue' is already a yearly figure",
        "facts.yaml:2:6: unknown fact 'profit'"]


PROFILE = Profile(name="甲", credit_code="91131024MA0DUK8R4E", city="testcity")
REC = Project(kind="project", id="p", date=dt.date(2025, 4, 1), type="tech_retrofit")


def env(figures: dict[tuple[str, int], int]) -> Env:
    derived, _ = compile_derived(DECLARED, FIGURES)
    return Env(PROFILE, REC, figure=lambda n, y: None if (n, y) not in figures else Decimal(figures[n, y]),
               derived=derived)


def test_derived_values_are_exact_unknown_or_undefined() -> None:
    figures = {("revenue", 2024): 30_000_000, ("rd_spend", 2024): 900_000, ("revenue", 2023): 0}
    assert evaluate(parse("rd_ratio[year - 1]"), env(figures)) == Decimal("0.03")
    assert evaluate(parse("above_size[2024]"), env(figures)) == 1
    assert evaluate(parse("rd_ratio"), env(figures)) == Unknown(("enterprise.rd_spend[2025]",
                                                                 "enterprise.revenue[2025]"))
    assert evaluate(parse("revenue_growth[2024]"), env(figures)) == Undefined("division by zero: revenue[year - 1] is 0")
    steps: list[Step] = []
    evaluate(parse("rd_ratio[2024]"), env(figures), steps)
    assert steps == [Step("enterprise.rd_spend[2024]", Decimal(900_000), "yearly figures"),
                     Step("enterprise.revenue[2024]", Decimal(30_000_000), "yearly figures"),
                     Step("rd_ratio[2024]", Decimal("0.03"), "derived: rd_spend[year] ÷ revenue[year]")]


def test_rules_read_derived_facts_and_a_missing_figure_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    rules = [rule("t.rd", {"kind": "project"}, ["rd_ratio[year - 1] ≥ 3%", "above_size[year - 1]"])]
    path.write_text(yaml.safe_dump({"city": "testcity", "documents": {"d": DOCUMENT}, "rules": rules},
                                   allow_unicode=True), encoding="utf-8")
    book = load_rulebook(path, VOCABULARY, derived=DECLARED)
    ent = enterprise([{"kind": "project", "id": "p", "date": dt.date(2025, 4, 1), "type": "tech_retrofit"}])
    (outcome,) = assess(ent, book, dt.date(2025, 12, 31)).undetermined
    assert outcome.missing == ["enterprise.rd_spend[2024]", "enterprise.revenue[2024]"]
    bad = [rule("t.bad", {"kind": "project"}, ["rd_ratio[year - 1] ≥ 3万元"])]
    path.write_text(yaml.safe_dump({"city": "testcity", "documents": {"d": DOCUMENT}, "rules": bad},
                                   allow_unicode=True), encoding="utf-8")
    with pytest.raises(RulebookError, match="cannot compare number with money") as e:
        load_rulebook(path, VOCABULARY, derived=DECLARED)
    assert isinstance(e.value.problems[0], ExpressionError)
    with pytest.raises(RulebookError, match="derived facts depend on each other"):
        load_rulebook(path, VOCABULARY, derived={"a": "a + 1"})
