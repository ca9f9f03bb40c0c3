"""The 政策计算器 in a real headless Chromium (Debian's package, driven by Selenium): a person fills the form
for an example enterprise, and the page shows every award's amount, clause and quote as ``assess`` gives them."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from incentives import assess, load_enterprise, load_rulebook
from incentives.report import label, money

from conftest import RULES
from serving import EXAMPLES, Server, running

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running() as s:
        yield s


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    assert shutil.which(CHROMIUM) and shutil.which(DRIVER), "make test installs chromium and chromium-driver"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,1500",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _set(driver: Any, field: Any, value: Any) -> None:
    from selenium.webdriver.support.ui import Select

    text = ", ".join(map(str, value)) if isinstance(value, list) else \
        ("true" if value else "false") if isinstance(value, bool) else str(value)
    if field.tag_name == "select":
        Select(field).select_by_value(text)
    elif field.get_attribute("type") == "date":   # typed dates follow the browser's locale: set the ISO value
        driver.execute_script("arguments[0].value = arguments[1]", field, text)
    else:
        field.clear()
        field.send_keys(text)


def fill_calculator(driver: Any, url: str, facts: dict[str, Any], as_of: dt.date) -> None:
    """What a person does: type the profile, add each record of its kind and type its fields, calculate."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(url + "/")
    for name, value in facts["enterprise"].items():
        _set(driver, driver.find_element(By.NAME, f"enterprise.{name}"), value)
    for record in facts.get("records", []):
        Select(driver.find_element(By.ID, "new-kind")).select_by_value(record["kind"])
        driver.find_element(By.ID, "add-record").click()
        row = driver.find_elements(By.CSS_SELECTOR, "#record-rows .record")[-1]
        assert row.get_attribute("data-kind") == record["kind"]
        for name, value in record.items():
            if name != "kind":
                _set(driver, row.find_element(By.NAME, name), value)
    for key, figures in facts.get("yearly", {}).items():
        driver.find_element(By.CSS_SELECTOR, '.add-key[data-map="yearly"]').click()
        row = driver.find_elements(By.CSS_SELECTOR, 'fieldset[data-map="yearly"] .map-row')[-1]
        _set(driver, row.find_element(By.NAME, "__key"), key)
        for name, value in figures.items():
            _set(driver, row.find_element(By.NAME, name), value)
    _set(driver, driver.find_element(By.CSS_SELECTOR, "#calculator input[name=as_of]"), as_of.isoformat())


def sent_facts(driver: Any) -> Any:
    """The fact file the form will send: its submit handler run without leaving the page."""
    return json.loads(driver.execute_script(
        "document.getElementById('calculator').dispatchEvent(new Event('submit'));"
        "return document.getElementById('facts').value;"))


YEARLY = {"2025": {"revenue": "3000万元", "employees": 120}}


@pytest.mark.parametrize("example, yearly", [("xianghe-leader", None), ("guan-missing-facts", None),
                                             ("wenan-pilot", YEARLY)])
def test_a_person_fills_the_form_and_sees_every_award(server: Server, browser: Any, example: str,
                                                      yearly: dict[str, Any] | None, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path = EXAMPLES / f"{example}.yaml"
    facts = yaml.safe_load(path.read_text("utf-8"))
    if yearly:                        # figures of a year, typed into the form's yearly rows
        facts["yearly"] = yearly
    book = load_rulebook(RULES)
    expected = assess(load_enterprise(facts, book.vocabulary), book, AS_OF)
    fill_calculator(browser, server.url, facts, AS_OF)
    assert load_enterprise(sent_facts(browser), book.vocabulary) == load_enterprise(facts, book.vocabulary)
    browser.find_element(By.ID, "calculate").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "total"))

    assert browser.find_element(By.ID, "total").text == money(expected.total, "zh")
    shown = browser.find_elements(By.CSS_SELECTOR, "article.award")
    assert [a.get_attribute("data-rule") for a in shown] == [a.rule_id for a in expected.awards]
    for article, award in zip(shown, expected.awards):
        text = article.text
        assert award.amount is not None and money(award.amount, "zh") in text
        assert f"条款: {award.citation.document_number} {award.citation.clause}" in text
        assert article.find_element(By.CSS_SELECTOR, "blockquote.quote").text == award.citation.quote
        for payer, share in award.payers.items():
            assert f"{label(payer, 'zh')} {money(share, 'zh')}" in text
    undetermined = browser.find_elements(By.CSS_SELECTOR, "#undetermined tbody tr")
    assert [r.get_attribute("data-rule") for r in undetermined] == [o.rule_id for o in expected.undetermined]
    for row, outcome in zip(undetermined, expected.undetermined):
        assert all(fact in row.text for fact in outcome.missing)
    not_eligible = browser.find_elements(By.CSS_SELECTOR, "#not-eligible tbody tr")
    assert len(not_eligible) == len(expected.not_eligible)

    shot = tmp_path / "result.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("INCENTIVES_SCREENSHOT")     # docs/calculator.png is made this way
    if keep and example == "xianghe-leader":
        shutil.copyfile(shot, keep)


