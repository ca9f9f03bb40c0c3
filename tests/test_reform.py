from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from incentives import RulebookError, assess
from incentives.reform import Reform, apply_reform, compare, load_reform, render

from conftest import RULES as RULES_DIR
from conftest import enterprise, record

AS_OF = dt.date(2026, 6, 30)
D = Decimal


def population() -> list:  # type: ignore[type-arg]
    return [
        enterprise([record("project", type="digital_transformation_pilot", investment="300万元", id="p")],
                   name="甲", county="香河县"),
        enterprise([record("project", type="digital_transformation_pilot", investment="100万元", id="p")],
                   name="乙", county="文安县"),
        enterprise([record("recognition", title="cluster_leader", level="municipal", id="m")], name="丙",
                   county="大城县"),
    ]


def reform(text: str, tmp_path: Path) -> Reform:
    path = tmp_path / "reform.yaml"
    path.write_text(text, "utf-8")
    return load_reform(path)[0]


def test_raising_a_cap_changes_the_budget_as_expected(book, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    new = apply_reform(book, reform("title: 上限提高到30万元\nchanges:\n"
                                    "  - {rule: lf.digital_pilot, set: {amount.cap: 30万元}}\n", tmp_path))
    report = compare(population(), book, new, AS_OF)
    # 甲: 10% of 300万 = 30万, capped at 20万 before and at 30万 after; 乙: 10万 either way.
    assert report.total.baseline == D("450000.00") and report.total.reform == D("550000.00")
    assert report.by_rule["lf.digital_pilot"].change == D("100000.00")
    assert report.by_payer["city"].change == D("50000.00") and report.by_payer["county"].change == D("50000.00")
    assert report.by_county["langfang/香河县"].change == D("100000.00")
    assert report.by_county["langfang/文安县"].change == 0
    assert [(name, c) for _, name, c in report.gains] == [("甲", D("100000.00"))] and report.losses == []
    assert new.hash != book.hash and new.hash.startswith(book.hash)
    assert "+10万元" in render(report, "上限提高到30万元")


def test_removing_a_rule_and_changing_payers(book, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    new = apply_reform(book, reform(
        "title: t\nchanges:\n  - remove: lf.leader.municipal\n"
        "  - rule: lf.digital_pilot\n    set: {payers: {city: 100%}}\n", tmp_path))
    report = compare(population(), book, new, AS_OF)
    assert report.by_rule["lf.leader.municipal"].reform == 0
    assert [(name, c) for _, name, c in report.losses] == [("丙", D("-150000.00"))]
    assert report.by_payer["county"].reform == 0
    assert "lf.leader.municipal" not in new.by_id
    # the baseline rulebook is untouched
    assert assess(population()[2], book, AS_OF).total == D("150000.00")


def test_adding_a_rule(book, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    new = apply_reform(book, reform("""\
title: add
changes:
  - add:
      city: langfang
      rule:
        id: lf.extra
        title: {zh: 加, en: Extra}
        cite: {document: lf-2025-5, clause: 三、1, quote: 对新认定的省级特色产业集群“领跑者”企业给予一次性30万元奖励}
        rewards: {kind: recognition, title: cluster_leader, level: national}
        amount: {fixed: 1万元}
        payers: {city: 100%}
""", tmp_path))
    ent = enterprise([record("recognition", title="cluster_leader", level="national", id="n")])
    assert assess(ent, book, AS_OF).total == 0
    assert assess(ent, new, AS_OF).award("lf.extra").amount == D("10000.00")  # type: ignore[union-attr]


def test_a_reform_that_breaks_the_format_is_refused(book, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RulebookError, match=r"reform.yaml: payer-shares: after the reform, rules\[4\].payers: "
                                            r"payer shares sum to 110%"):
        apply_reform(book, reform("title: t\nchanges:\n  - {rule: lf.digital_pilot, set: {payers.city: 60%}}\n",
                                  tmp_path), source=str(tmp_path / "reform.yaml"))
    with pytest.raises(RulebookError, match="no rule 'lf.nope'"):
        apply_reform(book, reform("title: t\nchanges:\n  - remove: lf.nope\n", tmp_path))


def test_bad_reform_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("title: t\nchanges:\n  - {rule: x}\n", "utf-8")
    with pytest.raises(RulebookError, match=r"r.yaml:3:5: .*each change is one of"):
        load_reform(path)


def test_compare_totals_are_those_of_the_full_assessments(book, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from incentives.facts import Enterprise
    from incentives.synth import synthesize

    new = apply_reform(book, reform("title: t\nchanges:\n  - {rule: lf.digital_pilot, set: {amount.cap: 30万元}}\n"
                                    "  - {rule: cz.trademark.well_known, set: {payers: {city: 100%}}}\n",
                                    tmp_path))
    ents = [Enterprise.model_validate(i) for city in ("langfang", "cangzhou")
            for i in synthesize(city, 300, seed=11, rulebook=book, as_of=AS_OF)]
    report = compare(ents, book, new, AS_OF)  # from award rows
    for attr, rulebook in (("baseline", book), ("reform", new)):
        results = [assess(e, rulebook, AS_OF) for e in ents]
        by_payer: dict[str, Decimal] = {}
        by_county: dict[str, Decimal] = {}
        by_rule: dict[str, Decimal] = {}
        for r in results:
            for payer, amount in r.total_by_payer.items():
                by_payer[payer] = by_payer.get(payer, D(0)) + amount
            key = f"{r.enterprise.city}/{r.enterprise.county or '(unknown)'}"   # as summary.json keys it
            by_county[key] = by_county.get(key, D(0)) + r.total
            for a in r.awards:
                if a.status == "fixed" and a.amount is not None:
                    by_rule[a.rule_id] = by_rule.get(a.rule_id, D(0)) + a.amount
        assert getattr(report.total, attr) == sum((r.total for r in results), D(0))
        assert {k: getattr(t, attr) for k, t in report.by_payer.items() if getattr(t, attr)} == by_payer
        assert {k: getattr(t, attr) for k, t in report.by_county.items()} == by_county
        assert {k: getattr(t, attr) for k, t in report.by_rule.items() if k in by_rule} == by_rule
    assert report.by_payer["unspecified"].change < 0 < report.by_rule["lf.digital_pilot"].change


def test_batch_with_a_reform_matches_compare(book, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import csv
    import json

    from incentives.batch import run_batch
    from incentives.facts import Enterprise
    from incentives.synth import synthesize, write_register

    items = list(synthesize("langfang", 600, seed=5, rulebook=book, as_of=AS_OF))
    write_register(items, tmp_path / "reg", "csv")
    change = reform("title: 上限30万元\nchanges:\n  - {rule: lf.digital_pilot, set: {amount.cap: 30万元}}\n", tmp_path)
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        summary = run_batch(tmp_path / "reg" / "enterprises.csv", out, RULES_DIR, AS_OF, workers=workers,
                            reform=change, progress=False)
        expected = compare((Enterprise.model_validate(i) for i in items), book, apply_reform(book, change), AS_OF)
        data = json.loads((out / "reform.json").read_text("utf-8"))
        assert Decimal(data["total"]["change"]) == expected.total.change > 0
        assert data["by_rule"]["lf.digital_pilot"]["change"] == str(expected.by_rule["lf.digital_pilot"].change)
        rows = list(csv.DictReader((out / "reform_changes.csv").open(encoding="utf-8")))
        assert len(rows) == data["enterprises_gaining"] == len(expected.gains)
        assert sum(Decimal(r["change"]) for r in rows) == expected.total.change
        assert summary.reform is not None and summary.reform.total.change == expected.total.change


def test_a_reform_keeps_the_rulebooks_own_facts_schema_derived_facts_and_divisions(tmp_path: Path) -> None:
    from test_factschema import LEASES, lease_rules

    from incentives import load_enterprise, load_rulebook

    book = load_rulebook(lease_rules(tmp_path / "rules"))
    reform = Reform.model_validate({"title": "租赁补贴提高到6万元",
                                    "changes": [{"rule": "demo.lease", "set": {"amount.fixed": "6万元"}}]})
    reformed = apply_reform(book, reform)
    assert (reformed.facts, reformed.derived, reformed.divisions) == (book.facts, book.derived, book.divisions)
    (tmp_path / "leases.yaml").write_text(LEASES, "utf-8")
    ent = load_enterprise(tmp_path / "leases.yaml", book.vocabulary, facts=book.facts)
    assert [(a.record_id, a.amount) for a in assess(ent, reformed, dt.date(2026, 6, 30)).awards] == \
        [("a", Decimal("60000.00"))]


@pytest.mark.parametrize("path", ["rows", "columnar"])
def test_an_enterprise_with_no_county_has_the_summarys_county_key_in_the_reform(
        book, tmp_path: Path, path: str) -> None:  # type: ignore[no-untyped-def]
    import json

    from incentives.batch import run_batch
    from incentives.synth import synthesize, write_register

    items = list(synthesize("langfang", 300, seed=5, rulebook=book, as_of=AS_OF))
    for item in items[::3]:
        item["enterprise"].pop("county", None)          # a register row whose county cell is empty
    write_register(items, tmp_path / "reg", "csv")
    change = reform("title: 上限30万元\nchanges:\n  - {rule: lf.digital_pilot, set: {amount.cap: 30万元}}\n", tmp_path)
    out = tmp_path / "out"
    result = run_batch(tmp_path / "reg" / "enterprises.csv", out, RULES_DIR, AS_OF, reform=change, progress=False,
                       path=path)
    by_county = json.loads((out / "reform.json").read_text("utf-8"))["by_county"]
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert "langfang/(unknown)" in by_county and not any(key.endswith("/-") for key in by_county)
    assert set(by_county) >= {key for key in summary["by_county"]}
    assert result.reform is not None and "廊坊市（未注明县区）" in render(result.reform, "上限30万元")
