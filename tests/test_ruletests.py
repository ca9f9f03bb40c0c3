from __future__ import annotations

from pathlib import Path

import pytest

from incentives.cli import main
from incentives.ruletests import run_file

from conftest import ROOT, RULES

CASE = """\
rules: {rules}
cases:
  - name: wrong amount and a missing award
    as_of: 2026-06-30
    enterprise_file: {example}
    expect:
      awards:
        - {{rule: lf.digital_pilot, amount: 12万元, payers: {{city: 6万元, county: 6万元}}}}
        - {{rule: lf.leader.provincial}}
      total: 12万元
"""


def write_case(tmp_path: Path) -> Path:
    path = tmp_path / "tests" / "case.yaml"
    path.parent.mkdir()
    path.write_text(CASE.format(rules=RULES, example=ROOT / "examples/enterprises/wenan-pilot.yaml"), "utf-8")
    return path


def test_failure_prints_expected_against_actual(tmp_path: Path) -> None:
    [result] = run_file(write_case(tmp_path))
    assert not result.passed
    assert result.failures == (
        "award lf.digital_pilot: amount expected 120000.00, actual 123456.79",
        "award lf.digital_pilot: payers expected {city: 60000.00, county: 60000.00}, "
        "actual {city: 61728.40, county: 61728.39}",
        "award lf.leader.provincial: expected, but not awarded "
        "(no record with record.kind is recognition, record.title is cluster_leader, record.level is provincial)",
        "total: expected 120000.00, actual 123456.79",
    )
    assert result.location.line == 3


def test_cli_test_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(write_case(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "0 passed, 1 failed" in out
    assert main(["test", str(RULES / "tests" / "langfang.yaml")]) == 0


def test_bad_test_file_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cases:\n  - name: x\n    as_of: 2026-01-01\n    expect: {awardz: []}\n", "utf-8")
    assert main(["test", str(path)]) == 2
    assert "bad.yaml:4:14:" in capsys.readouterr().err
