"""The population path gives exactly the explained engine's awards.

``award_rows`` (and ``assess(..., explain=False)``) judge a record only against the rules the index
lists for it, by conditions compiled into plain predicates (``compile_holds``). Here both are held
against the leaf-by-leaf three-valued evaluation that explains every verdict: on random condition
trees, random rule files with every amount form, and synthetic registers of the three real cities.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from incentives import Enterprise, assess, load_rulebook
from incentives.conditions import Facts, Truth, compile_holds, evaluate
from incentives.engine import award_rows
from incentives.errors import VocabularyError
from incentives.facts import derived_facts
from incentives.rulebook import CompiledRule, RuleIndex
from incentives.synth import synthesize

from conftest import shared_rulebook
from test_durable import (AMOUNTS, BOUNDS, CLUSTERS, DOCUMENT, INDUSTRIES, MIXED, VOCABULARY, enterprise, enterprises,
                          every_comparison, flags, leaf, load, pick, rule)

AS_OF = dt.date(2026, 6, 30)


def holds_like_evaluate(rules: tuple[CompiledRule, ...], ent: Enterprise) -> None:
    derived = derived_facts(ent)
    index = RuleIndex(rules)
    for record in ent.records:
        expected = [r for r in rules if evaluate(r.tree, Facts(ent.profile, record, derived)) is Truth.TRUE]
        for r in rules:
            assert compile_holds(r.tree)(ent.profile, record, derived) == (r in expected), (r.id, record)
        # as the engine reads the index: the rules it lists, by the rest of their conditions
        assert [r for r, holds in index.entries(record) if holds(ent.profile, record, derived)] == expected


@pytest.fixture(scope="module")
def mixed_rules(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompiledRule, ...]:
    return load(tmp_path_factory.mktemp("mixed"), MIXED + every_comparison())


@settings(max_examples=200)
@given(ent=enterprises())
def test_compiled_conditions_hold_exactly_where_evaluation_is_true(mixed_rules: Any, ent: Enterprise) -> None:
    holds_like_evaluate(mixed_rules, ent)


# Random trees over the facts of each record kind, the enterprise, and a fact only the engine derives.
enterprise_leaf = st.one_of(
    st.tuples(st.just("enterprise.size"), pick("is", "is_not"), pick("micro", "small", "large")),
    st.tuples(st.just("enterprise.clusters"), st.just("includes"), pick("香河智慧家居", "大厂影视")),
    st.tuples(pick("enterprise.clusters", "enterprise.industries", "enterprise.recognitions"), st.just("not_empty"),
              st.booleans()),
    st.tuples(st.just("enterprise.recognitions"), st.just("includes"), pick("little_giant", "cluster_leader")),
    st.tuples(st.just("enterprise.recognitions"), st.just("includes_any"),
              st.lists(pick("little_giant", "cluster_leader"), min_size=1, max_size=2, unique=True)),
).map(lambda t: {t[0]: {t[1]: t[2]}})
recognition_leaf = st.one_of(
    st.tuples(st.just("record.level"), pick("is", "is_not"), pick("provincial", "national", "municipal")),
    st.tuples(pick("record.first_time", "record.review_passed"), pick("is", "is_not"), st.booleans()),
    st.tuples(st.just("record.scope"), st.just("one_of"), st.lists(pick("industry", "regional"), min_size=1,
                                                                   max_size=2, unique=True)),
    st.tuples(st.just("record.date"), pick("on_or_after", "on_or_before", "is_not"), st.sampled_from(BOUNDS)),
).map(lambda t: {t[0]: {t[1]: t[2]}})


def trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaves, lambda inner: st.tuples(pick("any", "all"), st.lists(
        inner, min_size=1, max_size=3)).map(lambda t: {t[0]: t[1]}), max_leaves=8)


CONDITIONS = {"project": trees(st.one_of(leaf, enterprise_leaf)),
              "recognition": trees(st.one_of(recognition_leaf, enterprise_leaf))}
REWARDS = [{"kind": "project"}, {"kind": "project", "type": "tech_retrofit"},
           {"kind": "project", "type": ["tech_retrofit", "informatisation"]}, {"kind": "recognition"},
           {"kind": "recognition", "title": "little_giant"}]
conditioned = st.sampled_from(REWARDS).flatmap(
    lambda rewards: st.tuples(st.just(rewards), st.lists(CONDITIONS[rewards["kind"]], max_size=3)))
# Most rules of a rule file pay someone: few or no conditions beyond the kind.
paying = st.sampled_from(REWARDS).flatmap(lambda rewards: st.tuples(st.just(rewards), st.one_of(
    st.just([]), st.lists(CONDITIONS[rewards["kind"]], max_size=1))))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(specs=st.lists(conditioned, min_size=1, max_size=6),
       ents=st.lists(enterprises(("project", "recognition")), min_size=1, max_size=3))
def test_random_trees_hold_exactly_where_evaluation_is_true(tmp_path_factory: pytest.TempPathFactory, specs: Any,
                                                            ents: list[Enterprise]) -> None:
    rules = load(tmp_path_factory.mktemp("trees"), [rule(f"gen.r{i}", r, w) for i, (r, w) in enumerate(specs)])
    for ent in ents:
        holds_like_evaluate(rules, ent)


# Random rule files with every amount form that reads facts, limits, caps and groups.
money = st.sampled_from(AMOUNTS[6:])
unread = st.one_of(money.map(lambda m: {"fixed": m}), money.map(lambda m: {"up_to": m}),
                   st.just({"unquantified": "另行研究"}))   # amounts that read no fact
amount = st.one_of(
    unread,
    st.tuples(pick("10%", "30%", "1%"), st.one_of(st.none(), money)).map(
        lambda t: {"rate": t[0], "of": "record.investment", **({"cap": t[1]} if t[1] else {})}),
    st.tuples(pick("50%", "100%"), money).map(lambda t: {"matching": t[0], "of": "record.investment", "cap": t[1]}),
    # the forms over expressions, with caps that are facts and bases that are expressions
    st.tuples(pick("10%", "50%"), st.one_of(st.none(), st.just("record.equipment_purchase"))).map(lambda t: {
        "rate": t[0], "of": "min(record.investment, 2 × record.equipment_purchase)",
        **({"at_most": t[1]} if t[1] else {})}),
    st.sampled_from([{"formula": "record.investment - record.equipment_purchase", "cap": "50万元"},
                     {"per_unit": {"rate": "100元/月", "times": ["record.investment ÷ 100万元", "12个月"]}},
                     {"marginal": {"of": "record.investment", "bands": [
                         {"up_to": "100万元", "rate": "10%"}, {"up_to": "500万元", "rate": "5%"}, {"rate": "2%"}]},
                      "at_most": "record.equipment_purchase"},
                     {"by_year": {"years": {1: {"fixed": "10万元"}, "2-3": {"rate": "5%", "of": "record.investment"}}}}]),
)
rule_spec = st.one_of(paying, conditioned).flatmap(lambda conditions: st.fixed_dictionaries({
    "conditions": st.just(conditions),
    "amount": amount if conditions[0]["kind"] == "project" else st.one_of(unread, st.just(
        {"by_year": {"from": "achievement", "years": {1: {"fixed": "5万元"}, "2": {"fixed": "3万元"}}}})),
    "limit": pick("once_per_record", "once_per_achievement", "once_per_enterprise", "once_per_year"),
    "enterprise_cap": st.one_of(st.none(), money), "group": pick(None, "g.high", "g.all"),
    "instalments": st.booleans(),
    "payers": pick({"city": "100%"}, {"city": "50%", "county": "50%"}, {"city": "1/3"}, "unspecified"),
}))
GROUPS = {"g.high": {"title": "highest", "combine": "highest"}, "g.all": {"title": "all", "combine": "all"}}


RECORD_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "project": {"type": pick("tech_retrofit", "informatisation", "digital_transformation_pilot"),
                "investment": st.one_of(st.none(), st.sampled_from(AMOUNTS), st.decimals(0, 10**7, places=2)),
                "equipment_purchase": st.one_of(st.none(), st.sampled_from(AMOUNTS)), "completed": flags,
                "investor_rank": pick(None, "fortune_global_500", "china_500"), "investor_outside_city": flags},
    "recognition": {"title": pick("little_giant", "cluster_leader", "specialized_sme"),
                    "level": pick(None, "national", "provincial", "municipal"),
                    "scope": pick(None, "industry", "regional", "cross_industry"), "first_time": flags,
                    "review_passed": flags},
}


@st.composite
def registered(draw: st.DrawFn) -> Enterprise:
    """An enterprise whose terms are all in the vocabulary, its records mostly inside the rules' window."""
    records = []
    for i in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(pick(*RECORD_FIELDS))
        fields = {name: draw(strategy) for name, strategy in RECORD_FIELDS[kind].items()}
        date = draw(st.one_of(st.sampled_from(BOUNDS), st.dates(dt.date(2025, 1, 1), dt.date(2026, 6, 30))))
        records.append({"id": f"r{i}", "kind": kind, "date": date, **{k: v for k, v in fields.items() if v is not None}})
    return enterprise(records, clusters=draw(st.sampled_from(CLUSTERS)), industries=draw(st.sampled_from(INDUSTRIES)),
                      size=draw(pick(None, "micro", "small", "large")))


