"""石家庄 rules: 〔2021〕—69 三、支持政策 and the 领跑者 plan as reported, rule by rule, with the texts' own numbers.

Every Shijiazhuang rule has an eligible and a not-eligible case (checked by ``test_every_rule_is_covered``),
every cap is tested just under, exactly at and over, the China Quality Award conflict between the two
documents is paid once and reported, the 驰名商标 both documents reward is paid once, and the
readings of the file (``readings:``; the industry scope of 三、（一）1, the scope of （市域外）...) are
switched and tested (every reading's amounts also in rules/tests/shijiazhuang-readings.yaml).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from incentives import Enterprise, assess, load_enterprise, load_rulebook
from incentives.readings import Words

from conftest import (Records, assert_every_rule_listed, assert_not_eligible, enterprise, outcome,
                      shared_rulebook)
from conftest import credit_code as valid_code

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
RULE_FILE = RULES / "shijiazhuang.yaml"
PLAN = ROOT / "sources" / "shijiazhuang-2021-69.txt"
REPORT = ROOT / "sources" / "shijiazhuang-leader-report.txt"
EXAMPLES = ROOT / "examples" / "enterprises"

PLAN_ID, REPORT_ID = "sjz-2021-69", "sjz-leader-report"
NUMBER = "〔2021〕—69"
ISSUED = dt.date(2021, 9, 15)
REPORT_FROM = dt.date(2022, 9, 1)    # the earliest day the report's page can be dated to
END = dt.date(2025, 12, 31)
DAY = dt.date(2023, 3, 15)            # a day inside both documents' windows
AS_OF = dt.date(2026, 6, 30)
D = Decimal


# --------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def rulebook():  # type: ignore[no-untyped-def]
    return shared_rulebook()


def _variant_dir(tmp_path_factory, name: str, text: str) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp(name)
    shutil.copy(RULES / "vocabulary.yaml", folder / "vocabulary.yaml")
    # the file names its texts as ../sources/…: beside the folder, as in the repository
    shutil.copytree(RULES.parent / "sources", folder.parent / "sources", dirs_exist_ok=True)
    (folder / "shijiazhuang.yaml").write_text(text, encoding="utf-8")
    return folder


def _only(tmp_path_factory, document: str):  # type: ignore[no-untyped-def]
    """The Shijiazhuang file with only the rules of ``document``, loaded on its own."""
    data = yaml.safe_load(RULE_FILE.read_text(encoding="utf-8"))
    data["rules"] = [r for r in data["rules"] if r["cite"]["document"] == document]
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return load_rulebook(_variant_dir(tmp_path_factory, f"sjz-{document}", text))


@pytest.fixture(scope="module")
def books(rulebook, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The real rulebook, and the Shijiazhuang file reduced to one document's rules (to price a rule
    that a higher rule of the other document outbids in the full book)."""
    return {"full": rulebook, PLAN_ID: _only(tmp_path_factory, PLAN_ID), REPORT_ID: _only(tmp_path_factory, REPORT_ID)}


firm = functools.partial(enterprise, name="石家庄某电子科技有限公司", credit_code=valid_code("91130110MA0G7K3P2"),
                         city="shijiazhuang", county="鹿泉区", clusters=["鹿泉新一代电子信息"],
                         industries=["new_generation_it"], size="medium")
rec = Records(DAY)
recognition, project = rec.recognition, rec.project


def review(**kw: Any) -> dict[str, Any]:
    """A provincial 专精特新 title first recognised and passing its three-year review."""
    kw.setdefault("first_time", True)
    kw.setdefault("review_passed", True)
    return recognition("specialized_sme", "provincial", **kw)


def standard(level: str, role: str = "lead", **kw: Any) -> dict[str, Any]:
    return rec("standard", level=level, role=role, **kw)


def investment(**kw: Any) -> dict[str, Any]:
    kw.setdefault("investor_rank", "fortune_global_500")
    kw.setdefault("investor_outside_city", True)
    kw.setdefault("completed", True)
    kw.setdefault("investment", "1亿元")
    return project("attracted_investment", **kw)


def run(book, records: list[dict[str, Any]], as_of: dt.date = AS_OF, **profile: Any):  # type: ignore[no-untyped-def]
    return assess(firm(records, **profile), book, as_of=as_of)




def paid(result) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return [(a.rule_id, None if a.amount is None else str(a.amount)) for a in result.awards]


# --------------------------------------------------------------------------- quotes and departments
Q_DEMO = "对经国家、省评审认定的特色产业集群内的技术创新示范企业，分别给予 30 万元、15 万元奖励。"
Q_REVIEW = ("新一代电子信息、生物医药产业内的专精特新企业中，对首次被认定的省级“专精特新”中小企业，三年有效期满通过复核的，"
            "给予 30 万元奖励。")
Q_DEMONSTRATION = "对获得省级“专精特新”示范企业称号的，给予 50 万元奖励。"
Q_GIANT = "对获得国家专精特新“小巨人”称号的企业，给予 100 万元奖\n\n励。"
Q_RETROFIT = ("传统产业进行的智能、绿色、装备升级改造的技改项目，按照工业企业入统固定资产投资技术改造投资中购置设备额不超过 15% "
              "给予补贴，最高补贴 500 万元。")
Q_INDEX = "对特色产业集群建立指数发布平台，并成功发布价格指数，市财政给予平台主体 30 万元的奖励。"
Q_CQA = "对首次获得中国质量奖、提名奖的企业分别奖励 200 万元、100 万元"
Q_HEBEI = "对获得河北省政府质量奖组织奖和个人奖的，分别奖励 50 万元、3 万元。"
Q_WELL_KNOWN = "对新认定中国驰名商标企业，市政府给予一次性奖励 50 万元；"
Q_GI = "对新注册国家地理标志商标或新获得国家地理标志保护产品的，市政府给予一次性奖励 50 万元；"
Q_MADRID = "对新取得马德里国际商标注册的企业，市政府给予一次性奖励 10 万元。"
Q_STANDARD = "对主持国际标准、国家标准、行业标准制修订的我市企业或团体，分别资助 30 万元、20 万元、10 万元，"
Q_PROVINCIAL_LOCAL = "对主持省地方标准制修订的资助 2 万元，"
Q_GROUP = "对主持团体标准或农业地方标准制修订的资助 2 万元。"
Q_INVEST = ("围绕推进当地特色产业集群发展，引进世界 500 强、中国 500 强、行业百强企业（市域外）项目落地的，建成后按照该项目"
            "固定资产投资额度的 1% 对企业进行奖励，最高不超过 200 万元。")
Q_BOND = "支持符合条件的中小企业发行债券，对成功完成债券融资的企业，按照融资额的 2% 给予奖励，单个项目奖励金额最高不超过 50 万元。"
Q_LISTING = "对符合条件的挂牌上市企业，分级分类给予市级财政奖励。"
Q_ZERO_LAND = ("对符合规划和安全要求，不改变工业土地用途，通过厂房加层、利用地下空间、翻建等途径实施“零增地”技术改造，"
               "提高土地利用率和增加容积率的，不再增收土地价款。")
Q_TRANSITION = ("对利用存量房产、土地资源发展国家支持的新产业、新业态，享受 5 年内不改变用地主体和规划条件的过渡期支持政策，"
                "过渡期满，依法按新用途办理用地手续。")
Q_EIA_CHANGE = "对项目建成投运前建设内容不属于重大变动的，直接纳入排污许可证及竣工环境保护验收管理。"
Q_EIA_EXEMPT = "对未纳入《建设项目环境影响评价分类管理名录》的项目免于环评审批或登记备案。"
Q_POSITIVE = ("筛选保障产业链稳定、绿色工厂、专精特新、制造业单项冠军、科技领军企业、标准领跑者、高新技术等企业和项目，"
              "对符合正面清单管理要求的集群企业，优先纳入正面清单管理，“不停产、不限产、少检查、少打扰”，重污染天气应急期间优先保障。")
