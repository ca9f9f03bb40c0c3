"""Readings: named options of a rule file's ambiguities, chosen by API, rulebook option and command line.

The amounts each reading gives are held by the rule tests ``rules/tests/*-readings.yaml`` (run here
too, through ``incentives test``); these tests hold the machinery: validation with located errors,
the hash, what the outputs say, and the same choices reaching batch workers.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentives import RulebookError, assess, load_enterprise, load_rulebook
from incentives.batch import run_batch
from incentives.cli import main
from incentives.explain import explain
from incentives.reform import Reform, apply_reform
from incentives.report import render

from conftest import RULES, credit_code, enterprise

AS_OF = dt.date(2025, 6, 30)
KEY = "sjz.little_giant.key_little_giant"


def key_giant():  # type: ignore[no-untyped-def]
    # 〔2021〕—69 三、（一）1 "对获得国家专精特新“小巨人”称号的企业，给予 100 万元奖励。" (重点“小巨人” not named)
    return enterprise([{"kind": "recognition", "id": "k", "title": "key_little_giant", "level": "national",
                        "date": dt.date(2023, 7, 1)}], city="shijiazhuang", county="鹿泉区", clusters=[])


def test_the_defaults_are_the_rules_as_written(book) -> None:  # type: ignore[no-untyped-def]
    defaults = {name: r.default for f in book.files.values() for name, r in f.model.readings.items()}
    assert len(defaults) >= 10 and book.readings == {}
    assert book.readings_in_force() == defaults
    explicit = load_rulebook(RULES, readings=defaults)
    assert explicit.hash == book.hash and explicit.readings == {}
    assert book.with_readings(defaults) is book.with_readings(dict(defaults))   # kept, not compiled again


def test_a_chosen_option_changes_the_rules_the_hash_and_the_assessment(book) -> None:  # type: ignore[no-untyped-def]
    chosen = load_rulebook(RULES, readings={KEY: "rewarded"})
    assert chosen.hash == book.with_readings({KEY: "rewarded"}).hash
    assert chosen.hash.startswith(book.hash + "+readings:") and chosen.readings == {KEY: "rewarded"}
    assert assess(key_giant(), book, AS_OF).total == Decimal("0.00")
    result = assess(key_giant(), book, AS_OF, readings={KEY: "rewarded"})
    assert result.total == Decimal("1000000.00") and result.award("sjz.little_giant").record_id == "k"
    assert result.readings[KEY] == "rewarded" and result.rulebook_hash == chosen.hash
    assert result.readings["sjz.quality.first_time"] == "not_enforced"
    assert not any(name.startswith("cz.") for name in result.readings)   # only the city's readings
    # the rule keeps the lines it was written at; the change is located in the readings section
    assert chosen.by_id["sjz.little_giant"].location == book.by_id["sjz.little_giant"].location


def test_outputs_name_the_readings_in_force(book) -> None:  # type: ignore[no-untyped-def]
    chosen = book.with_readings({KEY: "rewarded"})
    text = render(assess(key_giant(), chosen, AS_OF), "zh")
    assert "适用解读: " in text and f"{KEY}=rewarded" in text
    assert "Readings: " in render(assess(key_giant(), chosen, AS_OF), "en")
    assert f"{KEY}=rewarded" in explain(key_giant(), chosen, "sjz.little_giant", AS_OF)


def test_an_unknown_reading_or_option_is_a_located_error(book) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RulebookError, match=r"no reading 'sjz.little_giant.key'; did you mean "
                                            r"'sjz.little_giant.key_little_giant'\?"):
        book.with_readings({"sjz.little_giant.key": "rewarded"})
    with pytest.raises(RulebookError, match=r"has no option 'yes'; options: not_rewarded, rewarded") as e:
        load_rulebook(RULES, readings={KEY: "yes"})
    assert e.value.location.path.endswith("shijiazhuang.yaml") and e.value.location.line
    with pytest.raises(RulebookError, match="no reading"):
        assess(key_giant(), book, AS_OF, readings={"nothing.here": "x"})


def rule_file(tmp_path: Path, readings: str) -> Path:
    text = (RULES / "langfang.yaml").read_text("utf-8").replace("../sources/", "sources/")
    text = text.replace("\nreadings:\n", "\nreadings:\n" + readings, 1)
    (tmp_path / "sources").mkdir(exist_ok=True)
    for source in (RULES.parent / "sources").glob("langfang*"):
        shutil.copy(source, tmp_path / "sources")
    for name in ("vocabulary.yaml", "facts.yaml"):
        shutil.copy(RULES / name, tmp_path)
    path = tmp_path / "langfang.yaml"
    path.write_text(text, "utf-8")
    return path


def reading(name: str, options: str) -> str:
    """A reading of Langfang's 三、4 with default ``a``, under ``readings:``; ``options`` as written there."""
    return f"  {name}:\n    cite: {{document: lf-2025-5, clause: 三、4}}\n    question: {{zh: 问题, en: question}}\n" \
        f"    default: a\n    options:\n{options}"


