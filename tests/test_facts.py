from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from incentives import FactsError, SourceError, VocabularyError, load_enterprise, validate_credit_code
from incentives.facts import Enterprise, Project
from incentives.schemas import schema

from conftest import RULES, credit_code, enterprise, record

GOOD = """\
enterprise:
  name: 香河某家居科技有限公司
  credit_code: 91131024MA0CTX8K46
  city: langfang
  county: 香河县
  clusters: [香河智慧家居]
records:
  - id: r1
    kind: project
    type: digital_transformation_pilot
    date: 2026-03-01
    investment: "150万元"
"""


def write(tmp_path: Path, text: str, name: str = "facts.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_enterprise_from_yaml(tmp_path: Path) -> None:
    ent = load_enterprise(write(tmp_path, GOOD))
    assert ent.profile.credit_code == "91131024MA0CTX8K46"
    pilot = ent.records[0]
    assert isinstance(pilot, Project) and pilot.investment == Decimal("1500000")
    assert ent.profile.industries is None  # unknown, not empty


def test_load_enterprise_from_json(tmp_path: Path) -> None:
    text = ('{"enterprise": {"name": "x", "credit_code": "91131024MA0CTX8K46", "city": "langfang"},'
            ' "records": [{"id": "b", "kind": "bond", "date": "2026-01-02", "amount": "¥2,000,000.00"}]}')
    ent = load_enterprise(write(tmp_path, text, "facts.json"))
    assert ent.records[0].amount == Decimal("2000000.00")  # type: ignore[union-attr]


@pytest.mark.parametrize("code", ["91131024MA0CTX8K46", "91131026MA0FHN2P7X", "91130100MA0CNR4K2D"])
def test_valid_credit_codes(code: str) -> None:
    assert validate_credit_code(code.lower()) == code


@pytest.mark.parametrize("code, match", [
    ("91131024MA0CTX8K47", "check digit .* expected '6'"),
    ("91131024MA0CTX8K4", "18 characters"),
    ("91131024MA0CTX8KI6", "not allowed"),
])
def test_bad_credit_codes(code: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_credit_code(code)


def test_bad_credit_code_in_file_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("91131024MA0CTX8K46", "91131024MA0CTX8K47"))
    with pytest.raises(FactsError, match=r"facts.yaml:3:3: enterprise.credit_code: check digit") as info:
        load_enterprise(path)
    assert info.value.location.line == 3


def test_negative_amount_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('"150万元"', "-5"))
    with pytest.raises(FactsError, match=r"facts.yaml:12:5: records\.0\.investment: .*negative"):
        load_enterprise(path)


def test_unknown_record_kind_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("kind: project", "kind: subsidy"))
    with pytest.raises(FactsError, match=r"records\.0: .*'subsidy'"):
        load_enterprise(path)


def test_unknown_key_is_an_error_not_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    investment:", "    investmnet:"))
    with pytest.raises(FactsError, match=r":12:5: records\.0\.investmnet: Extra inputs are not permitted"):
        load_enterprise(path)


def test_malformed_yaml_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"facts.yaml:\d+:\d+: not valid YAML"):
        load_enterprise(write(tmp_path, GOOD + "  - [unclosed\n"))


def test_code_running_tags_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("name: 香河某家居科技有限公司", "name: !!python/object/apply:os.system [echo hacked]")
    with pytest.raises(SourceError, match="not allowed|constructor"):
        load_enterprise(write(tmp_path, text))


def test_duplicate_record_ids(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="used twice"):
        enterprise([record("bond", id="x", amount=1), record("bond", id="x", amount=2)])


def test_unknown_term_suggests_the_closest(book: object) -> None:
    from incentives import load_vocabulary

    vocab = load_vocabulary(RULES / "vocabulary.yaml")
    ent = enterprise([record("recognition", title="cluster_leadr", level="provincial")])
    with pytest.raises(VocabularyError, match=r"records\.0\.title: unknown recognition.title 'cluster_leadr'; "
                                              r"did you mean 'cluster_leader'\?") as info:
        ent.check_terms(vocab)
    assert info.value.suggestion == "cluster_leader"


def test_models_are_frozen() -> None:
    ent = enterprise([])
    with pytest.raises(Exception):
        ent.profile.name = "other"  # type: ignore[misc]


def test_sme_is_derived_from_size() -> None:
    assert enterprise([], size="micro").profile.sme is True
    assert enterprise([], size="large").profile.sme is False
    assert enterprise([], size=None).profile.sme is None


def test_facts_json_schema_lists_every_record_kind() -> None:
    facts = schema("facts")
    assert "enterprise" in facts["properties"]
    kinds = {d["properties"]["kind"]["const"] for d in facts["$defs"].values() if "kind" in d.get("properties", {})}
    assert {"recognition", "project", "listing", "bond", "training", "award_received"} <= kinds


def test_dict_source() -> None:
    ent = load_enterprise({"enterprise": {"name": "x", "credit_code": credit_code(), "city": "langfang"},
                           "records": [record("training", fees="2万元", date=dt.date(2026, 1, 1))]})
    assert isinstance(ent, Enterprise) and ent.records[0].fees == Decimal("20000")  # type: ignore[union-attr]


