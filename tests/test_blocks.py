"""Parquet and xlsx registers go through the columnar path and write what the per-enterprise path writes.

A cell the frames cannot read as its text says (a list item holding ``;``, a float in a text column) takes
its enterprise to the per-enterprise path; types the frames read as text (decimals, dates, booleans, lists,
integers, floats in money columns) stay in the frames; wrong types cost their row only.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from incentives._blocks import parquet_frame, xlsx_text
from incentives.batch import run_batch
from incentives.synth import synthesize, write_register

from conftest import ROOT, shared_rulebook
from test_columnar import AS_OF, both_paths, small_blocks


def test_parquet_cells_become_the_text_the_column_checks_read() -> None:
    frame = pl.from_arrow(pa.table({
        "investment": pa.array([Decimal("300000.50"), None, Decimal("-1.00")], pa.decimal128(38, 2)),
        "equipment_purchase": pa.array([5.0, 0.1, 1e16]),
        "date": pa.array([dt.date(2025, 9, 12), None, dt.date(999, 1, 2)]),
        "completed": pa.array([True, False, None]),
        "clusters": pa.array([["香河智慧家居", " "], [], ["a;b"]], pa.list_(pa.string())),
        "county": pa.array([1, None, 3]),
        "name": pa.array([1.5, None, None]),
    }))
    assert isinstance(frame, pl.DataFrame)
    block = parquet_frame(frame, 10)
    assert block.select("investment", "equipment_purchase", "date", "completed", "clusters", "county").rows() == [
        ("300000.50", "5.0", "2025-09-12", "true", "香河智慧家居; ", "1"),
        (None, "0.1", None, "false", ";", None),      # an empty list is known and empty: ";"
        ("-1.00", "1e+16", "0999-01-02", None, "a;b", "3")]
    # a float in a text column, a list item holding ";", a float of more digits than money holds: not faithful
    assert block["_ragged"].to_list() == [True, False, True]
    assert block["_number"].to_list() == block["_line"].to_list() == [11, 12, 13]
    assert block["_typed"][0]["investment"] == Decimal("300000.50") and block["_typed"][1]["clusters"] == []


def test_xlsx_cells_become_the_text_the_column_checks_read() -> None:
    assert xlsx_text("investment", 300000.5) == ("300000.5", True)
    assert xlsx_text("date", dt.datetime(2025, 9, 12, 0, 0)) == ("2025-09-12", True)
    assert xlsx_text("completed", True) == ("true", True)
    assert xlsx_text("county", 5.0) == ("5", True)          # a number in a text column: as the rows path reads it
    assert xlsx_text("clusters", ";") == (";", True)
    assert xlsx_text("clusters", " a ; b ") == ("a;b", True)
    assert xlsx_text("name", "  ") == (None, True)


def retyped(path: Path, **columns: Any) -> None:
    """Rewrite a Parquet table with some columns replaced (a function of the old column, or an array)."""
    table = pq.read_table(path)
    for name, make in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, make(table[name]))
    pq.write_table(table, path, row_group_size=17)


def test_parquet_columns_of_other_types_and_wrong_types_cost_only_their_rows(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    book = shared_rulebook()
    items = list(synthesize("langfang", 150, seed=11, rulebook=book, as_of=AS_OF))
    enterprises, records = write_register(items, tmp_path / "register", "parquet")
    n = pq.read_metadata(records).num_rows

    def investments(old: Any) -> Any:   # text, one of them not a number and one negative: a wrong type
        values = [None if v is None else str(v) for v in old.to_pylist()]
        at = [i for i, v in enumerate(values) if v is not None]
        values[at[0]], values[at[1]] = "abc", "-5.00"
        return pa.array(values, pa.string())

    retyped(records, investment=investments,
            completed=lambda old: pa.array([None if v is None else int(v) for v in old.to_pylist()], pa.int64()),
            equipment_purchase=lambda old: pa.array([None if v is None else float(v) for v in old.to_pylist()]),
            date=lambda old: pa.array([dt.datetime.combine(v, dt.time()) for v in old.to_pylist()],
                                      pa.timestamp("us")))
    retyped(enterprises, county=lambda old: old.dictionary_encode(),
            clusters=lambda old: pa.array([["a;b"] if i == 3 else v for i, v in enumerate(old.to_pylist())],
                                          pa.list_(pa.string())))
    small_blocks(monkeypatch, 2000)
    columnar, rows = both_paths(enterprises, tmp_path / "out", book)
    assert columnar.records_read == n and columnar.bad_enterprises == 2
    errors = (tmp_path / "out/columnar/errors.csv").read_text("utf-8")
    assert "cannot read 'abc' as money" in errors and "cannot read '-5.00' as money" in errors
    # 1 and 0 for flags, and the list item holding ";", are read one enterprise at a time; the rest in frames
    assert 3 < columnar.paths["per_enterprise"] < 150 and columnar.paths["columnar"] > 50


def test_xlsx_rows_with_a_bad_date_cost_only_their_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openpyxl

    book = shared_rulebook()
    items = list(synthesize("cangzhou", 120, seed=2, rulebook=book, as_of=AS_OF))
    [register] = write_register(items, tmp_path / "register", "xlsx")
    workbook = openpyxl.load_workbook(register)
    sheet = workbook["records"]
    date = [c.value for c in sheet[1]].index("date") + 1
    sheet.cell(2, date, "2025-02-30")
    sheet.cell(3, date, 45000.5)
    sheet.cell(4, date, dt.datetime(2025, 3, 1, 8, 30))   # a time of day in a date column: its date
    workbook.save(register)
    small_blocks(monkeypatch, 3000)
    columnar, _ = both_paths(register, tmp_path / "out", book, output_format="xlsx")
    assert columnar.bad_enterprises >= 1 and columnar.paths["per_enterprise"] >= 1
    assert f"{register}[records]:2:{date}" in (tmp_path / "out/columnar/errors.csv").read_text("utf-8")


@pytest.mark.parametrize("fmt", ["parquet", "xlsx", "jsonl"])
def test_reforms_on_parquet_xlsx_and_jsonl_registers_on_the_columnar_path(tmp_path: Path, fmt: str) -> None:
    from incentives.reform import load_reform

    book = shared_rulebook()
    items = list(synthesize("langfang", 300, seed=5, rulebook=book, as_of=AS_OF))
    [enterprises, *_] = write_register(items, tmp_path / "register", fmt)
    reform = load_reform(ROOT / "examples/reforms/langfang-pilot-cap.yaml")[0]
    columnar, _ = both_paths(enterprises, tmp_path / "out", book, reform=reform)
    assert columnar.reform is not None and columnar.reform.total.change != 0
    assert columnar.paths["columnar"] == 300
    for name in ("reform.json", "reform_changes.csv"):
        assert (tmp_path / "out/columnar" / name).read_bytes() == (tmp_path / "out/rows" / name).read_bytes()


def test_parquet_duplicates_and_orphans_as_the_rows_path_reports_them(tmp_path: Path) -> None:
    book = shared_rulebook()
    items = list(synthesize("shijiazhuang", 80, seed=4, rulebook=book, as_of=AS_OF))
    items[5]["enterprise"]["credit_code"] = items[9]["enterprise"]["credit_code"]
    enterprises, records = write_register(items, tmp_path / "register", "parquet")
    table = pq.read_table(records)
    codes = table["credit_code"].to_pylist()
    codes[0] = "91130100MA0CNR4K2X"   # no enterprise has it: an orphan, and the records are no longer in order
    pq.write_table(table.set_column(0, "credit_code", pa.array(codes)), records)
    columnar, _ = both_paths(enterprises, tmp_path / "out", book)
    assert columnar.orphan_records == 1 and columnar.join == "index"
    summary = json.loads((tmp_path / "out/columnar/summary.json").read_text("utf-8"))
    assert summary["rows"]["orphan_records"] == 1 and summary["counts"]["bad_enterprises"] >= 2
    errors = (tmp_path / "out/columnar/errors.csv").read_text("utf-8")
    assert errors.count("is on 2 rows") == 2 and "no enterprise with credit code '91130100MA0CNR4K2X'" in errors


def test_a_parquet_register_is_assessed_in_frames_by_default(tmp_path: Path) -> None:
    book = shared_rulebook()
    items = list(synthesize("all", 200, seed=8, rulebook=book, as_of=AS_OF))
    [enterprises, _] = write_register(items, tmp_path / "register", "parquet")
    summary = run_batch(enterprises, tmp_path / "out", book, AS_OF)
    assert summary.path == "columnar" and summary.paths == {"columnar": 200, "per_enterprise": 0, "fallback": 0}


def test_jsonl_lines_the_frames_cannot_read_as_written_go_one_at_a_time(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    book = shared_rulebook()
    items = list(synthesize("langfang", 60, seed=3, rulebook=book, as_of=AS_OF))
    [path] = write_register(items, tmp_path / "register", "jsonl")
    lines = path.read_text("utf-8").splitlines()
    with_money = [n for n, i in enumerate(items) if any(r.get("investment") is not None for r in i["records"])]

    def bent(n: int, old: str, new: str) -> None:
        assert old in lines[n], (old, lines[n])
        lines[n] = lines[n].replace(old, new, 1)

    odd = {   # each line the frames must leave to the per-enterprise path, and how it is bent
        1: ('"enterprise": {', '"enterprise": {"county": null, '),                 # a key given as null
        2: ('"enterprise": {', '"enterprise": {"name": "另一家", '),               # a key given twice
        3: ('"enterprise": {', '"enterprise": {"founded": "2001", '),              # a key the profile has not
        4: ('"enterprise": {', '"enterprise": {"county": 5, '),                   # a number for a text
        5: ('"enterprise": {', '"enterprise": {"county": "", '),                  # an empty text, not an absent one
        6: ('"records": [', '"yearly": {"2024": {"revenue": "3000万元"}}, "records": ['),   # yearly figures
        7: ('"enterprise": {"', '"enterprise": {"\\u006e'),                       # an escape in a key
        8: ('"enterprise": {', '"profile": {'),                                   # the model's own name for it
        9: ('}', ''),                                                             # not JSON
        10: ('"enterprise": {', '"enterprise": {"clusters": "香河智慧家居", '),     # a text for a list
        11: ('"enterprise": {', '"enterprise": {"clusters": ["a;b"], '),          # a list item holding ";"
    }
    for n, (old, new) in odd.items():
        bent(n, old, new)
    money = with_money[-1]
    lines[money] = __import__("re").sub(r'"investment": "([0-9]+)(\.[0-9]+)?"', r'"investment": \1.5', lines[money])
    kept = {12: ('"records": [', '"yearly": {}, "records": ['), 13: ('"enterprise": {', '"enterprise": {"clusters": [], ')}
    for n, (old, new) in kept.items():
        bent(n, old, new)
    lines[20] = '{"enterprise": {"name": "\xff"}}'   # replaced below by a byte that is not UTF-8
    lines[21] = "\u3000"                                # a space that is not ASCII: not JSON, not a blank line
    data = ("\ufeff" + "\r\n".join(lines[:30]) + "\n\n" + "\n".join(lines[30:])).encode("utf-8")
    data = data.replace("\xff".encode("utf-8"), b"\xff")   # no trailing newline on the last line
    path.write_bytes(data)
    small_blocks(monkeypatch, 700)
    columnar, _ = both_paths(path, tmp_path / "out", book)
    sent = len(odd) + 3 + (money not in odd)   # the odd lines, the line not UTF-8, the wide space, the float
    assert columnar.enterprises_read == 60 and columnar.paths["per_enterprise"] == sent
    errors = (tmp_path / "out/columnar/errors.csv").read_text("utf-8")
    assert "not valid JSON" in errors and "not UTF-8 text" in errors


def test_a_killed_columnar_run_on_a_jsonl_register_resumes_to_the_files_of_a_whole_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import incentives.columnar as columnar
    from incentives._output import CHECKPOINT
    from incentives.cli import main

    from test_output import BLOCK, batch_command, killed_with_a_checkpoint

    monkeypatch.setattr(columnar, "BLOCK_BYTES", BLOCK)   # as the killed run reads it: many blocks of lines
    book = shared_rulebook()
    [register] = write_register(synthesize("all", 20_000, seed=3, rulebook=book, as_of=AS_OF), tmp_path / "register",
                                "jsonl")
    whole = tmp_path / "whole"
    assert main([*batch_command(register, whole, 1)[3:], "--path", "columnar"]) == 0
    out = tmp_path / "resumed"
    partial = killed_with_a_checkpoint(register, out, 0.2, every=0.1, path="columnar")
    checkpoint = json.loads((partial / CHECKPOINT).read_text(encoding="utf-8"))
    assert checkpoint["run"]["path"] == "columnar" and checkpoint["state"]["chunks"] >= 1
    assert main([*batch_command(register, out, 1)[3:], "--resume", "--path", "columnar"]) == 0
    for name in ("awards.jsonl", "errors.csv", "summary.csv"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["path"]["columnar"] == 20_000 and summary["rows"]["balanced"]


# Cells of every kind a register's workbook holds, as openpyxl writes them (a float whole or not, a date,
# a time of day, a duration, text with spaces or none, a formula with no value kept).
CELLS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**15, max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from(" \n\u3000"), max_size=6),
    st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2200, 1, 1)),
    st.datetimes(min_value=dt.datetime(1901, 1, 1), max_value=dt.datetime(2200, 1, 1)).map(lambda d: d.replace(microsecond=0)),
    st.times().map(lambda t: t.replace(microsecond=0)), st.just("=1+1"), st.just(" 30万元 "))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(CELLS, max_size=5), max_size=6), top=st.integers(0, 2), left=st.integers(0, 2))
def test_calamine_reads_each_cell_as_openpyxl_does(tmp_path: Path, rows: list[list[Any]], top: int, left: int) -> None:
    import openpyxl

    from incentives import _tabular

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "enterprises"
    for r, cells in enumerate(rows, 1 + top):
        for c, value in enumerate(cells, 1 + left):
            sheet.cell(r, c, value)
    path = tmp_path / "book.xlsx"
    book.save(path)
    fast = list(_tabular.Workbook(path).rows("enterprises"))
    assert _tabular.Workbook(path).calamine is not None
    slow = list(openpyxl.load_workbook(path, read_only=True, data_only=True)["enterprises"].iter_rows(values_only=True))

    def trimmed(found: list[tuple[Any, ...]]) -> list[list[Any]]:
        """The cells as the register's reader takes them (text stripped, white space alone an empty cell:
        calamine drops the white space XML does not mark to keep), without the trailing empty cells and
        rows openpyxl pads."""
        out = [[(v.strip() or None) if isinstance(v, str) else v for v in r] for r in found]
        for r in out:
            while r and r[-1] is None:
                r.pop()
        while out and not out[-1]:
            out.pop()
        return out

    assert trimmed(fast) == trimmed(slow)


def test_a_workbook_too_large_to_hold_is_streamed_by_openpyxl_and_gives_the_same_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from incentives import _tabular

    book = shared_rulebook()
    items = list(synthesize("langfang", 150, seed=5, rulebook=book, as_of=AS_OF))
    [register] = write_register(items, tmp_path / "register", "xlsx")
    assert _tabular.Workbook(register).calamine is not None
    held = run_batch(register, tmp_path / "held", book, AS_OF, output_format="csv")
    monkeypatch.setattr(_tabular, "CALAMINE_MAX_BYTES", register.stat().st_size - 1)
    assert _tabular.Workbook(register).calamine is None
    streamed = run_batch(register, tmp_path / "streamed", book, AS_OF, output_format="csv")
    assert held.total.awards == streamed.total.awards > 0
    for name in ("awards.csv", "errors.csv"):
        assert (tmp_path / "held" / name).read_bytes() == (tmp_path / "streamed" / name).read_bytes()


@pytest.mark.parametrize("held", [True, False])
def test_a_broken_workbook_is_a_located_error_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 held: bool) -> None:
    from incentives import _tabular
    from incentives.errors import SourceError

    if not held:
        monkeypatch.setattr(_tabular, "CALAMINE_MAX_BYTES", -1)
    book = shared_rulebook()
    [register] = write_register(list(synthesize("langfang", 30, seed=5, rulebook=book, as_of=AS_OF)),
                                tmp_path / "register", "xlsx")
    whole = register.read_bytes()
    for broken in (b"not a workbook", whole[: len(whole) // 2]):
        register.write_bytes(broken)
        with pytest.raises(SourceError, match=f"{register}: not a readable xlsx workbook"):
            run_batch(register, tmp_path / "out", book, AS_OF)
        assert not (tmp_path / "out").exists()


_PIECES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=4) | st.sampled_from(
    [" ", "\t", "\n", "\r\n", "\u3000", "&", "<", ">", '"', "'", "]]>", "&amp;"])
TEXTS = st.one_of(st.none(), st.just(""), st.lists(_PIECES, max_size=4).map("".join))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(TEXTS | st.just("=HYPERLINK(\"x\")"), max_size=30), max_size=8))
@example(rows=[["=0", "=1+1"]])
def test_sheet_rows_write_the_bytes_openpyxl_writes(tmp_path: Path, rows: list[list[str | None]]) -> None:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    from incentives._tabular import SheetRows, deterministic_xlsx

    def text(value: str) -> WriteOnlyCell:   # openpyxl makes a cell that begins with '=' a formula: a cell is text
        cell = WriteOnlyCell(sheet, value)
        cell.data_type = "s"
        return cell

    header = ["a", "b", "c"]
    theirs, ours = tmp_path / "theirs.xlsx", tmp_path / "ours.xlsx"
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("awards")
    for row in [header, *rows]:
        sheet.append([text(v) if v else None for v in row])
    book.save(theirs)
    deterministic_xlsx(theirs, [(len(rows) + 1, 3)])
    book = openpyxl.Workbook(write_only=True)
    book.create_sheet("awards").append(header)
    spool = SheetRows(tmp_path / "ours.rows", ours)
    spool.write(rows)
    spool.close()
    book.save(ours)
    deterministic_xlsx(ours, [(len(rows) + 1, 3)], [spool])
    assert ours.read_bytes() == theirs.read_bytes()
    assert not (tmp_path / "ours.rows").exists()


def test_a_control_character_in_an_award_row_of_an_xlsx_is_a_located_error(tmp_path: Path) -> None:
    from incentives._tabular import SheetRows
    from incentives.errors import SourceError

    spool = SheetRows(tmp_path / "awards.rows", tmp_path / "awards.xlsx")
    with pytest.raises(SourceError, match=r"awards.xlsx:3:2: 'a\\x01b' holds a control character no xlsx cell can"):
        spool.write([["x"], ["y", "a\x01b"]])


CELL_TEXTS = st.one_of(st.none(), st.lists(st.sampled_from(["a", " ", ",", '"', "\n", "\r", "\t", "名", ";", "'", "\\"]),
                                           max_size=5).map("".join))


@given(rows=st.lists(st.lists(CELL_TEXTS, min_size=3, max_size=3), max_size=12))
def test_award_rows_encoded_by_the_frames_are_the_bytes_the_csv_module_writes(rows: list[list[str | None]]) -> None:
    import csv
    import io

    from incentives._tabular import AwardWriter

    frame = pl.DataFrame(rows, schema={"a": pl.String, "b": pl.String, "c": pl.String}, orient="row")
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\r\n").writerows([[v or "" for v in row] for row in rows])
    encoded = AwardWriter.encoded(frame, "csv")
    assert encoded.data == expected.getvalue().encode("utf-8") and encoded.count == len(rows)
