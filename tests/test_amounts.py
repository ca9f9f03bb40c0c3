"""The amount forms over expressions: per_unit, formula, marginal bands, by_year, caps that are facts.

Each is typed (an amount must come out in 元, located to the token), exact to the fen, explained,
and undetermined (naming the fact) when an input is missing. Properties: marginal bands equal a
brute-force sum over every yuan band and never decrease; per-enterprise caps never pay more than
the cap, and pay min(cap, Σ) when every award is determined.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from incentives import assess, load_rulebook
from incentives.amounts import Amount, Band, Marginal
from incentives.errors import ExpressionError, RulebookError
from incentives.rulebook import Rulebook

from test_durable import DOCUMENT, VOCABULARY, enterprise, rule

AS_OF = dt.date(2026, 12, 31)
D = dt.date


def book(tmp_path: Path, amounts: list[dict[str, Any]], kind: str = "project", **extra: Any) -> Rulebook:
    rules = []
    for i, amount in enumerate(amounts):
        data = rule(f"t.r{i}", {"kind": kind})
        data.update(amount=amount, **extra)
        rules.append(data)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"city": "testcity", "documents": {"d": DOCUMENT}, "rules": rules},
                                   allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_rulebook(path, VOCABULARY)


def project(rid: str = "p", **fields: Any) -> dict[str, Any]:
    return {"kind": "project", "id": rid, "date": D(2026, 3, 1), "type": "tech_retrofit", **fields}


def test_per_unit_rate_times_quantities(tmp_path: Path) -> None:
    rules = book(tmp_path, [{"per_unit": {"rate": "15元/月", "times": ["record.investment ÷ 1万元", "6个月"]},
                             "cap": "5万元"}])
    (award,) = assess(enterprise([project(investment="12万元")]), rules, AS_OF).awards
    assert award.amount == Decimal("1080.00")
    assert award.basis == "15元/月 × (record.investment ÷ 1万元) × 6个月 (record.investment = 120000 (record p)) = 1080.00"


def test_an_amount_must_come_out_as_money_located_at_the_token(tmp_path: Path) -> None:
    with pytest.raises(RulebookError) as e:
        book(tmp_path, [{"formula": "record.investment × 12个月"}, {"formula": "record.investment + 12个月"}])
    first, second = e.value.problems
    assert isinstance(first, ExpressionError) and "record.investment × 12个月 is 元·月, not money" in first.message
    text = (tmp_path / "rules.yaml").read_text("utf-8").splitlines()
    line = next(n for n, t in enumerate(text, 1) if "record.investment + 12个月" in t)
    assert (second.location.line, second.location.column) == (line, text[line - 1].index("+") + 1)
    assert second.message == "cannot add money and months"


def test_a_base_capped_by_an_expression_and_an_award_capped_by_a_fact(tmp_path: Path) -> None:
    rules = book(tmp_path, [{"rate": "50%", "of": "min(record.investment, 130% × record.equipment_purchase)",
                             "at_most": "record.equipment_purchase"}])
    (award,) = assess(enterprise([project(investment=1000, equipment_purchase=100)]), rules, AS_OF).awards
    assert award.amount == Decimal("65.00")     # 50% × min(1000, 130) = 65 ≤ 100
    (award,) = assess(enterprise([project(investment=1000, equipment_purchase=10)]), rules, AS_OF).awards
    assert award.amount == Decimal("6.50")      # 50% × 13 = 6.5 ≤ 10
    assert "at most record.equipment_purchase = 10.00" in (award.basis or "")
    result = assess(enterprise([project(investment=1000)]), rules, AS_OF)
    assert not result.awards and result.undetermined[0].missing == ["record.equipment_purchase"]


def test_an_unknown_cap_makes_the_award_undetermined(tmp_path: Path) -> None:
    rules = book(tmp_path, [{"formula": "record.investment × 10%", "at_most": "record.equipment_purchase"},
                            {"fixed": "10万元", "at_most": "record.equipment_purchase"}])
    result = assess(enterprise([project(investment=1000)]), rules, AS_OF)
    assert [o.missing for o in result.undetermined] == [["record.equipment_purchase"]] * 2
    result = assess(enterprise([project(investment=1000, equipment_purchase=30000)]), rules, AS_OF)
    assert [a.amount for a in result.awards] == [Decimal("30000.00")]   # the highest of 100 and 30000


def test_marginal_bands_known_answer(tmp_path: Path) -> None:
    rules = book(tmp_path, [{"marginal": {"of": "record.investment", "bands": [
        {"up_to": "100万元", "rate": "10%"}, {"up_to": "500万元", "rate": "8%"}, {"rate": "5%"}]}, "cap": "60万元"}])
    (award,) = assess(enterprise([project(investment="600万元")]), rules, AS_OF).awards
    assert award.amount == Decimal("470000.00")   # 10万 + 32万 + 5万
    (award,) = assess(enterprise([project(investment="2000万元")]), rules, AS_OF).awards
    assert award.amount == Decimal("600000.00")   # 10万 + 32万 + 75万, capped at 60万


def test_bands_must_rise() -> None:
    with pytest.raises(ValueError, match="bands rise"):
        Marginal.model_validate({"of": "record.investment", "bands": [{"up_to": 10, "rate": "1%"},
                                                                     {"up_to": 5, "rate": "1%"}]})
    with pytest.raises(ValueError, match="only the last band may be open"):
        Marginal.model_validate({"of": "record.investment", "bands": [{"rate": "1%"}, {"up_to": 5, "rate": "1%"}]})


bands = st.lists(st.tuples(st.integers(1, 50), st.integers(0, 100)), min_size=1, max_size=5).map(
    lambda parts: [Band(up_to=Decimal(sum(w for w, _ in parts[:i + 1])), rate=Decimal(r) / 100)
                   for i, (_, r) in enumerate(parts)])


@given(bands, st.booleans(), st.integers(0, 300), st.integers(0, 300))
def test_marginal_bands_equal_a_brute_force_sum_and_never_decrease(scale: list[Band], open_top: bool,
                                                                  a: int, b: int) -> None:
    if open_top:
        scale = [*scale, Band(rate=Decimal("0.03"))]
    spec = Marginal(of="record.investment", bands=scale)

    def brute(base: int) -> Decimal:   # yuan by yuan: the rate of the band each yuan falls in
        total = Decimal(0)
        for yuan in range(base):
            band = next((x for x in scale if x.up_to is None or yuan < x.up_to), None)
            total += band.rate if band else 0
        return total
    assert spec.total(Decimal(a))[0] == brute(a)
    low, high = sorted((a, b))
    assert spec.total(Decimal(low))[0] <= spec.total(Decimal(high))[0]


def recognitions(*years: int) -> list[dict[str, Any]]:
    return [{"kind": "recognition", "id": f"g{y}", "date": D(y, 5, 1), "title": "little_giant", "level": "national"}
            for y in years]


def test_by_year_counts_from_the_achievements_earliest_record(tmp_path: Path) -> None:
    """The title was first recorded in 2024, before the policy: 2025 is already its second year."""
    rules = book(tmp_path, [{"by_year": {"years": {1: {"fixed": "50万元"}, "2-3": {"fixed": "20万元"}}}}],
                 kind="recognition")
    result = assess(enterprise(recognitions(2024, 2025, 2026, 2027)), rules, D(2027, 12, 31))
    assert [(a.record_id, a.amount) for a in result.awards] == [
        ("g2025", Decimal("200000.00")), ("g2026", Decimal("200000.00"))]
    (beyond,) = [o for o in result.not_eligible if o.record_id == "g2027"]
    assert beyond.reasons == ["year 4 of support (from 2024) is not among the years supported (1, 2-3)"]
    assert result.awards[0].basis == "year 2 of support (from 2024)"
    (first,) = assess(enterprise(recognitions(2025)), rules, AS_OF).awards
    assert first.amount == Decimal("500000.00")


def test_capped_sums_across_records(tmp_path: Path) -> None:
    rules = book(tmp_path, [{"rate": "10%", "of": "record.investment"}], enterprise_cap="100万元")
    result = assess(enterprise([project(f"p{i}", investment="400万元") for i in range(4)]), rules, AS_OF)
    assert [a.amount for a in result.awards] == [Decimal(400_000), Decimal(400_000), Decimal(200_000)]


@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=8), st.integers(1, 3 * 10**6),
       st.lists(st.booleans(), min_size=8, max_size=8))
def test_capped_sums_never_exceed_the_cap_and_equal_min_of_cap_and_sum(investments: list[int], cap: int,
                                                                       unknown: list[bool]) -> None:
    rules = _capped_book(cap)
    records = [project(f"p{i}", **({} if unknown[i] else {"investment": x})) for i, x in enumerate(investments)]
    result = assess(enterprise(records), rules, AS_OF)
    paid = sum((a.amount for a in result.awards if a.amount is not None), Decimal(0))
    assert paid <= cap
    if not any(unknown[:len(investments)]):
        assert paid == min(Decimal(cap), sum(Decimal(x) * Decimal("0.2") for x in investments).quantize(Decimal("0.01")))


_BOOKS: dict[int, Rulebook] = {}


def _capped_book(cap: int) -> Rulebook:
    import tempfile
    if cap not in _BOOKS:
        _BOOKS[cap] = book(Path(tempfile.mkdtemp()), [{"rate": "20%", "of": "record.investment"}], enterprise_cap=cap)
    return _BOOKS[cap]


def test_amount_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="'at_most' caps a fixed amount or one computed from facts"):
        Amount.model_validate({"up_to": 1, "at_most": "record.investment"})
    with pytest.raises(ValueError, match="a year of support is written 1, 2 or 2-3"):
        Amount.model_validate({"by_year": {"years": {"first": {"fixed": 1}}}})
    with pytest.raises(ValueError, match="overlaps"):
        Amount.model_validate({"by_year": {"years": {"1-2": {"fixed": 1}, 2: {"fixed": 1}}}})


# --- a rent subsidy on a schema that declares leased premises (a YAML edit of the facts schema) ------

PREMISES = """
  premises:
    zh: 租赁场地
    fields:
      leased_area: {type: quantity, unit: m2, required: true, zh: 租赁面积}
      months: {type: quantity, unit: month, zh: 租赁月数}
      rent_paid: {type: money, zh: 实际支付租金}
