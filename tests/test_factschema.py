"""The facts schema in data: rules/facts.yaml checked, the models built from it, and the migration
from the hand-written models proven on synthetic registers of the three cities."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import oracle_facts
from incentives import FactsError, RulebookError, award_rows, load_enterprise, load_rulebook
from incentives.errors import FactsSchemaError
from incentives.facts import RECORD_MODELS, SCHEMA, Enterprise, facts_error
from incentives.factschema import inspect_facts_schema, load_facts_schema
from incentives.lint import lint_files
from incentives.synth import synthesize
from incentives._yaml import Document

from conftest import RULES, credit_code, enterprise, record

AS_OF = dt.date(2026, 6, 30)
FACTS = (RULES / "facts.yaml").read_text("utf-8")


def schema_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "facts.yaml"
    path.write_text(text, "utf-8")
    schema, problems = inspect_facts_schema(path)
    assert (schema is None) == bool(problems)
    return [str(p) for p in problems]


# ---------------------------------------------------------------- the schema file
# Fields the schema gained after the migration: optional, so every fact file valid before stays valid.
ADDED_SINCE_MIGRATION = {"project": ["reaches_capacity"], "trademark": ["indication"]}


def test_the_bundled_schema_keeps_the_eleven_kinds_with_the_oracles_fields() -> None:
    assert list(SCHEMA.kinds) == list(oracle_facts.RECORD_MODELS)
    for kind, model in RECORD_MODELS.items():
        old = oracle_facts.RECORD_MODELS[kind]
        added = [name for name in model.model_fields if name not in old.model_fields]
        assert added == ADDED_SINCE_MIGRATION.get(kind, []), kind
        assert not any(model.model_fields[name].is_required() for name in added), kind
        for name, was in old.model_fields.items():
            info = model.model_fields[name]
            assert (info.annotation, info.is_required(), info.metadata) == (was.annotation, was.is_required(),
                                                                             was.metadata), f"{kind}.{name}"
        assert model.achievement_fields == old.achievement_fields
    assert list(Enterprise.model_fields["profile"].annotation.model_fields) == list(oracle_facts.Profile.model_fields)


def test_every_problem_of_a_schema_file_is_located_in_one_run(tmp_path: Path) -> None:
    text = FACTS.replace("      review_passed: {type: bool, zh: 复核通过, en: review passed}\n",
                         "      review_passed: {type: bool, zh: 复核通过, en: review passed, unit: m2}\n"
                         "      Bad-Name: {type: text}\n") \
        .replace("    achievement: [title, level]", "    achievement: [title, grade]") \
        .replace("      fee: {type: money,", "      fee: {type: moneys,") \
        .replace("      amount: {type: money, required: true, zh: 融资额", "      amount: {type: rate, required: true, zh: 融资额")
    found = schema_problems(tmp_path, text)
    assert len(found) == 1 and ":60:13: schema: records.trademark.fields.fee.type: Input should be 'money'" in found[0]
    found = schema_problems(tmp_path, text.replace("type: moneys,", "type: money,"))
    assert [p.split(": ", 1)[1] for p in found] == [
        "field-option: records.recognition.fields.review_passed.unit: 'unit' goes with type quantity, not bool",
        "field-name: records.recognition.fields.Bad-Name: field name 'Bad-Name': use lower-case letters, digits and _",
        "achievement: records.recognition.achievement[1]: recognition has no field 'grade'; fields: title, level, "
        "scope, first_time, review_passed, Bad-Name",
        "field-type: records.rd_investment.fields.amount.type: amount is money here but rate in bond: one field "
        "name has one type (a register has one column per name)",
        "field-type: records.award_received.fields.amount.type: amount is money here but rate in bond: one field "
        "name has one type (a register has one column per name)",
    ]
    assert all(p.startswith(f"{tmp_path / 'facts.yaml'}:") for p in found)


@pytest.mark.parametrize("edit, expected", [
    (('  rd_ratio: "rd_spend[year] ÷ revenue[year]"', '  rd_ratio: "rd_spend[year] + employees[year]"'),
     ":LAST:29: cannot add money and number"),
    (('  rd_ratio: "rd_spend[year] ÷ revenue[year]"', '  a: "b[year] + 1"\n  b: "a × 2"'),
     ":NEXT:7: derived facts depend on each other: a → b → a"),
    (("    zh: 认定\n", "    zh: 认定\n    colour: red\n"), ":40:5: schema: records.recognition.colour: unknown key 'colour'"),
    (("    revenue: {type: money,", "    revenue: {type: date,"),
     ":29:15: field-type: enterprise.yearly.revenue.type: a yearly figure is one of money, number, rate, count, "
     "quantity, not date"),
    (("    credit_code: {type: credit_code, required: true,", "    credit_code: {type: text, required: true,"),
     ":20:5: field-type: enterprise.fields.credit_code: credit_code must be a required credit_code"),
    (("      fees: {type: money,", "      fees: {type: quantity,"),
     ":103:14: field-option: records.training.fields.fees.type: a quantity needs its 'unit'"),
])
def test_a_key_that_does_nothing_or_a_wrong_option_is_one_located_error(tmp_path: Path, edit: tuple[str, str],
                                                                       expected: str) -> None:
    assert FACTS.count(edit[0]) == 1
    last = FACTS[:FACTS.index(edit[0])].count("\n") + 1     # the line of the shipped derived facts
    expected = expected.replace("LAST", str(last)).replace("NEXT", str(last + 1))
    [problem] = schema_problems(tmp_path, FACTS.replace(*edit))
    assert problem == f"{tmp_path / 'facts.yaml'}{expected}"


def lease_rules(tmp_path: Path) -> Path:
    """A rule directory whose own facts.yaml adds a record kind (lease) that a rule rewards."""
    tmp_path.mkdir(exist_ok=True)
    shutil.copy(RULES / "vocabulary.yaml", tmp_path / "vocabulary.yaml")
    records_end = FACTS.index("\n# Facts computed")       # the new kind goes after the last one
    (tmp_path / "facts.yaml").write_text(FACTS[:records_end] + """
  lease:
    zh: 租赁厂房
    fields:
      area: {type: quantity, unit: m2, required: true, zh: 面积}
      months: {type: count, zh: 租期（月）}
      monthly_rent: {type: money, zh: 月租金}
