"""JSON Schema of the three formats other systems exchange: facts, rule files, assessments."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from incentives.factschema import FactsSchema
from incentives.facts import Enterprise, enterprise_model
from incentives.outcomes import Assessment
from incentives.rulebook import RuleFile

_MODELS: dict[str, type[BaseModel]] = {"facts": Enterprise, "rules": RuleFile, "assessment": Assessment}


def schema(which: Literal["facts", "rules", "assessment"], facts: FactsSchema | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``which``, as validated on input (by alias); the facts of
    ``facts`` (a rulebook's own schema) where given, else of the bundled ``rules/facts.yaml``."""
    mode: Literal["validation", "serialization"] = "serialization" if which == "assessment" else "validation"
    model = enterprise_model(facts) if which == "facts" else _MODELS[which]
    result: dict[str, Any] = model.model_json_schema(by_alias=True, mode=mode)
    result["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    result.setdefault("title", which)
    return result
