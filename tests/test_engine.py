"""Engine behaviour that no single city shows: combination, conflicts, limits, isolation."""

from __future__ import annotations

import datetime as dt
import gc
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest

from incentives import assess, load_rulebook

from conftest import RULES, enterprise, outcome, record

D = Decimal
AS_OF = dt.date(2026, 6, 30)

HEADER = """\
city: langfang
documents:
  a: {title: 甲方案, number: 甲〔2025〕1号, issuer: 甲, issued: 2025-01-01, effective: {from: 2025-01-01, to: null}}
  b: {title: 乙报道, issuer: 乙, issued: 2025-01-01, effective: {from: 2025-01-01, to: null}, kind: report}
  c: {title: 丙办法, number: 丙〔2025〕2号, issuer: 丙, issued: 2025-01-01, effective: {from: 2025-01-01, to: null},
      kind: notice}
"""


def rule(rid: str, doc: str, amount: str, group: str | None = None, level: str = "provincial",
         clause: str = "一") -> str:
    text = (f"  - id: {rid}\n    title: {{zh: {rid}, en: {rid}}}\n    cite: {{document: {doc}, clause: {clause}, quote: 奖励}}\n"
            f"    rewards: {{kind: recognition, title: cluster_leader, level: {level}}}\n"
            f"    amount: {{fixed: {amount}}}\n    payers: {{city: 100%}}\n")
    return text + (f"    group: {group}\n" if group else "")


def book_of(tmp_path: Path, body: str, header: str = HEADER):  # type: ignore[no-untyped-def]
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    (tmp_path / "langfang.yaml").write_text(header + body, "utf-8")
    return load_rulebook(tmp_path)


LEADER = [record("recognition", title="cluster_leader", level="provincial", id="r", date=dt.date(2025, 6, 1))]


def test_official_sources_that_disagree_pay_the_highest_once_and_show_the_conflict(tmp_path: Path) -> None:
    book = book_of(tmp_path, "groups:\n  g: {title: 同一成就, combine: highest}\nrules:\n"
                   + rule("x.plan", "a", "200万元", "g") + rule("x.notice", "c", "1000万元", "g"))
    result = assess(enterprise(LEADER), book, AS_OF)
    assert [(a.rule_id, a.amount) for a in result.awards] == [("x.notice", D("10000000.00"))]
    [conflict] = result.conflicts
    assert (conflict.record_id, conflict.rule_ids, conflict.paid_rule_id) == ("r", ["x.plan", "x.notice"], "x.notice")
    assert conflict.amounts == [D("2000000.00"), D("10000000.00")] and conflict.documents == ["a", "c"]
    assert "disagree" in conflict.reason and conflict.reported == []
    lost = next(o for o in result.not_eligible if o.rule_id == "x.plan")
    assert lost.reasons == ["record r is already rewarded by x.notice; only the highest is paid"]


def test_a_report_never_settles_money_it_is_shown_beside_the_official_amount(tmp_path: Path) -> None:
    book = book_of(tmp_path, "groups:\n  g: {title: 同一成就, combine: highest}\nrules:\n"
                   + rule("x.plan", "a", "200万元", "g") + rule("x.report", "b", "1000万元", "g"))
    result = assess(enterprise(LEADER), book, AS_OF)
    assert [(a.rule_id, a.amount) for a in result.awards] == [("x.plan", D("2000000.00"))]
    assert [(r.rule_id, r.amount, r.citation.document_kind) for r in result.awards[0].reported] == [
        ("x.report", D("10000000.00"), "report")]
    assert result.total == result.total_max == D("2000000.00")
    assert result.total_reported_max == D("10000000.00")
    [conflict] = result.conflicts
    assert (conflict.rule_ids, conflict.paid_rule_id, conflict.reported) == (["x.plan", "x.report"], "x.plan", ["x.report"])
    assert conflict.amounts == [D("2000000.00"), D("10000000.00")]
    assert result.reported == [] and not any(o.rule_id == "x.report" for o in result.not_eligible)


def test_a_report_alone_is_listed_as_reported_and_in_no_total(tmp_path: Path) -> None:
    book = book_of(tmp_path, "rules:\n" + rule("x.report", "b", "1000万元"))
    result = assess(enterprise(LEADER), book, AS_OF)
    assert result.awards == [] and result.total == result.total_max == D("0.00")
    assert [(a.rule_id, a.amount, a.citation.document_kind) for a in result.reported] == [
        ("x.report", D("10000000.00"), "report")]
    assert result.total_reported_max == D("10000000.00")
    from incentives import award_rows
    assert award_rows(enterprise(LEADER), book, AS_OF) == []


