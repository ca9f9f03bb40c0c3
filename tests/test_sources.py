"""Source texts are read safely from the rules tree, and a rulebook whose quotes are not in them does not load."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from incentives import RulebookError, load_rulebook
from incentives.cli import main
from incentives.lint import lint_files
from incentives.sources import MAX_SOURCE_BYTES

from conftest import ROOT, RULES

QUOTE = "对新认定的省级特色产业集群“领跑者”企业给予一次性30万元奖励"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the repository's rules and sources: ``tree/rules`` beside ``tree/sources``."""
    shutil.copytree(RULES, tmp_path / "rules", ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(ROOT / "sources", tmp_path / "sources")
    return tmp_path


def with_source(tree: Path, source: str) -> Path:
    path = tree / "rules" / "langfang.yaml"
    text = path.read_text("utf-8")
    path.write_text(text.replace("source: ../sources/langfang-2025-5.txt", f"source: {source}", 1), "utf-8")
    return path


def test_a_quote_not_in_its_source_stops_the_rulebook_loading(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tree / "rules" / "langfang.yaml"
    text = path.read_text("utf-8")
    assert QUOTE in text
    path.write_text(text.replace(QUOTE, QUOTE.replace("30万元", "300万元"), 1), "utf-8")
    with pytest.raises(RulebookError, match="quote not found in the source text of") as e:
        load_rulebook(tree / "rules")
    assert e.value.problems[0].code == "quote-not-in-source" and e.value.location.path == str(path)
    facts = ROOT / "examples" / "enterprises" / "xianghe-leader.yaml"
    assert main(["evaluate", str(facts), "--rules", str(tree / "rules"), "--as-of", "2026-06-30"]) == 2  # never paid
    assert "quote not found" in capsys.readouterr().err


def test_the_opt_out_is_explicit_and_logged(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tree / "rules" / "langfang.yaml"
    path.write_text(path.read_text("utf-8").replace(QUOTE, "原文里没有的一句话", 1), "utf-8")
    with caplog.at_level(logging.WARNING, logger="incentives"):
        book = load_rulebook(tree / "rules", check_quotes=False)
    assert "langfang" in book.files
    assert f"{path}: quotes not checked against their source texts" in caplog.text


@pytest.mark.parametrize("source, message", [
    ("/dev/zero", "must be a path relative to the rule file"),          # ran to a MemoryError at 5.4 GB
    ("/etc/shadow", "must be a path relative to the rule file"),        # was read
    ("../../../../../../etc/shadow", "leads outside the rules tree"),
    ("../sources", "not a regular file"),
    ("../sources/missing.txt", "cannot be read: No such file or directory"),
])
def test_a_source_outside_the_tree_or_not_a_file_is_refused(tree: Path, source: str, message: str) -> None:
    path = with_source(tree, source)
    problems = lint_files([path])
    assert [p.code for p in problems] == ["source-missing"] and message in str(problems[0])
    line = path.read_text("utf-8").splitlines().index(f"    source: {source}") + 1
    assert str(problems[0]).startswith(f"{path}:{line}:5: source-missing: documents.")
    with pytest.raises(RulebookError, match=message):
        load_rulebook(tree / "rules")


def test_a_fifo_or_a_link_out_of_the_tree_is_never_opened(tree: Path) -> None:
    os.mkfifo(tree / "sources" / "pipe.txt")  # opening it would hang for ever
    assert "not a regular file" in str(lint_files([with_source(tree, "../sources/pipe.txt")])[0])
    shutil.copy(RULES / "langfang.yaml", tree / "rules" / "langfang.yaml")
    os.symlink("/etc/passwd", tree / "sources" / "link.txt")
    assert "leads outside the rules tree" in str(lint_files([with_source(tree, "../sources/link.txt")])[0])


def test_a_huge_or_undecodable_source_is_a_located_error(tree: Path) -> None:
    big = tree / "sources" / "big.txt"
    with open(big, "wb") as f:
        f.truncate(MAX_SOURCE_BYTES + 1)
    assert "more than the" in str(lint_files([with_source(tree, "../sources/big.txt")])[0])
    shutil.copy(RULES / "langfang.yaml", tree / "rules" / "langfang.yaml")
    (tree / "sources" / "gbk.txt").write_bytes("第一行\n第二行".encode("gbk"))
    problem, = lint_files([with_source(tree, "../sources/gbk.txt")])
    assert "gbk.txt:1:1: not UTF-8 text: byte 0xb5" in str(problem)
