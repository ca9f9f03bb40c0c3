"""The columnar path writes what the per-enterprise path writes, byte for byte, and pays what ``award_rows`` pays.

On random rule files (every amount form, limits, caps per window and per year, groups of each kind,
conditions on derived facts, money bounds finer than the fen that the frames do not compile) over
random registers (bad rows, values written another way, duplicate codes), and on the three cities'
synthetic registers, read in blocks small enough that chunks and the merge join cut everywhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, reject, settings
from hypothesis import strategies as st

from incentives import Enterprise, load_rulebook
from incentives._tabular import AwardWriter
from incentives.batch import run_batch
from incentives.columnar import check_digit_ok, money_text
from incentives.engine import award_rows
from incentives.conditions import Op
from incentives import conditions
from incentives import readahead
from incentives.errors import IncentivesError
from incentives.facts import credit_code_check_digit
from incentives.synth import synthesize, write_register

from conftest import credit_code, shared_rulebook
from test_durable import AMOUNTS, VOCABULARY, pick
from test_population import GROUPS, amount, registered, rule_file, rule_spec, unread

AS_OF = dt.date(2026, 6, 30)
OUTPUTS = ("errors.csv", "summary.csv")
FORMATS = ("csv", "parquet", "xlsx", "jsonl")


def small_blocks(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    import incentives.columnar as columnar

    monkeypatch.setattr(columnar, "BLOCK_BYTES", size)
    monkeypatch.setattr(AwardWriter, "ROW_GROUP", 7)   # awards.parquet in row groups cut across chunks


# what only the run itself says: where it wrote, how long it took, which path it took with how many workers
RUN_ONLY = ("output_dir", "seconds", "enterprises_per_second", "path", "workers")


def both_paths(enterprises: Path, out: Path, book: Any, **kw: Any) -> tuple[Any, Any]:
    columnar = run_batch(enterprises, out / "columnar", book, AS_OF, path="columnar", **kw)
    rows = run_batch(enterprises, out / "rows", book, AS_OF, path="rows", **kw)
    assert columnar.path == "columnar" and rows.path == "rows"
    awards = f"awards.{kw.get('output_format') or enterprises.suffix[1:]}"
    for name in (awards, *OUTPUTS):
        assert (out / "columnar" / name).read_bytes() == (out / "rows" / name).read_bytes(), name
    summary = json.loads((out / "columnar" / "summary.json").read_text("utf-8"))["path"]
    assert summary["columnar"] + summary["per_enterprise"] + summary["fallback"] == columnar.enterprises_read
    assert columnar.to_dict()["rows"] == rows.to_dict()["rows"] and columnar.to_dict()["rows"]["balanced"]
    # the whole summary too: by level and payer, counties not covered, cities without rules
    summaries = [json.loads((out / p / "summary.json").read_text("utf-8")) for p in ("columnar", "rows")]
    assert [{k: v for k, v in s.items() if k not in RUN_ONLY} for s in summaries][0] == \
        {k: v for k, v in summaries[1].items() if k not in RUN_ONLY}
    return columnar, rows


def write_loose(items: list[dict[str, Any]], directory: Path, fmt: str) -> Path:
    """A register as ``write_register`` writes it, but a Parquet column whose values do not all fit its type
    (``30万元`` or ``0.004`` among amounts, ``yes`` among flags) is written as text: a wrong type in a Parquet
    column."""
    if fmt == "jsonl":   # and a line that is not JSON where an enterprise says so
        path = write_register(items, directory, fmt)[0]
        lines = path.read_text("utf-8").splitlines(keepends=True)
        bent = [line[:-3] + "\n" if '"not_json"' in line else line for line in lines]
        path.write_text("".join(bent), encoding="utf-8")
        return path
    if fmt != "parquet":
        return write_register(items, directory, fmt)[0]
    import pyarrow as pa
    import pyarrow.parquet as pq

    from incentives._tabular import COLUMN_TYPES, ENTERPRISE_COLUMNS, RECORD_COLUMNS
    from incentives.synth import _rows

    types = {"list": pa.list_(pa.string()), "date": pa.date32(), "bool": pa.bool_(),
             "money": pa.decimal128(38, 2), "rate": pa.decimal128(38, 6)}
    rows = [_rows(i) for i in items]
    directory.mkdir(parents=True, exist_ok=True)
    for name, columns, table in (("enterprises", ENTERPRISE_COLUMNS, [r[0] for r in rows]),
                                 ("records", RECORD_COLUMNS, [rec for r in rows for rec in r[1]])):
        arrays = []
        for n, column in enumerate(columns):
            values = [row[n] for row in table]
            try:
                arrays.append(pa.array([None if v is None else Decimal(str(v)) if types.get(
                    COLUMN_TYPES.get(column, "text")) in (types["money"], types["rate"]) else v for v in values],
                    types.get(COLUMN_TYPES.get(column, "text"), pa.string())))
            except (pa.ArrowInvalid, pa.ArrowTypeError, ArithmeticError, ValueError):
                arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
        pq.write_table(pa.Table.from_arrays(arrays, names=list(columns)), directory / f"{name}.parquet")
    return directory / "enterprises.parquet"


PAYERS = ("province", "city", "county")


def award_keys(path: Path) -> list[tuple[str, ...]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["credit_code"], r["rule_id"], r["record_id"], r["amount"], r["amount_max"],
                 *(r.get(f"payer_{p}", "") for p in PAYERS)) for r in csv.DictReader(f)]


def expected_keys(ents: list[Enterprise], book: Any) -> list[tuple[str, ...]]:
    def text(v: Decimal | None) -> str:
        return "" if v is None else str(v)

    out = []
    for e in ents:
        for r in award_rows(e, book, AS_OF):
            out.append((e.profile.credit_code, r.rule_id, r.record_id, text(r.amount), text(r.amount_max),
                        *(text(r.payers.get(p)) for p in PAYERS)))
    return out


# Amount forms beyond test_population's: brackets with and without tier conditions, a multiplier of
# another rule, a discretionary rate; groups that add on top of a base or share a yearly cap.
brackets = st.tuples(st.sampled_from(AMOUNTS[8:16]), st.sampled_from(AMOUNTS[6:]), pick("10%", "5%"),
                     st.booleans()).map(lambda t: {"brackets": {"of": "record.investment", "tiers": [
                         {"less_than": t[0], "fixed": t[1]},
                         {"at_least": t[0], "rate": t[2], "cap": "300000",
                          **({"when": [{"enterprise.size": {"is_not": "large"}}]} if t[3] else {})}]}})
every_amount = st.one_of(amount, brackets, st.just({"multiplier": "150%", "of_rule": "gen.r0", "cap": "250000"}),
                         st.just({"rate": "20%", "of": "record.investment", "discretionary": True, "cap": "100000"}))
MORE_GROUPS = GROUPS | {"g.add": {"title": "add", "combine": "additional"},
                        "g.achieved": {"title": "achieved", "combine": "additional", "base_needs": "achieved"},
                        "g.nothing": {"title": "nothing", "combine": "additional", "base_needs": "nothing"},
                        "g.cap": {"title": "cap", "combine": "all", "cap": "15000", "cap_per": "year"}}
spec = rule_spec.flatmap(lambda s: st.fixed_dictionaries({
    "amount": every_amount if s["conditions"][0]["kind"] == "project" else st.just(s["amount"]),
    "group": pick(None, "g.high", "g.all", "g.add", "g.achieved", "g.nothing", "g.cap"), "cap_per": pick("window", "year"),
}).map(lambda extra: {**s, **extra}))


def load_random(directory: Path, specs: list[dict[str, Any]]) -> Any:
    import yaml

    path = rule_file(directory, specs)
    data = yaml.safe_load(path.read_text("utf-8"))
    data["groups"] = MORE_GROUPS
    for r, s in zip(data["rules"], specs):
        if s.get("enterprise_cap") is not None:
            r["cap_per"] = s["cap_per"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_rulebook(path, VOCABULARY)


TWISTS = ["", "", "", "", "bad_code", "money_in_wan", "bool_word", "duplicate_code", "unknown_term", "negative",
          "bad_date", "not_json"]


def item(ent: Enterprise, n: int, twist: str) -> dict[str, Any]:
    data = ent.model_dump(by_alias=True, exclude_none=True)
    body = f"91131024MA0CTX{n:03d}"
    data["enterprise"]["credit_code"] = body + credit_code_check_digit(body)
    if twist == "bad_code":
        data["enterprise"]["credit_code"] = body + ("0" if credit_code_check_digit(body) != "0" else "1")
    for r in data["records"]:
        if twist == "money_in_wan" and r.get("investment") is not None:
            r["investment"] = f"{r['investment'] / 10000}万元"
        if twist == "bool_word" and r.get("completed") is not None:
            r["completed"] = "yes" if r["completed"] else "no"
        if twist == "unknown_term" and r.get("kind") == "recognition":
            r["title"] = "cluster_leaders"
        if twist == "negative" and r.get("investment") is not None:
            r["investment"] = -r["investment"] - 1
        if twist == "bad_date":
            r["date"] = "2025-13-45"
    if twist == "not_json":
        data["enterprise"]["note"] = "not_json"   # JSONL: the line is cut short (the other formats leave it out)
    return data


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(specs=st.lists(spec, min_size=1, max_size=6), ents=st.lists(registered(), min_size=1, max_size=8),
       twists=st.lists(st.sampled_from(TWISTS), min_size=8, max_size=8), block=pick(64, 300, 1 << 20),
       fmt=st.sampled_from(FORMATS))
def test_random_rule_files_and_registers_give_the_same_outputs_on_both_paths(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, specs: list[dict[str, Any]],
        ents: list[Enterprise], twists: list[str], block: int, fmt: str) -> None:
    directory = tmp_path_factory.mktemp("columnar")
    try:
        book = load_random(directory, specs)
    except IncentivesError:
        reject()  # e.g. a multiplier of a rule that is not there
    items = [item(e, n, twists[n]) for n, e in enumerate(ents)]
    for n, twist in enumerate(twists[:len(items)]):
        if twist == "duplicate_code" and n:
            items[n]["enterprise"]["credit_code"] = items[n - 1]["enterprise"]["credit_code"]
    enterprises = write_loose(items, directory / "register", fmt)
    small_blocks(monkeypatch, block)
    columnar, _ = both_paths(enterprises, directory / "out", book, output_format="csv")
    assert columnar.enterprises_read == columnar.assessed + columnar.bad_enterprises == len(items)
    clean = [e for n, e in enumerate(ents) if not twists[n]]
    if len(clean) == len(ents):  # nothing bent: the award rows are award_rows' own, and no row left the frames
        fixed = [Enterprise.model_validate(i) for i in items]
        assert award_keys(directory / "out" / "columnar" / "awards.csv") == expected_keys(fixed, book)
    if any(t in ("bad_code", "bad_date") or t == "not_json" and fmt == "jsonl" for t in twists[:len(items)]):
        assert columnar.paths["per_enterprise"] > 0 and columnar.errors > 0
    event(f"{fmt}: fallback rules: {min(len(columnar.fallback_rules), 2)}; per-enterprise rows: "
          f"{min(columnar.paths['per_enterprise'], 2)}")


@settings(max_examples=8)
@given(city=pick("langfang", "cangzhou", "shijiazhuang", "all"), seed=st.integers(min_value=0, max_value=2**32),
       fmt=st.sampled_from(FORMATS), out=pick(None, "csv", "parquet"))
def test_synthetic_registers_give_the_same_outputs_on_both_paths(tmp_path_factory: pytest.TempPathFactory,
                                                                 monkeypatch: pytest.MonkeyPatch, city: str,
                                                                 seed: int, fmt: str, out: str | None) -> None:
    book = shared_rulebook()
    directory = tmp_path_factory.mktemp("synthetic")
    items = list(synthesize(city, 600, seed=seed, rulebook=book, as_of=AS_OF))
    [enterprises, *_] = write_register(items, directory / "register", fmt)
    small_blocks(monkeypatch, 4096)
    columnar, _ = both_paths(enterprises, directory / "out", book, output_format=out)
    # every row passes the column checks, and every rule of the three cities is compiled
    assert columnar.paths["per_enterprise"] == columnar.paths["fallback"] == 0 and columnar.paths["columnar"] == 600
    assert columnar.fallback_rules == []
    if (out or fmt) == "csv":
        ents = [Enterprise.model_validate(i) for i in items]
        assert award_keys(directory / "out" / "columnar" / "awards.csv") == expected_keys(ents, book)


def test_reforms_and_unordered_records_on_the_columnar_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from incentives.reform import load_reform

    from conftest import ROOT

    book = shared_rulebook()
    items = list(synthesize("langfang", 800, seed=5, rulebook=book, as_of=AS_OF))
    [enterprises, records] = write_register(items, tmp_path / "register", "csv")
    reform = load_reform(ROOT / "examples/reforms/langfang-pilot-cap.yaml")[0]
    small_blocks(monkeypatch, 8192)
    columnar, _ = both_paths(enterprises, tmp_path / "reformed", book, reform=reform)
    assert columnar.reform is not None and columnar.reform.total.change != 0
    for name in ("reform.json", "reform_changes.csv"):
        assert (tmp_path / "reformed/columnar" / name).read_bytes() == (tmp_path / "reformed/rows" / name).read_bytes()
    lines = records.read_text("utf-8").splitlines(keepends=True)
    body = lines[1:]
    random.Random(1).shuffle(body)
    records.write_text(lines[0] + "".join(body), encoding="utf-8")
    shuffled, _ = both_paths(enterprises, tmp_path / "shuffled", book)
    assert shuffled.join == "index" and shuffled.total == columnar.total


@pytest.mark.parametrize("block", [300, 1 << 20])
def test_a_csv_header_ending_in_a_comma_is_read_as_an_xlsx_one_on_both_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    """A header ending in commas (as some exports write every line) names no column there, as an xlsx
    header's blank cells do: a row's cells under such names must be empty, a value there is that row's
    located error (its enterprise refused, the others assessed), and the register pays what it pays without
    the commas, the same on both paths."""
    from incentives.cli import main

    book = shared_rulebook()
    items = list(synthesize("langfang", 120, seed=8, rulebook=book, as_of=AS_OF))
    [enterprises, records] = write_register(items, tmp_path / "plain", "csv")
    small_blocks(monkeypatch, block)
    plain, _ = both_paths(enterprises, tmp_path / "plain-out", book)
    ents = enterprises.read_text("utf-8").splitlines()
    recs = records.read_text("utf-8").splitlines()
    ents = [line + "," for line in ents]
    recs = [recs[0] + ",,", *(line + ",," for line in recs[1:])]   # two names the header leaves empty
    ents[5] = ents[5] + "oops"                  # line 6: a value under the empty name
    ents[9] = ents[9][:-1]                      # line 10: no trailing comma, as a hand-edited line may be
    cells = ents[12].split(",")
    ents[12] = ",".join([cells[0], f'"{cells[1]}"', *cells[2:]])   # line 13: a quoted name, then the comma
    bad_code = ents[5].split(",")[0]
    at = next(n for n, line in enumerate(recs) if n and not line.startswith(bad_code + ","))
    recs[at] = recs[at][:-1] + " x "            # a value under the first empty name, the second's cell left out
    other = recs[at].split(",")[0]
    folder = tmp_path / "trailing"
    folder.mkdir()
    (folder / "enterprises.csv").write_text("\n".join(ents) + "\n", encoding="utf-8")
    (folder / "records.csv").write_text("\n".join(recs) + "\n", encoding="utf-8")
    columnar, rows = both_paths(folder / "enterprises.csv", tmp_path / "trailing-out", book)
    assert (columnar.enterprises_read, columnar.assessed, columnar.bad_enterprises) == (120, 118, 2)
    named = recs[0].count(",") - 1
    with open(tmp_path / "trailing-out" / "columnar" / "errors.csv", newline="", encoding="utf-8") as f:
        errors = [(e["source"], e["row"], e["credit_code"], e["reason"]) for e in csv.DictReader(f)]
    ent_path, rec_path = folder / "enterprises.csv", folder / "records.csv"
    reasons = {
        bad_code: (str(ent_path), "5", bad_code,
                   f"{ent_path}:6:8: a value where the header names no column: 'oops'"),
        other: (str(rec_path), next(e[1] for e in errors if e[2] == other), other,
                f"{rec_path}:{at + 1}:{named + 1}: a value where the header names no column: 'x' (a record of this "
                "enterprise is bad, so the whole enterprise is not assessed)")}
    assert sorted(errors) == sorted(reasons.values())
    with open(tmp_path / "plain-out" / "columnar" / "awards.csv", encoding="utf-8") as f:
        paid = [line for line in f if line.split(",")[0] not in (bad_code, other)]
    with open(tmp_path / "trailing-out" / "columnar" / "awards.csv", encoding="utf-8") as f:
        assert list(f) == paid and plain.total.awards > columnar.total.awards > 0
    assert main(["batch", str(ent_path), "-o", str(tmp_path / "cli"), "--as-of", "2026-06-30"]) == 0


def test_a_csv_with_trailing_commas_is_read_by_polars_into_the_blocks_of_one_without(tmp_path: Path) -> None:
    """The empty names ending a header are read as columns of their own and dropped where they hold nothing:
    the blocks are those of the same table without the commas, read by polars (no row kept as its cells for
    the csv module), and the code scan takes the table as plain too; a value under such a name sends its
    block to the csv module, which locates it."""
    from incentives._tabular import Source
    from incentives.columnar import TableReader, scan_codes

    items = list(synthesize("langfang", 300, seed=9, rulebook=shared_rulebook(), as_of=AS_OF))
    [enterprises, records] = write_register(items, tmp_path / "plain", "csv")
    (tmp_path / "commas").mkdir()
    for table in (enterprises, records):
        (tmp_path / "commas" / table.name).write_bytes(table.read_bytes().replace(b"\r\n", b",\r\n"))

    def blocks(folder: Path) -> tuple[list[pl.DataFrame], Any]:
        source = Source(folder / "enterprises.csv", None)
        assert source.table is not None and source.records is not None
        reader = TableReader(source.table, 4096)
        try:
            return [b.frame for b in reader.blocks()], scan_codes(source.table, source.records, 4096)
        finally:
            reader.close()

    (plain, plain_codes), (commas, comma_codes) = blocks(tmp_path / "plain"), blocks(tmp_path / "commas")
    assert len(commas) > 5 and all(f["_cells"].null_count() == f.height for f in commas)
    assert pl.concat(commas).drop("_bare").equals(pl.concat(plain).drop("_bare"))   # cut into blocks elsewhere
    assert comma_codes is not None and comma_codes.ordered == plain_codes.ordered
    header, rest = (tmp_path / "commas" / "enterprises.csv").read_bytes().split(b"\n", 1)
    (tmp_path / "commas" / "enterprises.csv").write_bytes(header + b"\n" + rest.replace(b",\r\n", b",x\r\n", 20))
    read, _ = blocks(tmp_path / "commas")
    problems = [p for f in read for p in f["_problem"].drop_nulls().to_list()]
    assert len(problems) == 20 and all(p.endswith(": a value where the header names no column: 'x'") for p in problems)


def test_a_line_longer_than_a_block_is_read_whole_after_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader trusts the code scan's plain blocks only while its blocks are the scan's: a line longer
    than a block makes them part ways (the scan cuts it, the reader reads it whole)."""
    book = shared_rulebook()
    items = list(synthesize("langfang", 300, seed=8, rulebook=book, as_of=AS_OF))
    items[40]["enterprise"]["name"] = "廊坊" + "长" * 3000 + "有限公司"   # 9,000 bytes of UTF-8
    [enterprises, _] = write_register(items, tmp_path / "register", "csv")
    small_blocks(monkeypatch, 4096)
    columnar, _ = both_paths(enterprises, tmp_path / "out", book)
    assert columnar.assessed == 300 and columnar.paths["columnar"] + columnar.paths["per_enterprise"] == 300
    assert "长" * 3000 in (tmp_path / "out" / "columnar" / "awards.csv").read_text("utf-8") or not any(
        r.amount for r in award_rows(Enterprise.model_validate(items[40]), book, AS_OF))