""" + FACTS[records_end:], "utf-8")
    (tmp_path / "demo.yaml").write_text("""\
city: demo
documents:
  d-1: {title: 示范文件, issuer: 示范市人民政府, effective: {from: 2026-01-01}}
rules:
  - id: demo.lease
    title: {zh: 租赁厂房补贴, en: Rented workshop subsidy}
    cite: {document: d-1, clause: 一, quote: 租赁面积1000平方米以上的给予补贴}
    rewards: {kind: lease}
    when:
      - record.area: {at_least: 1000}
      - record.months: {at_least: 12}
    amount: {fixed: 5万元}
    payers: {city: 100%}
""", "utf-8")
    return tmp_path


def test_a_new_kind_and_field_is_a_yaml_edit(tmp_path: Path) -> None:
    lease_rules(tmp_path)
    book = load_rulebook(tmp_path)
    assert book.facts.path == str(tmp_path / "facts.yaml") and book.hash != load_rulebook(RULES).hash
    model = book.facts.models.enterprise
    base = {"enterprise": {"name": "示范企业", "credit_code": credit_code(), "city": "demo"}}
    ent = model.model_validate({**base, "records": [
        {"id": "a", "kind": "lease", "date": dt.date(2026, 3, 1), "area": "1200平方米", "months": 24},
        {"id": "b", "kind": "lease", "date": dt.date(2026, 3, 1), "area": 800, "months": 24},
        {"id": "c", "kind": "lease", "date": dt.date(2026, 3, 1), "area": "1500 m2"}]})
    assert ent.records[0].area == Decimal(1200)
    from incentives import assess
    result = assess(ent, book, AS_OF)
    assert [(a.record_id, a.amount) for a in result.awards] == [("a", Decimal("50000.00"))]
    assert [(o.record_id, o.missing) for o in result.undetermined] == [("c", ["record.months"])]
    with pytest.raises(ValidationError, match="cannot read '12亩' as a quantity in 平方米"):
        model.model_validate({**base, "records": [{"id": "a", "kind": "lease", "date": "2026-03-01", "area": "12亩"}]})


LEASES = """\
enterprise: {name: 示范企业, credit_code: 91131024MA0CTX8K46, city: demo}
records:
  - {id: a, kind: lease, date: 2026-03-01, area: 1200平方米, months: 24}
  - {id: b, kind: lease, date: 2026-03-01, area: 800, months: 24}