def test_same_amount_from_two_sources_is_paid_once(tmp_path: Path) -> None:
    book = book_of(tmp_path, "groups:\n  g: {title: 驰名商标, combine: highest}\nrules:\n"
                   + rule("x.plan", "a", "50万元", "g") + rule("x.report", "b", "50万元", "g"))
    result = assess(enterprise(LEADER), book, AS_OF)
    assert result.total == D("500000.00") and len(result.awards) == 1
    assert result.conflicts[0].documents == ["a", "b"] and "disagree" not in result.conflicts[0].reason
    assert result.total_reported_max == D("500000.00")


def test_a_newer_official_text_supersedes_a_clause_from_its_effective_date(tmp_path: Path) -> None:
    header = HEADER.replace("      kind: notice}", "      kind: notice, supersedes: [{document: a, clauses: [一]}]}")
    header = header.replace("丙, issued: 2025-01-01, effective: {from: 2025-01-01", "丙, issued: 2025-07-01, "
                            "effective: {from: 2025-07-01")
    book = book_of(tmp_path, "rules:\n" + rule("x.old", "a", "200万元") + rule("x.kept", "a", "5万元", clause="二",
                                                                             level="national")
                   + rule("x.new", "c", "300万元"), header)
    assert book.by_id["x.old"].window.end == dt.date(2025, 6, 30)
    assert book.by_id["x.kept"].window.end is None
    before = assess(enterprise(LEADER), book, AS_OF)                         # 2025-06-01: the old clause
    assert [(a.rule_id, a.amount) for a in before.awards] == [("x.old", D("2000000.00"))]
    later = [record("recognition", title="cluster_leader", level="provincial", id="r", date=dt.date(2025, 7, 1))]
    after = assess(enterprise(later), book, AS_OF)                           # 2025-07-01: the new text
    assert [(a.rule_id, a.amount) for a in after.awards] == [("x.new", D("3000000.00"))]
    assert "record.date on_or_before 2025-06-30 fails: actual 2025-07-01" in next(
        o for o in after.not_eligible if o.rule_id == "x.old").reasons


def test_only_an_official_text_can_supersede(tmp_path: Path) -> None:
    from incentives.errors import RulebookError

    header = HEADER.replace("effective: {from: 2025-01-01, to: null}, kind: report}",
                            "effective: {from: 2025-01-01, to: null}, kind: report, supersedes: [{document: a}]}")
    with pytest.raises(RulebookError, match=r"langfang\.yaml:\d+:\d+: .*a report cannot replace an official text"):
        book_of(tmp_path, "rules:\n" + rule("x.old", "a", "200万元"), header)


def test_ungrouped_rules_on_one_record_never_pay_twice(tmp_path: Path) -> None:
    book = book_of(tmp_path, "rules:\n" + rule("x.one", "a", "10万元") + rule("x.two", "a", "20万元"))
    result = assess(enterprise(LEADER), book, AS_OF)
    assert [a.rule_id for a in result.awards] == ["x.two"]
    assert "declare no common group" in result.conflicts[0].reason


def test_group_all_pays_every_rule(tmp_path: Path) -> None:
    book = book_of(tmp_path, "groups:\n  g: {title: 叠加, combine: all}\nrules:\n"
                   + rule("x.one", "a", "10万元", "g") + rule("x.two", "a", "20万元", "g"))
    result = assess(enterprise(LEADER), book, AS_OF)
    assert result.total == D("300000.00") and result.conflicts == []


def test_additional_pays_only_on_top_of_its_base(tmp_path: Path) -> None:
    body = ("groups:\n  g: {title: 再奖励, combine: additional}\nrules:\n"
            + rule("x.base", "a", "100万元", "g", level="provincial") + rule("x.more", "a", "200万元", "g", level="national"))
    book = book_of(tmp_path, body)
    national = [record("recognition", title="cluster_leader", level="national", id="n", date=dt.date(2025, 7, 1))]
    alone = assess(enterprise(national), book, AS_OF)
    assert alone.awards == []
    assert next(o for o in alone.not_eligible if o.record_id == "n").reasons == ["additional to x.base, which does not pay"]
    both = assess(enterprise(LEADER + national), book, AS_OF)
    assert both.total == D("3000000.00")



