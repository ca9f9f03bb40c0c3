"""The message catalogue: every sentence the code writes has a Chinese form, read through babel, and a
built sentence is found and translated piece by piece."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from incentives import load_enterprise, load_rulebook
from incentives.cli import main
from incentives.explain import explain
from incentives.messages import N_, Names, catalogue_path, gettext, translate, translate_error, translations

from conftest import ROOT, RULES

PACKAGE = ROOT / "src" / "incentives"
AS_OF = dt.date(2026, 6, 30)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


# ------------------------------------------------------------------------------------ the catalogue
def _catalogue() -> dict[str, str]:
    with catalogue_path("zh").open("rb") as po:
        return {m.id: m.string for m in read_po(po, locale="zh") if m.id and isinstance(m.id, str)}


def _marked() -> dict[str, str]:
    """Every ``N_`` template of the package, with where it is written."""
    return {message: f"{path}:{line}" for path, line, message, _, _ in
            extract_from_dir(str(PACKAGE), method_map=[("**.py", "python")], keywords={"N_": None}, comment_tags=())}


def test_every_sentence_in_the_code_has_a_chinese_form() -> None:
    catalogue, marked = _catalogue(), _marked()
    assert len(marked) > 80      # the extractor sees the templates (a broken keyword would find none)
    missing = {m: where for m, where in marked.items() if not catalogue.get(m)}
    assert not missing, f"msgids without a Chinese msgstr (add them to {catalogue_path('zh')}): {missing}"
    for msgid in marked:
        assert set(_PLACEHOLDER.findall(catalogue[msgid])) == set(_PLACEHOLDER.findall(msgid)), msgid
        assert re.search(r"[\u4e00-\u9fff]", catalogue[msgid]) or not re.search(r"[a-z]{2}", _PLACEHOLDER.sub(
            "", msgid)), f"{msgid!r} is translated as {catalogue[msgid]!r}"


def test_the_catalogue_holds_no_sentence_the_code_no_longer_writes() -> None:
    stale = set(_catalogue()) - set(_marked())
    assert not stale, f"msgids no code marks with N_ (remove them or mark their use): {sorted(stale)}"


def test_the_catalogue_is_read_through_babel() -> None:
    assert type(translations("zh")).__module__ == "babel.support"
    assert gettext("once per enterprise", "zh") == "每家企业限一次"
    assert gettext("once per enterprise", "en") == "once per enterprise"
    assert N_("x %(y)s") == "x %(y)s"


@pytest.mark.parametrize("english, chinese", [
    ("once per enterprise: already awarded for record r1", "每家企业限一次：已就记录 r1 获奖"),
    ("once per year (2024): already awarded for record a", "每年限一次（2024年）：已就记录 a 获奖"),
    ("record.date on_or_after 2025-09-12 fails: actual 2025-06-30",
     "不满足认定日期不早于2025年9月12日：实际为2025年6月30日"),
    ("the rule cz.trademark.international cap of 200000 per enterprise is already reached",
     "规则 cz.trademark.international每家企业20万元的上限已用完"),
    ("10% × record.investment 1234567.89 = 123456.79, capped at 100000",
     "10% × 项目实际投资额 1,234,567.89元 = 123,456.79元，以10万元为限"),
    ("report sjz-leader-report is not an official text: its amount is shown, the official text's is paid",
     "新闻报道 sjz-leader-report 不是正式文件：其金额仅作列示，按正式文件的金额兑付"),
    ("group g pays the highest only; the source documents disagree on the amount",
     "组合 g 只兑付最高一项；各来源文件所载金额不一致"),
    ("no rule file for city 'baoding'", "没有“baoding”的规则文件"),
    ("an English sentence no template builds", "an English sentence no template builds"),
])
def test_a_built_sentence_is_found_and_translated_piece_by_piece(english: str, chinese: str) -> None:
    names = Names.of(load_rulebook(RULES))
    about = names.about("project" if "investment" in english else "recognition")
    assert translate(english, "zh", about) == chinese
    assert translate(english, "en", about) == english


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return str(capsys.readouterr().out)


def test_a_json_explanation_in_chinese_keeps_its_codes(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    example = str(ROOT / "examples" / "enterprises" / "shijiazhuang-luquan-electronics.yaml")
    common = [example, "--rules", str(RULES), "--as-of", "2026-06-30", "--rule", "sjz.positive_list", "--format", "json"]
    zh = json.loads(_cli(capsys, "explain", *common, "--lang", "zh"))
    en = json.loads(_cli(capsys, "explain", *common))
    assert en["not_eligible"][0]["reasons"] == ["once per enterprise: already awarded for record r1"]
    assert zh["not_eligible"][0]["reasons"] == ["每家企业限一次：已就记录 r1 获奖"]
    assert zh["not_eligible"][0]["checks"] == en["not_eligible"][0]["checks"]     # facts and codes as they are
    assert zh["rule_id"] == en["rule_id"] == "sjz.positive_list"


def test_an_unknown_city_is_named_in_chinese_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = tmp_path / "baoding.yaml"
    facts.write_text("enterprise: {name: 保定某公司, credit_code: 91131024MA0CTX8K46, city: baoding}\nrecords: []\n",
                     encoding="utf-8")
    assert main(["evaluate", str(facts), "--rules", str(RULES), "--lang", "zh"]) == 2
    err = capsys.readouterr().err
    assert f"{facts}: enterprise.city: 未知城市 'baoding'；已知城市：" in err and "langfang (廊坊市/廊坊)" in err
    assert main(["evaluate", str(facts), "--rules", str(RULES)]) == 2
    assert "unknown city 'baoding'; known cities" in capsys.readouterr().err


def test_explain_prints_each_note_in_the_language_asked(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    notes = load_rulebook(RULES).by_id["lf.leader.provincial"].rule.notes
    pairs = [(n.zh, n.en) for n in notes if not isinstance(n, str)]
    assert len(pairs) == len(notes) == 2 and pairs[0][0].startswith("新认定理解为：认定日期在政策有效期内")
    common = [str(ROOT / "examples" / "enterprises" / "xianghe-leader.yaml"), "--rules", str(RULES), "--as-of",
              "2026-06-30", "--rule", "lf.leader.provincial"]
    zh = _cli(capsys, "explain", *common, "--lang", "zh")
    assert [line.removeprefix("解释说明: ") for line in zh.splitlines() if line.startswith("解释说明: ")] == \
        [z for z, _ in pairs]
    assert "英文" not in zh and not any(e in zh for _, e in pairs)
    en = _cli(capsys, "explain", *common, "--lang", "en")
    assert [line.removeprefix("notes: ") for line in en.splitlines() if line.startswith("notes: ")] == \
        [e for _, e in pairs]
    assert not any(z in en for z, _ in pairs)
    data = json.loads(_cli(capsys, "explain", *common, "--lang", "zh", "--format", "json"))
    assert (data["notes"], data["notes_zh"]) == ([e for _, e in pairs], [z for z, _ in pairs])


def test_a_note_of_one_text_is_shown_in_its_language_and_an_english_one_pointed_to(tmp_path: Path) -> None:
    import shutil

    chinese, english = "新认定指认定日期在文件有效期内（2025年9月12日及以后）。", "Read as recognised in the window."
    text = (RULES / "langfang.yaml").read_text(encoding="utf-8")
    marker = "    notes:\n      - zh: 新认定理解为"
    assert marker in text
    shutil.copytree(RULES, tmp_path / "rules")
    shutil.copytree(ROOT / "sources", tmp_path / "sources")
    (tmp_path / "rules" / "langfang.yaml").write_text(text.replace(
        marker, marker.replace("    notes:\n", f"    notes:\n      - {chinese}\n      - {english}\n"), 1), encoding="utf-8")
    book = load_rulebook(tmp_path / "rules")
    enterprise = load_enterprise(ROOT / "examples" / "enterprises" / "xianghe-leader.yaml", book.vocabulary)
    notes = book.by_id["lf.leader.provincial"].rule.notes
    assert notes[:2] == [chinese, english] and len(notes) == 4
    zh = explain(enterprise, book, "lf.leader.provincial", AS_OF, "zh")
    assert f"解释说明: {chinese}" in zh and "另有1条说明仅有英文本（见规则文件 " in zh and english not in zh
    en = explain(enterprise, book, "lf.leader.provincial", AS_OF, "en")
    assert f"notes: {chinese}" in en and f"notes: {english}" in en and "English only" not in en


def test_money_in_a_sentence_is_shown_as_the_tables_show_it() -> None:
    assert translate("up to 5000000", "zh") == "最高500万元"
    assert translate("up to 1234.5", "zh") == "最高1,234.50元"


def test_the_translators_note_runs() -> None:
    text = (ROOT / "docs" / "translating.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/translating.md", "exec"), {})


def test_an_error_no_sentence_of_the_catalogue_fits_stays_english_whole(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the sentences that join conditions ("%(left)s or %(right)s") and label amounts ("%(label)s: %(basis)s")
    # once matched an error's free words in pieces: "Input should be 'micro', 'small', 'medium'或'large'"
    facts = tmp_path / "huge.yaml"
    facts.write_text("enterprise: {name: x, credit_code: 91131024MA0CTX8K46, city: langfang, size: huge}\n", "utf-8")
    missing = tmp_path / "missing.yaml"
    for path, error in ((facts, ":1:72: enterprise.size: Input should be 'micro', 'small', 'medium' or 'large'"),
                        (missing, ": cannot read file: No such file or directory")):
        assert main(["evaluate", str(path), "--rules", str(RULES), "--lang", "zh"]) == 2
        assert capsys.readouterr().err == f"incentives: {path}{error}\n"
    assert translate_error("cannot read file: No such file or directory", "zh") == \
        "cannot read file: No such file or directory"
    assert translate_error("unknown city 'baoding'; known cities: cangzhou (沧州市/沧州)", "zh") == \
        "未知城市 'baoding'；已知城市：cangzhou (沧州市/沧州)"
