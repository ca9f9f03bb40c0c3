"""The documentation's examples, run as tests, so that the guides cannot drift from the code and files.

What is checked, block by block (fenced code in docs/authoring.zh.md, docs/authoring.en.md, docs/api.md):

- a ```yaml block whose label line (the last non-blank line before it) names a file, as in
  "摘自 `rules/langfang.yaml`：" or "From `rules/langfang.yaml`:", appears verbatim in that file;
- a ```yaml block marked ``<!-- illustrative -->`` (rules, documents, groups or rule-test cases that are in
  no file) is merged into docs/examples/rules/example.yaml; the result must load, lint without errors and
  pass the illustrative test cases; a ```json block marked ``<!-- illustrative: conflicts -->`` must
  match the conflicts of the first illustrative case that has any;
- a ```yaml block marked ``<!-- rule-test: rules -->`` is a rule-test file run against rules/;
- every other ```yaml block parses (blocks marked ``<!-- wrong -->`` show mistakes and are skipped);
- every ``$ incentives …`` command of a ```console block exits 0 and prints the lines shown, in order
  (``…`` stands for any text, a line of ``…`` alone for any number of lines); every ``incentives …``
  line of a ```sh block exits 0 (a ``> file`` redirection is dropped, nothing is written);
- a ```json block marked ``<!-- json-output: incentives … -->`` is a trimmed copy of that command's
  output: every key and value shown (``"…"`` for any value) is in the real output, lists in order;
- every ```python block of docs/api.md runs, in order, in one namespace, from the repository root;
- every command of docs/batch.md runs, in the page's order, in a folder of its own holding the rules, the
  examples and the register of docs/examples/mistakes/, and prints what the page shows (``cat`` shows a
  file the commands wrote); a ```json block marked ``<!-- json-file: PATH -->`` is a trimmed copy of that
  file as the commands before it left it;
- the values the ```python blocks of docs/batch.md and README.md show in comments are the real ones;
- the YAML mistakes and error messages the guides quote are still what lint reports;
- the Chinese and English guides show the same file excerpts and illustrative blocks, and every rule or
  group id they name exists.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from incentives import assess, load_enterprise, load_rulebook, load_vocabulary
from incentives.batch import Total
from incentives.errors import IncentivesError, LintWarning
from incentives.lint import lint_files
from incentives.ruletests import run_file

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDES = [DOCS / "authoring.zh.md", DOCS / "authoring.en.md"]
API = DOCS / "api.md"
ALL_DOCS = [*GUIDES, API]
EXAMPLE = DOCS / "examples" / "rules" / "example.yaml"
VOCABULARY = ROOT / "rules" / "vocabulary.yaml"

_FENCE = re.compile(r"^```(\w*)\s*$")
_FROM_FILE = re.compile(r"(?:摘自|From) `([^`]+)`")
_MARKER = re.compile(r"^<!--\s*(.*?)\s*-->$")


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int           # 1-based line of the opening fence
    lang: str
    text: str           # without the fences, ending without a newline
    label: str          # the last non-blank line before the fence

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def marker(self) -> str | None:
        m = _MARKER.match(self.label)
        return m.group(1) if m else None

    @property
    def source_file(self) -> str | None:
        m = _FROM_FILE.search(self.label)
        return m.group(1) if m and self.marker is None else None


def blocks(doc: Path, lang: str | None = None) -> list[Block]:
    lines = doc.read_text("utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i
        end = next(j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```")
        label = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        found.append(Block(doc, start + 1, m.group(1), "\n".join(lines[start + 1:end]), label))
        i = end + 1
    return [b for b in found if lang is None or b.lang == lang]


def _ids(blocks_: list[Block]) -> list[str]:
    return [b.where for b in blocks_]


def _incentives() -> list[str]:
    script = Path(sys.executable).parent / "incentives"
    return [str(script)] if script.exists() else [sys.executable, "-m", "incentives.cli"]


def run_cli(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"}
    return subprocess.run(_incentives() + args, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


# ---------------------------------------------------------------- excerpts of real files

FROM_FILE = [b for doc in ALL_DOCS for b in blocks(doc, "yaml") if b.source_file]


def test_the_guides_quote_files() -> None:
    assert len(FROM_FILE) >= 20, "the authoring guides should quote the real rule files"


@pytest.mark.parametrize("block", FROM_FILE, ids=_ids(FROM_FILE))
def test_excerpt_is_verbatim(block: Block) -> None:
    path = ROOT / str(block.source_file)
    assert path.exists(), f"{block.where}: {block.source_file} does not exist"
    assert block.text in path.read_text("utf-8"), (
        f"{block.where}: this excerpt no longer appears verbatim in {block.source_file}; "
        "copy the current text of the file into the guide")


def test_guides_show_the_same_excerpts_and_illustrations() -> None:
    zh, en = ([(b.source_file, b.text) for b in blocks(g, "yaml") if b.source_file or b.marker == "illustrative"]
              for g in GUIDES)
    assert zh == en, "docs/authoring.zh.md and docs/authoring.en.md should show the same YAML excerpts"


def test_every_id_named_in_the_guides_exists() -> None:
    book = load_rulebook(ROOT / "rules")
    known = set(book.by_id) | {g for f in book.files.values() for g in f.model.groups} | set(book.readings_in_force())
    example = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    known |= {r["id"] for r in example["rules"]} | set(example.get("groups") or {})
    for guide in GUIDES:
        for block in blocks(guide, "yaml"):
            data = yaml.safe_load(block.text) if block.marker == "illustrative" else None
            if isinstance(data, list):
                known |= {r["id"] for r in data}
            elif isinstance(data, dict):
                known |= set(data.get("groups") or {})
    for guide in GUIDES:
        named = set(re.findall(r"`((?:lf|ex|cz|sjz)\.[a-z0-9_.]*[a-z0-9_])`", guide.read_text("utf-8")))
        assert named, guide
        assert not named - known, f"{guide.name} names ids that do not exist: {sorted(named - known)}"


# ---------------------------------------------------------------- illustrative rules, merged into the example city

def _illustrative(guide: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """docs/examples/rules/example.yaml with the guide's illustrative blocks merged in, and their test cases."""
    data = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    cases: list[dict[str, Any]] = []
    for block in blocks(guide, "yaml"):
        if block.marker != "illustrative":
            continue
        part = yaml.safe_load(block.text)
        if isinstance(part, list):
            data["rules"] += part
        elif isinstance(part, dict) and "cases" in part:
            cases += part["cases"]
        elif isinstance(part, dict) and set(part) <= {"documents", "groups"}:
            for key, value in part.items():
                data.setdefault(key, {}).update(value)
        else:
            pytest.fail(f"{block.where}: an illustrative block holds rules, documents, groups or cases")
    return data, cases


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_illustrative_rules_load_lint_and_pass_their_tests(guide: Path, tmp_path: Path) -> None:
    data, cases = _illustrative(guide)
    assert cases, f"{guide.name} should show tests for its illustrative rules"
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    shutil.copy(VOCABULARY, rules / "vocabulary.yaml")
    rule_file = rules / "example.yaml"
    rule_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    test_file = rules / "tests" / "docs.yaml"
    test_file.write_text(yaml.safe_dump({"rules": "..", "cases": cases}, allow_unicode=True, sort_keys=False), "utf-8")

    problems = lint_files([rule_file])
    errors = [str(p) for p in problems if not isinstance(p, LintWarning)]
    assert not errors, "\n".join(errors)
    # The guides say lint warns about two documents rewarding the same record without a group.
    assert any(p.code == "overlap-without-group" and "ex.green_factory.2027" in str(p) for p in problems)

    failures = [f"{r.case}: {f}" for r in run_file(test_file) for f in r.failures]
    assert not failures, "\n".join(failures)

    shown = [json.loads(b.text) for b in blocks(guide, "json") if b.marker == "illustrative: conflicts"]
    assert shown, f"{guide.name} should show the conflict of its illustrative case"
    book = load_rulebook(rules)
    results = (assess(load_enterprise(c["enterprise"], book.vocabulary), book, as_of=c["as_of"]) for c in cases)
    actual = next(json.loads(r.model_dump_json())["conflicts"] for r in results if r.conflicts)
    for conflict in shown:
        assert_shown_in([conflict], actual, "conflicts")


