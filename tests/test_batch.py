from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from incentives import Enterprise, Rulebook, SourceError, assess
from incentives._tabular import RECORD_COLUMNS
from incentives.batch import BatchSummary, register, run_batch
from incentives.synth import synthesize, write_register

AS_OF = dt.date(2026, 6, 30)
N = 2000
FORMATS = ("csv", "jsonl", "parquet", "xlsx")
VARYING = {"input", "output_dir", "seconds", "enterprises_per_second", "workers", "chunk_size", "join", "join_note", "path"}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def awards_as_text(out: Path, fmt: str) -> list[tuple[str, ...]]:
    """The awards file of any format as rows of text, the way awards.csv writes them."""
    def text(v: Any) -> str:
        return "" if v is None else ("true" if v is True else "false" if v is False else str(v))

    path = out / f"awards.{fmt}"
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            return [tuple(r) for r in csv.reader(f)][1:]
    if fmt == "jsonl":
        return [tuple(text(v) for v in json.loads(line).values()) for line in path.read_text("utf-8").splitlines()]
    if fmt == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
        return [tuple(text(v) for v in row.values()) for row in pq.read_table(path).to_pylist()]
    import openpyxl  # type: ignore[import-untyped]
    wb = openpyxl.load_workbook(path, read_only=True)
    return [tuple(text(v) for v in row) for row in wb["awards"].iter_rows(min_row=2, values_only=True)]


def comparable(summary: BatchSummary) -> dict[str, Any]:
    return {k: v for k, v in summary.to_dict().items() if k not in VARYING}


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory, book: Rulebook) -> dict[str, Any]:
    """One synthetic register in every format, each assessed by batch."""
    root = tmp_path_factory.mktemp("population")
    items = list(synthesize("all", N, seed=11, rulebook=book, as_of=AS_OF))
    runs = {}
    for fmt in FORMATS:
        inputs = write_register(items, root / fmt, fmt)
        runs[fmt] = (inputs, run_batch(inputs[0], root / f"out-{fmt}", book, AS_OF, chunk_size=500))
    return {"root": root, "items": items, "runs": runs}


def test_every_format_gives_the_same_awards_as_assessing_each_enterprise(population: dict[str, Any],
                                                                        book: Rulebook) -> None:
    runs = population["runs"]
    csv_summary = runs["csv"][1]
    for fmt in FORMATS:
        summary = runs[fmt][1]
        assert comparable(summary) == comparable(csv_summary), fmt
        assert awards_as_text(Path(summary.output_dir), fmt) == awards_as_text(Path(csv_summary.output_dir), "csv")
    total, total_max, awards, with_awards = Decimal(0), Decimal(0), 0, 0
    by_payer: dict[str, Decimal] = {}
    for item in population["items"]:
        result = assess(Enterprise.model_validate(item), book, AS_OF)
        total += result.total
        total_max += result.total_max
        awards += len(result.awards)
        with_awards += bool(result.awards)
        for payer, amount in result.total_by_payer.items():
            by_payer[payer] = by_payer.get(payer, Decimal(0)) + amount
    assert csv_summary.enterprises_read == csv_summary.assessed == N
    assert (csv_summary.total.amount, csv_summary.total.amount_max) == (total, total_max)
    assert (csv_summary.total.awards, csv_summary.with_awards) == (awards, with_awards)
    assert {k: v.amount for k, v in csv_summary.by["payer"].items() if v.amount} == {k: v for k, v in by_payer.items() if v}
    assert awards > N // 10 and total > 0  # the register is not trivially empty