def test_check_digits_as_a_column() -> None:
    codes = ["91131024MA0CTX8K46", "91131024MA0CTX8K47", "91130922MA0AGDA454", "911309", "91131024MA0CTX8K4I",
             None, "91131024MA0CTX8K46X", "九1131024MA0CTX8K4", "九1131024MA0CTX8K", "91131024ma0ctx8k46"]
    assert len("九1131024MA0CTX8K".encode()) == 18   # 18 bytes, not 18 allowed characters
    assert check_digit_ok(pl.Series("code", codes)).to_list() == [True, False, True, False, False, False, False,
                                                                   False, False, False]
    assert check_digit_ok(pl.Series("code", [], dtype=pl.String)).to_list() == []
    fen = pl.DataFrame({"fen": [0, 5, 30000050, None, 123456789012]})
    assert fen.select(money_text(pl.col("fen")).alias("text"))["text"].to_list() == [
        "0.00", "0.05", "300000.50", "", "1234567890.12"]


# Each comparison the frames compile, on a column of the type a rule writes it for, by op: (fact, type,
# values, literals); a missing fact is null.
_TEXT = ("record.level", pl.String(), ["national", "provincial", ""])
_MONEY = ("record.investment", pl.Int64(), [0, 499_999_99, 500_000_00])      # fen; the literals are yuan
_DATE = ("record.date", pl.Date(), [dt.date(2025, 9, 11), dt.date(2025, 9, 12)])
_LIST = ("enterprise.clusters", pl.List(pl.String()), [[], ["香河家居"], ["香河家居", "固安"]])
_ORDERED = [(*_MONEY, [Decimal("500000"), Decimal("0.01")]), (*_DATE, [dt.date(2025, 9, 12)])]
COMPARED = {
    Op.IS: [(*_TEXT, ["national"]), ("record.first_time", pl.Boolean(), [True, False], [True, False]), *_ORDERED],
    Op.IS_NOT: [(*_TEXT, ["national"]), *_ORDERED],
    Op.ONE_OF: [(*_TEXT, [("provincial", "city")])],
    Op.AT_LEAST: _ORDERED, Op.MORE_THAN: _ORDERED, Op.AT_MOST: _ORDERED, Op.LESS_THAN: _ORDERED,
    Op.ON_OR_AFTER: _ORDERED, Op.ON_OR_BEFORE: _ORDERED,
    Op.INCLUDES: [(*_LIST, ["香河家居"])], Op.INCLUDES_ANY: [(*_LIST, [("固安", "永清")])],
    Op.NOT_EMPTY: [(*_LIST, [True, False])],
}


