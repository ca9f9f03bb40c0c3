"""Conditions over the whole enterprise: comparisons of expressions and counts of other records.

Counts are not monotone (``none``, ``count … at_most``): a missing fact of another record can turn
them either way. So besides the known answers, the compiled predicates are held to the explaining
evaluation in both directions (holds ⇔ TRUE, fails ⇔ FALSE, never both), durable_rules to the
native matcher, on random trees with unknowns; filling in a missing fact only resolves unknowns, and
the order of the records changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incentives import assess
from incentives.conditions import Count, Facts, Truth, compile_fails, compile_holds, evaluate
from incentives.errors import ExpressionError, RulebookError
from incentives.facts import Enterprise
from incentives.rulebook import CompiledRule, Rulebook, extra_facts, load_rule_file
from incentives._durable import DurableMatcher

from test_durable import AMOUNTS, DOCUMENT, VOCABULARY, enterprise, enterprises, leaf, load, pick, rule

AS_OF = dt.date(2026, 6, 30)
D = dt.date


def truths(rule: CompiledRule, ent: Enterprise, as_of: dt.date = AS_OF) -> dict[str, Truth]:
    extra = extra_facts(ent, as_of)
    return {r.id: evaluate(rule.tree, Facts(ent.profile, r, extra)) for r in ent.records
            if r.kind == rule.rule.rewards["kind"]}


def one(tmp_path: Path, when: list[Any], rewards: dict[str, Any] | None = None) -> CompiledRule:
    rules = load(tmp_path, [rule("t.r", rewards or {"kind": "project"}, when)])
    return rules[0]


PROJECT = {"kind": "project", "type": "tech_retrofit"}


def test_some_counts_other_records_of_a_kind(tmp_path: Path) -> None:
    r = one(tmp_path, [{"some": {"kind": "recognition", "where": [
        {"record.title": {"one_of": ["specialized_sme", "little_giant"]}}]}}])
    ent = enterprise([{**PROJECT, "id": "p1", "date": D(2026, 3, 1), "investment": 1},
                      {"kind": "recognition", "id": "g1", "date": D(2025, 1, 1), "title": "little_giant"}])
    assert truths(r, ent) == {"p1": Truth.TRUE}
    # a recognition dated after as_of has not happened yet
    assert truths(r, ent, as_of=D(2024, 12, 31)) == {"p1": Truth.FALSE}


def test_none_is_false_once_one_record_meets_the_where_and_unknown_when_one_might(tmp_path: Path) -> None:
    r = one(tmp_path, [{"none": {"kind": "project", "where": [{"record.completed": {"is": True}}],
                                 "before": "rewarded"}}])
    records = [{**PROJECT, "id": "p2", "date": D(2026, 3, 1)}]
    assert truths(r, enterprise(records)) == {"p2": Truth.TRUE}
    earlier_done = {**PROJECT, "id": "p1", "date": D(2025, 3, 1), "completed": True}
    assert truths(r, enterprise([earlier_done, *records]))["p2"] is Truth.FALSE
    earlier_unknown = {**PROJECT, "id": "p1", "date": D(2025, 3, 1)}
    assert truths(r, enterprise([earlier_unknown, *records]))["p2"] is Truth.UNKNOWN
    # the rewarded record never counts itself, and 'before: rewarded' ignores later records
    assert truths(r, enterprise([earlier_done, *records]))["p1"] is Truth.TRUE


def test_count_bounds_and_years(tmp_path: Path) -> None:
    r = one(tmp_path, [{"count": {"kind": "training", "at_least": 2, "at_most": 3, "within_years": 2}}])
    trainings = [{"kind": "training", "id": f"t{i}", "date": day, "fees": 100}
                 for i, day in enumerate([D(2023, 1, 1), D(2024, 7, 1), D(2025, 1, 1), D(2026, 1, 1)])]
    rewarded = {**PROJECT, "id": "p", "date": D(2026, 2, 1)}
    assert truths(r, enterprise([rewarded, *trainings[:1]]))["p"] is Truth.FALSE    # 2023 is too early
    assert truths(r, enterprise([rewarded, *trainings[1:3]]))["p"] is Truth.TRUE
    assert truths(r, enterprise([rewarded, *trainings]))["p"] is Truth.TRUE         # three within two years


def test_where_compares_the_counted_record_with_the_rewarded_one(tmp_path: Path) -> None:
    r = one(tmp_path, [{"none": {"kind": "project", "where": [
        {"record.type": {"is": "tech_retrofit"}}, {"record.investor_rank": {"is": "china_500"}},
        "record.investment ≥ rewarded.investment"]}}])
    rewarded = {**PROJECT, "id": "p", "date": D(2026, 2, 1), "investment": 500}
    bigger = {**PROJECT, "id": "q", "date": D(2025, 2, 1), "investment": 900, "investor_rank": "china_500"}
    smaller = {**bigger, "id": "q", "investment": 100}
    assert truths(r, enterprise([rewarded, bigger]))["p"] is Truth.FALSE
    assert truths(r, enterprise([rewarded, smaller]))["p"] is Truth.TRUE


def test_comparisons_of_expressions(tmp_path: Path) -> None:
    r = one(tmp_path, ["record.equipment_purchase ≥ 60% × record.investment"])
    ent = enterprise([{**PROJECT, "id": "a", "date": D(2026, 1, 1), "investment": 100, "equipment_purchase": 60},
                      {**PROJECT, "id": "b", "date": D(2026, 1, 1), "investment": 100, "equipment_purchase": 59},
                      {**PROJECT, "id": "c", "date": D(2026, 1, 1), "investment": 100}])
    assert truths(r, ent) == {"a": Truth.TRUE, "b": Truth.FALSE, "c": Truth.UNKNOWN}


def test_an_unknown_yearly_figure_is_named_in_the_explanation(tmp_path: Path) -> None:
    r = one(tmp_path, ["revenue[year - 1] ≥ 2000万元"])
    book = Rulebook(files={}, vocabulary=VOCABULARY, hash="")
    ent = enterprise([{**PROJECT, "id": "p", "date": D(2026, 1, 1), "investment": 1}])
    book.files["testcity"] = type("F", (), {"rules": (r,)})()  # type: ignore[assignment]
    result = assess(ent, book, AS_OF)
    (outcome,) = result.undetermined
    assert outcome.missing == ["enterprise.revenue[2025]"]
    (check,) = [c for c in outcome.checks if c.fact == "revenue[year - 1]"]
    assert (check.op, check.required, check.actual) == ("≥", "2000万元", "missing: enterprise.revenue[2025]")


def test_expression_type_errors_are_located_at_the_token(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    data = {"city": "testcity", "documents": {"d": DOCUMENT},
            "rules": [rule("t.r", {"kind": "project"}, ["record.investment + record.completed ≥ 1元",
                                                         {"some": {"kind": "nothing"}},
                                                         {"count": {"kind": "training", "more": 1}}])]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(RulebookError) as e:
        load_rule_file(path, VOCABULARY)
    problems = [str(p) for p in e.value.problems]
    line = next(n for n, text in enumerate(path.read_text("utf-8").splitlines(), 1) if "record.completed" in text)
    column = path.read_text("utf-8").splitlines()[line - 1].index("record.completed") + 1
    assert problems[0] == f"{path}:{line}:{column}: expression: rules[0].when[0]: record.completed is bool: " \
        "expressions compute with numbers"
    assert isinstance(e.value.problems[0], ExpressionError)
    assert "some.kind must be one of" in problems[1]
    assert "unknown key 'more' in 'count'" in problems[2] and "'count' needs at_least or at_most" in problems[3]


# --- properties on random trees with unknowns --------------------------------------------------------

recognition_where = st.one_of(
    st.tuples(st.just("record.title"), pick("is", "is_not"), pick("little_giant", "cluster_leader")),
    st.tuples(st.just("record.level"), pick("is", "is_not"), pick("provincial", "national")),
    st.tuples(pick("record.first_time", "record.review_passed"), st.just("is"), st.booleans()),
    st.tuples(st.just("rewarded.investment"), pick("at_least", "less_than"), st.sampled_from(AMOUNTS)),
).map(lambda t: {t[0]: {t[1]: t[2]}})
project_where = st.one_of(
    leaf, st.sampled_from(["record.investment ≥ rewarded.investment",
                           "record.equipment_purchase × 2 > rewarded.investment - 1元"]))
count_leaf = st.one_of(
    st.tuples(pick("some", "none"), st.fixed_dictionaries(
        {"kind": st.just("recognition"), "where": st.lists(recognition_where, max_size=2)},
        optional={"before": pick("rewarded", "as_of"), "within_years": st.integers(1, 3)})),
    st.tuples(st.just("count"), st.fixed_dictionaries(
        {"kind": st.just("project"), "where": st.lists(project_where, max_size=2)},
        optional={"at_least": st.integers(0, 2), "at_most": st.integers(0, 2), "before": pick("rewarded")}
    ).filter(lambda d: "at_least" in d or "at_most" in d)),
).map(lambda t: {t[0]: t[1]})
compare_leaf = st.sampled_from([
    "record.investment ≥ 2 × record.equipment_purchase",
    "min(record.investment, 50万元) > record.equipment_purchase - 1元",
    "record.investment ÷ record.equipment_purchase ≥ 150%",
    "revenue[year - 1] ≥ 2000万元"])
whole_tree = st.recursive(st.one_of(leaf, count_leaf, compare_leaf), lambda inner: st.tuples(
    pick("any", "all"), st.lists(inner, min_size=1, max_size=3)).map(lambda t: {t[0]: t[1]}), max_leaves=6)
KINDS = ("project", "recognition")


def _verdicts(rules: tuple[CompiledRule, ...], ent: Enterprise) -> dict[tuple[str, str], Truth]:
    extra = extra_facts(ent, AS_OF)
    return {(r.id, rec.id): evaluate(r.tree, Facts(ent.profile, rec, extra))
            for r in rules for rec in ent.records if rec.kind == "project"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(trees=st.lists(st.lists(whole_tree, min_size=1, max_size=3), min_size=1, max_size=4),
       ents=st.lists(enterprises(KINDS), min_size=1, max_size=3))
def test_compiled_predicates_and_durable_agree_with_evaluation(tmp_path_factory: pytest.TempPathFactory,
                                                                trees: Any, ents: list[Enterprise]) -> None:
    rules = load(tmp_path_factory.mktemp("whole"), [rule(f"w.r{i}", {"kind": "project"}, when)
                                                   for i, when in enumerate(trees)])
    matcher = DurableMatcher(rules)
    for ent in ents:
        extra = extra_facts(ent, AS_OF)
        verdicts = _verdicts(rules, ent)
        for r in rules:
            holds, fails = compile_holds(r.tree), compile_fails(r.tree)
            for rec in ent.records:
                if rec.kind != "project":
                    continue
                truth = verdicts[(r.id, rec.id)]
                h, f = holds(ent.profile, rec, extra), fails(ent.profile, rec, extra)
                assert h == (truth is Truth.TRUE) and f == (truth is Truth.FALSE) and not (h and f)
        matched = matcher.match(ent, extra=extra)
        assert {k for k, t in verdicts.items() if t is Truth.TRUE} == {m for m in matched
                                                                       if m[1] in {k[1] for k in verdicts}}


OPTIONAL = {"project": ("investment", "equipment_purchase", "completed", "investor_rank", "investor_outside_city"),
            "recognition": ("level", "scope", "first_time", "review_passed")}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(trees=st.lists(st.lists(whole_tree, min_size=1, max_size=3), min_size=1, max_size=3),
       ent=enterprises(KINDS), seed=st.integers(0, 2**32))
def test_filling_in_facts_only_resolves_unknowns_and_order_changes_nothing(
        tmp_path_factory: pytest.TempPathFactory, trees: Any, ent: Enterprise, seed: int) -> None:
    rules = load(tmp_path_factory.mktemp("fill"), [rule(f"f.r{i}", {"kind": "project"}, when)
                                                  for i, when in enumerate(trees)])
    rng = random.Random(seed)
    data = ent.model_dump(by_alias=True)
    for record in data["records"]:
        for name in OPTIONAL[record["kind"]]:
            if rng.random() < 0.4:
                record[name] = None
    partial = Enterprise.model_validate(data)
    full, hidden = _verdicts(rules, ent), _verdicts(rules, partial)
    for key, truth in hidden.items():
        assert truth is Truth.UNKNOWN or truth is full[key], key
    rng.shuffle(data["records"])
    assert _verdicts(rules, Enterprise.model_validate(data)) == hidden


def test_a_count_is_frozen_and_hashable(tmp_path: Path) -> None:
    r = one(tmp_path, [{"none": {"kind": "training"}}])
    (count,) = [c for c in r.tree.children if isinstance(c, Count)]
    assert hash(count) == hash(Count(count.kind, count.where, None, 0, written="none"))