def test_many_rules_on_one_record_pay_the_first_highest_without_comparing_candidates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from incentives.engine import _Candidate, award_rows

    amounts = [f"{1 + i % 7}万元" for i in range(120)]  # seven amounts repeated: ties everywhere
    book = book_of(tmp_path, "rules:\n" + "".join(rule(f"x.r{i:03}", "a", a) for i, a in enumerate(amounts)))

    def refuse(self: object, other: object) -> bool:  # comparing candidates (and their Pydantic records) is quadratic
        raise AssertionError("candidates compared")

    monkeypatch.setattr(_Candidate, "__eq__", refuse)
    result = assess(enterprise(LEADER), book, AS_OF)
    assert [(a.rule_id, a.amount) for a in result.awards] == [("x.r006", D("70000.00"))]
    [conflict] = result.conflicts
    assert conflict.paid_rule_id == "x.r006" and len(conflict.rule_ids) == 120
    assert [(r.rule_id, r.amount) for r in award_rows(enterprise(LEADER), book, AS_OF)] == [("x.r006", D("70000.00"))]


def test_a_report_beside_many_paying_rules_is_shown_beside_the_first_highest_without_comparing_candidates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from incentives.engine import _Candidate

    amounts = [f"{1 + i % 7}万元" for i in range(60)]
    book = book_of(tmp_path, "groups:\n  g: {title: 各项均奖, combine: all}\nrules:\n"
                   + "".join(rule(f"x.r{i:03}", "a", a, "g") for i, a in enumerate(amounts))
                   + rule("x.report", "b", "1000万元", "g"))

    def refuse(self: object, other: object) -> bool:
        raise AssertionError("candidates compared")

    monkeypatch.setattr(_Candidate, "__eq__", refuse)
    result = assess(enterprise(LEADER), book, AS_OF)
    assert result.total == D(sum(1 + i % 7 for i in range(60)) * 10000) and len(result.awards) == 60
    [conflict] = [c for c in result.conflicts if c.reported]
    assert conflict.paid_rule_id == "x.r006" and conflict.rule_ids == ["x.r006", "x.report"]
    assert [(r.rule_id, r.amount) for a in result.awards for r in a.reported] == [("x.report", D("10000000.00"))]


def test_once_per_year(tmp_path: Path) -> None:
    book = book_of(tmp_path, "rules:\n" + rule("x.one", "a", "1万元") + "    limit: once_per_year\n")
    records = [record("recognition", title="cluster_leader", level="provincial", id=f"r{i}", date=day)
               for i, day in enumerate([dt.date(2025, 3, 1), dt.date(2025, 9, 1), dt.date(2026, 2, 1)])]
    result = assess(enterprise(records), book, AS_OF)
    assert [a.record_id for a in result.awards] == ["r0", "r2"]
    assert next(o for o in result.not_eligible if o.record_id == "r1").reasons == [
        "once per year (2025): already awarded for record r0"]


def test_assessments_are_isolated_and_memory_stays_flat(book) -> None:  # type: ignore[no-untyped-def]
    ents = [enterprise([record("project", type="digital_transformation_pilot", investment=f"{i}万元", id="p")])
            for i in range(1, 51)]
    for engine in ("native", "durable"):
        for e in ents:  # warm up: rulesets compiled, caches filled
            assess(e, book, AS_OF, engine=engine)  # type: ignore[arg-type]
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(40):
            for e in ents:
                assess(e, book, AS_OF, engine=engine)  # type: ignore[arg-type]
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert grown < 512 * 1024, f"{engine}: {grown} bytes kept after 2,000 assessments"


def test_an_unknown_term_in_facts_is_refused_by_assess(book) -> None:  # type: ignore[no-untyped-def]
    from incentives import VocabularyError

    with pytest.raises(VocabularyError, match="did you mean 'cluster_leader'"):
        assess(enterprise([record("recognition", title="cluster_leaders", level="provincial")]), book, AS_OF)


def test_conditions_on_titles_the_enterprise_holds(tmp_path: Path) -> None:
    body = ("rules:\n" + rule("x.sme", "a", "10万元").replace("level: provincial}", "level: municipal}")
            + "    when:\n      - enterprise.recognitions: {includes: specialized_sme}\n")
    book = book_of(tmp_path, body)
    leader = [record("recognition", title="cluster_leader", level="municipal", id="m", date=dt.date(2025, 6, 1))]
    holder = leader + [record("recognition", title="specialized_sme", level="provincial", id="s",
                              date=dt.date(2024, 1, 1))]
    for engine in ("native", "durable"):
        assert assess(enterprise(holder), book, AS_OF, engine=engine).total == D("100000.00")  # type: ignore[arg-type]
        without = assess(enterprise(leader), book, AS_OF, engine=engine)  # type: ignore[arg-type]
        assert without.awards == []
    reasons = assess(enterprise(leader), book, AS_OF).not_eligible[0].reasons
    assert reasons == ["enterprise.recognitions includes specialized_sme fails: actual [cluster_leader]"]


