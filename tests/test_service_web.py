"""The calculator's pages over HTTP: the form follows the facts JSON Schema, uploads, the library, the budget."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
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
    misspelt = path.read_bytes().replace("city: langfang".encode(), "city: 廊访".encode())   # 廊坊 mistyped
    assert misspelt != path.read_bytes()
    elsewhere = client.post("/calculate", files={"facts_file": ("wenan.yaml", misspelt, "application/yaml")})
    assert elsewhere.status_code == 422 and "enterprise.city: unknown city &#39;廊访&#39;; known cities:" in elsewhere.text


def test_the_library_lists_each_city_and_level(client: httpx.Client) -> None:
    book = load_rulebook(RULES)
    page = client.get("/policies").text
    for loaded in book.files.values():
        for rule in loaded.rules:
            assert f'id="rule-{rule.id}"' in page
    province = client.get("/policies", params={"level": "province"}).text
    assert 'data-city="hebei"' in province and 'data-city="langfang"' not in province
    named = client.get("/policies", params={"city": "廊坊市"}).text   # a city by its name
    assert 'data-city="langfang"' in named and 'data-city="hebei"' not in named
    for query, said in (({"city": "langfnag"}, "city: unknown city &#39;langfnag&#39;"),
                        ({"level": "town"}, "level: unknown level &#39;town&#39;")):
        misspelt = client.get("/policies", params=query)   # said, and the whole library listed beside
        assert misspelt.status_code == 422 and said in misspelt.text and 'data-city="hebei"' in misspelt.text


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
    heads = '"by_rule": {}, "by_payer": {}, "total": {}'
    for wrong, field in (('{"by_county": "x", "by_rule": 1, "by_payer": null, "total": 5}', "by_county"),
                         ('{"by_county": {"a": "b"}, ' + heads + "}", "by_county.a"),
                         ('{"by_county": {"a": {"amount": "x"}}, ' + heads + "}", "by_county.a.amount"),
                         ('{"by_county": {}, "by_rule": {}, "by_payer": {}, "total": {"awards": "many"}}', "total.awards"),
                         ('{"by_county": [1], ' + heads + "}", "by_county")):
        page = client.post("/budget", files={"summary": ("summary.json", wrong.encode(), "application/json")})
        assert page.status_code == 422 and "not a batch summary.json" in page.text and field in page.text, wrong


def test_a_chinese_result_page_gives_its_reasons_in_chinese(client: httpx.Client) -> None:
    page = client.get("/example/shijiazhuang-luquan-electronics", params={"as_of": "2026-06-30"})
    assert page.status_code == 200
    assert "每家企业限一次：已就记录 r1 获奖" in page.text and "once per enterprise" not in page.text
    english = client.get("/example/shijiazhuang-luquan-electronics", params={"as_of": "2026-06-30", "lang": "en"})
    assert "once per enterprise: already awarded for record r1" in english.text


KEY = "sjz.little_giant.key_little_giant"
# 〔2021〕—69 三、（一）1 "对获得国家专精特新“小巨人”称号的企业，给予 100 万元奖励。" (重点“小巨人” not named)
KEY_GIANT = {"enterprise": {"name": "鹿泉某电子科技有限公司", "credit_code": "91130100MA0CNR4K2D",
                            "city": "shijiazhuang"},
             "records": [{"id": "k", "kind": "recognition", "title": "key_little_giant", "level": "national",
                          "date": "2023-07-01"}]}


def test_the_calculator_offers_every_reading_and_computes_with_the_one_chosen(client: httpx.Client) -> None:
    book = load_rulebook(RULES)
    page = client.get("/").text
    for form in ("calculator", "upload"):
        fieldset = re.search(rf'<fieldset class="readings" id="readings-{form}">(.*?)</fieldset>', page, re.S)
        assert fieldset, form
        selects = re.findall(r'<select name="reading" data-reading="([^"]+)">(.*?)</select>', fieldset.group(1), re.S)
        declared = {name: r for f in book.files.values() for name, r in f.model.readings.items()}
        assert [name for name, _ in selects] == [n for _, f in sorted(book.files.items()) for n in f.model.readings]
        for name, options in selects:
            assert re.findall(r'<option value="([^"]+)"', options) == [f"{name}={o}" for o in declared[name].options]
            assert re.findall(r'<option value="[^"]+=([^"]+)" selected>', options) == [declared[name].default]

    facts = json.dumps(KEY_GIANT, ensure_ascii=False)
    as_of = dt.date(2025, 6, 30)
    plain = client.post("/calculate", data={"as_of": as_of.isoformat(), "facts": facts,
                                            "reading": f"{KEY}=not_rewarded"})
    assert plain.status_code == 200 and plain.headers["x-rulebook-hash"] == book.hash
    assert f'<strong id="total">{money(Decimal(0), "zh")}</strong>' in plain.text
    assert f'data-reading="{KEY}" data-option="not_rewarded"' in plain.text and '<details class="readings" id="readings">' in plain.text

    read = book.with_readings({KEY: "rewarded"})
    expected = assess(load_enterprise(KEY_GIANT, read.vocabulary), read, as_of)
    assert expected.total == 1_000_000
    chosen = client.post("/calculate", data={"as_of": as_of.isoformat(), "facts": facts, "reading": f"{KEY}=rewarded"})
    assert chosen.status_code == 200 and chosen.headers["x-rulebook-hash"] == read.hash != book.hash
    assert f'<strong id="total">{money(expected.total, "zh")}</strong>' in chosen.text
    assert '<details class="readings" id="readings" open>' in chosen.text     # a reading other than the default
    assert f'data-reading="{KEY}" data-option="rewarded"' in chosen.text
    uploaded = client.post("/calculate?lang=en", data={"as_of": as_of.isoformat(), "reading": f"{KEY}=rewarded"},
                           files={"facts_file": ("giant.json", facts.encode(), "application/json")})
    assert money(expected.total, "en") in uploaded.text and uploaded.headers["x-rulebook-hash"] == read.hash

    rewarded = book.files["shijiazhuang"].model.readings[KEY].options["rewarded"]
    assert f"rewarded: {rewarded.note_in('zh')}" in page and rewarded.note_in("zh").startswith("重点“小巨人”都是")
    english = client.get("/", params={"lang": "en"}).text
    assert f"rewarded: {rewarded.note_in('en')}" in english and "rewarded: 重点" not in english
    unknown = client.post("/calculate", data={"facts": facts, "reading": f"{KEY}=maybe"})
    assert unknown.status_code == 422 and "has no option &#39;maybe&#39;; options: not_rewarded, rewarded" in unknown.text
    malformed = client.post("/calculate", data={"facts": facts, "reading": KEY})
    assert malformed.status_code == 422 and "form.reading: reading: write a reading as id=option" in malformed.text


def test_an_example_is_shown_under_the_readings_its_link_chooses(client: httpx.Client) -> None:
    book = load_rulebook(RULES)
    choice = "lf.industrial_internet_platform.builder=cluster_member"
    name, option = choice.split("=")
    assert name in book.readings_in_force("langfang"), "a Langfang reading"
    read = book.with_readings({name: option})
    page = client.get("/example/xianghe-leader", params={"as_of": "2026-06-30", "reading": choice})
    assert page.status_code == 200 and page.headers["x-rulebook-hash"] == read.hash
    assert f'data-reading="{name}" data-option="{option}"' in page.text
    bad = client.get("/example/xianghe-leader", params={"reading": "lf.nothing=x"})
    assert bad.status_code == 422 and "lf.nothing" in bad.text
