from __future__ import annotations

import shutil

import pytest

from incentives.coverage import coverage, to_markdown

from conftest import ROOT


def test_docs_coverage_is_current(book) -> None:  # type: ignore[no-untyped-def]
    shipped = (ROOT / "docs" / "coverage.md").read_text("utf-8")
    assert shipped == to_markdown(coverage(book)), "regenerate: incentives coverage > docs/coverage.md"


def test_every_source_document_is_covered(book) -> None:  # type: ignore[no-untyped-def]
    docs = {d.document_id: d for d in coverage(book)}
    assert {"lf-2025-5", "cz-2022-13", "hb-framework"} <= set(docs)
    assert len([d for d in docs.values() if d.city == "shijiazhuang"]) == 2
    for d in docs.values():
        assert d.rows, d.document_id
        assert all(r.position >= 0 for r in d.rows), [r.clause for r in d.rows if r.position < 0]


def test_every_rule_appears_once(book) -> None:  # type: ignore[no-untyped-def]
    listed = [rid for d in coverage(book) for r in d.rows for rid in r.rule_ids]
    assert sorted(listed) == sorted(r.id for r in book.rules)


def test_langfang_rows(book) -> None:  # type: ignore[no-untyped-def]
    rows = next(d for d in coverage(book) if d.document_id == "lf-2025-5").rows
    assert [(r.clause, r.status) for r in rows] == [
        ("二、5", "not_an_entitlement"), ("二、13", "not_an_entitlement"), ("二、14", "not_an_entitlement"),
        ("三、1", "encoded"), ("三、2", "encoded"), ("三、3", "encoded"), ("三、4", "encoded"),
        ("三、5", "not_an_entitlement"), ("三、6", "not_an_entitlement"), ("三、7", "not_an_entitlement")]
    assert rows[5].detail == "10% of record.investment ≤ 20万元"


def test_a_listed_clause_nobody_reviewed_shows_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from incentives import load_rulebook

    from conftest import RULES

    shutil.copytree(ROOT / "sources", tmp_path / "sources")  # source texts inside the rules tree
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    text = (RULES / "langfang.yaml").read_text("utf-8").replace("三、6, 三、7]", "三、6, 三、7, 四]")
    (tmp_path / "langfang.yaml").write_text(text.replace("../sources/", "sources/"), "utf-8")
    rows = coverage(load_rulebook(tmp_path))[0].rows
    assert (rows[-1].clause, rows[-1].status) == ("四", "not_reviewed")
    assert "| 四 | not reviewed |" in to_markdown(coverage(load_rulebook(tmp_path)))


def test_a_rate_of_100_percent_shows_as_100_percent_in_basis_explain_and_coverage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from incentives import assess, load_rulebook
    from incentives.explain import explain

    from conftest import RULES, enterprise, record

    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    (tmp_path / "langfang.yaml").write_text("""\
city: langfang
documents:
  a: {title: 甲方案, number: 甲〔2025〕1号, issuer: 甲, issued: 2025-01-01, effective: {from: 2025-01-01}}
rules:
  - id: x.training
    title: {zh: 培训费全额补贴, en: Training fees in full}
    cite: {document: a, clause: 一, quote: 培训费用给予全额补贴}
    rewards: {kind: training}
    amount: {rate: 100%, of: record.fees, cap: 5万元}
    payers: {city: 100%}
""", "utf-8")
    book = load_rulebook(tmp_path)
    ent = enterprise([record("training", fees="12345.67", id="t")])
    [award] = assess(ent, book, dt.date(2026, 6, 30)).awards
    assert award.basis == "100% × record.fees 12345.67 = 12345.67"
    assert "100% × record.fees 12345.67 = 12345.67" in explain(ent, book, "x.training", dt.date(2026, 6, 30), "en")
    assert "100% × 培训费用 12,345.67元 = 12,345.67元" in explain(ent, book, "x.training", dt.date(2026, 6, 30), "zh")
    assert "| 100% of record.fees ≤ 5万元 |" in to_markdown(coverage(book))


