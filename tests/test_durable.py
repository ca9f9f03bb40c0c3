"""The durable_rules matcher matches exactly what the native matcher does, and its quirks stay inside."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incentives.conditions import All, Facts, Op, Truth, evaluate
from incentives.conditions import Test as Leaf
from incentives.errors import EngineError
from incentives.facts import Enterprise, credit_code_check_digit
from incentives.rulebook import CompiledRule, load_rule_file
from incentives.vocabulary import load_vocabulary
from incentives._durable import MAX_WEIGHT, DurableMatcher

ROOT = Path(__file__).resolve().parent.parent
VOCABULARY = load_vocabulary(ROOT / "rules" / "vocabulary.yaml")
CODE = "91131024MA0CTX8K4" + credit_code_check_digit("91131024MA0CTX8K4")
DOCUMENT = {"title": "测试文件", "issuer": "测试", "issued": dt.date(2025, 1, 1),
            "effective": {"from": dt.date(2025, 1, 1), "to": dt.date(2027, 12, 31)}}


def rule(rule_id: str, rewards: dict[str, Any], when: list[dict[str, Any]] | None = None,
         window: tuple[dt.date, dt.date] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": rule_id, "title": {"zh": rule_id, "en": rule_id},
                            "cite": {"document": "d", "clause": "1", "quote": "测试"}, "rewards": rewards,
                            "amount": {"fixed": 1000}, "payers": {"city": "100%"}}
    if when:
        data["when"] = when
    if window:
        data["window"] = {"from": window[0], "to": window[1]}
    return data


def load(directory: Path, rules: list[dict[str, Any]]) -> tuple[CompiledRule, ...]:
    path = directory / "rules.yaml"
    text = yaml.safe_dump({"city": "testcity", "documents": {"d": DOCUMENT}, "rules": rules},
                          allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return load_rule_file(path, VOCABULARY).rules


def enterprise(records: list[dict[str, Any]], **profile: Any) -> Enterprise:
    base = {"name": "测试企业", "credit_code": CODE, "city": "testcity", **profile}
    return Enterprise.model_validate({"enterprise": base, "records": records})


def native(rules: tuple[CompiledRule, ...], ent: Enterprise) -> set[tuple[str, str]]:
    return {(r.id, record.id) for r in rules for record in ent.records
            if evaluate(r.tree, Facts(ent.profile, record)) is Truth.TRUE}


D = dt.date
MIXED = [
    rule("rec.leader", {"kind": "recognition", "title": "cluster_leader", "level": "provincial"},
         window=(D(2025, 9, 12), D(2026, 12, 31))),
    rule("rec.giant", {"kind": "recognition", "title": ["little_giant", "specialized_sme"]},
         [{"record.level": {"is_not": "national"}}, {"record.first_time": {"is": True}}]),
    rule("rec.review", {"kind": "recognition"},
         [{"record.review_passed": {"is_not": False}},
          {"any": [{"enterprise.size": {"is": "small"}}, {"enterprise.sme": {"is": True}}]}]),
    rule("rec.scope", {"title": "industrial_internet_platform", "kind": "recognition",
                       "scope": ["industry", "regional"]},
         [{"enterprise.clusters": {"includes": "香河智慧家居"}}]),
    rule("rec.day", {"kind": "recognition"},
         [{"record.date": {"is": D(2026, 3, 1)}}, {"enterprise.county": {"is_not": "香河县"}}]),
    rule("rec.not_sme", {"kind": "recognition", "level": "municipal"},
         [{"enterprise.sme": {"is_not": True}}, {"record.date": {"is_not": D(2026, 3, 1)}}]),
    rule("proj.cap", {"kind": "project", "type": "tech_retrofit"},
         [{"record.investment": {"at_least": "200000.00"}}, {"record.investment": {"at_most": "5000000"}}]),
    rule("proj.strict", {"kind": "project"},
         [{"record.investment": {"more_than": "199999.99"}},
          {"record.equipment_purchase": {"less_than": "100000.01"}}]),
    rule("proj.exact", {"kind": "project"}, [{"record.investment": {"is": "300000"}}]),
    rule("proj.not", {"kind": "project"},
         [{"record.investment": {"is_not": "300000"}}, {"record.completed": {"is": True}}]),
    rule("proj.fine", {"kind": "project"},
         [{"record.investment": {"at_least": "0.005"}}, {"record.investment": {"less_than": "0.0051"}}]),
    rule("proj.any", {"kind": "project"},
         [{"any": [{"record.investor_rank": {"one_of": ["fortune_global_500", "china_500"]}},
                   {"all": [{"record.investor_outside_city": {"is": True}},
                            {"enterprise.industries": {"includes_any": ["smart_home", "food"]}}]}]}]),
    rule("proj.lists", {"kind": "project", "type": ["digital_transformation_pilot", "informatisation"]},
         [{"enterprise.clusters": {"not_empty": False}}, {"enterprise.industries": {"not_empty": True}}]),
    rule("proj.size", {"kind": "project"},
         [{"enterprise.size": {"one_of": ["micro", "small"]}}, {"enterprise.county": {"is_not": "香河县"}},
          {"record.date": {"on_or_after": D(2026, 1, 1)}}, {"record.date": {"on_or_before": D(2026, 6, 30)}}]),
    rule("tm.fee", {"kind": "trademark", "type": "madrid"}, [{"record.fee": {"less_than": "10000"}}]),
    rule("aw.amount", {"award": "industrial_design_award", "kind": "award_received",
                       "level": ["national", "provincial"]}, [{"record.amount": {"at_least": "100000"}}]),
    rule("bond.big", {"kind": "bond"}, [{"record.amount": {"more_than": "1亿元"}}]),
    rule("train.fees", {"kind": "training"}, [{"record.fees": {"at_most": "9999.99"}}]),
    rule("stat.new", {"kind": "statistics", "status": "new_above_size"}),
]

# Facts drawn around every bound the rules above use: exact caps, odd fen, sub-fen, beyond int64.
AMOUNTS = ["0", "0.004", "0.0049", "0.005", "0.0050", "0.0051", "0.01", "9999.99", "10000", "10000.001",
           "100000", "100000.01", "100000.009", "199999.99", "200000", "200000.00", "200000.01", "299999.999",
           "300000", "300000.00", "300000.001", "5000000", "5000000.01", "100000000", "100000000.01"]
FINER = ["0.00505", "0.00509999", "9999.98999", "9999.99001", "199999.98999", "199999.99001", "299999.99999",
         "300000.00001", "4999999.99999", "5000000.00001", "100000000.00001", str(10**19)]  # beyond int64 in fen, within money's 20 digits
money = st.one_of(st.sampled_from(AMOUNTS + FINER).map(Decimal),
                  st.integers(min_value=0, max_value=10**10).map(lambda fen: Decimal(fen) / 100),
                  st.decimals(min_value=0, max_value=10**7, places=6))
BOUNDS = [D(2024, 12, 31), D(2025, 1, 1), D(2025, 9, 11), D(2025, 9, 12), D(2026, 1, 1), D(2026, 2, 28),
          D(2026, 3, 1), D(2026, 3, 2), D(2026, 6, 30), D(2026, 7, 1), D(2026, 12, 31), D(2027, 1, 1),
          D(2027, 12, 31), D(2028, 1, 1)]
days = st.one_of(st.sampled_from(BOUNDS), st.dates(min_value=D(2024, 6, 1), max_value=D(2028, 6, 30)))
flags = st.sampled_from([None, True, False])
CLUSTERS = [None, [], ["香河智慧家居"], ["大厂影视"], ["大厂影视", "香河智慧家居"]]
INDUSTRIES = [None, [], ["smart_home"], ["food", "biomedicine"], ["biomedicine"]]


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def pick(*choices: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(choices)


RECORDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "recognition": {"title": pick("cluster_leader", "little_giant", "specialized_sme", "industrial_internet_platform",
                                  "共享工厂"),
                    "level": pick(None, "national", "provincial", "municipal", "外省"),
                    "scope": pick(None, "industry", "regional", "cross_industry"),
                    "first_time": flags, "review_passed": flags},
    "project": {"type": pick("tech_retrofit", "digital_transformation_pilot", "informatisation", "其他"),
                "investment": optional(money), "equipment_purchase": optional(money), "completed": flags,
                "investor_rank": pick(None, "fortune_global_500", "china_500", "industry_top_100"),
                "investor_outside_city": flags},
    "trademark": {"type": pick("madrid", "well_known"), "fee": optional(money)},
    "award_received": {"award": pick("industrial_design_award", "其他奖"),
                       "level": pick(None, "national", "municipal", "provincial"), "amount": money},
    "bond": {"amount": money},
    "training": {"fees": money},
    "statistics": {"status": pick("new_above_size", "small_to_above_size")},
    "standard": {"level": pick("national", "group"), "role": pick("lead", "participate")},
}


@st.composite
def records(draw: st.DrawFn, kinds: tuple[str, ...] = tuple(RECORDS)) -> list[dict[str, Any]]:
    drawn = []
    for i in range(draw(st.integers(min_value=0, max_value=6))):
        kind = draw(st.sampled_from(kinds))
        fields = {name: draw(strategy) for name, strategy in RECORDS[kind].items()}
        drawn.append({"id": f"r{i}", "kind": kind, "date": draw(days),
                      **{k: v for k, v in fields.items() if v is not None}})
    return drawn


@st.composite
def enterprises(draw: st.DrawFn, kinds: tuple[str, ...] = tuple(RECORDS)) -> Enterprise:
    return enterprise(draw(records(kinds)), clusters=draw(st.sampled_from(CLUSTERS)),
                      industries=draw(st.sampled_from(INDUSTRIES)),
                      size=draw(pick(None, "micro", "small", "medium", "large")),
                      county=draw(pick(None, "香河县", "大厂回族自治县")))


def every_comparison() -> list[dict[str, Any]]:
    """One rule per (fact, comparison, bound): each bound is hit exactly, just above and just below."""
    tests: list[tuple[str, str, Any]] = []
    tests += [(fact, op, bound) for fact in ("record.investment", "record.equipment_purchase")
              for op in ("at_least", "more_than", "at_most", "less_than", "is", "is_not")
              for bound in ("0.005", "199999.99", "300000")]
    tests += [("record.date", op, bound) for op in ("on_or_after", "on_or_before", "is", "is_not")
              for bound in (D(2025, 9, 12), D(2026, 3, 1))]
    tests += [(fact, op, flag) for fact in ("record.completed", "enterprise.sme") for op in ("is", "is_not")
              for flag in (True, False)]
    tests += [("record.investor_rank", op, "china_500") for op in ("is", "is_not")]
    tests += [("record.investor_rank", "one_of", ["china_500", "fortune_global_500"]),
              ("enterprise.size", "one_of", ["micro", "small"]), ("enterprise.size", "is_not", "large"),
              ("enterprise.clusters", "includes", "香河智慧家居"), ("enterprise.clusters", "not_empty", True),
              ("enterprise.clusters", "not_empty", False),
              ("enterprise.industries", "includes_any", ["food", "smart_home"])]
    return [rule(f"each.r{i}", {"kind": "project"}, [{fact: {op: bound}}])
            for i, (fact, op, bound) in enumerate(tests)]


@pytest.fixture(scope="module")
def each(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[CompiledRule, ...], DurableMatcher]:
    rules = load(tmp_path_factory.mktemp("each"), every_comparison())
    return rules, DurableMatcher(rules)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[CompiledRule, ...], DurableMatcher]:
    rules = load(tmp_path_factory.mktemp("mixed"), MIXED)
    return rules, DurableMatcher(rules)


@pytest.fixture(scope="module")
def langfang() -> tuple[tuple[CompiledRule, ...], DurableMatcher]:
    rules = load_rule_file(ROOT / "rules" / "langfang.yaml", VOCABULARY).rules
    return rules, DurableMatcher(rules)


@settings(max_examples=200, deadline=None)
@given(ent=enterprises())
def test_matches_equal_native_evaluation(mixed: Any, ent: Enterprise) -> None:
    rules, matcher = mixed
    assert matcher.match(ent) == native(rules, ent)


@settings(max_examples=200, deadline=None)
@given(ent=enterprises(("project",)))
def test_every_comparison_matches_like_native(each: Any, ent: Enterprise) -> None:
    rules, matcher = each
    assert matcher.match(ent) == native(rules, ent)


@settings(max_examples=100, deadline=None)
@given(ent=enterprises(("recognition", "project")))
def test_langfang_matches_equal_native_evaluation(langfang: Any, ent: Enterprise) -> None:
    rules, matcher = langfang
    assert matcher.match(ent) == native(rules, ent)


# Random rule files: durable's shared alpha network, $or and nesting against the native matcher.
RANKS = ["fortune_global_500", "china_500", "industry_top_100"]
leaf = st.one_of(
    st.tuples(pick("record.investment", "record.equipment_purchase"),
              pick("at_least", "more_than", "at_most", "less_than", "is", "is_not"), st.sampled_from(AMOUNTS)),
    st.tuples(st.just("record.date"), pick("on_or_after", "on_or_before", "is", "is_not"), st.sampled_from(BOUNDS)),
    st.tuples(pick("record.completed", "record.investor_outside_city", "enterprise.sme"), pick("is", "is_not"),
              st.booleans()),
    st.tuples(st.just("record.investor_rank"), pick("is", "is_not"), st.sampled_from(RANKS)),
    st.tuples(st.just("record.investor_rank"), st.just("one_of"),
              st.lists(st.sampled_from(RANKS), min_size=1, max_size=3, unique=True)),
    st.tuples(st.just("enterprise.size"), pick("is", "is_not"), pick("micro", "small", "large")),
    st.tuples(st.just("enterprise.clusters"), st.just("includes"), pick("香河智慧家居", "大厂影视")),
    st.tuples(st.just("enterprise.industries"), st.just("includes_any"),
              st.lists(pick("smart_home", "food", "biomedicine"), min_size=1, max_size=2, unique=True)),
    st.tuples(pick("enterprise.clusters", "enterprise.industries"), st.just("not_empty"), st.booleans()),
).map(lambda t: {t[0]: {t[1]: t[2]}})
condition = st.recursive(leaf, lambda inner: st.tuples(pick("any", "all"), st.lists(inner, min_size=1, max_size=3))
                         .map(lambda t: {t[0]: t[1]}), max_leaves=8)
generated_rule = st.tuples(st.sampled_from([{"kind": "project"}, {"kind": "project", "type": "tech_retrofit"}]),
                           st.lists(condition, max_size=4))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(generated_rule, min_size=1, max_size=5),
       ents=st.lists(enterprises(("project", "training")), min_size=1, max_size=3))
def test_random_rule_files_match_like_native(tmp_path_factory: pytest.TempPathFactory, specs: Any,
                                             ents: list[Enterprise]) -> None:
    rules = load(tmp_path_factory.mktemp("generated"),
                 [rule(f"gen.r{i}", rewards, when) for i, (rewards, when) in enumerate(specs)])
    matcher = DurableMatcher(rules)
    for ent in ents:
        assert matcher.match(ent) == native(rules, ent)


def test_langfang_known_answers(langfang: Any) -> None:
    _, matcher = langfang
    ent = enterprise([
        {"id": "on", "kind": "recognition", "title": "cluster_leader", "level": "provincial", "date": "2025-09-12"},
        {"id": "before", "kind": "recognition", "title": "cluster_leader", "level": "provincial", "date": "2025-09-11"},
        {"id": "pilot", "kind": "project", "type": "digital_transformation_pilot", "date": "2026-03-01",
         "investment": "150万元"},
    ], clusters=["香河智慧家居"])
    assert matcher.match(ent) == {("lf.leader.provincial", "on"), ("lf.digital_pilot", "pilot")}
    assert matcher.match(ent, [ent.records[1], ent.records[2]]) == {("lf.digital_pilot", "pilot")}


def test_unknown_cluster_membership_is_no_match(langfang: Any) -> None:
    _, matcher = langfang
    pilot = {"id": "p", "kind": "project", "type": "digital_transformation_pilot", "date": "2026-03-01"}
    assert matcher.match(enterprise([pilot], clusters=None)) == set()
    assert matcher.match(enterprise([pilot], clusters=[])) == set()
    assert matcher.match(enterprise([pilot], clusters=["x"])) == {("lf.digital_pilot", "p")}


def test_is_not_on_an_absent_fact_does_not_match(tmp_path: Path) -> None:
    rules = load(tmp_path, [
        rule("t.level", {"kind": "recognition"}, [{"record.level": {"is_not": "national"}}]),
        rule("t.money", {"kind": "project"}, [{"record.investment": {"is_not": "300000"}}]),
        rule("t.flag", {"kind": "project"}, [{"record.completed": {"is_not": True}}]),
        rule("t.size", {"kind": "project"}, [{"enterprise.sme": {"is_not": False}}]),
    ])
    matcher = DurableMatcher(rules)
    absent = enterprise([{"id": "a", "kind": "recognition", "title": "little_giant", "date": "2026-01-01"},
                         {"id": "b", "kind": "project", "type": "tech_retrofit", "date": "2026-01-01"}])
    assert matcher.match(absent) == set() == native(rules, absent)
    present = enterprise([{"id": "a", "kind": "recognition", "title": "little_giant", "level": "provincial",
                           "date": "2026-01-01"},
                          {"id": "b", "kind": "project", "type": "tech_retrofit", "date": "2026-01-01",
                           "investment": "300000.01", "completed": False}], size="large")
    assert matcher.match(present) == {("t.level", "a"), ("t.money", "b"), ("t.flag", "b")} == native(rules, present)


def test_two_thousand_calls_leave_no_session_behind(mixed: Any) -> None:
    rules, matcher = mixed
    hit = enterprise([{"id": "p", "kind": "project", "type": "tech_retrofit", "date": "2026-01-01",
                       "investment": "300000"},
                      {"id": "r", "kind": "recognition", "title": "cluster_leader", "level": "provincial",
                       "date": "2026-01-01"}], size="small")
    miss = enterprise([{"id": "p", "kind": "project", "type": "其他", "date": "2024-01-01"},
                       {"id": "r", "kind": "recognition", "title": "x", "date": "2024-01-01"}])
    cases = [(ent, native(rules, ent)) for ent in (miss, hit)]
    assert cases[1][1] and not cases[0][1]
    for i in range(2000):      # a session left in any ruleset would fail call 1025 (1024 live at most)
        ent, expected = cases[i % 2]
        assert matcher.match(ent) == expected


@settings(max_examples=3, deadline=None)
@given(ents=st.lists(enterprises(), min_size=30, max_size=30))
def test_threads_get_the_same_matches_as_serial_calls(mixed: Any, ents: list[Enterprise]) -> None:
    rules, matcher = mixed
    serial = [matcher.match(e) for e in ents]
    assert serial == [native(rules, e) for e in ents]
    with ThreadPoolExecutor(max_workers=8) as pool:
        rounds = list(pool.map(lambda _: [matcher.match(e) for e in ents], range(8)))
    assert all(result == serial for result in rounds)


def test_two_matchers_on_the_same_rules_coexist(tmp_path: Path) -> None:
    rules = load(tmp_path, MIXED)
    first, second = DurableMatcher(rules), DurableMatcher(rules)
    assert not set(first.rulesets) & set(second.rulesets)
    ent = enterprise([{"id": "p", "kind": "project", "type": "tech_retrofit", "date": "2026-01-01",
                       "investment": "200000"}], size="small")
    for _ in range(3):
        assert first.match(ent) == second.match(ent) == native(rules, ent) != set()


def test_many_rules_matching_one_fact_are_split_across_rulesets(tmp_path: Path) -> None:
    # One ruleset with all of them would exceed durable's 64 pending tests (error 303).
    rules = load(tmp_path, [rule(f"many.r{i}", {"kind": "project"}, [{"record.investment": {"at_least": i * 1000}}])
                            for i in range(150)])
    matcher = DurableMatcher(rules)
    assert len(matcher.rulesets) >= 150 // MAX_WEIGHT
    ent = enterprise([{"id": "p", "kind": "project", "type": "tech_retrofit", "date": "2026-01-01",
                       "investment": "100000"}])
    assert matcher.match(ent) == native(rules, ent) == {(f"many.r{i}", "p") for i in range(101)}


def test_many_list_tests_stay_under_the_attribute_limit(tmp_path: Path) -> None:
    # Each list test is one attribute; a fact with all 300 would exceed durable's 254 (error 302).
    rules = load(tmp_path, [rule(f"list.r{i}", {"kind": "project"}, [{"enterprise.clusters": {"includes": f"c{i}"}}])
                            for i in range(300)])
    matcher = DurableMatcher(rules)
    ent = enterprise([{"id": "p", "kind": "project", "type": "tech_retrofit", "date": "2026-01-01"}],
                     clusters=["c7", "c299"])
    assert matcher.match(ent) == native(rules, ent) == {("list.r7", "p"), ("list.r299", "p")}


def test_a_rule_with_many_alternatives_is_accepted(tmp_path: Path) -> None:
    # 20 'any' groups exceed durable's 15 $and/$or per rule (error 113).
    alternatives = [{"any": [{"record.investment": {"at_least": str(i * 10000)}}, {"record.completed": {"is": True}}]}
                    for i in range(20)]
    rules = load(tmp_path, [rule("wide.r", {"kind": "project"}, alternatives)])
    matcher = DurableMatcher(rules)
    for investment, completed in [("100000", None), ("190000", False), ("190000", True), (None, True)]:
        fields = {k: v for k, v in {"investment": investment, "completed": completed}.items() if v is not None}
        ent = enterprise([{"id": "p", "kind": "project", "type": "tech_retrofit", "date": "2026-01-01", **fields}])
        assert matcher.match(ent) == native(rules, ent)


def test_a_rule_durable_cannot_hold_is_an_engine_error(tmp_path: Path) -> None:
    base = load(tmp_path, [rule("bad.r", {"kind": "recognition"})])[0]
    broken = dataclasses.replace(base, tree=All((*base.tree.children, Leaf("record.title", Op.IS, "\ud800"))))
    with pytest.raises(EngineError, match=r"durable_rules rejected ruleset .*bad\.r"):
        DurableMatcher([broken])


def test_a_fact_of_the_wrong_type_is_an_engine_error(tmp_path: Path) -> None:
    base = load(tmp_path, [rule("odd.r", {"kind": "recognition"})])[0]
    odd = dataclasses.replace(base, tree=All((*base.tree.children, Leaf("record.title", Op.AT_LEAST, Decimal(1)))))
    matcher = DurableMatcher([odd])
    ent = enterprise([{"id": "a", "kind": "recognition", "title": "little_giant", "date": "2026-01-01"}])
    with pytest.raises(EngineError, match="fact record.title is str"):
        matcher.match(ent)
    assert matcher.match(enterprise([])) == set()


def test_sessions_that_matched_nothing_are_deleted_safely() -> None:
    # Deleting a session in which no action ever ran crashed the process before the warm-up.
    script = textwrap.dedent("""
        from incentives._durable import DurableMatcher
        from incentives.rulebook import load_rule_file
        from incentives.vocabulary import load_vocabulary
        from incentives.facts import Enterprise, credit_code_check_digit
        rules = load_rule_file("rules/langfang.yaml", load_vocabulary("rules/vocabulary.yaml")).rules
        code = "91131024MA0CTX8K4" + credit_code_check_digit("91131024MA0CTX8K4")
        ent = Enterprise.model_validate({"enterprise": {"name": "x", "credit_code": code, "city": "langfang"},
            "records": [{"id": "r", "kind": "recognition", "title": "little_giant", "date": "2020-01-01"},
                        {"id": "p", "kind": "project", "type": "tech_retrofit", "date": "2020-01-01"}]})
        for _ in range(3):
            matchers = [DurableMatcher(rules) for _ in range(3)]
            for _ in range(300):
                assert all(m.match(ent) == set() for m in matchers)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_memory_stays_flat_over_a_thousand_rulebooks() -> None:
    # Each matcher registered its rulesets in the process's one host for ever: ~0.26 MB a rulebook.
    import gc

    from incentives import Rulebook, assess, load_rulebook
    from incentives._durable import _LOCK, _host

    from conftest import RULES, enterprise as firm, record

    def resident_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    book = load_rulebook(RULES)
    leader = firm([record.recognition("cluster_leader", "provincial")])
    paid = assess(leader, book, dt.date(2026, 6, 30), engine="durable").total
    for n in range(1050):
        if n == 50:
            gc.collect()
            before = resident_mb()
        book = Rulebook(files=book.files, vocabulary=book.vocabulary, hash=book.hash, by_id=book.by_id)  # fresh matchers
        assert assess(leader, book, dt.date(2026, 6, 30), engine="durable").total == paid
    gc.collect()
    assert resident_mb() - before < 25, "durable rulesets of dropped rulebooks are not freed"
    with _LOCK:
        assert len(_host()._ruleset_list) < 50   # the live rulebooks' rulesets, not 1,050 rulebooks'
