"""The register reader: every row accounted for, whatever is wrong with some of them."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentives import Rulebook, columnar
from incentives.batch import run_batch
from incentives.synth import synthesize, write_register

AS_OF = dt.date(2026, 6, 30)
N = 240
KINDS = ("encoding", "quote", "quotes_apart", "duplicate", "missing_columns", "extra_columns", "huge_number",
         "orphan", "bad_date", "blank", "unnamed_value", "unnamed_record_value")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, book: Rulebook) -> dict[str, Any]:
    """A clean CSV register whose records all belong to some enterprise, assessed once."""
    root = tmp_path_factory.mktemp("clean")
    items = [i for i in synthesize("all", N, seed=5, rulebook=book, as_of=AS_OF)]
    ents, recs = write_register(items, root / "register", "csv")
    summary = run_batch(ents, root / "out", book, AS_OF, chunk_size=50)
    assert summary.rows is not None and summary.rows.balanced and summary.rows.rejected == 0
    return {"root": root, "ents": ents.read_bytes().split(b"\n"), "recs": recs.read_bytes().split(b"\n"),
            "awards": awards_by_code(root / "out")}


def awards_by_code(out: Path) -> dict[str, list[tuple[str, ...]]]:
    """Each enterprise's award rows, keyed by credit code (rule, record, status, amounts, payers)."""
    found: dict[str, list[tuple[str, ...]]] = {}
    with open(out / "awards.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            found.setdefault(row["credit_code"], []).append(
                tuple(v for k, v in row.items() if k not in ("name", "credit_code")))
    return found


def error_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "errors.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def code_of(line: bytes) -> str:
    return line.split(b",", 1)[0].decode()


def with_trailing_comma(lines: list[bytes]) -> list[bytes]:
    """Each non-empty line, header included, ending in a comma (before its carriage return), as some exports
    write them: one more column, with no name."""
    return [line[:-1] + b",\r" if line.endswith(b"\r") else line + b"," if line else line for line in lines]


def with_value_at_end(line: bytes, trailing: bool) -> bytes:
    """The line with ``x`` under the header's trailing empty name (``trailing``), or in a column too many."""
    body = line.rstrip(b"\r")
    return body + (b"x" if trailing else b",x") + line[len(body):]


def corrupt(clean: dict[str, Any], plan: list[tuple[str, int]], trailing: bool = False
            ) -> tuple[list[bytes], list[bytes], set[str], set[str]]:
    """The register with each (kind, position) of ``plan`` applied; the credit codes touched, and orphans added.
    With ``trailing``, every line of both tables ends in a comma first."""
    ents, recs = list(clean["ents"]), list(clean["recs"])
    if trailing:
        ents, recs = with_trailing_comma(ents), with_trailing_comma(recs)
    header = recs[0].split(b",")
    touched: set[str] = set()
    orphans: set[str] = set()
    data = range(1, len(ents) - 1)  # the last element is the empty string after the final newline
    for kind, at in plan:
        i = data[at % len(data)]
        code = code_of(ents[i])
        if not code or code in touched:
            continue
        if kind == "encoding":
            ents[i] = ents[i].replace(b",", b",\xff\xfe", 1)
        elif kind == "quote":
            ents[i] = ents[i].replace(b",", b',"', 1)
        elif kind == "quotes_apart":  # once merged five rows into one enterprise's name
            j = data[(at + 5) % len(data)]
            other = code_of(ents[j])
            if not other or other in touched:
                continue
            ents[i] = ents[i].replace(b",", b',"', 1)
            ents[j] = ents[j].replace(b",", b',"', 1)
            touched.add(other)
        elif kind == "duplicate":  # a second row with this code elsewhere: both are refused
            ents.insert(data[(at * 7 + 3) % len(data)], ents[i])
        elif kind == "missing_columns":
            ents[i] = b",".join(ents[i].split(b",")[:3])
        elif kind == "extra_columns":
            ents[i] = ents[i] + b",extra"
        elif kind == "unnamed_value":
            ents[i] = with_value_at_end(ents[i], trailing)
        elif kind == "unnamed_record_value":
            mine = [n for n, r in enumerate(recs) if n and r.startswith(code.encode() + b",")]
            if not mine:
                continue
            recs[mine[0]] = with_value_at_end(recs[mine[0]], trailing)
        elif kind in ("huge_number", "bad_date"):
            mine = [n for n, r in enumerate(recs) if n and r.startswith(code.encode() + b",")]
            if not mine:
                continue
            cells = recs[mine[0]].split(b",")
            column = header.index(b"date") if kind == "bad_date" else next(
                (header.index(c) for c in (b"investment", b"amount", b"fee", b"fees", b"equipment_purchase")
                 if cells[header.index(c)]), None)
            if column is None:
                continue
            cells[column] = b"2025-02-30" if kind == "bad_date" else b"9" * 29
            recs[mine[0]] = b",".join(cells)
        elif kind == "orphan":
            stray = "91131025MA00000" + str(at % 1000).zfill(3)
            orphans.add(stray)
            recs.insert(len(recs) - 1, f"{stray},x{at},statistics,2025-01-01".encode() + b"," * (len(header) - 4))
            continue
        elif kind == "blank":
            ents.insert(i, b"")
            continue
        touched.add(code)
    return ents, recs, touched, orphans


