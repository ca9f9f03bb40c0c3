"""廊政办规〔2025〕5号 三、支持政策, clause by clause, with the text's own numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from incentives import assess

from conftest import RULES, enterprise, record

AS_OF = dt.date(2026, 6, 30)
ISSUED = dt.date(2025, 9, 12)
D = Decimal


def recognition(title: str, level: str = "provincial", **kw: object) -> dict[str, object]:
    return record("recognition", title=title, level=level, **kw)


def pilot(investment: object, **kw: object) -> dict[str, object]:
    return record("project", type="digital_transformation_pilot", investment=investment, **kw)


@pytest.mark.parametrize("level, rule_id, amount, quote", [
    ("provincial", "lf.leader.provincial", "300000.00", "对新认定的省级特色产业集群“领跑者”企业给予一次性30万元奖励"),
    ("municipal", "lf.leader.municipal", "150000.00", "对新认定的廊坊市特色产业集群“领跑者”企业,给予一次性15万元的奖励"),
])
def test_item_1_cluster_leader(book, level: str, rule_id: str, amount: str, quote: str) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([recognition("cluster_leader", level)]), book, AS_OF)
    award = result.award(rule_id)
    assert award is not None and award.status == "fixed"
    assert award.amount == D(amount)
    assert award.payers == {"city": D(amount) / 2, "county": D(amount) / 2}
    assert award.citation.document_number == "廊政办规〔2025〕5号"
    assert award.citation.clause == "三、1"
    assert award.citation.quote == quote
    assert award.departments == ["市工信局", "市财政局"]
    lines = (RULES / "langfang.yaml").read_text("utf-8").splitlines()
    line = lines.index(f"  - id: {rule_id}") + 1
    assert award.rule_location.endswith(f"langfang.yaml:{line}:5")
    assert result.total == D(amount)


@pytest.mark.parametrize("title, rule_id", [("shared_factory", "lf.shared.factory"),
                                            ("shared_carrier", "lf.shared.carrier")])
def test_item_2_shared_factory_and_carrier(book, title: str, rule_id: str) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([recognition(title)]), book, AS_OF)
    award = result.award(rule_id)
    assert award is not None and award.amount == D("400000.00")
    assert award.payers == {"city": D("200000.00"), "county": D("200000.00")}
    assert award.citation.clause == "三、2"


def test_item_2_municipal_shared_factory_is_not_rewarded(book) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([recognition("shared_factory", "municipal")]), book, AS_OF)
    assert result.awards == []


def test_item_2_both_titles_pay_both(book) -> None:  # type: ignore[no-untyped-def]
    ent = enterprise([recognition("shared_factory", id="f"), recognition("shared_carrier", id="c")])
    assert assess(ent, book, AS_OF).total == D("800000.00")


@pytest.mark.parametrize("investment, amount", [
    ("150万元", "150000.00"),                  # 10%
    ("199.99万元", "199990.00"),               # just under the cap
    ("200万元", "200000.00"),                  # cap exactly reached: 10% of 200万 = 20万
    ("2000000.01", "200000.00"),              # over: capped at 不超过20万元
    ("1亿元", "200000.00"),
    ("1234567.89", "123456.79"),              # 123456.789 rounds half up to the fen
    ("0.05", "0.01"),                         # 0.005 rounds up
    ("0", "0.00"),
])
def test_item_3_digital_pilot_ten_percent_capped_at_20_wan(book, investment: str, amount: str) -> None:  # type: ignore[no-untyped-def]
    award = assess(enterprise([pilot(investment)]), book, AS_OF).award("lf.digital_pilot")
    assert award is not None and award.amount == D(amount) and award.status == "fixed"
    assert sum(award.payers.values()) == award.amount
    assert award.amount <= D("200000")


def test_item_3_odd_fen_split(book) -> None:  # type: ignore[no-untyped-def]
    award = assess(enterprise([pilot("¥1,234,567.89")]), book, AS_OF).award("lf.digital_pilot")
    assert award is not None
    assert award.payers == {"city": D("61728.40"), "county": D("61728.39")}
    assert award.basis == "10% × record.investment 1234567.89 = 123456.79"


def test_item_3_basis_shows_the_cap(book) -> None:  # type: ignore[no-untyped-def]
    award = assess(enterprise([pilot("300万元")]), book, AS_OF).award("lf.digital_pilot")
    assert award is not None and award.basis == "10% × record.investment 3000000 = 300000.00, capped at 200000"


def test_item_3_each_pilot_project_is_paid(book) -> None:  # type: ignore[no-untyped-def]
    ent = enterprise([pilot("100万元", id="p1"), pilot("50万元", id="p2")])
    assert assess(ent, book, AS_OF).total == D("150000.00")


def test_item_3_needs_cluster_membership(book) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([pilot("100万元")], clusters=[]), book, AS_OF)
    assert result.awards == []
    outcome = next(o for o in result.not_eligible if o.rule_id == "lf.digital_pilot")
    assert outcome.reasons == ["enterprise.clusters not_empty true fails: actual []"]


def test_item_3_unknown_membership_and_investment_are_missing_not_zero(book) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([record("project", type="digital_transformation_pilot")], clusters=None), book, AS_OF)
    assert result.awards == [] and result.total == 0
    outcome = next(o for o in result.undetermined if o.rule_id == "lf.digital_pilot")
    assert outcome.missing == ["enterprise.clusters", "record.investment"]
    assert [c.result for c in outcome.checks if c.fact == "enterprise.clusters"] == ["missing"]


def test_item_3_missing_investment_alone(book) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([record("project", type="digital_transformation_pilot")]), book, AS_OF)
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("lf.digital_pilot", ["record.investment"])]


@pytest.mark.parametrize("scope", ["industry", "regional", "cross_industry"])
def test_item_4_industrial_internet_platform(book, scope: str) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([recognition("industrial_internet_platform", scope=scope)]), book, AS_OF)
    award = result.award("lf.industrial_internet_platform")
    assert award is not None and award.amount == D("500000.00")
    assert award.payers == {"city": D("250000.00"), "county": D("250000.00")}
    assert award.citation.clause == "三、4"


# Defect 4. 三、4: "对入选省级行业级、区域级、跨行业跨领域工业互联网平台的,给予建设单位一次性50万元奖励".
# 一次性 is per selected platform (it was once per enterprise, undocumented), and the builder (建设单位)
# need not be a cluster member: only the heading 支持集群建设工业互联网平台 spoke of clusters.
def test_item_4_each_selected_platform_is_paid_and_the_builder_need_not_be_in_a_cluster(book) -> None:  # type: ignore[no-untyped-def]
    platforms = [recognition("industrial_internet_platform", scope="industry", id="p1", date=dt.date(2026, 1, 5)),
                 recognition("industrial_internet_platform", scope="regional", id="p2", date=dt.date(2026, 3, 5))]
    result = assess(enterprise(platforms, clusters=[]), book, AS_OF)
    assert [(a.rule_id, a.record_id, a.amount) for a in result.awards] == [
        ("lf.industrial_internet_platform", "p1", D("500000.00")),
        ("lf.industrial_internet_platform", "p2", D("500000.00"))]
    assert result.total == D("1000000.00")
    unknown = assess(enterprise(platforms[:1], clusters=None), book, AS_OF)
    assert unknown.undetermined == [] and unknown.total == D("500000.00")


def test_item_4_platform_without_scope_is_undetermined(book) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([recognition("industrial_internet_platform")]), book, AS_OF)
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [
        ("lf.industrial_internet_platform", ["record.scope"])]


@pytest.mark.parametrize("day, paid", [
    (ISSUED, True),                              # 新认定 on the issue day
    (ISSUED - dt.timedelta(days=1), False),      # the day before: not new under this text
    (dt.date(2027, 12, 31), True),               # last day of the plan period
    (dt.date(2028, 1, 1), False),
])
def test_new_recognition_window(book, day: dt.date, paid: bool) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([recognition("cluster_leader", date=day)]), book, dt.date(2028, 6, 30))
    assert (result.award("lf.leader.provincial") is not None) is paid
    if not paid:
        outcome = next(o for o in result.not_eligible if o.rule_id == "lf.leader.provincial")
        assert "record.date" in outcome.reasons[0] and str(day) in outcome.reasons[0]


def test_records_after_as_of_have_not_happened(book) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([recognition("cluster_leader", date=dt.date(2026, 7, 1))]), book, AS_OF)
    assert result.awards == []
    assert "after as_of 2026-06-30" in next(o for o in result.not_eligible if o.record_id).reasons[0]


def test_one_time_award_is_paid_once_per_enterprise(book) -> None:  # type: ignore[no-untyped-def]
    ent = enterprise([recognition("cluster_leader", id="a", date=dt.date(2025, 10, 1)),
                      recognition("cluster_leader", id="b", date=dt.date(2026, 10, 1))])
    result = assess(ent, book, dt.date(2026, 12, 31))
    assert [(a.rule_id, a.record_id) for a in result.awards] == [("lf.leader.provincial", "a")]
    lost = next(o for o in result.not_eligible if o.record_id == "b")
    assert lost.reasons == ["once per enterprise: already awarded for record a"]


def test_municipal_and_provincial_leader_both_pay(book) -> None:  # type: ignore[no-untyped-def]
    ent = enterprise([recognition("cluster_leader", "municipal", id="m"), recognition("cluster_leader", id="p")])
    assert assess(ent, book, AS_OF).total == D("450000.00")


def test_every_clause_together(book) -> None:  # type: ignore[no-untyped-def]
    ent = enterprise([recognition("cluster_leader", id="r1"), recognition("shared_factory", id="r2"),
                      pilot("150万元", id="r3"), recognition("industrial_internet_platform", scope="regional", id="r4")])
    result = assess(ent, book, AS_OF)
    assert result.total == D("1350000.00")
    assert result.total_by_payer == {"city": D("675000.00"), "county": D("675000.00")}
    assert result.as_of == AS_OF and result.rulebook_hash == book.hash
    assert {o.rule_id for o in result.not_eligible} == {"lf.leader.municipal", "lf.shared.carrier"}


def test_langfang_rules_do_not_apply_to_other_cities(book) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([recognition("cluster_leader")], city="nowhere"), book, AS_OF)
    assert result.awards == [] and result.not_eligible == []
    assert result.warnings == ["no rule file for city 'nowhere'"]


def test_items_5_to_7_and_the_services_are_kept_as_not_entitlements(book) -> None:  # type: ignore[no-untyped-def]
    kept = book.files["langfang"].model.not_encoded
    assert [(n.clause, n.status) for n in kept] == [
        (clause, "not_an_entitlement") for clause in ("三、5", "三、6", "三、7", "二、5", "二、13", "二、14")]
