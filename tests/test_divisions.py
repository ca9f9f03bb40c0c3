"""The divisions table, rule files that declare their jurisdiction, and enterprises assessed against
every file that covers them (province, city, county)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentives import assess, award_rows, load_rulebook
from incentives.divisions import BUNDLED, load_divisions
from incentives.errors import FactsError, RulebookError
from incentives.lint import lint_files
from incentives.synth import COUNTIES

from conftest import RULES, enterprise, record

D = Decimal
AS_OF = dt.date(2026, 6, 30)
TABLE = load_divisions(BUNDLED)


def test_the_table_resolves_ids_full_and_short_names_along_the_path() -> None:
    assert [d.id for d in TABLE.path_of("廊坊", "香河")] == ["hebei", "langfang", "xianghe"]
    assert [d.id for d in TABLE.path_of("langfang", "大厂回族自治县")] == ["hebei", "langfang", "dachang"]
    assert [d.id for d in TABLE.path_of("沧州市", "沧县")] == ["hebei", "cangzhou", "cangxian"]
    assert TABLE.find("大厂", "county", "langfang").zh == "大厂回族自治县"     # type: ignore[union-attr]
    assert TABLE.find("沧", "city") is None            # 沧县 keeps its full name: one character is no name
    assert [d.id for d in TABLE.path_of("langfang", "鹿泉区")] == ["hebei", "langfang"]   # not under Langfang
    assert TABLE.path_of("北京") == ()


def test_every_county_synth_draws_from_is_in_the_table_with_its_code() -> None:
    for city, counties in COUNTIES.items():
        for name, (code, _) in counties.items():
            place = TABLE.find(name, "county", city)
            assert place is not None and place.code == code, (city, name)


TABLE_TEXT = """\
version: 1
provinces:
  hebei:
    zh: 河北省
    code: "130000"
    cities:
      langfang:
        zh: 廊坊市
        code: "131000"
        counties:
          EDIT
"""


@pytest.mark.parametrize("edit, message", [
    ('xianghe: {zh: 香河县, code: "131024"}', None),
    ('xianghe: {zh: 香河县, code: "131024", mayor: x}', "divisions.yaml:11:46: divisions: provinces.hebei."
     "cities.langfang.counties.xianghe.mayor: unknown key 'mayor'"),
    ('xianghe: {zh: 香河县, code: "130924"}', "divisions.yaml:11:30: divisions: provinces.hebei.cities.langfang."
     "counties.xianghe.code: code 130924 of 香河县 does not start with 1310, the code of the place above it"),
    ('xianghe: {zh: 香河县, code: "131024"}\n          langfang: {zh: 廊坊县, code: "131099"}',
     "divisions.yaml:12:11: divisions: provinces.hebei.cities.langfang.counties.langfang: place id 'langfang' is "
     "already used by 廊坊市"),
])
def test_a_bad_divisions_table_is_a_located_error_line(tmp_path: Path, edit: str, message: str | None) -> None:
    path = tmp_path / "divisions.yaml"
    path.write_text(TABLE_TEXT.replace("EDIT", edit), "utf-8")
    problems = [str(p).replace(str(tmp_path) + "/", "") for p in lint_files([path])]
    assert problems == ([] if message is None else [message])


# ----------------------------------------------------------------------------- rule files

HEADER = """\
documents:
  d: {title: 办法, number: 某〔2026〕1号, issuer: 某, issued: 2026-01-01, effective: {from: 2026-01-01, to: null}}
