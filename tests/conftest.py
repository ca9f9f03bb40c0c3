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


def record(kind: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("id", f"{kind}-1")
    fields.setdefault("date", dt.date(2026, 1, 15))
    return {"kind": kind, **fields}


@functools.cache
def shared_rulebook() -> Rulebook:
    """The real rule files, loaded once for the whole suite."""
    return load_rulebook(RULES)


@pytest.fixture(scope="session")
def book() -> Rulebook:
    return shared_rulebook()