RULE_TESTS = [b for g in GUIDES for b in blocks(g, "yaml") if b.marker == "rule-test: rules"]


@pytest.mark.parametrize("block", RULE_TESTS, ids=_ids(RULE_TESTS))
def test_rule_test_format_example_passes(block: Block, tmp_path: Path) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(block.text + "\n", "utf-8")
    results = run_file(path, load_rulebook(ROOT / "rules"))
    failures = [f"{r.case}: {f}" for r in results for f in r.failures]
    assert results and not failures, "\n".join(failures)


OTHER_YAML = [b for doc in ALL_DOCS for b in blocks(doc, "yaml")
              if not b.source_file and b.marker not in ("illustrative", "wrong", "rule-test: rules")]


@pytest.mark.parametrize("block", OTHER_YAML, ids=_ids(OTHER_YAML))
def test_yaml_block_parses(block: Block) -> None:
    yaml.safe_load(block.text)


# ---------------------------------------------------------------- commands and their output

def _commands(kind: str, docs: list[Path] = ALL_DOCS) -> list[tuple[Block, str, list[str]]]:
    """(block, command, expected output lines) for console blocks; sh blocks have no expected output."""
    out: list[tuple[Block, str, list[str]]] = []
    for doc in docs:
        for block in blocks(doc, kind):
            current: tuple[Block, str, list[str]] | None = None
            for line in block.text.splitlines():
                if kind == "console":
                    if line.startswith("$ "):
                        current = (block, line[2:].strip(), [])
                        out.append(current)
                    elif current is not None:
                        current[2].append(line)
                elif line.strip().startswith("incentives "):
                    out.append((block, line.strip(), []))
    return out