def rule_file(directory: Path, specs: list[dict[str, Any]]) -> Path:
    rules = []
    for i, spec in enumerate(specs):
        data = rule(f"gen.r{i}", *spec["conditions"])
        data.update(amount=spec["amount"], limit=spec["limit"], payers=spec["payers"])
        if data["payers"] == {"city": "1/3"}:
            data["payers"] = {"ratio": "1:2", "to": ["city", "county"]}
        for key in ("enterprise_cap", "group"):
            if spec[key] is not None:
                data[key] = spec[key]
        if spec["instalments"]:
            data["instalments"] = [{"share": "30%", "due": "签约后"}, {"share": "70%", "due": "投产后", "when": [
                {"enterprise.size": {"is_not": "large"}}]}]
        rules.append(data)
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"city": "testcity", "documents": {"d": DOCUMENT}, "groups": GROUPS,
                                    "rules": rules}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def explained(ent: Enterprise, book: Any) -> list[tuple[Any, ...]]:
    return [(a.rule_id, a.record_id, a.status, a.amount, a.amount_max, a.payers, a.payers_unspecified)
            for a in assess(ent, book, AS_OF).awards]


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(specs=st.lists(rule_spec, min_size=1, max_size=6),
       ents=st.lists(registered(), min_size=2, max_size=4), odd=enterprises(("project", "recognition")))