"""


def test_an_enterprise_is_read_by_the_rulebooks_own_facts_schema(tmp_path: Path) -> None:
    book = load_rulebook(lease_rules(tmp_path / "rules"))
    path = tmp_path / "leases.yaml"
    path.write_text(LEASES, "utf-8")
    ent = load_enterprise(path, book.vocabulary, facts=book.facts)
    assert isinstance(ent, book.facts.models.enterprise) and ent.records[0].area == Decimal(1200)
    from incentives import assess
    assert [(a.record_id, a.amount) for a in assess(ent, book, AS_OF).awards] == [("a", Decimal("50000.00"))]
    with pytest.raises(FactsError) as bundled:       # the bundled schema has no lease
        load_enterprise(path, book.vocabulary)
    assert str(bundled.value).startswith(f"{path}:3:5: records.0: Input tag 'lease' found using 'kind' does not match")
    extra = tmp_path / "extra.yaml"
    extra.write_text(LEASES.replace("months: 24}", "months: 24, rent: 3万元}", 1), "utf-8")
    with pytest.raises(FactsError) as wrong:       # a field the rulebook's schema lacks is located all the same
        load_enterprise(extra, book.vocabulary, facts=book.facts)
    assert str(wrong.value) == f"{extra}:3:71: records.0.rent: Extra inputs are not permitted"


def test_the_cli_rule_tests_and_schema_follow_the_rulebooks_facts(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    rules = lease_rules(tmp_path / "rules")
    (tmp_path / "leases.yaml").write_text(LEASES, "utf-8")

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "incentives", *argv], capture_output=True, text=True, cwd=tmp_path)

    done = cli("evaluate", "leases.yaml", "--rules", str(rules), "--as-of", "2026-06-30", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [(a["rule_id"], a["record_id"], a["amount"]) for a in json.loads(done.stdout)["awards"]] == \
        [("demo.lease", "a", "50000.00")]
    schema = json.loads(cli("schema", "facts", "--rules", str(rules)).stdout)
    assert schema["$defs"]["Lease"]["properties"]["area"]["description"] == "面积"
    assert "Lease" not in json.loads(cli("schema", "facts").stdout)["$defs"]
    (rules / "tests").mkdir()
    (rules / "tests" / "demo.yaml").write_text("""\
rules: ..
cases:
  - name: 租赁1200平方米24个月补贴5万元; 800平方米不补
    as_of: 2026-06-30
    enterprise_file: ../../leases.yaml
    expect:
      awards: [{rule: demo.lease, record: a, amount: 5万元}]
  - name: 同上, 写在用例里
    as_of: 2026-06-30
    enterprise:
      enterprise: {name: 示范企业, credit_code: 91131024MA0CTX8K46, city: demo}
      records: [{id: c, kind: lease, date: 2026-03-01, area: 1000 m2, months: 12}]
    expect:
      awards: [{rule: demo.lease, record: c, amount: 5万元}]
