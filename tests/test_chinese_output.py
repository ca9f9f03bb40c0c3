"""Output in Chinese is Chinese: no English sentence in a zh table or explanation of any example
enterprise (examples/enterprises and the enterprises of the docs' worked examples), through the library
and the commands; and money in one column keeps one unit style.

These tests use only what the commands and ``incentives.report``/``incentives.explain`` offer, so they
can be run against an older checkout to see what it printed."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from incentives import assess, load_enterprise, load_rulebook
from incentives.cli import main
from incentives.explain import explain, explanation
from incentives.report import money, render
from incentives.rulebook import Rulebook

from conftest import ROOT, RULES

AS_OF = dt.date(2026, 6, 30)


# What may stand in Chinese output as ASCII letters: ids (rule, record, document, group: from the rule
# files and the facts), credit codes, clause ids, file locations, hashes, and these words.
ALLOWED_WORDS = {"MiB", "CNY"}
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/:〔〕]*")
_GAP = re.compile(r"[\s,;:'\"()\[\]]*")


def english_runs(text: str, ids: set[str]) -> list[str]:
    """Runs of two or more English words in ``text``: a word is a token of letters only that is neither an
    allowed word nor an id; tokens with digits, dots, underscores, hyphens or slashes are ids and
    locations, never words (``lf.leader.provincial``, ``91131024MA0CTX8K46``, ``rules/x.yaml:3:5``)."""
    runs: list[str] = []
    current: list[str] = []
    last_end = 0
    for match in _TOKEN.finditer(text):
        token = match.group(0).rstrip(".:")
        word = token.isalpha() and token not in ALLOWED_WORDS and token not in ids
        joined = bool(current) and _GAP.fullmatch(text[last_end:match.start()]) is not None
        if word and joined:
            current.append(token)
        else:
            if len(current) >= 2:
                runs.append(" ".join(current))
            current = [token] if word else []
        last_end = match.end()
    if len(current) >= 2:
        runs.append(" ".join(current))
    return runs


def test_the_scan_finds_english_sentences_and_passes_ids() -> None:
    ids = {"carrier"}
    assert english_runs("不符合: once per enterprise: already awarded for record r1", ids) == [
        "once per enterprise already awarded for record"]
    assert english_runs("lf.shared.carrier [carrier] 缺少事实：所属特色产业集群", ids) == []
    assert english_runs("规则位置: rules/langfang.yaml:45:5  sha256:17664fb16bbb  91131024MA0CTX8K46", ids) == []
    assert english_runs("冲突: r2: a.b, c.d → 兑付 a.b；新闻报道 sjz-leader-report 不是正式文件", ids) == []
    assert english_runs("记录类型  is recognition", ids) == ["is recognition"]


def _ids(book: Rulebook, facts: dict[str, Any]) -> set[str]:
    ids = set(book.by_id) | {r.get("id", "") for r in facts.get("records", [])}
    for loaded in book.files.values():
        ids |= set(loaded.model.documents)
    return {i for i in ids if i}


def _example_enterprises() -> Iterator[tuple[str, Rulebook, dict[str, Any], dt.date]]:
    """Every example enterprise: examples/enterprises, and the enterprises of the docs' worked examples."""
    book = load_rulebook(RULES)
    for path in sorted((ROOT / "examples" / "enterprises").glob("*.yaml")):
        yield path.name, book, yaml.safe_load(path.read_text(encoding="utf-8")), AS_OF
    for tests in sorted((ROOT / "docs" / "examples").glob("*/tests/*.yaml")):
        spec = yaml.safe_load(tests.read_text(encoding="utf-8"))
        docs_book = load_rulebook(tests.parent / spec["rules"], vocabulary=tests.parent / spec["vocabulary"])
        for n, case in enumerate(spec["cases"]):
            if "enterprise" in case:
                yield f"{tests.relative_to(ROOT)}#{n}", docs_book, case["enterprise"], case["as_of"]


EXAMPLES = list(_example_enterprises())