Q_R_CQA = "对首次获得“中国质量奖”“中国质量奖提名奖”的单位，分别给予1000万元、500万元的一次性奖励。"
Q_R_WELL_KNOWN = "对新认定为“中国驰名商标”的企业，给予50万元一次性奖励。"
Q_R_EQUIPMENT = "按照“先投后补”方式，对设备固定资产投资进行补贴，支持县域特色产业集群内重点企业扩大投资力度"

COUNTIES = "各县（市）政府"
DEPARTMENTS = {
    "三、（一）1": [COUNTIES, "市工业和信息化局", "市财政局"],
    "三、（一）2": [COUNTIES, "市工业和信息化局", "市财政局"],
    "三、（一）3": [COUNTIES, "市工业和信息化局", "市财政局"],
    "三、（二）4": [COUNTIES, "市市场监管局", "市财政局"],
    "三、（二）5": [COUNTIES, "市市场监管局", "市财政局"],
    "三、（二）6": [COUNTIES, "市工业和信息化局", "市财政局"],
    "三、（三）7": [COUNTIES, "市发展改革委", "市地方金融监管局", "市财政局"],
    "三、（三）8": [COUNTIES, "市地方金融监管局", "市财政局"],
    "三、（三）9": [COUNTIES, "市自然资源局"],
    "三、（三）10": [COUNTIES, "市自然资源局", "市发展改革委"],
    "三、（四）12": [COUNTIES, "市生态环境局", "市行政审批局"],
    "三、（四）13": [COUNTIES, "市生态环境局", "市工业和信息化局", "市科技局", "市市场监管局"],
}
CITY_ONLY = "the city pays"
TRADITIONAL = {"industries": ["textiles_apparel"], "clusters": ["深泽纺织服装"], "county": "深泽县"}


# --------------------------------------------------------------------------- every rule: eligible
# rule id, book, records, profile overrides, status, amount, amount_max, payers, payers unspecified, document, clause, quote
ELIGIBLE: list[tuple[str, str, list[dict[str, Any]], dict[str, Any], str, str | None, str | None, dict[str, str],
                     bool, str, str, str]] = [
    ("sjz.tech_innovation_demo.national", "full", [recognition("tech_innovation_demo", "national")], {},
     "fixed", "300000.00", "300000.00", {}, True, PLAN_ID, "三、（一）1", Q_DEMO),
    ("sjz.tech_innovation_demo.provincial", "full", [recognition("tech_innovation_demo", "provincial")], {},
     "fixed", "150000.00", "150000.00", {}, True, PLAN_ID, "三、（一）1", Q_DEMO),
    ("sjz.specialized_sme.review", "full", [review()], {},
     "fixed", "300000.00", "300000.00", {}, True, PLAN_ID, "三、（一）1", Q_REVIEW),
    ("sjz.specialized_sme.demonstration", "full", [recognition("specialized_sme_demonstration", "provincial")], {},
     "fixed", "500000.00", "500000.00", {}, True, PLAN_ID, "三、（一）1", Q_DEMONSTRATION),
    ("sjz.little_giant", "full", [recognition("little_giant", "national")], {},
     "fixed", "1000000.00", "1000000.00", {}, True, PLAN_ID, "三、（一）1", Q_GIANT),
    ("sjz.tech_retrofit", "full", [project("tech_retrofit", equipment_purchase="1000万元")], TRADITIONAL,
     "up_to", None, "1500000.00", {}, True, PLAN_ID, "三、（一）2", Q_RETROFIT),
    ("sjz.price_index_platform", "full", [project("price_index_platform")], {},
     "fixed", "300000.00", "300000.00", {"city": "300000.00"}, False, PLAN_ID, "三、（一）3", Q_INDEX),
    ("sjz.quality.china_award", PLAN_ID, [rec("quality_award", award="china_quality_award")], {},
     "fixed", "2000000.00", "2000000.00", {}, True, PLAN_ID, "三、（二）4", Q_CQA),
    ("sjz.quality.china_nomination", PLAN_ID, [rec("quality_award", award="china_quality_award_nomination")], {},
     "fixed", "1000000.00", "1000000.00", {}, True, PLAN_ID, "三、（二）4", Q_CQA),
    ("sjz.quality.hebei_organisation", "full",
     [rec("quality_award", award="hebei_quality_award", category="organisation")], {},
     "fixed", "500000.00", "500000.00", {}, True, PLAN_ID, "三、（二）4", Q_HEBEI),
    ("sjz.trademark.well_known", "full", [rec("trademark", type="well_known")], {},
     "fixed", "500000.00", "500000.00", {"city": "500000.00"}, False, PLAN_ID, "三、（二）5", Q_WELL_KNOWN),
    ("sjz.trademark.geographical_indication", "full", [rec("trademark", type="geographical_indication_product")], {},
     "fixed", "500000.00", "500000.00", {"city": "500000.00"}, False, PLAN_ID, "三、（二）5", Q_GI),
    ("sjz.trademark.madrid", "full", [rec("trademark", type="madrid", fee="3万元")], {},
     "fixed", "100000.00", "100000.00", {"city": "100000.00"}, False, PLAN_ID, "三、（二）5", Q_MADRID),
    ("sjz.standard.international", "full", [standard("international")], {},
     "fixed", "300000.00", "300000.00", {}, True, PLAN_ID, "三、（二）5", Q_STANDARD),
    ("sjz.standard.national", "full", [standard("national")], {},
     "fixed", "200000.00", "200000.00", {}, True, PLAN_ID, "三、（二）5", Q_STANDARD),
    ("sjz.standard.industry", "full", [standard("industry")], {},
     "fixed", "100000.00", "100000.00", {}, True, PLAN_ID, "三、（二）5", Q_STANDARD),
    ("sjz.standard.provincial_local", "full", [standard("provincial_local")], {},
     "fixed", "20000.00", "20000.00", {}, True, PLAN_ID, "三、（二）5", Q_PROVINCIAL_LOCAL),
    ("sjz.standard.group_or_agricultural", "full", [standard("agricultural_local")], {},
     "fixed", "20000.00", "20000.00", {}, True, PLAN_ID, "三、（二）5", Q_GROUP),
    ("sjz.attracted_investment", "full", [investment(investment="8000万元")], {},
     "fixed", "800000.00", "800000.00", {}, True, PLAN_ID, "三、（二）6", Q_INVEST),
    ("sjz.bond", "full", [rec("bond", amount="1500万元")], {},
     "fixed", "300000.00", "300000.00", {}, True, PLAN_ID, "三、（三）7", Q_BOND),
    ("sjz.listing", "full", [rec("listing", milestone="listed", market="a_share")], {},
     "unquantified", None, None, {}, False, PLAN_ID, "三、（三）8", Q_LISTING),
    ("sjz.zero_land_retrofit", "full", [project("zero_land_retrofit")], {},
     "non_monetary", None, None, {}, True, PLAN_ID, "三、（三）9", Q_ZERO_LAND),
    ("sjz.existing_property_transition", "full", [project("new_industry_on_existing_property")], {},
     "non_monetary", None, None, {}, True, PLAN_ID, "三、（三）10", Q_TRANSITION),
    ("sjz.eia.non_major_change", "full", [project("eia_non_major_change")], {},
     "non_monetary", None, None, {}, True, PLAN_ID, "三、（四）12", Q_EIA_CHANGE),
    ("sjz.eia.uncatalogued", "full", [project("eia_uncatalogued")], {},
     "non_monetary", None, None, {}, True, PLAN_ID, "三、（四）12", Q_EIA_EXEMPT),
    ("sjz.positive_list", "full", [recognition("standard_leader")], {},
     "non_monetary", None, None, {}, True, PLAN_ID, "三、（四）13", Q_POSITIVE),
    ("sjz.report.quality.china_award", REPORT_ID, [rec("quality_award", award="china_quality_award")], {},
     "fixed", "10000000.00", "10000000.00", {}, True, REPORT_ID, "特色品牌行动·加强质量管理", Q_R_CQA),
    ("sjz.report.quality.china_nomination", REPORT_ID, [rec("quality_award", award="china_quality_award_nomination")], {},
     "fixed", "5000000.00", "5000000.00", {}, True, REPORT_ID, "特色品牌行动·加强质量管理", Q_R_CQA),
    ("sjz.report.trademark.well_known", REPORT_ID, [rec("trademark", type="well_known")], {},
     "fixed", "500000.00", "500000.00", {}, True, REPORT_ID, "特色品牌行动·打造特色品牌", Q_R_WELL_KNOWN),
    ("sjz.report.equipment_subsidy", REPORT_ID, [project("tech_retrofit", equipment_purchase="1000万元")], {},
     "unquantified", None, None, {}, True, REPORT_ID, "科技赋能行动·提升技术装备水平", Q_R_EQUIPMENT),
]