def test_additional_group_with_an_explicit_base(tmp_path: Path) -> None:
    body = ("groups:\n  g: {title: 再奖励, combine: additional, base: x.base}\nrules:\n"
            + rule("x.more", "a", "200万元", "g", level="national") + rule("x.base", "a", "100万元", "g"))
    book = book_of(tmp_path, body)
    national = [record("recognition", title="cluster_leader", level="national", id="n", date=dt.date(2025, 7, 1))]
    assert assess(enterprise(national), book, AS_OF).awards == []
    assert assess(enterprise(LEADER + national), book, AS_OF).total == D("3000000.00")


def test_a_base_outside_its_group_is_an_error(tmp_path: Path) -> None:
    from incentives import RulebookError

    body = ("groups:\n  g: {title: 再奖励, combine: additional, base: x.nope}\nrules:\n"
            + rule("x.more", "a", "200万元", "g", level="national"))
    with pytest.raises(RulebookError, match="base 'x.nope' is not a rule of group 'g'"):
        book_of(tmp_path, body)


def test_once_per_achievement_pays_one_achievement_recorded_twice_once(tmp_path: Path) -> None:
    body = ("rules:\n" + rule("x.one", "a", "30万元") + "    limit: {once_per: achievement}\n"
            + rule("x.two", "a", "50万元", level="national").replace("cluster_leader", "little_giant")
            + "    limit: once_per_achievement\n")
    book = book_of(tmp_path, body)
    again = [record("recognition", title="cluster_leader", level="provincial", id="r2", date=dt.date(2026, 2, 1)),
             record("recognition", title="little_giant", level="national", id="g", date=dt.date(2025, 8, 1))]
    result = assess(enterprise(LEADER + again), book, AS_OF)
    assert [(a.rule_id, a.record_id, a.amount) for a in result.awards] == [
        ("x.one", "r", D("300000.00")), ("x.two", "g", D("500000.00"))]
    assert outcome(result, "x.one", "r2").reasons == ["once per achievement: already awarded for record r"]
    assert result.total == D("800000.00")


def test_once_per_record_still_pays_each_record_of_one_achievement(tmp_path: Path) -> None:
    book = book_of(tmp_path, "rules:\n" + rule("x.one", "a", "30万元") + "    limit: {once_per: record}\n")
    again = [record("recognition", title="cluster_leader", level="provincial", id="r2", date=dt.date(2026, 2, 1))]
    assert assess(enterprise(LEADER + again), book, AS_OF).total == D("600000.00")


def test_once_per_enterprise_and_its_mapping_form_agree(tmp_path: Path) -> None:
    other = [record("recognition", title="cluster_leader", level="provincial", id="r2", date=dt.date(2026, 2, 1))]
    totals = []
    for limit in ("once_per_enterprise", "{once_per: enterprise}"):
        book = book_of(tmp_path, "rules:\n" + rule("x.one", "a", "30万元") + f"    limit: {limit}\n")
        totals.append(assess(enterprise(LEADER + other), book, AS_OF).total)
    assert totals == [D("300000.00")] * 2


@pytest.mark.parametrize("limit", ["{once_per: ever}", "{once_per: achievement, years: 3}", "once_per_decade"])
def test_a_limit_the_engine_cannot_read_is_located(tmp_path: Path, limit: str) -> None:
    from incentives import RulebookError
    with pytest.raises(RulebookError) as info:
        book_of(tmp_path, "rules:\n" + rule("x.one", "a", "30万元") + f"    limit: {limit}\n")
    line = (HEADER + "rules:\n" + rule("x.one", "a", "30万元")).count("\n") + 1
    assert f":{line}:5: schema: rules[0].limit: " in str(info.value.problems[0])


MULTIPLIED = HEADER + """\
rules:
  - id: x.giant
    title: {zh: 高新技术企业小巨人奖励, en: High-tech little giants}
    cite: {document: a, clause: 一, quote: 对认定为国家级专精特新小巨人的高新技术企业奖励40万元}
    rewards: {kind: recognition, title: little_giant, level: national}
    when:
      - enterprise.recognitions: {includes: high_tech}
    amount: {fixed: 40万元}
    payers: {city: 100%}
  - id: x.giant.leader
    title: {zh: 领跑者小巨人上浮, en: Raised for cluster leaders}
    cite: {document: a, clause: 二, quote: 同时为集群领跑者的按150%奖励}
    rewards: {kind: recognition, title: little_giant, level: national}
    when:
      - enterprise.clusters: {not_empty: true}
    amount: {multiplier: 150%, of_rule: x.giant}
    payers: {city: 100%}
"""