def test_a_default_that_changes_rules_and_a_change_to_no_rule_are_located(tmp_path: Path) -> None:
    path = rule_file(tmp_path, reading("lf.example.bad_default", """\
      a: {note: one, changes: [{remove: lf.industrial_internet_platform}]}
      b: {note: two}
"""))
    with pytest.raises(RulebookError, match="the default option 'a' makes changes") as e:
        load_rulebook(path)
    line = path.read_text("utf-8").splitlines().index("  lf.example.bad_default:") + 1
    assert e.value.location.line == line   # the reading whose default makes changes
    path = rule_file(tmp_path, reading("lf.example.typo", """\
      a: {note: one}
      b:
        note: two
        changes:
          - rule: lf.industrial_internet_platfrom
            add_when: [{enterprise.clusters: {not_empty: true}}]
"""))
    assert load_rulebook(path).readings_in_force()["lf.example.typo"] == "a"
    with pytest.raises(RulebookError, match="no rule 'lf.industrial_internet_platfrom' in this file; did you mean") as e:
        load_rulebook(path, readings={"lf.example.typo": "b"})
    lines = path.read_text("utf-8").splitlines()
    assert e.value.location.line == lines.index("          - rule: lf.industrial_internet_platfrom") + 1


def test_a_note_is_one_text_or_both_languages_and_half_a_pair_is_located(tmp_path: Path) -> None:
    path = rule_file(tmp_path, reading("lf.example.notes", """\
      a: {note: 只写一种}
      b:
        note: {zh: 中文说明, en: the English note}
"""))
    options = load_rulebook(path).files["langfang"].model.readings["lf.example.notes"].options
    assert [options[o].note_in(lang) for o in "ab" for lang in ("zh", "en")] == \
        ["只写一种", "只写一种", "中文说明", "the English note"]
    path.write_text(path.read_text("utf-8").replace("note: {zh: 中文说明, en: the English note}", "note: {zh: 中文说明}"),
                    "utf-8")
    with pytest.raises(RulebookError) as e:
        load_rulebook(path)
    assert "readings.lf.example.notes.options.b.note.words.en: missing key 'en'" in str(e.value)
    assert "valid string" not in str(e.value)     # a mapping is read as {zh, en} only
    assert e.value.location.line == path.read_text("utf-8").splitlines().index("        note: {zh: 中文说明}") + 1


def test_a_condition_a_reading_adds_is_checked_where_it_is_written(tmp_path: Path) -> None:
    path = rule_file(tmp_path, reading("lf.example.bad_condition", """\
      a: {note: one}
      b:
        note: two
        changes:
          - rule: lf.industrial_internet_platform
            add_when: [{enterprise.clustres: {not_empty: true}}]
"""))
    from incentives.lint import lint_files

    problems = [p for p in lint_files([path]) if "with reading" in p.message]
    assert problems and "lf.example.bad_condition=b" in problems[0].message
    lines = path.read_text("utf-8").splitlines()
    assert problems[0].location.line == next(n for n, l in enumerate(lines, 1) if "enterprise.clustres" in l)


def test_a_reform_keeps_the_readings_chosen(book) -> None:  # type: ignore[no-untyped-def]
    chosen = book.with_readings({KEY: "rewarded"})
    reformed = apply_reform(chosen, Reform.model_validate(
        {"title": "小巨人奖励提高到120万元", "changes": [{"rule": "sjz.little_giant", "set": {"amount.fixed": "120万元"}}]}))
    result = assess(key_giant(), reformed, AS_OF)
    assert result.total == Decimal("1200000.00") and result.readings[KEY] == "rewarded"
    with pytest.raises(RulebookError, match="before applying a reform"):
        reformed.with_readings({"sjz.quality.first_time": "enforced"})


