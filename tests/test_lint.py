from __future__ import annotations

from pathlib import Path

import pytest

from incentives.cli import main
from incentives.errors import LintWarning
from incentives.lint import lint_files, normalise

from conftest import ROOT, RULES

TEN_MISTAKES = """\
city: testcity
documents:
  doc-1:
    title: 测试方案
    issuer: 测试市人民政府办公室
    issued: 2025-01-01
    effective: {from: 2025-01-01, to: 2025-12-31}
    source: source.txt
groups:
  g: {title: 组, combine: highest}
rules:
  - id: t.one
    title: {zh: 一, en: One}
    cite: {document: doc-2, clause: 一, quote: 给予一次性30万元奖励}
    rewards: {kind: recognition, title: cluster_leader, level: provincial}
    amount: {fixed: 30万元}
    payers: {city: 50%, county: 40%}
  - id: t.two
    title: {zh: 二, en: Two}
    cite: {document: doc-1, clause: 二, quote: 这句话不在原文里}
    rewards: {kind: recognition, title: cluster_leadr, level: provincial}
    amount: {fixed: 10万元}
    payers: {city: 100%}
    group: nogroup
  - id: t.three
    title: {zh: 三, en: Three}
    cite: {document: doc-1, clause: 三, quote: 按投资额的10%给予奖励}
    rewards: {kind: project, type: tech_retrofit}
    when:
      - record.investment: {greater: 1万元}
    window: {from: 2024-01-01, to: 2025-06-30}
    amount: {rate: 10%, of: record.investment, cap: 0}
    payers: {city: 100%}
  - id: t.one
    title: {zh: 四, en: Four}
    cite: {document: doc-1, clause: 四, quote: 给予一次性30万元奖励}
    rewards: {kind: standard, level: national, role: lead}
    amount: {fixed: 5万元}
    payers: {city: 100%}
    enterprise_cap: 1万元
  - id: t.five
    title: {zh: 五, en: Five}
    cite: {document: doc-1, clause: 五, quote: 给予一次性30万元奖励}
    rewards: {kind: bond}
    amount: {fixed: 1万元}
    payers: {city: 100%}
    colour: red
"""


def test_eleven_mistakes_give_eleven_located_messages(tmp_path: Path) -> None:
    (tmp_path / "source.txt").write_text("对新认定的企业给予一次性30万元奖励。按投资额的10%给予奖励。", "utf-8")
    path = tmp_path / "testcity.yaml"
    path.write_text(TEN_MISTAKES, "utf-8")
    problems = lint_files([path], _vocab())
    found = sorted((p.location.line, p.code) for p in problems)
    assert found == [
        (14, "unknown-document"),          # cite.document doc-2
        (17, "payer-shares"),              # 50% + 40%
        (20, "quote-not-in-source"),       # quote not in the source text
        (21, "unknown-term"),              # cluster_leadr
        (24, "unknown-group"),             # group nogroup
        (30, "unknown-op"),                # greater
        (31, "window-outside-document"),   # starts 2024
        (32, "cap-never-pays"),            # cap 0
        (34, "duplicate-id"),              # t.one again
        (40, "cap-contradicts-amount"),    # enterprise_cap 1万 < fixed 5万
        (47, "schema"),                    # unknown key colour
    ]
    assert all(str(p).startswith(f"{path}:") for p in problems)
    assert "did you mean 'cluster_leader'" in next(str(p) for p in problems if p.code == "unknown-term")


def _vocab():  # type: ignore[no-untyped-def]
    from incentives import load_vocabulary

    return load_vocabulary(RULES / "vocabulary.yaml")


def test_every_city_file_lints_clean() -> None:
    problems = lint_files(sorted(RULES.glob("*.yaml")))
    assert [str(p) for p in problems if not isinstance(p, LintWarning)] == []


def test_example_file_lints_clean() -> None:
    assert lint_files([ROOT / "docs/examples/rules/example.yaml"], _vocab()) == []


def test_overlap_without_group_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    shutil.copytree(ROOT / "sources", tmp_path.parent / "sources", dirs_exist_ok=True)  # beside the rules, as in the repo
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    text = (RULES / "langfang.yaml").read_text("utf-8")
    text = text.replace("rewards: {kind: recognition, title: cluster_leader, level: municipal}",
                        "rewards: {kind: recognition, title: cluster_leader}")
    (tmp_path / "langfang.yaml").write_text(text, "utf-8")
    assert main(["lint", str(tmp_path / "langfang.yaml")]) == 0
    out = capsys.readouterr().out
    assert "overlap-without-group: lf.leader.municipal: lf.leader.provincial and lf.leader.municipal" in out
    assert "(warning)" in out and "1 warning(s)" in out


def test_an_additional_group_must_say_what_it_needs_of_its_base(tmp_path: Path) -> None:
    import shutil

    # 沧政办规〔2022〕13号 三、(六)3 "认定为国家级工业设计中心的,再奖励200万元": the group declares base_needs: achieved
    shutil.copytree(ROOT / "sources", tmp_path.parent / "sources", dirs_exist_ok=True)
    (tmp_path / "vocabulary.yaml").write_text((RULES / "vocabulary.yaml").read_text("utf-8"), "utf-8")
    text = (RULES / "cangzhou.yaml").read_text("utf-8")
    assert "    base_needs: achieved\n" in text
    (tmp_path / "cangzhou.yaml").write_text(text.replace("    base_needs: achieved\n", ""), "utf-8")
    found = [p for p in lint_files([tmp_path / "cangzhou.yaml"]) if p.code == "base-needs"]
    line = text.splitlines().index("  cz.industrial_design_center:") + 1
    assert [str(p) for p in found] == [
        f"{tmp_path / 'cangzhou.yaml'}:{line}:3: base-needs: groups.cz.industrial_design_center: group "
        "cz.industrial_design_center adds awards to a base but does not say what they need of it: write base_needs: "
        "paid (its award paid here), achieved (its record held, at any date) or nothing"]
    assert isinstance(found[0], LintWarning)
    assert not [p for p in lint_files([RULES / "cangzhou.yaml"]) if p.code == "base-needs"]


@pytest.mark.parametrize("a, b", [
    ("对新认定的省级特色产业集群“领跑者”企业给予一次性30万元奖励", '对新认定的省级特色产业集群"领跑者"企业给予一次性 30 万元奖励'),
    ("（市县两级各承担50%）", "(市县两级各承担50%)"),
    ("给予 100 万元奖\n\n励。", "给予100万元奖励。"),
])
def test_quotes_match_after_normalising(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)