@pytest.mark.parametrize("path", ["rows", "columnar"])
@settings(max_examples=25)
@given(plan=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 10_000)), min_size=1, max_size=12),
       chunk=st.sampled_from([7, 50, 1000]), block=st.sampled_from([columnar.BLOCK_BYTES, 997, 4096]),
       trailing=st.booleans())
def test_every_row_is_accounted_for_and_good_rows_pay_as_in_the_clean_register(
        clean: dict[str, Any], book: Rulebook, tmp_path_factory: pytest.TempPathFactory,
        plan: list[tuple[str, int]], chunk: int, block: int, trailing: bool, path: str) -> None:
    """On both paths; the columnar one also reads the tables in blocks of a few rows, so that bad
    lines fall on block edges and records are merged across blocks. With ``trailing``, every line ends in
    a comma, the header's too: a column with no name, read as an xlsx sheet's blank header cells are."""
    root = tmp_path_factory.mktemp("bad")
    ents, recs, touched, orphans = corrupt(clean, plan, trailing)
    (root / "enterprises.csv").write_bytes(b"\n".join(ents))
    (root / "records.csv").write_bytes(b"\n".join(recs))
    default, columnar.BLOCK_BYTES = columnar.BLOCK_BYTES, block
    try:
        summary = run_batch(root / "enterprises.csv", root / "out", book, AS_OF, chunk_size=chunk, path=path)
    finally:
        columnar.BLOCK_BYTES = default
    rows = summary.rows
    assert rows is not None and rows.balanced, rows
    assert rows.enterprise_rows == sum(1 for line in ents[1:] if line) == rows.assessed + rows.rejected
    assert rows.record_rows == sum(1 for line in recs[1:] if line)
    errors = error_rows(root / "out")
    assert len(errors) == rows.rejected + rows.orphan_records
    refused = {e["credit_code"] for e in errors}
    assert touched <= refused | {""}, "a corrupted row was assessed"
    assert orphans <= refused
    awards = awards_by_code(root / "out")
    good = {code_of(line) for line in ents[1:] if line} - touched
    assert {c: awards.get(c, []) for c in good} == {c: clean["awards"].get(c, []) for c in good}
    assert not set(awards) & touched
    manifest = json.loads((root / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["complete"] is True and manifest["rows"]["balanced"] is True


def test_two_stray_quotes_five_rows_apart_cost_two_rows(clean: dict[str, Any], book: Rulebook,
                                                         tmp_path: Path) -> None:
    ents = list(clean["ents"])
    ents[10] = ents[10].replace(b",", b',"', 1)
    ents[15] = ents[15].replace(b",", b',"', 1)
    (tmp_path / "enterprises.csv").write_bytes(b"\n".join(ents))
    (tmp_path / "records.csv").write_bytes(b"\n".join(clean["recs"]))
    summary = run_batch(tmp_path / "enterprises.csv", tmp_path / "out", book, AS_OF)
    assert (summary.enterprises_read, summary.assessed, summary.bad_enterprises) == (N, N - 2, 2)
    errors = error_rows(tmp_path / "out")
    assert [(e["row"], e["credit_code"]) for e in errors] == [("10", code_of(ents[10])), ("15", code_of(ents[15]))]
    assert errors[0]["reason"].endswith(":11: not valid CSV (unexpected end of data): a quote must close on its "
                                        "own line and stand alone around a cell")


def test_an_invalid_byte_costs_its_row_and_is_located(clean: dict[str, Any], book: Rulebook, tmp_path: Path) -> None:
    ents = list(clean["ents"])
    name_at = ents[3].index(b",") + 1
    ents[3] = ents[3][:name_at + 3] + b"\xff" + ents[3][name_at + 3:]
    (tmp_path / "enterprises.csv").write_bytes(b"\n".join(ents))
    (tmp_path / "records.csv").write_bytes(b"\n".join(clean["recs"]))
    summary = run_batch(tmp_path / "enterprises.csv", tmp_path / "out", book, AS_OF)
    assert summary.assessed == N - 1
    error, = error_rows(tmp_path / "out")
    column = len(ents[3][:name_at + 3].decode("utf-8", "replace")) + 1
    assert error["reason"] == f"{tmp_path / 'enterprises.csv'}:4:{column}: not UTF-8 text: byte 0xff cannot be decoded"
    assert error["credit_code"] == code_of(ents[3]) and error["rulebook_hash"] == book.hash


def test_duplicate_codes_are_reported_on_both_rows_and_never_merged(clean: dict[str, Any], book: Rulebook,
                                                                    tmp_path: Path) -> None:
    ents = list(clean["ents"])
    with_records = next(i for i in range(1, N) if any(r.startswith(code_of(ents[i]).encode()) for r in clean["recs"]))
    code = code_of(ents[with_records])
    ents.insert(len(ents) - 1, ents[with_records].replace(b",", b",\xe5\x88\xab\xe5\x90\x8d", 1))  # another name
    (tmp_path / "enterprises.csv").write_bytes(b"\n".join(ents))
    (tmp_path / "records.csv").write_bytes(b"\n".join(clean["recs"]))
    summary = run_batch(tmp_path / "enterprises.csv", tmp_path / "out", book, AS_OF)
    errors = error_rows(tmp_path / "out")
    assert [(e["row"], e["credit_code"]) for e in errors] == [(str(with_records), code), (str(N + 1), code)]
    assert f"is on 2 rows ({with_records}, {N + 1}): none of them is assessed" in errors[0]["reason"]
    assert code not in awards_by_code(tmp_path / "out") and summary.rows is not None and summary.rows.balanced


def test_jsonl_lines_that_break_are_rows_in_errors(book: Rulebook, tmp_path: Path) -> None:
    items = list(synthesize("all", 20, seed=3, rulebook=book, as_of=AS_OF))
    path, = write_register(items, tmp_path / "register", "jsonl")
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:30] + b"\xff" + lines[1][30:]
    lines[2] = b"[" * 100_000 + b"]" * 100_000                 # RecursionError in json
    lines[3] = b'{"enterprise": {"credit_code": 1' + b"0" * 5000 + b"}}"  # > 4,300 digits
    lines[5] = lines[4]                                         # a duplicate
    path.write_bytes(b"\n".join(lines))
    summary = run_batch(path, tmp_path / "out", book, AS_OF)
    errors = error_rows(tmp_path / "out")
    assert [e["row"] for e in errors] == ["2", "3", "4", "5", "6"]
    assert "not UTF-8 text" in errors[0]["reason"] and "not valid JSON" in errors[1]["reason"]
    assert "is on 2 rows (5, 6)" in errors[3]["reason"]
    assert summary.rows is not None and summary.rows.balanced and summary.assessed == 15


@given(codes=st.lists(st.sampled_from(["", *(f"C{i:017d}" for i in range(40))]), max_size=120),
       bits=st.sampled_from([8, 64, 1 << 16]), problems=st.sets(st.integers(1, 120)))
def test_duplicates_found_in_one_pass_are_exactly_the_codes_on_several_rows(codes: list[str], bits: int,
                                                                          problems: set[int]) -> None:
    from incentives._tabular import DuplicateCodes, Row

    duplicates = DuplicateCodes(len(codes))
    duplicates.bits, duplicates.filter = bits, bytearray(max(bits >> 3, 1))  # a small filter: many false alarms
    for _ in duplicates.watch(enumerate(codes, 1)):
        pass
    duplicates.done()
    rows_of: dict[str, list[int]] = {}
    for number, code in enumerate(codes, 1):
        if code:
            rows_of.setdefault(code, []).append(number)
    for number, code in enumerate(codes, 1):  # read in order, bad rows (a problem of their own) included
        row = Row(number, number + 1, [], code, "bad row" if number in problems else None)
        found = duplicates.problem("t.csv", row)
        rows = rows_of.get(code, [])
        if len(rows) < 2:
            assert found is None
        else:
            shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
            assert found == (f"t.csv:{number + 1}: credit_code: {code} is on {len(rows)} rows ({shown}): none of "
                             "them is assessed, and their records are not given to either")


@settings(max_examples=30)
@given(plan=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 10_000)), max_size=6),
       shuffle=st.booleans(), block=st.sampled_from([columnar.BLOCK_BYTES, 997, 4096]))