@pytest.mark.parametrize("rule_id, book, records, profile, status, amount, amount_max, payers, unspecified, "
                         "document, clause, quote", ELIGIBLE, ids=[row[0] for row in ELIGIBLE])
def test_eligible(books, rule_id, book, records, profile, status, amount, amount_max, payers, unspecified,  # type: ignore[no-untyped-def]
                  document, clause, quote) -> None:
    result = run(books[book], records, **profile)
    award = result.award(rule_id)
    if document == REPORT_ID:   # a press report never settles money: its awards are listed as reported only
        assert award is None and result.total == result.total_max == 0
        award = next((a for a in result.reported if a.rule_id == rule_id), None)
        assert award is not None and award.citation.document_kind == "report"
        assert result.total_reported_max == (D(amount_max) if amount_max else 0)
    assert award is not None, [(o.rule_id, o.reasons, o.missing) for o in result.not_eligible + result.undetermined]
    assert award.status == status
    assert (None if award.amount is None else str(award.amount)) == amount
    assert (None if award.amount_max is None else str(award.amount_max)) == amount_max
    assert {k: str(v) for k, v in award.payers.items()} == payers
    assert award.payers_unspecified is unspecified
    assert award.citation.document == document
    assert award.citation.document_number == (NUMBER if document == PLAN_ID else None)
    assert award.citation.clause == clause
    assert award.citation.quote == quote
    assert award.departments == DEPARTMENTS.get(clause, [])
    if status in ("unquantified", "non_monetary"):
        assert award.description and award.amount is None and award.amount_max is None
    if book == "full":
        assert re.search(r"rules/shijiazhuang\.yaml:\d+:5$", award.rule_location), award.rule_location


# --------------------------------------------------------------------------- every rule: not eligible
# rule id, records, profile overrides, the reason given (a substring of one of the reasons)
NOT_ELIGIBLE: list[tuple[str, list[dict[str, Any]], dict[str, Any], str]] = [
    ("sjz.tech_innovation_demo.national", [recognition("tech_innovation_demo", "national")], {"clusters": []},
     "enterprise.clusters not_empty true fails: actual []"),
    ("sjz.tech_innovation_demo.provincial", [recognition("tech_innovation_demo", "municipal")], {},
     "no record with record.kind is recognition, record.title is tech_innovation_demo, record.level is provincial"),
    ("sjz.specialized_sme.review", [review()], {"industries": ["food"]},
     "enterprise.industries includes_any [new_generation_it, biomedicine] fails: actual [food]"),
    ("sjz.specialized_sme.demonstration",
     [recognition("specialized_sme_demonstration", "provincial", date=ISSUED - dt.timedelta(days=1))], {},
     "record.date on_or_after 2021-09-15 fails: actual 2021-09-14"),
    ("sjz.little_giant", [recognition("key_little_giant", "national")], {},
     "no record with record.kind is recognition, record.title is little_giant, record.level is national"),
    ("sjz.tech_retrofit", [project("tech_retrofit", equipment_purchase="1000万元")], {},
     "enterprise.industries includes_any [traditional, steel, chemicals, textiles_apparel] fails: "
     "actual [new_generation_it]"),
    ("sjz.price_index_platform", [project("price_index_platform", date=dt.date(2026, 1, 1))], {},
     "record.date on_or_before 2025-12-31 fails: actual 2026-01-01"),
    ("sjz.quality.china_award", [rec("quality_award", award="china_quality_award", date=ISSUED - dt.timedelta(days=1))],
     {}, "record.date on_or_after 2021-09-15 fails: actual 2021-09-14"),
    ("sjz.quality.china_nomination", [rec("quality_award", award="china_quality_award_nomination",
                                          date=END + dt.timedelta(days=1))], {},
     "record.date on_or_before 2025-12-31 fails: actual 2026-01-01"),
    ("sjz.quality.hebei_organisation", [rec("quality_award", award="hebei_quality_award", category="individual")], {},
     "no record with record.kind is quality_award, record.award is hebei_quality_award, record.category is organisation"),
    ("sjz.trademark.well_known", [rec("trademark", type="well_known", date=dt.date(2021, 9, 1))], {},
     "record.date on_or_after 2021-09-15 fails: actual 2021-09-01"),
    ("sjz.trademark.geographical_indication", [rec("trademark", type="well_known")], {},
     "no record with record.kind is trademark, record.type one_of "
     "[geographical_indication_trademark, geographical_indication_product]"),
    ("sjz.trademark.madrid", [rec("trademark", type="international_registration", fee="3万元")], {},
     "no record with record.kind is trademark, record.type is madrid"),
    ("sjz.standard.international", [standard("international", role="participate")], {},
     "no record with record.kind is standard, record.level is international, record.role is lead"),
    ("sjz.standard.national", [standard("national", role="participate")], {},
     "no record with record.kind is standard, record.level is national, record.role is lead"),
    ("sjz.standard.industry", [standard("industry", date=dt.date(2026, 3, 1))], {},
     "record.date on_or_before 2025-12-31 fails: actual 2026-03-01"),
    ("sjz.standard.provincial_local", [standard("agricultural_local")], {},
     "no record with record.kind is standard, record.level is provincial_local, record.role is lead"),
    ("sjz.standard.group_or_agricultural", [standard("group", role="participate")], {},
     "no record with record.kind is standard, record.level one_of [group, agricultural_local], record.role is lead"),
    ("sjz.attracted_investment", [investment(completed=False)], {},
     "record.completed is true fails: actual false"),
    ("sjz.bond", [rec("bond", amount="1500万元")], {"size": "large"},
     "enterprise.sme is true fails: actual false"),
    ("sjz.listing", [rec("listing", milestone="application_accepted", market="a_share")], {},
     "no record with record.kind is listing, record.milestone one_of [quoted, listed]"),
    ("sjz.zero_land_retrofit", [project("tech_retrofit")], {},
     "no record with record.kind is project, record.type is zero_land_retrofit"),
    ("sjz.existing_property_transition", [project("new_industry_on_existing_property", date=dt.date(2020, 6, 1))], {},
     "record.date on_or_after 2021-09-15 fails: actual 2020-06-01"),
    ("sjz.eia.non_major_change", [project("eia_uncatalogued")], {},
     "no record with record.kind is project, record.type is eia_non_major_change"),
    ("sjz.eia.uncatalogued", [project("eia_non_major_change")], {},
     "no record with record.kind is project, record.type is eia_uncatalogued"),
    ("sjz.positive_list", [recognition("green_factory", "provincial")], {"clusters": []},
     "enterprise.clusters not_empty true fails: actual []"),
    ("sjz.report.quality.china_award", [rec("quality_award", award="china_quality_award", date=dt.date(2026, 2, 1))], {},
     "record.date on_or_before 2025-12-31 fails: actual 2026-02-01"),
    ("sjz.report.quality.china_nomination", [rec("quality_award", award="china_quality_award")], {},
     "no record with record.kind is quality_award, record.award is china_quality_award_nomination"),
    ("sjz.report.trademark.well_known", [rec("trademark", type="well_known", date=dt.date(2022, 8, 31))], {},
     "record.date on_or_after 2022-09-01 fails: actual 2022-08-31"),
    ("sjz.report.equipment_subsidy", [project("tech_retrofit", equipment_purchase="1000万元")], {"clusters": []},
     "enterprise.clusters not_empty true fails: actual []"),
]