"""
RENT_RULES = """\
city: demo
documents:
  d-1: {title: 示范文件, issuer: 示范区人民政府, effective: {from: 2026-01-01}}
rules:
  - id: demo.rent
    title: {zh: 租金补贴, en: Rent subsidy}
    cite: {document: d-1, clause: 一, quote: 第一年按每平方米每月30元补贴，第二至三年按每平方米每月15元补贴，不超过实际支付租金，每家企业累计不超过50万元}
    rewards: {kind: premises}
    amount:
      by_year:
        from: record
        years:
          1: {per_unit: {rate: 30元/平方米/月, times: [record.leased_area, record.months]}, at_most: record.rent_paid}
          2-3: {per_unit: {rate: 15元/平方米/月, times: [record.leased_area, record.months]}, at_most: record.rent_paid}
    enterprise_cap: 50万元
    payers: {ratio: "1:1", to: [city, county]}
"""


def _rent_book(tmp_path: Path, rules: str = RENT_RULES) -> Rulebook:
    from conftest import RULES
    facts = (RULES / "facts.yaml").read_text("utf-8")
    end = facts.index("\n# Facts computed")
    facts = facts[:end] + PREMISES + facts[end:]
    facts = facts.replace("  mu: {", "  month: {zh: 月, en: month}\n  mu: {", 1)
    (tmp_path / "facts.yaml").write_text(facts, "utf-8")
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    (tmp_path / "rent.yaml").write_text(rules, "utf-8")
    return load_rulebook(tmp_path)


def test_a_per_unit_rent_subsidy_over_several_sites_capped_by_rent_and_in_total(tmp_path: Path) -> None:
    rules = _rent_book(tmp_path)
    base = {"enterprise": {"name": "示范企业", "credit_code": "91131024MA0CTX8K46", "city": "demo"}}
    sites = [{"id": "s1", "kind": "premises", "date": D(2026, 1, 1), "leased_area": "1000平方米", "months": "12月",
              "rent_paid": "40万元"},                                  # 30 × 1000 × 12 = 36万, ≤ 40万 paid
             {"id": "s2", "kind": "premises", "date": D(2026, 2, 1), "leased_area": 500, "months": 10,
              "rent_paid": "10万元"},                                  # 30 × 500 × 10 = 15万, capped at 10万 paid
             {"id": "s3", "kind": "premises", "date": D(2026, 3, 1), "leased_area": 400, "months": 12},
             {"id": "s4", "kind": "premises", "date": D(2026, 4, 1), "leased_area": 300, "months": 12,
              "rent_paid": "20万元"}]                                  # 10.8万, only 4万 left of the 50万 cap
    ent = rules.facts.models.enterprise.model_validate({**base, "records": sites})
    result = assess(ent, rules, AS_OF)
    assert [(a.record_id, a.amount) for a in result.awards] == [
        ("s1", Decimal("360000.00")), ("s2", Decimal("100000.00")), ("s4", Decimal("40000.00"))]
    assert result.awards[0].payers == {"city": Decimal("180000.00"), "county": Decimal("180000.00")}
    assert result.awards[0].basis == (
        "year 1 of support (from 2026): 30元/平方米/月 × record.leased_area × record.months (record.leased_area = "
        "1000 (record s1); record.months = 12 (record s1); record.rent_paid = 400000 (record s1)); "
        "at most record.rent_paid = 400000.00 = 360000.00")
    assert [(o.record_id, o.missing) for o in result.undetermined] == [("s3", ["record.rent_paid"])]
    from incentives.engine import award_rows
    assert [(r.record_id, r.amount) for r in award_rows(ent, rules, AS_OF)] == \
        [(a.record_id, a.amount) for a in result.awards]


def test_a_rate_per_month_times_an_area_alone_is_not_money(tmp_path: Path) -> None:
    with pytest.raises(RulebookError, match="30元/平方米/月 × record.leased_area is 元/月, not money"):
        _rent_book(tmp_path, RENT_RULES.replace(", record.months]", "]"))


def test_a_sum_over_several_sites(tmp_path: Path) -> None:
    """The area of every site leased, added: 1000 + 500 平方米, at most 1200 counted, 10元 each."""
    amount = "formula: \"min(sum(premises.leased_area), 1200平方米) × 10元/平方米\"\n    limit: once_per_enterprise"
    rules = _rent_book(tmp_path, RENT_RULES.split("    amount:")[0] + "    amount:\n      " + amount.replace(
        "\n    limit", "\n    limit") + "\n    payers: {city: 100%}\n")
    base = {"enterprise": {"name": "示范企业", "credit_code": "91131024MA0CTX8K46", "city": "demo"}}
    sites = [{"id": "s1", "kind": "premises", "date": D(2026, 1, 1), "leased_area": 1000},
             {"id": "s2", "kind": "premises", "date": D(2026, 2, 1), "leased_area": 500}]
    ent = rules.facts.models.enterprise.model_validate({**base, "records": sites})
    (award,) = assess(ent, rules, AS_OF).awards
    assert award.amount == Decimal("12000.00")
    assert "sum(premises.leased_area) = 1500 (records s1, s2)" in (award.basis or "")
    with pytest.raises(RulebookError, match="sum of nothing.leased_area: unknown"):
        _rent_book(tmp_path, RENT_RULES.split("    amount:")[0] + "    amount: {formula: \"sum(nothing.leased_area) × "
                   "1元/平方米\"}\n    payers: {city: 100%}\n")
