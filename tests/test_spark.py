"""``incentives.spark`` on a local Spark session (``local[2]``): the award rows and errors of ``incentives batch``.

The same register (three cities' synthetic enterprises, bad rows and an orphan record) is assessed
by the local batch from CSV and by Spark from DataFrames read from the same files, partitioned by
credit code; both give the same award rows to the last cell and the same errors (locations name the
files locally and the tables on Spark).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from incentives.batch import run_batch
from incentives.facts import credit_code_check_digit
from incentives.synth import synthesize, write_register

from conftest import RULES, shared_rulebook
from test_batch import bad_register

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("incentives-test")
               .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "4")
               .getOrCreate())
    yield session
    session.stop()


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_spark_gives_the_award_rows_and_errors_of_the_local_batch(spark: Any, tmp_path: Path) -> None:
    from incentives.spark import assess

    book = shared_rulebook()
    items = list(synthesize("all", 1200, seed=3, rulebook=book, as_of=AS_OF)) + bad_register()
    enterprises, records = write_register(items, tmp_path / "register", "csv")
    nobody = "91131099MA0CTX8K4" + credit_code_check_digit("91131099MA0CTX8K4")
    with open(records, "a", encoding="utf-8") as f:   # a record no enterprise has
        f.write(f"{nobody},lost,statistics,2025-01-01" + "," * (len(rows(records)[0]) - 4) + "\n")
    local = run_batch(enterprises, tmp_path / "local", book, AS_OF)
    assert local.total.awards > 300 and local.errors == 6 and local.orphan_records == 1

    awards, errors = assess(spark.read.csv(str(enterprises), header=True), spark.read.csv(str(records), header=True),
                            RULES, AS_OF, partitions=3)
    expected = sorted(tuple(v or None for v in r.values()) for r in rows(tmp_path / "local" / "awards.csv"))
    assert sorted(tuple(r) for r in awards.collect()) == expected

    def local_error(r: dict[str, str]) -> tuple[str | None, ...]:
        named = {k: v.replace(str(enterprises), "enterprises").replace(str(records), "records") for k, v in r.items()}
        return tuple(v or None for v in named.values())

    got = sorted((tuple(r) for r in errors.collect()), key=str)
    assert got == sorted((local_error(r) for r in rows(tmp_path / "local" / "errors.csv")), key=str)
    assert any("check digit" in (r[5] or "") for r in got) and any("no enterprise with" in (r[5] or "") for r in got)


def _langfang(tmp_path: Path) -> tuple[Path, Path]:
    return write_register(list(synthesize("langfang", 300, seed=5, rulebook=shared_rulebook(), as_of=AS_OF)),
                          tmp_path / "register", "csv")


def _as_local(awards: Any, errors: Any, local: Path, enterprises: Path, records: Path) -> list[tuple[Any, ...]]:
    """The error rows, after checking that the award and error rows are those of the local batch in ``local``."""
    expected = sorted(tuple(v or None for v in r.values()) for r in rows(local / "awards.csv"))
    assert sorted(tuple(r) for r in awards.collect()) == expected
    got = sorted((tuple(r) for r in errors.collect()), key=str)
    named = [{k: v.replace(str(enterprises), "enterprises").replace(str(records), "records") for k, v in r.items()}
             for r in rows(local / "errors.csv")]
    assert got == sorted((tuple(v or None for v in r.values()) for r in named), key=str)
    return got


def test_numbers_spark_holds_as_doubles_are_read_as_a_csv_writes_them(spark: Any, tmp_path: Path) -> None:
    """A records table read with ``inferSchema``: money becomes doubles, which Spark writes as text as
    ``1.466711668E7``, and money does not read that; the award rows are still those of the local batch."""
    from incentives.spark import assess

    enterprises, records = _langfang(tmp_path)
    local = run_batch(enterprises, tmp_path / "local", shared_rulebook(), AS_OF)
    assert local.errors == 0 and local.total.awards > 20
    typed = spark.read.csv(str(records), header=True, inferSchema=True)
    assert {f.name: f.dataType.typeName() for f in typed.schema.fields}["investment"] == "double"
    assert any("E" in (r[0] or "") for r in typed.selectExpr("cast(investment as string)").collect())
    awards, errors = assess(spark.read.csv(str(enterprises), header=True), typed, RULES, AS_OF)
    assert _as_local(awards, errors, tmp_path / "local", enterprises, records) == []


def test_one_credit_code_on_two_enterprise_rows_is_an_error_on_each(spark: Any, tmp_path: Path) -> None:
    """As in ``incentives batch``: whose records are whose cannot be told, so neither row is assessed."""
    from incentives.spark import assess

    enterprises, records = _langfang(tmp_path)
    awarded = {r["credit_code"] for r in rows(records)}
    lines = enterprises.read_text("utf-8").splitlines(keepends=True)
    again = next(line for line in lines[1:] if line.split(",")[0] in awarded)
    enterprises.write_text("".join(lines) + again, "utf-8")     # the same enterprise on a second row
    local = run_batch(enterprises, tmp_path / "local", shared_rulebook(), AS_OF)
    assert local.errors == 2
    awards, errors = assess(spark.read.csv(str(enterprises), header=True), spark.read.csv(str(records), header=True),
                            RULES, AS_OF, partitions=3)
    got = _as_local(awards, errors, tmp_path / "local", enterprises, records)
    assert len(got) == 2 and all(f"credit_code: {again.split(',')[0]} is on 2 rows" in r[5] for r in got)


def test_spark_reads_the_rules_with_the_readings_chosen(spark: Any, tmp_path: Path) -> None:
    from incentives.spark import assess

    # 〔2021〕—69 三、（一）1 "对获得国家专精特新“小巨人”称号的企业，给予 100 万元奖励。" (重点“小巨人” not named)
    body = "91130100MA0CNR4K2"
    code = body + credit_code_check_digit(body)
    items = [{"enterprise": {"name": "鹿泉某电子科技有限公司", "credit_code": code, "city": "shijiazhuang"},
              "records": [{"id": "k", "kind": "recognition", "title": "key_little_giant", "level": "national",
                           "date": dt.date(2023, 7, 1)}]}]
    enterprises, records = write_register(items, tmp_path / "register", "csv")
    choice = {"sjz.little_giant.key_little_giant": "rewarded"}
    run_batch(enterprises, tmp_path / "local", RULES, AS_OF, readings=choice)
    awards, _ = assess(spark.read.csv(str(enterprises), header=True), spark.read.csv(str(records), header=True),
                       RULES, AS_OF, readings=choice)
    got = [tuple(r) for r in awards.collect()]
    assert got == [tuple(v or None for v in r.values()) for r in rows(tmp_path / "local" / "awards.csv")]
    assert len(got) == 1 and "1000000.00" in got[0]
    plain, _ = assess(spark.read.csv(str(enterprises), header=True), spark.read.csv(str(records), header=True),
                      RULES, AS_OF)
    assert plain.collect() == []


def test_an_executor_reads_the_shipped_rule_texts_and_keeps_no_folder_of_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule texts reach an executor as strings, are written to a folder to be read, and the folder goes
    once the rulebook is read (one was left per executor process and set of rules)."""
    import tempfile

    from incentives import spark

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(spark, "_books", {})
    book = shared_rulebook()
    assert spark._rulebook(spark._rule_texts(RULES), book.hash).hash == book.hash
    assert list(tmp_path.iterdir()) == []