@given(st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=10**17)), max_size=50))
def test_money_as_a_column_is_the_text_decimal_prints(fens: list[int | None]) -> None:
    frame = pl.DataFrame({"fen": fens}, schema={"fen": pl.Int64})
    texts = frame.select(money_text(pl.col("fen")).alias("text"))["text"].to_list()
    assert texts == ["" if f is None else str(Decimal(f).scaleb(-2)) for f in fens]


@pytest.mark.parametrize("op", list(Op))
def test_each_compiled_comparison_is_the_engines_and_unknown_where_the_fact_is_missing(op: Op) -> None:
    from incentives.columnar import truth
    from incentives.conditions import _COMPARE

    for fact, dtype, values, literals in COMPARED[op]:
        facts = [Decimal(v) / 100 for v in values] if fact == "record.investment" else values
        for literal in literals:
            test = conditions.Test(fact, op, literal)
            got = pl.DataFrame([pl.Series(fact, [None, *values], dtype=dtype)]).select(truth(test, {fact: dtype}))
            assert got.to_series().to_list() == [None, *(_COMPARE[op](v, literal) for v in facts)], (fact, literal)


ALLOWED = "0123456789ABCDEFGHJKLMNPQRTUWXY"   # GB 32100: no I, O, S, V, Z


@given(st.lists(st.text(alphabet=ALLOWED + "IOSVZa", min_size=17, max_size=17), max_size=30), st.data())
def test_check_digits_as_a_column_agree_with_the_model(stems: list[str], data: st.DataObject) -> None:
    def right(stem: str) -> str | None:
        return credit_code_check_digit(stem) if all(c in ALLOWED for c in stem) else None

    codes = [stem + data.draw(pick(*filter(None, (right(stem), "0", "A", "Y")))) for stem in stems]
    assert check_digit_ok(pl.Series("code", codes, dtype=pl.String)).to_list() == [
        code[17] == right(code[:17]) for code in codes]