""", "utf-8")
    tested = cli("test", str(rules / "tests" / "demo.yaml"), "--rules", str(rules))
    assert tested.returncode == 0 and "2 passed, 0 failed" in tested.stdout, tested.stdout + tested.stderr


def test_a_vocabulary_list_for_a_field_that_does_not_exist_is_located(tmp_path: Path) -> None:
    shutil.copy(RULES / "facts.yaml", tmp_path / "facts.yaml")
    vocab = (RULES / "vocabulary.yaml").read_text("utf-8")
    (tmp_path / "vocabulary.yaml").write_text(vocab.replace("  recognition.scope:\n", "  recognition.scop:\n")
                                              .replace("  trademark.type:\n", "  trademark.fee:\n"), "utf-8")
    found = [str(p) for p in lint_files([tmp_path / "vocabulary.yaml"])]
    line = vocab.splitlines().index("  recognition.scope:") + 1
    assert found[0].startswith(f"{tmp_path / 'vocabulary.yaml'}:{line}:3: unknown-field: terms.recognition.scop: "
                               "no term field 'recognition.scop' in the facts schema (facts.yaml); term fields: ")
    assert found[1].endswith("terms.trademark.fee: trademark.fee is money, not a term: only term fields take a "
                             "vocabulary list")
    assert len(found) == 2
    (tmp_path / "x.yaml").write_text((RULES / "langfang.yaml").read_text("utf-8"), "utf-8")
    with pytest.raises(FactsSchemaError) as info:
        load_rulebook(tmp_path)
    assert [str(p) for p in info.value.problems] == found


def test_the_shipped_schema_and_vocabulary_lint_clean() -> None:
    assert lint_files([RULES / "facts.yaml", RULES / "vocabulary.yaml"]) == []
    assert load_facts_schema() is SCHEMA


# ---------------------------------------------------------------- facts
def test_yearly_figures_are_read_by_year_and_absent_ones_are_unknown(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(f"""\
enterprise: {{name: 某企业, credit_code: {credit_code()}, city: langfang}}
yearly:
  2024: {{revenue: 3000万元, rd_spend: "120万元", employees: 85}}
  2025: {{revenue: "¥32,000,000.00"}}
""", "utf-8")
    ent = load_enterprise(path)
    assert ent.figure("revenue", 2024) == Decimal("30000000") and ent.figure("revenue", 2025) == Decimal("32000000")
    assert ent.figure("employees", 2024) == 85
    assert ent.figure("rd_spend", 2025) is None and ent.figure("revenue", 2023) is None
    with pytest.raises(FactsError, match="no yearly figure 'revnue' in the facts schema; figures: revenue, rd_spend"):
        ent.figure("revnue", 2024)
    path.write_text(path.read_text("utf-8").replace("employees: 85", "employees: -1, profit: 1"), "utf-8")
    with pytest.raises(FactsError) as info:
        load_enterprise(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}:3:46: yearly.2024.employees: Input should be greater than or equal to 0",
        f"{path}:3:61: yearly.2024.profit: Extra inputs are not permitted"]


def test_every_problem_of_a_fact_file_is_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(f"""\
enterprise: {{name: 某企业, credit_code: {credit_code()}, city: langfang, size: tiny}}
records:
  - {{id: a, kind: recognition, title: little_gaint, level: national, date: 2026-01-01, colour: red}}
  - {{id: b, kind: lease, date: 2026-01-01}}
  - {{id: c, kind: project, type: tech_retrofit, date: 2026-01-01, investment: lots}}
