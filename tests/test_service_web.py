"""The calculator's pages over HTTP: the form follows the facts JSON Schema, uploads, the library, the budget."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from incentives import assess, load_enterprise, load_rulebook
from incentives.report import money
from incentives.schemas import schema

from conftest import RULES
from serving import EXAMPLES, running


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with running() as server, server.client() as c:
        yield c


def test_the_form_has_a_field_for_every_fact_the_schema_names(client: httpx.Client) -> None:
    page = client.get("/").text
    facts = schema("facts")
    profile = facts["$defs"]["Profile"]["properties"]
    for name in profile:
        assert f'name="enterprise.{name}"' in page, name
    kinds = [facts["$defs"][ref["$ref"].rsplit("/", 1)[-1]] for ref in
             facts["properties"]["records"]["items"]["oneOf"]]
    for kind in kinds:
        tag = kind["properties"]["kind"]["const"]
        template = re.search(rf'<template id="kind-{tag}">(.*?)</template>', page, re.S)
        assert template, tag
        for name in kind["properties"]:
            assert name == "kind" or f'name="{name}"' in template.group(1), (tag, name)
    assert '<option value="cluster_leader">特色产业集群“领跑者”企业 (cluster_leader)</option>' in page
    yearly = re.search(r'<template id="map-yearly">(.*?)</template>', page, re.S)
    assert yearly, "yearly figures: one row per year"
    for name, prop in facts["$defs"]["Figures"]["properties"].items():
        assert f'name="{name}"' in yearly.group(1)
    assert "营业收入" in yearly.group(1)      # the label is the schema's own description


def test_an_uploaded_fact_file_is_assessed(client: httpx.Client) -> None:
    path = EXAMPLES / "wenan-pilot.yaml"
    page = client.post("/calculate", data={"as_of": "2026-06-30"},
                       files={"facts_file": ("wenan.yaml", path.read_bytes(), "application/yaml")})
    book = load_rulebook(RULES)
    expected = assess(load_enterprise(path, book.vocabulary), book, dt.date(2026, 6, 30))
    assert page.status_code == 200 and page.headers["x-rulebook-hash"] == book.hash
    assert f'<strong id="total">{money(expected.total, "zh")}</strong>' in page.text
    english = client.post("/calculate?lang=en", data={"as_of": "2026-06-30"},
                          files={"facts_file": ("wenan.yaml", path.read_bytes(), "application/yaml")})
    assert money(expected.total, "en") in english.text and "Clause: 廊政办规〔2025〕5号" in english.text
    bad = client.post("/calculate", data={"facts": json.dumps({"enterprise": {"name": "x"}})})
    assert bad.status_code == 422 and "enterprise.credit_code" in bad.text


def test_the_library_lists_each_city_and_level(client: httpx.Client) -> None:
    book = load_rulebook(RULES)
    page = client.get("/policies").text
    for loaded in book.files.values():
        for rule in loaded.rules:
            assert f'id="rule-{rule.id}"' in page
    province = client.get("/policies", params={"level": "province"}).text
    assert 'data-city="hebei"' in province and 'data-city="langfang"' not in province


def test_the_budget_page_draws_a_batch_summary(client: httpx.Client, tmp_path: Path) -> None:
    from incentives.batch import run_batch
    from incentives.cli import main

    register = tmp_path / "register"
    assert main(["synth", "--city", "langfang", "--n", "300", "--seed", "1", "--as-of", "2026-06-30",
                 "--rules", str(RULES), "-o", str(register)]) == 0
    summary = run_batch(register / "enterprises.csv", tmp_path / "results", RULES, dt.date(2026, 6, 30), progress=False)
    data = (tmp_path / "results" / "summary.json").read_bytes()
    page = client.post("/budget", files={"summary": ("summary.json", data, "application/json")})
    assert page.status_code == 200
    assert f'<strong id="budget-total">{money(summary.total.amount, "zh")}</strong>' in page.text
    counties = json.loads(data)["by_county"]
    assert page.text.count("<rect") == 2 * (len(counties) + len(json.loads(data)["by_rule"])
                                            + len(json.loads(data)["by_payer"]))
    bad = client.post("/budget", files={"summary": ("summary.json", b"{}", "application/json")})
    assert bad.status_code == 422 and "not a batch summary.json" in bad.text


def test_a_chinese_result_page_gives_its_reasons_in_chinese(client: httpx.Client) -> None:
    page = client.get("/example/shijiazhuang-luquan-electronics", params={"as_of": "2026-06-30"})
    assert page.status_code == 200
    assert "每家企业限一次：已就记录 r1 获奖" in page.text and "once per enterprise" not in page.text
    english = client.get("/example/shijiazhuang-luquan-electronics", params={"as_of": "2026-06-30", "lang": "en"})
    assert "once per enterprise: already awarded for record r1" in english.text
