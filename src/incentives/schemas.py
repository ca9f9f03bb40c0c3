"""JSON Schema of the three formats other systems exchange: facts, rule files, assessments."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from incentives.facts import Enterprise
from incentives.outcomes import Assessment
from incentives.rulebook import RuleFile

_MODELS: dict[str, type[BaseModel]] = {"facts": Enterprise, "rules": RuleFile, "assessment": Assessment}


def schema(which: Literal["facts", "rules", "assessment"]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``which``, as validated on input (by alias)."""
    mode: Literal["validation", "serialization"] = "serialization" if which == "assessment" else "validation"
    result: dict[str, Any] = _MODELS[which].model_json_schema(by_alias=True, mode=mode)
    result["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    result.setdefault("title", which)
    return result