"""


def _rule(rid: str, amount: str, payers: str, title: str = "cluster_leader", extra: str = "") -> str:
    return (f"  - id: {rid}\n    title: {{zh: {rid}, en: {rid}}}\n    cite: {{document: d, clause: 一, quote: 奖励}}\n"
            f"    rewards: {{kind: recognition, title: {title}, level: provincial}}\n"
            f"    amount: {{fixed: {amount}}}\n    payers: {payers}\n{extra}")


def _book(tmp_path: Path, files: dict[str, str]):  # type: ignore[no-untyped-def]
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text, "utf-8")
    return load_rulebook(tmp_path, check_quotes=False)


PROVINCE = "jurisdiction: {level: province, place: hebei}\n" + HEADER + "rules:\n" + \
    _rule("hb.leader", "10万元", "{province: 100%}") + \
    _rule("hb.shared", "9万元", '{ratio: "1:1:1", to: [province, city, county]}', title="shared_factory")
CITY = "jurisdiction: {level: city, place: langfang}\n" + HEADER + "rules:\n" + \
    _rule("lf.factory", "30万元", "{city: 50%, county: 50%}", title="shared_factory")
COUNTY = "jurisdiction: {level: county, place: xianghe}\n" + HEADER + "rules:\n" + \
    _rule("xh.leader", "5万元", "{county: 100%}", extra="    group: xh\n") + \
    "groups:\n  xh: {title: 香河, combine: all}\n"
LEADER = record("recognition", title="cluster_leader", level="provincial", id="lead", date=dt.date(2026, 3, 1))
FACTORY = record("recognition", title="shared_factory", level="provincial", id="fac", date=dt.date(2026, 4, 1))


@pytest.fixture()
def three(tmp_path: Path):  # type: ignore[no-untyped-def]
    return _book(tmp_path, {"hebei": PROVINCE, "langfang": CITY, "xianghe": COUNTY})


def test_an_enterprise_in_xianghe_is_assessed_against_the_province_city_and_county_files(three) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([LEADER, FACTORY]), three, AS_OF)
    got = {(a.rule_id, a.record_id): (a.amount, a.level, a.place, a.payers) for a in result.awards}
    # 领跑者: the province's 10万 and the county's 5万 reward one record with no common group: the
    # highest is paid and the conflict shown. Shared factory: the city's 30万 outbids the province's 9万.
    assert got == {("hb.leader", "lead"): (D("100000.00"), "province", "hebei", {"province": D("100000.00")}),
                   ("lf.factory", "fac"): (D("300000.00"), "city", "langfang",
                                           {"city": D("150000.00"), "county": D("150000.00")})}
    assert {(c.record_id, c.paid_rule_id, tuple(c.rule_ids)) for c in result.conflicts} == {
        ("lead", "hb.leader", ("hb.leader", "xh.leader")), ("fac", "lf.factory", ("hb.shared", "lf.factory"))}
    assert result.total_by_payer == {"province": D("100000.00"), "city": D("150000.00"), "county": D("150000.00")}
    assert result.warnings == []
    assert json.loads(result.model_dump_json())["awards"][0]["level"] == "province"


def test_a_province_city_county_split_1_1_1_sums_to_the_fen(three) -> None:  # type: ignore[no-untyped-def]
    result = assess(enterprise([FACTORY], city="cangzhou", county="泊头市"), three, AS_OF)
    [award] = result.awards
    assert (award.rule_id, award.level) == ("hb.shared", "province")
    assert award.payers == {"province": D("30000.00"), "city": D("30000.00"), "county": D("30000.00")}
    assert sum(award.payers.values()) == award.amount == D("90000.00")


def test_a_county_file_covers_only_its_county_and_says_when_it_was_left_out(three) -> None:  # type: ignore[no-untyped-def]
    wenan = assess(enterprise([LEADER], county="文安县"), three, AS_OF)
    assert [(a.rule_id, a.level) for a in wenan.awards] == [("hb.leader", "province")]
    assert "xh.leader" not in {o.rule_id for o in [*wenan.not_eligible, *wenan.undetermined]}
    assert wenan.warnings == []
    unknown = assess(enterprise([LEADER], county=None), three, AS_OF)
    assert unknown.warnings == ["no county given: the county files xianghe were not applied"]
    elsewhere = assess(enterprise([LEADER], city="北京", county=None), three, AS_OF)
    assert elsewhere.awards == [] and elsewhere.warnings == ["no rule file for city '北京'"]


def test_population_rows_and_durable_rules_see_the_same_files(three) -> None:  # type: ignore[no-untyped-def]
    ent = enterprise([LEADER, FACTORY])
    rows = award_rows(ent, three, AS_OF)
    assert [(r.rule_id, r.amount, r.payers) for r in rows] == [
        ("hb.leader", D("100000.00"), {"province": D("100000.00")}),
        ("lf.factory", D("300000.00"), {"city": D("150000.00"), "county": D("150000.00")})]
    durable = assess(ent, three, AS_OF, engine="durable")
    assert [(a.rule_id, a.amount) for a in durable.awards] == [(r.rule_id, r.amount) for r in rows]


def test_places_resolve_names_and_unknown_ones_list_the_known(three) -> None:  # type: ignore[no-untyped-def]
    assert three.covering("廊坊市", "香河") == ("hebei", "langfang", "xianghe")
    assert three.covering("cangzhou", "泊头市") == ("hebei",)
    assert three.where("廊坊", "香河县") == ("langfang", "xianghe")
    with pytest.raises(FactsError, match=r"enterprise.county: unknown county '丰台' in 廊坊市; known counties: "
                                         r"dachang \(大厂回族自治县/大厂\), dacheng"):
        three.where("langfang", "丰台")
    with pytest.raises(FactsError, match=r"enterprise.city: unknown city '保定'; known cities: cangzhou \(沧州市/沧州\)"):
        three.where("保定")


@pytest.mark.parametrize("head, message", [
    ("jurisdiction: {level: county, place: xiangh}", "x.yaml:1:31: jurisdiction: jurisdiction.place: unknown "
     "place 'xiangh'; known county places: botou (泊头市/泊头), cangxian (沧县)"),
    ("jurisdiction: {level: city, place: xianghe}", "x.yaml:1:16: jurisdiction: jurisdiction.level: xianghe "
     "(香河县) is a county, not a city"),
    ("jurisdiction: {level: town, place: xianghe}", "x.yaml:1:16: schema: jurisdiction.level: Input should be "
     "'province', 'city' or 'county'"),
    ("city: hebei", "x.yaml:1:1: jurisdiction: city: hebei is a province (河北省): write jurisdiction: "
     "{level: province, place: hebei}"),
    ("city: cangzhou\njurisdiction: {level: city, place: langfang}", "x.yaml:1:1: jurisdiction: city: city: "
     "cangzhou is not the jurisdiction's place langfang: keep jurisdiction: and remove city:"),
    ("", "x.yaml:2:1: schema: missing key 'jurisdiction': the place the file covers, "
     "{level: province|city|county, place: <id>}"),
])
def test_a_bad_jurisdiction_is_one_located_error(tmp_path: Path, head: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(head + "\n" + HEADER + "rules: []\n", "utf-8")
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    problems = [str(p).replace(str(tmp_path) + "/", "") for p in lint_files([path])]
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_rule_ids_are_unique_and_groups_one_files_across_the_covering_files(tmp_path: Path) -> None:
    twice = CITY.replace("lf.factory", "hb.leader")
    with pytest.raises(RulebookError, match=r"langfang.yaml:5:5: id: rule id 'hb.leader' is "
                                            r"already used in .*hebei.yaml:\d+:\d+"):
        _book(tmp_path / "ids", {"hebei": PROVINCE, "langfang": twice})
    grouped = PROVINCE + "groups:\n  xh: {title: 省, combine: all}\n"
    with pytest.raises(RulebookError, match=r"xianghe.yaml:\d+:\d+: groups.xh: group 'xh' is also "
                                            r"declared in .*hebei.yaml"):
        _book(tmp_path / "groups", {"hebei": grouped, "xianghe": COUNTY})
    def city(place: str) -> str:
        return COUNTY.replace("{level: county, place: xianghe}", f"{{level: city, place: {place}}}").replace(
            "xh.", f"{place}.")
    apart = _book(tmp_path / "apart", {"langfang": city("langfang"), "cangzhou": city("cangzhou")})
    assert apart.files["langfang"].model.groups.keys() == apart.files["cangzhou"].model.groups.keys() == {"xh"}


def test_the_shipped_province_file_pays_nothing_and_changes_no_city_award() -> None:
    book = load_rulebook(RULES)
    hebei = book.files["hebei"]
    assert (hebei.model.level, hebei.rules) == ("province", ())
    assert book.covering("langfang", "香河县") == ("hebei", "langfang")
    assert len(hebei.model.not_encoded) == 5


@pytest.mark.parametrize("city", ["langfang", "cangzhou", "shijiazhuang"])
def test_the_province_file_changes_no_award_row_of_a_synthetic_register(city: str, tmp_path: Path) -> None:
    """The shipped rulebook against the same city files without the province's: the same rows."""
    import shutil

    from incentives.facts import Enterprise
    from incentives.synth import synthesize

    full = load_rulebook(RULES)
    for name in ("vocabulary.yaml", "facts.yaml", "divisions.yaml", f"{city}.yaml"):
        shutil.copy(RULES / name, tmp_path / name)
    (tmp_path.parent / "sources").mkdir(exist_ok=True)
    cities_only = load_rulebook(tmp_path, check_quotes=False)
    assert full.covering(city) == ("hebei", city) and cities_only.covering(city) == (city,)
    awards = 0
    for item in synthesize(city, 5_000, seed=3, rulebook=full, as_of=AS_OF):
        ent = Enterprise.model_validate(item)
        rows = award_rows(ent, full, AS_OF)
        assert rows == award_rows(ent, cities_only, AS_OF)
        awards += len(rows)
    assert awards > 300