CONSOLE = _commands("console")
SHELL = _commands("sh")


def _argv(command: str) -> list[str]:
    command = re.sub(r"\s+#.*$", "", command)
    command = re.sub(r"\s*>\s*\S+\s*$", "", command)     # drop a redirection: nothing is written
    argv = shlex.split(command)
    assert argv[0] == "incentives", f"only incentives commands are run: {command}"
    return argv[1:]


def _line_pattern(shown: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in shown.rstrip().split("…")))


def assert_output_shows(shown: list[str], actual: str, where: str) -> None:
    lines = [line.rstrip() for line in actual.splitlines()]
    at = 0
    for expected in shown:
        if expected.strip() in ("", "…"):
            continue
        pattern = _line_pattern(expected)
        hit = next((i for i in range(at, len(lines)) if pattern.fullmatch(lines[i])), None)
        assert hit is not None, f"{where}: line not found (in order) in the real output:\n  {expected}\n" \
                                f"real output:\n{actual}"
        at = hit + 1


def test_the_docs_show_commands() -> None:
    assert len(CONSOLE) >= 5 and SHELL


@pytest.mark.parametrize("block,command,shown", CONSOLE, ids=[f"{b.where} {c}" for b, c, _ in CONSOLE])
def test_console_command_gives_the_output_shown(block: Block, command: str, shown: list[str]) -> None:
    result = run_cli(_argv(command))
    assert result.returncode == 0, f"{block.where}: `{command}` exited {result.returncode}: {result.stderr}"
    assert_output_shows(shown, result.stdout, block.where)


@pytest.mark.parametrize("block,command,shown", SHELL, ids=[f"{b.where} {c}" for b, c, _ in SHELL])
def test_shell_command_runs(block: Block, command: str, shown: list[str]) -> None:
    result = run_cli(_argv(command))
    assert result.returncode == 0, f"{block.where}: `{command}` exited {result.returncode}: {result.stderr}"


JSON_OUTPUTS = [b for doc in ALL_DOCS for b in blocks(doc, "json") if (b.marker or "").startswith("json-output:")]


