from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from incentives import Enterprise, Rulebook, load_rulebook
from incentives.facts import credit_code_check_digit

# One profile for the suite: no per-example deadline (CI machines are shared and their timing varies),
# and the session-scoped rulebook fixture is safe to share between examples.
settings.register_profile("incentives", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("incentives")

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"


def credit_code(body: str = "91131024MA0CTX8K4") -> str:
    """A valid unified social credit code from its first 17 characters."""
    return body + credit_code_check_digit(body)


def outcome(result: Any, rule_id: str, record_id: str | None = "any") -> Any:
    """The not-eligible outcome of ``rule_id`` (for ``record_id`` unless "any")."""
    return next(o for o in result.not_eligible
                if o.rule_id == rule_id and (record_id == "any" or o.record_id == record_id))


def enterprise(records: list[dict[str, Any]], **profile: Any) -> Enterprise:
    base: dict[str, Any] = {"name": "测试企业", "credit_code": credit_code(), "city": "langfang", "county": "香河县",
                            "clusters": ["香河智慧家居"], "size": "small"}
    base.update(profile)
    return Enterprise.model_validate({"enterprise": base, "records": records})


class Records:
    """Builds record dicts for tests, dated ``day`` unless a test says otherwise."""

    def __init__(self, day: dt.date) -> None:
        self.day = day

    def __call__(self, kind: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("id", f"{kind}-1")
        fields.setdefault("date", self.day)
        return {"kind": kind, **fields}

    def recognition(self, title: str, level: str | None = None, **fields: Any) -> dict[str, Any]:
        return self("recognition", title=title, level=level, **fields)

    def project(self, type_: str, **fields: Any) -> dict[str, Any]:
        return self("project", type=type_, **fields)


record = Records(dt.date(2026, 1, 15))


def assert_not_eligible(result: Any, rule_id: str, reason: str) -> None:
    """``rule_id`` pays nothing, and one of its reasons contains ``reason``."""
    assert result.award(rule_id) is None
    assert any(reason in r for r in outcome(result, rule_id).reasons), outcome(result, rule_id).reasons


def assert_every_rule_listed(rulebook: Rulebook, city: str, count: int, *tables: list[Any]) -> None:
    """``city`` has ``count`` rules, and each table (rows starting with a rule id) lists every one of them."""
    ids = {r.id for r in rulebook.rules_for(city)}
    assert len(ids) == count
    for table in tables:
        assert {row[0] for row in table} == ids


@functools.cache
def shared_rulebook() -> Rulebook:
    """The real rule files, loaded once for the whole suite."""
    return load_rulebook(RULES)


@pytest.fixture(scope="session")
def book() -> Rulebook:
    return shared_rulebook()