@pytest.mark.parametrize("name, book, facts, as_of", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_a_chinese_table_and_explanation_hold_no_english_sentence(name: str, book: Rulebook, facts: dict[str, Any],
                                                                  as_of: dt.date) -> None:
    enterprise = load_enterprise(facts, book.vocabulary)
    ids = _ids(book, facts)
    result = assess(enterprise, book, as_of)
    texts = {"table": render(result, "zh", book), "table (shipped names)": render(result, "zh")}
    for rule in book.rules:   # every rule of the rulebook: those of the enterprise's city and the others
        texts[f"explain {rule.id}"] = explain(enterprise, book, rule.id, as_of, "zh")
        data = explanation(enterprise, book, rule.id, as_of, "zh")
        texts[f"explain {rule.id} json"] = "\n".join(
            [r for o in data.not_eligible for r in o.reasons] + [a.basis or "" for a in data.awards])
    found = {where: runs for where, text in texts.items() if (runs := english_runs(text, ids))}
    assert not found, f"{name}: English in the Chinese output: {found}"
    assert "元" in texts["table"] and "评估日" in texts["table"]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return str(capsys.readouterr().out)


def test_the_commands_print_no_english_sentence_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    book = load_rulebook(RULES)
    checked = 0
    for path in sorted((ROOT / "examples" / "enterprises").glob("*.yaml")):
        facts = yaml.safe_load(path.read_text(encoding="utf-8"))
        ids = _ids(book, facts)
        common = [str(path), "--rules", str(RULES), "--as-of", AS_OF.isoformat()]
        table = _cli(capsys, "evaluate", *common, "--lang", "zh")
        assert not english_runs(table, ids), (path.name, english_runs(table, ids))
        result = assess(load_enterprise(path, book.vocabulary), book, AS_OF)
        shown = {o.rule_id for o in result.not_eligible + result.undetermined if o.record_id} | {
            a.rule_id for a in result.awards}
        for rule_id in sorted(shown):
            text = _cli(capsys, "explain", *common, "--rule", rule_id)
            assert not english_runs(text, ids), (path.name, rule_id, english_runs(text, ids))
            checked += 1
    assert checked >= 30


# ------------------------------------------------------------------------------------ one unit per column
_MONEY = re.compile(r"(\d[\d,]*(?:\.\d+)?)(万元|元)")


def _columns(table: list[str]) -> list[list[str]]:
    """The cells of a plain-text table (header, rule, rows), column by column."""
    starts = [m.start() for m in re.finditer(r"-+", table[1])]
    width = lambda text: sum(2 if ord(c) > 0x2E80 else 1 for c in text)   # noqa: E731  (double-width CJK)

    def cells(line: str) -> list[str]:
        out, col, current = [], 0, ""
        bounds = starts[1:] + [10**9]
        for c in line:
            if col >= bounds[len(out)]:
                out.append(current.strip())
                current = ""
            current += c
            col += width(c)
        out.append(current.strip())
        return out + [""] * (len(starts) - len(out))
    rows = [cells(line) for line in [table[0], *table[2:]]]
    return [list(col) for col in zip(*rows)]


def assert_one_unit_per_column(table: list[str]) -> int:
    """Every money column shows one unit: all 万元 (each a whole number of 万) or all 元 with separators."""
    checked = 0
    for column in _columns(table):
        found = [m for cell in column[1:] for m in _MONEY.findall(cell)]
        if not found:
            continue
        units = {unit for _, unit in found}
        assert len(units) == 1, (column[0], column)
        for number, unit in found:
            assert "." not in number if unit == "万元" else re.fullmatch(r"\d{1,3}(,\d{3})*\.\d\d", number), column
        checked += 1
    return checked


def assert_single_amounts(lines: list[str]) -> None:
    """An amount standing alone shows in 万元 only as a whole number of 万, else in 元 with separators."""
    for line in lines:
        for number, unit in _MONEY.findall(line):
            assert "." not in number if unit == "万元" else re.fullmatch(r"\d{1,3}(,\d{3})*\.\d\d", number), line


def test_money_in_every_column_of_every_example_keeps_one_unit_style() -> None:
    book = load_rulebook(RULES)
    columns = 0
    for path in sorted((ROOT / "examples" / "enterprises").glob("*.yaml")):
        lines = render(assess(load_enterprise(path, book.vocabulary), book, AS_OF), "zh", book).splitlines()
        rule = next(i for i, line in enumerate(lines) if line.startswith("--"))
        end = lines.index("", rule)
        columns += assert_one_unit_per_column(lines[rule - 1:end])
        assert_single_amounts(lines[end:])
        [total] = [line for line in lines if line.startswith("合计(确定金额)")]
        assert len({unit for _, unit in _MONEY.findall(total)}) == 1, total     # the total and its payers: one unit
    assert columns >= 14          # the amount and payer columns of the seven tables with money


def test_a_batch_summary_in_chinese_uses_separators_and_one_unit_per_column(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from incentives.synth import synthesize, write_register

    book = load_rulebook(RULES)
    inputs = write_register(synthesize("langfang", 600, seed=1, rulebook=book, as_of=AS_OF), tmp_path / "reg", "csv")
    argv = ["batch", str(inputs[0]), "-o", str(tmp_path / "out"), "--rules", str(RULES), "--as-of", AS_OF.isoformat(),
            "--reform", str(ROOT / "examples" / "reforms" / "langfang-pilot-cap.yaml")]
    assert main([*argv, "--lang", "zh"]) == 0
    out = capsys.readouterr().out.splitlines()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    total = Decimal(summary["total"]["amount"])
    [awards] = [line for line in out if line.startswith("奖励")]
    shown = money(total, "zh")
    assert awards.startswith(f"奖励{summary['total']['awards']:,}笔：确定金额{shown}，含最高额") and total > 10**6
    assert "," in shown and "yuan" not in "\n".join(out)
    assert out[0].startswith(f"读取企业{summary['counts']['enterprises_read']:,}家，已评估")
    assert_single_amounts(out)
    tables = [i for i, line in enumerate(out) if line.startswith("--")]
    assert len(tables) == 3                                 # the reform's tables by payer, county and rule
    for start in tables:
        end = out.index("", start) if "" in out[start:] else len(out)
        assert assert_one_unit_per_column(out[start - 1:end]) == 3      # 现行规则, 改革后, 变化
    found = {where: runs for where, line in enumerate(out) if (runs := english_runs(line, set(book.by_id)))}
    assert not found, [out[i] for i in found]
    assert main(argv) == 0
    english = capsys.readouterr().out
    assert f"{total:,.2f} yuan determined" in english
