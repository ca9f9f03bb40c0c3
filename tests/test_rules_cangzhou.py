"""沧政办规〔2022〕13号 三、重点行动, rule by rule, with the text's own numbers.

Every Cangzhou rule has an eligible and a not-eligible case (checked by ``test_every_rule_is_covered``),
every cap is tested just under, exactly at and over, and the combinations the text states (再奖励 on
top of the provincial design centre, city and county lean-management awards, new above-size rewards
with cluster service support) are tested together.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from incentives import assess, load_enterprise

from conftest import (Records, assert_every_rule_listed, assert_not_eligible, enterprise, outcome,
                      shared_rulebook)
from conftest import credit_code as valid_code

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
SOURCE = ROOT / "sources" / "cangzhou-2022-13.txt"
EXAMPLES = ROOT / "examples" / "enterprises"

NUMBER = "沧政办规〔2022〕13号"
ISSUED = dt.date(2022, 8, 10)
DAY = dt.date(2023, 3, 15)            # a day inside the effective window
AS_OF = dt.date(2024, 6, 30)
D = Decimal


@pytest.fixture(scope="module")
def rulebook():  # type: ignore[no-untyped-def]
    return shared_rulebook()


firm = functools.partial(enterprise, name="沧州某制造有限公司", credit_code=valid_code("91130981MA0D7K3P2"),
                         city="cangzhou", county="泊头市", clusters=["泊头铸造"], size="medium")
rec = Records(DAY)
recognition, project = rec.recognition, rec.project


def run(rulebook, records: list[dict[str, Any]], as_of: dt.date = AS_OF, **profile: Any):  # type: ignore[no-untyped-def]
    return assess(firm(records, **profile), rulebook, as_of=as_of)




# --------------------------------------------------------------------------- every rule: eligible
# rule id, records, profile overrides, status, amount (None unless determined), amount_max, payers,
# payers unspecified, clause, quote
ELIGIBLE: list[tuple[str, list[dict[str, Any]], dict[str, Any], str, str | None, str | None, dict[str, str], bool,
                     str, str]] = [
    ("cz.jiebang_guashuai", [project("jiebang_guashuai")], {},
     "up_to", None, "3000000.00", {}, True, "三、(一)2",
     "全市每年在集群中选取3—5个重点产业链核心缺失环节,实行“揭榜挂帅”立项,每个项目给予最高300万元支持。"),
    ("cz.sci_tech_transfer", [project("major_sci_tech_transfer")], {},
     "up_to", None, "5000000.00", {}, True, "三、(一)3",
     "对获得市级重大科技专项立项的重大科技成果转化项目,给予最高500万元资金支持。"),
    ("cz.park_entry", [project("park_entry")], {},
     "non_monetary", None, None, {}, True, "三、(二)1",
     "对本地入园进区的企业,享受所进入园区全部招商引资优惠政策。"),
    ("cz.above_size.services", [rec("statistics", status="above_designated_size")], {},
     "non_monetary", None, None, {}, True, "三、(二)2",
     "强化集群内规上工业企业、规上培育库企业在县级领导包联帮扶、“政策包”入企服务、入企检查、停限产精准管控和复工复产、"
     "用地支持等方面的服务支持。"),
    ("cz.above_size.new", [rec("statistics", status="new_above_size")], {},
     "fixed", "20000.00", "20000.00", {"city": "20000.00"}, False, "三、(二)2",
     "市级实行新增规上工业企业奖励制度,每年度新建入统企业奖励2万元,小升规企业奖励1万元。"),
    ("cz.above_size.small_to_above", [rec("statistics", status="small_to_above_size")], {},
     "fixed", "10000.00", "10000.00", {"city": "10000.00"}, False, "三、(二)2",
     "市级实行新增规上工业企业奖励制度,每年度新建入统企业奖励2万元,小升规企业奖励1万元。"),
    ("cz.tech_retrofit", [project("tech_retrofit", equipment_purchase="2000万元")], {},
     "up_to", None, "5000000.00", {"city": "5000000.00"}, False, "三、(二)3",
     "充分发挥市级工业企业技术改造专项资金对集群项目建设引导撬动作用,单个项目奖补不超过500万元。"),
    ("cz.informatisation", [project("informatisation", investment="150万元")], {},
     "fixed", "750000.00", "750000.00", {"city": "750000.00"}, False, "三、(三)1",
     "对企业用于项目建设购置的相关信息化软硬件与服务(不包含生产性设备),市级财政按照实际投资额的50%给予资金补助,"
     "最高不超过100万元。"),
    ("cz.green_factory.national", [recognition("green_factory", "national")], {},
     "fixed", "500000.00", "500000.00", {"city": "500000.00"}, False, "三、(四)1",
     "市财政对于获得国家级绿色工厂、省级绿色工厂的企业分别给予50万、30万元支持。"),
    ("cz.green_factory.provincial", [recognition("green_factory", "provincial")], {},
     "fixed", "300000.00", "300000.00", {"city": "300000.00"}, False, "三、(四)1",
     "市财政对于获得国家级绿色工厂、省级绿色工厂的企业分别给予50万、30万元支持。"),
    ("cz.leading_backbone", [recognition("leading_backbone")], {},
     "non_monetary", None, None, {}, True, "三、(五)1",
     "遴选2-3家集研发设计、制造、品牌营销及技术服务为一体、掌握核心技术并具有自主知识产权、在国内外具有较强竞争力的"
     "龙头骨干企业,在融资、用地、人才、对外合作、品牌创建等方面给予重点支持。"),
    ("cz.key_little_giant", [recognition("key_little_giant", "national")], {},
     "fixed", "1000000.00", "1000000.00", {"city": "1000000.00"}, False, "三、(五)1",
     "对认定的国家级专精特新重点小巨人企业市级财政奖励100万元。"),
    ("cz.listing.pool_services", [recognition("listing_cultivation_pool", "municipal")], {},
     "non_monetary", None, None, {}, True, "三、(五)2",
     "针对市级重点培育库入库企业,成立服务专班,制定专门服务计划,定期开展专题服务,帮助拟上市企业解决实际问题。"),
    ("cz.entrepreneur_training", [rec("training", fees="6万元")], {},
     "fixed", "30000.00", "30000.00", {"city": "30000.00"}, False, "三、(五)3",
     "对企业家自主参加国内外精修培训的,经报审市财政按照费用50%进行补贴,原则不超过5万元。"),
    ("cz.lean_management.city", [recognition("lean_management_excellent", "municipal")], {},
     "up_to", None, "200000.00", {"city": "200000.00"}, False, "三、(五)3",
     "对认定为优秀精益管理的企业,市级予以不超过20万元的奖励。"),
    ("cz.lean_management.county", [recognition("lean_management_excellent", "municipal")], {},
     "unquantified", None, None, {}, False, "三、(五)3",
     "县级按照全市认定结果做好县级层面企业奖励。"),
    ("cz.trademark.well_known", [rec("trademark", type="well_known")], {},
     "fixed", "200000.00", "200000.00", {}, True, "三、(六)1",
     "对新认定中国驰名商标的单位,一次性奖励20万元;"),
    ("cz.trademark.international", [rec("trademark", type="international_registration", fee="10万元")], {},
     "fixed", "30000.00", "30000.00", {}, True, "三、(六)1",
     "对新取得国际商标注册的单位,一次性按注册费的30%、总额不超过20万元进行奖励。"),
    ("cz.industrial_design.transfer_match",
     [rec("award_received", award="industrial_design_transfer_award", level="provincial", amount="40万元")], {},
     "fixed", "200000.00", "200000.00", {}, True, "三、(六)3",
     "获得省级工业设计成果转化奖励的,按省获得奖励资金50%配套,最高不超过50万元"),
    ("cz.industrial_design.center_provincial", [recognition("industrial_design_center", "provincial")], {},
     "fixed", "1000000.00", "1000000.00", {"city": "1000000.00"}, False, "三、(六)3",
     "被认定为省级工业设计中心的,市级奖励100万元"),
    ("cz.industrial_design.center_national",
     [recognition("industrial_design_center", "provincial", id="p", date=dt.date(2023, 1, 10)),
      recognition("industrial_design_center", "national", id="n", date=dt.date(2024, 1, 10))], {},
     "fixed", "2000000.00", "2000000.00", {"city": "2000000.00"}, False, "三、(六)3",
     "认定为国家级工业设计中心的,再奖励200万元。"),
    ("cz.listing.a_share.counselling", [rec("listing", market="a_share", milestone="counselling_filed")], {},
     "fixed", "1000000.00", "1000000.00", {}, True, "三、(五)2", "对申请在境内A股上市的企业,进入辅导期并在河北证监局完成备案的,给予100万元补助"),
    ("cz.listing.a_share.accepted", [rec("listing", market="a_share", milestone="application_accepted")], {},
     "fixed", "2000000.00", "2000000.00", {}, True, "三、(五)2", "向中国证监会或沪、深、京交易所提交上市申请并获受理的,再给予200万元补助。"),
    ("cz.listing.overseas.accepted", [rec("listing", market="overseas", milestone="application_accepted")], {},
     "fixed", "2000000.00", "2000000.00", {}, True, "三、(五)2", "对申请在境外主要证券交易所上市的企业,经具有批准权限的部门或机构正式受理的,给予200万元补助"),
    ("cz.listing.overseas.approved", [rec("listing", market="overseas", milestone="approved")], {},
     "fixed", "1000000.00", "1000000.00", {}, True, "三、(五)2", "通过审核后,再给予100万补助。"),
]

DEPARTMENTS = {
    "三、(一)2": ["市科技局", "市工信局", "市财政局"],
    "三、(一)3": ["市科技局", "市发改委", "市工信局", "市财政局"],
    "三、(二)1": ["市工信局", "市商务局", "市科技局", "市发改委", "市自规局", "市财政局"],
    "三、(二)2": ["市工信局", "市税务局", "市应急局", "市生态环境局", "市自规局", "市供电公司", "市财政局"],
    "三、(二)3": ["市工信局", "市发改委", "市行政审批局", "市财政局"],
    "三、(三)1": ["市工信局", "市发改委", "市财政局"],
    "三、(四)1": ["市工信局", "市生态环境局", "市发改委", "市财政局"],
    "三、(五)1": ["市工信局", "市财政局"],
    "三、(五)2": ["市金融监管局", "市工信局", "市税务局", "市财政局"],
    "三、(五)3": ["市工信局", "市财政局"],
    "三、(六)1": ["市市场监管局", "市工信局", "市商务局", "市财政局"],
    "三、(六)3": ["市工信局", "市财政局"],
}


@pytest.mark.parametrize("rule_id, records, profile, status, amount, amount_max, payers, unspecified, clause, quote",
                         ELIGIBLE, ids=[row[0] for row in ELIGIBLE])
def test_eligible(rulebook, rule_id, records, profile, status, amount, amount_max, payers, unspecified,  # type: ignore[no-untyped-def]
                  clause, quote) -> None:
    result = run(rulebook, records, **profile)
    award = result.award(rule_id)
    assert award is not None, [(o.rule_id, o.reasons, o.missing) for o in result.not_eligible + result.undetermined]
    assert award.status == status
    assert (None if award.amount is None else str(award.amount)) == amount
    assert (None if award.amount_max is None else str(award.amount_max)) == amount_max
    assert {k: str(v) for k, v in award.payers.items()} == payers
    assert award.payers_unspecified is unspecified
    assert award.citation.document_number == NUMBER
    assert award.citation.clause == clause
    assert award.citation.quote == quote
    assert award.departments == DEPARTMENTS[clause] + ["各县(市)政府"]
    if status in ("unquantified", "non_monetary"):
        assert award.description
    assert re.search(r"cangzhou\.yaml:\d+:5$", award.rule_location), award.rule_location


# --------------------------------------------------------------------------- every rule: not eligible
# rule id, records, profile overrides, the reason given (a substring of one of the reasons)
NOT_ELIGIBLE: list[tuple[str, list[dict[str, Any]], dict[str, Any], str]] = [
    ("cz.jiebang_guashuai", [project("jiebang_guashuai", date=ISSUED - dt.timedelta(days=1))], {},
     "record.date on_or_after 2022-08-10 fails: actual 2022-08-09"),
    ("cz.sci_tech_transfer", [project("major_science_project")], {},
     "no record with record.kind is project, record.type is major_sci_tech_transfer"),
    ("cz.park_entry", [project("park_entry", date=dt.date(2021, 5, 1))], {},
     "record.date on_or_after 2022-08-10 fails: actual 2021-05-01"),
    ("cz.above_size.services", [rec("statistics", status="above_designated_size")], {"clusters": []},
     "enterprise.clusters not_empty true fails: actual []"),
    ("cz.above_size.new", [rec("statistics", status="small_to_above_size")], {},
     "no record with record.kind is statistics, record.status is new_above_size"),
    ("cz.above_size.small_to_above", [rec("statistics", status="new_above_size")], {},
     "no record with record.kind is statistics, record.status is small_to_above_size"),
    ("cz.tech_retrofit", [project("tech_retrofit")], {"clusters": []},
     "enterprise.clusters not_empty true fails: actual []"),
    ("cz.informatisation", [project("digital_transformation_pilot", investment="150万元")], {},
     "no record with record.kind is project, record.type is informatisation"),
    ("cz.green_factory.national", [recognition("green_factory", "municipal")], {},
     "no record with record.kind is recognition, record.title is green_factory, record.level is national"),
    ("cz.green_factory.provincial", [recognition("green_factory", "provincial", date=dt.date(2022, 8, 9))], {},
     "record.date on_or_after 2022-08-10 fails: actual 2022-08-09"),
    ("cz.leading_backbone", [recognition("leading_backbone")], {"clusters": []},
     "enterprise.clusters not_empty true fails: actual []"),
    ("cz.key_little_giant", [recognition("little_giant", "national")], {},
     "no record with record.kind is recognition, record.title is key_little_giant, record.level is national"),
    ("cz.listing.pool_services", [recognition("listing_cultivation_pool", "provincial")], {},
     "no record with record.kind is recognition, record.title is listing_cultivation_pool, record.level is municipal"),
    ("cz.entrepreneur_training", [rec("training", fees="6万元", date=dt.date(2022, 7, 1))], {},
     "record.date on_or_after 2022-08-10 fails: actual 2022-07-01"),
    ("cz.lean_management.city", [recognition("lean_management_excellent", "provincial")], {},
     "no record with record.kind is recognition, record.title is lean_management_excellent, record.level is municipal"),
    ("cz.lean_management.county", [recognition("lean_management_excellent", "provincial")], {},
     "no record with record.kind is recognition, record.title is lean_management_excellent, record.level is municipal"),
    ("cz.trademark.well_known", [rec("trademark", type="well_known", date=dt.date(2022, 8, 9))], {},
     "record.date on_or_after 2022-08-10 fails: actual 2022-08-09"),
    ("cz.trademark.international", [rec("trademark", type="geographical_indication_trademark", fee="10万元")], {},
     "no record with record.kind is trademark, record.type one_of [madrid, international_registration]"),
    ("cz.industrial_design.transfer_match",
     [rec("award_received", award="industrial_design_award", level="provincial", amount="40万元")], {},
     "no record with record.kind is award_received, record.award is industrial_design_transfer_award"),
    ("cz.industrial_design.center_provincial",
     [recognition("industrial_design_center", "provincial", date=dt.date(2020, 12, 1))], {},
     "record.date on_or_after 2022-08-10 fails: actual 2020-12-01"),
    ("cz.industrial_design.center_national", [recognition("industrial_design_center", "national")], {},
     "additional to cz.industrial_design.center_provincial: no record with record.kind is recognition, "
     "record.title is industrial_design_center, record.level is provincial"),
    ("cz.listing.a_share.counselling", [rec("listing", market="overseas", milestone="counselling_filed")], {},
     "no record with record.kind is listing, record.market is a_share, record.milestone is counselling_filed"),
    ("cz.listing.a_share.accepted", [rec("listing", market="a_share", milestone="application_accepted",
                                         date=ISSUED - dt.timedelta(days=1))], {},
     "record.date on_or_after 2022-08-10 fails"),
    ("cz.listing.overseas.accepted", [rec("listing", market="overseas", milestone="listed")], {},
     "no record with record.kind is listing, record.market is overseas, record.milestone is application_accepted"),
    ("cz.listing.overseas.approved", [rec("listing", market="a_share", milestone="approved")], {},
     "no record with record.kind is listing, record.market is overseas, record.milestone is approved"),
]


@pytest.mark.parametrize("rule_id, records, profile, reason", NOT_ELIGIBLE, ids=[row[0] for row in NOT_ELIGIBLE])
def test_not_eligible(rulebook, rule_id, records, profile, reason) -> None:  # type: ignore[no-untyped-def]
    assert_not_eligible(run(rulebook, records, **profile), rule_id, reason)


def test_every_rule_is_covered(rulebook) -> None:  # type: ignore[no-untyped-def]
    assert_every_rule_listed(rulebook, "cangzhou", 25, ELIGIBLE, NOT_ELIGIBLE)


# --------------------------------------------------------------------------- document and quotes
def test_document(rulebook) -> None:  # type: ignore[no-untyped-def]
    model = rulebook.files["cangzhou"].model
    assert list(model.documents) == ["cz-2022-13"]
    doc = model.documents["cz-2022-13"]
    assert doc.number == NUMBER
    assert doc.issuer == "沧州市人民政府办公室"
    assert doc.title == "沧州市人民政府办公室关于印发沧州市县域特色产业集群转型升级工作方案的通知"
    assert doc.issued == ISSUED
    assert doc.effective.start == ISSUED and doc.effective.end is None
    assert any("2022年08月29日" in n.en and "2022年08月29日" in n.zh for n in doc.notes)
    assert any("no validity period" in n.en and "原文未写有效期" in n.zh for n in doc.notes)


def test_every_quote_is_verbatim_in_the_source(rulebook) -> None:  # type: ignore[no-untyped-def]
    text = SOURCE.read_text(encoding="utf-8")
    model = rulebook.files["cangzhou"].model
    for quote in [r.cite.quote for r in model.rules] + [n.quote for n in model.not_encoded]:
        assert quote in text, quote


def test_every_rule_explains_its_reading(rulebook) -> None:  # type: ignore[no-untyped-def]
    for rule in rulebook.rules_for("cangzhou"):
        assert rule.rule.notes, rule.id
        assert rule.rule.departments[-1] == "各县(市)政府"


# --------------------------------------------------------------------------- effective window and timing
@pytest.mark.parametrize("day, paid", [
    (ISSUED - dt.timedelta(days=1), False),    # the day before the signing date
    (ISSUED, True),                            # the signing date itself
    (dt.date(2022, 8, 29), True),              # the publication date
    (dt.date(2030, 12, 31), True),             # no closing date is written: open-ended
])
def test_window_is_open_ended_from_the_signing_date(rulebook, day: dt.date, paid: bool) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("key_little_giant", "national", date=day)], as_of=dt.date(2031, 1, 1))
    assert (result.award("cz.key_little_giant") is not None) is paid


def test_records_after_as_of_have_not_happened(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("green_factory", "national", date=dt.date(2024, 7, 1))])
    assert result.awards == []
    assert "after as_of 2024-06-30" in outcome(result, "cz.green_factory.national").reasons[0]


# --------------------------------------------------------------------------- caps: under, at, over
@pytest.mark.parametrize("investment, amount", [
    ("1999999.98", "999999.99"),      # just under the cap
    ("200万元", "1000000.00"),         # 50% of 200万 = 100万: exactly at 最高不超过100万元
    ("2000000.02", "1000000.00"),     # over: capped
    ("1亿元", "1000000.00"),
    ("0.01", "0.01"),                 # 0.005 rounds half up to the fen
    ("1234567.89", "617283.95"),      # 617283.945 rounds half up
])
def test_informatisation_half_of_investment_capped_at_100_wan(rulebook, investment: str, amount: str) -> None:  # type: ignore[no-untyped-def]
    award = run(rulebook, [project("informatisation", investment=investment)]).award("cz.informatisation")
    assert award is not None and award.status == "fixed" and str(award.amount) == amount
    assert award.payers == {"city": D(amount)}


def test_informatisation_basis_shows_the_cap(rulebook) -> None:  # type: ignore[no-untyped-def]
    award = run(rulebook, [project("informatisation", investment="300万元")]).award("cz.informatisation")
    assert award is not None and award.basis == "50% × record.investment 3000000 = 1500000.00, capped at 1000000"


def test_informatisation_without_investment_is_undetermined(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [project("informatisation")])
    assert result.awards == [] and result.total == 0
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("cz.informatisation", ["record.investment"])]


@pytest.mark.parametrize("fees, amount", [
    ("99999.98", "49999.99"),         # just under 原则不超过5万元
    ("10万元", "50000.00"),            # exactly at
    ("100000.02", "50000.00"),        # over: capped
    ("30万元", "50000.00"),
])
def test_training_half_of_fees_soft_cap_5_wan(rulebook, fees: str, amount: str) -> None:  # type: ignore[no-untyped-def]
    award = run(rulebook, [rec("training", fees=fees)]).award("cz.entrepreneur_training")
    assert award is not None and str(award.amount) == amount and award.payers == {"city": D(amount)}
    assert any("soft cap" in n for n in award.notes)


@pytest.mark.parametrize("received, amount", [
    ("999999.98", "499999.99"),       # just under 最高不超过50万元
    ("100万元", "500000.00"),          # exactly at
    ("1000000.02", "500000.00"),      # over: capped
])
def test_design_transfer_matching_half_capped_at_50_wan(rulebook, received: str, amount: str) -> None:  # type: ignore[no-untyped-def]
    record = rec("award_received", award="industrial_design_transfer_award", level="provincial", amount=received)
    award = run(rulebook, [record]).award("cz.industrial_design.transfer_match")
    assert award is not None and str(award.amount) == amount
    assert award.payers == {} and award.payers_unspecified


def test_design_transfer_matching_only_provincial_awards(rulebook) -> None:  # type: ignore[no-untyped-def]
    record = rec("award_received", award="industrial_design_transfer_award", level="national", amount="40万元")
    result = run(rulebook, [record])
    assert result.awards == []
    assert "record.level is provincial" in outcome(result, "cz.industrial_design.transfer_match").reasons[0]


@pytest.mark.parametrize("fee, amount", [
    ("666666.60", "199999.98"),       # just under 总额不超过20万元
    ("666666.66", "200000.00"),       # 199999.998 rounds to exactly the cap
    ("100万元", "200000.00"),          # over: reduced to the cap
])
def test_international_trademark_30_percent_total_capped_at_20_wan(rulebook, fee: str, amount: str) -> None:  # type: ignore[no-untyped-def]
    award = run(rulebook, [rec("trademark", type="madrid", fee=fee)]).award("cz.trademark.international")
    assert award is not None and str(award.amount) == amount


def test_international_trademark_total_cap_spans_registrations(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("trademark", type="madrid", fee="50万元", id="t1", date=dt.date(2023, 1, 5)),
               rec("trademark", type="international_registration", fee="166666.67", id="t2", date=dt.date(2023, 6, 5)),
               rec("trademark", type="madrid", fee="1万元", id="t3", date=dt.date(2024, 1, 5))]
    result = run(rulebook, records)
    paid = {a.record_id: str(a.amount) for a in result.awards}
    assert paid == {"t1": "150000.00", "t2": "50000.00"}        # 15万 + 5万 = the 20万 total
    assert result.total == D("200000.00")
    assert "cap of 200000 per enterprise is already reached" in outcome(result, "cz.trademark.international", "t3").reasons[0]


def test_international_trademark_second_registration_reduced_to_what_is_left(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("trademark", type="madrid", fee="50万元", id="t1", date=dt.date(2023, 1, 5)),
               rec("trademark", type="madrid", fee="50万元", id="t2", date=dt.date(2023, 6, 5))]
    result = run(rulebook, records)
    assert [str(a.amount) for a in result.awards] == ["150000.00", "50000.00"]
    assert result.awards[1].basis == ("30% × record.fee 500000 = 150000.00; "
                                      "reduced to 50000.00 by the rule cz.trademark.international cap of 200000")


def test_international_trademark_needs_the_fee(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [rec("trademark", type="international_registration")])
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("cz.trademark.international", ["record.fee"])]


@pytest.mark.parametrize("rule_id, records, ceiling", [
    ("cz.jiebang_guashuai", [project("jiebang_guashuai", investment="1000万元")], "3000000.00"),
    ("cz.sci_tech_transfer", [project("major_sci_tech_transfer", investment="1亿元")], "5000000.00"),
    ("cz.tech_retrofit", [project("tech_retrofit", equipment_purchase="1亿元")], "5000000.00"),
    ("cz.lean_management.city", [recognition("lean_management_excellent", "municipal")], "200000.00"),
])
def test_ceilings_are_reported_as_up_to_not_as_determined_amounts(rulebook, rule_id, records, ceiling) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, records)
    award = result.award(rule_id)
    assert award is not None and award.status == "up_to"
    assert award.amount is None and str(award.amount_max) == ceiling
    assert result.total == 0 and str(result.total_max) == ceiling


# --------------------------------------------------------------------------- limits
def test_each_project_is_paid(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [project("informatisation", investment="100万元", id="p1"),
               project("informatisation", investment="60万元", id="p2")]
    assert run(rulebook, records).total == D("800000.00")


def test_titles_are_paid_once_per_enterprise(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("key_little_giant", "national", id="a", date=dt.date(2023, 1, 1)),
               recognition("key_little_giant", "national", id="b", date=dt.date(2024, 1, 1))]
    result = run(rulebook, records)
    assert [(a.rule_id, a.record_id) for a in result.awards] == [("cz.key_little_giant", "a")]
    assert outcome(result, "cz.key_little_giant", "b").reasons == ["once per enterprise: already awarded for record a"]


def test_well_known_trademark_is_one_time(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("trademark", type="well_known", id="w1", date=dt.date(2023, 1, 1)),
               rec("trademark", type="well_known", id="w2", date=dt.date(2024, 1, 1))]
    assert run(rulebook, records).total == D("200000.00")


def test_small_to_above_size_at_most_once_a_year(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("statistics", status="small_to_above_size", id="y1", date=dt.date(2023, 1, 31)),
               rec("statistics", status="small_to_above_size", id="y2", date=dt.date(2023, 12, 31)),
               rec("statistics", status="small_to_above_size", id="y3", date=dt.date(2024, 1, 31))]
    result = run(rulebook, records, clusters=[])
    assert [a.record_id for a in result.awards if a.rule_id == "cz.above_size.small_to_above"] == ["y1", "y3"]
    assert outcome(result, "cz.above_size.small_to_above", "y2").reasons == [
        "once per year (2023): already awarded for record y1"]


def test_new_above_size_needs_no_cluster(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [rec("statistics", status="new_above_size")], clusters=[])
    assert result.award("cz.above_size.new") is not None and result.total == D("20000.00")
    assert result.award("cz.above_size.services") is None


def test_cluster_membership_unknown_is_undetermined_not_refused(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [project("tech_retrofit")], clusters=None)
    assert result.awards == []
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("cz.tech_retrofit", ["enterprise.clusters"])]


def test_pool_entry_without_level_is_undetermined(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("listing_cultivation_pool")])
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("cz.listing.pool_services", ["record.level"])]


def test_ordinary_little_giant_gets_nothing(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("little_giant", "national")])
    assert result.awards == [] and result.total == 0


# --------------------------------------------------------------------------- combinations the text states
def test_design_centre_national_is_paid_on_top_of_provincial(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("industrial_design_center", "provincial", id="p", date=dt.date(2023, 1, 10)),
               recognition("industrial_design_center", "national", id="n", date=dt.date(2024, 1, 10))]
    result = run(rulebook, records)
    assert [(a.rule_id, str(a.amount)) for a in result.awards] == [
        ("cz.industrial_design.center_provincial", "1000000.00"), ("cz.industrial_design.center_national", "2000000.00")]
    assert result.total == D("3000000.00") and result.total_by_payer == {"city": D("3000000.00")}
    assert result.conflicts == []


def test_design_centre_national_alone_pays_nothing(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("industrial_design_center", "national", id="n")])
    assert result.awards == [] and result.total == 0
    assert outcome(result, "cz.industrial_design.center_national", "n").reasons == [
        "additional to cz.industrial_design.center_provincial: no record with record.kind is recognition, "
        "record.title is industrial_design_center, record.level is provincial on or before 2023-03-15"]


# Defect 2. 三、(六)3: "被认定为省级工业设计中心的,市级奖励100万元,认定为国家级工业设计中心的,再奖励200万元".
# 再奖励 adds to the provincial recognition, which may predate the policy (2022-08-10): the 200万 is owed.
def test_design_centre_national_after_a_provincial_centre_predating_the_policy(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("industrial_design_center", "provincial", id="p", date=dt.date(2021, 6, 1)),
               recognition("industrial_design_center", "national", id="n", date=dt.date(2023, 6, 1))]
    result = run(rulebook, records)
    assert [(a.rule_id, a.record_id, str(a.amount)) for a in result.awards] == [
        ("cz.industrial_design.center_national", "n", "2000000.00")]
    assert result.total == D("2000000.00")
    assert "record.date on_or_after 2022-08-10 fails: actual 2021-06-01" in outcome(
        result, "cz.industrial_design.center_provincial", "p").reasons
    assert rulebook.files["cangzhou"].model.groups["cz.industrial_design_center"].base_needs == "achieved"


def test_design_centre_provincial_after_the_national_one_founds_nothing(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("industrial_design_center", "national", id="n", date=dt.date(2023, 6, 1)),
               recognition("industrial_design_center", "provincial", id="p", date=dt.date(2024, 6, 1))]
    result = run(rulebook, records)
    assert [(a.rule_id, a.record_id) for a in result.awards] == [("cz.industrial_design.center_provincial", "p")]


def test_lean_management_city_and_county_both_reward_the_recognition(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("lean_management_excellent", "municipal", id="l")])
    city, county = result.award("cz.lean_management.city"), result.award("cz.lean_management.county")
    assert city is not None and city.status == "up_to" and city.amount_max == D("200000.00")
    assert county is not None and county.status == "unquantified" and county.amount is None
    assert result.conflicts == []
    assert result.total == 0 and result.total_max == D("200000.00")


def test_new_above_size_cluster_enterprise_gets_reward_and_services(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [rec("statistics", status="new_above_size", id="s")])
    assert {a.rule_id for a in result.awards} == {"cz.above_size.new", "cz.above_size.services"}
    assert result.conflicts == [] and result.total == D("20000.00")
    assert result.total_by_payer == {"city": D("20000.00")}


def test_green_factory_provincial_then_national_pays_both(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("green_factory", "provincial", id="g1", date=dt.date(2023, 1, 1)),
               recognition("green_factory", "national", id="g2", date=dt.date(2024, 1, 1))]
    result = run(rulebook, records)
    assert result.total == D("800000.00") and result.total_by_payer == {"city": D("800000.00")}


def test_payers_split_between_city_and_unspecified(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("key_little_giant", "national", id="k"), rec("trademark", type="well_known", id="w")]
    result = run(rulebook, records)
    assert result.total == D("1200000.00")
    assert result.total_by_payer == {"city": D("1000000.00"), "unspecified": D("200000.00")}


# --------------------------------------------------------------------------- listing milestones
@pytest.fixture(scope="module")
def listing_book(rulebook):  # type: ignore[no-untyped-def]
    return rulebook


def _listing(milestone: str, market: str, id_: str, day: dt.date) -> dict[str, Any]:
    return rec("listing", milestone=milestone, market=market, id=id_, date=day)


@pytest.mark.parametrize("market, first, second, amounts", [
    ("a_share", "counselling_filed", "application_accepted", ("1000000.00", "2000000.00")),   # 100万 then 再200万
    ("overseas", "application_accepted", "approved", ("2000000.00", "1000000.00")),           # 200万 then 再100万
])
def test_listing_milestones_accumulate(listing_book, market, first, second, amounts) -> None:  # type: ignore[no-untyped-def]
    records = [_listing(first, market, "m1", dt.date(2023, 3, 1)), _listing(second, market, "m2", dt.date(2024, 3, 1))]
    before = assess(firm(records), listing_book, as_of=dt.date(2023, 12, 31))
    assert [str(a.amount) for a in before.awards] == [amounts[0]]
    after = assess(firm(records), listing_book, as_of=AS_OF)
    assert [(a.record_id, str(a.amount)) for a in after.awards] == [("m1", amounts[0]), ("m2", amounts[1])]
    assert after.total == D("3000000.00") and after.total_by_payer == {"unspecified": D("3000000.00")}


# --------------------------------------------------------------------------- not encoded
def test_county_ranking_award_is_not_an_enterprise_entitlement(rulebook) -> None:  # type: ignore[no-untyped-def]
    kept = rulebook.files["cangzhou"].model.not_encoded
    ranking = [n for n in kept if "500万、300万和100万" in n.quote]
    assert len(ranking) == 1
    assert ranking[0].clause == "三、(二)1" and ranking[0].status == "not_an_entitlement"
    assert "county governments" in ranking[0].reason and "bottom three" in ranking[0].reason


def test_not_encoded_clauses(rulebook) -> None:  # type: ignore[no-untyped-def]
    kept = rulebook.files["cangzhou"].model.not_encoded
    assert {n.clause for n in kept} >= {"三、(一)1", "三、(二)1", "三、(三)2", "三、(四)2", "三、(六)2", "二", "四、(三)"}
    assert all(n.document == "cz-2022-13" and n.reason for n in kept)


# --------------------------------------------------------------------------- cities stay apart
def test_cangzhou_rules_never_apply_to_a_langfang_enterprise(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("green_factory", "national", id="g"), recognition("key_little_giant", "national", id="k"),
               recognition("industrial_design_center", "provincial", id="d"),
               project("informatisation", investment="100万元", id="i"), rec("trademark", type="well_known", id="w")]
    result = run(rulebook, records, city="langfang", county="香河县", clusters=["香河智慧家居"],
                 credit_code=valid_code("91131024MA0CTX8K4"))
    touched = {a.rule_id for a in result.awards} | {o.rule_id for o in result.not_eligible + result.undetermined}
    assert not any(rule_id.startswith("cz.") for rule_id in touched)
    assert touched and all(rule_id.startswith("lf.") for rule_id in touched)
    assert result.total == 0


def test_langfang_rules_never_apply_to_a_cangzhou_enterprise(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("cluster_leader", "provincial")])
    touched = {a.rule_id for a in result.awards} | {o.rule_id for o in result.not_eligible + result.undetermined}
    assert touched == {r.id for r in rulebook.rules_for("cangzhou")}
    assert result.awards == []


# --------------------------------------------------------------------------- example enterprises
def test_example_botou_casting(rulebook) -> None:  # type: ignore[no-untyped-def]
    ent = load_enterprise(EXAMPLES / "cangzhou-botou-casting.yaml", rulebook.vocabulary)
    result = assess(ent, rulebook, as_of=AS_OF)
    assert {a.rule_id: (a.status, a.amount_max) for a in result.awards} == {
        "cz.above_size.services": ("non_monetary", None),
        "cz.above_size.small_to_above": ("fixed", D("10000.00")),
        "cz.green_factory.provincial": ("fixed", D("300000.00")),
        "cz.tech_retrofit": ("up_to", D("5000000.00")),
        "cz.informatisation": ("fixed", D("900000.00")),
        "cz.entrepreneur_training": ("fixed", D("40000.00")),
        "cz.lean_management.city": ("up_to", D("200000.00")),
        "cz.lean_management.county": ("unquantified", None),
    }
    assert result.total == D("1250000.00") and result.total_max == D("6450000.00")
    assert result.total_by_payer == {"city": D("1250000.00")}
    assert result.conflicts == [] and result.undetermined == []


def test_example_haixing_design(rulebook) -> None:  # type: ignore[no-untyped-def]
    ent = load_enterprise(EXAMPLES / "cangzhou-haixing-design.yaml", rulebook.vocabulary)
    result = assess(ent, rulebook, as_of=AS_OF)
    assert {a.rule_id: str(a.amount) for a in result.awards} == {
        "cz.industrial_design.center_provincial": "1000000.00",
        "cz.industrial_design.transfer_match": "300000.00",
        "cz.key_little_giant": "1000000.00",
        "cz.trademark.well_known": "200000.00",
        "cz.industrial_design.center_national": "2000000.00",
        "cz.trademark.international": "24000.00",
    }
    assert result.total == D("4524000.00")
    assert result.total_by_payer == {"city": D("4000000.00"), "unspecified": D("524000.00")}
    assert result.conflicts == [] and result.undetermined == []