def test_unknown_term_in_a_fact_file_is_located(tmp_path: Path) -> None:
    from incentives import load_vocabulary

    path = write(tmp_path, GOOD.replace("type: digital_transformation_pilot", "type: digital_pilot"))
    with pytest.raises(VocabularyError, match=r"facts.yaml:10:5: records\.0\.type: unknown project.type "
                                              r"'digital_pilot'; did you mean 'digital_transformation_pilot'\?"):
        load_enterprise(path, load_vocabulary(RULES / "vocabulary.yaml"))


def test_an_achievement_is_its_kind_and_identity_fields() -> None:
    ent = enterprise([
        record.recognition("little_giant", "national", id="a", date=dt.date(2024, 5, 1)),
        record.recognition("little_giant", "national", id="b", date=dt.date(2025, 5, 1), review_passed=True),
        record.recognition("little_giant", "provincial", id="c"),
        record.recognition("high_tech", None, id="d"),
        record("trademark", type="well_known", registration_number="123456", id="t1"),
        record("trademark", type="well_known", registration_number=" 123456 ", id="t2", fee="1万元"),
        record("trademark", type="well_known", id="t3"),
        record("standard", level="national", role="lead", number="GB/T 39116-2020", id="s1"),
        record("standard", level="national", role="participate", number="GB/T 39116-2020", id="s2"),
        record("bond", amount="100万元", id="b1"),
    ])
    got = {r.id: r.achievement for r in ent.records}
    assert got["a"] == got["b"] == ("recognition", "little_giant", "national")
    assert got["c"] == ("recognition", "little_giant", "provincial")
    assert got["d"] == ("recognition", "d")          # an identity field left empty: the record is its own
    assert got["t1"] == got["t2"] == ("trademark", "well_known", "123456")
    assert got["t3"] == ("trademark", "t3")
    assert got["s1"] == got["s2"] == ("standard", "national", "GB/T 39116-2020")
    assert got["b1"] == ("bond", "b1")               # a kind without identity fields: its record id
    assert len({hash(a) for a in got.values()}) == 7


def test_one_geographical_indication_is_one_achievement_across_trademark_and_product() -> None:
    # 〔2021〕—69 三、（二）5 "对新注册国家地理标志商标或新获得国家地理标志保护产品的，市政府给予一次性奖励 50 万元"
    ent = enterprise([
        record("trademark", type="geographical_indication_trademark", registration_number="G1001",
               indication="赵州雪花梨", id="gt"),
        record("trademark", type="geographical_indication_product", registration_number="P2001",
               indication="赵州雪花梨", id="gp"),
        record("trademark", type="geographical_indication_product", registration_number="P2002",
               indication="赵县鸭梨", id="other"),
        record("trademark", type="geographical_indication_product", registration_number="P2001", id="bare"),
        record("trademark", type="geographical_indication_trademark", id="nothing"),
    ])
    got = {r.id: r.achievement for r in ent.records}
    assert got["gt"] == got["gp"] == ("trademark", (("indication", "赵州雪花梨"),))
    assert got["other"] == ("trademark", (("indication", "赵县鸭梨"),))
    # without the indication, type and registration number decide, as before; with neither, the record itself
    assert got["bare"] == ("trademark", "geographical_indication_product", "P2001")
    assert got["nothing"] == ("trademark", "nothing")
    assert len(set(got.values())) == 4


def test_the_facts_models_are_built_on_first_use_and_right_when_threads_use_them_first_at_once() -> None:
    """A fresh interpreter imports the models unbuilt (a batch on the columnar path reads their fields alone);
    eight threads then validate the same enterprise at once, each against the whole model: extra fields
    refused, records typed, and every result equal."""
    import subprocess
    import sys

    code = """
import threading
from incentives.facts import Enterprise, RECORD_MODELS
assert not Enterprise.__pydantic_complete__ and not any(m.__pydantic_complete__ for m in RECORD_MODELS.values())
from incentives import load_enterprise
raw = {"enterprise": {"credit_code": "91130100MA07XKQG1N", "name": "石家庄测试有限公司", "city": "shijiazhuang"},
       "records": [{"id": "r1", "kind": "project", "date": "2026-03-01", "type": "technical_upgrade",
                    "investment": "12000000"}]}
results, refused, start = [], [], threading.Barrier(8)
def validate():
    start.wait()
    results.append(Enterprise.model_validate(raw))
    try:
        Enterprise.model_validate({**raw, "records": [{**raw["records"][0], "unknown": 1}]})
    except Exception as e:
        refused.append([error["type"] for error in e.errors()])
threads = [threading.Thread(target=validate) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
assert refused == [["extra_forbidden"]] * 8, refused
assert len(results) == 8 and all(r == results[0] for r in results)
assert type(results[0].records[0]).__name__ == "Project" and str(results[0].records[0].investment) == "12000000"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
