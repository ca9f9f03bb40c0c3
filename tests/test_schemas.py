"""The JSON Schemas shipped under schemas/ are current, and accept the real files editors will open."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from incentives import assess, load_enterprise
from incentives.schemas import schema

from conftest import ROOT, RULES

SCHEMAS = ROOT / "schemas"


@pytest.mark.parametrize("which", ["facts", "rules", "assessment"])
def test_shipped_schema_is_current(which: str) -> None:
    shipped = json.loads((SCHEMAS / f"{which}.schema.json").read_text("utf-8"))
    assert shipped == schema(which), f"regenerate: incentives schema {which} > schemas/{which}.schema.json"


def _plain(path: Path) -> object:
    return json.loads(json.dumps(yaml.safe_load(path.read_text("utf-8")), default=str))


@pytest.mark.parametrize("path", sorted(p for p in RULES.glob("*.yaml")
                                       if p.name not in ("vocabulary.yaml", "facts.yaml", "divisions.yaml")), ids=lambda p: p.name)
def test_real_rule_files_validate_against_the_editor_schema(path: Path) -> None:
    jsonschema.validate(_plain(path), schema("rules"))


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "enterprises").glob("*.yaml")), ids=lambda p: p.name)
def test_example_facts_validate_and_assessments_match_schema(path: Path, book) -> None:  # type: ignore[no-untyped-def]
    jsonschema.validate(_plain(path), schema("facts"))
    result = assess(load_enterprise(path, book.vocabulary), book)
    jsonschema.validate(json.loads(result.model_dump_json()), schema("assessment"))


def test_schema_rejects_an_unknown_key() -> None:
    data = _plain(RULES / "langfang.yaml")
    data["rules"][0]["amout"] = 1  # type: ignore[index]
    with pytest.raises(jsonschema.ValidationError, match="amout"):
        jsonschema.validate(data, schema("rules"))