def test_the_command_line_chooses_and_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = tmp_path / "giant.yaml"
    facts.write_text(f"""enterprise: {{name: 鹿泉某电子科技有限公司, credit_code: {credit_code()}, city: shijiazhuang}}
records:
  - {{id: k, kind: recognition, title: key_little_giant, level: national, date: 2023-07-01}}
""", "utf-8")
    args = ["evaluate", str(facts), "--rules", str(RULES), "--as-of", "2025-06-30", "--format", "json"]
    assert main([*args, "--reading", f"{KEY}=rewarded"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == "1000000.00" and out["readings"][KEY] == "rewarded" and "+readings:" in out["rulebook_hash"]
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["total"] == "0.00"
    assert main([*args, "--reading", "sjz.little_giant.key=rewarded"]) == 2
    assert capsys.readouterr().err.startswith("incentives: --reading: unknown-reading: no reading 'sjz.little_giant.key'")
    assert main([*args, "--reading", f"{KEY}=maybe"]) == 2
    assert "shijiazhuang.yaml:" in capsys.readouterr().err
    assert main([*args, "--reading", KEY]) == 2
    assert "write a reading as id=option" in capsys.readouterr().err
    assert main(["explain", str(facts), "--rules", str(RULES), "--as-of", "2025-06-30", "--rule", "sjz.little_giant",
                 "--reading", f"{KEY}=rewarded"]) == 0
    assert f"{KEY}=rewarded" in capsys.readouterr().out
    tests = sorted(str(p) for p in (RULES / "tests").glob("*-readings.yaml"))
    assert main(["test", *tests]) == 0
    assert capsys.readouterr().out.strip().endswith("passed, 0 failed")
    # the whole suite with one option forced: the cases written for the other option fail, so it counts
    assert main(["test", str(RULES / "tests" / "shijiazhuang-readings.yaml"), "--reading", f"{KEY}=rewarded"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_batch_workers_read_the_rules_with_the_same_choices(book, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [{"name": f"企业{n}", "credit_code": credit_code(f"9113010{n:02d}MA0CNR4K"), "city": "shijiazhuang"}
            for n in range(40)]
    with open(tmp_path / "enterprises.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(tmp_path / "records.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["credit_code", "record_id", "kind", "date", "title", "level"])
        for row in rows:
            writer.writerow([row["credit_code"], "k", "recognition", "2023-07-01", "key_little_giant", "national"])
    one = run_batch(tmp_path / "enterprises.csv", tmp_path / "one", RULES, AS_OF, readings={KEY: "rewarded"},
                    path="columnar")
    two = run_batch(tmp_path / "enterprises.csv", tmp_path / "two", RULES, AS_OF, readings={KEY: "rewarded"},
                    workers=2, chunk_size=10, path="rows")
    plain = run_batch(tmp_path / "enterprises.csv", tmp_path / "plain", RULES, AS_OF)
    assert one.total.amount == two.total.amount == Decimal("40000000.00") and plain.total.amount == 0
    assert (tmp_path / "one" / "awards.csv").read_bytes() == (tmp_path / "two" / "awards.csv").read_bytes()
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text("utf-8"))
    assert "+readings:" in manifest["rulebook_hash"]


def _every_option(book):  # type: ignore[no-untyped-def]
    return {name: tuple(r.options) for f in book.files.values() for name, r in f.model.readings.items()}


@settings(max_examples=20)
@given(data=st.data())
def test_choices_made_at_once_or_one_after_another_read_the_same_rules(book, data) -> None:  # type: ignore[no-untyped-def]
    options = _every_option(book)
    chosen = data.draw(st.dictionaries(st.sampled_from(sorted(options)), st.integers(0, 9), max_size=len(options)))
    choices = {name: options[name][n % len(options[name])] for name, n in chosen.items()}
    first = {name: option for name, option in choices.items() if data.draw(st.booleans())}
    later = {name: option for name, option in choices.items() if name not in first}
    at_once = book.with_readings(choices)
    stepwise = book.with_readings(first).with_readings(later)
    assert stepwise.hash == at_once.hash == load_rulebook(RULES, readings=choices).hash
    assert (at_once.hash == book.hash) == all(book.readings_in_force()[n] == o for n, o in choices.items())
    assert at_once.readings_in_force() == {**book.readings_in_force(), **choices}
    for example in sorted((RULES.parent / "examples" / "enterprises").glob("*.yaml")):
        ent = load_enterprise(example, book.vocabulary)
        assert assess(ent, stepwise, dt.date(2026, 6, 30)) == assess(ent, at_once, dt.date(2026, 6, 30)), example.name


def test_info_lists_every_reading_with_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--rules", str(RULES)]) == 0
    out = capsys.readouterr().out.splitlines()
    start = out.index("readings (--reading id=option; the option in force first):")
    assert "  sjz.quality.first_time  not_enforced (enforced)" in out[start:]
    assert "  cz.validity  open_ended (five_years)" in out[start:]