def test_summary_files_agree_with_the_run(population: dict[str, Any]) -> None:
    _, summary = population["runs"]["parquet"]
    out = Path(summary.output_dir)
    data = json.loads((out / "summary.json").read_text("utf-8"))
    assert data["counts"] == {"enterprises_read": N, "assessed": N, "with_awards": summary.with_awards, "errors": 0,
                              "bad_enterprises": 0, "orphan_records": 0, "records_read": summary.records_read,
                              "awards": summary.total.awards}
    assert data["as_of"] == "2026-06-30" and data["rulebook_hash"].startswith("sha256:")
    assert data["join"] == "merge" and data["enterprises_per_second"] > 0
    rows = read_csv(out / "summary.csv")
    assert rows[0] == {"dimension": "total", "key": "", "awards": str(summary.total.awards),
                       "amount": data["total"]["amount"], "amount_max": data["total"]["amount_max"]}
    for dimension in ("city", "county", "payer", "rule", "status"):
        mine = [r for r in rows if r["dimension"] == dimension]
        assert {r["key"]: r["amount"] for r in mine} == {k: v["amount"] for k, v in data[f"by_{dimension}"].items()}
    by_city = sum((Decimal(v["amount"]) for v in data["by_city"].values()), Decimal(0))
    assert by_city == Decimal(data["total"]["amount"])  # exact: no float anywhere
    assert sum(int(v["awards"]) for v in data["by_status"].values()) == summary.total.awards


def test_two_workers_write_what_one_writes(population: dict[str, Any], book: Rulebook, tmp_path: Path) -> None:
    inputs, one = population["runs"]["csv"]
    two = run_batch(inputs[0], tmp_path, book, AS_OF, chunk_size=300, workers=2)
    assert comparable(two) == comparable(one)
    for name in ("awards.csv", "errors.csv", "summary.csv"):
        assert (tmp_path / name).read_bytes() == (Path(one.output_dir) / name).read_bytes(), name