@pytest.mark.parametrize("rule_id, records, profile, reason", NOT_ELIGIBLE, ids=[row[0] for row in NOT_ELIGIBLE])
def test_not_eligible(rulebook, rule_id, records, profile, reason) -> None:  # type: ignore[no-untyped-def]
    assert_not_eligible(run(rulebook, records, **profile), rule_id, reason)


def test_every_rule_is_covered(rulebook) -> None:  # type: ignore[no-untyped-def]
    assert_every_rule_listed(rulebook, "shijiazhuang", 30, ELIGIBLE, NOT_ELIGIBLE)


# --------------------------------------------------------------------------- documents, quotes, notes
def test_plan_document(rulebook) -> None:  # type: ignore[no-untyped-def]
    doc = rulebook.files["shijiazhuang"].model.documents[PLAN_ID]
    assert doc.number == NUMBER
    assert doc.kind == "notice" and doc.official
    assert doc.date_evidence and "2021年9月15日" in doc.date_evidence
    assert doc.issuer == "石家庄市人民政府办公室"
    assert doc.title == "石家庄市人民政府办公室关于印发《石家庄市县域特色产业提质升级工作方案（2021—2025年）》的通知"
    assert doc.issued == ISSUED
    assert (doc.effective.start, doc.effective.end) == (ISSUED, END)
    assert any("prefix" in n.en and "not printed" in n.en and "发文机关代字" in n.zh for n in doc.notes)
    assert any("2021—2025年" in n.en and "2025-12-31" in n.zh for n in doc.notes)
    text = PLAN.read_text(encoding="utf-8")
    assert NUMBER in text and "2021年9月15日" in text and "工作方案（2021—2025年）" in text


def test_report_document(rulebook) -> None:  # type: ignore[no-untyped-def]
    doc = rulebook.files["shijiazhuang"].model.documents[REPORT_ID]
    assert doc.kind == "report" and not doc.official
    assert doc.number is None and doc.issued is None
    assert "《县域特色产业集群“领跑者”企业培育行动实施方案》" in doc.title
    # The page dates itself: "今年1至8月份" (statistics published in September at the earliest) and
    # "在党的二十大召开之前" (the congress opened 2022-10-16); not 2021-09-15.
    assert doc.published is not None
    assert (doc.published.start, doc.published.end) == (dt.date(2022, 9, 1), dt.date(2022, 10, 15))
    assert (doc.effective.start, doc.effective.end) == (REPORT_FROM, END)
    assert doc.date_evidence and "今年1至8月份" in doc.date_evidence and "二十大" in doc.date_evidence
    text = REPORT.read_text(encoding="utf-8")
    assert "到2025年，上市企业达到8至10家" in text
    assert "今年1至8月份" in text and "在党的二十大召开之前" in text
    assert not re.search(r"20\d\d年\d{1,2}月\d{1,2}日", text)        # the report prints no date


def test_every_quote_is_verbatim_in_its_source(rulebook) -> None:  # type: ignore[no-untyped-def]
    texts = {PLAN_ID: PLAN.read_text(encoding="utf-8"), REPORT_ID: REPORT.read_text(encoding="utf-8")}
    model = rulebook.files["shijiazhuang"].model
    for doc_id, quote in [(r.cite.document, r.cite.quote) for r in model.rules] + \
                         [(n.document, n.quote) for n in model.not_encoded]:
        assert quote in texts[doc_id], quote


def test_every_rule_explains_its_reading(rulebook) -> None:  # type: ignore[no-untyped-def]
    for rule in rulebook.rules_for("shijiazhuang"):
        assert rule.rule.notes, rule.id
        assert rule.rule.departments == DEPARTMENTS.get(rule.rule.cite.clause, []), rule.id
        if rule.rule.cite.document == REPORT_ID:
            assert rule.rule.departments == []          # the report names no department


def test_every_amount_is_written_in_its_quote(rulebook) -> None:  # type: ignore[no-untyped-def]
    def wan(value: Decimal) -> str:
        text = f"{value / 10000:f}"
        return text.rstrip("0").rstrip(".") if "." in text else text

    for rule in rulebook.rules_for("shijiazhuang"):
        amount, quote = rule.rule.amount, rule.rule.cite.quote.replace(" ", "")
        for value in (amount.fixed, amount.cap):
            if value is not None:
                assert f"{wan(value)}万元" in quote, (rule.id, value)
        if amount.rate is not None:
            assert f"{amount.rate * 100:f}".rstrip("0").rstrip(".") + "%" in quote, rule.id


def test_not_encoded_clauses(rulebook) -> None:  # type: ignore[no-untyped-def]
    items = {(n.document, n.clause, n.status) for n in rulebook.files["shijiazhuang"].model.not_encoded}
    assert (PLAN_ID, "三、（三）11", "not_encodable") in items            # 择优给予资金支持: discretionary
    assert (PLAN_ID, "二、（五）2", "not_an_entitlement") in items        # park services
    assert (PLAN_ID, "三、（四）12", "not_an_entitlement") in items       # 依法依规: nothing granted
    assert (PLAN_ID, "三、（二）4", "not_an_entitlement") in items        # the 个人奖 3 万元
    assert (REPORT_ID, "特色品牌行动·打造特色品牌", "not_an_entitlement") in items   # rewards to counties


def test_every_support_clause_of_the_plan_is_accounted_for(rulebook) -> None:  # type: ignore[no-untyped-def]
    model = rulebook.files["shijiazhuang"].model
    clauses = {r.cite.clause for r in model.rules if r.cite.document == PLAN_ID} | \
              {n.clause for n in model.not_encoded if n.document == PLAN_ID}
    numbered = {f"三、（{s}）{n}" for s, items in (("一", (1, 2, 3)), ("二", (4, 5, 6)), ("三", (7, 8, 9, 10, 11)),
                                                  ("四", (12, 13))) for n in items}
    assert numbered <= clauses


def test_two_distinct_leader_terms(rulebook) -> None:  # type: ignore[no-untyped-def]
    titles = rulebook.vocabulary.terms["recognition.title"]
    assert "领跑者" in titles["cluster_leader"] and "标准" not in titles["cluster_leader"]
    assert "标准" in titles["standard_leader"] and "领跑者" in titles["standard_leader"]


# --------------------------------------------------------------------------- effective window and timing
@pytest.mark.parametrize("day, paid_", [
    (ISSUED - dt.timedelta(days=1), False),     # the day before the issue date
    (ISSUED, True),                             # the issue date itself
    (END, True),                                # the last day of the plan period 2021—2025年
    (END + dt.timedelta(days=1), False),
])
def test_window_runs_from_the_issue_date_to_the_end_of_the_plan_period(rulebook, day: dt.date, paid_: bool) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("little_giant", "national", date=day)])
    assert (result.award("sjz.little_giant") is not None) is paid_


def test_records_after_as_of_have_not_happened(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("little_giant", "national", date=dt.date(2024, 7, 1))], as_of=dt.date(2024, 6, 30))
    assert result.awards == []
    assert "after as_of 2024-06-30" in outcome(result, "sjz.little_giant").reasons[0]