def assert_shown_in(shown: Any, actual: Any, path: str) -> None:
    """``shown`` is a trimmed copy of ``actual``: keys may be left out, list items skipped, "…" is any value."""
    if shown == "…":
        return
    if isinstance(shown, str) and "…" in shown:
        assert isinstance(actual, str) and _line_pattern(shown).fullmatch(actual), f"{path}: shown {shown!r}, real {actual!r}"
        return
    if isinstance(shown, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in shown.items():
            if key == "…":          # the keys left out
                continue
            assert key in actual, f"{path}: no key {key!r} in the real output"
            assert_shown_in(value, actual[key], f"{path}.{key}")
    elif isinstance(shown, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        if not shown:
            assert actual == [], f"{path}: shown empty, but is {actual!r}"
        at = 0
        for n, item in enumerate(shown):
            for i in range(at, len(actual)):
                try:
                    assert_shown_in(item, actual[i], f"{path}[{i}]")
                except AssertionError:
                    continue
                at = i + 1
                break
            else:
                pytest.fail(f"{path}: item {n} shown is not in the real output (in order): {item!r}")
    else:
        assert shown == actual, f"{path}: shown {shown!r}, real {actual!r}"


@pytest.mark.parametrize("block", JSON_OUTPUTS, ids=_ids(JSON_OUTPUTS))
def test_json_output_shown_is_real(block: Block) -> None:
    command = str(block.marker).removeprefix("json-output:").strip()
    result = run_cli(_argv(command))
    assert result.returncode == 0, result.stderr
    assert_shown_in(json.loads(block.text), json.loads(result.stdout), block.where)


@pytest.mark.parametrize("doc", [ROOT / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_no_code_block_opens_inside_another(doc: Path) -> None:
    """A ```lang line inside a code block means the one before it was never closed: what follows renders as code."""
    for block in blocks(doc):
        inner = [line for line in block.text.splitlines() if _FENCE.match(line) and line.strip() != "```"]
        assert not inner, f"{block.where}: {inner[0]!r} opens a block inside this one: close this one first"


# ---------------------------------------------------------------- docs/batch.md, run in a folder of its own

BATCH = DOCS / "batch.md"


def test_every_test_the_docs_name_exists() -> None:
    for doc in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for path, name in re.findall(r"(test_\w+\.py)::(test_\w+)", doc.read_text("utf-8")):
            assert f"def {name}" in (ROOT / "tests" / path).read_text("utf-8"), f"{doc.name} names {path}::{name}: no such test"


def test_the_batch_guide_names_every_column_of_the_register_layout() -> None:
    from incentives._tabular import ENTERPRISE_COLUMNS, OPTIONAL_RECORD_COLUMNS, RECORD_COLUMNS

    text = BATCH.read_text("utf-8")
    layout = text[text.index("## The register layout"):text.index("### Cells")]
    columns = [*ENTERPRISE_COLUMNS, *RECORD_COLUMNS, *OPTIONAL_RECORD_COLUMNS]
    missing = [c for c in columns if f"`{c}`" not in layout]
    assert not missing, f"docs/batch.md's register layout does not name the columns {missing}"


def test_the_batch_guide_runs_in_order_and_prints_what_it_shows(tmp_path: Path) -> None:
    for name in ("rules", "examples"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    shutil.copytree(DOCS / "examples" / "mistakes", tmp_path / "mistakes")
    steps: list[tuple[int, int, Any]] = [(b.line, n, (b, c, shown)) for n, (b, c, shown) in
                                         enumerate(_commands("console", [BATCH]) + _commands("sh", [BATCH]))]
    steps += [(b.line, 0, b) for b in blocks(BATCH, "json") if (b.marker or "").startswith("json-file:")]
    assert len(steps) >= 14
    for _, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
        if isinstance(step, Block):
            name = str(step.marker).removeprefix("json-file:").strip()
            assert_shown_in(json.loads(step.text), json.loads((tmp_path / name).read_text("utf-8")), step.where)
            continue
        block, command, shown = step
        if command.startswith("cat "):
            output = (tmp_path / command.removeprefix("cat ").strip()).read_text("utf-8")
        else:
            result = run_cli(_argv(command), cwd=tmp_path)
            assert result.returncode == 0, f"{block.where}: `{command}` exited {result.returncode}: {result.stderr}"
            output = result.stdout
        assert_output_shows(shown, output, block.where)


def _shown_value(comment: str) -> tuple[bool, Any]:
    """The Python value a comment shows, as in ``# Decimal('1350000.00'): determined awards``, if it shows one."""
    for text in [comment] + ([comment.split("): ")[0] + ")"] if "): " in comment else []):
        try:
            return True, eval(text, {"Decimal": Decimal, "Total": Total})
        except Exception:  # noqa: BLE001 - a comment in words, not a value
            continue
    return False, None


def run_showing_values(block: Block) -> int:
    """Runs a ```python block statement by statement; an expression whose line ends in a comment showing a
    value must equal it. Returns how many were checked."""
    import ast

    namespace: dict[str, Any] = {"__name__": "docs_example"}
    lines, checked = block.text.splitlines(), 0
    for node in ast.parse(block.text).body:
        comment = lines[node.end_lineno - 1].partition("  # ")[2].strip() if node.end_lineno else ""
        shows, expected = _shown_value(comment) if isinstance(node, ast.Expr) and comment else (False, None)
        if shows:
            actual = eval(compile(ast.Expression(node.value), block.where, "eval"), namespace)
            assert actual == expected, f"{block.where}:{node.lineno}: {ast.unparse(node)} is {actual!r}, not {comment}"
            checked += 1
        else:
            exec(compile(ast.Module([node], []), block.where, "exec"), namespace)
    return checked


def test_the_batch_guide_python_shows_real_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))     # where its tempfile.mkdtemp() writes
    [block] = blocks(BATCH, "python")[-1:]
    assert run_showing_values(block) >= 3


def test_the_readme_python_shows_real_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    [block] = blocks(ROOT / "README.md", "python")
    assert run_showing_values(block) >= 2


# ---------------------------------------------------------------- the Python API guide

def test_api_guide_python_blocks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {"__name__": "docs_api"}
    code_blocks = blocks(API, "python")
    assert len(code_blocks) >= 5
    for block in code_blocks:
        try:
            exec(compile(block.text, block.where, "exec"), namespace)
        except Exception as e:  # noqa: BLE001 - report which block failed
            raise AssertionError(f"{block.where}: {type(e).__name__}: {e}") from e


def test_api_guide_draws_the_error_tree_of_the_errors_module() -> None:
    import incentives.errors

    tree = [line.strip() for line in str(incentives.errors.__doc__).splitlines()
            if line.strip().startswith(("IncentivesError", "├", "│", "└"))]
    shown = [b.text.splitlines() for b in blocks(API, "text") if b.text.startswith("IncentivesError")]
    assert shown, "docs/api.md should draw the error tree"
    assert [line.strip() for line in shown[0]] == tree, "copy the tree of incentives/errors.py into docs/api.md"


def test_api_guide_names_every_public_name() -> None:
    import incentives

    text = API.read_text("utf-8")
    missing = [name for name in incentives.__all__ if f"`{name}" not in text]
    assert not missing, f"docs/api.md should describe {missing}"


# ---------------------------------------------------------------- YAML mistakes and the messages quoted

_SOURCE = "一、对新认定的省级绿色工厂给予一次性10万元奖励。\n二、支持企业发展: 对企业家参加培训的,按照费用50%给予补贴,最高不超过5万元。\n"
_BASE = """\
city: demo
documents:
  d-1:
    title: 示范文件
    number: 示政〔2026〕1号
    issuer: 示范市人民政府
    issued: 2026-01-01
    effective: {from: 2026-01-01, to: 2026-12-31}
    source: ../sources/demo.txt
rules:
  - id: demo.green
    title: {zh: 绿色工厂, en: Green factory}
    cite: {document: d-1, clause: 一, quote: 对新认定的省级绿色工厂给予一次性10万元奖励}
    rewards: {kind: recognition, title: green_factory, level: provincial}
    amount: {fixed: 10万元}
    payers: {city: 100%}
  - id: demo.training
    title: {zh: 培训补贴, en: Training}
    cite:
      document: d-1
      clause: 二
      quote: "支持企业发展: 对企业家参加培训的,按照费用50%给予补贴"
    rewards: {kind: training}
    amount: {rate: 50%, of: record.fees, cap: 5万元}
    payers: {city: 100%}
"""

# (what is wrong, text of the correct file, its replacement, what lint says: quoted by both guides)
MISTAKES = [
    ("': ' in plain text", '"支持企业发展: 对企业家参加培训的,按照费用50%给予补贴"', "支持企业发展: 对企业家参加培训的",
     "mapping values are not allowed here"),
    ("': ' inside {…}", "quote: 对新认定的省级绿色工厂给予一次性10万元奖励}", "quote: 支持企业发展: 对企业家参加培训的}",
     "expected ',' or '}', but got ':'"),
    ("comma inside {…}", "quote: 对新认定的省级绿色工厂给予一次性10万元奖励}", "quote: 对企业家参加培训的,按照费用50%给予补贴}",
     "put text containing commas in quotes"),
    ("date not ISO", "issued: 2026-01-01", "issued: 2026年1月1日", "Input should be a valid date"),
    ("money in words", "fixed: 10万元", "fixed: 十万元", "cannot read '十万元' as money"),
    ("tab indentation", "    payers: {city: 100%}\n  - id: demo.training", "    payers: {city: 100%}\n\tlimit: once\n"
     "  - id: demo.training", "found character '\\t' that cannot start any token"),
    ("unknown term", "title: green_factory", "title: green_factroy", "did you mean 'green_factory'?"),
    ("quote not in the source", "一次性10万元奖励}", "一次性20万元奖励}", "quote not found in the source text of d-1"),
    ("payer shares", "payers: {city: 100%}\n  - id: demo.training", "payers: {city: 50%, county: 40%}\n"
     "  - id: demo.training", "payer shares sum to 90%, not 100%"),
]


def _lint_text(tmp_path: Path, text: str) -> list[IncentivesError]:
    (tmp_path / "sources").mkdir(exist_ok=True)
    (tmp_path / "sources" / "demo.txt").write_text(_SOURCE, "utf-8")
    (tmp_path / "rules").mkdir(exist_ok=True)
    path = tmp_path / "rules" / "demo.yaml"
    path.write_text(text, "utf-8")
    return lint_files([path], load_vocabulary(VOCABULARY))


def test_mistake_base_file_is_clean(tmp_path: Path) -> None:
    assert _lint_text(tmp_path, _BASE) == []


@pytest.mark.parametrize("what,old,new,message", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_guides_quote_what_lint_says(what: str, old: str, new: str, message: str, tmp_path: Path) -> None:
    assert _BASE.count(old) == 1, old
    problems = _lint_text(tmp_path, _BASE.replace(old, new))
    assert any(message in str(p) for p in problems), f"{what}: lint no longer says {message!r}: {problems}"
    for guide in GUIDES:
        assert message in guide.read_text("utf-8"), f"{guide.name} should quote lint's message for {what}"


# ---------------------------------------------------------------- the illustrative province and county

PROVINCE_COUNTY = DOCS / "examples" / "province-county"


@pytest.mark.parametrize("name", ["province", "county"])
def test_the_illustrative_province_and_county_lint_clean_and_pass_their_tests(name: str) -> None:
    rule_file = PROVINCE_COUNTY / f"{name}.yaml"
    problems = lint_files([rule_file], load_vocabulary(VOCABULARY))
    assert not problems, "\n".join(map(str, problems))
    results = run_file(PROVINCE_COUNTY / "tests" / f"{name}.yaml")
    assert len(results) >= 4
    failures = [f"{r.case}: {f}" for r in results for f in r.failures]
    assert not failures, "\n".join(failures)


def test_the_illustrative_set_uses_every_construct() -> None:
    """Yearly figures, a derived ratio, a record condition, bands, by_year, a 1:1 split, a deferred half
    tied to a fact, an aggregate cap across records, 首次 and a cap that is an expression of facts."""
    text = "".join((PROVINCE_COUNTY / f"{n}.yaml").read_text("utf-8") for n in ("province", "county"))
    for construct in ('"rd_ratio[year - 1]', "some:", "none:", "marginal:", "by_year:", 'ratio: "1:1"',
                      "instalments:", "enterprise_cap:", "at_most:", '"rd_spend[year - 1]"'):
        assert construct in text, construct


def test_the_readme_layout_names_every_module_of_the_package_by_audience() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    layout = readme[readme.index("## Layout"):]
    package = ROOT / "src" / "incentives"
    names = [p.name for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    names += [f"{p.name}/" for p in package.iterdir() if p.is_dir() and not p.name.startswith("_")]
    missing = [name for name in sorted(names) if f"`{name}`" not in layout]
    assert not missing, f"README.md's layout does not name {missing}"
    for audience in ("core", "authoring", "population", "services"):
        assert f"| {audience}" in layout