def test_one_geographical_indication_is_paid_once_on_both_paths(tmp_path: Path) -> None:
    # 〔2021〕—69 三、（二）5 "对新注册国家地理标志商标或新获得国家地理标志保护产品的，市政府给予一次性奖励 50 万元"
    def gi(id_: str, type_: str, number: str, indication: str | None, day: dt.date) -> dict[str, Any]:
        return {"id": id_, "kind": "trademark", "type": f"geographical_indication_{type_}",
                "registration_number": number, "indication": indication, "date": day}

    body = "91130100MA0CNR4K2"
    items = [{"enterprise": {"name": "赵县某梨业有限公司", "credit_code": body + credit_code_check_digit(body),
                             "city": "shijiazhuang", "county": "赵县"},
              "records": [gi("gt", "trademark", "G1001", "赵州雪花梨", dt.date(2022, 3, 1)),
                          gi("gp", "product", "P2001", "赵州雪花梨", dt.date(2022, 9, 1)),
                          gi("other", "product", "P2002", "赵县鸭梨", dt.date(2023, 4, 1)),
                          gi("bare", "product", "P2003", None, dt.date(2023, 5, 1))]}]
    [enterprises, _] = write_register(items, tmp_path / "register", "csv")
    columnar, _ = both_paths(enterprises, tmp_path / "out", shared_rulebook())
    assert columnar.paths["columnar"] == 1 and columnar.fallback_rules == []
    paid = [(k[2], k[3]) for k in award_keys(tmp_path / "out" / "columnar" / "awards.csv")]
    assert paid == [("gt", "500000.00"), ("other", "500000.00"), ("bare", "500000.00")]


def test_the_benchmark_baseline_pays_what_the_batch_pays(tmp_path: Path) -> None:
    """The hand-written polars of ``make bench`` is only a baseline while its award rows are the batch's."""
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("polars_langfang", ROOT / "benchmarks" / "polars_langfang.py")
    assert spec and spec.loader
    hand = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hand)
    book = shared_rulebook()
    items = list(synthesize("langfang", 3000, seed=7, rulebook=book, as_of=AS_OF))
    [enterprises, records] = write_register(items, tmp_path / "register", "csv")
    run_batch(enterprises, tmp_path / "out", book, AS_OF)
    hand.awards(str(enterprises), str(records), AS_OF).sink_csv(tmp_path / "hand.csv")
    columns = ["credit_code", "rule_id", "record_id", "amount", "payer_city", "payer_county"]
    batch = pl.read_csv(tmp_path / "out" / "awards.csv", infer_schema=False).select(columns).sort(pl.all())
    baseline = pl.read_csv(tmp_path / "hand.csv", infer_schema=False).select(columns).sort(pl.all())
    assert batch.height > 100 and set(batch["rule_id"]) >= {"lf.industrial_internet_platform", "lf.digital_pilot"}
    assert batch.equals(baseline)


def _baseline(name: str) -> Any:
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rare(n: int, city: str, records: list[dict[str, Any]], **profile: Any) -> dict[str, Any]:
    """An enterprise of ``city`` with ``records`` (ids r1, r2... in order), its code made of ``n``."""
    ent = {"name": f"测试企业{n}", "credit_code": credit_code(f"911301{n:02d}MA0CTX8K4"), "city": city, **profile}
    return {"enterprise": ent, "records": [{"id": f"r{i}", **r} for i, r in enumerate(records, 1)]}


def _rec(kind: str, date: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "date": dt.date.fromisoformat(date), **fields}


# What a few thousand synthetic enterprises seldom hold (a passed review, a national design centre, listing
# steps), and the edges of the rules: windows, limits, achievements, rates to the fen, caps, halves.
RARE = [
    _rare(1, "shijiazhuang", [
        _rec("recognition", "2023-05-01", title="specialized_sme", level="provincial", first_time=True,
             review_passed=True),
        _rec("recognition", "2024-05-01", title="specialized_sme", level="provincial", first_time=True,
             review_passed=True),                                                    # paid once
        _rec("recognition", "2022-03-01", title="little_giant", level="national"),
        _rec("recognition", "2021-09-14", title="tech_innovation_demo", level="national"),     # before the window
        _rec("recognition", "2026-01-01", title="tech_innovation_demo", level="provincial"),   # after it
        _rec("recognition", "2025-12-31", title="tech_innovation_demo", level="provincial")],
        clusters=["正定装备"], industries=["new_generation_it"], size="small"),
    _rare(2, "shijiazhuang", [
        _rec("trademark", "2022-01-01", type="geographical_indication_trademark", registration_number="T1",
             indication="赵州雪花梨"),
        _rec("trademark", "2022-02-01", type="geographical_indication_product", registration_number="P1",
             indication="赵州雪花梨"),                                                   # the same indication
        _rec("trademark", "2022-03-01", type="geographical_indication_trademark", registration_number="T9"),
        _rec("trademark", "2022-04-01", type="geographical_indication_trademark", registration_number="T9"),
        _rec("trademark", "2022-05-01", type="geographical_indication_product"),        # its own achievement
        _rec("project", "2023-01-01", type="attracted_investment", investor_rank="china_500", completed=True,
             investor_outside_city=True, investment="300000000"),                       # 1%: the 200万元 cap
        _rec("project", "2023-02-01", type="attracted_investment", investor_rank="industry_top_100", completed=True,
             investor_outside_city=True, investment="12345678.90"),                     # 123456.789 → 123456.79
        _rec("project", "2023-03-01", type="attracted_investment", investor_rank="china_500", completed=True,
             investor_outside_city=False, investment="500000"),
        _rec("project", "2023-04-01", type="tech_retrofit", equipment_purchase="1234.50"),   # 185.175 → 185.18
        _rec("bond", "2023-05-01", amount="1234567.25"),                                 # 24691.345 → 24691.35
        _rec("bond", "2023-06-01", amount="30000000")],
        clusters=["辛集皮革"], industries=["traditional"], size="medium"),
    _rare(3, "shijiazhuang", [_rec("bond", "2023-05-01", amount="1000000"),                 # not an SME
                              _rec("quality_award", "2023-05-01", award="hebei_quality_award", category="organisation"),
                              _rec("quality_award", "2023-06-01", award="hebei_quality_award", category="individual")],
          size="large"),
    _rare(4, "cangzhou", [
        _rec("recognition", "2023-01-01", title="industrial_design_center", level="provincial"),
        _rec("recognition", "2024-01-01", title="industrial_design_center", level="national"),   # 再奖励
        _rec("listing", "2023-01-01", market="a_share", milestone="counselling_filed"),
        _rec("listing", "2023-06-01", market="a_share", milestone="counselling_filed"),
        _rec("listing", "2024-01-01", market="a_share", milestone="application_accepted"),
        _rec("listing", "2023-01-01", market="overseas", milestone="application_accepted"),
        _rec("listing", "2024-01-01", market="overseas", milestone="approved"),
        _rec("trademark", "2023-01-01", type="madrid", fee="400000"),                  # 120000.00
        _rec("trademark", "2023-02-01", type="international_registration", fee="400000"),   # 80000.00: the total
        _rec("trademark", "2023-03-01", type="madrid", fee="400000"),                  # nothing left
        _rec("statistics", "2023-03-01", status="new_above_size"),
        _rec("statistics", "2023-09-01", status="new_above_size"),                      # once a year
        _rec("statistics", "2024-02-01", status="new_above_size"),
        _rec("project", "2026-07-01", type="park_entry")],                              # after as_of
        clusters=["沧县服装"], industries=["textiles_apparel"], size="small"),
    _rare(5, "cangzhou", [_rec("recognition", "2024-01-01", title="industrial_design_center", level="national"),
                          _rec("trademark", "2023-01-01", type="international_registration", fee="100.01")]),
    _rare(6, "langfang", [
        _rec("recognition", "2025-10-01", title="cluster_leader", level="provincial"),
        _rec("recognition", "2026-01-01", title="cluster_leader", level="provincial"),
        _rec("recognition", "2025-09-11", title="cluster_leader", level="municipal"),  # the day before the text
        _rec("recognition", "2025-11-01", title="industrial_internet_platform", level="provincial", scope="industry"),
        _rec("recognition", "2025-12-01", title="industrial_internet_platform", level="provincial", scope="regional"),
        _rec("project", "2026-01-01", type="digital_transformation_pilot", investment="12345.65"),   # 1234.57 in halves
        _rec("project", "2026-02-01", type="digital_transformation_pilot", investment="2500000.05")],
        clusters=["香河家具"], size="small"),
]
def test_a_national_design_centre_is_paid_where_a_provincial_one_was_recognised_by_its_date_on_both_paths(
        tmp_path: Path) -> None:
    # 沧政办规〔2022〕13号 三、(六)3 "认定为国家级工业设计中心的,再奖励200万元": additional to the provincial
    # recognition held at any date up to the national one's (group base_needs: achieved), in the window or not
    def centre(level: str, day: str) -> dict[str, Any]:
        return _rec("recognition", day, title="industrial_design_center", level=level)

    items = [_rare(1, "cangzhou", [centre("provincial", "2021-05-01"), centre("national", "2023-06-10")]),  # before the window
             _rare(2, "cangzhou", [centre("national", "2023-06-10"), centre("provincial", "2023-09-18")]),  # later
             _rare(3, "cangzhou", [centre("provincial", "2023-06-10"), centre("national", "2023-06-10")]),  # the same day
             _rare(4, "cangzhou", [centre("national", "2024-01-01")])]
    [enterprises, _] = write_register([{"enterprise": i["enterprise"], "records": i["records"]} for i in items],
                                      tmp_path / "register", "csv")
    columnar, _ = both_paths(enterprises, tmp_path / "out", shared_rulebook())
    assert columnar.paths["columnar"] == 4 and columnar.fallback_rules == []
    paid = [(k[0][-4:], k[1], k[2], k[3]) for k in award_keys(tmp_path / "out" / "columnar" / "awards.csv")]
    code = [str(i["enterprise"]["credit_code"])[-4:] for i in items]
    assert sorted(paid) == sorted([
        (code[0], "cz.industrial_design.center_national", "r2", "2000000.00"),
        (code[1], "cz.industrial_design.center_provincial", "r2", "1000000.00"),
        (code[2], "cz.industrial_design.center_provincial", "r1", "1000000.00"),
        (code[2], "cz.industrial_design.center_national", "r2", "2000000.00")])


