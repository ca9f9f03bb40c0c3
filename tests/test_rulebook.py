from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from incentives import RulebookError, SourceError, load_rulebook, load_vocabulary
from incentives.messages import written_in_english
from incentives.readings import Words, note_in
from incentives.rulebook import load_rule_file

from conftest import RULES

VOCAB = load_vocabulary(RULES / "vocabulary.yaml")

GOOD = """\
city: testcity
documents:
  doc-1:
    title: 测试方案
    number: 测政办〔2025〕1号
    issuer: 测试市人民政府办公室
    issued: 2025-01-01
    effective: {from: 2025-01-01, to: 2025-12-31}
rules:
  - id: t.leader
    title: {zh: 领跑者奖励, en: Leader award}
    cite: {document: doc-1, clause: 三、1, quote: 给予一次性30万元奖励}
    rewards: {kind: recognition, title: cluster_leader, level: provincial}
    amount: {fixed: 30万元}
    payers: {city: 50%, county: 50%}
"""


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "testcity.yaml"
    path.write_text(text, encoding="utf-8")
    return load_rule_file(path, VOCAB)


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(RulebookError) as info:
        load(tmp_path, text)
    return [str(p) for p in info.value.problems]


def test_real_rulebook_loads_with_hash(book) -> None:  # type: ignore[no-untyped-def]
    assert "langfang" in book.files
    assert book.hash.startswith("sha256:") and len(book.hash) == 71
    assert load_rulebook(RULES).hash == book.hash  # content hash is stable


def test_hash_changes_with_content(tmp_path: Path) -> None:
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    (tmp_path / "testcity.yaml").write_text(GOOD, "utf-8")
    first = load_rulebook(tmp_path).hash
    (tmp_path / "testcity.yaml").write_text(GOOD.replace("30万元}", "31万元}"), "utf-8")
    assert load_rulebook(tmp_path).hash != first


def test_single_file_loads(tmp_path: Path) -> None:
    rules = load(tmp_path, GOOD).rules
    assert [r.id for r in rules] == ["t.leader"]
    assert str(rules[0].location).endswith("testcity.yaml:10:5")


def test_unknown_key_is_located(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD.replace("    amount:", "    amout:"))
    assert any(":14:5: schema: rules[0].amout: unknown key 'amout'" in p for p in found)


@pytest.mark.parametrize("kind", ["[]", "{a: 1}", "report"])
def test_a_document_kind_that_is_not_a_word_is_a_located_error(tmp_path: Path, kind: str) -> None:
    text = GOOD.replace("    issued: 2025-01-01\n", f"    issued: 2025-01-01\n    kind: {kind}\n")
    if kind == "report":   # a known kind loads (a report's money is then reported, not settled)
        assert load(tmp_path, text).model.documents["doc-1"].kind == "report"
        return
    assert problems_of(tmp_path, text) == [f"{tmp_path / 'testcity.yaml'}:8:5: schema: documents.doc-1.kind: "
                                           "Input should be 'normative', 'notice', 'report' or 'interpretation'"]


def test_missing_document_reference(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD.replace("document: doc-1", "document: doc-2"))
    assert found == [f"{tmp_path / 'testcity.yaml'}:12:12: unknown-document: rules[0].cite.document: "
                     "unknown document 'doc-2'; documents: doc-1"]


def test_payer_shares_must_sum_to_100(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD.replace("county: 50%", "county: 40%"))
    assert any("payer-shares" in p and "sum to 90%" in p for p in found)


def test_unknown_payer(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD.replace("county: 50%", "contry: 50%"))
    assert any("unknown payer 'contry'; did you mean 'county'?" in p for p in found)


def test_unknown_vocabulary_term_suggests(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD.replace("title: cluster_leader", "title: cluster_leaders"))
    assert any(":13:34: unknown-term: rules[0].rewards.title:" in p and "did you mean 'cluster_leader'" in p
               for p in found)


def test_condition_errors(tmp_path: Path) -> None:
    text = GOOD + "    when:\n      - record.invest: {at_least: 1}\n      - enterprise.size: {bigger: 1}\n" \
                  "      - enterprise.clusters: {at_least: 5}\n      - record.date: {on_or_after: soon}\n"
    found = problems_of(tmp_path, text)
    codes = [p.split(": ")[1] for p in found]
    assert codes == ["unknown-fact", "unknown-op", "op-type", "value-type"]
    assert "recognition has no fact 'record.invest'" in found[0]