def test_all_five_documents_list_their_clauses_and_every_clause_is_reviewed(book) -> None:  # type: ignore[no-untyped-def]
    docs = coverage(book)
    assert sorted(d.document_id for d in docs) == [
        "cz-2022-13", "hb-framework", "lf-2025-5", "sjz-2021-69", "sjz-leader-report"]
    for d in docs:
        assert d.listed, f"{d.document_id} lists no clauses"
        assert {r.clause for r in d.rows} == set(d.listed), d.document_id      # each listed clause has a row
        assert d.counts()["not_reviewed"] == 0, [r.clause for r in d.rows if r.status == "not_reviewed"]
        assert d.dated and not d.dated.startswith("no date printed"), d.document_id
    assert "0 not reviewed" in to_markdown(docs) and "| not reviewed |" not in to_markdown(docs)


@pytest.mark.parametrize("document, clause, quote", [
    ("sjz-2021-69", "二、（五）2", "为入园企业提供零风险、低成本、一站式、全方位服务"),
    ("lf-2025-5", "二、5", "开展包联帮扶"),
    ("lf-2025-5", "二、13", "开展工业节能诊断服务"),
    ("lf-2025-5", "二、14", "开展质量诊断帮扶"),
])
def test_the_service_passages_are_covered_as_services(book, document: str, clause: str, quote: str) -> None:  # type: ignore[no-untyped-def]
    d = next(d for d in coverage(book) if d.document_id == document)
    [row] = [r for r in d.rows if r.clause == clause]
    assert row.status == "not_an_entitlement" and row.position >= 0
    model = book.files[d.city].model
    assert any(n.clause == clause and quote in n.quote for n in model.not_encoded)


def test_a_discretionary_grant_is_not_encodable_not_a_non_entitlement(book) -> None:  # type: ignore[no-untyped-def]
    # 三、（三）11: "根据人才层次、科技成果水平、转化阶段等，符合条件的择优给予资金支持" — discretionary, no amount.
    d = next(d for d in coverage(book) if d.document_id == "sjz-2021-69")
    assert [r.status for r in d.rows if r.clause == "三、（三）11"] == ["not_encodable"]


def test_each_document_says_what_it_is(book) -> None:  # type: ignore[no-untyped-def]
    kinds = {d.document_id: d.kind for d in coverage(book)}
    assert kinds == {"cz-2022-13": "normative", "hb-framework": "notice", "lf-2025-5": "normative",
                     "sjz-2021-69": "notice", "sjz-leader-report": "report"}
    text = to_markdown(coverage(book))
    assert "report (not official: amounts shown, never paid) · published 2022-09-01..2022-10-15" in text


def test_coverage_groups_files_by_level_with_the_payers_their_rules_name(book) -> None:  # type: ignore[no-untyped-def]
    from incentives import load_rulebook
    from incentives.coverage import by_level

    example = load_rulebook(ROOT / "docs" / "examples" / "province-county")
    docs = coverage(example)
    assert [(d.city, d.level, d.place) for d in docs] == [("hebei", "province", "河北省"),
                                                          ("xianghe", "county", "香河县")]
    levels = by_level(docs)
    assert levels["province"] == {"places": 1, "documents": 1, "rules": 2, "encoded": 2, "not_encoded": 0,
                                  "payers": ("province",)}
    assert levels["county"]["payers"] == ("city", "county") and levels["city"]["documents"] == 0
    text = to_markdown(docs)
    assert "| province | 1 | 1 | 2 | 2 | 0 | province |" in text and "## xianghe (香河县, county): " in text
    shipped = to_markdown(coverage(book))
    assert "| province | 1 | 1 | 0 | 0 | 5 | — |" in shipped
    assert "No clause of this document states a settled amount for an enterprise" in shipped