def test_the_vectorised_code_scan_agrees_with_the_reader(clean: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
                                                          plan: list[tuple[str, int]], shuffle: bool, block: int) -> None:
    """Where both tables are plain, the columnar scan of the credit codes finds the same order and the
    same duplicated codes, with the same rows, as the reader's own pass; elsewhere it declines."""
    from incentives._tabular import Source

    root = tmp_path_factory.mktemp("scan")
    ents, recs, _, _ = corrupt(clean, plan)
    if shuffle:
        recs = [recs[0], *reversed(recs[1:-1]), recs[-1]]
    (root / "enterprises.csv").write_bytes(b"\n".join(ents))
    (root / "records.csv").write_bytes(b"\n".join(recs))
    source = Source(root / "enterprises.csv", None)
    assert source.table is not None and source.records is not None
    if hasattr(source, "duplicates_up_front"):
        source.duplicates_up_front()
    codes = columnar.scan_codes(source.table, source.records, block)
    bent = {kind for kind, _ in plan} - {"duplicate", "orphan"}
    if codes is None:
        assert bent, "a register of plain lines is scanned"
        return
    assert codes.ordered == (source.join == "merge")
    assert codes.duplicates == source.duplicates.rows


@pytest.mark.parametrize("path", ["rows", "columnar"])
@pytest.mark.parametrize("table", ["enterprises", "records"])
def test_a_broken_parquet_file_is_a_located_error_and_leaves_nothing(book: Rulebook, tmp_path: Path, path: str,
                                                                     table: str) -> None:
    from incentives.errors import SourceError

    ents, recs = write_register(list(synthesize("all", 300, seed=5, rulebook=book, as_of=AS_OF)),
                                tmp_path / "register", "parquet")
    broken = ents if table == "enterprises" else recs
    whole = broken.read_bytes()
    pages = bytearray(whole)   # the footer intact, the column pages after the magic bytes overwritten
    pages[4:len(whole) // 2] = b"A" * (len(whole) // 2 - 4)
    for bad in (b"not parquet", whole[: len(whole) // 2], bytes(pages)):
        broken.write_bytes(bad)
        with pytest.raises(SourceError, match=f"^{broken}: not a readable Parquet file: "):
            run_batch(ents, tmp_path / "out", book, AS_OF, path=path)
        assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))


def test_an_input_that_is_not_there_is_said_so_before_its_records_are_looked_for(book: Rulebook,
                                                                                 tmp_path: Path) -> None:
    from incentives.errors import SourceError

    for name in ("register.csv", "register.parquet", "lf-enterprises.csv"):
        with pytest.raises(SourceError, match=f"^{tmp_path / name}: no such file$"):
            run_batch(tmp_path / name, tmp_path / "out", book, AS_OF)
    (tmp_path / "register.csv").write_text("credit_code,name,city\n", encoding="utf-8")
    with pytest.raises(SourceError, match="register.csv: cannot tell where the records are"):
        run_batch(tmp_path / "register.csv", tmp_path / "out", book, AS_OF)


def test_a_csv_whose_lines_end_with_cr_alone_says_so(book: Rulebook, tmp_path: Path) -> None:
    from incentives.errors import SourceError

    ents = tmp_path / "enterprises.csv"    # as an old Mac export writes it: the whole file reads as one line
    ents.write_bytes(b"credit_code,name,city\r91131026MA0FHN2P7X,x,langfang\r")
    (tmp_path / "records.csv").write_bytes(b"credit_code,record_id,kind,date\r")
    for path in ("rows", "columnar"):
        with pytest.raises(SourceError, match=f"^{ents}:1: lines end with a carriage return alone"):
            run_batch(ents, tmp_path / "out", book, AS_OF, path=path)


def test_a_records_table_given_as_jsonl_is_refused_and_located(book: Rulebook, tmp_path: Path) -> None:
    from incentives.errors import SourceError

    ents, recs = write_register(list(synthesize("langfang", 5, seed=5, rulebook=book, as_of=AS_OF)), tmp_path, "csv")
    [lines] = write_register(list(synthesize("langfang", 5, seed=5, rulebook=book, as_of=AS_OF)), tmp_path, "jsonl")
    for path in ("rows", "columnar"):
        with pytest.raises(SourceError, match=f"^{lines}: a records table is csv, parquet or xlsx"):
            run_batch(ents, tmp_path / "out", book, AS_OF, records=lines, path=path)
    assert not (tmp_path / "out").exists()