def test_report_window_is_the_one_its_page_supports(rulebook) -> None:  # type: ignore[no-untyped-def]
    # Defect 5: the report's rules had the invented window 2021-09-15 onward. The page says
    # "今年1至8月份" and "在党的二十大召开之前": 2022. Nothing of the report is shown for 2021.
    for rule_id in ("sjz.report.trademark.well_known", "sjz.report.equipment_subsidy",
                    "sjz.report.quality.china_award", "sjz.report.quality.china_nomination"):
        assert rulebook.by_id[rule_id].window.start == REPORT_FROM, rule_id
    before = run(rulebook, [rec("trademark", type="well_known", date=REPORT_FROM - dt.timedelta(days=1))])
    assert paid(before) == [("sjz.trademark.well_known", "500000.00")] and before.awards[0].reported == []
    assert before.conflicts == []
    on = run(rulebook, [rec("trademark", type="well_known", date=REPORT_FROM)])
    assert [(r.rule_id, str(r.amount)) for r in on.awards[0].reported] == [("sjz.report.trademark.well_known", "500000.00")]
    equipment = run(rulebook, [project("tech_retrofit", equipment_purchase="1000万元", date=dt.date(2022, 3, 1))])
    assert equipment.reported == [] and equipment.awards == []


# 三、（二）4 of 〔2021〕—69: "对首次获得中国质量奖、提名奖的企业分别奖励 200 万元、100 万元"; the 河北日报 report:
# "对首次获得“中国质量奖”“中国质量奖提名奖”的单位，分别给予1000万元、500万元的一次性奖励。"
def test_a_first_china_quality_award_of_2021_is_paid_200_wan_settled(rulebook) -> None:  # type: ignore[no-untyped-def]
    # Defect 1: a win of 2021-10-01 was paid a settled 1000万 under a plan that did not yet exist.
    result = run(rulebook, [rec("quality_award", award="china_quality_award", id="cqa", date=dt.date(2021, 10, 1))])
    assert paid(result) == [("sjz.quality.china_award", "2000000.00")]
    assert result.awards[0].reported == [] and result.conflicts == [] and result.reported == []
    assert result.total == result.total_max == result.total_reported_max == D("2000000.00")


def test_a_win_after_the_reports_date_shows_both_and_settles_the_official_amount(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [rec("quality_award", award="china_quality_award", id="cqa", date=dt.date(2023, 5, 1))])
    assert paid(result) == [("sjz.quality.china_award", "2000000.00")]
    [alternative] = result.awards[0].reported
    assert (alternative.rule_id, alternative.amount) == ("sjz.report.quality.china_award", D("10000000.00"))
    assert alternative.citation.document == REPORT_ID and alternative.citation.document_kind == "report"
    assert result.total == D("2000000.00") and result.total_by_payer == {"unspecified": D("2000000.00")}
    assert result.total_reported_max == D("10000000.00")
    [conflict] = result.conflicts
    assert conflict.rule_ids == ["sjz.quality.china_award", "sjz.report.quality.china_award"]
    assert conflict.amounts == [D("2000000.00"), D("10000000.00")]
    assert conflict.paid_rule_id == "sjz.quality.china_award" and conflict.reported == ["sjz.report.quality.china_award"]
    assert conflict.documents == [PLAN_ID, REPORT_ID] and "not an official text" in conflict.reason


# --------------------------------------------------------------------------- caps: under, at, over
@pytest.mark.parametrize("purchase, ceiling", [
    ("33333333.26", "4999999.99"),     # just under: 15% = 4999999.989
    ("33333333.33", "5000000.00"),     # 15% = 4999999.9995, rounds to exactly 最高补贴 500 万元
    ("33333333.34", "5000000.00"),     # over: 5000000.001, capped
    ("1亿元", "5000000.00"),
    ("1000万元", "1500000.00"),
])
def test_retrofit_at_most_15_percent_capped_at_500_wan(rulebook, purchase: str, ceiling: str) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [project("tech_retrofit", equipment_purchase=purchase)], **TRADITIONAL)
    award = result.award("sjz.tech_retrofit")
    assert award is not None and award.status == "up_to"
    assert award.amount is None and str(award.amount_max) == ceiling
    assert result.total == 0 and str(result.total_max) == ceiling


def test_retrofit_basis_shows_the_cap(rulebook) -> None:  # type: ignore[no-untyped-def]
    award = run(rulebook, [project("tech_retrofit", equipment_purchase="5000万元")], **TRADITIONAL).award("sjz.tech_retrofit")
    assert award is not None
    assert award.basis == "15% × record.equipment_purchase 50000000 = 7500000.00, capped at 5000000"


def test_retrofit_without_equipment_purchase_is_undetermined(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [project("tech_retrofit")], **TRADITIONAL)
    assert ("sjz.tech_retrofit", ["record.equipment_purchase"]) in [(o.rule_id, o.missing) for o in result.undetermined]


@pytest.mark.parametrize("industry", ["traditional", "steel", "chemicals", "textiles_apparel"])
def test_retrofit_traditional_industries_named_by_the_plan(rulebook, industry: str) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [project("tech_retrofit", equipment_purchase="100万元")], industries=[industry])
    award = result.award("sjz.tech_retrofit")
    assert award is not None and award.amount_max == D("150000.00")


@pytest.mark.parametrize("raised, amount", [
    ("24999999.50", "499999.99"),      # just under: 2% = 499999.99
    ("2500万元", "500000.00"),          # exactly at 单个项目奖励金额最高不超过 50 万元
    ("25000000.50", "500000.00"),      # over: 500000.01, capped
    ("1亿元", "500000.00"),
    ("0.25", "0.01"),                  # 0.005 rounds half up to the fen
])
def test_bond_2_percent_capped_at_50_wan(rulebook, raised: str, amount: str) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [rec("bond", amount=raised)])
    award = result.award("sjz.bond")
    assert award is not None and award.status == "fixed" and str(award.amount) == amount
    assert award.payers == {} and award.payers_unspecified
    assert result.total_by_payer == {"unspecified": D(amount)}


def test_each_bond_issue_is_its_own_project(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("bond", amount="3000万元", id="b1", date=dt.date(2023, 1, 10)),
               rec("bond", amount="1000万元", id="b2", date=dt.date(2023, 9, 10))]
    assert paid(run(rulebook, records)) == [("sjz.bond", "500000.00"), ("sjz.bond", "200000.00")]


@pytest.mark.parametrize("size, sme", [("micro", True), ("small", True), ("medium", True), ("large", False)])
def test_bond_only_for_smes(rulebook, size: str, sme: bool) -> None:  # type: ignore[no-untyped-def]
    assert (run(rulebook, [rec("bond", amount="100万元")], size=size).award("sjz.bond") is not None) is sme


def test_bond_of_an_enterprise_of_unknown_size_is_undetermined(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [rec("bond", amount="100万元")], size=None)
    assert result.awards == [] and [(o.rule_id, o.missing) for o in result.undetermined] == [("sjz.bond", ["enterprise.sme"])]


@pytest.mark.parametrize("invested, amount", [
    ("199999999", "1999999.99"),       # just under: 1% = 1999999.99
    ("2亿元", "2000000.00"),            # exactly at 最高不超过 200 万元
    ("200000001", "2000000.00"),       # over: 2000000.01, capped
    ("10亿元", "2000000.00"),
])
def test_attracted_investment_1_percent_capped_at_200_wan(rulebook, invested: str, amount: str) -> None:  # type: ignore[no-untyped-def]
    award = run(rulebook, [investment(investment=invested)]).award("sjz.attracted_investment")
    assert award is not None and award.status == "fixed" and str(award.amount) == amount


@pytest.mark.parametrize("rank", ["fortune_global_500", "china_500", "industry_top_100"])
def test_attracted_investment_each_rank(rulebook, rank: str) -> None:  # type: ignore[no-untyped-def]
    award = run(rulebook, [investment(investor_rank=rank, investment="5000万元")]).award("sjz.attracted_investment")
    assert award is not None and award.amount == D("500000.00")