def test_english_switch_and_bad_input_in_the_browser(server: Server, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    facts = yaml.safe_load((EXAMPLES / "wenan-pilot.yaml").read_text("utf-8"))
    facts["enterprise"]["credit_code"] = facts["enterprise"]["credit_code"][:-1] + "0"
    fill_calculator(browser, server.url, facts, AS_OF)
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(By.ID, "calculate").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".problem"))  # the answer is fetched
    problem = browser.find_element(By.CSS_SELECTOR, ".problem").text
    assert "enterprise.credit_code" in problem and "check digit" in problem
    browser.find_element(By.ID, "lang-switch").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Calculator"
    browser.get(server.url + "/policies?lang=en&city=langfang")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.rules tbody tr")
    book = load_rulebook(RULES)
    assert [r.get_attribute("id") for r in rows] == [f"rule-{r.id}" for r in book.files["langfang"].rules]
    assert "Newly recognised provincial cluster leader" in rows[0].text and "市工信局" in rows[0].text


def test_a_person_chooses_another_reading_of_a_clause_and_sees_its_award(server: Server, browser: Any) -> None:
    # 〔2021〕—69 三、（一）1 "对获得国家专精特新“小巨人”称号的企业，给予 100 万元奖励。" (重点“小巨人” not named)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    key = "sjz.little_giant.key_little_giant"
    facts = {"enterprise": {"name": "鹿泉某电子科技有限公司", "credit_code": "91130100MA0CNR4K2D",
                            "city": "shijiazhuang"},
             "records": [{"id": "k", "kind": "recognition", "title": "key_little_giant", "level": "national",
                          "date": "2023-07-01"}]}
    as_of = dt.date(2025, 6, 30)
    book = load_rulebook(RULES)
    read = book.with_readings({key: "rewarded"})
    expected = assess(load_enterprise(facts, read.vocabulary), read, as_of)
    assert assess(load_enterprise(facts, book.vocabulary), book, as_of).total == 0 and expected.total == 1_000_000
    fill_calculator(browser, server.url, facts, as_of)
    choice = Select(browser.find_element(By.CSS_SELECTOR, f'#readings-calculator select[data-reading="{key}"]'))
    assert choice.first_selected_option.get_attribute("value") == f"{key}=not_rewarded"
    choice.select_by_value(f"{key}=rewarded")
    assert load_enterprise(sent_facts(browser), book.vocabulary) == load_enterprise(facts, book.vocabulary)
    browser.find_element(By.ID, "calculate").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "total"))
    assert browser.find_element(By.ID, "total").text == money(expected.total, "zh")
    assert [a.get_attribute("data-rule") for a in browser.find_elements(By.CSS_SELECTOR, "article.award")] == \
        [a.rule_id for a in expected.awards] == ["sjz.little_giant"]
    shown = browser.find_element(By.CSS_SELECTOR, f'#readings li[data-reading="{key}"]')
    assert shown.get_attribute("data-option") == "rewarded" and shown.is_displayed()   # open: not the default