def test_the_calculator_offers_the_cities_some_file_covers(three, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from incentives.service.web import _cities_with_rules

    assert _cities_with_rules(three) == ["cangzhou", "langfang", "shijiazhuang"]     # the province covers them all
    assert _cities_with_rules(_book(tmp_path / "county", {"xianghe": COUNTY})) == ["langfang"]
    assert _cities_with_rules(load_rulebook(RULES)) == ["cangzhou", "langfang", "shijiazhuang"]


CITY_FILES = {"langfang": CITY, "cangzhou": CITY.replace("place: langfang", "place: cangzhou").replace("lf.", "cz."),
              "xianghe": COUNTY, "botou": COUNTY.replace("place: xianghe", "place: botou").replace("xh.", "bt."),
              "hebei": PROVINCE}


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Every subset of five files (a province, two cities, two counties), loaded once each."""
    import itertools

    out = {}
    for n in range(len(CITY_FILES) + 1):
        for keys in itertools.combinations(sorted(CITY_FILES), n):
            out[keys] = _book(tmp_path_factory.mktemp("subset"), {k: CITY_FILES[k] for k in keys})
    return out


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_an_award_comes_only_from_a_file_on_the_enterprises_path(books, data) -> None:  # type: ignore[no-untyped-def]
    keys = data.draw(st.sampled_from(sorted(books)))
    book = books[keys]
    city, county = data.draw(st.sampled_from([("langfang", "香河县"), ("廊坊", "文安县"), ("langfang", None),
                                              ("cangzhou", "泊头市"), ("沧州市", "献县"), ("保定", None)]))
    result = assess(enterprise([LEADER, FACTORY], city=city, county=county), book, AS_OF)
    path = [d.id for d in TABLE.path_of(city, county)]
    assert book.covering(city, county) == tuple(k for k in path if k in keys)
    for award in result.awards:
        assert award.place in path and award.level == TABLE.by_id[award.place].level
        assert sum(award.payers.values()) == award.amount
    assert result.total_by_payer == {p: sum((a.payers.get(p, D(0)) for a in result.awards), D(0))
                                     for p in result.total_by_payer}
    if not path:
        assert result.awards == [] and result.warnings == [f"no rule file for city {city!r}"]
