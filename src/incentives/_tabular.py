"""Registers as tables: the column layout, reading CSV, JSONL, Parquet and xlsx row by row, joining
records to their enterprise, and writing award rows in the same formats.

Cells are read as text and typed by the facts models' fields; an empty cell is an absent fact, never
zero. Optional formats import their library only when used, with an install hint when it is missing.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import importlib
import io
import itertools
import json
import re
import shutil
import threading
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from incentives.errors import IncentivesError, Location, SourceError
from incentives.facts import SCHEMA
from incentives.messages import N_
from incentives.rulebook import Rulebook

ZERO = Decimal("0.00")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet", ".xlsx": "xlsx"}

# ------------------------------------------------------------------------------------ the layout
ENTERPRISE_COLUMNS = ("credit_code", *(n for n in SCHEMA.profile_fields if n != "credit_code"))
RECORD_FIELDS = SCHEMA.record_fields  # every field of every record kind, in the order rules/facts.yaml declares them
RECORD_COLUMNS = ("credit_code", "record_id", "kind", "date", *RECORD_FIELDS)
OPTIONAL_RECORD_COLUMNS = ("note",)
REQUIRED_COLUMNS = {"enterprises": ("credit_code", "name", "city"),
                    "records": ("credit_code", "record_id", "kind", "date")}
LIST_SEPARATOR = ";"
ERROR_COLUMNS = ("source", "row", "record_row", "credit_code", "field", "reason", "rulebook_hash")
XLSX_MAX_ROWS = 1_048_575  # data rows under a header


COLUMN_TYPES: dict[str, str] = SCHEMA.column_types
_YEARLY = re.compile(r"^([a-z][a-z0-9_]*)_(\d{4})$")


def yearly_column(name: str) -> tuple[str, int] | None:
    """``revenue_2024`` → ``("revenue", 2024)``: an enterprises column holding a yearly figure the facts
    schema declares, one column per figure and year; ``None`` for any other name."""
    found = _YEARLY.match(name)
    if found is None or found.group(1) not in SCHEMA.figures:
        return None
    return found.group(1), int(found.group(2))


def payer_columns(rulebook: Rulebook) -> tuple[str, ...]:
    """The payers a rulebook may name (its vocabulary's ``payer`` terms), sorted."""
    return tuple(sorted(rulebook.vocabulary.terms.get("payer", {})))


def award_columns(payers: Iterable[str]) -> tuple[str, ...]:
    return ("credit_code", "name", "city", "county", "rule_id", "title", "status", "amount", "amount_max",
            *(f"payer_{p}" for p in payers), "payers_unspecified", "record_id", "document_number", "clause", "quote",
            "rulebook_hash")


def records_path_for(enterprises: Path) -> Path:
    """The records table beside an enterprises table: ``enterprises`` in the name becomes ``records``."""
    if "enterprises" not in enterprises.name:
        raise SourceError("cannot tell where the records are: name the input '…enterprises…' or pass --records",
                          location=Location(str(enterprises)))
    return enterprises.with_name(enterprises.name.replace("enterprises", "records"))


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SourceError(f"unknown table format {path.suffix!r}: use one of {', '.join(FORMATS)}",
                          location=Location(str(path)))
    return fmt


def require(module: str) -> Any:
    """Import an optional dependency, or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        package = module.split(".")[0]
        raise IncentivesError(f"this needs {package}: pip install 'incentives[batch]' "
                              f"(or pip install {package})") from e


def parquet_file(path: Path) -> Any:
    """The Parquet file at ``path`` opened by pyarrow, its footer read; a ``SourceError`` naming it where it
    is not Parquet or is cut short."""
    with _parquet_errors(path):
        return require("pyarrow.parquet").ParquetFile(path)


def parquet_batches(file: Any, path: Path, **options: Any) -> Iterator[Any]:
    """``file.iter_batches(**options)`` of the Parquet file at ``path``; a page that cannot be read (corrupt,
    or compressed data that does not decompress) a ``SourceError`` naming the file."""
    with _parquet_errors(path):
        yield from file.iter_batches(**options)


@contextlib.contextmanager
def _parquet_errors(path: Path) -> Iterator[None]:
    pa = require("pyarrow")
    try:
        yield
    except (OSError, pa.ArrowException) as e:   # ArrowInvalid for a bad footer, a plain OSError for a bad page
        raise SourceError(f"not a readable Parquet file: {e}", location=Location(str(path))) from e


# A workbook larger than this is streamed by openpyxl, which holds one row at a time; calamine holds every
# cell of a sheet it reads (about 90 MB for 100,000 enterprises with 40,000 records, a 6.5 MB file).
CALAMINE_MAX_BYTES = 32 << 20


class Workbook:
    """An xlsx register's workbook, opened once: read by calamine (``python-calamine``, in the ``batch``
    extra) where it is installed and the file is at most ``CALAMINE_MAX_BYTES``, six times faster than
    openpyxl, which reads it otherwise. The cells come as openpyxl's read-only reader gives them (a
    whole number an int, a date a datetime, an empty cell None), so that a register reads alike either
    way. A file neither library can read (not a zip, a sheet's XML cut short, a password) is a
    ``SourceError`` naming it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()   # a sheet is loaded by one thread at a time (each table is read in its own)
        self.sheets: dict[str, Any] = {}
        calamine: Any = None
        if path.stat().st_size <= CALAMINE_MAX_BYTES:
            try:
                calamine = importlib.import_module("python_calamine")
            except ImportError:
                pass
        with self._read():
            if calamine is None:
                self.calamine: Any = None
                self.openpyxl: Any = require("openpyxl").load_workbook(path, read_only=True, data_only=True)
                self.sheetnames: list[str] = list(self.openpyxl.sheetnames)
            else:
                self.calamine, self.openpyxl = calamine.CalamineWorkbook.from_path(str(path)), None
                self.sheetnames = list(self.calamine.sheet_names)

    def rows(self, sheet: str) -> Iterator[tuple[Any, ...]]:
        """Every row of ``sheet`` from the first, the header included, its cells from column A."""
        with self._read():
            if self.calamine is None:
                yield from self.openpyxl[sheet].iter_rows(values_only=True)
                return
            with self.lock:   # loaded once: each pass over a sheet (its header, its codes, its rows) reads it again
                found = self.sheets.get(sheet)
                if found is None:
                    found = self.sheets[sheet] = self.calamine.get_sheet_by_name(sheet)
            before = (None,) * found.start[1] if found.height else ()   # calamine's rows begin at the first used column
            for row in found.iter_rows():
                yield before + tuple(_as_openpyxl_reads(v) for v in row)

    @contextlib.contextmanager
    def _read(self) -> Iterator[None]:
        try:
            yield
        except IncentivesError:
            raise
        except Exception as e:   # each library has its own errors for a broken file (zip, XML, password)
            raise SourceError(f"not a readable xlsx workbook: {e}", location=Location(str(self.path))) from e

    def close(self) -> None:
        if self.openpyxl is not None:
            self.openpyxl.close()


def _as_openpyxl_reads(value: Any) -> Any:
    """A cell calamine read, as openpyxl reads the same cell: an empty cell is None; a number written
    without a point or an exponent (a whole one under 10^16: how Excel and openpyxl write it) an int;
    a date a datetime at midnight."""
    if value.__class__ is float:
        return int(value) if value.is_integer() and -1e16 < value < 1e16 else value
    if value.__class__ is str:
        return value if value else None
    if value.__class__ is dt.date:
        return dt.datetime(value.year, value.month, value.day)
    return value


# ------------------------------------------------------------------------------------ reading
_ABSENT = object()


@dataclass(slots=True)
class Row:
    """A row as read: its cells stay raw until a worker parses them, so the reading process stays light."""

    number: int                 # 1-based data row (header excluded)
    line: int                   # where to look: CSV/JSONL line, xlsx sheet row, Parquet data row
    cells: Any                  # a table row's cells (list), or a JSONL line's object (dict)
    code: str = ""              # the credit code, normalised, for the join
    problem: str | None = None


@dataclass(frozen=True)
class Table:
    path: Path
    fmt: str
    sheet: str                  # enterprises | records
    columns: dict[str, int]     # column name → 1-based position
    name: str | None = None     # how messages name the file where not by its path: <stdin> for a copy of standard input
    unnamed: int = 0            # empty names ending a CSV header (a trailing comma): their cells must be empty

    @functools.cached_property
    def label(self) -> str:
        """How messages, errors.csv and the summary name the table: the only place that decides it."""
        file = self.name or str(self.path)
        return f"{file}[{self.sheet}]" if self.fmt == "xlsx" else file

    @functools.cached_property
    def kinds(self) -> tuple[tuple[str, bool], ...]:
        """Each column's name, and whether it holds a list (``;``-separated in a text cell)."""
        return tuple((name, COLUMN_TYPES.get(name, "text") == "list") for name in self.columns)


def _cell(name: str, value: Any) -> Any:
    """A cell as the facts models read it, or ``_ABSENT``: an empty cell is an absent fact, never zero."""
    if value is None:
        return _ABSENT
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return _ABSENT
    kind = COLUMN_TYPES.get(name, "text")
    if kind == "list":
        parts = value.split(LIST_SEPARATOR) if isinstance(value, str) else value
        return [str(p).strip() for p in parts if p is not None and str(p).strip()]
    if kind == "date" and isinstance(value, dt.datetime):
        return value.date()
    if kind == "text" and not isinstance(value, str):
        return str(int(value) if isinstance(value, float) and value.is_integer() else value)
    return value


def _header(table_kind: str, names: list[str], label: str) -> dict[str, int]:
    allowed = ENTERPRISE_COLUMNS if table_kind == "enterprises" else RECORD_COLUMNS + OPTIONAL_RECORD_COLUMNS
    columns: dict[str, int] = {}
    for i, raw in enumerate(names, 1):
        name = str(raw or "").strip().lstrip("\ufeff")
        if name not in allowed and not (table_kind == "enterprises" and yearly_column(name)):
            figures = (f", and yearly figures as <figure>_<year> ({', '.join(f'{f}_2024' for f in SCHEMA.figures)})"
                       if table_kind == "enterprises" else "")
            raise SourceError(f"unknown column {name!r} in the {table_kind} table; columns: {', '.join(allowed)}"
                              f"{figures}", location=Location(label, 1, i))
        if name in columns:
            raise SourceError(f"column {name!r} appears twice", location=Location(label, 1, i))
        columns[name] = i
    missing = [c for c in REQUIRED_COLUMNS[table_kind] if c not in columns]
    if missing:
        raise SourceError(f"the {table_kind} table has no column {', '.join(map(repr, missing))}",
                          location=Location(label, 1))
    return columns


def _open_table(path: Path, fmt: str, sheet: str, book: Any = None, name: str | None = None) -> Table:
    """Read the header only, so a table that cannot be read fails before the run starts.

    ``book`` is the open workbook of an xlsx file: opening one reads every sheet, so it is opened once.
    """
    label = Table(path, fmt, sheet, {}, name).label
    if not path.is_file():
        raise SourceError("no such file", location=Location(label))
    if fmt == "csv":
        with open(path, "rb") as f:
            first = f.readline()
        if b"\r" in first.rstrip(b"\r\n"):   # the whole table read as its first line
            raise SourceError("lines end with a carriage return alone (as old Mac exports write them): save the "
                              "table with LF or CRLF line ends", location=Location(label, 1))
        try:
            names = next(csv.reader([first.decode("utf-8-sig").rstrip("\r\n")], strict=True), None)
        except (UnicodeDecodeError, csv.Error) as e:
            raise SourceError(f"the header cannot be read: {e}", location=Location(label, 1)) from e
        width = len(names or ())
        while names and _empty(names[-1]):   # a trailing comma, as an xlsx header's blank cells: no column
            names.pop()
        if names:
            return Table(path, fmt, sheet, _header(sheet, names, label), name, width - len(names))
    elif fmt == "parquet":
        names = parquet_file(path).schema_arrow.names
    else:
        if sheet not in book.sheetnames:
            raise SourceError(f"the workbook has no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})",
                              location=Location(str(path)))
        names = list(next(book.rows(sheet), ()))
        while names and _empty(names[-1]):
            names.pop()
    if not names:
        raise SourceError("the table is empty: the first row must name the columns", location=Location(label, 1))
    return Table(path, fmt, sheet, _header(sheet, list(names), label), name)


def _rows(table: Table, book: Any = None) -> Iterator[Row]:
    """The data rows of a table, blank rows skipped (but counted)."""
    names = list(table.columns)
    code = table.columns["credit_code"] - 1
    try:
        if table.fmt == "csv":
            yield from csv_rows(table)
        elif table.fmt == "parquet":
            pf = parquet_file(table.path)
            n = 0
            for batch in parquet_batches(pf, table.path, batch_size=4096, columns=names):
                columns = batch.to_pydict()
                for values in zip(*(columns[c] for c in names)):
                    n += 1
                    yield Row(n, n, list(values), _key(values[code]))
        else:
            data = book.rows(table.sheet)
            next(data, None)   # the header
            for n, raw in enumerate(data, 1):
                cells = list(raw)
                while len(cells) > len(names) and _empty(cells[-1]):
                    cells.pop()
                if not all(map(_empty, cells)):
                    yield Row(n, n + 1, cells, _key(cells[code]) if len(cells) > code else "")
    except UnicodeDecodeError as e:
        raise SourceError(f"not UTF-8 text: {e}", location=Location(table.label)) from e
    except csv.Error as e:
        raise SourceError(f"not valid CSV: {e}", location=Location(table.label)) from e


def _empty(cell: Any) -> bool:
    """Whether a workbook's cell is empty: nothing, or white space alone (which calamine reads as nothing
    where the file does not mark it to be kept, and which a cell's text loses when it is stripped)."""
    return cell is None or (cell.__class__ is str and not cell.strip())


def csv_rows(table: Table) -> Iterator[Row]:
    """The data rows of a CSV table, one per line, each line on its own.

    A line that is not UTF-8, whose quotes do not close on it, or whose width is not the header's is
    a ``Row`` with its ``problem`` (file:line:col and the reason), and reading goes on at the next
    line: one bad byte or a stray quote costs that row only, never the run or the rows after it (a
    quoted cell may not span lines; registers hold none). The credit code of a bad row is read as
    well as it can be, so that its records are set aside with it rather than paid without it.
    """
    width, code = len(table.columns), table.columns["credit_code"] - 1
    with open(table.path, "rb") as f:
        f.readline()
        for n, raw in enumerate(_lines(f), 1):
            if raw.__class__ is str and '"' not in raw:  # nearly every line: split here, as csv_row would
                cells = raw.rstrip("\r\n").split(",")
                if len(cells) == width:
                    yield Row(n, n + 1, cells, cells[code].strip().upper())
                    continue
            row = csv_row(table, n, raw)
            if row is not None:
                yield row


def _lines(f: IO[bytes]) -> Iterator[str | bytes]:
    """The lines of a binary file from where it stands, without their ``\\n``: as text where the block of
    about a megabyte they lie in is UTF-8 (nearly always: one decode per block), else as bytes, for
    ``csv_row`` to decode each and locate the bad byte."""
    rest = b""
    while True:
        block = f.read(1 << 16)
        if not block:
            if rest:
                yield _decoded(rest)
            return
        block = rest + block
        cut = block.rfind(b"\n") + 1
        rest = block[cut:]
        if cut:
            try:
                yield from block[:cut - 1].decode("utf-8").split("\n")
            except UnicodeDecodeError:
                yield from map(_decoded, block[:cut - 1].split(b"\n"))


def _decoded(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def csv_row(table: Table, n: int, raw: str | bytes) -> Row | None:
    """Data row ``n`` of a CSV table from its line (``None`` for a blank line); see ``csv_rows``.

    ``raw`` is the line's text, or its bytes when they may not be UTF-8."""
    line = n + 1
    label, width = table.label, len(table.columns)
    code = table.columns["credit_code"] - 1
    if isinstance(raw, str):
        text = raw.rstrip("\r\n")
        if not text:
            return None
    else:
        raw = raw.rstrip(b"\r\n")
        if not raw:
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            column = len(raw[:e.start].decode("utf-8", "replace")) + 1
            cells = raw.decode("utf-8", "replace").split(",")
            return Row(n, line, cells, _loose_key(cells, code),
                       f"{label}:{line}:{column}: not UTF-8 text: byte 0x{raw[e.start]:02x} cannot be decoded")
    if '"' in text:
        try:
            cells = next(csv.reader([text], strict=True))
        except csv.Error as e:
            cells = text.split(",")
            return Row(n, line, cells, _loose_key(cells, code),
                       f"{label}:{line}: not valid CSV ({e}): a quote must close on its own line and "
                       "stand alone around a cell")
    else:
        cells = text.split(",")
    if len(cells) != width:
        if width < len(cells) <= width + table.unnamed:   # cells under the header's trailing empty names
            filled = next((i for i in range(width, len(cells)) if cells[i].strip()), None)
            if filled is not None:
                return Row(n, line, cells, _loose_key(cells, code),
                           f"{label}:{line}:{filled + 1}: a value where the header names no column: "
                           f"{cells[filled].strip()!r}")
            return Row(n, line, cells[:width], _key(cells[code]))
        return Row(n, line, cells, _loose_key(cells, code),
                   f"{label}:{line}: row has {len(cells)} values, the header names {width} columns")
    return Row(n, line, cells, _key(cells[code]))


def _loose_key(cells: list[str], column: int) -> str:
    """A bad row's credit code, if the cell where it should be holds one (18 letters and digits)."""
    if column >= len(cells):
        return ""
    key = _key(cells[column].strip('"'))
    return key if len(key) == 18 and key.isalnum() and key.isascii() else ""


def parse_row(table: Table, row: Row) -> tuple[dict[str, Any], str | None]:
    """A row's non-empty cells by column, and what is wrong with the row's shape, if anything."""
    if row.problem:
        return {}, row.problem
    values = {}
    if table.fmt == "csv":  # every cell a text: only the non-empty ones are visited (few, in a records table)
        cells = row.cells
        for (name, is_list), value in zip(itertools.compress(table.kinds, cells), filter(None, cells)):
            value = value.strip()   # what _cell does for a text, inline
            if value:
                values[name] = list(filter(None, map(str.strip, value.split(LIST_SEPARATOR)))) if is_list else value
    else:
        for (name, _), value in zip(table.kinds, row.cells):
            if value is None or value == "":
                continue
            value = _cell(name, value)
            if value is not _ABSENT:
                values[name] = value
    width = len(table.columns)
    problem = None if len(row.cells) == width or table.fmt == "xlsx" and len(row.cells) < width else \
        f"{Location(table.label, row.line)}: row has {len(row.cells)} values, the header names {width} columns"
    return values, problem


def _jsonl_rows(path: Path, parse: bool = True, label: str | None = None) -> Iterator[Row]:
    """One enterprise per line in the facts format; numbers with a point become exact Decimals; a line's
    problem names the file ``label`` (default: its path).

    With ``parse=False`` only the row numbers and credit codes are found (for duplicates)."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            if not parse:
                yield Row(n, n, {}, _jsonl_key(raw))
                continue
            yield jsonl_row(label or path, n, raw)


def jsonl_row(path: Path | str, n: int, raw: bytes) -> Row:
    """Line ``n`` of a JSONL register (``raw``: its bytes, newline included) as a row, or with its problem
    (naming the file ``path``: its path, or its label)."""
    try:
        text = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        data = json.loads(text, parse_float=Decimal)
    except UnicodeDecodeError as e:
        return Row(n, n, {}, _jsonl_key(raw), problem=f"{path}:{n}:{e.start + 1}: not UTF-8 text: byte "
                                                       f"0x{raw[e.start]:02x} cannot be decoded")
    except json.JSONDecodeError as e:
        return Row(n, n, {}, _jsonl_key(raw), problem=f"{path}:{n}:{e.colno}: not valid JSON: {e.msg}")
    except (ValueError, RecursionError) as e:  # an integer of thousands of digits, nesting past the stack
        return Row(n, n, {}, _jsonl_key(raw), problem=f"{path}:{n}: not valid JSON: {str(e)[:80]}")
    if not isinstance(data, dict):
        return Row(n, n, {}, _jsonl_key(raw), problem=f"{path}:{n}: a line holds one object "
                                                       "{\"enterprise\": …, \"records\": […]}")
    return Row(n, n, data, _jsonl_key(raw))


_JSONL_CODE = re.compile(rb'"credit_code"\s*:\s*"([^"]{0,40})"')


def _jsonl_key(raw: bytes) -> str:
    """A JSONL line's credit code, found without parsing it (for duplicates, and for lines that do not parse)."""
    match = _JSONL_CODE.search(raw)
    return _key(match.group(1).decode("utf-8", "replace")) if match else ""


def _key(value: Any) -> str:
    return str(value).strip().upper() if value is not None else ""


def _codes(table: Table, book: Any = None) -> Iterator[str]:
    """The credit-code column alone, read as cheaply as the format allows (the codes ``_rows`` gives)."""
    if table.fmt == "parquet":
        pf = parquet_file(table.path)
        for batch in parquet_batches(pf, table.path, batch_size=65536, columns=["credit_code"]):
            yield from map(_key, batch.column(0).to_pylist())
    elif table.fmt == "csv":
        yield from (code for _, code in _numbered_codes(table))
    else:
        yield from (r.code for r in _rows(table, book))


def _numbered_codes(table: Table, book: Any = None) -> Iterator[tuple[int, str]]:
    """(data row number, credit code) of each non-blank row, as ``_rows`` numbers and keys them; for a
    CSV without building rows: a line without quotes and of the header's width is split as bytes."""
    if table.fmt == "parquet":  # every row counts, none is blank
        yield from enumerate(_codes(table), 1)
        return
    if table.fmt != "csv":
        yield from ((r.number, r.code) for r in _rows(table, book))
        return
    column, commas = table.columns["credit_code"] - 1, len(table.columns) - 1
    with open(table.path, "rb") as f:
        f.readline()
        for n, raw in enumerate(_lines(f), 1):
            if raw.__class__ is str and '"' not in raw and raw.count(",") == commas:
                yield n, (raw[:raw.find(",")] if column == 0 else raw.split(",", column + 1)[column]).strip().upper()
                continue
            row = csv_row(table, n, raw)
            if row is not None:
                yield n, row.code


class DuplicateCodes:
    """Credit codes that more than one enterprise row carries, found in the pass that reads the codes
    alone and settled while the rows are read: no extra pass over the table.

    That pass keeps a Bloom filter (a few bits per row, so memory stays small even for the national
    register) and notes the rows whose code the filter has probably seen: every occurrence of a code
    after its first is such a row (a Bloom filter forgets nothing), and now and then a first
    occurrence is too (a false positive). So after that pass, a code the filter never flagged is on
    one row, and a flagged code's rows are its flagged rows plus, at most, one earlier row the
    filter did not flag: its first occurrence, which the reading meets before any flagged row. As
    the rows are read in order (``problem``), each row of a flagged code knows every row of its
    code. Every row of a duplicated code is reported and none is assessed: whose records are whose
    cannot be told.
    """

    def __init__(self, rows_hint: int) -> None:
        self.bits = max(1 << 16, 1 << max(rows_hint * 16, 1).bit_length())   # 16 to 32 bits a row
        self.filter = bytearray(self.bits >> 3)
        self.flagged: dict[str, list[int]] = {}   # code → rows on which the filter had already seen it
        self.first: dict[str, int] = {}           # flagged code → its unflagged row, once the reading met it
        self.rows: dict[str, list[int]] = {}      # code → every row, for a reader that needs them up front (settle)
        self.settled = False

    def watch(self, numbered: Iterator[tuple[int, str]]) -> Iterator[str]:
        """Pass the codes of (row number, code) through, noting the rows the filter flags."""
        mask, seen, flagged = self.bits - 1, self.filter, self.flagged
        for number, code in numbered:
            if code:
                h = hash(code)
                a, b = h & mask, (h >> 32) & mask
                if seen[a >> 3] >> (a & 7) & seen[b >> 3] >> (b & 7) & 1:
                    rows = flagged.get(code)
                    if rows is None:
                        flagged[code] = [number]
                    else:
                        rows.append(number)
                else:
                    seen[a >> 3] |= 1 << (a & 7)
                    seen[b >> 3] |= 1 << (b & 7)
            yield code

    @classmethod
    def known(cls, rows: dict[str, list[int]]) -> DuplicateCodes:
        """Duplicates found by another reading of the codes: every duplicated code with all its rows."""
        found = cls(0)
        found.done()
        found.settled, found.rows = True, rows
        found.flagged = dict(rows)  # for ``Source.items``, which asks only about flagged codes
        return found

    def done(self) -> None:
        """The filter is no longer needed once every code went through ``watch``."""
        self.filter = bytearray()

    def settle(self, numbered: Iterator[tuple[int, str]]) -> None:
        """Every duplicated code with all its rows, up front (a second pass, only when a code was flagged),
        for a reader that does not meet the rows in order."""
        self.done()
        self.settled = True
        if not self.flagged:
            return
        found: dict[str, list[int]] = {}
        for number, code in numbered:
            if code in self.flagged:
                found.setdefault(code, []).append(number)
        self.rows = {code: rows for code, rows in found.items() if len(rows) > 1}

    def problem(self, label: str, row: Row) -> str | None:
        """Why ``row`` is not assessed, if its code is on other rows too. Without ``settle``, every row that
        carries a code must come here, in order, bad rows included."""
        if self.settled:
            rows = self.rows.get(row.code)
        else:
            flagged = self.flagged.get(row.code) if row.code else None
            if flagged is None:
                return None
            if row.number < flagged[0]:   # the code's unflagged first row
                self.first[row.code] = row.number
                rows = [row.number, *flagged]
            else:
                first = self.first.get(row.code)
                rows = flagged if first is None else [first, *flagged]
            if len(rows) < 2:             # flagged by chance, on one row only
                return None
        if rows is None:
            return None
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        return (f"{label}:{row.line}: credit_code: {row.code} is on {len(rows)} rows ({shown}): none of them is "
                "assessed, and their records are not given to either")


def _grouped_in_order(enterprises: Iterator[str], records: Iterator[str]) -> bool:
    """Whether each credit code's records are contiguous and in the enterprises' order (O(1) memory)."""
    previous = None
    for code in records:
        if code != previous:
            if code not in enterprises:  # advances the enterprises up to the first with this code
                return False
            previous = code
    return True


class Misjudged(Exception):
    """A register read on trust (``columnar.trust_codes``) has a credit code on two enterprise rows, or
    records out of the enterprises' order, which the reading met: what it wrote is void, and ``run_batch``
    reads the register again after scanning its codes. Never reaches a caller."""


class Source:
    """The enterprises of a register with their records, and how the two tables were joined."""

    def __init__(self, enterprises: Path, records: Path | None, scan: Callable[[Table, Table], Any] | None = None,
                 name: str | None = None) -> None:
        """``name`` is how messages name the enterprises file where not by its path (``<stdin>``). ``scan`` reads the credit codes of two CSV or Parquet tables (or of a JSONL register's lines) faster than the pass here does (``columnar.scan_codes``:
        whether the records are in the enterprises' order, and the duplicated codes), or declines with ``None``."""
        self.fmt = file_format(enterprises)
        self.path = enterprises
        self.name = name
        self.label = name or str(enterprises)   # the JSONL register's, or the enterprises table's file
        self.orphans: list[Row] = []
        self.books: dict[Path, Any] = {}  # open xlsx workbooks
        self.scanned: Any = None  # what ``scan`` found
        if self.fmt == "jsonl":
            if records is not None:
                raise SourceError("a JSONL register holds its records inline: --records is for csv, parquet and xlsx",
                                  location=Location(str(records)))
            if not enterprises.is_file():
                raise SourceError("no such file", location=Location(str(enterprises)))
            self.table, self.records, self.join = None, None, "inline"
            lines = Table(enterprises, "jsonl", "enterprises", {"credit_code": 1}, name)
            found = scan(lines, lines) if scan is not None else None
            if found is not None:
                self.duplicates = DuplicateCodes.known(found.duplicates)
                return
            self.duplicates = DuplicateCodes(enterprises.stat().st_size // 200)
            for _ in self.duplicates.watch((r.number, r.code) for r in _jsonl_rows(enterprises, False, self.label)):
                pass
            self.duplicates.done()
            return
        self.table = _open_table(enterprises, self.fmt, "enterprises", self._book(enterprises), name)  # there, first
        rec_path = records or (enterprises if self.fmt == "xlsx" else records_path_for(enterprises))
        if file_format(rec_path) == "jsonl":
            raise SourceError("a records table is csv, parquet or xlsx (a JSONL register holds its records inline)",
                              location=Location(str(rec_path)))
        self.records = _open_table(rec_path, file_format(rec_path), "records", self._book(rec_path))
        found = scan(self.table, self.records) if scan is not None and {self.fmt, self.records.fmt} <= {"csv", "parquet"} \
            else None
        self.scanned = found
        if found is not None:
            self.duplicates = DuplicateCodes.known(found.duplicates)
            self.join = "merge" if found.ordered else "index"
            return
        self.duplicates = DuplicateCodes(enterprises.stat().st_size // 60)
        codes = self.duplicates.watch(_numbered_codes(self.table, self._book(enterprises)))
        ordered = _grouped_in_order(codes, _codes(self.records, self._book(rec_path)))
        for _ in codes:  # the rest of the codes, for the duplicates
            pass
        self.duplicates.done()
        self.join = "merge" if ordered else "index"

    def duplicates_up_front(self) -> DuplicateCodes:
        """The duplicated credit codes with all their rows before any row is read, for a reader that does
        not meet the rows in order (one more pass over the codes, only when the filter flagged any)."""
        if not self.duplicates.settled and self.table is not None:
            self.duplicates.settle(_numbered_codes(self.table, self._book(self.table.path)))
        elif not self.duplicates.settled:   # JSONL
            self.duplicates.settle((r.number, r.code) for r in _jsonl_rows(self.path, False, self.label))
        return self.duplicates

    def _book(self, path: Path) -> Any:
        if path.suffix.lower() != ".xlsx" or not path.is_file():
            return None
        if path not in self.books:
            self.books[path] = Workbook(path)
        return self.books[path]

    def close(self) -> None:
        for book in self.books.values():
            book.close()

    @property
    def join_note(self) -> str:
        return {"inline": N_("records inline, one enterprise per line"),
                "merge": N_("records grouped in the enterprises' order: joined by a streaming merge"),
                "index": N_("records not grouped in the enterprises' order: indexed in memory by credit code "
                            "(memory grows with the records table)")}[self.join]

    def orphan_error(self, orphan: Row) -> tuple[Any, ...]:
        """The errors.csv row of a record whose credit code no enterprise has."""
        assert self.table is not None and self.records is not None
        column = self.records.columns["credit_code"]
        code = orphan.cells[column - 1] if len(orphan.cells) >= column else None
        reason = f"{Location(self.records.label, orphan.line, self.records.columns['credit_code'])}: " \
                 f"credit_code: no enterprise with credit code {code!r} in {self.table.label}"
        return (self.records.label, None, orphan.number, code, "credit_code", reason)

    def items(self) -> Iterator[tuple[Row, list[Row]]]:
        """Each enterprise row with its record rows; a row whose credit code is duplicated carries the problem."""
        label = self.table.label if self.table is not None else self.label
        flagged = self.duplicates.flagged
        for row, records in self._joined():
            if row.code in flagged:
                problem = self.duplicates.problem(label, row)   # every such row, in order: see DuplicateCodes
                if problem and not row.problem:
                    row.problem = problem
            yield row, records

    def _joined(self) -> Iterator[tuple[Row, list[Row]]]:
        if self.table is None:
            yield from ((row, []) for row in _jsonl_rows(self.path, True, self.label))
            return
        assert self.records is not None
        ents, recs = self._book(self.table.path), self._book(self.records.path)
        if self.join == "merge":
            records = _rows(self.records, recs)
            pending = next(records, None)
            for row in _rows(self.table, ents):
                mine = []
                while pending is not None and pending.code == row.code:
                    mine.append(pending)
                    pending = next(records, None)
                yield row, mine
            self.orphans = [] if pending is None else [pending, *records]  # none when the check held
            return
        index: dict[str, list[Row]] = {}
        for record in _rows(self.records, recs):
            index.setdefault(record.code, []).append(record)
        for row in _rows(self.table, ents):
            yield row, index.pop(row.code, [])
        self.orphans = sorted((r for rows in index.values() for r in rows), key=lambda r: r.number)




# ------------------------------------------------------------------------------------ writing
def text_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (Decimal, dt.date)) else value


@dataclass
class EncodedRows:
    """Award rows already written out as csv bytes."""

    data: bytes
    count: int


class AwardWriter:
    """``awards.<fmt>``: one row per award, written chunk by chunk."""

    APPENDABLE = ("csv", "jsonl")   # the formats a resumed run goes on writing (``append=True``)

    def __init__(self, path: Path, fmt: str, columns: tuple[str, ...], append: bool = False) -> None:
        self.path, self.fmt, self.columns = path, fmt, columns
        self.rows = 0
        if append and fmt not in self.APPENDABLE:
            raise SourceError(f"awards.{fmt} is written whole at the end and cannot be continued: use csv or jsonl",
                              location=Location(str(path)))
        if fmt == "csv":
            self.file: Any = open(path, "a" if append else "w", newline="", encoding="utf-8")
            self.csv = csv.writer(self.file)
            if not append:
                self.csv.writerow(columns)
        elif fmt == "jsonl":
            self.file = open(path, "a" if append else "w", encoding="utf-8")
        elif fmt == "parquet":
            pa, pq = require("pyarrow"), require("pyarrow.parquet")
            money = pa.decimal128(38, 2)
            types = {"amount": money, "amount_max": money, "payers_unspecified": pa.bool_()} | {
                c: money for c in columns if c.startswith("payer_")}
            self.schema = pa.schema([(c, types.get(c, pa.string())) for c in columns])
            self.file = pq.ParquetWriter(path, self.schema)
            self.pending: list[Any] = []    # tables not yet written: row groups of ROW_GROUP rows, whatever the chunks
            self.pending_rows = 0
        else:   # the header is written by openpyxl at the end (``header_workbook``), the rows spooled here
            self.sheet = SheetRows(path.with_name(path.name + ".rows"), path)

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows += len(rows)
        if self.fmt == "csv":
            self.csv.writerows(rows)  # already text
        elif self.fmt == "jsonl":
            for row in rows:
                item = {c: (str(v) if isinstance(v, Decimal) else v) for c, v in zip(self.columns, row)}
                self.file.write(json.dumps(item, ensure_ascii=False) + "\n")
        elif self.fmt == "parquet":
            if rows:
                pa = require("pyarrow")
                columns = list(zip(*rows))
                self._row_groups(pa.Table.from_arrays(
                    [pa.array(col, type=f.type) for col, f in zip(columns, self.schema)], schema=self.schema))
        else:
            if self.rows > XLSX_MAX_ROWS:
                raise SourceError(f"more than {XLSX_MAX_ROWS} awards do not fit in one xlsx sheet: "
                                  "write them as csv or parquet (--format)", location=Location(str(self.path)))
            self.sheet.write(rows)  # already text, so money stays exact; an empty cell is left out

    @staticmethod
    def encoded(frame: Any, fmt: str) -> Any:
        """What ``write_frame`` takes for award rows as a polars frame of text columns: for csv, their
        bytes, encoded here so that the encoding can run beside other work; the frame for the rest."""
        if fmt != "csv":
            return frame
        pl = require("polars")  # an empty text is written as csv writes it: nothing, not ""
        frame = frame.with_columns(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
                                   for c in frame.columns)
        data = io.BytesIO()
        frame.write_csv(data, include_header=False, line_terminator="\r\n", quote_style="necessary")
        return EncodedRows(data.getvalue(), frame.height)

    def write_frame(self, frame: Any) -> None:
        """Award rows from the columnar path: a polars frame of text columns, or ``encoded`` ones."""
        if self.fmt == "csv":
            rows = frame if isinstance(frame, EncodedRows) else self.encoded(frame, "csv")
            self.rows += rows.count
            self.file.flush()
            self.file.buffer.write(rows.data)
        else:
            pl = require("polars")  # no county, no record: absent (None), as the award rows have it
            frame = frame.with_columns(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
                                       for c in ("county", "record_id"))
            if self.fmt == "parquet":
                self.rows += frame.height
                money = [c for c in self.columns if c in ("amount", "amount_max") or c.startswith("payer_")]
                frame = frame.with_columns(
                    *(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).cast(pl.Decimal(38, 2)).alias(c)
                      for c in money), payers_unspecified=pl.col("payers_unspecified") == "true")
                self._row_groups(frame.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(self.schema))
                return
            rows = frame.rows()
            if self.fmt == "jsonl":
                typed = [c in ("amount", "amount_max") or c.startswith("payer_") for c in self.columns]
                rows = [tuple((Decimal(v) if v else None) if t else
                              (v == "true" if c == "payers_unspecified" else v)
                              for v, t, c in zip(row, typed, self.columns)) for row in rows]
            self.write(rows)

    ROW_GROUP = 65536   # rows of each row group of awards.parquet: the same file whichever path wrote it

    def _row_groups(self, table: Any) -> None:
        """Write ``table`` to awards.parquet in row groups of ``ROW_GROUP`` rows, keeping the rest for later."""
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= self.ROW_GROUP:
            self._write_pending(final=False)

    def _write_pending(self, final: bool) -> None:
        whole = require("pyarrow").concat_tables(self.pending)
        cut = whole.num_rows if final else whole.num_rows - whole.num_rows % self.ROW_GROUP
        if cut:
            self.file.write_table(whole.slice(0, cut), row_group_size=self.ROW_GROUP)
        rest = whole.slice(cut)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def flush(self) -> None:
        """Hand what was written to the operating system (csv and jsonl), for a checkpoint."""
        if self.fmt in self.APPENDABLE:
            self.file.flush()

    def close(self) -> None:
        if self.fmt == "xlsx":
            self.sheet.close()
            header_workbook(self.path, [("awards", self.columns)])
            deterministic_xlsx(self.path, [(self.rows + 1, len(self.columns))], [self.sheet])
        else:
            if self.fmt == "parquet" and self.pending:
                self._write_pending(final=True)
            self.file.close()


class SheetRows:
    """Rows of text cells of one sheet as the XML openpyxl's write-only mode writes for them, byte for byte
    (an inline string a cell, an empty one left out), spooled to ``path`` and set into the saved workbook
    by ``deterministic_xlsx``: openpyxl spends about 18 µs a cell on it, this one."""

    def __init__(self, path: Path, workbook: Path, first: int = 2) -> None:
        self.path, self.workbook, self.next = path, workbook, first
        self.file = open(path, "wb")
        self.letters: list[str] = []

    def write(self, rows: Iterable[Iterable[str | None]]) -> None:
        parts = []
        for row in rows:
            n = self.next
            self.next += 1
            cells = []
            for i, value in enumerate(row):
                if value is None or value == "":
                    continue
                if _XLSX_ILLEGAL.search(value):
                    raise SourceError(f"{value!r} holds a control character no xlsx cell can: write the rows as csv, "
                                      "jsonl or parquet (--format)", location=Location(str(self.workbook), n, i + 1))
                stripped = value.strip()
                space = ' xml:space="preserve"' if stripped and stripped != value else ""
                text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                cells.append(f'<c r="{self._letter(i)}{n}" t="inlineStr"><is><t{space}>{text}</t></is></c>')
            parts.append(f'<row r="{n}">{"".join(cells)}</row>')
        self.file.write("".join(parts).encode("utf-8"))

    def _letter(self, i: int) -> str:
        while len(self.letters) <= i:
            self.letters.append(require("openpyxl.utils").get_column_letter(len(self.letters) + 1))
        return self.letters[i]

    def close(self) -> None:
        self.file.close()


_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")   # characters openpyxl refuses in a cell


def header_workbook(path: Path, headers: list[tuple[str, tuple[str, ...]]]) -> None:
    """Write ``path`` as openpyxl writes a workbook whose sheets hold their header row alone (``headers``: each
    sheet's title and columns; ``SheetRows`` spools the rows, which ``deterministic_xlsx`` sets in).

    openpyxl is called only here, at the end, and its zip file is one in memory closed here whatever
    happens, and its sheets' streams are ended here after a failure: a write that fails (a full disk, in
    ``path`` or in openpyxl's temporary files) is one ``OSError``. Left open, they failed again as they were
    collected, and Python said so after the run's one-line error ("Exception ignored in: <function
    ZipFile.__del__ …>")."""
    book = require("openpyxl").Workbook(write_only=True)
    data = io.BytesIO()
    archive = zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    try:
        for title, columns in headers:
            book.create_sheet(title).append(list(columns))
        require("openpyxl.writer.excel").ExcelWriter(book, archive).save()   # openpyxl's save_workbook
    except BaseException:
        for sheet in book.worksheets:   # a write-only sheet's row and file streams (generators), ended now
            for stream in (getattr(sheet, "_rows", None), getattr(getattr(sheet, "_writer", None), "xf", None)):
                with contextlib.suppress(Exception):
                    if stream is not None:
                        stream.close()
        raise
    finally:
        with contextlib.suppress(ValueError):   # a part left half written: nothing more to write
            archive.close()
    path.write_bytes(data.getvalue())


def deterministic_xlsx(path: Path, sizes: list[tuple[int, int]], rows: list[SheetRows | None] | None = None) -> None:
    """Rewrite an xlsx written by openpyxl so that the same content gives the same bytes.

    The save time and zip times are fixed, and each sheet gets the ``<dimension>`` that write-only
    mode leaves out (``sizes``: rows and columns of each sheet, in order); without it a reader has to
    parse the whole sheet just to learn its size. ``rows`` (by sheet, in order) are the rows written by
    ``SheetRows``, set in after the rows openpyxl wrote (the header); their files are removed.
    """
    column = require("openpyxl.utils").get_column_letter
    dimensions = {f"xl/worksheets/sheet{n}.xml": f'<dimension ref="A1:{column(max(cols, 1))}{max(rows, 1)}" />'.encode()
                  for n, (rows, cols) in enumerate(sizes, 1)}
    spooled = {f"xl/worksheets/sheet{n}.xml": r for n, r in enumerate(rows or [], 1) if r is not None}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            out = zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0))
            out.compress_type = zipfile.ZIP_DEFLATED
            out.external_attr = info.external_attr
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z",
                              src.read(info))
                dst.writestr(out, data)
                continue
            with src.open(info) as fin, dst.open(out, "w") as fout:
                head = fin.read(1 << 16)
                if info.filename in dimensions and b"<dimension" not in head:
                    head = head.replace(b"</sheetPr>", b"</sheetPr>" + dimensions[info.filename], 1)
                if info.filename in spooled:   # openpyxl wrote the header only: the part is small
                    head += fin.read()
                    cut = head.rindex(b"</sheetData>")
                    fout.write(head[:cut])
                    with open(spooled[info.filename].path, "rb") as data_rows:
                        shutil.copyfileobj(data_rows, fout, 1 << 20)
                    fout.write(head[cut:])
                    continue
                fout.write(head)
                shutil.copyfileobj(fin, fout, 1 << 20)
    tmp.replace(path)
    for spool in spooled.values():
        spool.path.unlink(missing_ok=True)