def test_amount_needs_exactly_one_form(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD.replace("{fixed: 30万元}", "{fixed: 30万元, up_to: 40万元}"))
    assert any("exactly one of" in p for p in found)
    found = problems_of(tmp_path, GOOD.replace("{fixed: 30万元}", "{rate: 10%}"))
    assert any("needs 'of'" in p for p in found)


def test_rate_of_must_be_money(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD.replace("{fixed: 30万元}", "{rate: 10%, of: record.level}"))
    assert any("record.level is text, not money" in p for p in found)


def test_window_outside_document(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD + "    window: {from: 2024-06-01, to: 2025-06-01}\n")
    assert any("window-outside-document" in p for p in found)


def test_many_problems_reported_in_one_run(tmp_path: Path) -> None:
    text = (GOOD.replace("document: doc-1", "document: nope").replace("county: 50%", "county: 5%")
            .replace("level: provincial", "level: provincal"))
    found = problems_of(tmp_path, text)
    assert [p.split(": ")[1] for p in found] == ["unknown-document", "payer-shares", "unknown-term"]


def test_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"testcity.yaml:\d+:\d+: not valid YAML"):
        load(tmp_path, GOOD.replace("title: {zh: 领跑者奖励, en: Leader award}", "title: {zh: 领跑者奖励"))