def test_workers_refuse_rules_changed_on_disk(population: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    from incentives import IncentivesError, load_rulebook

    from conftest import RULES

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    shutil.copytree(RULES.parent / "sources", tmp_path / "sources")  # quotes are checked at load
    book = load_rulebook(rules)
    langfang = rules / "langfang.yaml"
    langfang.write_text(langfang.read_text("utf-8") + "# edited after loading\n", "utf-8")
    inputs, _ = population["runs"]["csv"]
    with pytest.raises(IncentivesError, match="not those the batch started with"):
        run_batch(inputs[0], tmp_path / "out", book, AS_OF, chunk_size=100, workers=2, path="rows")


def test_rows_reach_workers_unchanged() -> None:
    from incentives._tabular import Row
    from incentives.batch import _pack, _unpack

    rows = [Row(1, 2, ["91131024MA0CTX8K46", "", "香河县", "a;b"], "91131024MA0CTX8K46"),
            Row(3, 4, ["x\x1fy", "", "z"], "X", "a problem"),       # a cell holding the separator
            Row(5, 5, ["code", None, 3.0, dt.datetime(2026, 1, 1)]),   # typed cells, as xlsx gives them
            Row(6, 6, {"enterprise": {}, "records": []}), Row(7, 7, []), Row(8, 8, [""])]
    for row in rows:
        assert _unpack(_pack(row)) == row
    assert isinstance(_pack(rows[0])[2], str) and isinstance(_pack(rows[1])[2], list)


def test_records_out_of_order_are_indexed_and_orphans_reported(population: dict[str, Any], book: Rulebook,
                                                               tmp_path: Path) -> None:
    (enterprises, records), ordered = population["runs"]["csv"]
    lines = records.read_text("utf-8").splitlines(keepends=True)
    body = lines[1:]
    random.Random(3).shuffle(body)
    orphan = "91131024MA0CTX8K46,lost,statistics,2025-01-01" + "," * (lines[0].count(",") - 3) + "\n"
    (tmp_path / "enterprises.csv").write_bytes(enterprises.read_bytes())
    (tmp_path / "records.csv").write_text(lines[0] + "".join(body) + orphan, encoding="utf-8")
    summary = run_batch(tmp_path / "enterprises.csv", tmp_path / "out", book, AS_OF)
    assert summary.join == "index" and "memory" in summary.join_note
    assert (summary.total, summary.with_awards) == (ordered.total, ordered.with_awards)
    assert (summary.orphan_records, summary.errors) == (1, 1)
    [error] = read_csv(tmp_path / "out" / "errors.csv")
    assert error["row"] == "" and error["record_row"] == str(len(body) + 1)
    assert "no enterprise with credit code '91131024MA0CTX8K46'" in error["reason"]


GOOD: dict[str, Any] = {"enterprise": {"name": "香河某家居科技有限公司", "credit_code": "91131024MA0CTX8K46", "city": "langfang",
                       "county": "香河县", "clusters": ["香河智慧家居"], "size": "medium"},
        "records": [{"id": "r1", "kind": "recognition", "title": "cluster_leader", "level": "provincial",
                     "date": "2025-11-03"}]}


def bad_register() -> list[dict[str, Any]]:
    """A good enterprise, then one bad in each way, then a good one again."""
    def variant(code: str, **change: Any) -> dict[str, Any]:
        profile = {**GOOD["enterprise"], "credit_code": code, **change.pop("enterprise", {})}
        return {"enterprise": profile, "records": change.pop("records", GOOD["records"])}

    project = {"id": "p1", "kind": "project", "type": "digital_transformation_pilot", "date": "2026-03-01"}
    return [
        GOOD,
        variant("91131024MA0CTX8K47"),                                                    # 2: check digit
        variant("91131026MA0FHN2P7X", records=[GOOD["records"][0], {**project, "investment": "-5"}]),
        variant("91131022MA0EWB9R1E", records=[{"id": "x1", "kind": "patent", "date": "2026-02-10"}]),
        variant("91131024MA0DQ7L53W", records=[{**GOOD["records"][0], "title": "cluster_leadr"}]),
        variant("91130981MA0D7K3P2J", records=[{**GOOD["records"][0], "date": "2025-13-31"}]),
        variant("91130924MA0E4RXB1U", records=[{**project, "investment": "150万元"}]),
    ]


EXPECTED = [  # row, record row, field, reason
    ("2", "", "enterprise.credit_code", r"check digit of '91131024MA0CTX8K47' is '7', expected '6'"),
    ("3", "4", "records.1.investment", r"cannot read '-5' as money.*whole enterprise is not assessed"),
    ("4", "5", "records.0", r"Input tag 'patent' found using 'kind' does not match.*whole enterprise"),
    ("5", "6", "records.0.title", r"unknown recognition.title 'cluster_leadr'; did you mean 'cluster_leader'\?"),
    ("6", "7", "records.0.date", r"valid date.*month value is outside expected range"),
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_bad_rows_go_to_errors_and_the_rest_are_assessed(fmt: str, book: Rulebook, tmp_path: Path) -> None:
    inputs = write_register(bad_register(), tmp_path / "in", fmt)
    summary = run_batch(inputs[0], tmp_path / "out", book, AS_OF)
    assert (summary.enterprises_read, summary.assessed, summary.errors, summary.bad_enterprises) == (7, 2, 5, 5)
    assert summary.with_awards == 2 and summary.records_read == 8
    errors = read_csv(tmp_path / "out" / "errors.csv")
    assert [e["credit_code"] for e in errors] == [
        "91131024MA0CTX8K47", "91131026MA0FHN2P7X", "91131022MA0EWB9R1E", "91131024MA0DQ7L53W", "91130981MA0D7K3P2J"]
    for error, (row, record_row, field, reason) in zip(errors, EXPECTED):
        assert error["row"] == row
        if fmt == "jsonl":  # records are inline: the record row is its place in the line's list
            record_row = "" if not record_row else str(int(field.split(".")[1]) + 1)
        assert error["record_row"] == record_row, error
        assert error["field"] == field
        assert re.search(reason, error["reason"]), error["reason"]
        table = "enterprises" if not record_row else "records"
        assert error["source"].endswith({"csv": f"{table}.csv", "jsonl": "enterprises.jsonl",
                                         "xlsx": f"enterprises.xlsx[{table}]"}[fmt])
    line = {"csv": 1, "jsonl": 0, "xlsx": 1}[fmt]  # a header line before the data, or none
    assert errors[0]["reason"].startswith(f"{errors[0]['source']}:{2 + line}")
    awarded = {row[0] for row in awards_as_text(tmp_path / "out", fmt)}
    assert awarded == {"91131024MA0CTX8K46", "91130924MA0E4RXB1U"}


def test_csv_errors_point_at_line_and_column(book: Rulebook, tmp_path: Path) -> None:
    write_register(bad_register(), tmp_path, "csv")
    run_batch(tmp_path / "enterprises.csv", tmp_path / "out", book, AS_OF)
    reasons = [e["reason"] for e in read_csv(tmp_path / "out" / "errors.csv")]
    assert reasons[0].startswith(f"{tmp_path / 'enterprises.csv'}:3:1: enterprise.credit_code: check digit")
    column = RECORD_COLUMNS.index("investment") + 1
    assert reasons[1].startswith(f"{tmp_path / 'records.csv'}:5:{column}: records.1.investment:")
    assert reasons[2].startswith(f"{tmp_path / 'records.csv'}:6:3: records.0:")              # kind: column 3


def test_a_malformed_jsonl_line_is_an_error_row(book: Rulebook, tmp_path: Path) -> None:
    path = tmp_path / "enterprises.jsonl"
    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n{not json\n\n[1, 2]\n", encoding="utf-8")
    summary = run_batch(path, tmp_path / "out", book, AS_OF)
    assert (summary.enterprises_read, summary.assessed, summary.errors) == (3, 1, 2)
    errors = read_csv(tmp_path / "out" / "errors.csv")
    assert [e["row"] for e in errors] == ["2", "4"]
    assert re.search(r"enterprises\.jsonl:2:2: not valid JSON", errors[0]["reason"])
    assert "one object" in errors[1]["reason"]


@pytest.mark.parametrize("path", ["columnar", "rows"])
def test_an_empty_rulebook_assesses_every_enterprise_to_no_award(path: str, book: Rulebook, tmp_path: Path) -> None:
    """The library loads a folder holding no rule file as an empty rulebook (the command line refuses it): a
    batch under it assesses every row, pays nothing and counts each city as having no rule file, on both paths
    (the columnar path's rule table had no column types and the run ended in a polars traceback)."""
    from incentives import load_rulebook

    (tmp_path / "empty").mkdir()
    enterprises = write_register(synthesize("langfang", 60, seed=4, rulebook=book, as_of=AS_OF), tmp_path / "reg")[0]
    summary = run_batch(enterprises, tmp_path / "out", load_rulebook(tmp_path / "empty"), AS_OF, path=path)
    assert (summary.path, summary.enterprises_read, summary.assessed, summary.total.awards, summary.errors) == (
        path, 60, 60, 0, 0)
    assert summary.cities_without_rules == {"langfang": 60}
    assert read_csv(tmp_path / "out" / "awards.csv") == []


def test_layout_problems_stop_before_any_row(book: Rulebook, tmp_path: Path) -> None:
    (tmp_path / "enterprises.csv").write_text("credit_code,name,city,revenue\n", encoding="utf-8")
    (tmp_path / "records.csv").write_text("credit_code,record_id,kind,date\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"enterprises\.csv:1:4: unknown column 'revenue' in the enterprises table"):
        run_batch(tmp_path / "enterprises.csv", tmp_path / "out", book, AS_OF)
    (tmp_path / "list.csv").write_text("credit_code,name,city\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"list\.csv: cannot tell where the records are"):
        run_batch(tmp_path / "list.csv", tmp_path / "out", book, AS_OF)
    with pytest.raises(SourceError, match=r"unknown table format '\.txt'"):
        run_batch(tmp_path / "enterprises.txt", tmp_path / "out", book, AS_OF)


def test_the_command_runs_a_batch(population: dict[str, Any], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="incentives")
    register(parser.add_subparsers())
    (enterprises, _), expected = population["runs"]["parquet"]
    args = parser.parse_args(["batch", str(enterprises), "-o", str(tmp_path), "--as-of", "2026-06-30",
                              "--chunk-size", "700", "--format", "csv"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert f"{N:,} enterprises read, {N:,} assessed" in out and "enterprises/s" in out
    assert f"{expected.total.amount:,.2f} yuan determined" in out          # with separators, never 1133932641.76
    assert f"columnar path: {N:,} enterprises in frames, 0 one at a time" in out and N >= 1000
    assert json.loads((tmp_path / "summary.json").read_text("utf-8"))["total"] == expected.total.as_dict()
    assert (tmp_path / "awards.csv").is_file()
    with pytest.raises(SystemExit):
        parser.parse_args(["batch", str(enterprises), "-o", str(tmp_path), "--workers", "0"])



# Yearly figures in a register: one enterprises column per figure and year (revenue_2025), as in the
# illustrative province: 上年度研发投入占营业收入比例不低于3%…按其上年度研发投入分段累进给予补助.
PROVINCE = Path(__file__).parents[1] / "docs" / "examples" / "province-county" / "province.yaml"
YEARLY_ENTERPRISES = """\
credit_code,name,city,revenue_2025,rd_spend_2025,employees_2025
91131024MA0CTX8K46,甲研发,langfang,1亿元,800万元,85
91131024MA0CTX8L22,乙研发,langfang,,,
91131024MA0CTX8M0X,丙研发,langfang,1亿元,100万元,40
91131024MA0CTX8N8Q,丁研发,langfang,lots,80万元,-3
"""
YEARLY_RECORDS = """\
credit_code,record_id,kind,date,title,level,amount
91131024MA0CTX8K46,s,recognition,2025-05-01,specialized_sme,provincial,
91131024MA0CTX8K46,rd,rd_investment,2026-03-01,,,800万元
91131024MA0CTX8L22,s,recognition,2025-05-01,specialized_sme,provincial,
91131024MA0CTX8L22,rd,rd_investment,2026-03-01,,,800万元
91131024MA0CTX8M0X,s,recognition,2025-05-01,specialized_sme,provincial,
91131024MA0CTX8M0X,rd,rd_investment,2026-03-01,,,100万元
"""


@pytest.mark.parametrize("path", ["rows", "columnar"])
def test_yearly_figures_are_columns_of_the_enterprises_table(tmp_path: Path, path: str) -> None:
    from incentives.facts import credit_code_check_digit

    text = YEARLY_ENTERPRISES
    for line in text.splitlines()[1:]:      # give each code its check digit
        code = line.split(",")[0]
        text = text.replace(code, code[:17] + credit_code_check_digit(code[:17]))
    records = YEARLY_RECORDS
    for line in YEARLY_ENTERPRISES.splitlines()[1:]:
        code = line.split(",")[0]
        records = records.replace(code, code[:17] + credit_code_check_digit(code[:17]))
    (tmp_path / "enterprises.csv").write_text(text, "utf-8")
    (tmp_path / "records.csv").write_text(records, "utf-8")
    summary = run_batch(tmp_path / "enterprises.csv", tmp_path / "out", PROVINCE, dt.date(2026, 6, 30), path=path)
    assert (summary.enterprises_read, summary.assessed, summary.bad_enterprises) == (4, 3, 1)
    awards = read_csv(tmp_path / "out" / "awards.csv")
    # 甲: 8% of 1亿元; 500万 × 5% + 300万 × 3% = 25万 + 9万 = 34万元. 乙: no figures, undetermined: no row.
    # 丙: 1% < 3%, not eligible.
    assert [(a["name"], a["rule_id"], a["amount"], a["payer_province"]) for a in awards] == [
        ("甲研发", "exprov.rd.marginal", "340000.00", "340000.00")]
    [error] = read_csv(tmp_path / "out" / "errors.csv")
    assert error["field"] == "yearly.2025.revenue"
    assert error["reason"].startswith(f"{tmp_path / 'enterprises.csv'}:5:4: yearly.2025.revenue: cannot read 'lots'")


def test_a_yearly_column_for_a_figure_the_schema_lacks_is_a_located_layout_error(tmp_path: Path) -> None:
    (tmp_path / "enterprises.csv").write_text("credit_code,name,city,profit_2025\n", "utf-8")
    (tmp_path / "records.csv").write_text("credit_code,record_id,kind,date\n", "utf-8")
    with pytest.raises(SourceError) as info:
        run_batch(tmp_path / "enterprises.csv", tmp_path / "out", PROVINCE, dt.date(2026, 6, 30))
    assert str(info.value).startswith(f"{tmp_path / 'enterprises.csv'}:1:4: unknown column 'profit_2025' in the "
                                      "enterprises table; columns: credit_code, name, city")
    assert "yearly figures as <figure>_<year> (revenue_2024, rd_spend_2024" in str(info.value)


def test_a_register_under_province_and_county_files_is_summed_by_level_and_payer(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from incentives.cli import main

    figures = {"2025": {"revenue": "1亿元", "rd_spend": "800万元"}}
    rd = [{"id": "sme", "kind": "recognition", "title": "specialized_sme", "level": "provincial", "date": "2025-06-01"},
          {"id": "rd26", "kind": "rd_investment", "amount": "800万元", "date": "2026-03-31"}]
    project = {"id": "a", "kind": "project", "type": "attracted_investment", "date": "2026-03-01",
               "investment": "8000万元", "completed": True}
    firms = [("91131024MA0CTX8K46", "langfang", "香河县", [*rd, project]),    # province 34万 + county file 145万
             ("91131026MA0CTX8K43", "廊坊", "文安县", [*rd, project]),         # province only
             ("91130981MA0CTX8K4R", "cangzhou", "泊头市", rd),                 # province only
             ("91131024MA0CTX8L21", "langfang", "丰台区", [project]),          # not a Langfang county:
             ("91131024MA0CTX8M0U", "langfang", None, [project])]              # county files left out, counted
    lines = [json.dumps({"enterprise": {"name": "示例企业", "credit_code": code, "city": city, "county": county},
                         "yearly": figures, "records": records}, ensure_ascii=False) for code, city, county, records in firms]
    register = tmp_path / "register.jsonl"
    register.write_text("\n".join(lines) + "\n", "utf-8")
    rules = Path(__file__).resolve().parent.parent / "docs" / "examples" / "province-county"
    assert main(["batch", str(register), "-o", str(tmp_path / "out"), "--rules", str(rules),
                 "--as-of", "2026-12-31"]) == 0
    out = capsys.readouterr().out
    assert "by level: province 3 awards 1,020,000.00 yuan; city 0 awards 0.00 yuan; county 1 award " \
           "1,450,000.00 yuan" in out
    assert "by payer: city 725,000.00 yuan; county 725,000.00 yuan; province 1,020,000.00 yuan" in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert summary["by_level"] == {
        "province": {"awards": 3, "amount": "1020000.00", "amount_max": "1020000.00"},
        "city": {"awards": 0, "amount": "0.00", "amount_max": "0.00"},
        "county": {"awards": 1, "amount": "1450000.00", "amount_max": "1450000.00"}}
    assert {k: v["amount"] for k, v in summary["by_payer"].items()} == {
        "province": "1020000.00", "city": "725000.00", "county": "725000.00"}
    assert summary["cities_without_rules"] == {}
    assert summary["counties_not_covered"] == {"langfang/(unknown)": 1, "langfang/丰台区": 1}
    assert "county files not applied (county absent or not in the divisions table): langfang/(unknown) (1), " \
           "langfang/丰台区 (1)" in out