@pytest.mark.parametrize("written, paid_without_high_tech", [
    ("", []), ("    base_conditions: inherit\n", []),
    ("    base_conditions: ignore\n", [("x.giant.leader", D("600000.00"))])])
def test_a_multiplier_inherits_its_base_rules_conditions_unless_it_says_ignore(
        tmp_path: Path, written: str, paid_without_high_tech: list[tuple[str, Decimal]]) -> None:
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    (tmp_path / "langfang.yaml").write_text(MULTIPLIED + written, "utf-8")
    book = load_rulebook(tmp_path)
    giant = record("recognition", title="little_giant", level="national", id="g", date=dt.date(2025, 6, 1))
    high_tech = record("recognition", title="high_tech", level="national", id="h", date=dt.date(2025, 1, 1))
    alone = assess(enterprise([giant]), book, AS_OF)
    assert [(a.rule_id, a.amount) for a in alone.awards] == paid_without_high_tech  # not 60万 without 高新
    both = assess(enterprise([giant, high_tech]), book, AS_OF)
    assert [(a.rule_id, a.amount) for a in both.awards] == [("x.giant.leader", D("600000.00"))]
    if not written:
        assert outcome(alone, "x.giant.leader", "g").reasons == [
            "enterprise.recognitions includes high_tech fails: actual [little_giant]"]


def test_lint_asks_a_multiplier_to_say_whether_its_base_conditions_apply(tmp_path: Path) -> None:
    from incentives.lint import lint_files
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    path = tmp_path / "langfang.yaml"
    path.write_text(MULTIPLIED, "utf-8")
    found = [str(p) for p in lint_files([path]) if p.code == "base-conditions-implicit"]
    assert found == [f"{path}:22:32: base-conditions-implicit: rules[1].amount.of_rule: x.giant.leader multiplies "
                     "x.giant, whose own conditions (1) then apply here too: write base_conditions: inherit to say "
                     "so, or base_conditions: ignore if this rule stands on its own"]
    path.write_text(MULTIPLIED + "    base_conditions: ignore\n", "utf-8")
    assert not [p for p in lint_files([path]) if p.code == "base-conditions-implicit"]
    path.write_text(MULTIPLIED.replace("    payers: {city: 100%}\n  - id: x.giant.leader",
                                       "    payers: {city: 100%}\n    base_conditions: inherit\n  - id: x.giant.leader"),
                    "utf-8")
    assert [str(p).split(": ", 2)[2] for p in lint_files([path]) if p.code == "base-conditions"] == [
        "rules[0].base_conditions: base_conditions goes with a multiplier (amount.of_rule) only"]


def test_public_functions_check_their_arguments(book) -> None:  # type: ignore[no-untyped-def]
    from incentives import ArgumentError, IncentivesError, award_rows, load_enterprise

    ent = enterprise([])
    calls = [(lambda: assess({"enterprise": {}}, book), "enterprise: must be Enterprise, not dict"),  # AttributeError
             (lambda: assess(ent, book, "2026-06-30"), "as_of: must be date, not str"),              # TypeError
             (lambda: assess(ent, "rules"), "rulebook: must be Rulebook, not str"),
             (lambda: assess(ent, book, engine="drools"), "engine must be 'native' or 'durable'"),  # type: ignore[arg-type]
             (lambda: award_rows(ent, book, 20260630), "as_of: must be date, not int"),  # type: ignore[arg-type]
             (lambda: load_enterprise([1]), "source: must be str or Path or dict, not list"),  # type: ignore[arg-type]
             (lambda: load_enterprise({}, {"a": 1}), "vocabulary: must be Vocabulary"),  # type: ignore[arg-type]
             (lambda: load_rulebook(3), "path: must be str or Path, not int")]  # type: ignore[arg-type]
    for call, message in calls:
        with pytest.raises(ArgumentError, match=message) as e:
            call()
        assert isinstance(e.value, IncentivesError) and isinstance(e.value, TypeError)
    assert assess(ent, book, dt.datetime(2026, 6, 30, 12)).as_of == dt.date(2026, 6, 30)
