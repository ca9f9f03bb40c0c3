"""The wheel: built from a clean copy of the repository, installed into a fresh venv, used from another folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from incentives import __version__, default_rules, load_rulebook, shipped_rules
from incentives.shipped import version

from conftest import ROOT, RULES

_SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "out", "*.egg-info", "__pycache__", ".pytest_cache",
                               ".hypothesis", ".mypy_cache", ".ruff_cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("clone") / "incentives"
    shutil.copytree(ROOT, tree, ignore=_SKIP)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(tree)],
                   check=True)
    (found,) = out.glob("incentives-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    return venv / "bin"


def test_wheel_carries_rules_vocabulary_sources_and_examples(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"incentives/_data/rules/{p.name}" for p in RULES.glob("*.yaml")}
    shipped |= {f"incentives/_data/rules/tests/{p.name}" for p in (RULES / "tests").glob("*.yaml")}
    shipped |= {f"incentives/_data/sources/{p.name}" for p in (ROOT / "sources").glob("*.txt")}
    assert "incentives/_data/rules/vocabulary.yaml" in shipped
    assert shipped <= names
    assert "incentives/_data/examples/enterprises/wenan-pilot.yaml" in names
    assert "incentives/__main__.py" in names and "incentives/py.typed" in names
    assert "incentives/locale/zh/LC_MESSAGES/incentives.po" in names      # the message catalogue, as written
    assert not [n for n in names if n.endswith(".mo")]                      # compiled when read, never shipped stale


def test_wheel_names_its_licence_and_carries_its_text(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    head = archive.read(metadata).decode().split("\n\n")[0].splitlines()
    assert "License-Expression: Apache-2.0" in head and "License-File: LICENSE" in head
    [licence] = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert archive.read(licence) == (ROOT / "LICENSE").read_bytes()
    assert b"Apache License\n                           Version 2.0, January 2004" in archive.read(licence)


def test_installed_wheel_evaluates_an_example_from_another_folder(installed: Path, tmp_path: Path) -> None:
    example = ROOT / "examples" / "enterprises" / "xianghe-leader.yaml"
    run = subprocess.run([str(installed / "incentives"), "evaluate", str(example), "--as-of", "2026-06-30",
                          "--format", "json"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["total"] == "1350000.00"
    assert data["rulebook_hash"] == load_rulebook(RULES).hash     # the same rules as the repository's
    assert [a["rule_id"] for a in data["awards"]] == [
        "lf.leader.provincial", "lf.shared.factory", "lf.digital_pilot", "lf.industrial_internet_platform"]
    assert "/incentives/_data/rules/langfang.yaml:" in data["awards"][0]["rule_location"]


def test_installed_wheel_says_which_rules_it_uses(installed: Path, tmp_path: Path) -> None:
    run = subprocess.run([str(installed / "python"), "-m", "incentives", "--version"], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[0] == f"incentives {__version__}"
    assert "_data/rules (shipped with the package)" in lines[1]
    assert lines[2] == f"rulebook: {load_rulebook(RULES).hash}"
    assert lines[3].startswith("places: ") and "langfang (city, " in lines[3] and "hebei (province, " in lines[3]
    assert any("lf-2025-5  廊政办规〔2025〕5号" in line for line in lines[4:])


def test_installed_wheel_runs_its_shipped_rule_tests(installed: Path, tmp_path: Path) -> None:
    run = subprocess.run([str(installed / "incentives"), "test"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    passed = sum(1 for _ in RULES.glob("tests/*.yaml"))
    assert run.stdout.strip().endswith("passed, 0 failed") and passed > 0


def test_a_checkout_uses_its_own_rules(tmp_path: Path) -> None:
    assert version() == __version__ != "0+unknown"
    assert default_rules(ROOT) == ROOT / "rules"
    assert default_rules(tmp_path) == shipped_rules()       # no rules/ here: the shipped ones
    (tmp_path / "rules").mkdir()
    assert default_rules(tmp_path) == shipped_rules()       # a rules/ folder without a vocabulary is not a rulebook
    (tmp_path / "rules" / "vocabulary.yaml").write_text("{}\n")
    assert default_rules(tmp_path) == tmp_path / "rules"


def test_installed_wheel_speaks_chinese_from_another_folder(installed: Path, tmp_path: Path) -> None:
    example = ROOT / "examples" / "enterprises" / "shijiazhuang-luquan-electronics.yaml"
    run = subprocess.run([str(installed / "incentives"), "evaluate", str(example), "--as-of", "2026-06-30", "--lang", "zh"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "sjz.positive_list [r6] 每家企业限一次：已就记录 r1 获奖" in run.stdout
    assert "新闻报道 sjz-leader-report 不是正式文件" in run.stdout and "石家庄市" in run.stdout