@pytest.mark.parametrize("changes, reason", [
    ({"investor_outside_city": False}, "record.investor_outside_city is true fails: actual false"),
    ({"completed": False}, "record.completed is true fails: actual false"),
])
def test_attracted_investment_needs_an_outside_investor_and_completion(rulebook, changes, reason) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [investment(**changes)])
    assert result.awards == [] and reason in outcome(result, "sjz.attracted_investment").reasons


def test_attracted_investment_investor_rank_unknown_is_undetermined(rulebook) -> None:  # type: ignore[no-untyped-def]
    data = investment()
    del data["investor_rank"]
    result = run(rulebook, [data])
    assert result.awards == []
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("sjz.attracted_investment", ["record.investor_rank"])]


def test_attracted_investment_needs_a_cluster_and_the_investment(rulebook) -> None:  # type: ignore[no-untyped-def]
    assert "enterprise.clusters not_empty true fails: actual []" in outcome(
        run(rulebook, [investment()], clusters=[]), "sjz.attracted_investment").reasons
    data = investment()
    del data["investment"]
    result = run(rulebook, [data])
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("sjz.attracted_investment", ["record.investment"])]


# --------------------------------------------------------------------------- China Quality Award: conflict, paid once
def test_china_quality_award_nomination_shows_the_report(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [rec("quality_award", award="china_quality_award_nomination", id="nom")])
    assert paid(result) == [("sjz.quality.china_nomination", "1000000.00")]
    [conflict] = result.conflicts
    assert conflict.amounts == [D("1000000.00"), D("5000000.00")] and conflict.documents == [PLAN_ID, REPORT_ID]
    assert result.total == D("1000000.00") and result.total_reported_max == D("5000000.00")


def test_china_quality_award_groups_say_why(rulebook) -> None:  # type: ignore[no-untyped-def]
    groups = rulebook.files["shijiazhuang"].model.groups
    for name in ("sjz.china_quality_award", "sjz.china_quality_award_nomination"):
        note = groups[name].note
        assert groups[name].combine == "highest" and isinstance(note, Words)
        assert "reported" in note.en and "报道金额" in note.zh
    award = groups["sjz.china_quality_award"].note
    assert isinstance(award, Words) and "1000万元" in award.zh and "1000万元" in award.en


def test_china_quality_award_is_first_time_only(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("quality_award", award="china_quality_award", id="q1", date=dt.date(2022, 5, 1)),
               rec("quality_award", award="china_quality_award", id="q2", date=dt.date(2025, 5, 1))]
    result = run(rulebook, records)
    assert [(a.rule_id, a.record_id) for a in result.awards] == [("sjz.quality.china_award", "q1")]
    assert outcome(result, "sjz.quality.china_award", "q2").reasons == [
        "once per enterprise: already awarded for record q1"]
    assert result.total == D("2000000.00")


def test_nomination_then_prize_pays_each(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("quality_award", award="china_quality_award_nomination", id="n", date=dt.date(2022, 5, 1)),
               rec("quality_award", award="china_quality_award", id="p", date=dt.date(2024, 5, 1))]
    result = run(rulebook, records)
    assert paid(result) == [("sjz.quality.china_nomination", "1000000.00"), ("sjz.quality.china_award", "2000000.00")]
    assert len(result.conflicts) == 1 and result.total == D("3000000.00")      # the nomination of 2022-05 predates the report
    assert result.total_reported_max == D("11000000.00")


def test_plan_alone_pays_its_own_amounts(books) -> None:  # type: ignore[no-untyped-def]
    records = [rec("quality_award", award="china_quality_award_nomination", id="n", date=dt.date(2022, 5, 1)),
               rec("quality_award", award="china_quality_award", id="p", date=dt.date(2024, 5, 1))]
    result = run(books[PLAN_ID], records)
    assert paid(result) == [("sjz.quality.china_nomination", "1000000.00"), ("sjz.quality.china_award", "2000000.00")]
    assert result.conflicts == [] and result.total == D("3000000.00")


# --------------------------------------------------------------------------- Hebei quality award
def test_hebei_quality_award_organisation_each_time_individual_never(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("quality_award", award="hebei_quality_award", category="organisation", id="o1", date=dt.date(2022, 1, 5)),
               rec("quality_award", award="hebei_quality_award", category="organisation", id="o2", date=dt.date(2025, 1, 5)),
               rec("quality_award", award="hebei_quality_award", category="individual", id="i1")]
    result = run(rulebook, records)
    assert [(a.rule_id, a.record_id, str(a.amount)) for a in result.awards] == [
        ("sjz.quality.hebei_organisation", "o1", "500000.00"), ("sjz.quality.hebei_organisation", "o2", "500000.00")]
    assert result.total == D("1000000.00")


def test_hebei_quality_award_without_category_is_undetermined(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [rec("quality_award", award="hebei_quality_award")])
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("sjz.quality.hebei_organisation", ["record.category"])]


# --------------------------------------------------------------------------- trademarks
def test_well_known_trademark_is_paid_once(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [rec("trademark", type="well_known", id="wk")])
    assert paid(result) == [("sjz.trademark.well_known", "500000.00")]
    assert result.total == D("500000.00") and result.total_by_payer == {"city": D("500000.00")}
    [conflict] = result.conflicts
    assert conflict.rule_ids == ["sjz.trademark.well_known", "sjz.report.trademark.well_known"]
    assert conflict.amounts == [D("500000.00"), D("500000.00")]
    assert conflict.paid_rule_id == "sjz.trademark.well_known" and conflict.documents == [PLAN_ID, REPORT_ID]
    assert "disagree" not in conflict.reason and conflict.reported == ["sjz.report.trademark.well_known"]


def test_well_known_trademark_is_one_time(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("trademark", type="well_known", id="w1", date=dt.date(2022, 10, 1)),
               rec("trademark", type="well_known", id="w2", date=dt.date(2024, 3, 1))]
    result = run(rulebook, records)
    assert paid(result) == [("sjz.trademark.well_known", "500000.00")]
    assert outcome(result, "sjz.trademark.well_known", "w2").reasons == ["once per enterprise: already awarded for record w1"]
    assert outcome(result, "sjz.report.trademark.well_known", "w2").reasons == [
        "once per enterprise: already awarded for record w1"]
    assert [r.rule_id for r in result.awards[0].reported] == ["sjz.report.trademark.well_known"]


# Defect 3. 三、（二）5: "对新注册国家地理标志商标或新获得国家地理标志保护产品的，市政府给予一次性奖励 50 万元".
# 一次性 is a lump sum per event: a second, different indication is paid too (it got nothing when capped per
# enterprise); the same registration recorded twice is one achievement, paid once.
def test_geographical_indication_is_paid_once_per_achievement_not_per_enterprise(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("trademark", type="geographical_indication_trademark", id="g1", date=dt.date(2022, 3, 1),
                   registration_number="GI-1"),
               rec("trademark", type="geographical_indication_trademark", id="g1-again", date=dt.date(2022, 4, 1),
                   registration_number="GI-1"),
               rec("trademark", type="geographical_indication_product", id="g3", date=dt.date(2023, 8, 1),
                   registration_number="P-7")]
    result = run(rulebook, records)
    assert [(a.rule_id, a.record_id, str(a.amount)) for a in result.awards] == [
        ("sjz.trademark.geographical_indication", "g1", "500000.00"),
        ("sjz.trademark.geographical_indication", "g3", "500000.00")]
    assert outcome(result, "sjz.trademark.geographical_indication", "g1-again").reasons == [
        "once per achievement: already awarded for record g1"]
    assert result.total_by_payer == {"city": D("1000000.00")}