CITIES_COLUMNS = ["credit_code", "rule_id", "record_id", "amount", "payer_city", "payer_county", "status", "amount_max",
                  "payer_province", "payers_unspecified"]


def test_the_benchmark_baseline_of_all_three_cities_pays_what_the_batch_pays(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``make bench`` times the batch on all three cities against polars_cities.py while their award rows are
    equal: on synthetic registers with the rare cases above, every official rule pays rows and the hand-written
    program writes each one (a rule left out of it, or priced otherwise, fails here)."""
    from conftest import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))   # as run, the program imports polars_langfang beside it
    hand = _baseline("polars_cities")
    book = shared_rulebook()
    official = {r.id for loaded in book.files.values() for r in loaded.rules if not r.reported}
    paid: set[str] = set()
    for seed in (1, 2, 3):
        items = [*synthesize("all", 2500, seed=seed, rulebook=book, as_of=AS_OF), *RARE]
        [enterprises, records] = write_register(items, tmp_path / f"register-{seed}", "csv")
        run_batch(enterprises, tmp_path / f"out-{seed}", book, AS_OF)
        hand.awards(str(enterprises), str(records), AS_OF).sink_csv(tmp_path / f"hand-{seed}.csv")
        batch = pl.read_csv(tmp_path / f"out-{seed}" / "awards.csv", infer_schema=False).select(CITIES_COLUMNS)
        baseline = pl.read_csv(tmp_path / f"hand-{seed}.csv", infer_schema=False).select(CITIES_COLUMNS)
        assert batch.sort(pl.all()).equals(baseline.sort(pl.all()))
        paid |= set(batch["rule_id"])
    assert paid == official and len(official) == 57
    rows = {(k[1], k[2]): (k[3], k[7], k[4], k[5]) for k in baseline.filter(
        pl.col("credit_code").is_in([i["enterprise"]["credit_code"] for i in RARE])).iter_rows()}
    assert rows[("lf.digital_pilot", "r6")] == ("1234.57", "1234.57", "617.29", "617.28")
    assert rows[("cz.trademark.international", "r9")] == ("80000.00", "80000.00", None, None)
    assert rows[("sjz.attracted_investment", "r7")] == ("123456.79", "123456.79", None, None)
    assert rows[("sjz.tech_retrofit", "r9")] == (None, "185.18", None, None)
    assert ("cz.industrial_design.center_national", "r2") in rows and ("sjz.trademark.geographical_indication", "r2") \
        not in rows and ("sjz.tech_innovation_demo.provincial", "r6") in rows


# ------------------------------------------------------------------------------------ resuming
def resume_register(directory: Path, join: str) -> Path:
    """600 enterprises of the three cities with a duplicated credit code and a bad row; for ``index``, the
    records shuffled (joined by the index) with three orphan records among them."""
    import random

    book = shared_rulebook()
    items = list(synthesize("all", 600, seed=11, rulebook=book, as_of=AS_OF))
    items[51]["enterprise"]["credit_code"] = items[50]["enterprise"]["credit_code"]
    items[100]["enterprise"]["size"] = "giant"
    [enterprises, records] = write_register(items, directory / join, "csv")
    if join == "index":
        with open(records, newline="", encoding="utf-8") as f:
            head, *body = list(csv.reader(f))
        orphans = [[credit_code(f"91131024MA0CTR{n:03d}"), *row[1:]] for n, row in enumerate(body[:3])]
        body += orphans
        random.Random(3).shuffle(body)
        with open(records, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([head, *body])
    return enterprises


RESUME_BLOCK = 4096     # bytes of enterprises a chunk: about 40 chunks of the 600 enterprises


# the runs resumed: the join of the register, the path, and whether with the Langfang reform
RUNS = {"merge": ("merge", "columnar", False), "index": ("index", "columnar", False),
        "reform": ("index", "columnar", True), "reform-rows": ("merge", "rows", True),
        "jsonl": ("merge", "columnar", False)}   # awards.jsonl


def run_options(run: str) -> dict[str, Any]:
    from incentives.reform import load_reform

    from conftest import ROOT

    _, path, reformed = RUNS[run]
    return {"path": path, "chunk_size": 50 if path == "rows" else 1000, "checkpoint_seconds": 0,
            "output_format": "jsonl" if run == "jsonl" else "csv",
            "reform": load_reform(ROOT / "examples/reforms/langfang-pilot-cap.yaml")[0] if reformed else None}


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, list[str]]]:
    """For each of ``RUNS``: the register, an uninterrupted run's results (a checkpoint after every chunk),
    and the text of every checkpoint it wrote."""
    import incentives.columnar as columnar
    from incentives._output import Checkpoints

    root = tmp_path_factory.mktemp("checkpointed")
    found = {}
    for run, (join, path, reformed) in RUNS.items():
        enterprises = resume_register(root / "registers", join)
        texts: list[str] = []
        save = Checkpoints.save

        def saved(self: Checkpoints, state: dict[str, Any]) -> None:
            save(self, state)
            texts.append(self.path.read_text(encoding="utf-8"))

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(columnar, "BLOCK_BYTES", RESUME_BLOCK)
            patch.setattr(Checkpoints, "save", saved)
            summary = run_batch(enterprises, root / f"whole-{run}", shared_rulebook(), AS_OF, **run_options(run))
        assert summary.join == join and summary.path == path and summary.rows is not None
        assert summary.rows.balanced and summary.bad_enterprises >= 3   # the duplicated pair and the giant
        assert summary.orphan_records == (3 if join == "index" else 0)
        if reformed:
            assert summary.reform is not None and summary.reform.total.change != 0
            assert len((root / f"whole-{run}" / "reform_changes.csv").read_bytes().splitlines()) > 2
        found[run] = (enterprises, root / f"whole-{run}", texts)
    return found


def without_timing(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("seconds", "enterprises_per_second", "output_dir")}


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("run", list(RUNS))
def test_a_run_resumed_after_any_chunk_writes_what_an_uninterrupted_run_writes(
        checkpointed: dict[str, tuple[Path, Path, list[str]]], tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch, run: str, data: st.DataObject) -> None:
    """Killed after any chunk's checkpoint, with any part of the rows written after it on disk (or as it
    published): the resumed run assesses only the chunks after the checkpoint and writes the same files."""
    import json
    import os
    import secrets

    from incentives._output import CHECKPOINT, read_manifest
    from incentives.batch import _Assessor
    from incentives.columnar import Register

    enterprises, whole, texts = checkpointed[run]
    files = list(json.loads(texts[0])["files"])   # awards.csv, errors.csv, and reform_changes.csv with a reform
    outputs = [*files, "summary.csv", *(["reform.json"] if RUNS[run][2] else [])]
    k = data.draw(st.integers(0, len(texts) - 1), label="checkpoint")
    checkpoint = json.loads(texts[k])
    out = tmp_path_factory.mktemp("resumed") / "results"
    partial = out.parent / f".results.partial-{os.getpid()}-{secrets.token_hex(4)}"   # a run of this process, gone
    partial.mkdir()
    for name in files:
        full = (whole / name).read_bytes()
        kept = checkpoint["files"][name]["bytes"]
        (partial / name).write_bytes(full[:data.draw(st.integers(kept, len(full)), label=f"{name} bytes")])
    if data.draw(st.booleans(), label="killed as it published"):
        for name in {"summary.json", "summary.csv", "manifest.json", *outputs} - set(files):
            (partial / name).write_bytes((whole / name).read_bytes())
    (partial / CHECKPOINT).write_text(texts[k], encoding="utf-8")
    assessed = []
    columnar = RUNS[run][1] == "columnar"
    owner, method = (Register, "_chunk") if columnar else (_Assessor, "run")
    chunk = getattr(owner, method)

    def counted(self: Any, *args: Any) -> Any:
        assessed.append(args)
        return chunk(self, *args)

    small_blocks(monkeypatch, RESUME_BLOCK)
    monkeypatch.setattr(owner, method, counted)
    summary = run_batch(enterprises, out, shared_rulebook(), AS_OF, resume=True, **run_options(run))
    done = checkpoint["state"]["chunks"]
    assert len(assessed) == len(texts) - done   # the chunks before the checkpoint were read, not assessed
    for name in outputs:
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    assert without_timing(json.loads((out / "summary.json").read_text("utf-8"))) == without_timing(
        json.loads((whole / "summary.json").read_text("utf-8")))
    manifest, reference = read_manifest(out), read_manifest(whole)
    assert manifest is not None and reference is not None and manifest == summary.manifest
    assert manifest["resumed"] == [{"chunk": done, "at": manifest["resumed"][0]["at"]}]
    assert manifest["started"] == checkpoint["state"]["started"]
    for key in ("inputs", "rows", "rulebook_hash", "as_of"):
        assert manifest[key] == reference[key]
    assert {n: manifest["files"][n] for n in outputs} == {n: reference["files"][n] for n in outputs}
    assert sorted(p.name for p in out.iterdir()) == sorted([*manifest["files"], "manifest.json"])
    assert not list(out.parent.glob(".results.*"))


def test_a_columnar_checkpoint_is_resumed_only_with_the_same_path_and_blocks(
        checkpointed: dict[str, tuple[Path, Path, list[str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from incentives._output import CHECKPOINT
    from incentives.errors import ResumeError

    enterprises, whole, texts = checkpointed["merge"]
    partial = tmp_path / f".results.partial-{os.getpid()}-0a0b0c0d"
    partial.mkdir()
    for name in ("awards.csv", "errors.csv"):
        (partial / name).write_bytes((whole / name).read_bytes())
    (partial / CHECKPOINT).write_text(texts[len(texts) // 2], encoding="utf-8")
    small_blocks(monkeypatch, 2 * RESUME_BLOCK)
    with pytest.raises(ResumeError, match=f"block_bytes is {2 * RESUME_BLOCK} now and was {RESUME_BLOCK} when the run "
                                          "being resumed began"):
        run_batch(enterprises, tmp_path / "results", shared_rulebook(), AS_OF, path="columnar", resume=True)
    with pytest.raises(ResumeError, match="path is 'rows' now and was 'columnar' when the run being resumed began"):
        run_batch(enterprises, tmp_path / "results", shared_rulebook(), AS_OF, path="rows", resume=True)
    with pytest.raises(ResumeError, match=r"reform is '\S+\+reform:[0-9a-f]{16}' now and was None when the run"):
        run_batch(enterprises, tmp_path / "results", shared_rulebook(), AS_OF, path="columnar", resume=True,
                  reform=run_options("reform")["reform"])
    small_blocks(monkeypatch, RESUME_BLOCK)
    summary = run_batch(enterprises, tmp_path / "results", shared_rulebook(), AS_OF, path="columnar", resume=True)
    assert summary.manifest["resumed"][0]["chunk"] == len(texts) // 2 + 1
    for name in OUTPUTS:
        assert (tmp_path / "results" / name).read_bytes() == (whole / name).read_bytes(), name


@given(st.lists(pick(b"a", b",", b"\n", b"\r", b"\r\n", b'"', "名".encode()), min_size=1, max_size=14).map(b"".join),
       st.integers(min_value=1, max_value=4), st.sampled_from([1, 2, 3, 5, readahead._WINDOW]))
def test_a_block_is_plain_exactly_when_its_bytes_say_so(block: bytes, width: int, window: int) -> None:
    """Whatever the window the bytes are looked at through: a pair of bytes across its end is seen."""

    lines = block.count(b"\n") + (not block.endswith(b"\n"))
    expected = (b'"' not in block and block.count(b"\r") == block.count(b"\r\n") and b"\n\n" not in block
                and b"\n\r\n" not in block and not block.startswith((b"\n", b"\r\n"))
                and block.count(b",") == lines * (width - 1))
    default, readahead._WINDOW = readahead._WINDOW, window
    try:
        assert readahead.plain_lines(block, width) == (lines if expected else None)
    finally:
        readahead._WINDOW = default


def test_blocks_made_ahead_come_in_order_with_an_error_where_it_was_raised() -> None:
    import itertools

    from incentives.columnar import _Ahead

    def blocks() -> Any:
        yield 1
        yield 2
        raise ValueError("bad block")

    ahead = _Ahead(blocks())
    assert [next(ahead), next(ahead)] == [1, 2]
    with pytest.raises(ValueError, match="bad block"):
        next(ahead)
    assert next(ahead, None) is None
    ahead.close()
    endless = _Ahead(itertools.count())   # the reading stopped early (an error, a kill): the thread ends too
    assert next(endless) == 0
    endless.close()
    assert not endless.thread.is_alive()


def betrayed_register(directory: Path) -> tuple[Path, Path, Path]:
    """300 Langfang enterprises: clean; with the code of the 4th on the 291st row too (blocks apart); with
    the records reversed (out of the enterprises' order)."""
    book = shared_rulebook()
    items = list(synthesize("langfang", 300, seed=5, rulebook=book, as_of=AS_OF))
    clean = write_register(items, directory / "clean", "csv")[0]
    disordered = write_register(items, directory / "disordered", "csv")
    head, *body = disordered[1].read_bytes().splitlines(keepends=True)
    disordered[1].write_bytes(b"".join([head, *reversed(body)]))
    items[290]["enterprise"]["credit_code"] = items[3]["enterprise"]["credit_code"]
    return clean, write_register(items, directory / "twice", "csv")[0], disordered[0]


def test_codes_taken_on_trust_spare_the_scan_and_a_register_that_betrays_the_trust_is_read_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean register is read once, without the scan; a code on two rows blocks apart (met only at the
    end) or records out of order make the run start again after the scan, writing what the rows path does."""
    import incentives.columnar as columnar

    clean, twice, disordered = betrayed_register(tmp_path / "registers")
    small_blocks(monkeypatch, 2048)
    scans: list[Any] = []
    scan = columnar.scan_codes
    monkeypatch.setattr(columnar, "scan_codes", lambda *a: scans.append(a) or scan(*a))
    summary = run_batch(clean, tmp_path / "clean", shared_rulebook(), AS_OF)
    assert scans == [] and summary.join == "merge" and summary.bad_enterprises == 0
    for register, join, bad in ((twice, "merge", 2), (disordered, "index", 0)):
        before = len(scans)
        columnar_run, _ = both_paths(register, tmp_path / register.parent.name, shared_rulebook())
        assert len(scans) == before + 1 and columnar_run.join == join and columnar_run.bad_enterprises == bad


@given(blocks=st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=40), max_size=12), held=st.integers(1, 64))
def test_code_hashes_held_or_spilled_to_files_find_a_repeated_hash(blocks: list[list[int]], held: int) -> None:
    import numpy as np

    from incentives.columnar import CodeHashes

    every = [h for block in blocks for h in block]
    codes = CodeHashes()
    codes.HELD = held
    for block in blocks:
        codes.add(np.array(block, dtype=np.uint64))
    spilled = codes.folder is not None
    assert spilled == (sum(map(len, blocks)) > held) or not blocks
    folder = Path(codes.folder.name) if codes.folder is not None else None
    assert codes.repeated() == (len(set(every)) < len(every))
    codes.close()
    assert folder is None or not folder.exists()


def test_a_code_on_two_rows_is_found_with_the_hashes_spilled_to_files(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    import incentives._output as _output
    import incentives.columnar as columnar

    clean, twice, _ = betrayed_register(tmp_path / "registers")
    small_blocks(monkeypatch, 2048)
    monkeypatch.setattr(columnar.CodeHashes, "HELD", 50)
    folders: list[Path] = []
    make = tempfile.TemporaryDirectory
    monkeypatch.setattr(_output.tempfile, "TemporaryDirectory",
                        lambda **kw: folders.append(Path((d := make(**kw)).name)) or d)
    scans: list[Any] = []
    scan = columnar.scan_codes
    monkeypatch.setattr(columnar, "scan_codes", lambda *a: scans.append(a) or scan(*a))
    assert run_batch(clean, tmp_path / "clean", shared_rulebook(), AS_OF).bad_enterprises == 0 and scans == []
    columnar_run, _ = both_paths(twice, tmp_path / "twice", shared_rulebook())
    assert len(scans) == 1 and columnar_run.bad_enterprises == 2
    assert folders and not any(f.exists() for f in folders)


def test_a_run_resumed_from_a_checkpoint_written_on_misplaced_trust_starts_anew(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed before it met the duplicated code left a checkpoint written on trust: resumed, it goes
    on on trust, meets the code, and starts anew after the scan, writing what an uninterrupted run writes."""
    import os
    import secrets
    import shutil

    from incentives._output import Checkpoints, read_manifest

    _, twice, _ = betrayed_register(tmp_path / "registers")
    small_blocks(monkeypatch, 2048)
    kept: list[Path] = []
    save = Checkpoints.save

    def saved(self: Checkpoints, state: dict[str, Any]) -> None:
        save(self, state)
        if state.get("trusted") and state["chunks"] == 3 and not kept:
            kept.append(Path(shutil.copytree(self.folder, tmp_path / "killed")))

    monkeypatch.setattr(Checkpoints, "save", saved)
    run_batch(twice, tmp_path / "whole", shared_rulebook(), AS_OF, checkpoint_seconds=0)
    assert kept, "the run wrote a checkpoint on trust before it met the duplicated code"
    out = tmp_path / "results"
    shutil.copytree(kept[0], out.parent / f".results.partial-{os.getpid()}-{secrets.token_hex(4)}")
    summary = run_batch(twice, out, shared_rulebook(), AS_OF, checkpoint_seconds=0, resume=True)
    assert summary.bad_enterprises == 2 and "resumed" not in read_manifest(out)
    for name in ("awards.csv", "errors.csv", "summary.csv"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_every_character_polars_strips_is_one_a_bare_block_cannot_hold() -> None:
    """``spaced`` finds every character ``strip_chars`` removes, but the line end (a plain block holds a
    carriage return only before a newline, which polars drops)."""
    from incentives.readahead import spaced

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    stripped = pl.Series(chars).str.strip_chars()
    removed = [c for c, s in zip(chars, stripped.to_list()) if s == ""]
    assert " " in removed and "\u3000" in removed
    assert [c for c in removed if c not in "\r\n" and not spaced(f"名{c}名".encode())] == []
    assert not spaced("廊坊市、（香河）-_.;,".encode())


@pytest.mark.parametrize("space", [" ", "\t", "\u3000", "\u00a0", "\u2003"])
def test_a_block_with_white_space_is_stripped_and_one_without_is_read_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, space: str) -> None:
    """Cells with white space around them in some blocks only (the others read as they are): the same rows."""
    book = shared_rulebook()
    items = list(synthesize("langfang", 120, seed=8, rulebook=book, as_of=AS_OF))
    having = [item for item in items if item["records"]]
    padded = having[::3]
    for item in padded:
        profile = item["enterprise"]
        profile["name"] = f"{space}{profile['name']}{space}"   # shown on its award rows
        profile["city"] = f"{profile['city']}{space}"
    for item in having[1::3]:
        for record in item["records"]:
            record["kind"] = f"{space}{record['kind']}"
    [enterprises, _] = write_register(items, tmp_path / "register", "csv")
    small_blocks(monkeypatch, 1024)
    columnar_run, _ = both_paths(enterprises, tmp_path / "out", book)
    assert columnar_run.bad_enterprises == 0 and columnar_run.total.awards > 0
    names = {row["name"] for row in csv.DictReader(open(tmp_path / "out/columnar/awards.csv", encoding="utf-8"))}
    assert {item["enterprise"]["name"].strip() for item in padded} & names


def test_records_found_out_of_order_after_the_scan_stop_the_run_with_a_located_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    import incentives.columnar as columnar
    from incentives.errors import SourceError

    book = shared_rulebook()
    items = list(synthesize("langfang", 400, seed=9, rulebook=book, as_of=AS_OF))
    [enterprises, records] = write_register(items, tmp_path / "register", "csv")
    lines = records.read_text("utf-8").splitlines(keepends=True)
    body = lines[1:]
    random.Random(2).shuffle(body)
    records.write_text(lines[0] + "".join(body), encoding="utf-8")   # as if changed after the scan found it ordered
    monkeypatch.setattr(columnar, "scan_codes", lambda ents, recs: columnar.Codes(True, {}, 0))
    with pytest.raises(SourceError, match="not grouped in the enterprises' order") as caught:
        run_batch(enterprises, tmp_path / "out", book, AS_OF)
    assert str(caught.value).startswith(str(records)) and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- province, city and county files
# Files named so that they load county first: the engine's order (province, city, county) is not the files'.
LEVELS = (("3-province", "province", "hebei", "hb"), ("2-city", "city", "langfang", "lf"),
          ("1-county", "county", "xianghe", "xh"))
# Where the enterprises are: 香河县 by id, full and short names (all three files); another county of the
# city (province and city files); no county and a county the city lacks (county file left out, counted);
# another city of the province (province file only); a city no file covers.
PLACES = (("langfang", "香河县"), ("廊坊市", "xianghe"), ("廊坊", "香河"), ("langfang", "文安县"), ("langfang", None),
          ("langfang", "丰台区"), ("cangzhou", "泊头市"), ("北京", None))
COMPILED = ("fixed", "up_to", "unquantified", "rate", "matching", "brackets", "multiplier")


def in_fen(value: Any) -> bool:
    """Whether no number written in ``value`` is finer than the fen (the frames compare money in fen)."""
    if isinstance(value, dict):
        return all(map(in_fen, value.values()))
    if isinstance(value, (list, tuple)):
        return all(map(in_fen, value))
    if isinstance(value, str) and re.fullmatch(r"\d+\.\d*", value):
        value = Decimal(value)
    return not isinstance(value, Decimal) or (value * 100) % 1 == 0


# rules the frames compile, every one: amounts over a column, one cap at most, bounds in whole fen, shares
# of few digits (1:2 is 1/3 written to 28 places)
compiled_amount = every_amount.filter(lambda a: next(iter(a)) in COMPILED and "at_most" not in a and in_fen(a)
                                      and a.get("of", "record.investment") == "record.investment")
compiled_spec = spec.filter(lambda s: in_fen(s["conditions"])).flatmap(lambda s: st.fixed_dictionaries({
    "amount": compiled_amount if s["conditions"][0]["kind"] == "project" else unread}).map(lambda extra: {
        **s, **extra, "enterprise_cap": None if s["group"] == "g.cap" else s["enterprise_cap"],
        "payers": {"city": "50%", "county": "50%"} if s["payers"] == {"city": "1/3"} else s["payers"]}))


def level_file(directory: Path, name: str, level: str, place: str, prefix: str, specs: list[dict[str, Any]]) -> None:
    """``rule_file``'s rules as the file of a place: ids, groups and multipliers its own, a province's
    rules paid by the province where a city's are paid by the city."""
    import yaml

    scratch = directory / f"_{name}"
    scratch.mkdir()
    data = yaml.safe_load(rule_file(scratch, specs).read_text("utf-8"))
    del data["city"]
    data = {"jurisdiction": {"level": level, "place": place}, **data,
            "groups": {f"{prefix}.{g}": v for g, v in MORE_GROUPS.items()}}
    for r, s in zip(data["rules"], specs):
        r["id"] = r["id"].replace("gen.", f"{prefix}.")
        if "group" in r:
            r["group"] = f"{prefix}.{r['group']}"
        if "of_rule" in r["amount"]:
            r["amount"]["of_rule"] = r["amount"]["of_rule"].replace("gen.", f"{prefix}.")
        if s.get("enterprise_cap") is not None:
            r["cap_per"] = s["cap_per"]
        if level == "province" and isinstance(r["payers"], dict):
            payers = r["payers"]
            r["payers"] = ({**payers, "to": ["province" if p == "city" else p for p in payers["to"]]} if "to" in payers
                           else {("province" if p == "city" else p): v for p, v in payers.items()})
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(compiled=st.booleans(), data=st.data(), ents=st.lists(registered(), min_size=1, max_size=10),
       places=st.lists(st.sampled_from(PLACES), min_size=10, max_size=10),
       twists=st.lists(st.sampled_from(TWISTS), min_size=10, max_size=10), block=pick(64, 300, 1 << 20))
def test_province_city_and_county_files_give_the_same_outputs_on_both_paths(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, compiled: bool, data: st.DataObject,
        ents: list[Enterprise], places: list[tuple[str, str | None]], twists: list[str], block: int) -> None:
    directory = tmp_path_factory.mktemp("levels")
    for name, level, place, prefix in LEVELS:
        specs = data.draw(st.lists(compiled_spec if compiled else spec, min_size=1, max_size=4), label=name)
        level_file(directory, name, level, place, prefix, specs)
    try:
        book = load_rulebook(directory, VOCABULARY)
    except IncentivesError:
        reject()  # e.g. a multiplier of a rule that is not there
    assert [f.model.level for f in book.files.values()] == ["county", "city", "province"]
    items = [item(e, n, twists[n]) for n, e in enumerate(ents)]
    for n, (city, county) in enumerate(places[:len(items)]):
        items[n]["enterprise"]["city"] = city
        items[n]["enterprise"].pop("county", None)
        if county is not None:
            items[n]["enterprise"]["county"] = county
        if twists[n] == "duplicate_code" and n:
            items[n]["enterprise"]["credit_code"] = items[n - 1]["enterprise"]["credit_code"]
    [enterprises, _] = write_register(items, directory / "register", "csv")
    small_blocks(monkeypatch, block)
    columnar, rows = both_paths(enterprises, directory / "out", book)
    assert columnar.counties_not_covered == rows.counties_not_covered
    assert columnar.cities_without_rules == rows.cities_without_rules
    clean = not any(twists[:len(items)])
    if clean:  # the award rows are award_rows' own, the files each enterprise's path holds
        fixed = [Enterprise.model_validate(i) for i in items]
        assert award_keys(directory / "out" / "columnar" / "awards.csv") == expected_keys(fixed, book)
    if compiled:  # every rule of every level compiled: no enterprise left the frames but for its rows
        assert columnar.fallback_rules == [] and columnar.paths["fallback"] == 0
        if clean:  # and only those with a sum finer than the fen, which the column checks leave to the other path
            plain = sum(in_fen(i["records"]) for i in items)
            assert columnar.paths == {"columnar": plain, "per_enterprise": len(items) - plain, "fallback": 0}
    paid = {level for level, total in columnar.by_level.items() if total.awards}
    event(f"compiled: {compiled}; levels paid: {sorted(paid)}; fallback rules: {min(len(columnar.fallback_rules), 1)}; "
          f"not covered: {bool(columnar.counties_not_covered)}")


def test_the_example_province_and_county_files_with_the_three_cities_on_both_paths(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped city files with docs/examples/province-county's files as Hebei's and 香河县's, over a
    synthetic register of the three cities and the enterprises of tests/test_batch.py's levels register."""
    import shutil

    from conftest import ROOT

    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copytree(ROOT / "sources", tmp_path / "sources")   # the quotes are checked against them
    for name in ("langfang", "cangzhou", "shijiazhuang", "vocabulary", "facts", "divisions"):
        shutil.copy(ROOT / "rules" / f"{name}.yaml", rules)
    for name in ("province", "county"):
        shutil.copy(ROOT / "docs/examples/province-county" / f"{name}.yaml", rules / f"example-{name}.yaml")
    book = load_rulebook(rules)
    assert {k: f.model.level for k, f in book.files.items() if f.rules}["xianghe"] == "county"
    items = list(synthesize("all", 1500, seed=11, rulebook=book, as_of=AS_OF))
    rd = [{"id": "sme", "kind": "recognition", "title": "specialized_sme", "level": "provincial", "date": "2025-06-01"},
          {"id": "rd26", "kind": "rd_investment", "amount": "8000000", "date": "2026-03-31"}]
    project = {"id": "a", "kind": "project", "type": "attracted_investment", "date": "2026-03-01",
               "investment": "80000000", "completed": True}
    firms = [("91131024MA0CTX8K46", "langfang", "香河县", [*rd, project]), ("91131026MA0CTX8K43", "廊坊", "文安县", [*rd, project]),
             ("91130981MA0CTX8K4R", "cangzhou", "泊头市", rd), ("91131024MA0CTX8L21", "langfang", "丰台区", [project]),
             ("91131024MA0CTX8M0U", "langfang", None, [project])]
    firm_items = [{"enterprise": {"name": "示例企业", "credit_code": code, "city": city,
                                  **({"county": county} if county else {})}, "records": records}
                  for code, city, county, records in firms]
    [enterprises, records] = write_register(items, tmp_path / "register", "csv")
    [more, more_records] = write_register(firm_items, tmp_path / "firms", "csv")
    # the firms after the synthetic enterprises, with their yearly figures (R&D ratio 8%) in yearly columns
    head, *body = enterprises.read_text("utf-8").splitlines()
    firm_rows = more.read_text("utf-8").splitlines()[1:]
    enterprises.write_text("\n".join([head + ",revenue_2025,rd_spend_2025", *(row + ",," for row in body),
                                      *(row + ",100000000,8000000" for row in firm_rows)]) + "\n", "utf-8")
    with open(records, "a", encoding="utf-8") as f:
        f.write("".join(more_records.read_text("utf-8").splitlines(keepends=True)[1:]))
    small_blocks(monkeypatch, 16384)
    columnar, _ = both_paths(enterprises, tmp_path / "out", book)
    assert columnar.join == "merge" and columnar.enterprises_read == columnar.assessed == 1505
    # the example files' rules read yearly figures, other records and progressive bands: not compiled, their
    # enterprises (those with a record such a rule could reward, in Hebei or in 香河县) take the other path
    assert set(columnar.fallback_rules) == {"exprov.rd.marginal", "exprov.shared_factory", "excounty.investment",
                                            "excounty.first_retrofit"}
    # only the enterprises with a record such a rule might reward (its conditions true or unknown) go there:
    # 12 of 1,505 here, where every enterprise with a record of the rule's kind (144) went before
    assert columnar.paths["columnar"] > 1400 and 0 < columnar.paths["fallback"] <= 20
    assert columnar.by_level["county"].amount >= Decimal("1450000.00")
    assert columnar.by_level["province"].amount >= Decimal("1020000.00")
    assert columnar.counties_not_covered["langfang/丰台区"] == 1
    ents = [Enterprise.model_validate(i) for i in items] + [
        Enterprise.model_validate({**i, "yearly": {2025: {"revenue": "100000000", "rd_spend": "8000000"}}})
        for i in firm_items]
    assert award_keys(tmp_path / "out" / "columnar" / "awards.csv") == expected_keys(ents, book)