""", "utf-8")
    book = load_rulebook(RULES)
    with pytest.raises(FactsError) as info:
        load_enterprise(path, book.vocabulary)
    shown = [str(p) for p in info.value.problems]
    assert shown[0] == f"{path}:1:74: enterprise.size: Input should be 'micro', 'small', 'medium' or 'large'"
    assert shown[1] == f"{path}:3:88: records.0.colour: Extra inputs are not permitted"
    assert shown[2].startswith(f"{path}:4:5: records.1: Input tag 'lease' found using 'kind' does not match")
    assert shown[3].startswith(f"{path}:5:67: records.2.investment: cannot read 'lots'")
    assert shown[4].startswith(f"{path}:3:32: records.0.title: unknown recognition.title "
                               "'little_gaint'; did you mean 'little_giant'?")
    assert len(shown) == 5 and "more problem" not in str(info.value)


# ---------------------------------------------------------------- the migration, against the oracle
def _oracle_view(item: dict[str, Any]) -> dict[str, Any]:
    """A synthetic enterprise with only what the hand-written models knew (kinds and fields)."""
    known = oracle_facts.RECORD_MODELS
    records = [{k: v for k, v in r.items() if k in known[r["kind"]].model_fields}
               for r in item["records"] if r["kind"] in known]
    return {"enterprise": item["enterprise"], "records": records}


@pytest.mark.parametrize("city", ["langfang", "cangzhou", "shijiazhuang"])
def test_three_cities_migrate_without_changing_an_award(book, city: str) -> None:  # type: ignore[no-untyped-def]
    """20,000 synthetic enterprises per city: the generated models and the hand-written ones read the
    same values and lead to the same award rows, row for row."""
    digest = hashlib.sha256()
    awards = 0
    for item in synthesize(city, 20_000, seed=14, rulebook=book, as_of=AS_OF):
        data = _oracle_view(item)
        new = Enterprise.model_validate(data)
        old = oracle_facts.Enterprise.model_validate(data)
        dumped = new.model_dump()
        for r in dumped["records"]:
            for name in ADDED_SINCE_MIGRATION.get(r["kind"], []):
                assert r.pop(name) is None       # the oracle's view of the data never holds a new field
        assert dumped == {**old.model_dump(), "yearly": {}}
        rows = award_rows(new, book, AS_OF)
        assert rows == award_rows(old, book, AS_OF, terms_checked=True)  # type: ignore[arg-type]
        awards += len(rows)
        digest.update(repr(rows).encode())
    assert awards > 1000, f"{city}: too few awards ({awards}) to prove anything"


BAD_INPUTS = [
    {"enterprise": {"name": "", "credit_code": "91131024MA0CTX8K47", "city": "langfang", "size": "huge"}},
    {"enterprise": {"name": "x", "credit_code": credit_code(), "city": "langfang", "clusters": "香河"},
     "records": [record.recognition("little_giant", "national", first_time="maybe"),
                 record("project", type="tech_retrofit", investment="-5万元", id="p"),
                 record("bond", id="b"), {"id": "k", "kind": "lease", "date": "2026-01-01"},
                 record("trademark", type="well_known", fee="1万元", registration_number=7, id="t")]},
    {"enterprise": {"name": "x", "credit_code": credit_code(), "city": "langfang"}, "colour": 1,
     "records": [record("rd_investment", amount="1万元", ratio="150%", id="r"), record("bond", id="r", amount=1)]},
]


@pytest.mark.parametrize("data", BAD_INPUTS)
def test_errors_and_their_places_are_those_of_the_hand_written_models(data: dict[str, Any]) -> None:
    doc = Document(data=data, path="<dict>")
    with pytest.raises(ValidationError) as new:
        Enterprise.model_validate(data)
    with pytest.raises(ValidationError) as old:
        oracle_facts.Enterprise.model_validate(data)
    assert [(e["loc"], e["msg"], e["type"]) for e in new.value.errors()] == \
        [(e["loc"], e["msg"], e["type"]) for e in old.value.errors()]
    assert str(facts_error(new.value, doc)) == str(facts_error(old.value, doc))


def test_a_record_kind_the_schema_lacks_is_one_located_line_and_exit_2(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from incentives.cli import main
    path = tmp_path / "e.yaml"
    path.write_text(f"enterprise: {{name: 某企业, credit_code: {credit_code()}, city: langfang}}\n"
                    "records:\n  - {id: a, kind: lease, date: 2026-01-01}\n", "utf-8")
    assert main(["evaluate", str(path), "--rules", str(RULES)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"incentives: {path}:3:5: records.0: Input tag 'lease' found using "
                                               "'kind' does not match any of the expected tags: 'recognition'")
    _ = enterprise, RulebookError


def test_same_achievement_names_fields_of_its_kind(tmp_path: Path) -> None:
    text = FACTS.replace("    same_achievement: [indication]", "    same_achievement: [indication, indicaton]")
    found = schema_problems(tmp_path, text)
    line = text.splitlines().index(next(l for l in text.splitlines() if "same_achievement: [indication, indicaton]" in l)) + 1
    assert found == [f"{tmp_path / 'facts.yaml'}:{line}:36: achievement: records.trademark.same_achievement[1]: "
                     "trademark has no field 'indicaton'; fields: type, fee, registration_number, indication"]


@pytest.mark.parametrize("guide", ["authoring.zh.md", "authoring.en.md"])
def test_the_guides_list_every_field_of_every_kind_the_schema_declares(guide: str) -> None:
    text = (RULES.parent / "docs" / guide).read_text("utf-8")
    for kind, decl in SCHEMA.kinds.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{kind}`")), None)
        assert row is not None, f"{guide}: no row for record kind {kind}"
        missing = [name for name in decl.fields if f"`{name}`" not in row]
        assert not missing, f"{guide}: the {kind} row lacks {missing}"