def test_geographical_indications_without_a_number_are_each_their_own(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("trademark", type="geographical_indication_trademark", id="g1", date=dt.date(2022, 3, 1)),
               rec("trademark", type="geographical_indication_product", id="g2", date=dt.date(2022, 8, 1))]
    result = run(rulebook, records)
    assert [a.record_id for a in result.awards] == ["g1", "g2"] and result.total == D("1000000.00")


def test_trademark_awards_together(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("trademark", type="well_known", id="w"), rec("trademark", type="madrid", id="m"),
               rec("trademark", type="geographical_indication_trademark", id="g")]
    result = run(rulebook, records)
    assert result.total == D("1100000.00") and result.total_by_payer == {"city": D("1100000.00")}


# --------------------------------------------------------------------------- standards
def test_each_standard_led_is_paid(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [standard("international", id="s1"), standard("national", id="s2"), standard("national", id="s3"),
               standard("industry", id="s4"), standard("provincial_local", id="s5"), standard("group", id="s6"),
               standard("agricultural_local", id="s7"), standard("national", role="participate", id="s8")]
    result = run(rulebook, records)
    assert [a.record_id for a in result.awards] == ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]
    # 30 万元 + 2 × 20 万元 + 10 万元 + 3 × 2 万元; participating (s8) is not paid
    assert result.total == D("860000.00") and result.total_by_payer == {"unspecified": D("860000.00")}


# --------------------------------------------------------------------------- 三、（一）1: titles, scope readings
def test_specialized_sme_review_needs_first_recognition_and_review(rulebook) -> None:  # type: ignore[no-untyped-def]
    assert "record.first_time is true fails: actual false" in outcome(
        run(rulebook, [review(first_time=False)]), "sjz.specialized_sme.review").reasons
    assert "record.review_passed is true fails: actual false" in outcome(
        run(rulebook, [review(review_passed=False)]), "sjz.specialized_sme.review").reasons
    result = run(rulebook, [recognition("specialized_sme", "provincial", first_time=True)])
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("sjz.specialized_sme.review", ["record.review_passed"])]


@pytest.mark.parametrize("industries, paid_", [
    (["new_generation_it"], True), (["biomedicine"], True), (["food", "biomedicine"], True), (["food"], False)])
def test_specialized_sme_review_two_industries_only(rulebook, industries: list[str], paid_: bool) -> None:  # type: ignore[no-untyped-def]
    assert (run(rulebook, [review()], industries=industries).award("sjz.specialized_sme.review") is not None) is paid_


def test_specialized_sme_review_unknown_industry_is_undetermined(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [review()], industries=None)
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("sjz.specialized_sme.review", ["enterprise.industries"])]


def test_first_recognition_may_predate_the_plan_if_the_review_does_not(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [review(date=dt.date(2022, 12, 1), note="首次认定 2019-12, 复核通过 2022-12")])
    assert result.award("sjz.specialized_sme.review") is not None


def test_reading_a_other_industries_get_demonstration_and_little_giant(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [review(id="r"), recognition("specialized_sme_demonstration", "provincial", id="d"),
               recognition("little_giant", "national", id="g")]
    result = run(rulebook, records, industries=["food"], clusters=[])
    assert paid(result) == [("sjz.specialized_sme.demonstration", "500000.00"), ("sjz.little_giant", "1000000.00")]
    assert "enterprise.industries includes_any [new_generation_it, biomedicine] fails: actual [food]" in outcome(
        result, "sjz.specialized_sme.review", "r").reasons


@pytest.fixture(scope="module")
def reading_b(rulebook):  # type: ignore[no-untyped-def]
    """The Shijiazhuang rules read with the industry scope over all three 专精特新 sentences."""
    return rulebook.with_readings({"sjz.specialized_sme.industry_scope": "all_three_sentences"})


def test_reading_b_limits_all_three_specialized_sentences(reading_b) -> None:  # type: ignore[no-untyped-def]
    records = [review(id="r"), recognition("specialized_sme_demonstration", "provincial", id="d"),
               recognition("little_giant", "national", id="g")]
    assert run(reading_b, records, industries=["food"], clusters=[]).awards == []
    result = run(reading_b, records, industries=["biomedicine"], clusters=[])
    assert sorted(paid(result)) == [("sjz.little_giant", "1000000.00"), ("sjz.specialized_sme.demonstration", "500000.00"),
                                    ("sjz.specialized_sme.review", "300000.00")]
    assert result.total == D("1800000.00")


def test_reading_b_of_outside_city_scope(rulebook) -> None:  # type: ignore[no-untyped-def]
    book = rulebook.with_readings({"sjz.attracted_investment.outside_city": "industry_top_100_only"})
    inside = {"investor_outside_city": False, "investment": "5000万元"}
    assert run(book, [investment(investor_rank="china_500", **inside)]).award("sjz.attracted_investment") is not None
    assert run(book, [investment(investor_rank="industry_top_100", **inside)]).awards == []


def test_provincial_then_national_tech_innovation_demo_pays_both(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("tech_innovation_demo", "provincial", id="p", date=dt.date(2022, 1, 1)),
               recognition("tech_innovation_demo", "national", id="n", date=dt.date(2024, 1, 1))]
    result = run(rulebook, records)
    assert result.total == D("450000.00") and result.conflicts == []


def test_titles_are_paid_once_per_enterprise(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("little_giant", "national", id="a", date=dt.date(2022, 1, 1)),
               recognition("little_giant", "national", id="b", date=dt.date(2025, 1, 1))]
    result = run(rulebook, records, clusters=[])
    assert [(a.rule_id, a.record_id) for a in result.awards] == [("sjz.little_giant", "a")]
    assert outcome(result, "sjz.little_giant", "b").reasons == ["once per enterprise: already awarded for record a"]


# --------------------------------------------------------------------------- positive list, combination
def test_cash_award_and_positive_list_for_one_title(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("little_giant", "national", id="g")])
    assert paid(result) == [("sjz.little_giant", "1000000.00"), ("sjz.positive_list", None)]
    assert result.conflicts == [] and result.total == D("1000000.00")
    positive = result.award("sjz.positive_list")
    assert positive is not None and positive.status == "non_monetary" and "正面清单" in (positive.description or "")


@pytest.mark.parametrize("title", ["supply_chain_stability", "green_factory", "specialized_sme",
                                   "specialized_sme_demonstration", "little_giant", "key_little_giant",
                                   "single_champion", "tech_leader", "standard_leader", "high_tech"])
def test_positive_list_categories(rulebook, title: str) -> None:  # type: ignore[no-untyped-def]
    assert run(rulebook, [recognition(title)]).award("sjz.positive_list") is not None


def test_cluster_leader_is_not_the_standard_leader(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("cluster_leader", "municipal")])
    assert result.awards == []


def test_positive_list_once_per_enterprise(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [recognition("green_factory", "provincial", id="g", date=dt.date(2022, 1, 1)),
               recognition("high_tech", id="h", date=dt.date(2023, 1, 1))]
    result = run(rulebook, records)
    assert [(a.rule_id, a.record_id) for a in result.awards] == [("sjz.positive_list", "g")]


def test_positive_list_cluster_unknown_is_undetermined(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("green_factory", "provincial")], clusters=None)
    assert [(o.rule_id, o.missing) for o in result.undetermined] == [("sjz.positive_list", ["enterprise.clusters"])]


# --------------------------------------------------------------------------- unquantified and non-monetary
def test_equipment_subsidy_is_unquantified_outside_traditional_industries(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [project("tech_retrofit", equipment_purchase="1000万元", id="t")])
    assert result.award("sjz.report.equipment_subsidy") is None and result.awards == []
    award = next(a for a in result.reported if a.rule_id == "sjz.report.equipment_subsidy")
    assert award.status == "unquantified"
    assert award.amount is None and award.amount_max is None and "先投后补" in (award.description or "")
    assert result.total == 0 and result.total_max == 0 and result.total_by_payer == {}
    assert result.conflicts == []