def test_rule_files_cannot_run_code(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not allowed"):
        load(tmp_path, GOOD.replace("city: testcity", "city: !!python/object/apply:os.system [touch /tmp/x]"))


def test_duplicate_rule_id(tmp_path: Path) -> None:
    rule = GOOD.split("rules:\n")[1]
    found = problems_of(tmp_path, GOOD + rule)
    assert any("duplicate-id" in p for p in found)


def test_colon_in_note_gets_a_hint(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD + "    notes:\n      - reading: this\n")
    assert any("put the text in quotes" in p for p in found)


def test_a_note_is_one_text_or_both_languages_and_half_a_pair_is_located(tmp_path: Path) -> None:
    text = GOOD + "    notes:\n      - 只写一种\n      - {zh: 中文说明, en: the English note}\n"
    (rule,) = load(tmp_path, text).rules
    assert [note_in(n, lang) for n in rule.rule.notes for lang in ("zh", "en")] == \
        ["只写一种", "只写一种", "中文说明", "the English note"]
    line = text.splitlines().index("      - {zh: 中文说明, en: the English note}") + 1
    found = problems_of(tmp_path, text.replace("{zh: 中文说明, en: the English note}", "{en: the English note}"))
    assert found == [f"{tmp_path / 'testcity.yaml'}:{line}:9: schema: rules[0].notes[1].words.zh: missing key 'zh'"]
    effective = "    effective: {from: 2025-01-01, to: 2025-12-31}\n"
    document = text.replace(effective, effective + "    notes:\n      - {zh: 中文, en: English, fr: français}\n")
    (found,) = problems_of(tmp_path, document)
    line = document.splitlines().index("      - {zh: 中文, en: English, fr: français}") + 1
    assert found.startswith(f"{tmp_path / 'testcity.yaml'}:{line}:9: schema: documents.doc-1.notes[0].words.fr: "
                            "unknown key 'fr' (a note is one text or {zh, en}")
    assert "valid string" not in found      # a mapping is read as {zh, en} only


def _notes(book: Any) -> Iterator[tuple[str, Any]]:
    """Every note of a rulebook's files (documents, rules, groups), with where it is written."""
    for loaded in book.files.values():
        model = loaded.model
        for doc_id, doc in model.documents.items():
            yield from ((f"{loaded.path}: documents.{doc_id}.notes[{n}]", note) for n, note in enumerate(doc.notes))
        for rule in model.rules:
            yield from ((f"{loaded.path}: {rule.id}.notes[{n}]", note) for n, note in enumerate(rule.notes))
        yield from ((f"{loaded.path}: groups.{name}.note", g.note) for name, g in model.groups.items() if g.note)


_DIGITS = re.compile(r"[0-9]+")
# rule and reading ids, record and enterprise facts, snake_case terms (record kinds, titles, options)
_TERMS = re.compile(r"(?<![A-Za-z0-9_.])(?:[a-z][a-z0-9]*(?:_[a-z0-9]+)+|(?:lf|cz|sjz|hb|record|enterprise)"
                    r"(?:\.[a-z0-9_]+)+)(?![A-Za-z0-9_])")
_CHINESE = re.compile(r"[\u3400-\u9fff]+")
_WORD = re.compile(r"(?<![A-Za-z])[A-Za-z]{2,}(?![A-Za-z])")


def test_each_note_of_the_shipped_rules_says_the_same_numbers_terms_and_quoted_words_in_both_languages(
        book) -> None:  # type: ignore[no-untyped-def]
    pairs = [(where, note) for where, note in _notes(book) if isinstance(note, Words)]
    for where, note in pairs:
        assert Counter(_DIGITS.findall(note.zh)) == Counter(_DIGITS.findall(note.en)), where
        assert set(_TERMS.findall(note.zh)) == set(_TERMS.findall(note.en)), where
        assert [words for words in _CHINESE.findall(note.en) if words not in note.zh] == [], where
        assert not written_in_english(note.zh), where
    # a note of one text is Chinese: an English sentence, even one quoting Chinese words, has its zh beside it
    english = [where for where, note in _notes(book) if isinstance(note, str)
               and (written_in_english(note) or len(_WORD.findall(_TERMS.sub("", note))) >= 3)]
    assert english == [] and len(pairs) >= 170


def test_ratios_need_no_quotes(tmp_path: Path) -> None:
    # YAML 1.1 would read 1:1 as the base-60 number 61; rule files read it as the text wrote it.
    rules = load(tmp_path, GOOD.replace("{city: 50%, county: 50%}", "{ratio: 1:1, to: [city, county]}")).rules
    assert rules[0].shares == {"city": Decimal("0.5"), "county": Decimal("0.5")}


def test_missing_rule_directory(tmp_path: Path) -> None:
    with pytest.raises(RulebookError, match="nope: no such rule file or directory"):
        load_rulebook(tmp_path / "nope")


def test_citing_a_clause_the_document_does_not_list(tmp_path: Path) -> None:
    text = GOOD.replace("    effective: {from: 2025-01-01, to: 2025-12-31}\n",
                        "    effective: {from: 2025-01-01, to: 2025-12-31}\n    clauses: [三、1, 三、2]\n")
    assert load(tmp_path, text).rules
    found = problems_of(tmp_path, text.replace("clause: 三、1,", "clause: 三、9,"))
    assert any("unknown-clause" in p and "no clause '三、9' in 测政办〔2025〕1号; did you mean '三、2'?" in p for p in found)


def test_unknown_term_error_carries_the_suggestion(tmp_path: Path) -> None:
    from incentives import VocabularyError

    with pytest.raises(RulebookError) as info:
        load(tmp_path, GOOD.replace("title: cluster_leader", "title: cluster_leaders"))
    [error] = info.value.problems
    assert isinstance(error, VocabularyError) and error.suggestion == "cluster_leader"


ADMIN = """\
    payment_deadline: {days: 60, quote: 60个工作日内兑现}
    materials: [申请表, 认定文件复印件]
    department: 市工信局
    contact: 0316-0000000
"""


def test_administrative_facts_load_and_reach_the_award(tmp_path: Path) -> None:
    import datetime as dt

    from incentives import assess
    from conftest import enterprise, record
    loaded = load(tmp_path, GOOD + ADMIN)
    rule = loaded.model.rules[0]
    assert (rule.payment_deadline.due(dt.date(2025, 3, 1)), rule.materials, rule.department, rule.contact) == \
        (dt.date(2025, 4, 30), ["申请表", "认定文件复印件"], "市工信局", "0316-0000000")
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    book = load_rulebook(tmp_path)
    firm = enterprise([record.recognition("cluster_leader", "provincial", date=dt.date(2025, 3, 1))], city="testcity")
    award = assess(firm, book, dt.date(2025, 12, 31)).awards[0]
    assert (award.payment_deadline, award.department, award.materials) == \
        (dt.date(2025, 4, 30), "市工信局", ["申请表", "认定文件复印件"])


def test_a_payment_deadline_has_days_or_a_date_never_both(tmp_path: Path) -> None:
    found = problems_of(tmp_path, GOOD + "    payment_deadline: {days: 60, date: 2025-06-30, quote: 限期兑现}\n")
    assert found and "testcity.yaml:16:5: schema: rules[0].payment_deadline: a payment_deadline has exactly one" in found[0]
    found = problems_of(tmp_path, GOOD + "    payment_deadline: {days: 0, quote: 限期兑现}\n")
    assert "payment_deadline.days" in found[0] and "greater than 0" in found[0]


def test_a_rule_file_anywhere_names_its_vocabulary_and_facts_schema_or_uses_the_shipped_ones(tmp_path: Path) -> None:
    import shutil
    from incentives.cli import main
    from incentives.factschema import load_facts_schema
    alone = tmp_path / "anywhere" / "testcity.yaml"
    alone.parent.mkdir()
    alone.write_text(GOOD, encoding="utf-8")
    book = load_rulebook(alone)                          # nothing beside it: the shipped vocabulary and schema
    assert book.vocabulary.has("recognition.title", "cluster_leader") and book.facts.hash == load_facts_schema().hash
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(RULES / "vocabulary.yaml", own / "vocab.yaml")
    (own / "schema.yaml").write_text((RULES / "facts.yaml").read_text("utf-8").replace(
        "      review_passed: {type: bool, zh: 复核通过, en: review passed}\n",
        "      review_passed: {type: bool, zh: 复核通过, en: review passed}\n      batch: {type: count}\n"), "utf-8")
    alone.write_text(GOOD.replace("city: testcity\n", "city: testcity\nvocabulary: ../own/vocab.yaml\n"
                                  "facts: ../own/schema.yaml\n").replace(
        "    amount: {fixed: 30万元}", "    when:\n      - record.batch: {at_least: 2}\n    amount: {fixed: 30万元}"),
        encoding="utf-8")
    book = load_rulebook(alone)
    assert book.vocabulary.path == str((own / "vocab.yaml").resolve()) and "batch" in book.facts.kinds["recognition"].fields
    assert main(["lint", "--rules", str(alone)]) == 0
    alone.write_text(GOOD.replace("city: testcity\n", "city: testcity\nvocabulary: ../own/nope.yaml\n"), "utf-8")
    with pytest.raises(RulebookError, match=r"testcity.yaml:2:1: unknown-file: vocabulary: no vocabulary file "
                                            r"'../own/nope.yaml' beside this rule file"):
        load_rulebook(alone)


def test_an_unknown_fact_is_reported_beside_a_format_error_of_the_same_rule(tmp_path: Path) -> None:
    text = GOOD.replace("    amount: {fixed: 30万元}", "    when:\n      - record.colour: {is: red}\n"
                        "      - record.first_time: {is: maybe}\n    amout: {fixed: 30万元}")
    found = problems_of(tmp_path, text)
    assert any(p.endswith("schema: rules[0].amout: unknown key 'amout'") for p in found)
    assert any(p.endswith(":15:25: unknown-fact: rules[0].when[0].record.colour.is: recognition has no fact "
                          "'record.colour'; known: record.id, record.date, record.kind, record.title, record.level, "
                          "record.scope, record.first_time, record.review_passed") for p in found)
    assert any(p.endswith(":16:29: value-type: rules[0].when[1].record.first_time.is: 'maybe' is not true or false")
               for p in found)


def test_the_hash_covers_a_vocabulary_passed_in_and_ignores_line_ends(tmp_path: Path) -> None:
    import shutil

    from incentives import Vocabulary

    book = load_rulebook(RULES)
    given = load_rulebook(RULES, book.vocabulary)
    assert given.hash == book.hash  # the same terms, as an object: the same hash
    fewer = Vocabulary({k: v for k, v in book.vocabulary.terms.items()} | {"payer": {"city": "市级财政",
                                                                               "province": "省级财政",
                                                                               "county": "县级财政",
                                                                               "district": "区级财政"}})
    assert load_rulebook(RULES, fewer).hash != book.hash  # other terms: another hash (they were not hashed)
    crlf = tmp_path / "rules"
    shutil.copytree(RULES, crlf, ignore=shutil.ignore_patterns("tests"))
    vocab = crlf / "vocabulary.yaml"
    vocab.write_bytes(vocab.read_bytes().replace(b"\n", b"\r\n"))
    shutil.copytree(RULES.parent / "sources", tmp_path / "sources")
    assert load_rulebook(crlf).hash == book.hash
