"""Collects the YAML rule tests under rules/tests/ (and docs/examples/tests/) as pytest items."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from incentives.ruletests import CaseResult, run_file


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.parent.name == "tests" and "rules" in file_path.parent.parent.name:
        return RuleTestFile.from_parent(parent, path=file_path)
    return None


class RuleTestFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        for result in run_file(self.path):
            yield RuleTestCase.from_parent(self, name=result.case, result=result)


class RuleTestCase(pytest.Item):
    def __init__(self, *, result: CaseResult, **kw: Any) -> None:
        super().__init__(**kw)
        self.result = result

    def runtest(self) -> None:
        if not self.result.passed:
            raise RuleTestFailure(self.result)

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, RuleTestFailure):
            r = excinfo.value.result
            return f"{r.location}: {r.case}\n" + "\n".join(f"  {f}" for f in r.failures)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, (self.result.location.line or 1) - 1, self.result.case


class RuleTestFailure(Exception):
    def __init__(self, result: CaseResult) -> None:
        self.result = result