def test_random_rule_files_pay_the_explained_awards(tmp_path_factory: pytest.TempPathFactory,
                                                    specs: list[dict[str, Any]], ents: list[Enterprise],
                                                    odd: Enterprise) -> None:
    book = load_rulebook(rule_file(tmp_path_factory.mktemp("files"), specs), VOCABULARY)
    paid = 0
    for ent in [*ents, odd]:
        try:
            expected = explained(ent, book)
        except VocabularyError:  # a term the vocabulary lacks: refused on both paths
            with pytest.raises(VocabularyError):
                award_rows(ent, book, AS_OF)
            continue
        paid += len(expected)
        assert [tuple(r) for r in award_rows(ent, book, AS_OF)] == expected
        quiet = [a.model_copy(update={"checks": []}) for a in assess(ent, book, AS_OF, explain=False).awards]
        assert quiet == [a.model_copy(update={"checks": []}) for a in assess(ent, book, AS_OF).awards]
    event(f"awards: {min(paid, 5)}")


@settings(max_examples=15)
@given(city=pick("langfang", "cangzhou", "shijiazhuang"), seed=st.integers(min_value=0, max_value=2**32))
def test_synthetic_registers_get_the_explained_awards(city: str, seed: int) -> None:
    book = shared_rulebook()
    for data in synthesize(city, 40, seed=seed, rulebook=book, as_of=AS_OF):
        ent = Enterprise.model_validate(data)
        assert [tuple(r) for r in award_rows(ent, book, AS_OF)] == explained(ent, book)
