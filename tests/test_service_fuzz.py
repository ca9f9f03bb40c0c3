"""The HTTP API fuzzed from its own OpenAPI document (schemathesis): no 5xx, every answer as documented.

Each operation gets valid requests (by the document's schemas) and invalid ones; a bounded number of
examples, derandomized, so ``make test`` stays short and repeatable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode, checks

from serving import Server, running

CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]
EXAMPLES_PER_OPERATION = 25


@schemathesis.serializer("application/x-ndjson")
def _json_lines(ctx: Any, value: Any) -> bytes:
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else json.dumps(value).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running("--admin-token", "fuzz") as s:
        yield s


def operations(server: Server) -> list[Any]:
    api = schemathesis.openapi.from_url(server.url + "/openapi.json")
    return [result.ok() for result in api.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_api_never_fails_and_answers_as_documented(server: Server, mode: GenerationMode) -> None:
    tested = []
    for operation in operations(server):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(base_url=server.url, checks=CHECKS)

        try:
            run()
        except Exception as e:
            if "cannot be generated" in str(e) or type(e).__name__ in ("Unsatisfiable",):
                continue   # e.g. no invalid value exists for a route without parameters
            raise
        tested.append(operation.label)
    assert {"POST /v1/assess", "POST /v1/explain", "POST /v1/batch", "GET /v1/policies"} <= set(tested)