def test_traditional_cluster_retrofit_pays_the_plan_and_shows_the_report(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [project("tech_retrofit", equipment_purchase="1000万元", id="t")], **TRADITIONAL)
    assert [(a.rule_id, a.status, str(a.amount_max)) for a in result.awards] == [("sjz.tech_retrofit", "up_to", "1500000.00")]
    [conflict] = result.conflicts
    assert conflict.rule_ids == ["sjz.tech_retrofit", "sjz.report.equipment_subsidy"]
    assert conflict.amounts == [D("1500000.00"), None] and conflict.paid_rule_id == "sjz.tech_retrofit"
    assert conflict.reported == ["sjz.report.equipment_subsidy"] and result.reported == []


def test_traditional_enterprise_outside_clusters_gets_the_plan_subsidy_only(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [project("tech_retrofit", equipment_purchase="1000万元")], industries=["steel"], clusters=[])
    assert [a.rule_id for a in result.awards] == ["sjz.tech_retrofit"] and result.conflicts == []


@pytest.mark.parametrize("rule_id, type_, phrase", [
    ("sjz.zero_land_retrofit", "zero_land_retrofit", "不再增收土地价款"),
    ("sjz.existing_property_transition", "new_industry_on_existing_property", "5 年内"),
    ("sjz.eia.non_major_change", "eia_non_major_change", "排污许可证"),
    ("sjz.eia.uncatalogued", "eia_uncatalogued", "免于环评审批或登记备案"),
])
def test_non_monetary_entitlements(rulebook, rule_id: str, type_: str, phrase: str) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [project(type_)], clusters=[])
    award = result.award(rule_id)
    assert award is not None and award.status == "non_monetary" and phrase in (award.description or "")
    assert result.total == 0 and result.total_max == 0 and result.total_by_payer == {}


# --------------------------------------------------------------------------- listing: graded, unquantified
def _listing(milestone: str, market: str, id_: str, day: dt.date) -> dict[str, Any]:
    return rec("listing", milestone=milestone, market=market, id=id_, date=day)


def test_listing_milestones_accumulate(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [_listing("quoted", "neeq", "m1", dt.date(2022, 6, 1)), _listing("listed", "a_share", "m2", dt.date(2024, 6, 1))]
    before = run(rulebook, records, as_of=dt.date(2023, 12, 31))
    assert [(a.rule_id, a.record_id, a.status) for a in before.awards] == [("sjz.listing", "m1", "unquantified")]
    after = run(rulebook, records)
    assert [(a.rule_id, a.record_id, a.status) for a in after.awards] == [
        ("sjz.listing", "m1", "unquantified"), ("sjz.listing", "m2", "unquantified")]
    assert all(a.amount is None and a.amount_max is None and not a.payers_unspecified for a in after.awards)
    assert after.total == 0 and after.total_max == 0 and after.total_by_payer == {} and after.conflicts == []
    assert "分级分类" in (after.awards[0].description or "")


@pytest.mark.parametrize("milestone, market, paid_", [
    ("quoted", "neeq", True), ("quoted", "regional_equity", True), ("listed", "a_share", True),
    ("listed", "overseas", True), ("counselling_filed", "a_share", False), ("application_accepted", "overseas", False),
    ("approved", "a_share", False),
])
def test_listing_only_quotation_or_listing(rulebook, milestone: str, market: str, paid_: bool) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [_listing(milestone, market, "m", DAY)], clusters=[])
    assert (result.award("sjz.listing") is not None) is paid_


def test_listing_before_the_plan_is_not_rewarded(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [_listing("listed", "a_share", "m", dt.date(2021, 6, 1))])
    assert result.awards == []
    assert "record.date on_or_after 2021-09-15 fails: actual 2021-06-01" in outcome(result, "sjz.listing").reasons


# --------------------------------------------------------------------------- other cities, examples, matchers
def test_shijiazhuang_rules_never_apply_to_a_langfang_enterprise(rulebook) -> None:  # type: ignore[no-untyped-def]
    records = [rec("quality_award", award="china_quality_award", id="q"), rec("trademark", type="well_known", id="w"),
               recognition("little_giant", "national", id="g"), rec("bond", amount="1000万元", id="b"),
               project("tech_retrofit", equipment_purchase="1000万元", id="t"), standard("national", id="s")]
    body = "91131024MA0CTX8K4"
    ent = Enterprise.model_validate({"enterprise": {
        "name": "香河某家居科技有限公司", "credit_code": valid_code(body), "city": "langfang",
        "county": "香河县", "clusters": ["香河智慧家居"], "industries": ["traditional"], "size": "small"},
        "records": records})
    result = assess(ent, rulebook, as_of=AS_OF)
    ids = [a.rule_id for a in result.awards] + [o.rule_id for o in result.not_eligible + result.undetermined]
    assert ids and not any(i.startswith("sjz.") for i in ids)
    assert all(not a.rule_id.startswith("sjz.") for a in result.awards) and result.total == 0


def test_a_shijiazhuang_enterprise_is_judged_by_shijiazhuang_rules_only(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = run(rulebook, [recognition("cluster_leader", "provincial")])
    ids = [o.rule_id for o in result.not_eligible + result.undetermined]
    assert ids and all(i.startswith("sjz.") for i in ids)


EXPECTED_EXAMPLES = {
    "shijiazhuang-luquan-electronics.yaml": (
        [("sjz.little_giant", "1000000.00"), ("sjz.positive_list", None), ("sjz.trademark.well_known", "500000.00"),
         ("sjz.bond", "360000.00"), ("sjz.standard.national", "200000.00"),
         ("sjz.quality.china_nomination", "1000000.00"), ("sjz.specialized_sme.review", "300000.00"),
         ("sjz.listing", None)],
        "3360000.00", {"unspecified": "2860000.00", "city": "500000.00"}, 2),
    "shijiazhuang-shenze-textiles.yaml": (
        [("sjz.tech_innovation_demo.provincial", "150000.00"), ("sjz.positive_list", None),
         ("sjz.tech_retrofit", None), ("sjz.zero_land_retrofit", None), ("sjz.trademark.madrid", "100000.00"),
         ("sjz.quality.hebei_organisation", "500000.00"), ("sjz.standard.group_or_agricultural", "20000.00")],
        "770000.00", {"unspecified": "670000.00", "city": "100000.00"}, 1),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_EXAMPLES))
def test_example_enterprises(rulebook, name: str) -> None:  # type: ignore[no-untyped-def]
    awards, total, by_payer, conflicts = EXPECTED_EXAMPLES[name]
    ent = load_enterprise(EXAMPLES / name, rulebook.vocabulary)
    assert ent.profile.city == "shijiazhuang"
    result = assess(ent, rulebook, as_of=AS_OF)
    assert paid(result) == awards
    assert str(result.total) == total
    assert {k: str(v) for k, v in result.total_by_payer.items()} == by_payer
    assert len(result.conflicts) == conflicts


def test_shenze_example_reports_the_retrofit_ceiling(rulebook) -> None:  # type: ignore[no-untyped-def]
    result = assess(load_enterprise(EXAMPLES / "shijiazhuang-shenze-textiles.yaml"), rulebook, as_of=AS_OF)
    award = result.award("sjz.tech_retrofit")
    assert award is not None and award.status == "up_to" and award.amount_max == D("3000000.00")
    assert result.total_max == D("3770000.00")


@pytest.mark.parametrize("name", sorted(EXPECTED_EXAMPLES))
def test_durable_matcher_agrees_on_the_examples(rulebook, name: str) -> None:  # type: ignore[no-untyped-def]
    ent = load_enterprise(EXAMPLES / name, rulebook.vocabulary)
    native = assess(ent, rulebook, as_of=AS_OF)
    durable = assess(ent, rulebook, as_of=AS_OF, engine="durable")
    assert paid(durable) == paid(native) and durable.total == native.total
